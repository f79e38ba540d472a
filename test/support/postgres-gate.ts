import type { TestContext } from 'node:test';
import pg from 'pg';
import { TEST_STORE } from './store.ts';

/** The PostgreSQL server the multi-process tests use (`LATCHKEY_TEST_DATABASE_URL`). */
export const adminUrl = process.env.LATCHKEY_TEST_DATABASE_URL;

async function postgresProblem(): Promise<string | null> {
  if (TEST_STORE !== 'postgres') return 'LATCHKEY_TEST_STORE is not "postgres"';
  if (!adminUrl) return 'LATCHKEY_TEST_DATABASE_URL is not set';
  const client = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 2000 });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('SELECT 1');
    return null;
  } catch (err) {
    return `no server answers: ${(err as Error).message}`;
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * For test files that only mean something with several processes on one PostgreSQL: without a
 * server every test says SKIPPED, loudly (stderr and the test report), and passes nothing.
 */
export async function postgresGate(what: string): Promise<{ problem: string | null; noPostgres(t: TestContext): boolean }> {
  const problem = await postgresProblem();
  const message = `SKIPPED: ${what} — no PostgreSQL (${problem ?? ''})`;
  if (problem !== null) console.error(`\n*** ${message} ***\n`);
  return {
    problem,
    noPostgres(t) {
      if (problem === null) return false;
      t.skip(message);
      return true;
    },
  };
}
