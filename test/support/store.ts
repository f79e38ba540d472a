import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { ActorRef, CredentialRow, Store, VersionRow } from '../../src/store/port.ts';
import { numberParams } from '../../src/store/postgres/numbered-params.ts';
import { openPostgresStore } from '../../src/store/postgres/postgres-store.ts';
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { CREDENTIAL_COLUMNS, credentialToParams } from '../../src/store/rows.ts';

/**
 * Which store the HTTP suite runs on: `LATCHKEY_TEST_STORE=postgres` gives every server its own
 * fresh PostgreSQL database (from LATCHKEY_TEST_DATABASE_URL); anything else is SQLite.
 * Tests that reach into the database (fault injection, tamper tests) use `RawSql`, which speaks
 * `?` placeholders on both.
 */
export const TEST_STORE: 'sqlite' | 'postgres' = process.env.LATCHKEY_TEST_STORE === 'postgres' ? 'postgres' : 'sqlite';

export interface RawSql {
  exec(sql: string): Promise<void>;
  get<T = Record<string, unknown>>(sql: string, ...params: unknown[]): Promise<T | undefined>;
  run(sql: string, ...params: unknown[]): Promise<void>;
  close(): Promise<void>;
}

export interface StoreFixture {
  env: Record<string, string>;
  raw(dataDir: string): Promise<RawSql>;
  drop(): Promise<void>;
}

function adminUrl(): string {
  const url = process.env.LATCHKEY_TEST_DATABASE_URL;
  if (!url) throw new Error('LATCHKEY_TEST_STORE=postgres needs LATCHKEY_TEST_DATABASE_URL');
  return url;
}

export async function makeStoreFixture(): Promise<StoreFixture> {
  if (TEST_STORE === 'sqlite') {
    return {
      env: {},
      async raw(dataDir) {
        const db = new Database(join(dataDir, 'latchkey.db'));
        return {
          exec: async (sql) => void db.exec(sql),
          get: async (sql, ...params) => db.prepare(sql).get(...params) as never,
          run: async (sql, ...params) => void db.prepare(sql).run(...params),
          close: async () => void db.close(),
        };
      },
      drop: async () => undefined,
    };
  }
  const name = `lk_http_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl() });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(adminUrl());
  url.pathname = `/${name}`;
  return {
    env: { LATCHKEY_DATABASE_URL: url.toString() },
    async raw() {
      const client = new pg.Client({ connectionString: url.toString() });
      await client.connect();
      return {
        exec: async (sql) => void (await client.query(sql)),
        get: async (sql, ...params) => (await client.query(numberParams(sql).text, params)).rows[0] as never,
        run: async (sql, ...params) => void (await client.query(numberParams(sql).text, params)),
        close: async () => client.end(),
      };
    },
    async drop() {
      const c = new pg.Client({ connectionString: adminUrl() });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

/**
 * The Store port of the store under test, migrated, for the suites below HTTP (test/store/): a
 * fresh SQLite file, or the fixture's own PostgreSQL database.
 */
export async function openStoreUnderTest(fixture: StoreFixture): Promise<Store> {
  const store =
    TEST_STORE === 'postgres'
      ? await openPostgresStore({ url: fixture.env.LATCHKEY_DATABASE_URL as string })
      : openSqliteStore({ file: join(mkdtempSync(join(tmpdir(), 'latchkey-store-')), 'latchkey.db'), synchronous: 'NORMAL' });
  await store.migrate();
  return store;
}

// Rows for the store suites (test/store/), written through the port without a service.
export const STORE_ACTOR: ActorRef = { type: 'system', id: 'test', name: 'test', email: null };
export const storeInstant = (offsetMs: number) => new Date(Date.UTC(2030, 0, 1) + offsetMs).toISOString();

/** An active smtp credential of `tenantId`; `over` makes it another type or state. */
export function credentialRow(tenantId: string, over: Partial<CredentialRow> = {}): CredentialRow {
  const id = over.id ?? `crd_${randomBytes(8).toString('hex')}`;
  return {
    tenantId,
    id,
    name: `smtp ${id}`,
    slug: `smtp_${id}`,
    type: 'smtp',
    provider: null,
    integrationId: null,
    description: '',
    status: 'active',
    deactivationTime: null,
    config: { host: 'smtp.example', port: 587 },
    secretFields: ['password'],
    metadata: {},
    allowedHosts: [],
    proxyRules: {},
    teamId: null,
    folderId: null,
    readAccess: 'GLOBAL',
    sharedTeamSlugs: [],
    testCredentialEnabled: false,
    version: 1,
    revision: 1,
    expiresAt: null,
    lastUsedAt: null,
    lastError: null,
    createdAt: storeInstant(0),
    updatedAt: storeInstant(0),
    createdBy: STORE_ACTOR,
    modifiedBy: STORE_ACTOR,
    deletedAt: null,
    rotationIntervalDays: null,
    nextRotationAt: null,
    rotationDue: false,
    ...over,
  };
}

export function versionRow(c: CredentialRow, n: number): VersionRow {
  return {
    tenantId: c.tenantId,
    credentialId: c.id,
    version: n,
    stage: 'current',
    secret: randomBytes(32),
    testSecret: null,
    expiresAt: null,
    createdAt: storeInstant(0),
    createdBy: STORE_ACTOR,
  };
}

/**
 * Writes credential rows straight into the tables (no service, no versions, no audit), many per
 * statement: for tests that need a large store fast. Every derived column is filled as a write
 * through the store fills it (rows.ts `credentialToParams`).
 */
export async function seedCredentialRows(sql: RawSql, rows: readonly CredentialRow[]): Promise<void> {
  const perStatement = 400;
  const marks = `(${CREDENTIAL_COLUMNS.map(() => '?').join(', ')})`;
  await sql.exec('BEGIN');
  try {
    for (let i = 0; i < rows.length; i += perStatement) {
      const chunk = rows.slice(i, i + perStatement);
      await sql.run(
        `INSERT INTO credentials (${CREDENTIAL_COLUMNS.join(', ')}) VALUES ${chunk.map(() => marks).join(', ')}`,
        ...chunk.flatMap(credentialToParams),
      );
    }
    await sql.exec('COMMIT');
  } catch (err) {
    await sql.exec('ROLLBACK');
    throw err;
  }
}
