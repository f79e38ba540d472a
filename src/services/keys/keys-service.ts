import { setTimeout as sleep } from 'node:timers/promises';
import { keyVersionOf, secretAad } from '../../crypto/aead.js';
import { parseRootRotation, ROOT_ROTATION_META, type Keyring, type RootRotationState } from '../../crypto/keyring.js';
import type { Clock } from '../../domain/clock.js';
import { LatchkeyError } from '../../domain/errors.js';
import type { RequestContext } from '../../domain/principal.js';
import { ROOT_KEY_ID_META, type AuditRow, type KeyManagementStore, type TenancyStore, type VersionReseal } from '../../store/port.js';
import type { AuditService } from '../audit/audit-service.js';
import { operatorEvent, type Progress } from './key-events.js';
import { ROOT_ROTATED_AT_META, rotateRootKey, type RootRotationReport } from './root-key-rotation.js';

export type { Progress } from './key-events.js';
export type { RootRotationReport } from './root-key-rotation.js';

export interface DataKeyRotation {
  tenantId: string;
  previousVersion: number;
  version: number;
}

export interface ResealReport {
  tenants: number;
  /** Version rows that held a value sealed under an older data key. */
  rows: number;
  /** Sealed values written (a row has a secret and maybe a test secret). */
  valuesResealed: number;
}

export interface TenantKeyStatus {
  tenantId: string;
  currentVersion: number;
  versions: number[];
  rootKeyIds: string[];
  /** Sealed values (secret and test_secret slots) by data-key version. */
  sealedByVersion: Record<string, number>;
  sealedUnderOldVersions: number;
}

/** Everything an operator needs to judge the keys, and no key material. */
export interface KeyStatus {
  /** The root key that wraps the store (new data keys are wrapped by it). */
  rootKeyId: string | null;
  providerHoldsRootKey: boolean;
  rotation: RootRotationState | null;
  lastRootRotationAt: string | null;
  tenantsByRootKey: Array<{ rootKeyId: string; tenants: number; dataKeys: number }>;
  tenantsByDataKeyVersion: Array<{ version: number; tenants: number }>;
  sealedUnderOldVersions: number;
  tenantsWithOldVersions: number;
  tenants: TenantKeyStatus[];
}

/** For /readyz: public, so ids and flags only. */
export interface KeyReadiness {
  rootKeyId: string | null;
  rotationInProgress: boolean;
  rotatingTo: string | null;
}

export interface KeysService {
  /** `latchkey keys rotate-root`; see root-key-rotation.ts. */
  rotateRoot(opts: { keepPrevious: boolean; pauseMs: number; onProgress?: Progress }): Promise<RootRotationReport>;
  /** A new data-key version for the tenant, by an operator (CLI). New seals use it at once, in every process. */
  rotateDataKey(tenantId: string): Promise<DataKeyRotation>;
  /** The same through the API: platform admins, or owners of that tenant. */
  rotateDataKeyAs(ctx: RequestContext, tenantId: string): Promise<DataKeyRotation>;
  /**
   * Re-seals every version row (secret and test secret, same AAD) of the tenant(s) still sealed
   * under an older data key, in batches of one transaction each, online.
   */
  reseal(opts: { tenantId?: string; batchSize: number; pauseMs: number; onProgress?: Progress }): Promise<ResealReport>;
  status(opts?: { tenantId?: string }): Promise<KeyStatus>;
  /** One tenant's keys through the API (the console's key status page): platform admins, or owners of that tenant. */
  statusAs(ctx: RequestContext, tenantId: string): Promise<KeyStatus>;
  readiness(): Promise<KeyReadiness>;
}

const VERSION_ATTEMPTS = 3;

