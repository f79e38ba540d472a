import type {
  AccessKeyStore,
  AuditSinkStore,
  AuditStore,
  ConsoleSessionStore,
  CoordinationStore,
  CredentialStore,
  EventFeedStore,
  ExpiryStore,
  IdempotencyStore,
  KeyManagementStore,
  OAuthStore,
  Store,
  StoreLifecycle,
  TeamStore,
  TenancyStore,
} from './port.js';
import type { AwsKeyPairStore } from './aws-key-pairs-sql.js';
import type { DeletedNameStore } from './deleted-names-sql.js';
import type { WebhookStore } from './webhooks-sql.js';

/**
 * What a store method does to stored data: `read` changes nothing; `write` changes it, so an
 * adapter that acknowledges commits before they are on disk (SQLite with a WAL flush off the event
 * loop) must flush before it answers; `notify` stores nothing (messages between processes).
 */
export type MethodAccess = 'read' | 'write' | 'notify';

type MethodNames<T> = { [K in keyof T]-?: T[K] extends (...args: never[]) => unknown ? K : never }[keyof T];

/**
 * Every method of a role, each said once. A method added to a role and not here fails to compile,
 * so a new method cannot fall into "read" by its name (a `getOrCreate…` would have).
 */
type AccessOf<T> = { readonly [K in MethodNames<T>]: MethodAccess };

const LIFECYCLE: AccessOf<StoreLifecycle> = { migrate: 'write', ping: 'read', close: 'write' };

const TENANCY: AccessOf<TenancyStore> = { createTenant: 'write', getTenant: 'read', listTenants: 'read', countTenants: 'read' };

const TEAMS: AccessOf<TeamStore> = {
  insertTeam: 'write',
  getTeam: 'read',
  listTeams: 'read',
  updateTeam: 'write',
  deleteTeam: 'write',
  setAccessKeyTeams: 'write',
  insertFolder: 'write',
  getFolder: 'read',
  listFolders: 'read',
  deleteFolder: 'write',
};

const ACCESS_KEYS: AccessOf<AccessKeyStore> = {
  findAccessKeyByHash: 'read',
  insertAccessKey: 'write',
  getAccessKey: 'read',
  listAccessKeys: 'read',
  updateAccessKey: 'write',
  deleteAccessKey: 'write',
  touchAccessKeys: 'write',
};

const CREDENTIALS: AccessOf<CredentialStore> = {
  insertCredential: 'write',
  getCredential: 'read',
  listCredentials: 'read',
  updateCredential: 'write',
  purgeCredential: 'write',
  getVersion: 'read',
  getCredentialWithVersion: 'read',
  listVersions: 'read',
  touchCredentials: 'write',
  listDueDeactivations: 'read',
  listDueRotations: 'read',
  listDeletedBefore: 'read',
};

const AUDIT: AccessOf<AuditStore> = {
  appendAudit: 'write',
  listAudit: 'read',
  tenantsWithUnsealedAudit: 'read',
  countUnsealedAudit: 'read',
  sealAuditChain: 'write',
  getAuditChainState: 'read',
  readSealedAudit: 'read',
  latestSealedAudit: 'read',
  getAuditChainKey: 'read',
  initAuditChainKey: 'write',
  listAuditChains: 'read',
  auditRetentionBoundary: 'read',
  purgeAuditThrough: 'write',
};

const AUDIT_SINKS: AccessOf<AuditSinkStore> = {
  listAuditSinkWork: 'read',
  getAuditSinkCursor: 'read',
  advanceAuditSinkCursor: 'write',
  claimAuditSinkLease: 'write',
  releaseAuditSinkLease: 'write',
};

const EXPIRY: AccessOf<ExpiryStore> = { listCredentialExpiryChecks: 'read', listAccessKeyExpiryChecks: 'read', recordExpiryChecks: 'write' };

const EVENT_FEED: AccessOf<EventFeedStore> = { listEventRows: 'read', auditPositionBefore: 'read', auditHead: 'read' };

const IDEMPOTENCY: AccessOf<IdempotencyStore> = {
  reserveIdempotencyKey: 'write',
  completeIdempotencyKey: 'write',
  releaseIdempotencyKey: 'write',
  purgeIdempotencyKeys: 'write',
};

const COORDINATION: AccessOf<CoordinationStore> = { publishInvalidation: 'notify', subscribeInvalidations: 'notify' };

const KEY_MANAGEMENT: AccessOf<KeyManagementStore> = {
  getMeta: 'read',
  initMeta: 'write',
  listTenantKeys: 'read',
  compareAndSetMeta: 'write',
  insertTenantKey: 'write',
  currentTenantKeyVersion: 'read',
  rewrapTenantKeys: 'write',
  listTenantsToRewrap: 'read',
  countTenantsToRewrap: 'read',
  listTenantKeyInfo: 'read',
  listVersionsToReseal: 'read',
  countVersionsToReseal: 'read',
  resealVersions: 'write',
  countSealedByKeyVersion: 'read',
  destroyTenantKeys: 'write',
  purgeTenantRows: 'write',
};

const OAUTH: AccessOf<OAuthStore> = {
  insertOAuthState: 'write',
  takeOAuthState: 'write',
  purgeOAuthStates: 'write',
  getRefreshState: 'read',
  claimRefresh: 'write',
  claimDueRefreshes: 'write',
  completeRefresh: 'write',
  releaseRefresh: 'write',
  getDerivedToken: 'read',
  putDerivedToken: 'write',
};

const CONSOLE_SESSIONS: AccessOf<ConsoleSessionStore> = {
  insertConsoleSession: 'write',
  findConsoleSession: 'read',
  deleteConsoleSession: 'write',
  deleteExpiredConsoleSessions: 'write',
  insertConsoleOidcLogin: 'write',
  takeConsoleOidcLogin: 'write',
};
const COMPAT: AccessOf<AwsKeyPairStore & DeletedNameStore> = { putAwsKeyPair: 'write', findAwsKeyPair: 'read', listDeletedCredentialIds: 'read' };

const WEBHOOKS: AccessOf<WebhookStore> = {
  insertWebhook: 'write',
  getWebhook: 'read',
  listWebhooks: 'read',
  countWebhooks: 'read',
  updateWebhook: 'write',
  deleteWebhook: 'write',
  listActiveWebhookRefs: 'read',
  recordWebhookAttempt: 'write',
  listWebhookAttempts: 'read',
  countWebhookAttempts: 'read',
  getSealedAuditEvent: 'read',
  lowestActiveWebhookCursor: 'read',
  pruneWebhookAttempts: 'write',
};

/** Every method of `Store` with what it does to stored data. */
export const STORE_METHOD_ACCESS: AccessOf<Store> = {
  ...LIFECYCLE,
  ...TENANCY,
  ...TEAMS,
  ...ACCESS_KEYS,
  ...CREDENTIALS,
  ...AUDIT,
  ...AUDIT_SINKS,
  ...EXPIRY,
  ...EVENT_FEED,
  ...IDEMPOTENCY,
  ...COORDINATION,
  ...KEY_MANAGEMENT,
  ...OAUTH,
  ...CONSOLE_SESSIONS,
  ...COMPAT,
  ...WEBHOOKS,
};

export type StoreMethodName = MethodNames<Store>;
