import { purgeTenant } from '../key-management-sql.js';
import type { KeyManagementStore } from '../port.js';
import type { DbRecord } from '../rows.js';
import { sqliteDialect, type SqliteConnection } from './sqlite-connection.js';

/**
 * What SQLite does its own way when key material is destroyed: the deletion runs with
 * `secure_delete` on, so the freed bytes are zeroed in the page rather than left for a
 * file-level reader, then checkpoints so the old page images leave the WAL too (best effort: a
 * reader holding an old snapshot keeps them a while).
 */
export function sqliteKeyManagement(
  c: SqliteConnection,
  shared: Pick<KeyManagementStore, 'destroyTenantKeys'>,
): Pick<KeyManagementStore, 'destroyTenantKeys' | 'purgeTenantRows'> {
  const { db } = c;
  // The shared write runs its transaction synchronously when called, so it is inside the pragma.
  const shredding = async <T>(fn: () => Promise<T>): Promise<T> => {
    const prior = Number(db.pragma('secure_delete', { simple: true }));
    db.pragma('secure_delete = ON');
    try {
      const result = fn();
      try {
        db.pragma('wal_checkpoint(TRUNCATE)');
      } catch {
        // busy: the frames are overwritten by later checkpoints
      }
      return await result;
    } finally {
      db.pragma(`secure_delete = ${prior === 1 ? 1 : 0}`);
    }
  };
  return {
    destroyTenantKeys: (tenantId, audit) => shredding(() => shared.destroyTenantKeys(tenantId, audit)),
    async purgeTenantRows(tenantId) {
      // Every table with a tenant_id column, read from the schema itself, so a table added later
      // cannot keep a purged tenant's rows.
      const tables = (
        db
          .prepare(
            `SELECT m.name AS name FROM sqlite_master m JOIN pragma_table_info(m.name) p WHERE m.type = 'table' AND p.name = 'tenant_id' ORDER BY m.name`,
          )
          .all() as DbRecord[]
      ).map((r) => r.name as string);
      // The deletes name the tables quoted, which the cache's own check does not read as its tables.
      c.credentialCache.clear();
      return shredding(() => c.writes.write(() => purgeTenant(sqliteDialect, tenantId, tables)));
    },
  };
}
