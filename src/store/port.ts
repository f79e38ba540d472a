import type { AwsKeyPairStore } from './aws-key-pairs-sql.js';
import type { DeletedNameStore } from './deleted-names-sql.js';

/**
 * What services may ask of storage. Adapters (sqlite/, postgres/) know SQL and nothing of the
 * rules. Every method over tenant data takes the tenant id first; there is no unscoped read of
 * tenant data. Compound writes are single methods so each adapter can make them atomic in its
 * own way (better-sqlite3 is synchronous, pg is not).
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

export interface StoreCapabilities {
  /** Several server processes may share this store (so caches need cross-process invalidation). */
  multiProcess: boolean;
  /**
   * `appendAudit` can seal the events onto their chains in its own transaction (one writer orders
   * every append), instead of leaving them for the sealer's second pass over the same rows.
   */
  sealsOnAppend: boolean;
}

/**
 * How `appendAudit` seals a tenant's events as it writes them: the `decide` of `sealAuditChain`
 * for that tenant, or null to leave them unsealed for the sealer (no checkpoint key to hand).
 */
/** `appendAudit` resolves once the events are committed; `durable` once they would survive a power cut. */
export interface AuditAppended {
  durable: Promise<void>;
}

export type AppendSeal = (tenantId: string) => ((round: SealRound) => SealDecision) | null;

export interface Store extends AwsKeyPairStore, DeletedNameStore {
  readonly kind: 'sqlite' | 'postgres';
  readonly capabilities: StoreCapabilities;
  migrate(): Promise<void>;
  ping(): Promise<void>;
  close(): Promise<void>;

  getMeta(key: string): Promise<string | null>;
  /** Sets the value only if none exists; returns the value now stored. */
  initMeta(key: string, value: string): Promise<string>;

  /** Throws `RootKeyMoved` when `key` is wrapped by another root key than the store's (see `ROOT_KEY_ID_META`). */
  createTenant(tenant: TenantRow, key: TenantKeyRow, ownerKey: AccessKeyRow | null, audit: AuditRow[]): Promise<void>;
  getTenant(tenantId: string): Promise<TenantRow | null>;
  listTenants(tenantIds: readonly string[] | 'all'): Promise<TenantRow[]>;
  countTenants(): Promise<number>;
  listTenantKeys(tenantId: string): Promise<TenantKeyRow[]>;

  /** Authentication only: the one lookup not scoped by tenant, by the key's hash. */
  findAccessKeyByHash(keyHash: Buffer): Promise<AccessKeyRow | null>;
  insertAccessKey(tenantId: string, key: AccessKeyRow, audit: AuditRow[]): Promise<void>;
  getAccessKey(tenantId: string, id: string): Promise<AccessKeyRow | null>;
  listAccessKeys(tenantId: string, filter: AccessKeyFilter, page: PageQuery): Promise<{ rows: AccessKeyRow[]; total: number }>;
  /** Compare-and-set on revision; returns false when the revision moved. */
  updateAccessKey(tenantId: string, key: AccessKeyRow, expectedRevision: number, audit: AuditRow[]): Promise<boolean>;
  /**
   * Deletes the key unless that would leave the tenant without a key holding one of `guardRoles`
   * that is still valid at `activeAt` (an expired manager key cannot manage anything).
   * Returns 'deleted', 'last_manager' or 'stale' (revision moved / gone).
   */
  deleteAccessKey(tenantId: string, id: string, expectedRevision: number | null, guardRoles: readonly string[], activeAt: string, audit: AuditRow[]): Promise<'deleted' | 'last_manager' | 'stale'>;
  touchAccessKeys(touches: readonly UsageTouch[]): Promise<void>;

  insertCredential(tenantId: string, write: CredentialWrite): Promise<'inserted' | 'id_taken' | 'slug_taken'>;
  getCredential(tenantId: string, id: string): Promise<CredentialRow | null>;
  listCredentials(tenantId: string, visibility: Visibility, filter: CredentialFilter, page: PageQuery): Promise<{ rows: CredentialRow[]; total: number }>;
  /** Compare-and-set on revision; returns 'stale' when it moved, 'slug_taken' on a name clash. */
  /** `last_account_credential`: the write deletes the tenant's last live smtp/api_key credential (queries.ts), refused. */
  updateCredential(tenantId: string, expectedRevision: number, write: CredentialWrite): Promise<'updated' | 'stale' | 'slug_taken' | 'last_account_credential'>;
  /** Removes the credential and every version (key material gone for good). */
  purgeCredential(tenantId: string, id: string, audit: AuditRow[]): Promise<boolean | 'last_account_credential'>;
  getVersion(tenantId: string, credentialId: string, version: number): Promise<VersionRow | null>;
  /** A credential with its current version (null when that row is missing): what a reveal reads, in one query where that saves a round trip. */
  getCredentialWithVersion(tenantId: string, id: string): Promise<{ credential: CredentialRow; version: VersionRow | null } | null>;
  listVersions(tenantId: string, credentialId: string): Promise<VersionRow[]>;
  touchCredentials(touches: readonly UsageTouch[]): Promise<void>;

