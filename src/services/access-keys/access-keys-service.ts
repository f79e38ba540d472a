import { toUtc, type Clock } from '../../domain/clock.js';
import { LatchkeyError } from '../../domain/errors.js';
import { newId } from '../../domain/ids.js';
import { actorOf, type RequestContext } from '../../domain/principal.js';
import { can, canGrant, ROLES, type Role } from '../../domain/roles.js';
import type { AccessKeyFilter, AccessKeyRow, Keyset, Store } from '../../store/port.js';
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
  list(ctx: RequestContext, filter: AccessKeyFilter, page: { limit: number; offset?: number; after?: Keyset }): Promise<{ rows: AccessKeyRow[]; total: number }>;
  get(ctx: RequestContext, id: string): Promise<AccessKeyRow>;
  rename(ctx: RequestContext, id: string, name: string, expectedRevision?: number): Promise<AccessKeyRow>;
  revoke(ctx: RequestContext, id: string, expectedRevision?: number): Promise<void>;
}

/** Roles whose keys can manage keys: the tenant must always keep one (or it locks itself out). */
export const MANAGER_ROLES: readonly Role[] = ROLES.filter((r) => can(r, 'access_keys:manage'));

export function createAccessKeysService(deps: {
  store: Store;
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

  const requireManage = (ctx: RequestContext): void => {
    if (!can(ctx.principal.role, 'access_keys:manage')) throw new LatchkeyError('FORBIDDEN', `Role ${ctx.principal.role} lacks access_keys:manage`);
  };
  const notFound = (id: string): LatchkeyError => new LatchkeyError('ACCESS_KEY_NOT_FOUND', `No access key ${id} in this tenant`);

  return {
    async create(ctx, input) {
      requireManage(ctx);
      if (!canGrant(ctx.principal.role, input.role)) throw new LatchkeyError('FORBIDDEN', `Role ${ctx.principal.role} cannot issue a ${input.role} key`);
      const now = clock.now().toISOString();
      const expiresAt = toUtc(input.expires_at);
      if (expiresAt && expiresAt <= now) throw new LatchkeyError('VALIDATION_FAILED', [{ path: 'expires_at', message: 'must be in the future' }]);
      const material = newAccessKeyMaterial(deps.env);
      const id = newId('key');
      const row: AccessKeyRow = {
        id, tenantId: ctx.principal.tenantId, name: input.name, type: input.type ?? 'api', role: input.role,
        teamIds: input.team_ids ?? [], prefix: material.prefix, keyHash: material.hash, platformAdmin: false,
        expiresAt, lastUsedAt: null, createdAt: now, updatedAt: now, revision: 1,
        createdBy: { type: ctx.principal.type, ...actorOf(ctx.principal) },
      };
      await store.insertAccessKey(row.tenantId, row, [audit.event(ctx, 'access_key.issue', { type: 'access_key', id })]);
      return { row, key: material.key };
    },
    async list(ctx, filter, page) {
      requireManage(ctx);
      return store.listAccessKeys(ctx.principal.tenantId, filter, page);
    },
    async get(ctx, id) {
      requireManage(ctx);
      const row = await store.getAccessKey(ctx.principal.tenantId, id);
      if (!row) throw notFound(id);
      return row;
    },
    async rename(ctx, id, name, expectedRevision) {
      requireManage(ctx);
      const row = await store.getAccessKey(ctx.principal.tenantId, id);
      if (!row) throw notFound(id);
      if (expectedRevision !== undefined && expectedRevision !== row.revision) throw new LatchkeyError('PRECONDITION_FAILED', 'The access key changed since that ETag');
      const next: AccessKeyRow = { ...row, name, updatedAt: clock.now().toISOString(), revision: row.revision + 1 };
      const ok = await store.updateAccessKey(row.tenantId, next, row.revision, [audit.event(ctx, 'access_key.update', { type: 'access_key', id })]);
      if (!ok) throw new LatchkeyError('PRECONDITION_FAILED', 'The access key changed while this request ran');
      // Cached copies elsewhere still carry the old name, which lands in audit records.
      await deps.onRevoke(row.keyHash);
      return next;
    },
    async revoke(ctx, id, expectedRevision) {
      requireManage(ctx);
      const row = await store.getAccessKey(ctx.principal.tenantId, id);
      if (!row) throw notFound(id);
      if (expectedRevision !== undefined && expectedRevision !== row.revision) throw new LatchkeyError('PRECONDITION_FAILED', 'The access key changed since that ETag');
      const r = await store.deleteAccessKey(row.tenantId, id, expectedRevision ?? null, MANAGER_ROLES, clock.now().toISOString(), [audit.event(ctx, 'access_key.revoke', { type: 'access_key', id })]);
      if (r === 'last_manager') throw new LatchkeyError('CONFLICT', 'This is the last key that can manage access keys; issue another first');
      if (r === 'stale') throw notFound(id);
      await deps.onRevoke(row.keyHash);
    },
  };
}
