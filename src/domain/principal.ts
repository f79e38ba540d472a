import { LatchkeyError } from './errors.js';
import { newId } from './ids.js';
import { can, type Permission, type Role } from './roles.js';

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

/** Who did it, as rows and audit events record it (`ActorRef`). */
export function actorRef(ctx: RequestContext): Pick<Principal, 'type' | 'id' | 'name' | 'email'> {
  const p = ctx.principal;
  return { type: p.type, id: p.id, name: p.name, email: p.email };
}

/** Deny by default: the one check of the role table (roles.ts) that every service runs first. */
export function requirePermission(ctx: RequestContext, permission: Permission): void {
  if (!can(ctx.principal.role, permission)) throw new LatchkeyError('FORBIDDEN', `Role ${ctx.principal.role} lacks ${permission}`);
}

/**
 * A background job (scheduler, token refresher) acts as this owner-role principal in the tenant it
 * works on, so its writes pass the same checks and its audit events name it.
 */
export function systemContext(tenantId: string, job: { id: string; name: string }): RequestContext {
  return {
    principal: { type: 'system', id: job.id, name: job.name, email: null, tenantId, tenantIds: [tenantId], role: 'owner', teamIds: [], platformAdmin: false },
    requestId: newId('req'),
    ip: '',
    userAgent: 'latchkey-scheduler',
  };
}