  /** Appends events that need no other write (reveals, denials) and records usage, atomically. */
  /**
   * Writes events on their own (reveals, denials) with the usage touches they bring. With `seal`
   * (stores that can: `capabilities.sealsOnAppend`) the events are sealed in the same transaction,
   * unless their tenant has older unsealed events, which the sealer then takes in order.
   */
  appendAudit(events: readonly AuditRow[], credentialTouches: readonly UsageTouch[], seal?: AppendSeal): Promise<AuditAppended>;
  listAudit(tenantId: string, query: AuditQuery, page: PageQuery): Promise<AuditRow[]>;
  tenantsWithUnsealedAudit(): Promise<string[]>;
  countUnsealedAudit(tenantId: string): Promise<number>;

  reserveIdempotencyKey(row: IdempotencyRow, staleBefore: string): Promise<{ reserved: true } | { reserved: false; existing: IdempotencyRow }>;
  completeIdempotencyKey(tenantId: string, key: string, status: number, response: Buffer): Promise<void>;
  releaseIdempotencyKey(tenantId: string, key: string): Promise<void>;
  purgeIdempotencyKeys(createdBefore: string): Promise<number>;

  // lifecycle jobs: the only scans across tenants; they return ids, and the jobs then act
  // through the tenant-scoped methods above.
  listDueDeactivations(now: string, limit: number): Promise<Array<{ tenantId: string; id: string }>>;
  listDueRotations(now: string, limit: number): Promise<Array<{ tenantId: string; id: string }>>;
  listDeletedBefore(before: string, limit: number): Promise<Array<{ tenantId: string; id: string }>>;

  // teams and folders
  /** Also drops the new slug from every credential's `shared_team_slugs` (a share left by a former team of that slug). */
  insertTeam(tenantId: string, team: TeamRow, audit: AuditRow[]): Promise<'inserted' | 'slug_taken'>;
  getTeam(tenantId: string, id: string): Promise<TeamRow | null>;
  listTeams(tenantId: string): Promise<TeamRow[]>;
  /** Compare-and-set on revision. */
  updateTeam(tenantId: string, team: TeamRow, expectedRevision: number, audit: AuditRow[]): Promise<'updated' | 'stale' | 'slug_taken'>;
  /**
   * Refuses ('in_use') while a credential (even soft-deleted) or a folder still belongs to the
   * team; else deletes it and, in the same transaction, drops its slug from every credential's
   * `shared_team_slugs` (each such credential's revision moves and `updated_at` becomes `at`).
   */
  deleteTeam(tenantId: string, id: string, at: string, audit: AuditRow[]): Promise<'deleted' | 'in_use' | 'missing'>;
  setAccessKeyTeams(tenantId: string, keyId: string, teamIds: readonly string[], audit: AuditRow[]): Promise<boolean>;
  insertFolder(tenantId: string, folder: FolderRow, audit: AuditRow[]): Promise<'inserted' | 'name_taken'>;
  getFolder(tenantId: string, id: string): Promise<FolderRow | null>;
  listFolders(tenantId: string): Promise<FolderRow[]>;
  deleteFolder(tenantId: string, id: string, audit: AuditRow[]): Promise<'deleted' | 'in_use' | 'missing'>;

  // cross-process coordination
  /**
   * Tells the other processes sharing this store that what they cached under (topic, key) is
   * stale: `access_key` is keyed by the hex SHA-256 of the key, `keyring` by tenant id. Call it
   * after the change committed (a process that re-reads on receipt must see the change) and
   * after dropping this process's own cache: delivery back to the sender is not promised.
   * Best effort: a process whose feed was down when it was sent drops every cache when its feed
   * comes back (see `subscribeInvalidations`). A single-process store makes it a no-op.
   */
  publishInvalidation(topic: 'access_key' | 'keyring', key: string): Promise<void>;
  /**
   * Delivers invalidations published by any process to `handler` until closed, and tells it
   * whether the feed is live. While it is not, invalidations may be lost, so caches must not be
   * trusted; each time it turns live again, anything cached before may be stale. Topics are
   * plain strings because a newer process (rolling upgrade) may send one this one does not know.
   * Resolves once the first attempt to go live has finished, live or not; reconnection goes on
   * in the background until `close`.
   */
  subscribeInvalidations(handler: {
    invalidate(topic: string, key: string): void;
    feedState(live: boolean): void;
  }): Promise<{ close(): Promise<void> }>;

