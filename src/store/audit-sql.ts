import type { SealDecision } from '../domain/records.js';
import type { AuditSinkStore, AuditStore } from './port.js';
import { auditListSql } from './queries.js';
import { AUDIT_COLUMNS, auditFromRecord, chainHeadFromRecord, insertSql } from './rows.js';
import type { QueryDialect, SqlRunner } from './sql-runner.js';
import { lock, one, run, writeAudit, type Script, type WriteRunner } from './transaction-script.js';

/**
 * The audit trail and its sinks, written once for both stores. Appending and sealing are each
 * adapter's own: SQLite seals as it appends (one writer orders every append), PostgreSQL leaves
 * sealing to the sealer under the chain lock.
 */

export const INSERT_AUDIT_SQL = insertSql('audit_events', AUDIT_COLUMNS);
/** The newest sealed event of a tenant: where its chain goes on. */
export const CHAIN_HEAD_SQL = 'SELECT seq, id, hash FROM audit_events WHERE tenant_id = ? AND seq IS NOT NULL ORDER BY seq DESC LIMIT 1';
export const STORED_CHECKPOINT_SQL = 'SELECT checkpoint FROM audit_chain_heads WHERE tenant_id = ?';
/** The partial index holds the unsealed events in seal order (no sort of the backlog). */
export const unsealedEventsSql = (d: QueryDialect): string =>
  `SELECT * FROM audit_events ${d.indexedBy('audit_unsealed')} WHERE tenant_id = ? AND seq IS NULL ORDER BY at, id LIMIT ?`;
export const hasUnsealedSql = (d: QueryDialect): string =>
  `SELECT 1 AS x FROM audit_events ${d.indexedBy('audit_unsealed')} WHERE tenant_id = ? AND seq IS NULL LIMIT 1`;

/** Moves the tenant's head to the last seal; the stored checkpoint is replaced only when the decision says so. */
export const UPSERT_CHAIN_HEAD_SQL = `INSERT INTO audit_chain_heads (tenant_id, seq, event_id, hash, checkpoint, updated_at) VALUES (?, ?, ?, ?, ?, ?)
   ON CONFLICT (tenant_id) DO UPDATE SET seq = excluded.seq, event_id = excluded.event_id, hash = excluded.hash, updated_at = excluded.updated_at,
     checkpoint = CASE WHEN ? = 1 THEN audit_chain_heads.checkpoint ELSE excluded.checkpoint END`;
/** Parameters of UPSERT_CHAIN_HEAD_SQL, or null when the decision sealed nothing. */
export function chainHeadParams(tenantId: string, decision: SealDecision, at: string): unknown[] | null {
  const last = decision.seals[decision.seals.length - 1];
  if (!last) return null;
  return [tenantId, last.seq, last.id, last.hash, decision.checkpoint ?? null, at, decision.checkpoint === undefined ? 1 : 0];
}

/** Key space of the two-int advisory locks: (1, hashtext('audit:' || tenant id)) is a tenant's audit chain lock. */
const AUDIT_CHAIN_LOCK_SPACE = 1;

/** Sealers and the retention purge of one tenant (in any process) take turns; appends never wait for it. */
export function* chainLock(tenantId: string): Script<void> {
  yield* lock(AUDIT_CHAIN_LOCK_SPACE, `audit:${tenantId}`);
}

