import type { RequestContext } from '../../domain/principal.js';
import type { AuditTarget } from './audit-service.js';

/** A request that was answered 403, as the HTTP layer saw it. */
export interface DeniedRequest {
  /** Null when the refusal came before a principal was settled (e.g. `x-tenant-id` of a foreign tenant). */
  ctx: RequestContext | null;
  requestId: string;
  ip: string;
  userAgent: string;
  method: string;
  /** The route pattern (`/v1/credentials/:id`), not the URL: no query string reaches the event. */
  route: string | null;
  params: unknown;
}

/** Route prefix → target type, for denials whose route names one resource by `:id`. */
const TARGET_TYPES: ReadonlyArray<[string, string]> = [
  ['/v1/credentials/', 'credential'],
  ['/v1/access-keys/', 'access_key'],
  ['/v1/teams/', 'team'],
  ['/v1/folders/', 'folder'],
  ['/v1/tenants/', 'tenant'],
];

export function deniedTarget(route: string | null, params: unknown): AuditTarget {
  const id = typeof params === 'object' && params !== null ? (params as Record<string, unknown>).id : undefined;
  if (route !== null && typeof id === 'string') {
    for (const [prefix, type] of TARGET_TYPES) if (route.startsWith(prefix)) return { type, id };
  }
  return { type: 'api', id: null };
}

/**
 * Denials are recorded like failed authentications: at most one event per source per second,
 * so a client hammering a forbidden route cannot flood the log (or the chain). What is held back
 * is counted and said in the next event that gets through, so the record still shows the volume.
 */
export class DenialLimiter {
  private readonly last = new Map<string, { at: number; suppressed: number }>();

  constructor(private readonly intervalMs = 1000) {}

  /** null: hold this one back; otherwise how many were held back since the last one recorded. */
  admit(key: string, nowMs: number): number | null {
    const entry = this.last.get(key);
    if (entry && nowMs - entry.at < this.intervalMs) {
      entry.suppressed += 1;
      return null;
    }
    if (this.last.size > 10_000) this.last.clear();
    this.last.set(key, { at: nowMs, suppressed: 0 });
    return entry?.suppressed ?? 0;
  }
}

/** Request ids that already have a denial event (a service recorded its own), for a short while. */
export class RecentRequests {
  private readonly seen = new Map<string, number>();

  constructor(private readonly ttlMs = 60_000) {}

  add(requestId: string, nowMs: number): void {
    if (this.seen.size > 10_000) {
      for (const [k, at] of this.seen) if (nowMs - at > this.ttlMs) this.seen.delete(k);
      if (this.seen.size > 10_000) this.seen.clear();
    }
    this.seen.set(requestId, nowMs);
  }

  has(requestId: string): boolean {
    return this.seen.has(requestId);
  }
}
