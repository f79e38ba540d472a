import {
  CLAIM_HELD_SQL, COMPLETE_REFRESH_SQL, DUE_BY_EXPIRY_SQL, DUE_BY_SCHEDULE_SQL, REFRESHABLE_SQL, completeRefreshParams, oauthQueries, releaseClaim,
} from '../oauth-sql.js';
import type { OAuthStore } from '../port.js';
import { writeVersion } from './postgres-credentials.js';
import type { PgConnection } from './postgres-connection.js';

/**
 * OAuth states and refresh claims on PostgreSQL. Claims are conditional UPDATEs: a second claimer
 * blocks on the row lock, re-checks the condition after the first commits, and finds the claim
 * taken. The claim is a lease in columns, not a lock held across the provider call.
 */
export function postgresOAuth(c: PgConnection): OAuthStore {
  const { transaction } = c;
  return {
    ...oauthQueries(c.runner),

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
    async completeRefresh(tenantId, owner, fence, expectedRevision, w, schedule) {
      return transaction(async (tx) => {
        if ((await tx.run(COMPLETE_REFRESH_SQL, completeRefreshParams(tenantId, owner, fence, expectedRevision, w, schedule))) !== 1) {
          return (await tx.one(CLAIM_HELD_SQL, [tenantId, w.credential.id, fence, owner])) ? ('stale' as const) : ('fenced' as const);
        }
        await writeVersion(tx, w);
        await c.insertAudit(tx, w.audit);
        return 'updated' as const;
      });
    },
    async releaseRefresh(tenantId, id, owner, fence, failure) {
      return transaction(async (tx) => {
        const released = (await tx.run(...releaseClaim(tenantId, id, owner, fence, failure))) === 1;
        // The provider was called either way: its answer is recorded even when the claim was lost.
        if (failure) await c.insertAudit(tx, failure.audit);
        return released;
      });
    },
  };
}
