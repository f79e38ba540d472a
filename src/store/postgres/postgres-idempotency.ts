import { IDEMPOTENCY_KEY_SQL, idempotencyQueries } from '../idempotency-sql.js';
import type { IdempotencyStore } from '../port.js';
import { idempotencyFromRecord } from '../rows.js';
import type { PgConnection } from './postgres-connection.js';

/** Idempotency keys on PostgreSQL: of two processes reserving one key, the unique index lets one in. */
export function postgresIdempotency(c: PgConnection): IdempotencyStore {
  return {
    ...idempotencyQueries(c.runner),

    async reserveIdempotencyKey(row, staleBefore) {
      return c.transaction(async (tx) => {
        // ON CONFLICT waits for a concurrent reservation of the same key to commit or roll back,
        // so of two callers in different processes exactly one inserts.
        for (let attempt = 0; attempt < 3; attempt++) {
          const inserted = await tx.run(
            `INSERT INTO idempotency_keys (tenant_id, key, principal_id, fingerprint, state, status, response, created_at)
             VALUES (?, ?, ?, ?, 'pending', NULL, NULL, ?) ON CONFLICT (tenant_id, key) DO NOTHING`,
            [row.tenantId, row.key, row.principalId, row.fingerprint, row.createdAt],
          );
          if (inserted === 1) return { reserved: true as const };
          const existing = await tx.one(`${IDEMPOTENCY_KEY_SQL} FOR UPDATE`, [row.tenantId, row.key]);
          // Released (deleted) between the two statements: try the insert again.
          if (!existing) continue;
          const e = idempotencyFromRecord(existing);
          // A reservation left by a crashed request is taken over rather than blocking the key for a day.
          // The row lock makes the takeover single: a second taker waits, then reads the fresh row.
          if (!(e.state === 'pending' && e.createdAt < staleBefore)) return { reserved: false as const, existing: e };
          await tx.run(
            `UPDATE idempotency_keys SET principal_id = ?, fingerprint = ?, state = 'pending', status = NULL, response = NULL, created_at = ?
              WHERE tenant_id = ? AND key = ?`,
            [row.principalId, row.fingerprint, row.createdAt, row.tenantId, row.key],
          );
          return { reserved: true as const };
        }
        throw new Error('idempotency key reservation kept racing with its release');
      });
    },
  };
}
