import type { UsageTouch } from '../../domain/records.js';
import { touchKey } from '../usage-touches.js';

/**
 * Usage touches of one row collapse to one: a single UPDATE … FROM with two source rows for the
 * same target applies an arbitrary one. Sorted by key so concurrent batches lock rows in the
 * same order. `keep` picks the survivor (latest timestamp, or last in call order).
 */
export function collapseTouches(touches: readonly UsageTouch[], keep: (prev: UsageTouch, next: UsageTouch) => UsageTouch): UsageTouch[] {
  const byKey = new Map<string, UsageTouch>();
  for (const t of touches) {
    const k = touchKey(t.tenantId, t.id);
    const prev = byKey.get(k);
    byKey.set(k, prev ? keep(prev, t) : t);
  }
  return [...byKey.values()].sort((a, b) => (a.tenantId === b.tenantId ? cmp(a.id, b.id) : cmp(a.tenantId, b.tenantId)));
}

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** The latest touch of each row, for `last_used_at` (which only moves forward). */
export function latestTouches(touches: readonly UsageTouch[]): UsageTouch[] {
  return collapseTouches(touches, (a, b) => (b.at > a.at ? b : a));
}

/** `last_used_at` only moves forward; `$n` is the first of its three array parameters (`touchParams`). */
export function touchSql(n: number): string {
  return `UPDATE credentials AS c SET last_used_at = t.at
       FROM unnest($${n}::text[], $${n + 1}::text[], $${n + 2}::text[]) AS t(tenant_id, id, at)
      WHERE c.tenant_id = t.tenant_id AND c.id = t.id AND (c.last_used_at IS NULL OR c.last_used_at < t.at)`;
}

export function touchParams(rows: readonly UsageTouch[]): unknown[] {
  return [rows.map((t) => t.tenantId), rows.map((t) => t.id), rows.map((t) => t.at)];
}
