import type { Keyring } from '../../crypto/keyring.js';
import type { Clock } from '../../domain/clock.js';
import { LatchkeyError } from '../../domain/errors.js';
import { newId } from '../../domain/ids.js';
import { actorRef, type RequestContext } from '../../domain/principal.js';
import type { AccessKeyRow, ActorRef, TenantRow } from '../../store/port.js';
import type { AccessKeyStore, KeyManagementStore, TenancyStore } from '../../store/port.js';
import { newAccessKeyMaterial } from '../access-keys/key-material.js';
import type { AuditService } from '../audit/audit-service.js';

export interface TenantsService {
  /** First start: a tenant and a platform-admin owner key, only when the store has no tenant. */
  bootstrap(): Promise<{ tenant: TenantRow; key: string } | null>;
  create(ctx: RequestContext, name: string): Promise<{ tenant: TenantRow; key: string; keyRow: AccessKeyRow }>;
  list(ctx: RequestContext): Promise<TenantRow[]>;
  /**
   * A new owner key for a tenant, issued on the server host (`latchkey keys issue-owner`), not
   * through the API: the way back for a tenant whose every managing key is lost. Audited in the
   * tenant's chain as issued by the system on the host.
   */
  issueOwnerKey(tenantId: string, opts: { platformAdmin: boolean }): Promise<{ keyRow: AccessKeyRow; key: string }>;
  /**
   * Deletes a tenant for good (platform admins; never the caller's own tenant). Crypto-shredding:
   * its data keys go first, in their own transaction, so even if deleting the rows fails midway
   * (or a copy of them survives in a backup) nothing it sealed can be opened again.
   */
  purge(ctx: RequestContext, tenantId: string): Promise<void>;
}

const SYSTEM: ActorRef = { type: 'system', id: 'system', name: 'latchkey', email: null };
/** Whoever ran a command on the server host: the store and root key were in their hands. */
const HOST_OPERATOR: ActorRef = { type: 'system', id: 'host', name: 'operator on the server host', email: null };

