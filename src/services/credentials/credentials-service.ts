import type { Catalog } from '../../catalog/catalog.js';
import type { Keyring } from '../../crypto/keyring.js';
import type { Clock } from '../../domain/clock.js';
import { LatchkeyError, validationFailed, type FieldIssue } from '../../domain/errors.js';
import { newId } from '../../domain/ids.js';
import { actorRef, requirePermission, type RequestContext } from '../../domain/principal.js';
import type { CredentialRow, CredentialWrite, EventDetail, VersionRow } from '../../store/port.js';
import type { CredentialStore, TeamStore } from '../../store/port.js';
import type { AuditService } from '../audit/audit-service.js';
import type { TeamDirectory } from '../tenancy/team-directory.js';
import { checkAim, checkRestoreAim } from './aim.js';
import type { CredentialsService, Revealed, TokenRefresher } from './credentials-service-types.js';
import { cannotChange, lastAccountCredential, nameTaken, notFound } from './credential-errors.js';
import type { CredentialInput } from './credential-input.js';
import { buildRow, checkAgainstType, credentialFacts, mergeShallow, rotationPolicy } from './credential-rows.js';
import { openSecretValues, restagePlan, sealSecretValues, type SecretValues } from './secret-values.js';
import { newestOfIntegration } from './integration-newest.js';
import { canChange, canSee, visibilityOf } from './visibility.js';

export type { CredentialsService, Revealed, TokenRefresher } from './credentials-service-types.js';