export function createKeysService(deps: {
  store: KeyManagementStore & Pick<TenancyStore, 'listTenants' | 'countTenants'>;
  keyring: Keyring;
  audit: AuditService;
  clock: Clock;
}): KeysService {
  const { store, keyring, audit, clock } = deps;

  const tenantNotFound = (tenantId: string): LatchkeyError => new LatchkeyError('TENANT_NOT_FOUND', `No tenant ${tenantId}`);

  async function addDataKeyVersion(tenantId: string, event: (from: number, to: number) => AuditRow): Promise<DataKeyRotation> {
    for (let attempt = 1; ; attempt++) {
      const current = await store.currentTenantKeyVersion(tenantId);
      if (current === null) throw tenantNotFound(tenantId);
      const version = current + 1;
      const r = await keyring.writeNewTenantKey(tenantId, version, (row) => store.insertTenantKey(tenantId, row, [event(current, version)]));
      if (r === 'no_tenant') throw tenantNotFound(tenantId);
      if (r === 'inserted') {
        // Other processes reload on their next seal anyway (sealFor reads the newest version);
        // this drops cached rings at once where the invalidation feed reaches.
        await keyring.changed(tenantId);
        return { tenantId, previousVersion: current, version };
      }
      // version_taken: a concurrent rotation got there first; go one further.
      if (attempt >= VERSION_ATTEMPTS) throw new LatchkeyError('CONFLICT', 'The keyring kept changing; try again');
    }
  }

  async function resealTenant(
    tenantId: string,
    keyVersion: number,
    opts: { batchSize: number; pauseMs: number },
    advance: (rows: number) => void,
  ): Promise<{ rows: number; values: number }> {
    // "Current" must be what the store says now, not what this process cached.
    keyring.invalidate(tenantId);
    let after: { credentialId: string; version: number } | null = null;
    let rows = 0;
    let values = 0;
    for (;;) {
      const batch = await store.listVersionsToReseal(tenantId, keyVersion, after, opts.batchSize);
      if (batch.length === 0) break;
      const writes: VersionReseal[] = [];
      for (const v of batch) {
        for (const slot of ['secret', 'test_secret'] as const) {
          const blob = slot === 'secret' ? v.secret : v.testSecret;
          if (blob === null || keyVersionOf(blob) === keyVersion) continue;
          const to = await keyring.resealFor(tenantId, blob, secretAad(tenantId, v.credentialId, v.version, slot));
          if (to !== null) writes.push({ credentialId: v.credentialId, version: v.version, slot, from: blob, to });
        }
      }
      // A slot that changed meanwhile (the row was purged) is skipped by the compare-and-set.
      if (writes.length > 0) values += await store.resealVersions(tenantId, writes);
      rows += batch.length;
      advance(batch.length);
      const last = batch[batch.length - 1] as (typeof batch)[number];
      after = { credentialId: last.credentialId, version: last.version };
      if (opts.pauseMs > 0) await sleep(opts.pauseMs);
    }
    return { rows, values };
  }

  /** Platform admins, or owners of the tenant; outside callers learn nothing of which tenant ids exist. */
  const ownerOrAdmin = (ctx: RequestContext, tenantId: string, what: string): void => {
    const p = ctx.principal;
    if (p.platformAdmin || (p.tenantId === tenantId && p.role === 'owner')) return;
    if (p.tenantIds.includes(tenantId)) throw new LatchkeyError('FORBIDDEN', `Only owners of the tenant or platform admins may ${what}`);
    throw tenantNotFound(tenantId);
  };

  const service: KeysService = {
    rotateRoot: (opts) => rotateRootKey({ store, keyring, clock }, opts),

    rotateDataKey(tenantId) {
      return addDataKeyVersion(tenantId, (from, to) =>
        operatorEvent(clock, tenantId, 'tenant.data_key_rotate', { type: 'tenant', id: tenantId }, `v${from} → v${to}`),
      );
    },

    async rotateDataKeyAs(ctx, tenantId) {
      ownerOrAdmin(ctx, tenantId, 'rotate its data key');
      return addDataKeyVersion(tenantId, (from, to) => ({
        ...audit.event(ctx, 'tenant.data_key_rotate', { type: 'tenant', id: tenantId }, 'success', `v${from} → v${to}`),
        tenantId,
      }));
    },

    async reseal(opts) {
      const ids = opts.tenantId !== undefined ? [opts.tenantId] : (await store.listTenants('all')).map((t) => t.id);
      const plan: Array<{ tenantId: string; keyVersion: number; rows: number }> = [];
      for (const tenantId of ids) {
        const keyVersion = await store.currentTenantKeyVersion(tenantId);
        if (keyVersion === null) {
          if (opts.tenantId !== undefined) throw tenantNotFound(tenantId);
          continue;
        }
        const rows = await store.countVersionsToReseal(tenantId, keyVersion);
        if (rows > 0) plan.push({ tenantId, keyVersion, rows });
      }
      let total = plan.reduce((n, p) => n + p.rows, 0);
      let done = 0;
      opts.onProgress?.(0, total);
      const report: ResealReport = { tenants: 0, rows: 0, valuesResealed: 0 };
      for (const p of plan) {
        const r = await resealTenant(p.tenantId, p.keyVersion, opts, (n) => {
          done += n;
          // Rows written under an old version while the job ran (a write that raced the rotation) count too.
          if (done > total) total = done;
          opts.onProgress?.(done, total);
        });
        report.tenants++;
        report.rows += r.rows;
        report.valuesResealed += r.values;
        await audit.append(
          operatorEvent(clock, p.tenantId, 'tenant.data_key_reseal', { type: 'tenant', id: p.tenantId }, `${r.values} sealed values moved to v${p.keyVersion}`),
        );
      }
      return report;
    },

    async status(opts = {}) {
      const ids = opts.tenantId !== undefined ? [opts.tenantId] : 'all';
      const [rootKeyId, rotationRaw, lastRootRotationAt, info, sealed] = await Promise.all([
        store.getMeta(ROOT_KEY_ID_META),
        store.getMeta(ROOT_ROTATION_META),
        store.getMeta(ROOT_ROTATED_AT_META),
        store.listTenantKeyInfo(ids),
        store.countSealedByKeyVersion(ids),
      ]);
      if (opts.tenantId !== undefined && info.length === 0) throw tenantNotFound(opts.tenantId);
      const tenants = new Map<string, TenantKeyStatus>();
      const byRoot = new Map<string, { tenants: Set<string>; dataKeys: number }>();
      for (const k of info) {
        let t = tenants.get(k.tenantId);
        if (!t) {
          t = { tenantId: k.tenantId, currentVersion: 0, versions: [], rootKeyIds: [], sealedByVersion: {}, sealedUnderOldVersions: 0 };
          tenants.set(k.tenantId, t);
        }
        t.versions.push(k.version);
        t.currentVersion = Math.max(t.currentVersion, k.version);
        if (!t.rootKeyIds.includes(k.rootKeyId)) t.rootKeyIds.push(k.rootKeyId);
        const r = byRoot.get(k.rootKeyId) ?? { tenants: new Set<string>(), dataKeys: 0 };
        r.tenants.add(k.tenantId);
        r.dataKeys++;
        byRoot.set(k.rootKeyId, r);
      }
      for (const s of sealed) {
        const t = tenants.get(s.tenantId);
        // Rows of a tenant without a keyring (purge under way) are not "old": nothing opens them.
        if (!t) continue;
        t.sealedByVersion[String(s.keyVersion)] = (t.sealedByVersion[String(s.keyVersion)] ?? 0) + s.rows;
        if (s.keyVersion !== t.currentVersion) t.sealedUnderOldVersions += s.rows;
      }
      const byVersion = new Map<number, number>();
      for (const t of tenants.values()) byVersion.set(t.currentVersion, (byVersion.get(t.currentVersion) ?? 0) + 1);
      const list = [...tenants.values()];
      return {
        rootKeyId,
        providerHoldsRootKey: rootKeyId !== null && (await keyring.provider.holds(rootKeyId)),
        rotation: parseRootRotation(rotationRaw),
        lastRootRotationAt,
        tenantsByRootKey: [...byRoot]
          .map(([id, r]) => ({ rootKeyId: id, tenants: r.tenants.size, dataKeys: r.dataKeys }))
          .sort((a, b) => b.tenants - a.tenants),
        tenantsByDataKeyVersion: [...byVersion].map(([version, n]) => ({ version, tenants: n })).sort((a, b) => a.version - b.version),
        sealedUnderOldVersions: list.reduce((n, t) => n + t.sealedUnderOldVersions, 0),
        tenantsWithOldVersions: list.filter((t) => t.sealedUnderOldVersions > 0).length,
        tenants: list,
      };
    },

    async statusAs(ctx, tenantId) {
      ownerOrAdmin(ctx, tenantId, 'see its keys');
      return service.status({ tenantId });
    },

    async readiness() {
      const [rootKeyId, rotationRaw] = await Promise.all([store.getMeta(ROOT_KEY_ID_META), store.getMeta(ROOT_ROTATION_META)]);
      const rotation = parseRootRotation(rotationRaw);
      return { rootKeyId, rotationInProgress: rotation !== null, rotatingTo: rotation?.to ?? null };
    },
  };
  return service;
}
