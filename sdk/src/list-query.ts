import type { QueryValue } from './transport.js';

/** `{ type: 'smtp' }` → `{ 'filter[type]': 'smtp' }`, the API's filter syntax; Dates become RFC 3339. */
export function filterQuery(filter: object | undefined): Record<string, QueryValue> {
  const out: Record<string, QueryValue> = {};
  if (!filter) return out;
  for (const [k, v] of Object.entries(filter) as Array<[string, QueryValue]>) {
    if (v !== undefined && v !== null) out[`filter[${k}]`] = v;
  }
  return out;
}
