import type {
  AccessKeyRow,
  ActorRef,
  AuditRow,
  ChainHeadRow,
  CredentialRow,
  FolderRow,
  IdempotencyRow,
  OAuthStateRow,
  RefreshState,
  TeamRow,
  TenantKeyRow,
  TenantRow,
  VersionRow,
} from '../domain/records.js';

/**
 * Column ⇄ row mapping shared by both adapters: same schema, same column names. Records come
 * back from the drivers as plain objects with snake_case keys.
 */
export type DbRecord = Record<string, unknown>;

const str = (v: unknown): string => v as string;
const strOrNull = (v: unknown): string | null => (v === null || v === undefined ? null : (v as string));
const num = (v: unknown): number => Number(v);
const buf = (v: unknown): Buffer => (Buffer.isBuffer(v) ? v : Buffer.from(v as Uint8Array));
const json = <T>(v: unknown): T => JSON.parse(v as string) as T;

export function tenantFromRecord(r: DbRecord): TenantRow {
  return { id: str(r.id), name: str(r.name), createdAt: str(r.created_at) };
}

export function teamFromRecord(r: DbRecord): TeamRow {
  return {
    tenantId: str(r.tenant_id),
    id: str(r.id),
    slug: str(r.slug),
    name: str(r.name),
    createdAt: str(r.created_at),
    updatedAt: str(r.updated_at),
    revision: num(r.revision),
  };
}

export function folderFromRecord(r: DbRecord): FolderRow {
  return { tenantId: str(r.tenant_id), id: str(r.id), teamId: str(r.team_id), name: str(r.name), createdAt: str(r.created_at), updatedAt: str(r.updated_at) };
}

export function tenantKeyFromRecord(r: DbRecord): TenantKeyRow {
  return { tenantId: str(r.tenant_id), version: num(r.version), wrappedKey: buf(r.wrapped_key), rootKeyId: str(r.root_key_id), createdAt: str(r.created_at) };
}

export const ACCESS_KEY_COLUMNS = [
  'tenant_id',
  'id',
  'name',
  'type',
  'role',
  'team_ids',
  'prefix',
  'key_hash',
  'platform_admin',
  'expires_at',
  'last_used_at',
  'created_at',
  'updated_at',
  'revision',
  'created_by',
  'expiry_check_at',
] as const;

export function accessKeyToParams(k: AccessKeyRow): unknown[] {
  return [
    k.tenantId,
    k.id,
    k.name,
    k.type,
    k.role,
    JSON.stringify(k.teamIds),
    k.prefix,
    k.keyHash,
    k.platformAdmin ? 1 : 0,
    k.expiresAt,
    k.lastUsedAt,
    k.createdAt,
    k.updatedAt,
    k.revision,
    k.createdBy ? JSON.stringify(k.createdBy) : null,
    // An access key's expiry never changes: the expiry scheduler looks at it once it exists.
    k.expiresAt !== null ? k.createdAt : null,
  ];
}

export function accessKeyFromRecord(r: DbRecord): AccessKeyRow {
  return {
    tenantId: str(r.tenant_id),
    id: str(r.id),
    name: str(r.name),
    type: str(r.type),
    role: str(r.role),
    teamIds: json<string[]>(r.team_ids),
    prefix: str(r.prefix),
    keyHash: buf(r.key_hash),
    platformAdmin: num(r.platform_admin) === 1,
    expiresAt: strOrNull(r.expires_at),
    lastUsedAt: strOrNull(r.last_used_at),
    createdAt: str(r.created_at),
    updatedAt: str(r.updated_at),
    revision: num(r.revision),
    createdBy: r.created_by ? json<ActorRef>(r.created_by) : null,
  };
}

export const CREDENTIAL_COLUMNS = [
  'tenant_id',
  'id',
  'name',
  'slug',
  'type',
  'provider',
  'integration_id',
  'description',
  'status',
  'deactivation_time',
  'config',
  'secret_fields',
  'metadata',
  'allowed_hosts',
  'team_id',
  'folder_id',
  'read_access',
  'shared_team_slugs',
  'test_credential_enabled',
  'version',
  'revision',
  'expires_at',
  'last_used_at',
  'last_error',
  'created_at',
  'updated_at',
  'created_by',
  'modified_by',
  'deleted_at',
  'rotation_interval_days',
  'next_rotation_at',
  'rotation_due',
  'proxy_rules',
  'expiry_check_at',
] as const;

