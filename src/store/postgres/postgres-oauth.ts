import { DUE_BY_EXPIRY_SQL, DUE_BY_SCHEDULE_SQL, REFRESHABLE_SQL } from '../oauth-sql.js';
import type { OAuthStore } from '../port.js';
import type { PgConnection } from './postgres-connection.js';

/**
 * OAuth states and refresh claims on PostgreSQL. Claims are conditional UPDATEs: a second claimer
 * blocks on the row lock, re-checks the condition after the first commits, and finds the claim
 * taken. The claim is a lease in columns, not a lock held across the provider call.
 */
export function postgresOAuth(c: PgConnection): Pick<OAuthStore, 'claimDueRefreshes'> {
  return {
    async claimDueRefreshes(q) {
      // SKIP LOCKED: rows another process is claiming right now are left to it.
      const halves = [
        { where: DUE_BY_SCHEDULE_SQL, order: 'refresh_next_at', param: q.now },
        { where: DUE_BY_EXPIRY_SQL, order: 'expires_at', param: q.horizon },
      ];
      const out: Array<{ tenantId: string; id: string; fence: number }> = [];
      for (const h of halves) {
        const limit = q.limit - out.length;
        if (limit <= 0) break;
        const rows = await c.runner.all(
          `WITH due AS (
             SELECT tenant_id, id FROM credentials WHERE ${REFRESHABLE_SQL} AND ${h.where}
              ORDER BY ${h.order} LIMIT ? FOR UPDATE SKIP LOCKED)
           UPDATE credentials c SET refresh_claimed_by = ?, refresh_claim_expires_at = ?, refresh_fence = c.refresh_fence + 1
             FROM due WHERE c.tenant_id = due.tenant_id AND c.id = due.id
           RETURNING c.tenant_id, c.id, c.refresh_fence`,
          [q.type, q.now, h.param, limit, q.owner, q.leaseUntil],
        );
        out.push(...rows.map((row) => ({ tenantId: row.tenant_id as string, id: row.id as string, fence: Number(row.refresh_fence) })));
      }
      return out;
    },
  };
}
