import type { AwsKeyPairStore } from './aws-key-pairs-sql.js';
import type { DeletedNameStore } from './deleted-names-sql.js';
import type { WebhookStore } from './webhooks-sql.js';
export type { WebhookAttemptRow, WebhookDeliveryState, WebhookRow, WebhookStore } from './webhooks-sql.js';

/**
 * What services may ask of storage, as roles: each service declares the roles (or the methods of
 * a role, with `Pick`) it uses, and `Store`, what an adapter implements, is all of them. Adapters
 * (sqlite/, postgres/) know SQL and nothing of the rules. Every method over tenant data takes the
 * tenant id first; there is no unscoped read of tenant data. Compound writes are single methods
 * so each adapter can make them atomic in its own way (better-sqlite3 is synchronous, pg is not).
 * Driver errors leave an adapter as the errors of store-errors.ts.
 */
import type {
  AccessKeyFilter,
  AccessKeyRow,
  AppendSeal,
  AuditAppended,
  AuditChainState,
  AuditQuery,
  AuditRetentionBoundary,
  AuditRow,
  AuditSinkWork,
  CredentialFilter,
  DerivedTokenRow,
  CredentialRow,
  CredentialWrite,
  FolderRow,
  IdempotencyRow,
  OAuthStateRow,
  PageQuery,
  RefreshSchedule,
  RefreshState,
  SealDecision,
  SealRound,
  SealedAuditRow,
  SealedCount,
  TeamRow,
  TenantKeyInfo,
  TenantKeyRewrap,
  TenantKeyRow,
  TenantRow,
  UsageTouch,
  VersionReseal,
  VersionRow,
  Visibility,
} from '../domain/records.js';

// The records are the domain's; they are re-exported for the adapters and tests that name them here.
export type * from '../domain/records.js';
export { RootKeyMoved, StoreConflict, StoreFull, StoreUnavailable } from './store-errors.js';

export interface StoreCapabilities {
  /** Several server processes may share this store (so caches need cross-process invalidation). */
  multiProcess: boolean;
  /**
   * `appendAudit` can seal the events onto their chains in its own transaction (one writer orders
   * every append), instead of leaving them for the sealer's second pass over the same rows.
   */
  sealsOnAppend: boolean;
}

/** Opening, migrating and closing the store, and what it can do. */
export interface StoreLifecycle {
  readonly kind: 'sqlite' | 'postgres';
  readonly capabilities: StoreCapabilities;
  migrate(): Promise<void>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** Tenants: the unit of isolation. */
export interface TenancyStore {
  /** Throws `RootKeyMoved` when `key` is wrapped by another root key than the store's (see `ROOT_KEY_ID_META`). */
  createTenant(tenant: TenantRow, key: TenantKeyRow, ownerKey: AccessKeyRow | null, audit: AuditRow[]): Promise<void>;
  getTenant(tenantId: string): Promise<TenantRow | null>;
  listTenants(tenantIds: readonly string[] | 'all'): Promise<TenantRow[]>;
  countTenants(): Promise<number>;
}

/** Teams and folders of a tenant, and which teams an access key belongs to. */
export interface TeamStore {
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
}

/** Access keys: the one lookup across tenants is authentication's, by hash. */
export interface AccessKeyStore {
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
  deleteAccessKey(
    tenantId: string,
    id: string,
    expectedRevision: number | null,
    guardRoles: readonly string[],
    activeAt: string,
    audit: AuditRow[],
  ): Promise<'deleted' | 'last_manager' | 'stale'>;
  touchAccessKeys(touches: readonly UsageTouch[]): Promise<void>;
}

/** Credentials and their versions, and the lifecycle jobs' scans of them. */
export interface CredentialStore {
  insertCredential(tenantId: string, write: CredentialWrite): Promise<'inserted' | 'id_taken' | 'slug_taken'>;
  getCredential(tenantId: string, id: string): Promise<CredentialRow | null>;
  listCredentials(tenantId: string, visibility: Visibility, filter: CredentialFilter, page: PageQuery): Promise<{ rows: CredentialRow[]; total: number }>;
  /**
   * Compare-and-set on revision; returns 'stale' when it moved, 'slug_taken' on a name clash, and
   * 'last_account_credential' (refused) when the write deletes the tenant's last live smtp/api_key
   * credential (queries.ts).
   */
  updateCredential(tenantId: string, expectedRevision: number, write: CredentialWrite): Promise<'updated' | 'stale' | 'slug_taken' | 'last_account_credential'>;
  /** Removes the credential and every version (key material gone for good). */
  purgeCredential(tenantId: string, id: string, audit: AuditRow[]): Promise<boolean | 'last_account_credential'>;
  getVersion(tenantId: string, credentialId: string, version: number): Promise<VersionRow | null>;
  /** A credential with its current version (null when that row is missing): what a reveal reads, in one query where that saves a round trip. */
  getCredentialWithVersion(tenantId: string, id: string): Promise<{ credential: CredentialRow; version: VersionRow | null } | null>;
  listVersions(tenantId: string, credentialId: string): Promise<VersionRow[]>;
  touchCredentials(touches: readonly UsageTouch[]): Promise<void>;

