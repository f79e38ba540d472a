import { setImmediate as yieldToRequests } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { Clock } from '../../domain/clock.js';
import { newId } from '../../domain/ids.js';
import type { AuditRow, Store } from '../../store/port.js';
import { ANCHOR_ACTION, anchorReason } from './audit-chain.js';
import { chainStart, walkChain } from './audit-verify.js';

/** Events purged per transaction (and per anchor). */
const PURGE_BATCH = 10_000;

const RETENTION_ACTOR = { type: 'system' as const, id: 'audit-retention', name: 'latchkey audit retention', email: null };

type RetentionStore = Pick<
  Store,
  | 'listAuditChains'
  | 'auditRetentionBoundary'
  | 'purgeAuditThrough'
  | 'readSealedAudit'
  | 'latestSealedAudit'
  | 'getAuditChainState'
  | 'getAuditSinkCursor'
  | 'lowestActiveWebhookCursor'
>;

/**
 * How far the tenant's chain has been delivered by everything that still wants it: the configured
 * sink, and every active webhook subscription (a paused or disabled one does not hold retention
 * back: it would hold it forever). Null: nothing holds.
 */
async function deliveredThrough(store: RetentionStore, sinkId: string | null, tenantId: string): Promise<number | null> {
  const sink = sinkId === null ? null : await store.getAuditSinkCursor(sinkId, tenantId);
  const webhooks = await store.lowestActiveWebhookCursor(tenantId);
  if (sink === null) return webhooks;
  return webhooks === null ? sink : Math.min(sink, webhooks);
}

/**
 * Deletes events older than the retention period from the start of each chain, and leaves the
 * chain verifiable: in the same transaction it writes an anchor event naming the seq and hash of
 * the last event purged, and verification starts from the newest anchor. The anchor is itself
 * sealed into the chain after the events it replaced, so editing its claim breaks its own hash.
 *
 * Two things are never purged: the newest sealed event (it is what the keyed checkpoint names),
 * and anything the configured sink or an active webhook subscription has not yet acknowledged. A stretch that
 * does not verify is kept too: retention must not be the way evidence of tampering disappears.
 */
export async function purgeExpiredAudit(deps: {
  store: RetentionStore;
  clock: Clock;
  logger: Logger;
  retentionDays: number;
  /** The configured sink's cursor name: its undelivered events are kept. */
  holdBackFor: string | null;
  /** Seals the tenant's pending events (the anchor among them). */
  seal: (tenantId: string) => Promise<number>;
}): Promise<{ purged: number; anchors: number }> {
  const { store, clock, logger, retentionDays } = deps;
  if (retentionDays <= 0) return { purged: 0, anchors: 0 };
  const cutoff = new Date(clock.now().getTime() - retentionDays * 86_400_000).toISOString();
  let purged = 0;
  let anchors = 0;
  for (const tenantId of await store.listAuditChains()) {
    // On SQLite every store call runs on the event loop: let requests in between tenants.
    await yieldToRequests();
    for (;;) {
      const b = await store.auditRetentionBoundary(tenantId, cutoff, PURGE_BATCH);
      if (!b) break;
      let throughSeq = b.throughSeq;
      let throughHash = b.throughHash;
      const delivered = await deliveredThrough(store, deps.holdBackFor, tenantId);
      if (delivered !== null) {
        if (delivered < throughSeq) {
          if (delivered < b.firstSeq) break;
          const at = (await store.readSealedAudit(tenantId, delivered - 1, 1))[0];
          if (!at || at.seq !== delivered || at.hash === null) break;
          throughSeq = delivered;
          throughHash = at.hash;
        }
      }
      const start = await chainStart(store, tenantId);
      const walk = start.bad ? { bad: start.bad } : await walkChain(store, tenantId, { cursor: start.cursor, lastId: null, checked: 0 }, throughSeq);
      if (walk.bad) {
        logger.error({ tenant_id: tenantId, event_id: walk.bad.id }, 'audit retention: the chain does not verify; nothing purged, so the evidence stays');
        break;
      }
      const anchor: AuditRow = {
        id: newId('evt'),
        tenantId,
        at: clock.now().toISOString(),
        actor: RETENTION_ACTOR,
        action: ANCHOR_ACTION,
        targetType: 'audit_chain',
        targetId: null,
        outcome: 'success',
        reason: anchorReason({ fromSeq: b.firstSeq, throughSeq, throughHash, olderThan: cutoff }),
        requestId: newId('req'),
        ip: '',
        userAgent: 'latchkey-retention',
        seq: null,
        hash: null,
        prevHash: null,
      };
      const n = await store.purgeAuditThrough(tenantId, throughSeq, throughHash, anchor);
      if (n === 0) break; // another process purged it first, or the chain moved: next run
      purged += n;
      anchors += 1;
      // Sealed at once, so the next batch (and any verify) starts from this anchor.
      await deps.seal(tenantId);
      logger.info({ tenant_id: tenantId, purged: n, through_seq: throughSeq }, 'audit retention purged old events');
      if (throughSeq < b.throughSeq || n < PURGE_BATCH) break;
    }
  }
  return { purged, anchors };
}
