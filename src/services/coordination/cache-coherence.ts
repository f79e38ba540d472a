import type { Store } from '../../store/port.js';

/**
 * Keeping per-process caches honest when several processes share one database. The database is
 * the only coordinator: a process that changes something cached elsewhere publishes an
 * invalidation through the store (PostgreSQL: NOTIFY), and every process applies what it
 * receives (LISTEN). Two rules make that safe when messages can be lost:
 *  - while the feed is down, caches are not trusted (bypassed, or kept very short);
 *  - when it comes back, everything cached before is dropped, since anything may have changed.
 */

export type InvalidationTopic = Parameters<Store['publishInvalidation']>[0];

/** A cache that follows the invalidation feed. */
export interface CoherentCache {
  /** Something cached under `key` changed (in this process or another). */
  drop(key: string): void;
  dropAll(): void;
  /** False while the feed is down: invalidations may be missed, so entries must not be relied on. */
  setTrusted(trusted: boolean): void;
}

/** Several caches kept under one topic (the access key's: the authenticator's keys and the AWS pairs acting for them). */
export function cachesTogether(...caches: readonly CoherentCache[]): CoherentCache {
  return {
    drop: (key) => {
      for (const c of caches) c.drop(key);
    },
    dropAll: () => {
      for (const c of caches) c.dropAll();
    },
    setTrusted: (trusted) => {
      for (const c of caches) c.setTrusted(trusted);
    },
  };
}

export interface CacheCoherence {
  isLive(): boolean;
  stop(): Promise<void>;
}

/** Subscribes the caches to the store's invalidation feed; resolves once the first attempt to go live ended. */
export async function startCacheCoherence(deps: {
  store: Pick<Store, 'subscribeInvalidations'>;
  caches: Record<InvalidationTopic, CoherentCache>;
  onFeedState?: (live: boolean) => void;
}): Promise<CacheCoherence> {
  const caches: Partial<Record<string, CoherentCache>> = deps.caches;
  // null until the first report, which is always applied (caches may start out trusting).
  let live: boolean | null = null;
  const subscription = await deps.store.subscribeInvalidations({
    // A topic this version does not know (a newer process in a rolling upgrade) is ignored.
    invalidate: (topic, key) => caches[topic]?.drop(key),
    feedState: (next) => {
      if (next === live) return;
      live = next;
      for (const cache of Object.values(deps.caches)) {
        // Drop before trusting again: whatever was published while the feed was down is lost.
        if (next) cache.dropAll();
        cache.setTrusted(next);
      }
      deps.onFeedState?.(next);
    },
  });
  return {
    isLive: () => live === true,
    stop: () => subscription.close(),
  };
}

/**
 * Publishes an invalidation for a change that has already committed. Never throws: failing the
 * request now would make its caller retry a change that already happened. When the database
 * does not take the message, it is retried in the background for `retryForMs`, the longest any
 * process may keep the entry without hearing of it (the cache's TTL); after that nothing stale
 * can be left anywhere and retrying is pointless.
 */
export async function announceInvalidation(
  store: Pick<Store, 'publishInvalidation'>,
  topic: InvalidationTopic,
  key: string,
  retryForMs: number,
): Promise<void> {
  try {
    await store.publishInvalidation(topic, key);
    return;
  } catch {
    // Fall through to the background retries.
  }
  const deadline = Date.now() + retryForMs;
  let delayMs = 200;
  const retry = (): void => {
    if (Date.now() + delayMs > deadline) return;
    const timer = setTimeout(() => {
      store.publishInvalidation(topic, key).catch(() => {
        delayMs = Math.min(delayMs * 2, 5000);
        retry();
      });
    }, delayMs);
    timer.unref();
  };
  retry();
}
