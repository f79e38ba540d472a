import { ACCESS_KEY_BY_HASH_SQL } from '../access-keys-sql.js';
import type { AccessKeyStore } from '../port.js';
import { accessKeyFromRecord } from '../rows.js';
import { collapseTouches } from './collapse-touches.js';
import { toPg, type PgConnection } from './postgres-connection.js';

const BY_HASH = toPg(ACCESS_KEY_BY_HASH_SQL, [null]).text;

/** What PostgreSQL does its own way for access keys: a named statement for authentication, touches in one UPDATE … FROM unnest. */
export function postgresAccessKeys(c: PgConnection): Pick<AccessKeyStore, 'findAccessKeyByHash' | 'touchAccessKeys'> {
  return {
    async findAccessKeyByHash(keyHash) {
      const r = (await c.prepared('access-key-by-hash', BY_HASH, [keyHash])).rows[0];
      return r ? accessKeyFromRecord(r) : null;
    },
    async touchAccessKeys(touches) {
      const rows = collapseTouches(touches, (_a, b) => b);
      if (rows.length === 0) return;
      await c.transaction(async (tx) => {
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