export function createTenantsService(deps: {
  store: TenancyStore & Pick<KeyManagementStore, 'destroyTenantKeys' | 'purgeTenantRows'> & Pick<AccessKeyStore, 'insertAccessKey'>;
  keyring: Keyring;
  audit: AuditService;
  clock: Clock;
  env: string;
  onAccessKeyGone?: (keyHash: Buffer) => Promise<void>;
}): TenantsService {
  const { store, keyring, audit, clock } = deps;

  async function make(
    name: string,
    platformAdmin: boolean,
    createdBy: ActorRef,
    auditOf: (tenant: TenantRow, keyId: string) => ReturnType<AuditService['event']>[],
  ) {
    const now = clock.now().toISOString();
    const tenant: TenantRow = { id: newId('ten'), name, createdAt: now };
    const material = newAccessKeyMaterial(deps.env);
    const keyRow: AccessKeyRow = {
      id: newId('key'),
      tenantId: tenant.id,
      name: 'owner',
      type: 'api',
      role: 'owner',
      teamIds: [],
      prefix: material.prefix,
      keyHash: material.hash,
      platformAdmin,
      expiresAt: null,
      lastUsedAt: null,
      createdAt: now,
      updatedAt: now,
      revision: 1,
      createdBy,
    };
    try {
      // Wrapped again if a root-key rotation moves the store to a new key meanwhile (RootKeyMoved).
      await keyring.writeNewTenantKey(tenant.id, 1, (dataKey) => store.createTenant(tenant, dataKey, keyRow, auditOf(tenant, keyRow.id)));
    } catch (err) {
      if ((err as { code?: string }).code?.includes('CONSTRAINT') || (err as { code?: string }).code === '23505') {
        throw new LatchkeyError('CONFLICT', 'A tenant with that name exists');
      }
      throw err;
    }
    return { tenant, key: material.key, keyRow };
  }

  return {
    async bootstrap() {
      if ((await store.countTenants()) > 0) return null;
      const made = await make('default', true, SYSTEM, (tenant, keyId) => [
        {
          ...audit.anonymousEvent({ requestId: 'bootstrap', ip: '', userAgent: 'latchkey' }, 'tenant.create', 'first start'),
          tenantId: tenant.id,
          actor: SYSTEM,
          outcome: 'success',
          reason: null,
          targetType: 'tenant',
          targetId: tenant.id,
        },
        {
          ...audit.anonymousEvent({ requestId: 'bootstrap', ip: '', userAgent: 'latchkey' }, 'access_key.issue', 'first start'),
          tenantId: tenant.id,
          actor: SYSTEM,
          outcome: 'success',
          reason: null,
          targetType: 'access_key',
          targetId: keyId,
        },
      ]);
      return { tenant: made.tenant, key: made.key };
    },
    async create(ctx, name) {
      if (!ctx.principal.platformAdmin) throw new LatchkeyError('FORBIDDEN', 'Only platform admins may create tenants');
      const actor = actorRef(ctx);
      return make(name, false, actor, (tenant, keyId) => [
        audit.event(ctx, 'tenant.create', { type: 'tenant', id: tenant.id }),
        { ...audit.event(ctx, 'tenant.create', { type: 'tenant', id: tenant.id }), tenantId: tenant.id },
        { ...audit.event(ctx, 'access_key.issue', { type: 'access_key', id: keyId }), tenantId: tenant.id },
      ]);
    },
    async list(ctx) {
      return store.listTenants(ctx.principal.tenantIds);
    },
    async issueOwnerKey(tenantId, opts) {
      if (!(await store.getTenant(tenantId))) throw new LatchkeyError('TENANT_NOT_FOUND', `No tenant ${tenantId}`);
      const now = clock.now().toISOString();
      const material = newAccessKeyMaterial(deps.env);
      const keyRow: AccessKeyRow = {
        id: newId('key'),
        tenantId,
        name: 'owner (issued on the server host)',
        type: 'api',
        role: 'owner',
        teamIds: [],
        prefix: material.prefix,
        keyHash: material.hash,
        platformAdmin: opts.platformAdmin,
        expiresAt: null,
        lastUsedAt: null,
        createdAt: now,
        updatedAt: now,
        revision: 1,
        createdBy: HOST_OPERATOR,
      };
      const reason = `issued on the server host by \`latchkey keys issue-owner\`${opts.platformAdmin ? ' (platform admin)' : ''}`;
      await store.insertAccessKey(tenantId, keyRow, [
        {
          ...audit.anonymousEvent({ requestId: 'keys-issue-owner', ip: '', userAgent: 'latchkey' }, 'access_key.issue', reason),
          tenantId,
          actor: HOST_OPERATOR,
          outcome: 'success',
          targetType: 'access_key',
          targetId: keyRow.id,
        },
      ]);
      return { keyRow, key: material.key };
    },
    async purge(ctx, tenantId) {
      if (!ctx.principal.platformAdmin) throw new LatchkeyError('FORBIDDEN', 'Only platform admins may purge tenants');
      if (ctx.principal.tenantId === tenantId || ctx.principal.tenantIds.includes(tenantId)) {
        throw new LatchkeyError('CONFLICT', 'A tenant cannot be purged with its own access key; use another platform admin');
      }
      if (!(await store.getTenant(tenantId))) throw new LatchkeyError('TENANT_NOT_FOUND', `No tenant ${tenantId}`);
      // The record lives in the caller's chain: the purged tenant's own chain goes with it.
      await store.destroyTenantKeys(tenantId, [audit.event(ctx, 'tenant.purge', { type: 'tenant', id: tenantId })]);
      await keyring.changed(tenantId);
      const { accessKeyHashes } = await store.purgeTenantRows(tenantId);
      await Promise.all(accessKeyHashes.map((h) => deps.onAccessKeyGone?.(h)));
    },
  };
}
