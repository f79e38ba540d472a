import type { IdempotencyStore } from './port.js';
import type { SqlRunner } from './sql-runner.js';

/** SQL of idempotency keys, written once with `?` placeholders, and the methods the same on both stores. */

export const IDEMPOTENCY_KEY_SQL = 'SELECT * FROM idempotency_keys WHERE tenant_id = ? AND key = ?';

export function idempotencyQueries(db: SqlRunner): Omit<IdempotencyStore, 'reserveIdempotencyKey'> {
  return {
    async completeIdempotencyKey(tenantId, key, status, response) {
      await db.run(`UPDATE idempotency_keys SET state = 'done', status = ?, response = ? WHERE tenant_id = ? AND key = ?`, [status, response, tenantId, key]);
    },
    async releaseIdempotencyKey(tenantId, key) {
      await db.run(`DELETE FROM idempotency_keys WHERE tenant_id = ? AND key = ? AND state = 'pending'`, [tenantId, key]);
    },
    async purgeIdempotencyKeys(createdBefore) {
      return db.run('DELETE FROM idempotency_keys WHERE created_at < ?', [createdBefore]);
    },
  };
}
