/**
 * The records storage keeps and hands back, and the queries over them: what the store port's
 * methods take and return, and what services and HTTP views work with. They live here, not in
 * store/, so that HTTP can read them without depending on storage.
 */

export interface ActorRef {
  type: 'access_key' | 'user' | 'workload' | 'system' | 'anonymous';
  id: string;
  name: string;
  email: string | null;
}

export type CredentialStatus = 'active' | 'inactive' | 'deactivated';

export type ReadAccess = 'TEAM' | 'GLOBAL' | 'SPECIFIC_TEAMS';

export type VersionStage = 'current' | 'previous' | 'pending' | 'deprecated';

export interface TenantRow {
  id: string;
  name: string;
  createdAt: string;
}

export interface TeamRow {
  tenantId: string;
  id: string;
  slug: string;
  name: string;
  createdAt: string;
  updatedAt: string;
  revision: number;
}

export interface FolderRow {
  tenantId: string;
  id: string;
  teamId: string;
  name: string;
  createdAt: string;
  updatedAt: string;
}

export interface TenantKeyRow {
  tenantId: string;
  version: number;
  wrappedKey: Buffer;
  rootKeyId: string;
  createdAt: string;
}

export interface AccessKeyRow {
  id: string;
  tenantId: string;
  name: string;
  type: string;
  role: string;
  teamIds: string[];
  prefix: string;
  /** SHA-256 of the whole key: keys are 32 random bytes, so a slow hash buys nothing. */
  keyHash: Buffer;
  platformAdmin: boolean;
  expiresAt: string | null;
  lastUsedAt: string | null;
  createdAt: string;
  updatedAt: string;
  revision: number;
  createdBy: ActorRef | null;
}

export interface CredentialRow {
  tenantId: string;
  id: string;
  name: string;
  slug: string;
  type: string;
  provider: string | null;
  integrationId: string | null;
  description: string;
  status: CredentialStatus;
  deactivationTime: string | null;
  config: Record<string, unknown>;
  secretFields: string[];
  metadata: Record<string, unknown>;
  allowedHosts: string[];
  teamId: string | null;
  folderId: string | null;
  readAccess: ReadAccess;
  sharedTeamSlugs: string[];
  testCredentialEnabled: boolean;
  version: number;
  revision: number;
  expiresAt: string | null;
  lastUsedAt: string | null;
  lastError: string | null;
  /** Rotation policy: rotate every N days; `nextRotationAt` is when the scheduler acts next. */
  rotationIntervalDays: number | null;
  nextRotationAt: string | null;
  /** Set when a rotation fell due that only a person can do (the type cannot make its own secret). */
  rotationDue: boolean;
  /** What the proxy may send with the credential besides `allowedHosts` (services/proxy/proxy-rules.ts). */
  proxyRules: ProxyRules;
  createdAt: string;
  updatedAt: string;
  createdBy: ActorRef;
  modifiedBy: ActorRef;
  deletedAt: string | null;
}

export interface VersionRow {
  tenantId: string;
  credentialId: string;
  version: number;
  stage: VersionStage;
  secret: Buffer;
  testSecret: Buffer | null;
  /** A `previous` version stays readable until then (the rotation's grace period). */
  expiresAt: string | null;
  createdAt: string;
  createdBy: ActorRef;
}

export type AuditOutcome = 'success' | 'denied' | 'not_found' | 'failure';

/** An audit event's `detail`: flat, and never a secret (see AuditRow.detail). */
export type EventDetail = Readonly<Record<string, string | number | boolean | null>>;

export interface AuditRow {
  id: string;
  tenantId: string;
  at: string;
  actor: ActorRef;
  action: string;
  targetType: string;
  targetId: string | null;
  /** `not_found`: a request for something the caller cannot see (a probe), answered 404. */
  outcome: AuditOutcome;
  reason: string | null;
  requestId: string;
  ip: string;
  userAgent: string;
  /**
   * Refusals grouped into this event (services/audit/refusal-windows.ts): the event stands for
   * itself and this many more like it. Absent or 0 on every other event.
   */
  suppressed?: number;
  /**
   * Facts an event's consumers need beyond its action and target (a rotation's new version, the
   * status a change set, a refresh failure's category, an expiry warning's lead time). Never a
   * secret: only ids, numbers, fixed words and timestamps go here. Absent on most events.
   */
  detail?: EventDetail;
  seq: number | null;
  hash: string | null;
  prevHash: string | null;
}

export interface Seal {
  id: string;
  seq: number;
  hash: string;
  prevHash: string;
}

export interface ChainHead {
  seq: number;
  hash: string;
}

export interface IdempotencyRow {
  tenantId: string;
  key: string;
  principalId: string;
  fingerprint: string;
  state: 'pending' | 'done';
  status: number | null;
  response: Buffer | null;
  createdAt: string;
}

/** Which credentials the caller may see; `all` for roles that see the whole tenant. */
export type Visibility = { all: true } | { all: false; teamIds: readonly string[]; teamSlugs: readonly string[] };

export interface CredentialFilter {
  name?: string;
  type?: string;
  /** Any of these types (a dialect that shows several types lists them in one keyset/offset query). */
  types?: readonly string[];
  status?: CredentialStatus;
  provider?: string;
  integrationId?: string;
  teamId?: string;
  folderId?: string;
  expiresBefore?: string;
  rotationDue?: boolean;
}

