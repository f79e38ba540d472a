import { setImmediate as yieldToRequests } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { Clock } from '../../domain/clock.js';
import type { WebhookStore } from '../../store/port.js';

/** Rows deleted per statement: short transactions, requests served in between. */
const PRUNE_BATCH = 5_000;
const PRUNE_INTERVAL_MS = 3_600_000;
const PRUNE_FIRST_RUN_MS = 60_000;

export interface DeliveryLogRetention {
  /** Deletes the delivery log rows older than the retention period; returns how many. */
  pruneOnce(): Promise<number>;
  start(intervalMs?: number): void;
  stop(): Promise<void>;
}

/**
 * Keeps the webhook delivery log (one row per attempt) from growing without bound: rows older
 * than `days` are deleted, across tenants, in batches (index webhook_deliveries_at). The log is
 * for diagnosing a receiver, not evidence: the audit chain keeps what happened. Every process
 * may run it; deleting what another one deleted first deletes nothing.
 */
export function createDeliveryLogRetention(deps: {
  store: Pick<WebhookStore, 'pruneWebhookAttempts'>;
  clock: Clock;
  logger: Logger;
  /** 0 keeps the log forever. */
  days: number;
}): DeliveryLogRetention {
  const { store, clock, logger, days } = deps;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> | null = null;

  const pruneOnce = async (): Promise<number> => {
    if (days <= 0) return 0;
    const before = new Date(clock.now().getTime() - days * 86_400_000).toISOString();
    let pruned = 0;
    for (;;) {
      const n = await store.pruneWebhookAttempts(before, PRUNE_BATCH);
      pruned += n;
      if (n < PRUNE_BATCH) break;
      await yieldToRequests();
    }
    if (pruned > 0) logger.info({ pruned, older_than: before }, 'webhook delivery log pruned');
    return pruned;
  };

  return {
    pruneOnce,
    start(intervalMs = PRUNE_INTERVAL_MS) {
      if (days <= 0 || timer) return;
      const tick = (): void => {
        if (!running)
          running = pruneOnce()
            .catch((err: unknown) => logger.warn({ err: { message: (err as Error).message } }, 'webhook delivery log pruning failed; will retry'))
            .finally(() => (running = null));
        timer = setTimeout(tick, intervalMs);
        timer.unref();
      };
      timer = setTimeout(tick, Math.min(intervalMs, PRUNE_FIRST_RUN_MS));
      timer.unref();
    },
    async stop() {
      if (timer) clearTimeout(timer);
      timer = undefined;
      await running;
    },
  };
}
