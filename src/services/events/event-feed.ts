import type { Logger } from 'pino';
import { requirePermission, type RequestContext } from '../../domain/principal.js';
import type { EventFeedStore } from '../../store/port.js';
import type { AuditService } from '../audit/audit-service.js';
import { eventOf, sourcesOf, type EventType, type LatchkeyEvent } from './event-types.js';

export interface FeedQuery {
  /** Chain position to read after (an event's `data.seq`, a page's `next_cursor`, an SSE id). */
  after?: number;
  types?: readonly EventType[];
  objectType?: 'credential' | 'access_key';
  objectId?: string;
  /** Events stamped at or after this time (RFC 3339); without `after`, the scan starts just before it. */
  since?: string;
  limit: number;
}

export interface FeedPage {
  events: LatchkeyEvent[];
  /** Where the next page starts: the last event's position, or as far as this page looked. */
  position: number;
  /** More sealed events lie past `position` now; false = caught up with the chain's head. */
  hasMore: boolean;
}

export interface EventFeed {
  page(ctx: RequestContext, q: FeedQuery): Promise<FeedPage>;
  /** The tenant's head position, for a stream that starts "from now". */
  head(ctx: RequestContext): Promise<number>;
  /**
   * Calls `wake` whenever events may have been sealed onto the tenant's chain: at once when this
   * process sealed them, within `pollMs` when another process did (multi-process stores).
   */
  subscribe(tenantId: string, wake: () => void): () => void;
  stop(): void;
}

/** Positions one page looks at, at most: a page costs this many index entries however few are events. */
export const FEED_SCAN = 10_000;
/**
 * How far before `since` a scan starts. Chain positions follow `at` except for an event whose
 * transaction committed after later-stamped events were sealed: a minute covers that.
 */
const SINCE_SLACK_MS = 60_000;

/**
 * The event feed: the audit events that are events (event-types.ts), sealed, in chain order, from
 * a position. A position is only handed out once every event up to it is committed (it is never
 * past the head read before the page), so a consumer resuming from it misses nothing sealed later.
 * Reading needs `audit:read`, as the audit log does: the roles that have it see the whole tenant.
 */
export function createEventFeed(deps: {
  store: EventFeedStore;
  audit: Pick<AuditService, 'onSealed'>;
  logger: Logger;
  /** Another process may seal (PostgreSQL): heads of watched tenants are read this often. 0 = never. */
  pollMs: number;
}): EventFeed {
  const { store } = deps;
  const watchers = new Map<string, Set<() => void>>();
  const heads = new Map<string, number>();
  let timer: NodeJS.Timeout | undefined;
  let polling = false;

  const wakeAll = (tenantId: string): void => {
    for (const w of watchers.get(tenantId) ?? []) w();
  };
  let stopped = false;
  deps.audit.onSealed((tenantIds) => {
    if (stopped) return;
    for (const t of tenantIds) wakeAll(t);
  });

  // One read per watched tenant per interval for the whole process, however many streams watch it.
  const poll = async (): Promise<void> => {
    if (polling) return;
    polling = true;
    try {
      for (const tenantId of watchers.keys()) {
        const head = await store.auditHead(tenantId);
        const seen = heads.get(tenantId);
        heads.set(tenantId, head);
        if (seen !== undefined && head > seen) wakeAll(tenantId);
      }
    } catch (err) {
      deps.logger.warn({ code: (err as { code?: string }).code }, 'event feed: reading chain heads failed; will retry');
    } finally {
      polling = false;
    }
  };
  const ensureTimer = (): void => {
    if (timer || deps.pollMs <= 0) return;
    timer = setInterval(() => void poll(), deps.pollMs);
    timer.unref();
  };

  return {
    async page(ctx, q) {
      requirePermission(ctx, 'audit:read');
      const tenantId = ctx.principal.tenantId;
      // The head first: every position up to it is committed, so nothing below it can appear later.
      const head = await store.auditHead(tenantId);
      const since = q.since === undefined ? undefined : new Date(q.since).toISOString();
      const start =
        q.after ?? (since === undefined ? 0 : await store.auditPositionBefore(tenantId, new Date(Date.parse(since) - SINCE_SLACK_MS).toISOString()));
      const through = Math.min(head, start + FEED_SCAN);
      if (through <= start) return { events: [], position: start, hasMore: false };
      const rows = await store.listEventRows(
        tenantId,
        {
          after: start,
          through,
          sources: sourcesOf(q.types),
          ...(q.objectType !== undefined ? { objectType: q.objectType } : {}),
          ...(q.objectId !== undefined ? { objectId: q.objectId } : {}),
          ...(since !== undefined ? { since } : {}),
        },
        q.limit,
      );
      const last = rows[rows.length - 1];
      const position = rows.length === q.limit && last?.seq != null ? last.seq : through;
      const events = rows.flatMap((r) => eventOf(r) ?? []);
      return { events, position, hasMore: position < head };
    },
    async head(ctx) {
      requirePermission(ctx, 'audit:read');
      return store.auditHead(ctx.principal.tenantId);
    },
    subscribe(tenantId, wake) {
      let set = watchers.get(tenantId);
      if (!set) watchers.set(tenantId, (set = new Set()));
      set.add(wake);
      ensureTimer();
      return () => {
        set.delete(wake);
        if (set.size === 0) {
          watchers.delete(tenantId);
          heads.delete(tenantId);
        }
      };
    },
    stop() {
      stopped = true;
      if (timer) clearInterval(timer);
      timer = undefined;
      for (const set of watchers.values()) for (const w of set) w();
      watchers.clear();
    },
  };
}
