import type { IdempotencyStore } from './port.js';
import { idempotencyFromRecord } from './rows.js';
import type { QueryDialect, SqlRunner } from './sql-runner.js';
import { one, run, type WriteRunner } from './transaction-script.js';

/** Idempotency keys, written once for both stores. */
export function idempotencyStore(db: SqlRunner, w: WriteRunner, d: QueryDialect): IdempotencyStore {
  return {
    async reserveIdempotencyKey(row, staleBefore) {
      return w.write(function* () {
        // ON CONFLICT waits (PostgreSQL) for a concurrent reservation of the same key to commit
        // or roll back, so of two callers in different processes exactly one inserts.
        for (let attempt = 0; attempt < 3; attempt++) {
          const inserted = yield* run(
            `INSERT INTO idempotency_keys (tenant_id, key, principal_id, fingerprint, state, status, response, created_at)
             VALUES (?, ?, ?, ?, 'pending', NULL, NULL, ?) ON CONFLICT (tenant_id, key) DO NOTHING`,
            [row.tenantId, row.key, row.principalId, row.fingerprint, row.createdAt],
          );
          if (inserted === 1) return { reserved: true as const };
          const existing = yield* one(`SELECT * FROM idempotency_keys WHERE tenant_id = ? AND key = ?${d.forUpdate}`, [row.tenantId, row.key]);
          // Released (deleted) between the two statements: try the insert again.
          if (!existing) continue;
          const e = idempotencyFromRecord(existing);
          // A reservation left by a crashed request is taken over rather than blocking the key for a day.
          // The row lock makes the takeover single: a second taker waits, then reads the fresh row.
          if (!(e.state === 'pending' && e.createdAt < staleBefore)) return { reserved: false as const, existing: e };
          yield* run(
            `UPDATE idempotency_keys SET principal_id = ?, fingerprint = ?, state = 'pending', status = NULL, response = NULL, created_at = ?
              WHERE tenant_id = ? AND key = ?`,
            [row.principalId, row.fingerprint, row.createdAt, row.tenantId, row.key],
          );
          return { reserved: true as const };
        }
        throw new Error('idempotency key reservation kept racing with its release');
      });
    },
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
