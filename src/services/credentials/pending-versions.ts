import type { Catalog } from '../../catalog/catalog.js';
import type { Keyring } from '../../crypto/keyring.js';
import type { Clock } from '../../domain/clock.js';
import { LatchkeyError, validationFailed } from '../../domain/errors.js';
import { actorRef, type RequestContext } from '../../domain/principal.js';
import { can } from '../../domain/roles.js';
import type { CredentialRow, Store, VersionRow } from '../../store/port.js';
import type { AuditService } from '../audit/audit-service.js';
import { credentialFacts } from './credential-rows.js';
import type { CredentialsService } from './credentials-service.js';
import { openSecretValues, restagePlan, sealSecretValues, type SecretValues } from './secret-values.js';

/**
 * Staged rotation: a new secret written as `pending` beside the current one (readable by number,
 * used by nothing), then promoted to current when its consumers are ready. What AWS Secrets
 * Manager calls AWSPENDING and moving AWSCURRENT; natively `POST /v1/credentials/{id}/versions`
 * with `stage: "pending"` and `POST /v1/credentials/{id}/versions/{n}/promote`.
 */
export interface PendingVersions {
  /** A new version staged `pending`; a pending version written before is retired (`deprecated`). */
  putPending(ctx: RequestContext, id: string, secret: SecretValues): Promise<{ credential: CredentialRow; version: number }>;
  /** Makes pending version `n` current; the current one becomes `previous` for `gracePeriodSeconds`. */
  promote(ctx: RequestContext, id: string, n: number, gracePeriodSeconds: number): Promise<CredentialRow>;
}

export function createPendingVersions(deps: {
  store: Store;
  keyring: Keyring;
  catalog: Catalog;
  audit: AuditService;
  clock: Clock;
  credentials: Pick<CredentialsService, 'getForChange'>;
}): PendingVersions {
  const { store, keyring, catalog, audit, clock } = deps;

  /** Like rotate: `credentials:rotate`, a credential the caller may change, not deactivated; OAuth2 rotates itself by refresh. */
  async function loadForStaging(ctx: RequestContext, id: string): Promise<CredentialRow> {
    if (!can(ctx.principal.role, 'credentials:rotate')) throw new LatchkeyError('FORBIDDEN', `Role ${ctx.principal.role} lacks credentials:rotate`);
    const c = await deps.credentials.getForChange(ctx, id);
    if (c.status === 'deactivated') throw new LatchkeyError('CONFLICT', 'A deactivated credential is permanent and cannot be changed');
    if (c.type === 'oauth2') throw new LatchkeyError('CONFLICT', 'An oauth2 credential gets new tokens by refresh, not by a staged version');
    return c;
  }

  async function write(
    ctx: RequestContext,
    c: CredentialRow,
    next: CredentialRow,
    version: VersionRow | null,
    restage: NonNullable<Parameters<Store['updateCredential']>[2]['restage']>,
    action: string,
  ): Promise<void> {
    const r = await store.updateCredential(c.tenantId, c.revision, {
      credential: next,
      version,
      restage,
      audit: [audit.event(ctx, action, { type: 'credential', id: c.id }, 'success', null, credentialFacts(next, { version: next.version }))],
    });
    if (r === 'stale') throw new LatchkeyError('PRECONDITION_FAILED', 'The credential changed while this request ran');
    if (r !== 'updated') throw new LatchkeyError('CONFLICT', 'The credential could not be written');
  }

  const changed = (ctx: RequestContext, c: CredentialRow): CredentialRow => ({
    ...c,
    revision: c.revision + 1,
    updatedAt: clock.now().toISOString(),
    modifiedBy: actorRef(ctx),
  });

  return {
    async putPending(ctx, id, secret) {
      const c = await loadForStaging(ctx, id);
      const checked = catalog.checkSecret(c.type, secret);
      const issues = [...checked.issues, ...(checked.issues.length === 0 ? catalog.checkRules(c.type, c.config, checked.value) : [])];
      if (issues.length > 0) throw validationFailed(issues);
      const versions = await store.listVersions(c.tenantId, c.id);
      const n = Math.max(c.version, ...versions.map((v) => v.version)) + 1;
      const current = versions.find((v) => v.version === c.version);
      // The test secret stays what it is: only the live secret is staged.
      const test = c.testCredentialEnabled && current ? await openSecretValues(keyring, current, 'test_secret') : null;
      const version: VersionRow = {
        tenantId: c.tenantId,
        credentialId: c.id,
        version: n,
        stage: 'pending',
        secret: await sealSecretValues(keyring, c.tenantId, c.id, n, 'secret', checked.value),
        testSecret: test === null ? null : await sealSecretValues(keyring, c.tenantId, c.id, n, 'test_secret', test),
        expiresAt: null,
        createdAt: clock.now().toISOString(),
        createdBy: actorRef(ctx),
      };
      const retired = versions.filter((v) => v.stage === 'pending').map((v) => ({ version: v.version, stage: 'deprecated' as const, expiresAt: null }));
      const next = changed(ctx, c);
      await write(ctx, c, next, version, retired, 'credential.version_pending');
      return { credential: next, version: n };
    },

    async promote(ctx, id, n, gracePeriodSeconds) {
      const c = await loadForStaging(ctx, id);
      const versions = await store.listVersions(c.tenantId, c.id);
      const target = versions.find((v) => v.version === n);
      if (target?.stage !== 'pending' || !target) throw new LatchkeyError('VERSION_NOT_FOUND', `Version ${n} of ${id} is not pending`);
      const secret = (await openSecretValues(keyring, target, 'secret')) ?? {};
      const graceEnds = new Date(clock.now().getTime() + gracePeriodSeconds * 1000).toISOString();
      // A new secret in use starts the rotation policy's clock again, as a rotation does.
      const interval = c.rotationIntervalDays;
      const next: CredentialRow = {
        ...changed(ctx, c),
        version: n,
        lastError: null,
        secretFields: (catalog.get(c.type)?.secretFields ?? []).filter((f) => f in secret),
        ...(interval === null ? {} : { nextRotationAt: new Date(clock.now().getTime() + interval * 86_400_000).toISOString(), rotationDue: false }),
      };
      await write(
        ctx,
        c,
        next,
        null,
        [...restagePlan(versions, c.version, graceEnds), { version: n, stage: 'current', expiresAt: null }],
        'credential.version_promote',
      );
      return next;
    },
  };
}
