import { TENANT_ACCESS_KEY_HASHES_SQL } from '../access-keys-sql.js';
import {
  DELETE_META_SQL, DELETE_TENANT_KEYS_SQL, DELETE_TENANT_SQL, INSERT_TENANT_KEY_SQL, META_VALUE_SQL, REWRAP_TENANT_KEY_SQL, SET_META_SQL,
  keyManagementQueries, quoteIdent, resealSlotSql,
} from '../key-management-sql.js';
import type { KeyManagementStore } from '../port.js';
import { outcomeOnConflict } from '../store-errors.js';
import type { DbRecord } from '../rows.js';
import { TENANT_EXISTS_SQL } from '../tenancy-sql.js';
import { isUniqueViolation, sqliteDialect, type SqliteConnection } from './sqlite-connection.js';

/** Key management on SQLite: writes that destroy key material zero the freed pages. */
export function sqliteKeyManagement(c: SqliteConnection): KeyManagementStore {
  const { db, get, run } = c;
  /**
   * Runs a deletion that destroys key material with `secure_delete` on, so the freed bytes are
   * zeroed in the page rather than left for a file-level reader, then checkpoints so the old page
   * images leave the WAL too (best effort: a reader holding an old snapshot keeps them a while).
   */
  const shredding = <T>(fn: () => T): T => {
    const prior = Number(db.pragma('secure_delete', { simple: true }));
    db.pragma('secure_delete = ON');
    try {
      const result = fn();
      try {
        db.pragma('wal_checkpoint(TRUNCATE)');
      } catch {
        // busy: the frames are overwritten by later checkpoints
      }
      return result;
    } finally {
      db.pragma(`secure_delete = ${prior === 1 ? 1 : 0}`);
    }
  };
  return {
    ...keyManagementQueries(c.runner, sqliteDialect),

    async compareAndSetMeta(expect, set, audit) {
      return db.transaction(() => {
        for (const [key, value] of Object.entries(expect)) {
          const r = get(META_VALUE_SQL, key);
          if ((r ? (r.value as string) : null) !== value) return false;
        }
        for (const [key, value] of Object.entries(set)) {
          if (value === null) run(DELETE_META_SQL, key);
          else run(SET_META_SQL, key, value);
        }
        c.insertAudit(audit);
        return true;
      }).immediate();
    },
    async insertTenantKey(tenantId, key, audit) {
      return outcomeOnConflict(() => db.transaction(() => {
        if (!get(TENANT_EXISTS_SQL, tenantId)) return 'no_tenant' as const;
        c.checkRootKeyFence(key);
        run(INSERT_TENANT_KEY_SQL, tenantId, key.version, key.wrappedKey, key.rootKeyId, key.createdAt);
        c.insertAudit(audit);
        return 'inserted' as const;
      }).immediate(), (err) => (isUniqueViolation(err) ? 'version_taken' as const : null));
    },
    async rewrapTenantKeys(tenantId, rows) {
      return db.transaction(() => rows.reduce((n, r) => n + run(REWRAP_TENANT_KEY_SQL, r.wrappedKey, r.rootKeyId, tenantId, r.version, r.fromRootKeyId).changes, 0)).immediate();
    },
    async resealVersions(tenantId, rows) {
      return db.transaction(() => rows.reduce((n, r) => n + run(resealSlotSql(r.slot), r.to, tenantId, r.credentialId, r.version, r.from).changes, 0)).immediate();
    },
    async destroyTenantKeys(tenantId, audit) {
      return shredding(() =>
        db.transaction(() => {
          const n = run(DELETE_TENANT_KEYS_SQL, tenantId).changes;
          c.insertAudit(audit);
          return n;
        }).immediate(),
      );
    },
    async purgeTenantRows(tenantId) {
      // Every table with a tenant_id column, read from the schema itself, so a table added later
      // cannot keep a purged tenant's rows.
      const tables = (db.prepare(`SELECT m.name AS name FROM sqlite_master m JOIN pragma_table_info(m.name) p WHERE m.type = 'table' AND p.name = 'tenant_id' ORDER BY m.name`).all() as DbRecord[]).map((r) => r.name as string);
      return shredding(() =>
        db.transaction(() => {
          const accessKeyHashes = c.all(TENANT_ACCESS_KEY_HASHES_SQL, tenantId).map((r) => Buffer.from(r.key_hash as Uint8Array));
          let deleted = 0;
          c.credentialCache.clear();
          for (const table of tables) deleted += db.prepare(`DELETE FROM ${quoteIdent(table)} WHERE tenant_id = ?`).run(tenantId).changes;
          deleted += run(DELETE_TENANT_SQL, tenantId).changes;
          return { purged: deleted > 0, accessKeyHashes };
        }).immediate(),
      );
    },
  };
}