  // lifecycle jobs: the only scans across tenants; they return ids, and the jobs then act
  // through the tenant-scoped methods above.
  listDueDeactivations(now: string, limit: number): Promise<Array<{ tenantId: string; id: string }>>;
  listDueRotations(now: string, limit: number): Promise<Array<{ tenantId: string; id: string }>>;
  listDeletedBefore(before: string, limit: number): Promise<Array<{ tenantId: string; id: string }>>;
}

/** Writing, listing and sealing the audit trail, and its retention. */
export interface AuditStore {
  /**
   * Writes events on their own (reveals, denials) with the usage touches they bring. With `seal`
   * (stores that can: `capabilities.sealsOnAppend`) the events are sealed in the same transaction,
   * unless their tenant has older unsealed events, which the sealer then takes in order.
   */
  appendAudit(events: readonly AuditRow[], credentialTouches: readonly UsageTouch[], seal?: AppendSeal): Promise<AuditAppended>;
  listAudit(tenantId: string, query: AuditQuery, page: PageQuery): Promise<AuditRow[]>;
  tenantsWithUnsealedAudit(): Promise<string[]>;
  countUnsealedAudit(tenantId: string): Promise<number>;
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
  /** The tenant's sealed checkpoint key, or null before its first seal. A read: verification works on a full disk. */
  getAuditChainKey(tenantId: string): Promise<Buffer | null>;
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
}

/** Where each audit sink stands in each chain, and which process delivers it. */
export interface AuditSinkStore {
  /** Chains with sealed events past what `sink` has acknowledged (only `tenantId`'s, when given). */
  listAuditSinkWork(sink: string, tenantId?: string): Promise<AuditSinkWork[]>;
  /** What `sink` has acknowledged of a tenant's chain (0 = nothing). */
  getAuditSinkCursor(sink: string, tenantId: string): Promise<number>;
  /** Moves the cursor forward to `seq` (never back). */
  advanceAuditSinkCursor(sink: string, tenantId: string, seq: number): Promise<void>;
  /** Takes or renews the sink's lease (one delivering process per sink); false while another owner holds it. */
  claimAuditSinkLease(sink: string, owner: string, now: string, until: string): Promise<boolean>;
  releaseAuditSinkLease(sink: string, owner: string): Promise<void>;
}

/** A notice the expiry scheduler owes: `leadDays` before `expiresAt` (0 = it expired), with its audit event. */
export interface ExpiryNotice {
  what: 'credential' | 'refresh_token' | 'access_key';
  expiresAt: string;
  leadDays: number;
  event: AuditRow;
}

/** What the scheduler decided about one row it read: the notices due now and when to look next. */
export interface ExpiryCheckResult {
  objectType: 'credential' | 'access_key';
  id: string;
  /** The credential's revision as read (null for access keys, whose expiry never changes). */
  revision: number | null;
  /** `expiry_check_at` as read. */
  checkAt: string;
  nextCheckAt: string | null;
  notices: readonly ExpiryNotice[];
}

/** The expiry scheduler's rows: what is due for a look, and what it noticed (services/events/expiry-scheduler.ts). */
export interface ExpiryStore {
  /** Across tenants, like the lifecycle scans: credentials whose `expiry_check_at` is at or before `now`, earliest first. */
  listCredentialExpiryChecks(now: string, limit: number): Promise<Array<{ credential: CredentialRow; checkAt: string }>>;
  listAccessKeyExpiryChecks(now: string, limit: number): Promise<Array<{ key: AccessKeyRow; checkAt: string }>>;
  /**
   * In one transaction: for each row still as it was read (revision and `checkAt`), moves its next
   * look to `nextCheckAt` and records each notice not recorded before (unique per object, kind,
   * expiry value and lead time) with its audit event. Rows changed since are skipped (the change
   * set a new look). Returns the notices written.
   */
  recordExpiryChecks(tenantId: string, checks: readonly ExpiryCheckResult[]): Promise<number>;
}

/** Which audit events a feed page reads: chain positions in (`after`, `through`], and the filters. */
export interface EventRowQuery {
  after: number;
  through: number;
  /** The (action, outcome) pairs that are the event types asked for (services/events/event-types.ts). */
  sources: ReadonlyArray<{ action: string; outcome: AuditRow['outcome'] }>;
  objectType?: string;
  objectId?: string;
  since?: string;
}

/** Sealed audit events in chain order, for the event feed (GET /v1/events and its SSE stream). */
export interface EventFeedStore {
  listEventRows(tenantId: string, q: EventRowQuery, limit: number): Promise<AuditRow[]>;
  /** The position of the newest sealed event stamped before `at` (0 when none): where a `since` scan may start. */
  auditPositionBefore(tenantId: string, at: string): Promise<number>;
  /** The tenant's newest sealed position (0 when nothing is sealed). Every position up to it is committed. */
  auditHead(tenantId: string): Promise<number>;
}

/** Reservations of `Idempotency-Key`s and the responses they replay. */
export interface IdempotencyStore {
  reserveIdempotencyKey(row: IdempotencyRow, staleBefore: string): Promise<{ reserved: true } | { reserved: false; existing: IdempotencyRow }>;
  completeIdempotencyKey(tenantId: string, key: string, status: number, response: Buffer): Promise<void>;
  releaseIdempotencyKey(tenantId: string, key: string): Promise<void>;
  purgeIdempotencyKeys(createdBefore: string): Promise<number>;
}

/** Cache invalidation between processes sharing the store. */
export interface CoordinationStore {
  /**
   * Tells the other processes sharing this store that what they cached under (topic, key) is
   * stale: `access_key` is keyed by the hex SHA-256 of the key, `keyring` by tenant id. Call it
   * after the change committed (a process that re-reads on receipt must see the change) and
   * after dropping this process's own cache: delivery back to the sender is not promised.
   * Best effort: a process whose feed was down when it was sent drops every cache when its feed
   * comes back (see `subscribeInvalidations`). A single-process store makes it a no-op.
   */
  publishInvalidation(topic: 'access_key' | 'keyring' | 'webhook', key: string): Promise<void>;
  /**
   * Delivers invalidations published by any process to `handler` until closed, and tells it
   * whether the feed is live. While it is not, invalidations may be lost, so caches must not be
   * trusted; each time it turns live again, anything cached before may be stale. Topics are
   * plain strings because a newer process (rolling upgrade) may send one this one does not know.
   * Resolves once the first attempt to go live has finished, live or not; reconnection goes on
   * in the background until `close`.
   */
  subscribeInvalidations(handler: { invalidate(topic: string, key: string): void; feedState(live: boolean): void }): Promise<{ close(): Promise<void> }>;
}

/**
 * Key management (services/keys, crypto/keyring.ts). Scans across tenants return ids, versions and
 * counts only, never tenant data; the work on each tenant goes through the tenant-scoped methods.
 */
export interface KeyManagementStore {
  getMeta(key: string): Promise<string | null>;
  /** Sets the value only if none exists; returns the value now stored. */
  initMeta(key: string, value: string): Promise<string>;
  listTenantKeys(tenantId: string): Promise<TenantKeyRow[]>;
  /**
   * Compare-and-set of `meta` rows (null = absent) with the audit of the change, in one
   * transaction: false (nothing written) when a row in `expect` holds another value.
   */
  compareAndSetMeta(
    expect: Readonly<Record<string, string | null>>,
    set: Readonly<Record<string, string | null>>,
    audit: readonly AuditRow[],
  ): Promise<boolean>;
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
}

/** Pending OAuth authorizations and the refresh claims (leases with a fence) of OAuth credentials. */
export interface OAuthStore {
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
  claimDueRefreshes(q: {
    type: string;
    now: string;
    horizon: string;
    owner: string;
    leaseUntil: string;
    limit: number;
  }): Promise<Array<{ tenantId: string; id: string; fence: number }>>;
  /**
   * Writes the refreshed credential (new version, audit) and releases the claim, in one
   * transaction, only while the claim is still `owner`'s with `fence` (a holder whose lease ran
   * out and was claimed again writes nothing: 'fenced') and the revision is still
   * `expectedRevision` ('stale': re-read and try again).
   */
  completeRefresh(
    tenantId: string,
    owner: string,
    fence: number,
    expectedRevision: number,
    write: CredentialWrite,
    schedule: RefreshSchedule,
  ): Promise<'updated' | 'fenced' | 'stale'>;
  /**
   * Releases the claim if `owner`/`fence` still hold it. With `failure`, also records it in the
   * same transaction: `last_error`, a new revision with the schedule tied to it, and the audit events.
   */
  releaseRefresh(
    tenantId: string,
    credentialId: string,
    owner: string,
    fence: number,
    failure: { lastError: string; schedule: Omit<RefreshSchedule, 'revision'>; audit: readonly AuditRow[] } | null,
  ): Promise<boolean>;

