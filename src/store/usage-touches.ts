import type { UsageTouch } from '../domain/records.js';

/** The key of a touch's credential in maps of pending touches. */
export function touchKey(tenantId: string, id: string): string {
  return `${tenantId}\u0000${id}`;
}

/** Adds touches to `latest`, keeping per credential only the newest (usage times only move forward). */
export function keepLatestTouches(latest: Map<string, UsageTouch>, touches: Iterable<UsageTouch>): Map<string, UsageTouch> {
  for (const t of touches) {
    const key = touchKey(t.tenantId, t.id);
    const seen = latest.get(key);
    if (seen === undefined || seen.at < t.at) latest.set(key, t);
  }
  return latest;
}