  // key management (services/keys). Scans across tenants return ids, versions and counts only,
  // never tenant data; the work on each tenant goes through the tenant-scoped methods.
  /**
   * Compare-and-set of `meta` rows (null = absent) with the audit of the change, in one
   * transaction: false (nothing written) when a row in `expect` holds another value.
   */
  compareAndSetMeta(expect: Readonly<Record<string, string | null>>, set: Readonly<Record<string, string | null>>, audit: readonly AuditRow[]): Promise<boolean>;
  /**
   * Adds a data-key version to a tenant's keyring. Like `createTenant`, throws `RootKeyMoved`
   * when the row is wrapped by another root key than the one the store is wrapped with now.
   */
  insertTenantKey(tenantId: string, key: TenantKeyRow, audit: readonly AuditRow[]): Promise<'inserted' | 'version_taken' | 'no_tenant'>;
  /** The tenant's newest data-key version, or null when it has no keyring. */
  currentTenantKeyVersion(tenantId: string): Promise<number | null>;
  /** Replaces wrapped data keys in one transaction; a row whose `root_key_id` is no longer `fromRootKeyId` is left alone. Returns rows changed. */
  rewrapTenantKeys(tenantId: string, rows: readonly TenantKeyRewrap[]): Promise<number>;
  /** Tenants (in id order, after `after`) with a data key wrapped by another root key than `rootKeyId`. */
  listTenantsToRewrap(rootKeyId: string, after: string | null, limit: number): Promise<string[]>;
  countTenantsToRewrap(rootKeyId: string): Promise<number>;
  /** What status reports need to know of keyrings: no key material. */
  listTenantKeyInfo(tenantIds: readonly string[] | 'all'): Promise<TenantKeyInfo[]>;
  /** Version rows with a slot sealed under another data-key version than `keyVersion`, in (credential, version) order after `after`. */
  listVersionsToReseal(tenantId: string, keyVersion: number, after: { credentialId: string; version: number } | null, limit: number): Promise<VersionRow[]>;
  countVersionsToReseal(tenantId: string, keyVersion: number): Promise<number>;
  /** Writes re-sealed slots in one transaction, each only if the slot still holds the blob it was re-sealed from. Returns slots written. */
  resealVersions(tenantId: string, rows: readonly VersionReseal[]): Promise<number>;
  /** Sealed slots by tenant and by the data-key version in their header. */
  countSealedByKeyVersion(tenantIds: readonly string[] | 'all'): Promise<SealedCount[]>;
  /** Crypto-shredding, step one: deletes the tenant's data keys, with the audit of the purge, in one transaction. Returns keys deleted. */
  destroyTenantKeys(tenantId: string, audit: readonly AuditRow[]): Promise<number>;
  /** Step two: every row of the tenant, in every table, and the tenant. Returns the hashes of the access keys it held. */
  purgeTenantRows(tenantId: string): Promise<{ purged: boolean; accessKeyHashes: Buffer[] }>;

  // audit sinks and retention
  /**
   * Seals up to `limit` unsealed events of a tenant in one transaction holding the tenant's chain
   * lock, and keeps the tenant's row in `audit_chain_heads` (head and checkpoint) in the same
   * transaction. `decide` (pure, synchronous) gets the head as the events table has it, the
   * stored checkpoint and the events in order.
   */
  sealAuditChain(tenantId: string, limit: number, decide: (round: SealRound) => SealDecision): Promise<number>;
  /** The tenant's `audit_chain_heads` row: the head as last sealed and the stored checkpoint. */
  getAuditChainState(tenantId: string): Promise<AuditChainState>;
  /** Sealed events in chain order after `afterSeq`, with the `actor_id` column as stored. */
  readSealedAudit(tenantId: string, afterSeq: number, limit: number): Promise<SealedAuditRow[]>;
  /** The sealed event of `action` with the highest seq (the retention anchor verification starts from). */
  latestSealedAudit(tenantId: string, action: string): Promise<AuditRow | null>;
  /** Stores the tenant's sealed checkpoint key unless one exists; returns the one stored. */
  initAuditChainKey(tenantId: string, sealedKey: Buffer, createdAt: string): Promise<{ sealedKey: Buffer; created: boolean }>;
  /** Every tenant id with a chain (the platform chain '' included). */
  listAuditChains(): Promise<string[]>;
  /**
   * The start of the chain that may be purged: sealed events from the first one through the last
   * one older than `before`, at most `maxEvents`, never the newest sealed event.
   */
  auditRetentionBoundary(tenantId: string, before: string, maxEvents: number): Promise<AuditRetentionBoundary | null>;
  /**
   * Deletes the sealed events with seq <= `throughSeq` and inserts `anchor`, atomically under the
   * chain lock, only while the event at `throughSeq` still has `throughHash`. Returns events deleted.
   */
  purgeAuditThrough(tenantId: string, throughSeq: number, throughHash: string, anchor: AuditRow): Promise<number>;
  /** Chains with sealed events past what `sink` has acknowledged. */
  listAuditSinkWork(sink: string): Promise<AuditSinkWork[]>;
  /** What `sink` has acknowledged of a tenant's chain (0 = nothing). */
  getAuditSinkCursor(sink: string, tenantId: string): Promise<number>;
  /** Moves the cursor forward to `seq` (never back). */
  advanceAuditSinkCursor(sink: string, tenantId: string, seq: number): Promise<void>;
  /** Takes or renews the sink's lease (one delivering process per sink); false while another owner holds it. */
  claimAuditSinkLease(sink: string, owner: string, now: string, until: string): Promise<boolean>;
  releaseAuditSinkLease(sink: string, owner: string): Promise<void>;

