import { setImmediate as yieldToRequests } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { Keyring } from '../../crypto/keyring.js';
import type { Clock } from '../../domain/clock.js';
import { LatchkeyError } from '../../domain/errors.js';
import { newId } from '../../domain/ids.js';
import type { RequestContext } from '../../domain/principal.js';
import type { ActorRef, AppendSeal, AuditQuery, AuditRow, EventDetail, Keyset, SealDecision, SealRound, UsageTouch } from '../../store/port.js';
import type { AuditSinkStore, AuditStore, KeyManagementStore, StoreLifecycle, WebhookStore } from '../../store/port.js';
import { StoreFull } from '../../store/port.js';
import { keepLatestTouches } from '../../store/usage-touches.js';
import { makeCheckpoint, openCheckpoint, sealEvents } from './audit-chain.js';
import { purgeExpiredAudit } from './audit-retention.js';
import { verifyChain, type VerifyReport } from './audit-verify.js';
import { createCheckpointKeys, type CheckpointKeys } from './checkpoint-keys.js';
import { deniedTarget, type RefusedRequest } from './denials.js';
import { RefusalWindows } from './refusal-windows.js';
import type { AuditSink } from './sinks/audit-sink.js';
import { createSinkPump, type SinkPump } from './sinks/sink-pump.js';

export interface AuditTarget {
  type: string;
  id: string | null;
}

/** The tenant id of events that belong to no tenant (failed authentication). */
export const PLATFORM_CHAIN = '';

const SEAL_BATCH = 500;
/** The longest an `appendSoon` event waits for an awaited one to go with before it is written alone. */
const DEFERRED_MS = 50;
const RETENTION_INTERVAL_MS = 3_600_000;
/** The first retention pass runs this long after start, not during start-up. */
const RETENTION_FIRST_RUN_MS = 30_000;

