import {
  ACCESS_KEY_BY_HASH_SQL, DELETE_ACCESS_KEY_SQL, INSERT_ACCESS_KEY_SQL, UPDATE_ACCESS_KEY_SQL, accessKeyQueries,
} from '../access-keys-sql.js';
import type { AccessKeyStore } from '../port.js';
import { accessKeyFromRecord, accessKeyToParams } from '../rows.js';
import { collapseTouches } from './collapse-touches.js';
import { toPg, type PgConnection } from './postgres-connection.js';

const BY_HASH = toPg(ACCESS_KEY_BY_HASH_SQL, [null]).text;

/** Access keys on PostgreSQL: the last manager is guarded by row locks, not by one writer at a time. */
export function postgresAccessKeys(c: PgConnection): AccessKeyStore {
  const { transaction } = c;
  return {
    ...accessKeyQueries(c.runner),

    async findAccessKeyByHash(keyHash) {
      const r = (await c.prepared('access-key-by-hash', BY_HASH, [keyHash])).rows[0];
      return r ? accessKeyFromRecord(r) : null;
    },
    async insertAccessKey(_tenantId, key, audit) {
      await transaction(async (tx) => {
        await tx.run(INSERT_ACCESS_KEY_SQL, accessKeyToParams(key));
        await c.insertAudit(tx, audit);
      });
    },
    async updateAccessKey(tenantId, key, expectedRevision, audit) {
      return transaction(async (tx) => {
        // Under READ COMMITTED a concurrent writer's UPDATE makes this one wait and then re-check
        // `revision` against the committed row, so exactly one of two racing writers matches.
        if ((await tx.run(UPDATE_ACCESS_KEY_SQL, [key.name, key.updatedAt, key.revision, tenantId, key.id, expectedRevision])) !== 1) return false;
        await c.insertAudit(tx, audit);
        return true;
      });
    },
    async deleteAccessKey(tenantId, id, expectedRevision, guardRoles, activeAt, audit) {
      return transaction(async (tx) => {
        // Lock the key and every key holding a guarded role, in id order (so concurrent deletes
        // cannot deadlock). Two concurrent deletes of the last two managers then run one after
        // the other, and the second no longer sees the first's key.
        const locked = await tx.all(
          'SELECT id, role, revision, expires_at FROM access_keys WHERE tenant_id = ? AND (id = ? OR role = ANY(?::text[])) ORDER BY id FOR UPDATE',
          [tenantId, id, [...guardRoles]],
        );
        const row = locked.find((r) => r.id === id);
        if (!row || (expectedRevision !== null && Number(row.revision) !== expectedRevision)) return 'stale' as const;
        if (guardRoles.includes(row.role as string)) {
          const others = locked.filter((r) => r.id !== id && guardRoles.includes(r.role as string) && (r.expires_at === null || (r.expires_at as string) > activeAt)).length;
          if (others === 0) return 'last_manager' as const;
        }
        await tx.run(DELETE_ACCESS_KEY_SQL, [tenantId, id]);
        await c.insertAudit(tx, audit);
        return 'deleted' as const;
      });
    },
    async touchAccessKeys(touches) {
      const rows = collapseTouches(touches, (_a, b) => b);
      if (rows.length === 0) return;
      await transaction(async (tx) => {
        await tx.query(
          `UPDATE access_keys AS k SET last_used_at = t.at
             FROM unnest($1::text[], $2::text[], $3::text[]) AS t(tenant_id, id, at)
            WHERE k.tenant_id = t.tenant_id AND k.id = t.id`,
          [rows.map((t) => t.tenantId), rows.map((t) => t.id), rows.map((t) => t.at)],
        );
      });
    },
  };
}
