import type { Logger } from 'pino';
import type { Store } from '../../store/port.js';
import type { AuditService } from '../audit/audit-service.js';
import { createChainPump, type SinkPump } from '../audit/sinks/sink-pump.js';
import type { CoherentCache } from '../coordination/cache-coherence.js';
import type { DeliveryDeps } from './webhook-delivery.js';
import { createWebhookTarget, webhookLabel, type RetryPolicy } from './webhook-target.js';

type DispatcherStore = Pick<
  Store,
  | 'capabilities'
  | 'listAuditSinkWork'
  | 'readSealedAudit'
  | 'advanceAuditSinkCursor'
  | 'claimAuditSinkLease'
  | 'releaseAuditSinkLease'
  | 'listActiveWebhookRefs'
  | 'getWebhook'
  | 'recordWebhookAttempt'
>;

export interface WebhookDispatcher {
  /** The dispatcher follows the store's invalidation feed (topic `webhook`, keyed by tenant) like a cache. */
  readonly cache: CoherentCache;
  start(): void;
  /** A subscription of this tenant changed here: look again now. */
  changed(tenantId: string): void;
  /** Events were sealed onto these tenants' chains. */
  wake(tenantIds: ReadonlySet<string>): void;
  /** Looks at the active subscriptions once (tests, start). */
  refresh(): Promise<void>;
  stop(): Promise<void>;
}

/** How often every process looks at the subscriptions anyway (the feed is best effort), and more often while it is down. */
const REFRESH_MS = 10_000;
const REFRESH_UNTRUSTED_MS = 2_000;

/**
 * Runs one chain pump per active subscription (services/audit/sinks/sink-pump.ts, scoped to the
 * subscription's tenant): its cursor and its lease in the store make delivery at least once and
 * one process at a time per subscription, however many processes run. Each process runs a pump
 * for every active subscription; the lease decides which one delivers, and a crashed holder's
 * lease lapses after `leaseMs`. Subscriptions created, changed or deleted elsewhere are seen
 * through the invalidation feed, and by a periodic look in case a message was lost.
 */
export function createWebhookDispatcher(deps: {
  store: DispatcherStore;
  audit: Pick<AuditService, 'event'>;
  delivery: DeliveryDeps;
  policy: RetryPolicy;
  logger: Logger;
  pollMs?: number;
  leaseMs?: number;
}): WebhookDispatcher {
  const { store, logger } = deps;
  const pumps = new Map<string, { tenantId: string; pump: SinkPump }>();
  let started = false;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let refreshMs = REFRESH_MS;
  let running: Promise<void> | null = null;
  let again = false;

  const pass = async (): Promise<void> => {
    const refs = await store.listActiveWebhookRefs();
    if (stopped) return;
    const active = new Set(refs.map((r) => r.id));
    for (const [id, p] of pumps) {
      if (active.has(id)) continue;
      pumps.delete(id);
      await p.pump.stop().catch(() => undefined);
    }
    for (const ref of refs) {
      if (pumps.has(ref.id)) continue;
      const sub = await store.getWebhook(ref.tenantId, ref.id);
      if (sub === null || !sub.active || stopped) continue;
      const label = webhookLabel(sub.id, sub.url);
      const target = createWebhookTarget({
        store,
        audit: deps.audit,
        delivery: deps.delivery,
        policy: deps.policy,
        tenantId: sub.tenantId,
        webhookId: sub.id,
        label,
        onDisabled: (tenantId) => {
          logger.warn({ webhook_id: sub.id, tenant_id: tenantId }, 'webhook subscription disabled after a failure streak');
          dispatcher.changed(tenantId);
        },
      });
      // Lease longer than an attempt's deadline (the egress guard's), renewed before each attempt.
      const pump = createChainPump({
        store,
        target,
        tenantId: sub.tenantId,
        clock: deps.delivery.clock,
        logger,
        pollMs: deps.pollMs ?? 1000,
        batch: 50,
        leaseMs: deps.leaseMs ?? 30_000,
      });
      pumps.set(sub.id, { tenantId: sub.tenantId, pump });
      pump.start();
    }
  };

  /** One pass at a time; a request meanwhile makes one more pass after it. */
  const refresh = (): Promise<void> => {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      do {
        again = false;
        try {
          await pass();
        } catch (err) {
          logger.warn({ err: { message: (err as Error).message } }, 'webhook subscriptions could not be read; will retry');
        }
      } while (again && !stopped);
    })().finally(() => {
      running = null;
    });
    return running;
  };

  const schedule = (): void => {
    if (stopped) return;
    timer = setTimeout(() => {
      void refresh().finally(schedule);
    }, refreshMs);
    timer.unref();
  };

  const dispatcher: WebhookDispatcher = {
    cache: {
      drop: () => {
        if (started) void refresh();
      },
      dropAll: () => {
        if (started) void refresh();
      },
      setTrusted: (trusted) => {
        refreshMs = trusted ? REFRESH_MS : REFRESH_UNTRUSTED_MS;
      },
    },
    start() {
      if (started) return;
      started = true;
      void refresh();
      schedule();
    },
    changed() {
      if (started) void refresh();
    },
    wake(tenantIds) {
      for (const p of pumps.values()) if (tenantIds.has(p.tenantId)) p.pump.wake();
    },
    refresh,
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
      await Promise.all([...pumps.values()].map((p) => p.pump.stop().catch(() => undefined)));
      pumps.clear();
    },
  };
  return dispatcher;
}
