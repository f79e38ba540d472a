import type { Role } from './roles.js';

/** Who is calling, resolved once per request by authentication. */
export interface Principal {
  type: 'access_key' | 'user' | 'workload' | 'system';
  id: string;
  name: string;
  email: string | null;
  /** The tenant this request acts in (chosen with x-tenant-id among `tenantIds`). */
  tenantId: string;
  /** Every tenant the principal belongs to. */
  tenantIds: readonly string[];
  role: Role;
  teamIds: readonly string[];
  /** May create tenants (the owner key made at first start). */
  platformAdmin: boolean;
}

export interface RequestContext {
  principal: Principal;
  requestId: string;
  ip: string;
  userAgent: string;
}

export function actorOf(p: Principal): { id: string; name: string; email: string | null } {
  return { id: p.id, name: p.name, email: p.email };
}
