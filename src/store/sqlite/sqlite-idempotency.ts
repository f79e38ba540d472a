import { IDEMPOTENCY_KEY_SQL, idempotencyQueries } from '../idempotency-sql.js';
import type { IdempotencyStore } from '../port.js';
import { idempotencyFromRecord } from '../rows.js';
import type { SqliteConnection } from './sqlite-connection.js';

/** Idempotency keys on SQLite: a reservation reads and writes in one transaction, which runs alone. */
export function sqliteIdempotency(c: SqliteConnection): IdempotencyStore {
  const { db, get, run } = c;
  return {
    ...idempotencyQueries(c.runner),

    async reserveIdempotencyKey(row, staleBefore) {
      return db.transaction(() => {
        const existing = get(IDEMPOTENCY_KEY_SQL, row.tenantId, row.key);
        if (existing) {
          const e = idempotencyFromRecord(existing);
          // A reservation left by a crashed request is taken over rather than blocking the key for a day.
          if (!(e.state === 'pending' && e.createdAt < staleBefore)) return { reserved: false as const, existing: e };
          run('DELETE FROM idempotency_keys WHERE tenant_id = ? AND key = ?', row.tenantId, row.key);
        }
        run(
          `INSERT INTO idempotency_keys (tenant_id, key, principal_id, fingerprint, state, status, response, created_at) VALUES (?, ?, ?, ?, 'pending', NULL, NULL, ?)`,
          row.tenantId, row.key, row.principalId, row.fingerprint, row.createdAt,
        );
        return { reserved: true as const };
      }).immediate();
    },
  };
}