/** Keyset position: the last row of the previous page in (created_at desc, id desc) order. */
export interface Keyset {
  createdAt: string;
  id: string;
}

export interface PageQuery {
  limit: number;
  offset?: number;
  after?: Keyset;
}

export interface CredentialWrite {
  credential: CredentialRow;
  version: VersionRow | null;
  /** Stage changes of older versions written with the new one, e.g. current → previous. */
  restage?: Array<{ version: number; stage: VersionStage; expiresAt: string | null }>;
  audit: AuditRow[];
}

export interface AuditQuery {
  credentialId?: string;
  action?: string;
  outcome?: AuditOutcome;
  actorId?: string;
  since?: string;
  until?: string;
}

export interface AccessKeyFilter {
  name?: string;
  type?: string;
}

export interface UsageTouch {
  tenantId: string;
  id: string;
  at: string;
}

/** `appendAudit` resolves once the events are committed; `durable` once they would survive a power cut. */
export interface AuditAppended {
  durable: Promise<void>;
}

/**
 * How `appendAudit` seals a tenant's events as it writes them: the `decide` of `sealAuditChain`
 * for that tenant, or null to leave them unsealed for the sealer (no checkpoint key to hand).
 */
export type AppendSeal = (tenantId: string) => ((round: SealRound) => SealDecision) | null;

/** A pending OAuth authorization (between connect and callback). */
export interface OAuthStateRow {
  /** SHA-256 (hex) of the state parameter; the state itself is never stored. */
  stateHash: string;
  tenantId: string;
  credentialId: string;
  /** Who started it: the callback acts as them. */
  principal: { type: ActorRef['type']; id: string; name: string; email: string | null; role: string; teamIds: string[] };
  /** PKCE code verifier, sealed by the tenant's keyring; null without PKCE. */
  codeVerifier: Buffer | null;
  nonce: string | null;
  redirectUri: string;
  returnTo: string | null;
  createdAt: string;
  expiresAt: string;
}

/** The refresh bookkeeping of one credential. The schedule fields apply to `revision` only. */
export interface RefreshState {
  claimedBy: string | null;
  claimExpiresAt: string | null;
  fence: number;
  revision: number | null;
  nextAt: string | null;
  failures: number;
  blocked: boolean;
}

/** What a refresh leaves behind for the scheduler, tied to the revision it writes. */
export interface RefreshSchedule {
  revision: number;
  nextAt: string | null;
  failures: number;
  blocked: boolean;
}

/** A data key re-wrapped under another root key (`fromRootKeyId` is what the row must still say). */
export interface TenantKeyRewrap {
  version: number;
  fromRootKeyId: string;
  wrappedKey: Buffer;
  rootKeyId: string;
}

export interface TenantKeyInfo {
  tenantId: string;
  version: number;
  rootKeyId: string;
  createdAt: string;
}

/** A slot re-sealed under the current data key: written only while the slot still holds `from`. */
export interface VersionReseal {
  credentialId: string;
  version: number;
  slot: 'secret' | 'test_secret';
  from: Buffer;
  to: Buffer;
}

export interface SealedCount {
  tenantId: string;
  slot: 'secret' | 'test_secret';
  keyVersion: number;
  rows: number;
}

/**
 * An event as verification reads it: `actor_id` is a column of its own (what `filter[actor_id]`
 * searches) next to the actor JSON, so verification checks that the two agree.
 */
export interface SealedAuditRow extends AuditRow {
  actorIdColumn: string;
}

/** The head of a chain with the id of its newest event. */
export interface ChainHeadRow extends ChainHead {
  id: string;
}

export interface SealRound {
  /** The newest sealed event in the events table, whatever the checkpoint says. */
  head: ChainHeadRow | null;
  /** The stored checkpoint (opaque text the audit service makes and checks), or null. */
  checkpoint: string | null;
  events: AuditRow[];
}

export interface SealDecision {
  seals: Seal[];
  /** Replaces the stored checkpoint; `undefined` keeps what is stored. */
  checkpoint?: string | null;
}

export interface AuditChainState {
  head: ChainHeadRow | null;
  checkpoint: string | null;
}

export interface AuditRetentionBoundary {
  firstSeq: number;
  throughSeq: number;
  throughHash: string;
}

export interface AuditSinkWork {
  tenantId: string;
  /** Highest seq the sink acknowledged. */
  delivered: number;
  head: number;
}

/** Absent or empty lists allow every method / every path. */
export interface ProxyRules {
  /** Upper-case HTTP methods. */
  methods?: string[];
  /** Path prefixes matched segment by segment (`/v1/mail` allows `/v1/mail` and `/v1/mail/send`, not `/v1/mailbox`). */
  path_prefixes?: string[];
}

/** A short-lived token derived from one version of a credential, sealed (AAD: tenant, credential, version). */
export interface DerivedTokenRow {
  tenantId: string;
  credentialId: string;
  credentialVersion: number;
  sealed: Buffer;
  /** null: it does not expire (it is used until the credential changes). */
  expiresAt: string | null;
  createdAt: string;
}
