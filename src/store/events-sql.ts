import type { EventFeedStore } from './port.js';
import { auditFromRecord } from './rows.js';
import type { SqlRunner } from './sql-runner.js';

/**
 * The event feed's reads (GET /v1/events, the SSE stream), written once for both stores: sealed
 * audit events of a tenant in chain order, between two positions, on the chain's own index
 * (tenant_id, seq). The caller bounds the range, so a page costs at most that many index entries
 * however few of them are events.
 */
export function eventFeedStore(db: SqlRunner): EventFeedStore {
  return {
    async listEventRows(tenantId, q, limit) {
      const where = ['tenant_id = ?', 'seq > ?', 'seq <= ?'];
      const params: unknown[] = [tenantId, q.after, q.through];
      if (q.sources.length === 0) return [];
      where.push(`(${q.sources.map(() => '(action = ? AND outcome = ?)').join(' OR ')})`);
      for (const s of q.sources) params.push(s.action, s.outcome);
      if (q.objectType !== undefined) {
        where.push('target_type = ?');
        params.push(q.objectType);
      }
      if (q.objectId !== undefined) {
        where.push('target_id = ?');
        params.push(q.objectId);
      }
      if (q.since !== undefined) {
        where.push('at >= ?');
        params.push(q.since);
      }
      const rows = await db.all(`SELECT * FROM audit_events WHERE ${where.join(' AND ')} ORDER BY seq LIMIT ?`, [...params, limit]);
      return rows.map(auditFromRecord);
    },
    async auditPositionBefore(tenantId, at) {
      // The audit_list index (tenant_id, at, id), walked back from `at`: the first sealed entry.
      const r = await db.one('SELECT seq FROM audit_events WHERE tenant_id = ? AND at < ? AND seq IS NOT NULL ORDER BY at DESC, id DESC LIMIT 1', [
        tenantId,
        at,
      ]);
      return r ? Number(r.seq) : 0;
    },
    async auditHead(tenantId) {
      const r = await db.one('SELECT seq FROM audit_chain_heads WHERE tenant_id = ?', [tenantId]);
      return r ? Number(r.seq) : 0;
    },
  };
}