export function credentialToParams(c: CredentialRow): unknown[] {
  return [
    c.tenantId,
    c.id,
    c.name,
    c.slug,
    c.type,
    c.provider,
    c.integrationId,
    c.description,
    c.status,
    c.deactivationTime,
    JSON.stringify(c.config),
    JSON.stringify(c.secretFields),
    JSON.stringify(c.metadata),
    JSON.stringify(c.allowedHosts),
    c.teamId,
    c.folderId,
    c.readAccess,
    JSON.stringify(c.sharedTeamSlugs),
    c.testCredentialEnabled ? 1 : 0,
    c.version,
    c.revision,
    c.expiresAt,
    c.lastUsedAt,
    c.lastError,
    c.createdAt,
    c.updatedAt,
    JSON.stringify(c.createdBy),
    JSON.stringify(c.modifiedBy),
    c.deletedAt,
    c.rotationIntervalDays,
    c.nextRotationAt,
    c.rotationDue ? 1 : 0,
    JSON.stringify(c.proxyRules),
    expiryCheckAt(c),
  ];
}

/**
 * When the expiry scheduler (services/events/expiry-scheduler.ts) should look at a credential
 * written now: at once, if it is live and has an expiry (its own, or an OAuth2 refresh token's);
 * never otherwise. The scheduler then moves it to the next notice due. Every write resets it, so
 * a moved expiry, a restore or a refresh is looked at again; what was noticed is kept apart.
 */
function expiryCheckAt(c: CredentialRow): string | null {
  const has = c.expiresAt !== null || typeof c.config.refresh_token_expires_at === 'string';
  return c.deletedAt === null && has ? c.updatedAt : null;
}

export function credentialFromRecord(r: DbRecord): CredentialRow {
  return {
    tenantId: str(r.tenant_id),
    id: str(r.id),
    name: str(r.name),
    slug: str(r.slug),
    type: str(r.type),
    provider: strOrNull(r.provider),
    integrationId: strOrNull(r.integration_id),
    description: str(r.description),
    status: str(r.status) as CredentialRow['status'],
    deactivationTime: strOrNull(r.deactivation_time),
    config: json(r.config),
    secretFields: json(r.secret_fields),
    metadata: json(r.metadata),
    allowedHosts: json(r.allowed_hosts),
    teamId: strOrNull(r.team_id),
    folderId: strOrNull(r.folder_id),
    readAccess: str(r.read_access) as CredentialRow['readAccess'],
    sharedTeamSlugs: json(r.shared_team_slugs),
    testCredentialEnabled: num(r.test_credential_enabled) === 1,
    version: num(r.version),
    revision: num(r.revision),
    expiresAt: strOrNull(r.expires_at),
    lastUsedAt: strOrNull(r.last_used_at),
    lastError: strOrNull(r.last_error),
    createdAt: str(r.created_at),
    updatedAt: str(r.updated_at),
    createdBy: json(r.created_by),
    modifiedBy: json(r.modified_by),
    deletedAt: strOrNull(r.deleted_at),
    rotationIntervalDays: r.rotation_interval_days === null || r.rotation_interval_days === undefined ? null : num(r.rotation_interval_days),
    nextRotationAt: strOrNull(r.next_rotation_at),
    rotationDue: num(r.rotation_due) === 1,
    proxyRules: r.proxy_rules === undefined || r.proxy_rules === null ? {} : json(r.proxy_rules),
  };
}

export const VERSION_COLUMNS = ['tenant_id', 'credential_id', 'version', 'stage', 'secret', 'test_secret', 'expires_at', 'created_at', 'created_by'] as const;

export function versionToParams(v: VersionRow): unknown[] {
  return [v.tenantId, v.credentialId, v.version, v.stage, v.secret, v.testSecret, v.expiresAt, v.createdAt, JSON.stringify(v.createdBy)];
}

export function versionFromRecord(r: DbRecord): VersionRow {
  return {
    tenantId: str(r.tenant_id),
    credentialId: str(r.credential_id),
    version: num(r.version),
    stage: str(r.stage) as VersionRow['stage'],
    secret: buf(r.secret),
    testSecret: r.test_secret === null || r.test_secret === undefined ? null : buf(r.test_secret),
    expiresAt: strOrNull(r.expires_at),
    createdAt: str(r.created_at),
    createdBy: json(r.created_by),
  };
}

export const AUDIT_COLUMNS = [
  'id',
  'tenant_id',
  'at',
  'actor',
  'actor_id',
  'action',
  'target_type',
  'target_id',
  'outcome',
  'reason',
  'request_id',
  'ip',
  'user_agent',
  'seq',
  'hash',
  'prev_hash',
  'suppressed',
  'detail',
] as const;

