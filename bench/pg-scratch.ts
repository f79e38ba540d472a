// A throw-away PostgreSQL database for one bench run, so the PostgreSQL store starts empty.
import { execFileSync } from 'node:child_process';
import pg from 'pg';
import { onHarnessExit } from './child-processes.js';

export interface ScratchDatabase {
  url: string;
  name: string;
  drop(): Promise<void>;
}

/**
 * Gathers the planner's statistics, as autovacuum would soon after a bulk load: without them
 * PostgreSQL takes a tenant's 1,100 credentials for one row and reads them all through another
 * index to sort them, where the list index gives a page by itself (EXPLAIN ANALYZE: 3.8 ms
 * against 0.9 ms, each with a bench running beside it).
 * A scratch database on a server with autovacuum off (as here) would otherwise never have them.
 */
export async function analyzeDatabase(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query('ANALYZE');
  } finally {
    await client.end();
  }
}

export async function createScratchDatabase(adminUrl: string): Promise<ScratchDatabase> {
  const name = `latchkey_bench_${process.pid}_${Date.now()}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  let dropped = false;
  // If the harness is interrupted, still try to drop it (synchronously, via psql, best effort).
  onHarnessExit(() => {
    if (dropped) return;
    try {
      execFileSync('psql', [adminUrl, '-c', `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`], { stdio: 'ignore', timeout: 10_000 });
    } catch {
      process.stderr.write(`bench: could not drop scratch database ${name}\n`);
    }
  });
  return {
    url: url.toString(),
    name,
    drop: async () => {
      const client = new pg.Client({ connectionString: adminUrl });
      await client.connect();
      try {
        await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
        dropped = true;
      } finally {
        await client.end();
      }
    },
  };
}