export function createCredentialsService(deps: {
  store: CredentialStore & Pick<TeamStore, 'getFolder'>;
  keyring: Keyring;
  catalog: Catalog;
  audit: AuditService;
  clock: Clock;
  teams: TeamDirectory;
  tokens?: TokenRefresher;
}): CredentialsService {
  const { store, keyring, catalog, audit, clock, teams } = deps;
  /** The audit event of a change to credential `c` (as written), with the facts its consumers need. */
  const changeEvent = (ctx: RequestContext, action: string, c: CredentialRow, more?: EventDetail) =>
    audit.event(ctx, action, { type: 'credential', id: c.id }, 'success', null, credentialFacts(c, more));

  async function sealVersion(
    ctx: RequestContext,
    tenantId: string,
    credentialId: string,
    version: number,
    secret: SecretValues,
    testSecret: SecretValues | null,
  ): Promise<VersionRow> {
    return {
      tenantId,
      credentialId,
      version,
      stage: 'current',
      secret: await sealSecretValues(keyring, tenantId, credentialId, version, 'secret', secret),
      testSecret: testSecret === null ? null : await sealSecretValues(keyring, tenantId, credentialId, version, 'test_secret', testSecret),
      expiresAt: null,
      createdAt: clock.now().toISOString(),
      createdBy: actorRef(ctx),
    };
  }

  async function openVersion(c: CredentialRow, slot: 'secret' | 'test_secret', version = c.version): Promise<SecretValues | null> {
    const v = await store.getVersion(c.tenantId, c.id, version);
    if (!v) throw new Error('version row missing');
    return openRow(v, slot);
  }

  async function openRow(v: VersionRow, slot: 'secret' | 'test_secret'): Promise<SecretValues | null> {
    return openSecretValues(keyring, v, slot);
  }

  /** Readable by number: current, pending, and previous until its grace period ends. */
  function readable(v: VersionRow): boolean {
    if (v.stage === 'current' || v.stage === 'pending') return true;
    return v.stage === 'previous' && v.expiresAt !== null && v.expiresAt > clock.now().toISOString();
  }

  /** A visible, not-deleted credential or a 404 that looks like any other. */
  async function load(ctx: RequestContext, id: string): Promise<CredentialRow> {
    return visibleOrNotFound(ctx, id, await store.getCredential(ctx.principal.tenantId, id));
  }

  async function visibleOrNotFound(ctx: RequestContext, id: string, c: CredentialRow | null | undefined): Promise<CredentialRow> {
    if (!c || c.deletedAt !== null || !canSee(await visibilityOf(ctx.principal, teams), c)) throw notFound(id);
    return c;
  }

  /** A visible, not-deleted credential the caller may change: else the 404 of `load`, or 403 when it may only read it. */
  async function loadChangeable(ctx: RequestContext, id: string): Promise<CredentialRow> {
    const v = await visibilityOf(ctx.principal, teams);
    const c = await store.getCredential(ctx.principal.tenantId, id);
    if (!c || c.deletedAt !== null || !canSee(v, c)) throw notFound(id);
    if (!canChange(v, c)) throw cannotChange(id);
    return c;
  }

  /**
   * Team, folder and shares must exist in the tenant; the result must stay in the caller's write
   * scope (`canChange`): without a whole-tenant role a caller files credentials only under its own
   * teams, or it could plant one in another team or give one away to the whole tenant.
   */
  async function checkPlacement(ctx: RequestContext, row: Pick<CredentialRow, 'teamId' | 'folderId' | 'sharedTeamSlugs'>): Promise<void> {
    const issues: FieldIssue[] = [];
    const tenantTeams = await teams.teamsOf(ctx.principal.tenantId);
    const v = await visibilityOf(ctx.principal, teams);
    if (row.teamId !== null) {
      if (!tenantTeams.some((t) => t.id === row.teamId)) issues.push({ path: 'team_id', message: 'is not a team of this tenant' });
      else if (!canChange(v, row)) issues.push({ path: 'team_id', message: 'is not one of your teams' });
    } else if (!canChange(v, row)) {
      issues.push({ path: 'team_id', message: 'is required for your role: a credential without a team is changed by owners and admins only' });
    }
    if (row.folderId !== null) {
      const folder = await store.getFolder(ctx.principal.tenantId, row.folderId);
      if (!folder) issues.push({ path: 'folder_id', message: 'is not a folder of this tenant' });
      else if (folder.teamId !== row.teamId) issues.push({ path: 'folder_id', message: 'belongs to another team than team_id' });
    }
    for (const slug of row.sharedTeamSlugs) {
      if (!tenantTeams.some((t) => t.slug === slug)) issues.push({ path: 'shared_team_slugs', message: `has an unknown team slug: ${slug}` });
    }
    if (issues.length > 0) throw validationFailed(issues);
  }

  async function insertNew(ctx: RequestContext, id: string, input: CredentialInput): Promise<{ credential: CredentialRow; generated: SecretValues | null }> {
    const checked = checkAgainstType(catalog, input.type, input.config, input.secret, input.test_credential_enabled ?? false, input.test_secret);
    const row = buildRow(catalog, clock.now(), ctx, id, input, checked, null, 1);
    await checkPlacement(ctx, row);
    const version = await sealVersion(ctx, row.tenantId, id, 1, checked.secret, checked.testSecret);
    const result = await store.insertCredential(row.tenantId, {
      credential: row,
      version,
      audit: [changeEvent(ctx, 'credential.create', row, { version: 1 })],
    });
    if (result === 'slug_taken') throw nameTaken(row);
    if (result === 'id_taken') throw new LatchkeyError('CONFLICT', `Credential id ${id} is taken`);
    return { credential: row, generated: checked.generated };
  }

  async function writeUpdate(current: CredentialRow, expectedRevision: number | undefined, write: CredentialWrite): Promise<void> {
    if (expectedRevision !== undefined && expectedRevision !== current.revision)
      throw new LatchkeyError('PRECONDITION_FAILED', 'The credential changed since that ETag');
    const r = await store.updateCredential(current.tenantId, current.revision, write);
    if (r === 'slug_taken') throw nameTaken(write.credential);
    if (r === 'last_account_credential') throw lastAccountCredential();
    if (r === 'stale') throw new LatchkeyError('PRECONDITION_FAILED', 'The credential changed while this request ran');
  }

  /** A new current version: the old current becomes previous for the grace period; older previous ones retire. */
  async function restageFor(current: CredentialRow, gracePeriodSeconds = 0): Promise<NonNullable<CredentialWrite['restage']>> {
    const graceEnds = new Date(clock.now().getTime() + gracePeriodSeconds * 1000).toISOString();
    return restagePlan(await store.listVersions(current.tenantId, current.id), current.version, graceEnds);
  }

  /** After every version there is: a pending version (services/credentials/pending-versions.ts) may be ahead of the current one. */
  async function nextVersion(current: CredentialRow): Promise<number> {
    return Math.max(current.version, ...(await store.listVersions(current.tenantId, current.id)).map((v) => v.version)) + 1;
  }

  async function newSecretVersion(
    ctx: RequestContext,
    current: CredentialRow,
    secret: SecretValues,
    testSecret: SecretValues | null,
    action: string,
    gracePeriodSeconds: number,
    config = current.config,
  ): Promise<CredentialRow> {
    const now = clock.now().toISOString();
    const row: CredentialRow = {
      ...current,
      config,
      version: await nextVersion(current),
      revision: current.revision + 1,
      updatedAt: now,
      modifiedBy: actorRef(ctx),
      lastError: null,
      secretFields: (catalog.get(current.type)?.secretFields ?? []).filter((f) => f in secret),
      ...rotationPolicy(clock.now(), current, current.rotationIntervalDays, true),
    };
    const version = await sealVersion(ctx, row.tenantId, row.id, row.version, secret, testSecret);
    await writeUpdate(current, undefined, {
      credential: row,
      version,
      restage: await restageFor(current, gracePeriodSeconds),
      audit: [changeEvent(ctx, action, row, { version: row.version })],
    });
    return row;
  }

  /** `current` is the version row read with `row`, if it was: used when `row` is still what is revealed. */
  async function revealRow(
    ctx: RequestContext,
    row: CredentialRow,
    variant: 'main' | 'test',
    versionNumber?: number,
    current?: VersionRow | null,
  ): Promise<Revealed> {
    if (variant === 'test' && !row.testCredentialEnabled) throw new LatchkeyError('CONFLICT', 'This credential has no test credential enabled');
    // An expired OAuth2 access token is refreshed before it is handed out (the current version only).
    const c = deps.tokens && row.type === 'oauth2' && variant === 'main' && versionNumber === undefined ? await deps.tokens.beforeReveal(ctx, row) : row;
    const wanted = versionNumber ?? c.version;
    const v = c === row && current?.version === wanted ? current : await store.getVersion(c.tenantId, c.id, wanted);
    if (!v || !readable(v)) throw new LatchkeyError('VERSION_NOT_FOUND', `Version ${versionNumber} of ${c.id} is not readable`);
    // `?variant=test` opens the test slot only: the live secret never leaves with a test reveal.
    const secret = await openRow(v, variant === 'test' ? 'test_secret' : 'secret');
    if (variant === 'test' && secret === null) throw new LatchkeyError('CONFLICT', `Version ${v.version} of ${c.id} has no test secret`);
    const at = clock.now().toISOString();
    // Fail closed: the secret leaves only after its audit record is durable.
    await audit.append(audit.event(ctx, variant === 'test' ? 'credential.reveal_test' : 'credential.reveal', { type: 'credential', id: c.id }), {
      tenantId: c.tenantId,
      id: c.id,
      at,
    });
    return { credential: { ...c, lastUsedAt: at }, secret: secret ?? {}, testSecret: variant === 'test' ? secret : null };
  }

  const service: CredentialsService = {
    async create(ctx, input, id) {
      requirePermission(ctx, 'credentials:write');
      return insertNew(ctx, id ?? newId('crd'), input);
    },

    async replace(ctx, id, input, expectedRevision) {
      requirePermission(ctx, 'credentials:write');
      const existing = await store.getCredential(ctx.principal.tenantId, id);
      if (!existing) {
        if (expectedRevision !== undefined) throw new LatchkeyError('PRECONDITION_FAILED', 'No credential matches that ETag');
        const made = await insertNew(ctx, id, input);
        return { ...made, created: true };
      }
      // An id held by a credential the caller cannot see answers as GET does (404), never "taken"
      // and never overwritten; a deleted one is named only to whoever could restore it.
      const v = await visibilityOf(ctx.principal, teams);
      if (!canSee(v, existing)) throw notFound(id);
      if (existing.deletedAt !== null) {
        if (!canChange(v, existing)) throw notFound(id);
        throw new LatchkeyError('CONFLICT', `Credential ${id} is deleted: restore it, or purge it to reuse its id`);
      }
      if (!canChange(v, existing)) throw cannotChange(id);
      if (existing.type !== input.type) throw validationFailed([{ path: 'type', message: 'cannot change; create a new credential' }]);
      const checked = checkAgainstType(catalog, input.type, input.config, input.secret, input.test_credential_enabled ?? false, input.test_secret);
      const row = buildRow(catalog, clock.now(), ctx, id, input, checked, existing, await nextVersion(existing));
      await checkPlacement(ctx, row);
      const version = await sealVersion(ctx, row.tenantId, id, row.version, checked.secret, checked.testSecret);
      await writeUpdate(existing, expectedRevision, {
        credential: row,
        version,
        restage: await restageFor(existing),
        audit: [changeEvent(ctx, 'credential.update', row, { version: row.version })],
      });
      return { credential: row, created: false, generated: checked.generated };
    },

    async get(ctx, id) {
      requirePermission(ctx, 'credentials:read');
      return load(ctx, id);
    },

    async getForChange(ctx, id) {
      requirePermission(ctx, 'credentials:read');
      return loadChangeable(ctx, id);
    },

    async list(ctx, filter, page) {
      requirePermission(ctx, 'credentials:read');
      return store.listCredentials(ctx.principal.tenantId, await visibilityOf(ctx.principal, teams), filter, page);
    },

    async update(ctx, id, patch, expectedRevision) {
      requirePermission(ctx, 'credentials:write');
      const current = await loadChangeable(ctx, id);
      const statusOnly = Object.keys(patch).every((k) => k === 'status' || k === 'deactivation_time');
      const secretChanged = patch.secret !== undefined || patch.test_secret !== undefined;
      const config = patch.config === undefined ? current.config : mergeShallow(current.config, patch.config);
      checkAim(ctx, catalog.get(current.type), current, config, patch);
      let secret: SecretValues | undefined;
      let testSecret: SecretValues | null | undefined;
      if (secretChanged) {
        const old = (await openVersion(current, 'secret')) ?? {};
        secret = patch.secret === undefined ? old : mergeShallow(old, patch.secret);
        const oldTest = current.testCredentialEnabled ? await openVersion(current, 'test_secret') : null;
        testSecret = patch.test_secret === undefined ? oldTest : patch.test_secret === null ? null : mergeShallow(oldTest ?? {}, patch.test_secret);
      } else if (patch.test_credential_enabled === true && !current.testCredentialEnabled) {
        throw validationFailed([{ path: 'test_secret', message: 'is required when test_credential_enabled becomes true' }]);
      }
      const input: CredentialInput = {
        name: patch.name ?? current.name,
        type: current.type,
        provider: patch.provider === undefined ? current.provider : patch.provider,
        integration_id: patch.integration_id === undefined ? current.integrationId : patch.integration_id,
        description: patch.description ?? current.description,
        config,
        metadata: patch.metadata ?? current.metadata,
        allowed_hosts: patch.allowed_hosts ?? current.allowedHosts,
        proxy_rules: patch.proxy_rules ?? current.proxyRules,
        team_id: patch.team_id === undefined ? current.teamId : patch.team_id,
        folder_id: patch.folder_id === undefined ? current.folderId : patch.folder_id,
        read_access: patch.read_access ?? (patch.team_id !== undefined ? undefined : current.readAccess),
        shared_team_slugs: patch.shared_team_slugs ?? current.sharedTeamSlugs,
        test_credential_enabled: patch.test_credential_enabled ?? current.testCredentialEnabled,
        expires_at: patch.expires_at === undefined ? current.expiresAt : patch.expires_at,
        rotation_interval_days: patch.rotation_interval_days === undefined ? current.rotationIntervalDays : patch.rotation_interval_days,
        status: patch.status,
        deactivation_time: patch.deactivation_time,
      };
      let row: CredentialRow;
      let version: VersionRow | null = null;
      if (secretChanged) {
        const checked = checkAgainstType(
          catalog,
          current.type,
          config,
          secret,
          input.test_credential_enabled ?? false,
          input.test_credential_enabled ? testSecret : undefined,
        );
        row = buildRow(catalog, clock.now(), ctx, id, input, checked, current, await nextVersion(current));
        version = await sealVersion(ctx, row.tenantId, id, row.version, checked.secret, checked.testSecret);
      } else {
        const cfg = catalog.checkConfig(current.type, config);
        const issues = [...cfg.issues, ...(cfg.issues.length === 0 ? catalog.checkRules(current.type, cfg.value, null) : [])];
        if (issues.length > 0) throw validationFailed(issues);
        row = buildRow(catalog, clock.now(), ctx, id, input, { config: cfg.value, secret: {}, testSecret: null, generated: null }, current, current.version);
        row.secretFields = current.secretFields;
      }
      if (row.teamId !== current.teamId || row.folderId !== current.folderId || row.sharedTeamSlugs.join() !== current.sharedTeamSlugs.join())
        await checkPlacement(ctx, row);
      const action =
        statusOnly && patch.status !== undefined
          ? `credential.${row.status === 'active' ? 'activate' : row.status === 'inactive' ? 'deactivate_temporarily' : 'deactivate'}`
          : 'credential.update';
      await writeUpdate(current, expectedRevision, {
        credential: row,
        version,
        ...(version ? { restage: await restageFor(current) } : {}),
        audit: [
          changeEvent(ctx, action, row, {
            version: row.version,
            status: row.status,
            ...(row.status === current.status ? {} : { previous_status: current.status }),
          }),
        ],
      });
      return row;
    },

    async remove(ctx, id, opts) {
      requirePermission(ctx, 'credentials:delete');
      const v = await visibilityOf(ctx.principal, teams);
      const c = await store.getCredential(ctx.principal.tenantId, id);
      // A deleted credential is one that does not exist for everyone but an owner purging it.
      const owner = ctx.principal.role === 'owner';
      if (!c || !canSee(v, c) || (c.deletedAt !== null && !(opts.purge && owner))) throw notFound(id);
      if (!canChange(v, c)) throw cannotChange(id);
      if (opts.purge) {
        if (!owner) throw new LatchkeyError('FORBIDDEN', 'Only owners may purge');
        if (opts.expectedRevision !== undefined && opts.expectedRevision !== c.revision)
          throw new LatchkeyError('PRECONDITION_FAILED', 'The credential changed since that ETag');
        const purged = await store.purgeCredential(c.tenantId, id, [changeEvent(ctx, 'credential.purge', c)]);
        if (purged === 'last_account_credential') throw lastAccountCredential();
        return;
      }
      const now = clock.now().toISOString();
      await writeUpdate(c, opts.expectedRevision, {
        credential: { ...c, deletedAt: now, updatedAt: now, revision: c.revision + 1, modifiedBy: actorRef(ctx) },
        version: null,
        audit: [changeEvent(ctx, 'credential.delete', c)],
      });
    },

    async restore(ctx, id) {
      requirePermission(ctx, 'credentials:delete');
      const v = await visibilityOf(ctx.principal, teams);
      const c = await store.getCredential(ctx.principal.tenantId, id);
      if (!c || !canSee(v, c)) throw notFound(id);
      // Only whoever may change it learns that a deleted credential is there to restore.
      if (!canChange(v, c)) throw c.deletedAt === null ? cannotChange(id) : notFound(id);
      if (c.deletedAt === null) throw new LatchkeyError('CONFLICT', 'The credential is not deleted');
      const now = clock.now().toISOString();
      const row: CredentialRow = { ...c, deletedAt: null, updatedAt: now, revision: c.revision + 1, modifiedBy: actorRef(ctx) };
      await writeUpdate(c, undefined, {
        credential: row,
        version: null,
        audit: [changeEvent(ctx, 'credential.restore', c)],
      });
      return row;
    },

    async reveal(ctx, id, opts) {
      // A refusal here (403 or 404) is audited by the HTTP layer, grouped per actor and target.
      requirePermission(ctx, 'credentials:reveal');
      const found = await store.getCredentialWithVersion(ctx.principal.tenantId, id);
      const c = await visibleOrNotFound(ctx, id, found?.credential);
      if (c.status !== 'active') {
        if (!opts.allowInactive) throw new LatchkeyError('CREDENTIAL_INACTIVE', `Credential ${id} is ${c.status}`);
        if (ctx.principal.role !== 'owner') throw new LatchkeyError('FORBIDDEN', 'Only owners may reveal inactive credentials');
      }
      return revealRow(ctx, c, opts.variant, opts.version, found?.version);
    },

    async versions(ctx, id) {
      requirePermission(ctx, 'credentials:read');
      const c = await load(ctx, id);
      return store.listVersions(c.tenantId, c.id);
    },

    async version(ctx, id, n) {
      requirePermission(ctx, 'credentials:read');
      const c = await load(ctx, id);
      const v = await store.getVersion(c.tenantId, c.id, n);
      if (!v) throw new LatchkeyError('VERSION_NOT_FOUND', `No version ${n} of ${id}`);
      return v;
    },

    async rotate(ctx, id, opts) {
      requirePermission(ctx, 'credentials:rotate');
      const current = await loadChangeable(ctx, id);
      if (current.status === 'deactivated') throw new LatchkeyError('CONFLICT', 'A deactivated credential is permanent and cannot be changed');
      const t = catalog.get(current.type);
      let secret: SecretValues;
      let generated: SecretValues | null = null;
      if (opts.secret !== undefined) {
        // The kept fields are read inside the server only, like the generator's below: nothing is revealed.
        const given = opts.mergeSecret ? { ...((await openVersion(current, 'secret')) ?? {}), ...opts.secret } : opts.secret;
        const checked = catalog.checkSecret(current.type, given);
        const issues = [...checked.issues, ...(checked.issues.length === 0 ? catalog.checkRules(current.type, current.config, checked.value) : [])];
        if (issues.length > 0) throw validationFailed(issues);
        secret = checked.value;
      } else if (t?.generate) {
        // Keep the fields the generator does not make (e.g. a webhook's username) and replace its own.
        generated = catalog.generateSecret(current.type) ?? {};
        secret = { ...((await openVersion(current, 'secret')) ?? {}), ...generated };
      } else if (current.type === 'oauth2' && deps.tokens) {
        // An OAuth2 credential rotates itself by a token refresh (or a client_credentials fetch).
        return { credential: await deps.tokens.refreshNow(ctx, current), generated: null };
      } else {
        throw validationFailed([{ path: 'secret', message: `is required: type ${current.type} cannot make its own secret` }]);
      }
      const testSecret = current.testCredentialEnabled ? await openVersion(current, 'test_secret') : null;
      const expiry = opts.accessTokenExpiresAt;
      const config = current.type === 'oauth2' && expiry !== undefined ? mergeShallow(current.config, { access_token_expires_at: expiry }) : current.config;
      const row = await newSecretVersion(ctx, current, secret, testSecret, 'credential.rotate', opts.gracePeriodSeconds, config);
      return { credential: row, generated };
    },

    async openForUse(ctx, id) {
      requirePermission(ctx, 'credentials:rotate');
      const credential = await loadChangeable(ctx, id);
      return { credential, secret: (await openVersion(credential, 'secret')) ?? {} };
    },

    async markRotationDue(ctx, id, expectedRevision) {
      requirePermission(ctx, 'credentials:rotate');
      const c = await loadChangeable(ctx, id);
      const row: CredentialRow = { ...c, rotationDue: true, revision: c.revision + 1, updatedAt: clock.now().toISOString() };
      await writeUpdate(c, expectedRevision, {
        credential: row,
        version: null,
        audit: [changeEvent(ctx, 'credential.rotation_due', c, { next_rotation_at: c.nextRotationAt })],
      });
    },

    async restoreVersion(ctx, id, n) {
      requirePermission(ctx, 'credentials:rotate');
      const current = await loadChangeable(ctx, id);
      if (current.status === 'deactivated') throw new LatchkeyError('CONFLICT', 'A deactivated credential is permanent and cannot be changed');
      checkRestoreAim(ctx, catalog.get(current.type));
      const old = await store.getVersion(current.tenantId, current.id, n);
      if (!old) throw new LatchkeyError('VERSION_NOT_FOUND', `No version ${n} of ${id}`);
      if (n === current.version) throw new LatchkeyError('CONFLICT', `Version ${n} is already current`);
      const secret = (await openRow(old, 'secret')) ?? {};
      const testSecret = current.testCredentialEnabled ? ((await openRow(old, 'test_secret')) ?? (await openVersion(current, 'test_secret'))) : null;
      return newSecretVersion(ctx, current, secret, testSecret, 'credential.version_restore', 0);
    },

    async use(ctx, id, check) {
      // A refusal here (403 or 404) is audited by the HTTP layer, grouped per actor and target.
      requirePermission(ctx, 'credentials:use');
      const found = await load(ctx, id);
      if (found.status !== 'active') throw new LatchkeyError('CREDENTIAL_INACTIVE', `Credential ${id} is ${found.status}`);
      const what = check(found);
      // An OAuth2 access token that is due is refreshed first (single-flight, services/oauth).
      const c = deps.tokens && found.type === 'oauth2' ? await deps.tokens.beforeReveal(ctx, found) : found;
      const secret = (await openVersion(c, 'secret')) ?? {};
      const at = clock.now().toISOString();
      await audit.append(audit.event(ctx, 'credential.use', { type: 'credential', id: c.id }, 'success', what), { tenantId: c.tenantId, id: c.id, at });
      return { credential: c, secret };
    },

    async revealForIntegration(ctx, integrationId, credentialId, opts = {}) {
      requirePermission(ctx, 'credentials:reveal');
      let c: CredentialRow | undefined;
      if (credentialId !== undefined) {
        const found = await load(ctx, credentialId);
        if (found.integrationId === integrationId) c = found;
      } else {
        const { active, any } = await newestOfIntegration(store, await visibilityOf(ctx.principal, teams), ctx.principal.tenantId, integrationId);
        c = active ?? (opts.allowInactive ? any : undefined);
      }
      if (!c) throw new LatchkeyError('CREDENTIAL_NOT_FOUND', `No credential exists for integration ID: ${integrationId}`);
      if (c.status !== 'active' && !opts.allowInactive) throw new LatchkeyError('CREDENTIAL_INACTIVE', `Credential ${c.id} is ${c.status}`);
      return revealRow(ctx, c, 'main');
    },
  };
  return service;
}
