import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { STORE_METHOD_ACCESS, type StoreMethodName } from '../method-access.js';
import { APPLIED_MIGRATIONS_SQL, MIGRATIONS, MIGRATIONS_TABLE_SQL, RECORD_MIGRATION_SQL } from '../migrations/migrations.js';
import type { CoordinationStore, Store, StoreLifecycle } from '../port.js';
import { makeDatabaseFilesPrivate } from '../private-files.js';
import { hasFreeSpace, withStoreErrors } from '../store-errors.js';
import { startBackgroundCheckpoints } from './background-checkpoints.js';
import { sqlStore } from '../sql-store.js';
import { sqliteAccessKeys } from './sqlite-access-keys.js';
import { sqliteAudit } from './sqlite-audit.js';
import { sqliteConnection, sqliteDialect } from './sqlite-connection.js';
import { sqliteCredentials } from './sqlite-credentials.js';
import { translateSqliteError } from './sqlite-errors.js';
import { sqliteKeyManagement } from './sqlite-key-management.js';
import { sqliteOAuth } from './sqlite-oauth.js';
import { createWalSync, type WalSync } from './wal-sync.js';

export interface SqliteOptions {
  file: string;
  /** FULL: a write (and a reveal's audit record) is acknowledged only once the WAL is on disk, so it survives power loss. */
  synchronous: 'FULL' | 'NORMAL';
}

/**
 * The embedded default: one file, one process (data-dir-lock.ts), one connection. Most methods
 * are the shared ones (sql-store.ts) on this connection; the files beside this one hold what
 * SQLite does its own way, and this one opens the file and puts them together.
 */
export function openSqliteStore(opts: SqliteOptions): Store {
  mkdirSync(dirname(opts.file), { recursive: true, mode: 0o700 });
  makeDatabaseFilesPrivate(opts.file);
  const db = new Database(opts.file);
  db.pragma('journal_mode = WAL');
  // Commits never fsync on the event loop; with FULL, writes wait for `walSync` instead (see durableWrites).
  db.pragma('synchronous = NORMAL');
  // The auto-checkpoint runs on the event loop, inside the commit that crosses the limit, and ends
  // with an fsync of the database file. The worker of startBackgroundCheckpoints copies most frames
  // before that, so this one is left the tail and the restart of the WAL. At SQLite's 1 000 pages
  // an audited reveal load checkpointed ~10 times a second (330-510 ms of fsync on the event loop
  // per 10 s run at 1 000 reveals/s); at 10 000 pages (a WAL of up to 40 MB) 33-51 ms, same throughput.
  db.pragma('wal_autocheckpoint = 10000');
  db.pragma('busy_timeout = 5000');
  db.pragma('foreign_keys = ON');

  const c = sqliteConnection(db);
  const walSync = opts.synchronous === 'FULL' ? createWalSync(`${opts.file}-wal`) : null;
  const checkpoints = startBackgroundCheckpoints(opts.file);
  const credentials = sqliteCredentials(c);

  const lifecycle: StoreLifecycle = {
    kind: 'sqlite',
    capabilities: { multiProcess: false, sealsOnAppend: true },
    async migrate() {
      db.exec(MIGRATIONS_TABLE_SQL);
      const applied = new Set((db.prepare(APPLIED_MIGRATIONS_SQL).all() as Array<{ id: number }>).map((r) => r.id));
      for (const m of MIGRATIONS) {
        if (applied.has(m.id)) continue;
        db.transaction(() => {
          for (const s of m.statements({ bytes: 'BLOB' })) db.exec(s);
          db.prepare(RECORD_MIGRATION_SQL).run(m.id, m.name, new Date().toISOString());
        }).immediate();
      }
    },
    async ping() {
      db.prepare('SELECT 1').get();
    },
    async close() {
      credentials.flushTouches();
      await checkpoints.stop();
      await walSync?.close();
      db.close();
    },
  };
  // One process owns the file, so there is nobody else to tell. The caller has already dropped
  // its own caches, and the feed is always live.
  const coordination: CoordinationStore = {
    async publishInvalidation() {},
    async subscribeInvalidations(handler) {
      handler.feedState(true);
      return { close: async () => undefined };
    },
  };
  const shared = sqlStore(c.runner, c.writes, sqliteDialect);
  const store: Store = {
    ...lifecycle,
    ...coordination,
    ...shared,
    ...sqliteAccessKeys(c),
    ...credentials.methods,
    ...sqliteAudit(c, { walSync, deferTouches: credentials.deferTouches }),
    ...sqliteKeyManagement(c, shared),
    ...sqliteOAuth(c),
    // A key is in the hash set before it commits (a yes too early is harmless; a no too late is not).
    createTenant(tenant, key, ownerKey, audit) {
      if (ownerKey) c.knownKeyHashes.add(ownerKey.keyHash);
      return shared.createTenant(tenant, key, ownerKey, audit);
    },
    insertAccessKey(tenantId, key, audit) {
      c.knownKeyHashes.add(key.keyHash);
      return shared.insertAccessKey(tenantId, key, audit);
    },
  };
  return withStoreErrors(walSync ? durableWrites(store, walSync) : store, {
    translate: translateSqliteError,
    hasSpace: () => hasFreeSpace(dirname(opts.file)),
  });
}

/**
 * Writes that make their own durability known: `appendAudit` hands its flush to the caller (the
 * audit service answers reveals on it while the next batch commits); `close` needs none, since
 * closing the last connection checkpoints the WAL, which syncs it.
 */
const OWN_DURABILITY: ReadonlySet<StoreMethodName> = new Set<StoreMethodName>(['appendAudit', 'close']);

/**
 * With `synchronous = FULL` configured, the connection still commits with NORMAL, which leaves
 * the fsync out of the commit call: on the event loop it stalled every request behind each
 * write. A write method (method-access.ts says which) resolves instead once `walSync` has flushed
 * the WAL (libuv's thread pool), so an acknowledged write survives power loss as it would with
 * FULL, and writes that commit meanwhile share one flush. Reads are not wrapped.
 */
function durableWrites(store: Store, walSync: WalSync): Store {
  const wrapped: Record<string, unknown> = { ...store };
  for (const [name, access] of Object.entries(STORE_METHOD_ACCESS) as Array<[StoreMethodName, string]>) {
    if (access !== 'write' || OWN_DURABILITY.has(name)) continue;
    const write = store[name] as (...args: unknown[]) => Promise<unknown>;
    wrapped[name] = async (...args: unknown[]) => {
      const result = await write(...args);
      await walSync.sync();
      return result;
    };
  }
  return wrapped as unknown as Store;
}
