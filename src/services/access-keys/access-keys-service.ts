import { toUtc, type Clock } from '../../domain/clock.js';
import { LatchkeyError } from '../../domain/errors.js';
import { newId } from '../../domain/ids.js';
import { actorRef, requirePermission, type RequestContext } from '../../domain/principal.js';
import { canGrant, type Role } from '../../domain/roles.js';
import type { AccessKeyFilter, AccessKeyRow, Keyset } from '../../store/port.js';
import type { AccessKeyStore, CoordinationStore } from '../../store/port.js';
import type { AuditService } from '../audit/audit-service.js';
import { newAccessKeyMaterial } from './key-material.js';

export interface AccessKeyInput {
  name: string;
  type?: 'api';
  role: Role;
  team_ids?: string[];
  expires_at?: string | null;
}

export interface AccessKeysService {
  create(ctx: RequestContext, input: AccessKeyInput): Promise<{ row: AccessKeyRow; key: string }>;
  list(
    ctx: RequestContext,
    filter: AccessKeyFilter,
    page: { limit: number; offset?: number; after?: Keyset },
  ): Promise<{ rows: AccessKeyRow[]; total: number }>;
  get(ctx: RequestContext, id: string): Promise<AccessKeyRow>;
  rename(ctx: RequestContext, id: string, name: string, expectedRevision?: number): Promise<AccessKeyRow>;
  revoke(ctx: RequestContext, id: string, expectedRevision?: number): Promise<void>;
}

/**
 * The role a tenant must always keep an active key of. Only an owner can issue owner, service and
 * integration_admin keys (`canGrant`), so a tenant without one could never get them back; and as
 * owners hold `access_keys:manage`, the tenant also keeps a key that can manage keys.
 */
export const GUARDED_ROLES: readonly Role[] = ['owner'];

export function createAccessKeysService(deps: {
  store: Omit<AccessKeyStore, 'findAccessKeyByHash' | 'touchAccessKeys'> & Pick<CoordinationStore, 'publishInvalidation'>;
  audit: AuditService;
  clock: Clock;
  env: string;
  /**
   * The key was revoked or changed (renamed): every cache holding it, in this process and the
   * others sharing the store, must drop it. Awaited, so the answer leaves after the news did.
   */
  onRevoke: (keyHash: Buffer) => void | Promise<void>;
}): AccessKeysService {
  const { store, audit, clock } = deps;

  const notFound = (id: string): LatchkeyError => new LatchkeyError('ACCESS_KEY_NOT_FOUND', `No access key ${id} in this tenant`);
  /**
   * Keys are managed downwards only: a key renames or revokes only keys of a role it could issue
   * itself, so an admin cannot take the tenant's owner key away (or rename it to confuse whoever
   * reads the list). The key is visible to the caller (it can list it), so this is a 403, not a 404.
   */
  const loadManageable = async (ctx: RequestContext, id: string): Promise<AccessKeyRow> => {
    const row = await store.getAccessKey(ctx.principal.tenantId, id);
    if (!row) throw notFound(id);
    if (!canGrant(ctx.principal.role, row.role as Role)) throw new LatchkeyError('FORBIDDEN', `Role ${ctx.principal.role} cannot manage a ${row.role} key`);
    return row;
  };

  return {
    async create(ctx, input) {
      requirePermission(ctx, 'access_keys:manage');
      if (!canGrant(ctx.principal.role, input.role)) throw new LatchkeyError('FORBIDDEN', `Role ${ctx.principal.role} cannot issue a ${input.role} key`);
      const now = clock.now().toISOString();
      const expiresAt = toUtc(input.expires_at);
      if (expiresAt && expiresAt <= now) throw new LatchkeyError('VALIDATION_FAILED', [{ path: 'expires_at', message: 'must be in the future' }]);
      const material = newAccessKeyMaterial(deps.env);
      const id = newId('key');
      const row: AccessKeyRow = {
        id,
        tenantId: ctx.principal.tenantId,
        name: input.name,
        type: input.type ?? 'api',
        role: input.role,
        teamIds: input.team_ids ?? [],
        prefix: material.prefix,
        keyHash: material.hash,
        platformAdmin: false,
        expiresAt,
        lastUsedAt: null,
        createdAt: now,
        updatedAt: now,
        revision: 1,
        createdBy: actorRef(ctx),
      };
      await store.insertAccessKey(row.tenantId, row, [audit.event(ctx, 'access_key.issue', { type: 'access_key', id })]);
      return { row, key: material.key };
    },
    async list(ctx, filter, page) {
      requirePermission(ctx, 'access_keys:manage');
      return store.listAccessKeys(ctx.principal.tenantId, filter, page);
    },
    async get(ctx, id) {
      requirePermission(ctx, 'access_keys:manage');
      const row = await store.getAccessKey(ctx.principal.tenantId, id);
      if (!row) throw notFound(id);
      return row;
    },
    async rename(ctx, id, name, expectedRevision) {
      requirePermission(ctx, 'access_keys:manage');
      const row = await loadManageable(ctx, id);
      if (expectedRevision !== undefined && expectedRevision !== row.revision)
        throw new LatchkeyError('PRECONDITION_FAILED', 'The access key changed since that ETag');
      const next: AccessKeyRow = { ...row, name, updatedAt: clock.now().toISOString(), revision: row.revision + 1 };
      const ok = await store.updateAccessKey(row.tenantId, next, row.revision, [audit.event(ctx, 'access_key.update', { type: 'access_key', id })]);
      if (!ok) throw new LatchkeyError('PRECONDITION_FAILED', 'The access key changed while this request ran');
      // Cached copies elsewhere still carry the old name, which lands in audit records.
      await deps.onRevoke(row.keyHash);
      return next;
    },
    async revoke(ctx, id, expectedRevision) {
      requirePermission(ctx, 'access_keys:manage');
      const row = await loadManageable(ctx, id);
      if (expectedRevision !== undefined && expectedRevision !== row.revision)
        throw new LatchkeyError('PRECONDITION_FAILED', 'The access key changed since that ETag');
      const r = await store.deleteAccessKey(row.tenantId, id, expectedRevision ?? null, GUARDED_ROLES, clock.now().toISOString(), [
        audit.event(ctx, 'access_key.revoke', { type: 'access_key', id }),
      ]);
      // Checked in the store's transaction with the other owner keys locked: of two concurrent
      // revocations of the last two owner keys, one is refused.
      if (r === 'last_manager') throw new LatchkeyError('CONFLICT', "This is the tenant's last active owner key; issue another owner key first");
      if (r === 'stale') throw notFound(id);
      await deps.onRevoke(row.keyHash);
    },
  };
}
