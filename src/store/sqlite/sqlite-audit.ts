import type { AppendSeal, AuditRow, SealDecision, SealRound, UsageTouch } from '../../domain/records.js';
import { CHAIN_HEAD_SQL, STORED_CHECKPOINT_SQL, UPSERT_CHAIN_HEAD_SQL, chainHeadParams, hasUnsealedSql, unsealedEventsSql } from '../audit-sql.js';
import type { AuditStore } from '../port.js';
import { auditFromRecord, chainHeadFromRecord } from '../rows.js';
import type { WalSync } from './wal-sync.js';
import { sqliteDialect, type SqliteConnection } from './sqlite-connection.js';

/**
 * An event as it will read back: SQLite stores text as UTF-8, where a lone surrogate becomes
 * U+FFFD, and a hash made before storing must be of what verification will read.
 */
const asStored = (e: AuditRow): AuditRow => ({
  ...e,
  actor: { ...e.actor, name: e.actor.name.toWellFormed(), email: e.actor.email?.toWellFormed() ?? null },
  targetId: e.targetId?.toWellFormed() ?? null,
  reason: e.reason?.toWellFormed() ?? null,
  userAgent: e.userAgent.toWellFormed(),
});

/**
 * Appending and sealing on SQLite. One process owns the file and its transactions run one at a time,
 * so appends can seal as they write (`capabilities.sealsOnAppend`) and no chain lock is needed.
 */
export function sqliteAudit(
  c: SqliteConnection,
  deps: { walSync: WalSync | null; deferTouches(touches: readonly UsageTouch[]): void },
): Pick<AuditStore, 'appendAudit' | 'sealAuditChain'> {
  const { db, get, all, run } = c;
  const unsealedSql = unsealedEventsSql(sqliteDialect);
  const unsealedExistsSql = hasUnsealedSql(sqliteDialect);
  /** What a seal decision starts from: the events table's head and the stored checkpoint. */
  const chainRound = (tenantId: string, events: AuditRow[]): SealRound => {
    const stored = get(STORED_CHECKPOINT_SQL, tenantId);
    return { head: chainHeadFromRecord(get(CHAIN_HEAD_SQL, tenantId)), checkpoint: (stored?.checkpoint as string | null | undefined) ?? null, events };
  };
  const writeChainHead = (tenantId: string, decision: SealDecision): void => {
    const params = chainHeadParams(tenantId, decision, new Date().toISOString());
    if (params) run(UPSERT_CHAIN_HEAD_SQL, ...params);
  };
  /**
   * Inserts events already sealed onto their chains: one write per event instead of an insert
   * now and an update by the sealer later. A tenant with older unsealed events (written by other
   * transactions) gets these unsealed too, so the sealer keeps its chain in the order it reads.
   */
  const insertSealedAudit = (events: readonly AuditRow[], seal: AppendSeal): void => {
    const byTenant = new Map<string, AuditRow[]>();
    for (const e of events) {
      const group = byTenant.get(e.tenantId);
      if (group) group.push(e);
      else byTenant.set(e.tenantId, [e]);
    }
    for (const [tenantId, group] of byTenant) {
      const decide = seal(tenantId);
      if (decide === null || get(unsealedExistsSql, tenantId)) {
        c.insertAudit(group);
        continue;
      }
      const stored = group.map(asStored);
      const decision = decide(chainRound(tenantId, stored));
      c.insertAudit(
        stored.map((e, i) => {
          const s = decision.seals[i];
          if (s?.id !== e.id) throw new Error('seal decision does not match the events');
          return { ...e, seq: s.seq, hash: s.hash, prevHash: s.prevHash };
        }),
      );
      writeChainHead(tenantId, decision);
    }
  };
  return {
    async appendAudit(events, touches, seal) {
      // The hot write (every reveal): committed without blocking on the fsync, then made durable
      // off the event loop before the caller hears back (see wal-sync.ts).
      db.transaction(() => {
        if (seal) insertSealedAudit(events, seal);
        else c.insertAudit(events);
      }).immediate();
      deps.deferTouches(touches);
      return { durable: deps.walSync ? deps.walSync.sync() : Promise.resolve() };
    },
    async sealAuditChain(tenantId, limit, decide) {
      return db
        .transaction(() => {
          const events = all(unsealedSql, tenantId, limit).map(auditFromRecord);
          if (events.length === 0) return 0;
          const decision = decide(chainRound(tenantId, events));
          for (const s of decision.seals) {
            run('UPDATE audit_events SET seq = ?, hash = ?, prev_hash = ? WHERE id = ? AND seq IS NULL', s.seq, s.hash, s.prevHash, s.id);
          }
          writeChainHead(tenantId, decision);
          return decision.seals.length;
        })
        .immediate();
    },
  };
}