  // derived tokens (services/tokens): the refresh claim above is their one-in-flight lock too
  /** The token last derived from a credential, or null. */
  getDerivedToken(tenantId: string, credentialId: string): Promise<DerivedTokenRow | null>;
  /**
   * Stores `row` (replacing the credential's previous one) and releases the refresh claim in one
   * transaction, only while `owner` holds the claim with `fence`; false (nothing written) otherwise.
   */
  putDerivedToken(owner: string, fence: number, row: DerivedTokenRow): Promise<boolean>;
}

/** A console sign-in (docs/console.md): the session stands for the access key whose hash it holds. */
export interface ConsoleSessionRow {
  /** SHA-256 of the cookie's token. */
  tokenHash: Buffer;
  tenantId: string;
  /** SHA-256 of the access key signed in with (as `access_keys.key_hash`); null for an OIDC sign-in. */
  keyHash: Buffer | null;
  /** An OIDC sign-in: its issuer and the mapped claims of its ID token (JSON); null for an access key. */
  oidcIdentity: string | null;
  createdAt: string;
  expiresAt: string;
}

/** Console sessions; looked up by token hash only, like access keys at authentication. */
export interface ConsoleSessionStore {
  insertConsoleSession(session: ConsoleSessionRow): Promise<void>;
  findConsoleSession(tokenHash: Buffer): Promise<ConsoleSessionRow | null>;
  deleteConsoleSession(tokenHash: Buffer): Promise<void>;
  /** Removes sessions that expired at or before `now`; returns how many. */
  deleteExpiredConsoleSessions(now: string): Promise<number>;
  /** An SSO sign-in under way, by the SHA-256 of its state (docs/console.md); drops expired ones. */
  insertConsoleOidcLogin(login: { stateHash: Buffer; createdAt: string; expiresAt: string }): Promise<void>;
  /** Deletes the sign-in's row and says whether it was there and unexpired: true once at most, whoever asks. Drops expired rows too. */
  takeConsoleOidcLogin(stateHash: Buffer, now: string): Promise<boolean>;
}

/** Everything an adapter implements. */
export type Store = StoreLifecycle &
  TenancyStore &
  TeamStore &
  AccessKeyStore &
  CredentialStore &
  AuditStore &
  AuditSinkStore &
  ExpiryStore &
  EventFeedStore &
  IdempotencyStore &
  CoordinationStore &
  KeyManagementStore &
  OAuthStore &
  ConsoleSessionStore &
  AwsKeyPairStore &
  DeletedNameStore &
  WebhookStore;

/** The `meta` row naming the root key that wraps the store now: new data keys must be wrapped by it. */
export const ROOT_KEY_ID_META = 'root_key_id';
