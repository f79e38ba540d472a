// A credential row as a create, replace or update makes it: checked against its type, its scope
// and its lifecycle, before anything is sealed or stored.
import anyAscii from 'any-ascii';
import type { Catalog } from '../../catalog/catalog.js';
import { toUtc } from '../../domain/clock.js';
import { LatchkeyError, validationFailed, type FieldIssue } from '../../domain/errors.js';
import { actorRef, type RequestContext } from '../../domain/principal.js';
import type { CredentialRow, EventDetail } from '../../store/port.js';
import type { CredentialInput } from './credential-input.js';
import type { SecretValues } from './secret-values.js';

/**
 * Transliterated to ASCII first (any-ascii: `Crédit` → `Credit`, `日本語` → `RiBenYu`, `Москва` →
 * `Moskva`), so an accent does not split a word and a non-Latin name gets a readable slug that
 * depends on the name alone.
 */
export function slugOf(name: string): string {
  return anyAscii(name.normalize('NFC'))
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '')
    .slice(0, 200);
}

/** Shallow merge where `null` removes a field (RFC 7396 at one level). */
export function mergeShallow(base: Record<string, unknown>, patch: Record<string, unknown | null>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = v;
  }
  return out;
}

export interface Checked {
  config: Record<string, unknown>;
  secret: SecretValues;
  testSecret: SecretValues | null;
  generated: SecretValues | null;
}

/** Validates config, secret and test secret against the type catalog; all issues at once. */
export function checkAgainstType(
  catalog: Catalog,
  type: string,
  config: unknown,
  secret: SecretValues | undefined,
  testEnabled: boolean,
  testSecret: SecretValues | null | undefined,
): Checked {
  const t = catalog.get(type);
  if (!t) throw validationFailed([{ path: 'type', message: `unknown type; see GET /v1/credential-types` }]);
  const issues: FieldIssue[] = [];
  const cfg = catalog.checkConfig(type, config ?? {});
  issues.push(...cfg.issues);
  let generated: SecretValues | null = null;
  let secretValue: SecretValues = {};
  if (secret === undefined && t.generate) {
    generated = catalog.generateSecret(type);
    secretValue = generated ?? {};
  } else {
    const s = catalog.checkSecret(type, secret ?? {});
    issues.push(...s.issues);
    secretValue = s.value;
  }
  let testValue: SecretValues | null = null;
  if (testSecret !== undefined && testSecret !== null) {
    if (!testEnabled) issues.push({ path: 'test_secret', message: 'needs test_credential_enabled: true' });
    const ts = catalog.checkSecret(type, testSecret);
    issues.push(...ts.issues.map((i) => ({ path: i.path.replace(/^secret/, 'test_secret'), message: i.message })));
    testValue = ts.value;
  } else if (testEnabled) {
    issues.push({ path: 'test_secret', message: 'is required when test_credential_enabled is true' });
  }
  if (issues.length === 0) issues.push(...catalog.checkRules(type, cfg.value, secretValue));
  if (issues.length > 0) throw validationFailed(issues);
  return { config: cfg.value, secret: secretValue, testSecret: testValue, generated };
}

function checkScope(input: { team_id?: string | null | undefined; read_access?: string | undefined; shared_team_slugs?: string[] | undefined }): void {
  const issues: FieldIssue[] = [];
  if (input.read_access === 'TEAM' && !input.team_id) issues.push({ path: 'team_id', message: 'is required when read_access is TEAM' });
  if (input.read_access === 'SPECIFIC_TEAMS' && !input.team_id) issues.push({ path: 'team_id', message: 'is required when read_access is SPECIFIC_TEAMS' });
  if (input.read_access !== 'SPECIFIC_TEAMS' && (input.shared_team_slugs ?? []).length > 0) {
    issues.push({ path: 'shared_team_slugs', message: 'must be empty unless read_access is SPECIFIC_TEAMS' });
  }
  if (issues.length > 0) throw validationFailed(issues);
}

