import { Client } from 'pg';
import { APPLIED_MIGRATIONS_SQL, MIGRATIONS, MIGRATIONS_TABLE_SQL, RECORD_MIGRATION_SQL } from '../migrations/migrations.js';
import type { CoordinationStore, Store, StoreLifecycle } from '../port.js';
import { withStoreErrors } from '../store-errors.js';
import { createInvalidationListener, encodeInvalidation, INVALIDATION_CHANNEL } from './invalidation-listener.js';
import { translatePgError } from './pg-errors.js';
import { sqlStore } from '../sql-store.js';
import { postgresAccessKeys } from './postgres-access-keys.js';
import { postgresAudit } from './postgres-audit.js';
import { pgConnection, postgresDialect, toPg } from './postgres-connection.js';
import { postgresCredentials } from './postgres-credentials.js';
import { postgresKeyManagement } from './postgres-key-management.js';
import { postgresOAuth } from './postgres-oauth.js';

export interface PostgresOptions {
  /**
   * `postgres://…`; TLS comes from its `sslmode`, which pg reads. pg 8 treats `require`,
   * `prefer` and `verify-ca` as `verify-full` (certificate and host name checked) unless the
   * URL also says `uselibpqcompat=true`; see docs/scale-out.md.
   */
  url: string;
  /**
   * Server-side cap on every statement; a stuck query fails instead of holding a pooled
   * connection. With the connection timeout below it bounds how long a request can wait on a
   * database that is gone: a request answers 503 within about 2–3 s instead of hanging.
   */
  statementTimeoutMs?: number;
  /** How long to wait for a connection, new or from a busy pool, before giving up (503). */
  connectTimeoutMs?: number;
  poolSize?: number;
}

/** Session-level advisory lock held while migrating: one process migrates, the others wait, then find nothing to do. */
const MIGRATION_LOCK_KEY = 0x4c61_7463_686b; // 'Latchk'
const PING_TIMEOUT_MS = 1000;

/**
 * Several stateless Latchkey processes share one database through this adapter. Most methods are
 * the shared ones (sql-store.ts) on this pool; the files beside this one hold what PostgreSQL
 * does its own way, and this one opens the pool and puts them together.
 */
export async function openPostgresStore(opts: PostgresOptions): Promise<Store> {
  const statementTimeoutMs = opts.statementTimeoutMs ?? 2000;
  const connection = {
    connectionString: opts.url,
    connectionTimeoutMillis: opts.connectTimeoutMs ?? 1500,
    application_name: 'latchkey',
    keepAlive: true,
  };
  const c = pgConnection({
    ...connection,
    max: opts.poolSize ?? 10,
    statement_timeout: statementTimeoutMs,
    // statement_timeout is enforced by the server; when the network path is cut the server's
    // answer never arrives, so the client gives up a little later on its own and the pool
    // discards that connection. Without it a lost database means a hung request, not a 503.
    query_timeout: statementTimeoutMs + 500,
    // A process that stalls mid-transaction must not hold row or advisory locks indefinitely.
    idle_in_transaction_session_timeout: Math.max(statementTimeoutMs * 2, 10_000),
  });
  // Cache invalidation between processes: one dedicated LISTEN session (see invalidation-listener.ts).
  const listener = createInvalidationListener({ connection: { ...connection, application_name: 'latchkey-listen' } });

  const lifecycle: StoreLifecycle = {
    kind: 'postgres',
    // Appends from several processes would contend for each chain's lock: the sealer seals them.
    capabilities: { multiProcess: true, sealsOnAppend: false },

    async migrate() {
      // A dedicated session, not a pooled one: the advisory lock is per session, and waiting for
      // another process's migration (or running a long one) must not hit the statement timeout.
      const client = new Client(connection);
      client.on('error', () => {});
      await client.connect();
      try {
        await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
        try {
          await client.query(MIGRATIONS_TABLE_SQL);
          const applied = new Set((await client.query<{ id: number }>(APPLIED_MIGRATIONS_SQL)).rows.map((r) => Number(r.id)));
          for (const m of MIGRATIONS) {
            if (applied.has(m.id)) continue;
            await client.query('BEGIN');
            try {
              for (const s of m.statements({ bytes: 'BYTEA' })) await client.query(s);
              await client.query(toPg(RECORD_MIGRATION_SQL, [m.id, m.name, new Date().toISOString()]));
              await client.query('COMMIT');
            } catch (err) {
              await client.query('ROLLBACK').catch(() => {});
              throw err;
            }
          }
        } finally {
          await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch(() => {});
        }
      } finally {
        // Ending the session also releases the lock if the unlock above could not be sent.
        await client.end().catch(() => {});
      }
    },
    async ping() {
      // Readiness must answer within a probe's budget even when the network path is cut or the
      // pool is exhausted, so the whole check — getting a connection, then SELECT 1 — is
      // bounded. A check that loses the race still ends on its own (query timeout) and gives
      // its connection back; one that failed is discarded rather than reused.
      const check = (async () => {
        const { client, release } = await c.checkout();
        try {
          await client.query('SELECT 1');
          release();
        } catch (err) {
          release(err instanceof Error ? err : new Error(String(err)));
          throw err;
        }
      })();
      check.catch(() => undefined);
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          check,
          new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new Error(`database did not answer within ${PING_TIMEOUT_MS} ms`)), PING_TIMEOUT_MS);
          }),
        ]);
      } finally {
        clearTimeout(timer);
      }
    },
    async close() {
      await listener.close();
      await c.pool.end();
    },
  };
  const coordination: CoordinationStore = {
    async publishInvalidation(topic, key) {
      // NOTIFY is delivered when the sending transaction commits; this one is its own statement,
      // sent after the change it announces has committed, so a receiver that re-reads sees it.
      await c.runner.one('SELECT pg_notify(?, ?)', [INVALIDATION_CHANNEL, encodeInvalidation(topic, key)]);
    },
    async subscribeInvalidations(handler) {
      return listener.subscribe(handler);
    },
  };
  const store: Store = {
    ...lifecycle,
    ...coordination,
    ...sqlStore(c.runner, c.writes, postgresDialect),
    ...postgresAccessKeys(c),
    ...postgresCredentials(c),
    ...postgresAudit(c),
    ...postgresKeyManagement(c),
    ...postgresOAuth(c),
  };
  return withStoreErrors(store, { translate: translatePgError });
}