interface Pending {
  event: AuditRow;
  touch: UsageTouch | null;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export type { RefusedRequest } from './denials.js';
export type { VerifyReport } from './audit-verify.js';

export interface AuditService {
  event(ctx: RequestContext, action: string, target: AuditTarget, outcome?: AuditRow['outcome'], reason?: string | null, detail?: EventDetail): AuditRow;
  anonymousEvent(meta: { requestId: string; ip: string; userAgent: string }, action: string, reason: string): AuditRow;
  /**
   * Writes an event on its own (reveals, denials) and resolves once it is durable. Concurrent
   * calls share one transaction (group commit), so an fsync per reveal is not one per request.
   */
  append(event: AuditRow, touch?: UsageTouch): Promise<void>;
  /**
   * Like `append`, for an event nothing waits on (the result of a proxied request, written after
   * its answer went out): it goes with the next group commit that an awaited event starts, and
   * on its own only after DEFERRED_MS, so it never adds a commit and a flush of its own while
   * such events keep coming. Resolves once it is durable.
   */
  appendSoon(event: AuditRow): Promise<void>;
  /**
   * Records a request the HTTP layer refused (403, or 404 on a route that hands out secrets),
   * whichever route or dialect refused it, grouped by actor, action and target over a window
   * (refusal-windows.ts); never throws.
   */
  recordRefused(req: RefusedRequest): void;
  list(tenantId: string, query: AuditQuery, limit: number, after?: Keyset): Promise<AuditRow[]>;
  sealPending(tenantId?: string): Promise<number>;
  verify(tenantId: string): Promise<VerifyReport>;
  /** Checkpoints need the tenants' keys: the composition root hands the keyring over here. */
  enableCheckpoints(keyring: Pick<Keyring, 'sealFor' | 'openFor'>): void;
  startSealer(intervalMs: number): void;
  /** Calls `listener` with the tenants whose chains this process just sealed events onto. */
  onSealed(listener: (tenantIds: ReadonlySet<string>) => void): void;
  /** Streams sealed events to `sink` from its durable cursor until `stop`. */
  startSink(sink: AuditSink, opts?: { pollMs?: number; batch?: number }): SinkPump;
  /** Purges events older than `retentionDays` (0 = keep forever) behind an anchor; see audit-retention.ts. */
  purgeExpired(retentionDays?: number): Promise<{ purged: number; anchors: number }>;
  startRetention(retentionDays: number, intervalMs?: number): void;
  stop(): Promise<void>;
}

/** How long refusals of one actor, action and target are grouped into one counted event, by default. */
export const REFUSAL_WINDOW_MS = 60_000;

export function createAuditService(deps: {
  store: AuditStore &
    AuditSinkStore &
    Pick<StoreLifecycle, 'capabilities'> &
    Pick<KeyManagementStore, 'listTenantKeys'> &
    Pick<WebhookStore, 'lowestActiveWebhookCursor'>;
  clock: Clock;
  logger: Logger;
  refusalWindowMs?: number;
}): AuditService {
  const { store, clock, logger } = deps;
  let queue: Pending[] = [];
  let flushScheduled = false;
  let sealTimer: NodeJS.Timeout | undefined;
  let retentionTimer: NodeJS.Timeout | undefined;
  let retentionRun: Promise<unknown> | null = null;
  let retentionDays = 0;
  let sealing: Promise<number> | null = null;
  let keys: CheckpointKeys | null = null;
  let pump: SinkPump | null = null;
  const sealListeners: Array<(tenantIds: ReadonlySet<string>) => void> = [];
  /** Chains moved: whatever streams from them (the audit sink, webhooks) looks now, not at its next poll. */
  const announceSealed = (tenantIds: ReadonlySet<string>): void => {
    pump?.wake();
    for (const l of sealListeners) l(tenantIds);
  };
  /** Tenants whose checkpoint key this process just made: their existing chain may be adopted once. */
  const adoptable = new Set<string>();
  /** Chains whose break the sealer has already reported (once per process is enough for the log). */
  const reportedBreaks = new Set<string>();
  const refusals = new RefusalWindows(deps.refusalWindowMs ?? REFUSAL_WINDOW_MS, (event) => {
    service.append(event).catch(() => undefined);
  });

  /**
   * Group commit: one audit batch in flight at a time, from its transaction until it is durable,
   * and the events that arrive meanwhile go together in the next one. Concurrent transactions
   * would each touch the same hot credential rows (`last_used_at`) and queue on their row locks.
   * Where durability is a separate fsync (SQLite's WAL sync), committing the next batch while this
   * one's fsync runs would gain nothing, since that batch waits for the next fsync either way; held
   * back, it goes in one transaction instead of one per event-loop turn.
   */
  let writing: Promise<void> | null = null;
  let deferredTimer: NodeJS.Timeout | null = null;
  const scheduleFlush = (): void => {
    if (flushScheduled || writing) return;
    flushScheduled = true;
    setImmediate(() => {
      writing = flush().finally(() => {
        writing = null;
        if (queue.length > 0) scheduleFlush();
      });
    });
  };
  const flush = async (): Promise<void> => {
    flushScheduled = false;
    const batch = queue;
    queue = [];
    if (batch.length === 0) return;
    // Reveals of one credential in one batch move its last_used_at once, to the latest of them.
    const touches = [
      ...keepLatestTouches(
        new Map(),
        batch.flatMap((p) => (p.touch ? [p.touch] : [])),
      ).values(),
    ];
    const refuse = (err: unknown): void => {
      logger.error({ err: { message: (err as Error).message, code: (err as { code?: string }).code } }, 'audit write failed');
      const refusal = new LatchkeyError('UNAVAILABLE', 'The audit record could not be written', { retryAfterSeconds: 1 });
      for (const p of batch) p.reject(refusal);
    };
    let durable: Promise<void>;
    const sealed = new Set<string>();
    try {
      const events = batch.map((p) => p.event);
      ({ durable } = await store.appendAudit(events, touches, store.capabilities.sealsOnAppend ? await appendSeal(events, sealed) : undefined));
    } catch (err) {
      refuse(err);
      return;
    }
    for (const t of sealed) adoptable.delete(t);
    await durable.then(() => {
      if (sealed.size > 0) announceSealed(sealed);
      for (const p of batch) p.resolve();
    }, refuse);
  };

  /**
   * Seals the next events onto the head the events table has, and decides the checkpoint. The
   * checkpoint moves with the head only while it still names that head: if the newest sealed
   * event is not the one the checkpoint vouches for (rows cut from the end, a tail rewritten),
   * sealing goes on — new events must still be chained — but the checkpoint stays as evidence,
   * and `verify` keeps reporting the break until an operator deals with it.
   */
  const decide = (tenantId: string, key: Buffer | null, round: SealRound): SealDecision => {
    const seals = sealEvents(round.head, round.events);
    const last = seals[seals.length - 1];
    if (key === null || !last) return { seals, checkpoint: null };
    const next = makeCheckpoint(key, tenantId, { seq: last.seq, id: last.id, hash: last.hash });
    if (round.checkpoint === null) {
      if (round.head === null || adoptable.has(tenantId)) return { seals, checkpoint: next };
      reportBreak(tenantId, 'the chain has sealed events but no checkpoint');
      return { seals };
    }
    const cp = openCheckpoint(key, tenantId, round.checkpoint);
    if (cp && round.head && cp.seq === round.head.seq && cp.eventId === round.head.id && cp.hash === round.head.hash) return { seals, checkpoint: next };
    reportBreak(tenantId, cp ? `the newest sealed event is not the checkpoint's (seq ${cp.seq}, ${cp.eventId})` : 'the checkpoint does not verify');
    return { seals };
  };

  /**
   * Sealing in the append itself, where the store can (see `sealsOnAppend`): the same decision as
   * the sealer's, with each tenant's checkpoint key fetched first. A tenant whose key cannot be
   * had now is left to the sealer, which retries it; the events are written either way. Tenants
   * sealed go into `sealed` as the store decides them (they count once the append commits).
   */
  const appendSeal = async (events: readonly AuditRow[], sealed: Set<string>): Promise<AppendSeal> => {
    const keyOf = new Map<string, Buffer | null>();
    for (const tenantId of new Set(events.map((e) => e.tenantId))) {
      if (!keys) {
        keyOf.set(tenantId, null);
        continue;
      }
      try {
        const k = await keys.keyFor(tenantId);
        if (k?.created) adoptable.add(tenantId);
        keyOf.set(tenantId, k?.key ?? null);
      } catch {
        // The key provider is down: the sealer seals this tenant once it is back.
      }
    }
    return (tenantId) => {
      const key = keyOf.get(tenantId);
      if (key === undefined) return null;
      return (round) => {
        const decision = decide(tenantId, key, round);
        sealed.add(tenantId);
        return decision;
      };
    };
  };

  const reportBreak = (tenantId: string, what: string): void => {
    if (reportedBreaks.has(tenantId)) return;
    reportedBreaks.add(tenantId);
    logger.error({ tenant_id: tenantId, problem: what }, 'audit chain tampering detected: the checkpoint is kept as evidence; run GET /v1/audit-events/verify');
  };

  const sealTenant = async (tenantId: string): Promise<number> => {
    let key: Buffer | null = null;
    if (keys) {
      // Without its key a tenant is not sealed this round (rather than sealed without moving the
      // checkpoint, which would look like tampering later). Reveals do not wait for sealing.
      const k = await keys.keyFor(tenantId);
      if (k) {
        key = k.key;
        if (k.created) adoptable.add(tenantId);
      }
    }
    let sealed = 0;
    for (;;) {
      const n = await store.sealAuditChain(tenantId, SEAL_BATCH, (round) => decide(tenantId, key, round));
      sealed += n;
      if (n > 0) adoptable.delete(tenantId);
      if (n < SEAL_BATCH) break;
      // A backlog seals in several transactions: let requests run between them.
      await yieldToRequests();
    }
    return sealed;
  };

  const sealOnce = async (tenantId?: string): Promise<number> => {
    const tenants = tenantId === undefined ? await store.tenantsWithUnsealedAudit() : [tenantId];
    let sealed = 0;
    let firstError: unknown;
    const moved = new Set<string>();
    for (const t of tenants) {
      try {
        const n = await sealTenant(t);
        sealed += n;
        if (n > 0) moved.add(t);
      } catch (err) {
        // One tenant whose key cannot be opened must not hold up every other tenant's chain.
        firstError ??= err;
      }
    }
    if (sealed > 0) announceSealed(moved);
    if (firstError !== undefined) throw firstError;
    return sealed;
  };

  const service: AuditService = {
    event(ctx, action, target, outcome = 'success', reason = null, detail) {
      const p = ctx.principal;
      const actor: ActorRef = { type: p.type, id: p.id, name: p.name, email: p.email };
      return {
        id: newId('evt'),
        tenantId: p.tenantId,
        at: clock.now().toISOString(),
        actor,
        action,
        targetType: target.type,
        targetId: target.id,
        outcome,
        reason,
        requestId: ctx.requestId,
        ip: ctx.ip,
        userAgent: ctx.userAgent.slice(0, 256),
        seq: null,
        hash: null,
        prevHash: null,
        ...(detail ? { detail } : {}),
      };
    },
    anonymousEvent(meta, action, reason) {
      return {
        id: newId('evt'),
        tenantId: PLATFORM_CHAIN,
        at: clock.now().toISOString(),
        actor: { type: 'anonymous', id: 'anonymous', name: 'anonymous', email: null },
        action,
        targetType: 'api',
        targetId: null,
        outcome: 'failure',
        reason,
        requestId: meta.requestId,
        ip: meta.ip,
        userAgent: meta.userAgent.slice(0, 256),
        seq: null,
        hash: null,
        prevHash: null,
      };
    },
    append(event, touch) {
      return new Promise<void>((resolve, reject) => {
        queue.push({ event, touch: touch ?? null, resolve, reject });
        scheduleFlush();
      });
    },
    appendSoon(event) {
      return new Promise<void>((resolve, reject) => {
        queue.push({ event, touch: null, resolve, reject });
        // A flush that takes the queue before the timer fires writes it; the timer then finds nothing.
        if (deferredTimer === null) {
          deferredTimer = setTimeout(() => {
            deferredTimer = null;
            scheduleFlush();
          }, DEFERRED_MS);
        }
      });
    },
    recordRefused(req) {
      // The route pattern and the method, never the URL: a query string may hold anything.
      const reason = `${req.method} ${req.route ?? '(no route)'} ${req.outcome === 'denied' ? 'refused' : 'not found'}`;
      const action = req.action ?? 'access.denied';
      const event = req.ctx
        ? service.event(req.ctx, action, req.target ?? deniedTarget(req.route, req.params), req.outcome, reason)
        : { ...service.anonymousEvent(req, action, reason), outcome: req.outcome };
      refusals.record(event);
    },
    list(tenantId, query, limit, after) {
      return store.listAudit(tenantId, query, { limit, ...(after ? { after } : {}) });
    },
    async sealPending(tenantId) {
      // One sealer at a time in this process; across processes the store's chain lock orders them.
      while (sealing) await sealing.catch(() => 0);
      sealing = sealOnce(tenantId);
      try {
        return await sealing;
      } finally {
        sealing = null;
      }
    },
    async verify(tenantId) {
      // On a full disk the pending events cannot be sealed now; verification still answers for
      // the sealed chain and counts the rest as unsealed, instead of failing as a whole.
      await service.sealPending(tenantId).catch((err: unknown) => {
        if (!(err instanceof StoreFull)) throw err;
      });
      // A key that cannot be stored now (a full disk) did not exist: there is no checkpoint to check.
      const k = keys
        ? await keys.keyFor(tenantId).catch((err: unknown) => {
            if (err instanceof StoreFull) return null;
            throw err;
          })
        : null;
      return verifyChain(store, tenantId, k?.key ?? null, () => store.countUnsealedAudit(tenantId));
    },
    enableCheckpoints(keyring) {
      keys = createCheckpointKeys({ store, keyring, clock });
    },
    startSealer(intervalMs) {
      sealTimer = setInterval(() => {
        service.sealPending().catch((err: unknown) => logger.warn({ err: { message: (err as Error).message } }, 'audit sealing failed; will retry'));
      }, intervalMs);
      sealTimer.unref();
    },
    onSealed(listener) {
      sealListeners.push(listener);
    },
    startSink(sink, opts = {}) {
      if (pump) throw new Error('an audit sink is running already');
      pump = createSinkPump({ store, sink, clock, logger, ...opts });
      pump.start();
      return pump;
    },
    purgeExpired(days = retentionDays) {
      return purgeExpiredAudit({
        store,
        clock,
        logger,
        retentionDays: days,
        holdBackFor: pump?.sinkId ?? null,
        seal: (tenantId) => service.sealPending(tenantId),
      });
    },
    startRetention(days, intervalMs = RETENTION_INTERVAL_MS) {
      retentionDays = days;
      if (days <= 0) return;
      const run = (): void => {
        if (retentionRun) return;
        retentionRun = service
          .purgeExpired()
          .catch((err: unknown) => logger.warn({ err: { message: (err as Error).message } }, 'audit retention failed; will retry'))
          .finally(() => (retentionRun = null));
      };
      retentionTimer = setTimeout(
        function tick() {
          run();
          retentionTimer = setTimeout(tick, intervalMs);
          retentionTimer.unref();
        },
        Math.min(intervalMs, RETENTION_FIRST_RUN_MS),
      );
      retentionTimer.unref();
    },
    async stop() {
      refusals.closeAll();
      if (deferredTimer) clearTimeout(deferredTimer);
      deferredTimer = null;
      if (sealTimer) clearInterval(sealTimer);
      if (retentionTimer) clearTimeout(retentionTimer);
      await retentionRun;
      await writing;
      await flush();
      await service.sealPending().catch(() => 0);
      if (pump) await pump.stop();
    },
  };
  return service;
}
