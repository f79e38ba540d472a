import type { TestContext } from 'node:test';
import { randomBytes } from 'node:crypto';
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

async function onDatabase<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** A database of one test file's own on the test server, for processes that share it; dropped after. */
export interface ScratchDatabase {
  name: string;
  /** Its URL on the test server (the host and credentials of LATCHKEY_TEST_DATABASE_URL). */
  url(): string;
  create(): Promise<void>;
  drop(): Promise<void>;
  /** Direct SQL on it, to check what the processes wrote. */
  query<T = Record<string, unknown>>(text: string, params?: unknown[]): Promise<T[]>;
}

export function scratchDatabase(prefix: string): ScratchDatabase {
  const name = `${prefix}_${randomBytes(5).toString('hex')}`;
  const url = (): string => {
    const u = new URL(adminUrl as string);
    u.pathname = `/${name}`;
    return u.toString();
  };
  return {
    name,
    url,
    async create() {
      await onDatabase(adminUrl as string, (c) => c.query(`CREATE DATABASE ${name}`));
    },
    async drop() {
      await onDatabase(adminUrl as string, (c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
    },
    query: <T>(text: string, params: unknown[] = []) => onDatabase(url(), async (c) => (await c.query(text, params)).rows as T[]),
  };
}
