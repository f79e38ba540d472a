import type { RequestContext } from '../../domain/principal.js';
import type { AuditTarget } from './audit-service.js';

/** A request the HTTP layer answered 403, or 404 on a route that hands out secrets (a probe). */
export interface RefusedRequest {
  /** Null when the refusal came before a principal was settled (e.g. `x-tenant-id` of a foreign tenant). */
  ctx: RequestContext | null;
  outcome: 'denied' | 'not_found';
  /** What the route does, when it says (`credential.reveal`); else `access.denied`. */
  action: string | null;
  /** The path parameter naming what was asked for, when the route says which one it is. */
  target: AuditTarget | null;
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
