import type { AccessKeyStore } from './port.js';
import { accessKeyListSql } from './queries.js';
import { ACCESS_KEY_COLUMNS, accessKeyFromRecord, insertSql } from './rows.js';
import type { SqlRunner } from './sql-runner.js';

/** SQL of access keys, written once with `?` placeholders, and the methods the same on both stores. */

/**
 * Authentication's lookup. Columns are named: PostgreSQL runs it as a named statement, whose
 * cached result type a `SELECT *` would break when a migration adds a column mid rolling upgrade.
 */
export const ACCESS_KEY_BY_HASH_SQL = `SELECT ${ACCESS_KEY_COLUMNS.join(', ')} FROM access_keys WHERE key_hash = ?`;
export const INSERT_ACCESS_KEY_SQL = insertSql('access_keys', ACCESS_KEY_COLUMNS);
export const UPDATE_ACCESS_KEY_SQL = 'UPDATE access_keys SET name = ?, updated_at = ?, revision = ? WHERE tenant_id = ? AND id = ? AND revision = ?';
export const DELETE_ACCESS_KEY_SQL = 'DELETE FROM access_keys WHERE tenant_id = ? AND id = ?';
export const TENANT_ACCESS_KEY_HASHES_SQL = 'SELECT key_hash FROM access_keys WHERE tenant_id = ?';

export function accessKeyQueries(db: SqlRunner): Pick<AccessKeyStore, 'getAccessKey' | 'listAccessKeys'> {
  return {
    async getAccessKey(tenantId, id) {
      const r = await db.one('SELECT * FROM access_keys WHERE tenant_id = ? AND id = ?', [tenantId, id]);
      return r ? accessKeyFromRecord(r) : null;
    },
    async listAccessKeys(tenantId, filter, page) {
      const q = accessKeyListSql(tenantId, filter, page);
      const [rows, total] = await Promise.all([db.all(q.rows.text, q.rows.params), db.one(q.count.text, q.count.params)]);
      return { rows: rows.map(accessKeyFromRecord), total: Number(total?.n ?? 0) };
    },
  };
}
