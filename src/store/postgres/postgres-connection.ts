import { DatabaseError, Pool, type PoolClient, type PoolConfig, type QueryResult } from 'pg';
import type { AuditRow } from '../../domain/records.js';
import { postgresJsonArrayHasAny } from '../queries.js';
import { AUDIT_COLUMNS, auditToParams, type DbRecord } from '../rows.js';
import type { QueryDialect, SqlRunner } from '../sql-runner.js';
import { driveAsync, type Step, type WriteRunner } from '../transaction-script.js';
import { numberParams } from './numbered-params.js';

/** A deadlock or serialization failure rolls the whole transaction back, so it is safe to run again. */
export const TRANSACTION_ATTEMPTS = 3;
/** PostgreSQL allows 65 535 bind parameters per statement; audit rows have 17 columns. */
export const AUDIT_ROWS_PER_INSERT = 500;

export const postgresDialect: QueryDialect = {
  jsonArrayHasAny: postgresJsonArrayHasAny,
  inList: (column, values) => ({ sql: `${column} = ANY(?::text[])`, param: [...values] }),
  indexedBy: () => '',
  forUpdate: ' FOR UPDATE',
  forShare: ' FOR SHARE',
};

type Db = Pick<PoolClient, 'query'>;

/** A statement written with `?` as pg wants it; refuses one whose placeholder count does not match its parameters. */
export function toPg(sql: string, params: readonly unknown[] = []): { text: string; values: unknown[] } {
  const { text, count } = numberParams(sql);
  if (count !== params.length) throw new Error(`SQL has ${count} placeholders but ${params.length} parameters`);
  return { text, values: [...params] };
}

/** The shared statements on a pooled connection or inside a transaction. */
function runnerOn(db: Db): SqlRunner {
  return {
    one: async (sql, params) => (await db.query<DbRecord>(toPg(sql, params))).rows[0],
    all: async (sql, params) => (await db.query<DbRecord>(toPg(sql, params))).rows,
    run: async (sql, params) => (await db.query(toPg(sql, params))).rowCount ?? 0,
  };
}

/** A transaction's connection: the shared statements, and `query` for PostgreSQL's own (`$n`) SQL. */
export interface PgTransaction extends SqlRunner {
  query: Db['query'];
}

/** An error the server sent (SQLSTATE), as opposed to a broken or timed-out connection. */
function isServerError(err: unknown): err is DatabaseError {
  return err instanceof DatabaseError;
}

export function isUniqueViolation(err: unknown, constraint?: string): boolean {
  if (!isServerError(err) || err.code !== '23505') return false;
  return constraint === undefined || err.constraint === constraint;
}

export function isRetryable(err: unknown): boolean {
  return isServerError(err) && (err.code === '40P01' || err.code === '40001');
}

/** `INSERT` of `rows` rows at once, numbered for pg. */
export function insertRowsSql(table: string, columns: readonly string[], rows: number): string {
  const tuples: string[] = [];
  for (let r = 0; r < rows; r++) tuples.push(`(${columns.map((_, c) => `$${r * columns.length + c + 1}`).join(', ')})`);
  return `INSERT INTO ${table} (${columns.join(', ')}) VALUES ${tuples.join(', ')}`;
}

/**
 * The pool of the PostgreSQL adapter and what its role files share. Several stateless Latchkey
 * processes share one database; the database is the only coordinator (row locks, compare-and-set
 * on `revision`, advisory locks for the audit chain and for migrations).
 */