export function auditToParams(e: AuditRow): unknown[] {
  return [
    e.id,
    e.tenantId,
    e.at,
    JSON.stringify(e.actor),
    e.actor.id,
    e.action,
    e.targetType,
    e.targetId,
    e.outcome,
    e.reason,
    e.requestId,
    e.ip,
    e.userAgent,
    e.seq,
    e.hash,
    e.prevHash,
    e.suppressed ?? 0,
    e.detail ? JSON.stringify(e.detail) : null,
  ];
}

export function auditFromRecord(r: DbRecord): AuditRow {
  return {
    id: str(r.id),
    tenantId: str(r.tenant_id),
    at: str(r.at),
    actor: json(r.actor),
    action: str(r.action),
    targetType: str(r.target_type),
    targetId: strOrNull(r.target_id),
    outcome: str(r.outcome) as AuditRow['outcome'],
    reason: strOrNull(r.reason),
    requestId: str(r.request_id),
    ip: str(r.ip),
    userAgent: str(r.user_agent),
    seq: r.seq === null || r.seq === undefined ? null : num(r.seq),
    hash: strOrNull(r.hash),
    prevHash: strOrNull(r.prev_hash),
    ...(r.suppressed !== null && r.suppressed !== undefined && num(r.suppressed) > 0 ? { suppressed: num(r.suppressed) } : {}),
    ...(typeof r.detail === 'string' ? { detail: json(r.detail) } : {}),
  };
}

export function idempotencyFromRecord(r: DbRecord): IdempotencyRow {
  return {
    tenantId: str(r.tenant_id),
    key: str(r.key),
    principalId: str(r.principal_id),
    fingerprint: str(r.fingerprint),
    state: str(r.state) as IdempotencyRow['state'],
    status: r.status === null ? null : num(r.status),
    response: r.response === null || r.response === undefined ? null : buf(r.response),
    createdAt: str(r.created_at),
  };
}

export function idPair(r: DbRecord): { tenantId: string; id: string } {
  return { tenantId: str(r.tenant_id), id: str(r.id) };
}

export function placeholders(n: number): string {
  return Array.from({ length: n }, () => '?').join(', ');
}

export function insertSql(table: string, columns: readonly string[]): string {
  return `INSERT INTO ${table} (${columns.join(', ')}) VALUES (${placeholders(columns.length)})`;
}

/** Where a seal starts from: the newest sealed event (`SELECT seq, id, hash`), or null. */
export function chainHeadFromRecord(r: DbRecord | undefined): ChainHeadRow | null {
  return r ? { seq: num(r.seq), id: str(r.id), hash: str(r.hash) } : null;
}

export const OAUTH_STATE_COLUMNS = [
  'state_hash',
  'tenant_id',
  'credential_id',
  'principal',
  'code_verifier',
  'nonce',
  'redirect_uri',
  'return_to',
  'created_at',
  'expires_at',
] as const;

export function oauthStateToParams(s: OAuthStateRow): unknown[] {
  return [s.stateHash, s.tenantId, s.credentialId, JSON.stringify(s.principal), s.codeVerifier, s.nonce, s.redirectUri, s.returnTo, s.createdAt, s.expiresAt];
}

export function oauthStateFromRecord(r: DbRecord): OAuthStateRow {
  return {
    stateHash: str(r.state_hash),
    tenantId: str(r.tenant_id),
    credentialId: str(r.credential_id),
    principal: json(r.principal),
    codeVerifier: r.code_verifier === null || r.code_verifier === undefined ? null : buf(r.code_verifier),
    nonce: strOrNull(r.nonce),
    redirectUri: str(r.redirect_uri),
    returnTo: strOrNull(r.return_to),
    createdAt: str(r.created_at),
    expiresAt: str(r.expires_at),
  };
}

export const REFRESH_STATE_COLUMNS = [
  'refresh_claimed_by',
  'refresh_claim_expires_at',
  'refresh_fence',
  'refresh_revision',
  'refresh_next_at',
  'refresh_failures',
  'refresh_blocked',
] as const;

export function refreshStateFromRecord(r: DbRecord): RefreshState {
  return {
    claimedBy: strOrNull(r.refresh_claimed_by),
    claimExpiresAt: strOrNull(r.refresh_claim_expires_at),
    fence: num(r.refresh_fence),
    revision: r.refresh_revision === null || r.refresh_revision === undefined ? null : num(r.refresh_revision),
    nextAt: strOrNull(r.refresh_next_at),
    failures: num(r.refresh_failures),
    blocked: num(r.refresh_blocked) === 1,
  };
}