export function auditStore(db: SqlRunner, w: WriteRunner, d: QueryDialect): Omit<AuditStore, 'appendAudit' | 'sealAuditChain'> {
  return {
    async purgeAuditThrough(tenantId, throughSeq, throughHash, anchor) {
      return w.write(function* () {
        yield* chainLock(tenantId);
        const at = yield* one('SELECT hash FROM audit_events WHERE tenant_id = ? AND seq = ?', [tenantId, throughSeq]);
        const head = yield* one(CHAIN_HEAD_SQL, [tenantId]);
        // Another purge or a re-seal got there first, or it would take the newest event: nothing.
        if (!at || at.hash !== throughHash || !head || Number(head.seq) <= throughSeq) return 0;
        const n = yield* run('DELETE FROM audit_events WHERE tenant_id = ? AND seq IS NOT NULL AND seq <= ?', [tenantId, throughSeq]);
        yield* writeAudit([anchor]);
        return n;
      });
    },
    async listAudit(tenantId, query, page) {
      const q = auditListSql(tenantId, query, page);
      return (await db.all(q.text, q.params)).map(auditFromRecord);
    },
    async tenantsWithUnsealedAudit() {
      // Without INDEXED BY, SQLite answers DISTINCT from audit_chain, scanning every event ever
      // sealed: 47 ms at a million events, on the event loop, every seal interval.
      return (await db.all(`SELECT DISTINCT tenant_id FROM audit_events ${d.indexedBy('audit_unsealed')} WHERE seq IS NULL`)).map((r) => r.tenant_id as string);
    },
    async countUnsealedAudit(tenantId) {
      return Number((await db.one('SELECT COUNT(*) AS n FROM audit_events WHERE tenant_id = ? AND seq IS NULL', [tenantId]))?.n ?? 0);
    },
    async getAuditChainState(tenantId) {
      const r = await db.one('SELECT seq, event_id AS id, hash, checkpoint FROM audit_chain_heads WHERE tenant_id = ?', [tenantId]);
      return { head: chainHeadFromRecord(r), checkpoint: (r?.checkpoint as string | null | undefined) ?? null };
    },
    async readSealedAudit(tenantId, afterSeq, limit) {
      const rows = await db.all('SELECT * FROM audit_events WHERE tenant_id = ? AND seq > ? ORDER BY seq LIMIT ?', [tenantId, afterSeq, limit]);
      return rows.map((r) => ({ ...auditFromRecord(r), actorIdColumn: String(r.actor_id) }));
    },
    async latestSealedAudit(tenantId, action) {
      const r = await db.one('SELECT * FROM audit_events WHERE tenant_id = ? AND action = ? AND seq IS NOT NULL ORDER BY seq DESC LIMIT 1', [tenantId, action]);
      return r ? auditFromRecord(r) : null;
    },
    async getAuditChainKey(tenantId) {
      const r = await db.one('SELECT sealed_key FROM audit_chain_keys WHERE tenant_id = ?', [tenantId]);
      return r ? Buffer.from(r.sealed_key as Uint8Array) : null;
    },
    async initAuditChainKey(tenantId, sealedKey, createdAt) {
      const created =
        (await db.run('INSERT INTO audit_chain_keys (tenant_id, sealed_key, created_at) VALUES (?, ?, ?) ON CONFLICT (tenant_id) DO NOTHING', [
          tenantId,
          sealedKey,
          createdAt,
        ])) === 1;
      const r = await db.one('SELECT sealed_key FROM audit_chain_keys WHERE tenant_id = ?', [tenantId]);
      return { sealedKey: Buffer.from(r?.sealed_key as Uint8Array), created };
    },
    async listAuditChains() {
      return (await db.all('SELECT tenant_id FROM audit_chain_heads ORDER BY tenant_id')).map((r) => r.tenant_id as string);
    },
    async auditRetentionBoundary(tenantId, before, maxEvents) {
      const first = await db.one('SELECT seq, at FROM audit_events WHERE tenant_id = ? AND seq IS NOT NULL ORDER BY seq LIMIT 1', [tenantId]);
      const head = await db.one(CHAIN_HEAD_SQL, [tenantId]);
      // Purges take a prefix of the chain: if its first event is young enough, nothing is due, and
      // the walk below (up to maxEvents rows per tenant, every run) is skipped.
      if (!first || !head || (first.at as string) >= before) return null;
      const firstSeq = Number(first.seq);
      // Walks the seq index from the start, at most maxEvents rows; the newest event always stays.
      const last = await db.one(
        'SELECT seq, hash FROM audit_events WHERE tenant_id = ? AND seq IS NOT NULL AND seq <= ? AND seq < ? AND at < ? ORDER BY seq DESC LIMIT 1',
        [tenantId, firstSeq + maxEvents - 1, Number(head.seq), before],
      );
      if (!last) return null;
      return { firstSeq, throughSeq: Number(last.seq), throughHash: last.hash as string };
    },
  };
}

export function auditSinkStore(db: SqlRunner): AuditSinkStore {
  return {
    async listAuditSinkWork(sink, tenantId) {
      const rows = await db.all(
        `SELECT h.tenant_id, h.seq AS head, COALESCE(c.seq, 0) AS delivered FROM audit_chain_heads h
           LEFT JOIN audit_sink_cursors c ON c.sink = ? AND c.tenant_id = h.tenant_id
          WHERE h.seq > COALESCE(c.seq, 0)${tenantId === undefined ? '' : ' AND h.tenant_id = ?'} ORDER BY h.tenant_id`,
        tenantId === undefined ? [sink] : [sink, tenantId],
      );
      return rows.map((r) => ({ tenantId: r.tenant_id as string, head: Number(r.head), delivered: Number(r.delivered) }));
    },
    async getAuditSinkCursor(sink, tenantId) {
      return Number((await db.one('SELECT seq FROM audit_sink_cursors WHERE sink = ? AND tenant_id = ?', [sink, tenantId]))?.seq ?? 0);
    },
    async advanceAuditSinkCursor(sink, tenantId, seq) {
      await db.run(
        `INSERT INTO audit_sink_cursors (sink, tenant_id, seq, updated_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (sink, tenant_id) DO UPDATE SET seq = excluded.seq, updated_at = excluded.updated_at WHERE audit_sink_cursors.seq < excluded.seq`,
        [sink, tenantId, seq, new Date().toISOString()],
      );
    },
    async claimAuditSinkLease(sink, owner, now, until) {
      const changed = await db.run(
        `INSERT INTO audit_sink_leases (sink, owner, expires_at) VALUES (?, ?, ?)
         ON CONFLICT (sink) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
          WHERE audit_sink_leases.owner = excluded.owner OR audit_sink_leases.expires_at < ?`,
        [sink, owner, until, now],
      );
      return changed === 1;
    },
    async releaseAuditSinkLease(sink, owner) {
      await db.run('DELETE FROM audit_sink_leases WHERE sink = ? AND owner = ?', [sink, owner]);
    },
  };
}