export interface PgConnection {
  pool: Pool;
  runner: SqlRunner;
  /**
   * A named statement (`$n` SQL): each pooled connection parses and plans it once, where an
   * unnamed one is parsed and planned on every call (most of the database's CPU for a point
   * read). For the statements of every request only.
   */
  prepared(name: string, text: string, values: unknown[]): Promise<QueryResult<DbRecord>>;
  /** A pooled connection for several statements; `release` discards it if it failed meanwhile. */
  checkout(): Promise<{ client: PoolClient; release(err?: Error): void }>;
  /** The shared compound writes' way in (transaction-script.ts), each in one `transaction`. */
  writes: WriteRunner;
  /** Runs `fn` in a transaction, again (up to TRANSACTION_ATTEMPTS) after a deadlock or serialization failure. */
  transaction<T>(fn: (tx: PgTransaction) => Promise<T>): Promise<T>;
  insertAudit(db: Db, events: readonly AuditRow[]): Promise<void>;
}

export function pgConnection(config: PoolConfig): PgConnection {
  const pool = new Pool(config);
  // An idle pooled connection that dies (database restart, failover) emits 'error' on the pool;
  // unhandled, that would crash the process. The pool drops the connection and the next
  // query opens a fresh one, which is how service comes back without a restart.
  pool.on('error', () => {});
  /**
   * The first error each pooled connection met, so that `release` discards it. The listener is
   * attached when the pool creates the connection and stays for its whole life: pg-pool removes
   * its own listener while a connection is checked out, and a listener attached after
   * `await pool.connect()` comes too late when the database ends the session (57P01 on a
   * failover) in the same socket read that handed the connection over. An 'error' event with no
   * listener ends the process.
   */
  const connectionErrors = new WeakMap<object, Error>();
  pool.on('connect', (client) => {
    client.on('error', (err) => {
      if (!connectionErrors.has(client)) connectionErrors.set(client, err);
    });
  });

  async function checkout(): Promise<{ client: PoolClient; release(err?: Error): void }> {
    const client = await pool.connect();
    return {
      client,
      release(err) {
        client.release(err ?? connectionErrors.get(client));
      },
    };
  }

  async function transaction<T>(fn: (tx: PgTransaction) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const { client, release } = await checkout();
      let broken: Error | undefined;
      try {
        await client.query('BEGIN');
        const result = await fn({ ...runnerOn(client), query: client.query.bind(client) as Db['query'] });
        await client.query('COMMIT');
        return result;
      } catch (err) {
        if (isServerError(err)) {
          await client.query('ROLLBACK').catch((e: unknown) => {
            broken = e instanceof Error ? e : new Error(String(e));
          });
        } else {
          // Timed out or disconnected: the state of the session is unknown, so the connection is
          // discarded (the server rolls back an open transaction when the session ends).
          broken = err instanceof Error ? err : new Error(String(err));
        }
        if (broken === undefined && attempt < TRANSACTION_ATTEMPTS && isRetryable(err)) continue;
        throw err;
      } finally {
        release(broken);
      }
    }
  }

  async function insertAudit(db: Db, events: readonly AuditRow[]): Promise<void> {
    for (let i = 0; i < events.length; i += AUDIT_ROWS_PER_INSERT) {
      const chunk = events.slice(i, i + AUDIT_ROWS_PER_INSERT);
      await db.query(insertRowsSql('audit_events', AUDIT_COLUMNS, chunk.length), chunk.flatMap(auditToParams));
    }
  }
  const exec = async (tx: PgTransaction, step: Step): Promise<unknown> => {
    switch (step.op) {
      case 'one':
        return tx.one(step.sql, step.params);
      case 'all':
        return tx.all(step.sql, step.params);
      case 'run':
        return tx.run(step.sql, step.params);
      case 'audit':
        return insertAudit(tx, step.events);
      // Per transaction: released by COMMIT or ROLLBACK.
      case 'lock':
        return tx.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [step.space, step.key]);
    }
  };

  return {
    pool,
    checkout,
    transaction,
    insertAudit,
    writes: {
      write: (script) => transaction((tx) => driveAsync(script(), (step) => exec(tx, step))),
      isUniqueViolation: (err, index) => isUniqueViolation(err, index === 'credential_slug' ? 'credentials_slug' : undefined),
    },
    runner: runnerOn(pool),
    prepared: (name, text, values) => pool.query<DbRecord>({ name, text, values }),
  };
}