  // oauth
  /** Stores a pending authorization (connect). */
  insertOAuthState(row: OAuthStateRow): Promise<void>;
  /**
   * Single use: deletes the state with that hash and returns it, or null when there is none (never
   * issued, already used, or purged). The callback knows no tenant, so like `findAccessKeyByHash`
   * this lookup is by a hash of a random secret, not scoped by tenant.
   */
  takeOAuthState(stateHash: string): Promise<OAuthStateRow | null>;
  purgeOAuthStates(expiredBefore: string): Promise<number>;
  getRefreshState(tenantId: string, credentialId: string): Promise<RefreshState | null>;
  /**
   * Claims the refresh of one credential unless another claim is live at `now`: bumps the fence
   * and returns it, or null when someone else holds it.
   */
  claimRefresh(tenantId: string, credentialId: string, owner: string, now: string, leaseUntil: string): Promise<number | null>;
  /**
   * Claims up to `limit` credentials of `type` whose refresh is due, across tenants, skipping
   * rows another process is claiming (`FOR UPDATE SKIP LOCKED` on PostgreSQL). Due: the schedule
   * for the current revision says so, or (no schedule for this revision) `expires_at` is before
   * `horizon`. Returns ids and the fence of each claim.
   */
  claimDueRefreshes(q: { type: string; now: string; horizon: string; owner: string; leaseUntil: string; limit: number }): Promise<Array<{ tenantId: string; id: string; fence: number }>>;
  /**
   * Writes the refreshed credential (new version, audit) and releases the claim, in one
   * transaction, only while the claim is still `owner`'s with `fence` (a holder whose lease ran
   * out and was claimed again writes nothing: 'fenced') and the revision is still
   * `expectedRevision` ('stale': re-read and try again).
   */
  completeRefresh(tenantId: string, owner: string, fence: number, expectedRevision: number, write: CredentialWrite, schedule: RefreshSchedule): Promise<'updated' | 'fenced' | 'stale'>;
  /**
   * Releases the claim if `owner`/`fence` still hold it. With `failure`, also records it in the
   * same transaction: `last_error`, a new revision with the schedule tied to it, and the audit events.
   */
  releaseRefresh(tenantId: string, credentialId: string, owner: string, fence: number, failure: { lastError: string; schedule: Omit<RefreshSchedule, 'revision'>; audit: readonly AuditRow[] } | null): Promise<boolean>;
}

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

/** The `meta` row naming the root key that wraps the store now: new data keys must be wrapped by it. */
export const ROOT_KEY_ID_META = 'root_key_id';

/**
 * A data key wrapped by a root key the store has moved away from (a root-key rotation started
 * meanwhile): the write is refused so that no row can be left behind wrapped by a key about to
 * be destroyed. Wrap again under the key `ROOT_KEY_ID_META` names and retry.
 */
export class RootKeyMoved extends Error {
  override name = 'RootKeyMoved';
  constructor() {
    super('the store is wrapped by another root key now');
  }
}

/**
 * The store cannot serve now, through no fault of the request: the database is unreachable,
 * shutting down (a failover or restart ends every session with 57P01), out of connections, or
 * too slow. Callers may retry; HTTP answers 503 UNAVAILABLE with Retry-After.
 */
export class StoreUnavailable extends Error {
  override name = 'StoreUnavailable';
  constructor(cause: unknown) {
    super('the store is not reachable', { cause });
  }
}

/**
 * The store's disk is full (SQLITE_FULL, ENOSPC, PostgreSQL 53100): reads go on, writes fail until
 * space returns, and then work again without a restart. HTTP answers 503 UNAVAILABLE.
 */
export class StoreFull extends Error {
  override name = 'StoreFull';
  constructor(cause: unknown) {
    super('the store has no space left for writes', { cause });
  }
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
