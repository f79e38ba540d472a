import type Database from 'better-sqlite3';
import type { AuditRow } from '../../domain/records.js';
import { INSERT_AUDIT_SQL } from '../audit-sql.js';
import { sqliteJsonArrayHasAny } from '../queries.js';
import { auditToParams, type DbRecord } from '../rows.js';
import type { QueryDialect, SqlRunner } from '../sql-runner.js';
import { driveSync, type Step, type WriteRunner } from '../transaction-script.js';
import { CredentialCache, writesCachedRows } from './credential-cache.js';
import { KnownKeyHashes } from './known-key-hashes.js';

export const sqliteDialect: QueryDialect = {
  jsonArrayHasAny: sqliteJsonArrayHasAny,
  inList: (column, values) => ({ sql: `${column} IN (SELECT value FROM json_each(?))`, param: JSON.stringify(values) }),
  indexedBy: (index) => `INDEXED BY ${index}`,
  forUpdate: '',
  forShare: '',
};

/**
 * The one connection of the SQLite adapter and what its files share: prepared statements, the
 * credential row cache and the access-key hash set (both emptied when another process writes the
 * file), and the way in for the shared reads and writes. better-sqlite3 is synchronous, so a
 * `db.transaction` cannot interleave with another request's statements.
 */
export interface SqliteConnection {
  db: Database.Database;
  /** A prepared statement, cached by its text; it does not touch the credential cache. */
  stmt(sql: string): Database.Statement;
  get(sql: string, ...params: unknown[]): DbRecord | undefined;
  all(sql: string, ...params: unknown[]): DbRecord[];
  run(sql: string, ...params: unknown[]): Database.RunResult;
  /** The shared statements' way in (sql-runner.ts). */
  runner: SqlRunner;
  /** The shared compound writes' way in: each runs in one immediate transaction (transaction-script.ts). */
  writes: WriteRunner;
  credentialCache: CredentialCache;
  knownKeyHashes: KnownKeyHashes;
  /** Empties the caches when another connection committed to the file since the last look. */
  dropCachesIfOthersWrote(): void;
  /** Inside the caller's transaction. */
  insertAudit(events: readonly AuditRow[]): void;
}

export function sqliteConnection(db: Database.Database): SqliteConnection {
  const statements = new Map<string, Database.Statement>();
  /** Statements that write a cached table: running one empties the credential cache. */
  const cachedRowWriters = new Set<string>();
  const stmt = (sql: string): Database.Statement => {
    let s = statements.get(sql);
    if (!s) {
      s = db.prepare(sql);
      statements.set(sql, s);
      if (writesCachedRows(sql)) cachedRowWriters.add(sql);
    }
    return s;
  };
  const credentialCache = new CredentialCache();
  const stmtFor = (sql: string): Database.Statement => {
    const s = stmt(sql);
    if (cachedRowWriters.has(sql)) credentialCache.clear();
    return s;
  };
  const get = (sql: string, ...params: unknown[]): DbRecord | undefined => stmtFor(sql).get(...params) as DbRecord | undefined;
  const all = (sql: string, ...params: unknown[]): DbRecord[] => stmtFor(sql).all(...params) as DbRecord[];
  const run = (sql: string, ...params: unknown[]): Database.RunResult => stmtFor(sql).run(...params);

  const knownKeyHashes = new KnownKeyHashes(() => stmt('SELECT key_hash FROM access_keys').pluck().all() as Uint8Array[]);
  /**
   * `data_version` changes when another connection commits to the file (never for this one's own
   * commits): the `keys` commands re-seal versions from their own process next to a live server,
   * and a reveal opens the ciphertext the file holds now, not one another process replaced.
   */
  const dataVersion = db.prepare('PRAGMA data_version').pluck();
  let seenDataVersion = dataVersion.get() as number;

  const insertAudit = (events: readonly AuditRow[]): void => {
    if (events.length === 0) return;
    const insert = stmt(INSERT_AUDIT_SQL);
    for (const e of events) insert.run(...auditToParams(e));
  };
  const exec = (step: Step): unknown => {
    switch (step.op) {
      case 'one':
        return get(step.sql, ...step.params);
      case 'all':
        return all(step.sql, ...step.params);
      case 'run':
        return run(step.sql, ...step.params).changes;
      case 'audit':
        return insertAudit(step.events);
      // One write transaction at a time already: nothing to take turns for.
      case 'lock':
        return undefined;
    }
  };

  return {
    db,
    stmt,
    get,
    all,
    run,
    credentialCache,
    knownKeyHashes,
    insertAudit,
    writes: {
      // Runs synchronously when called: no other request's statement can come in between.
      write: async (script) => db.transaction(() => driveSync(script(), exec)).immediate(),
      isUniqueViolation: (err, index) => isUniqueViolation(err, index === 'credential_slug' ? 'slug' : undefined),
    },
    runner: {
      one: async (sql, params = []) => get(sql, ...params),
      all: async (sql, params = []) => all(sql, ...params),
      run: async (sql, params = []) => run(sql, ...params).changes,
    },
    dropCachesIfOthersWrote() {
      const now = dataVersion.get() as number;
      if (now !== seenDataVersion) {
        seenDataVersion = now;
        credentialCache.clear();
        knownKeyHashes.forget();
      }
    },
  };
}

/** Whether a statement failed on a unique index (whose name or columns include `index`, if given). */
export function isUniqueViolation(err: unknown, index?: string): boolean {
  const e = err as { code?: string; message?: string };
  if (e.code !== 'SQLITE_CONSTRAINT_UNIQUE' && e.code !== 'SQLITE_CONSTRAINT_PRIMARYKEY') return false;
  return index === undefined || (e.message ?? '').includes(index);
}