function lifecycle(
  now: string,
  current: CredentialRow | null,
  status: CredentialRow['status'] | undefined,
  deactivationTime: string | null | undefined,
): { status: CredentialRow['status']; deactivationTime: string | null } {
  let next = status ?? current?.status ?? 'active';
  let time = deactivationTime === undefined ? (current?.deactivationTime ?? null) : toUtc(deactivationTime);
  if (current?.status === 'deactivated') {
    throw new LatchkeyError('CONFLICT', 'A deactivated credential is permanent and cannot be changed');
  }
  if (next === 'deactivated') time = time !== null && time < now ? time : now;
  // A deactivation time that has already passed takes effect now.
  else if (time !== null && time <= now) {
    next = 'deactivated';
  }
  return { status: next, deactivationTime: time };
}

export function buildRow(
  catalog: Catalog,
  at: Date,
  ctx: RequestContext,
  id: string,
  input: CredentialInput,
  checked: Checked,
  base: CredentialRow | null,
  version: number,
): CredentialRow {
  const now = at.toISOString();
  const life = lifecycle(now, base, input.status, input.deactivation_time);
  const teamId = input.team_id ?? null;
  const readAccess = input.read_access ?? (teamId ? 'TEAM' : 'GLOBAL');
  checkScope({ team_id: teamId, read_access: readAccess, shared_team_slugs: input.shared_team_slugs });
  const t = catalog.get(input.type);
  return {
    tenantId: ctx.principal.tenantId,
    id,
    name: input.name,
    slug: slugOf(input.name) || id.toLowerCase(),
    type: input.type,
    provider: input.provider ?? null,
    integrationId: input.integration_id ?? null,
    description: input.description ?? '',
    status: life.status,
    deactivationTime: life.deactivationTime,
    config: checked.config,
    secretFields: t ? t.secretFields.filter((f) => f in checked.secret) : [],
    metadata: input.metadata ?? {},
    allowedHosts: input.allowed_hosts ?? [],
    proxyRules: input.proxy_rules ?? {},
    teamId,
    folderId: input.folder_id ?? null,
    readAccess,
    sharedTeamSlugs: input.shared_team_slugs ?? [],
    testCredentialEnabled: input.test_credential_enabled ?? false,
    version,
    revision: (base?.revision ?? 0) + 1,
    expiresAt: toUtc(input.expires_at),
    lastUsedAt: base?.lastUsedAt ?? null,
    lastError: null,
    createdAt: base?.createdAt ?? now,
    updatedAt: now,
    createdBy: base?.createdBy ?? actorRef(ctx),
    modifiedBy: actorRef(ctx),
    deletedAt: null,
    ...rotationPolicy(
      at,
      base,
      input.rotation_interval_days === undefined ? (base?.rotationIntervalDays ?? null) : input.rotation_interval_days,
      version !== base?.version,
    ),
  };
}

/**
 * When the scheduler next acts on the rotation policy: a new secret (or a new interval) starts
 * the clock again and clears `rotation_due`.
 */
export function rotationPolicy(
  now: Date,
  base: CredentialRow | null,
  intervalDays: number | null,
  newSecret: boolean,
): Pick<CredentialRow, 'rotationIntervalDays' | 'nextRotationAt' | 'rotationDue'> {
  if (intervalDays === null) return { rotationIntervalDays: null, nextRotationAt: null, rotationDue: false };
  if (base && !newSecret && base.rotationIntervalDays === intervalDays) {
    return { rotationIntervalDays: intervalDays, nextRotationAt: base.nextRotationAt, rotationDue: base.rotationDue };
  }
  const next = new Date(now.getTime() + intervalDays * 86_400_000).toISOString();
  return { rotationIntervalDays: intervalDays, nextRotationAt: next, rotationDue: false };
}

/**
 * What an event about a credential says of it beyond its id (audit `detail`): its type and team,
 * so a consumer (a webhook scoped to a team, an events filter) needs no lookup, even after a
 * purge; plus the facts of the change. Never a secret.
 */
export function credentialFacts(c: Pick<CredentialRow, 'type' | 'teamId'>, more: EventDetail = {}): EventDetail {
  return { type: c.type, team_id: c.teamId, ...more };
}
