import { DUE_BY_EXPIRY_SQL, DUE_BY_SCHEDULE_SQL, REFRESHABLE_SQL } from '../oauth-sql.js';
import type { OAuthStore } from '../port.js';
import type { SqliteConnection } from './sqlite-connection.js';

/**
 * OAuth states and refresh claims on SQLite. One process owns the file and each statement or
 * transaction here runs alone, so a claim is a plain conditional UPDATE of the claim columns.
 */
export function sqliteOAuth(c: SqliteConnection): Pick<OAuthStore, 'claimDueRefreshes'> {
  const { db, get, all } = c;
  return {
    async claimDueRefreshes(q) {
      return db
        .transaction(() => {
          const scheduled = all(
            `SELECT tenant_id, id FROM credentials WHERE ${REFRESHABLE_SQL} AND ${DUE_BY_SCHEDULE_SQL} ORDER BY refresh_next_at LIMIT ?`,
            q.type,
            q.now,
            q.now,
            q.limit,
          );
          const expiring = all(
            `SELECT tenant_id, id FROM credentials WHERE ${REFRESHABLE_SQL} AND ${DUE_BY_EXPIRY_SQL} ORDER BY expires_at LIMIT ?`,
            q.type,
            q.now,
            q.horizon,
            Math.max(0, q.limit - scheduled.length),
          );
          return [...scheduled, ...expiring].map((d) => {
            const r = get(
              'UPDATE credentials SET refresh_claimed_by = ?, refresh_claim_expires_at = ?, refresh_fence = refresh_fence + 1 WHERE tenant_id = ? AND id = ? RETURNING refresh_fence',
              q.owner,
              q.leaseUntil,
              d.tenant_id,
              d.id,
            );
            return { tenantId: d.tenant_id as string, id: d.id as string, fence: Number(r?.refresh_fence) };
          });
        })
        .immediate();
    },
  };
}
