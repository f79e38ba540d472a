import {
  CLAIM_HELD_SQL, COMPLETE_REFRESH_SQL, DUE_BY_EXPIRY_SQL, DUE_BY_SCHEDULE_SQL, REFRESHABLE_SQL, completeRefreshParams, oauthQueries, releaseClaim,
} from '../oauth-sql.js';
import type { OAuthStore } from '../port.js';
import type { SqliteConnection } from './sqlite-connection.js';
import type { SqliteCredentials } from './sqlite-credentials.js';

/**
 * OAuth states and refresh claims on SQLite. One process owns the file and each statement or
 * transaction here runs alone, so a claim is a plain conditional UPDATE of the claim columns.
 */
export function sqliteOAuth(c: SqliteConnection, credentials: Pick<SqliteCredentials, 'writeVersion'>): OAuthStore {
  const { db, get, all, run } = c;
  return {
    ...oauthQueries(c.runner),

    async claimDueRefreshes(q) {
      return db.transaction(() => {
        const scheduled = all(`SELECT tenant_id, id FROM credentials WHERE ${REFRESHABLE_SQL} AND ${DUE_BY_SCHEDULE_SQL} ORDER BY refresh_next_at LIMIT ?`, q.type, q.now, q.now, q.limit);
        const expiring = all(
          `SELECT tenant_id, id FROM credentials WHERE ${REFRESHABLE_SQL} AND ${DUE_BY_EXPIRY_SQL} ORDER BY expires_at LIMIT ?`,
          q.type, q.now, q.horizon, Math.max(0, q.limit - scheduled.length),
        );
        return [...scheduled, ...expiring].map((d) => {
          const r = get(
            'UPDATE credentials SET refresh_claimed_by = ?, refresh_claim_expires_at = ?, refresh_fence = refresh_fence + 1 WHERE tenant_id = ? AND id = ? RETURNING refresh_fence',
            q.owner, q.leaseUntil, d.tenant_id, d.id,
          );
          return { tenantId: d.tenant_id as string, id: d.id as string, fence: Number(r?.refresh_fence) };
        });
      }).immediate();
    },
    async completeRefresh(tenantId, owner, fence, expectedRevision, w, schedule) {
      return db.transaction(() => {
        if (run(COMPLETE_REFRESH_SQL, ...completeRefreshParams(tenantId, owner, fence, expectedRevision, w, schedule)).changes !== 1) {
          return get(CLAIM_HELD_SQL, tenantId, w.credential.id, fence, owner) ? ('stale' as const) : ('fenced' as const);
        }
        credentials.writeVersion(w);
        c.insertAudit(w.audit);
        return 'updated' as const;
      }).immediate();
    },
    async releaseRefresh(tenantId, id, owner, fence, failure) {
      return db.transaction(() => {
        const [sql, params] = releaseClaim(tenantId, id, owner, fence, failure);
        const released = run(sql, ...params).changes === 1;
        // The provider was called either way: its answer is recorded even when the claim was lost.
        if (failure) c.insertAudit(failure.audit);
        return released;
      }).immediate();
    },
  };
}
