import type { AccessKeyStore } from './port.js';
import { accessKeyListSql } from './queries.js';
import { ACCESS_KEY_COLUMNS, accessKeyFromRecord, accessKeyToParams, insertSql } from './rows.js';
import type { QueryDialect, SqlRunner } from './sql-runner.js';
import { all, run, writeAudit, type WriteRunner } from './transaction-script.js';

/**
 * Access keys, written once for both stores. Authentication's lookup and the usage touches are
 * each adapter's own (SQLite answers unknown keys from memory; PostgreSQL prepares the lookup).
 */

/**
 * Authentication's lookup. Columns are named: PostgreSQL runs it as a named statement, whose
 * cached result type a `SELECT *` would break when a migration adds a column mid rolling upgrade.
 */
export const ACCESS_KEY_BY_HASH_SQL = `SELECT ${ACCESS_KEY_COLUMNS.join(', ')} FROM access_keys WHERE key_hash = ?`;
export const INSERT_ACCESS_KEY_SQL = insertSql('access_keys', ACCESS_KEY_COLUMNS);

export function accessKeyStore(db: SqlRunner, w: WriteRunner, d: QueryDialect): Omit<AccessKeyStore, 'findAccessKeyByHash' | 'touchAccessKeys'> {
  return {
    async insertAccessKey(_tenantId, key, audit) {
      await w.write(function* () {
        yield* run(INSERT_ACCESS_KEY_SQL, accessKeyToParams(key));
        yield* writeAudit(audit);
      });
    },
    async getAccessKey(tenantId, id) {
      const r = await db.one('SELECT * FROM access_keys WHERE tenant_id = ? AND id = ?', [tenantId, id]);
      return r ? accessKeyFromRecord(r) : null;
    },
    async listAccessKeys(tenantId, filter, page) {
      const q = accessKeyListSql(tenantId, filter, page);
      const [rows, total] = await Promise.all([db.all(q.rows.text, q.rows.params), db.one(q.count.text, q.count.params)]);
      return { rows: rows.map(accessKeyFromRecord), total: Number(total?.n ?? 0) };
    },
    async updateAccessKey(tenantId, key, expectedRevision, audit) {
      return w.write(function* () {
        // Under READ COMMITTED a concurrent writer's UPDATE makes this one wait and then re-check
        // `revision` against the committed row, so exactly one of two racing writers matches.
        const changed = yield* run('UPDATE access_keys SET name = ?, updated_at = ?, revision = ? WHERE tenant_id = ? AND id = ? AND revision = ?', [
          key.name,
          key.updatedAt,
          key.revision,
          tenantId,
          key.id,
          expectedRevision,
        ]);
        if (changed !== 1) return false;
        yield* writeAudit(audit);
        return true;
      });
    },
    async deleteAccessKey(tenantId, id, expectedRevision, guardRoles, activeAt, audit) {
      return w.write(function* () {
        // The key and every key holding a guarded role, locked in id order on PostgreSQL (so
        // concurrent deletes cannot deadlock): two concurrent deletes of the last two managers
        // then run one after the other, and the second no longer sees the first's key.
        const roles = d.inList('role', guardRoles);
        const locked = yield* all(
          `SELECT id, role, revision, expires_at FROM access_keys WHERE tenant_id = ? AND (id = ? OR ${roles.sql}) ORDER BY id${d.forUpdate}`,
          [tenantId, id, roles.param],
        );
        const row = locked.find((r) => r.id === id);
        if (!row || (expectedRevision !== null && Number(row.revision) !== expectedRevision)) return 'stale' as const;
        if (guardRoles.includes(row.role as string)) {
          const others = locked.filter(
            (r) => r.id !== id && guardRoles.includes(r.role as string) && (r.expires_at === null || (r.expires_at as string) > activeAt),
          );
          if (others.length === 0) return 'last_manager' as const;
        }
        yield* run('DELETE FROM access_keys WHERE tenant_id = ? AND id = ?', [tenantId, id]);
        yield* writeAudit(audit);
        return 'deleted' as const;
      });
    },
  };
}
