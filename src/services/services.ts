import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { Catalog } from '../catalog/catalog.js';
import type { Keyring } from '../crypto/keyring.js';
import type { Clock } from '../domain/clock.js';
import type { Store } from '../store/port.js';
import { createAccessKeysService, type AccessKeysService } from './access-keys/access-keys-service.js';
import { createAuditService, type AuditService } from './audit/audit-service.js';
import { createAuthenticator, type Authenticator } from './auth/authenticator.js';
import { AuthFailureThrottle } from './auth/failure-throttle.js';
import { createOidcVerifier, type OidcIssuerConfig } from './auth/oidc.js';
import { createConsoleOidc, type ConsoleOidc, type ConsoleOidcSettings } from './console/console-oidc.js';
import { createConsoleSessions, type ConsoleSessions } from './console/console-sessions.js';
import { createCredentialsService, type CredentialsService } from './credentials/credentials-service.js';
import { createIdempotencyService, type IdempotencyService } from './idempotency/idempotency-service.js';
import { createKeysService, type KeysService } from './keys/keys-service.js';
import { createLifecycleJobs, type LifecycleJobs } from './lifecycle/lifecycle-jobs.js';
import { createEventFeed, type EventFeed } from './events/event-feed.js';
import { createExpiryScheduler, type ExpiryScheduler } from './events/expiry-scheduler.js';
import { createOAuthService, type OAuthService } from './oauth/oauth-service.js';
import { createProxyService, type ProxyService } from './proxy/proxy-service.js';
import { createDerivedTokens, type DerivedTokens } from './tokens/derived-tokens.js';
import { createTokenCache } from './tokens/token-cache.js';
import { createVerifyService, type VerifyService } from './verify/verify-service.js';
import { createAwsKeyPairs, type AwsKeyPairs } from './access-keys/aws-key-pairs.js';
import { createSigV4Verifier, type SigV4Verifier } from './auth/sigv4-verifier.js';
import { createRestoreByName, type RestoreByName } from './credentials/restore-by-name.js';
import { createPendingVersions, type PendingVersions } from './credentials/pending-versions.js';
import { createEgressGuard, EgressAllowList, type EgressGuard } from '../egress/egress-guard.js';
import { createTeamDirectory } from './tenancy/team-directory.js';
import { createTeamsService, type TeamsService } from './tenancy/teams-service.js';
import { createTenantsService, type TenantsService } from './tenancy/tenants-service.js';
import { announceInvalidation } from './coordination/cache-coherence.js';
import { createDeliveryLogRetention, type DeliveryLogRetention } from './webhooks/delivery-log-retention.js';
import { createWebhookDispatcher, type WebhookDispatcher } from './webhooks/webhook-dispatcher.js';
import type { RetryPolicy } from './webhooks/webhook-target.js';
import { createWebhooksService, type WebhooksService } from './webhooks/webhooks-service.js';

export interface Services {
  catalog: Catalog;
  audit: AuditService;
  authenticator: Authenticator & { stop(): void };
  consoleSessions: ConsoleSessions;
  /** The console's "Sign in with SSO"; null when no console issuer is configured. */
  consoleOidc: ConsoleOidc | null;
  credentials: CredentialsService;
  accessKeys: AccessKeysService;
  tenants: TenantsService;
  teams: TeamsService;
  lifecycle: LifecycleJobs;
  /** Expiry warnings of credentials, refresh tokens and access keys (docs/events.md). */
  expiry: ExpiryScheduler;
  /** GET /v1/events and its SSE stream. */
  events: EventFeed;
  idempotency: IdempotencyService;
  keys: KeysService;
  oauth: OAuthService;
  verify: VerifyService;
  proxy: ProxyService;
  tokens: DerivedTokens;
  /** AWS-style key pairs of access keys, and the SigV4 check of the AWS dialect (docs/compat.md). */
  awsKeyPairs: AwsKeyPairs;
  sigv4: SigV4Verifier;
  restoreByName: RestoreByName;
  pendingVersions: PendingVersions;
  /** Webhook subscriptions (/v1/webhooks) and their delivery (started by the server only). */
  webhooks: WebhooksService;
  webhookDispatcher: WebhookDispatcher;
  /** Prunes the webhook delivery log by age (started by the server only). */
  webhookLogRetention: DeliveryLogRetention;
  /** Audits a failed authentication (at most one event per source per second) and says how long to hold the 401 (ms). */
  recordFailedAuthentication(requestId: string, ip: string, userAgent: string): number;
  stop(): Promise<void>;
}

export function createServices(deps: {
  store: Store;
  keyring: Keyring;
  catalog: Catalog;
  clock: Clock;
  logger: Logger;
  keyEnv: string;
  authCacheTtlMs: number;
  consoleSessionSeconds?: number;
  consoleOidc?: ConsoleOidcSettings | null;
  authFailureDelayMs: number;
  authFailureWindowMs: number;
  oidcIssuers: readonly OidcIssuerConfig[];
  deletedRetentionDays: number;
  auditRefusalWindowMs?: number;
  /** Lead times of expiry warnings, in days (LATCHKEY_EXPIRY_WARNING_DAYS). */
  expiryWarningDays?: readonly number[];
  /** How often the event feed reads the heads of watched chains for events sealed by other processes (LATCHKEY_EVENTS_POLL_MS). */
  eventsPollMs?: number;
  oauth?: { egress: EgressGuard; refreshLeadMs: number; returnOrigins: readonly string[] };
  proxy?: { timeoutMs: number; maxResponseBytes: number; awsStsEndpoint: string | null };
  webhooks?: { egress: EgressGuard; policy: RetryPolicy; leaseMs?: number; deliveryLogDays?: number };
}): Services {
  const { store, keyring, catalog, clock, logger } = deps;
  const audit = createAuditService({
    store,
    clock,
    logger,
    ...(deps.auditRefusalWindowMs !== undefined ? { refusalWindowMs: deps.auditRefusalWindowMs } : {}),
  });
  const directory = createTeamDirectory(store, clock);
  const oidc = deps.oidcIssuers.length > 0 ? createOidcVerifier(deps.oidcIssuers, { store, teams: directory }) : undefined;
  const authenticator = createAuthenticator({ store, clock, cacheTtlMs: deps.authCacheTtlMs, usageFlushMs: 1000, oidc });
  const consoleOidc = deps.consoleOidc ? createConsoleOidc(deps.consoleOidc, { store, teams: directory, clock, timeoutMs: 10_000 }) : null;
  const failures = new AuthFailureThrottle(deps.authFailureDelayMs, deps.authFailureWindowMs);
  // The OAuth service refreshes tokens for the credentials service (reveal of an expired token,
  // rotate with no body) and uses it for everything else: each is handed the other late.
  const credentials = createCredentialsService({
    store,
    keyring,
    catalog,
    audit,
    clock,
    teams: directory,
    tokens: { beforeReveal: (ctx, c) => oauth.beforeReveal(ctx, c), refreshNow: (ctx, c) => oauth.refreshNow(ctx, c) },
  });
  const egress = deps.oauth?.egress ?? createEgressGuard({ allow: new EgressAllowList([]), timeoutMs: 10_000, maxResponseBytes: 1024 * 1024, maxRedirects: 3 });
  const oauth = createOAuthService({
    store,
    keyring,
    catalog,
    audit,
    clock,
    logger,
    credentials,
    egress,
    refreshLeadMs: deps.oauth?.refreshLeadMs ?? 300_000,
    returnOrigins: deps.oauth?.returnOrigins ?? [],
  });
  const tokens = createDerivedTokens({
    credentials,
    egress,
    clock,
    stsEndpoint: deps.proxy?.awsStsEndpoint ?? null,
    cache: createTokenCache({ store, keyring, clock, owner: `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}` }),
  });
  // An access key that changed or went: its cached principal and its cached AWS pair are
  // dropped here, and every other process is told (the access_key topic drives both caches).
  const forgetKey = async (keyHash: Buffer): Promise<void> => {
    awsKeyPairs.cache.drop(keyHash.toString('hex'));
    await authenticator.forget(keyHash);
  };
  const awsKeyPairs = createAwsKeyPairs({ store, keyring, audit, clock, cacheTtlMs: deps.authCacheTtlMs, onKeyChanged: forgetKey });
  // Webhook calls go where a tenant points them: the egress guard, with no redirect followed.
  const webhookEgress =
    deps.webhooks?.egress ?? createEgressGuard({ allow: new EgressAllowList([]), timeoutMs: 10_000, maxResponseBytes: 1024 * 1024, maxRedirects: 0 });
  const webhookDispatcher = createWebhookDispatcher({
    store,
    audit,
    delivery: { egress: webhookEgress, keyring, clock },
    policy: deps.webhooks?.policy ?? { baseMs: 5000, maxMs: 3_600_000, disableAfterMs: 72 * 3_600_000 },
    logger,
    ...(deps.webhooks?.leaseMs !== undefined ? { leaseMs: deps.webhooks.leaseMs } : {}),
  });
  audit.onSealed((tenantIds) => webhookDispatcher.wake(tenantIds));
  const webhooks = createWebhooksService({
    store,
    keyring,
    audit,
    clock,
    egress: webhookEgress,
    onChange: (tenantId) => {
      webhookDispatcher.changed(tenantId);
      void announceInvalidation(store, 'webhook', tenantId, 30_000);
    },
  });
  const webhookLogRetention = createDeliveryLogRetention({ store, clock, logger, days: deps.webhooks?.deliveryLogDays ?? 30 });
  const lifecycle = createLifecycleJobs({ store, clock, credentials, catalog, logger, deletedRetentionDays: deps.deletedRetentionDays });
  const expiry = createExpiryScheduler({ store, audit, clock, logger, leadDays: deps.expiryWarningDays ?? [30, 7, 1] });
  // One process per SQLite file: everything sealed is sealed here, and wakes streams at once.
  const events = createEventFeed({ store, audit, logger, pollMs: store.capabilities.multiProcess ? (deps.eventsPollMs ?? 1000) : 0 });

  return {
    catalog,
    audit,
    authenticator,
    consoleSessions: createConsoleSessions({
      store,
      authenticator,
      oidc: consoleOidc ?? undefined,
      audit,
      clock,
      ttlSeconds: deps.consoleSessionSeconds ?? 28_800,
    }),
    consoleOidc,
    credentials,
    lifecycle,
    expiry,
    events,
    oauth,
    verify: createVerifyService({ credentials, oauthVerify: (ctx, id) => oauth.verify(ctx, id), egress, audit, clock, timeoutMs: 10_000 }),
    tokens,
    proxy: createProxyService({
      credentials,
      catalog,
      egress,
      audit,
      clock,
      tokens,
      timeoutMs: deps.proxy?.timeoutMs ?? 30_000,
      maxResponseBytes: deps.proxy?.maxResponseBytes ?? 10 * 1024 * 1024,
      // The use itself was audited before the secret left; only its result event is missing.
      onAuditFailure: (err) => logger.error({ err: { message: (err as Error).message } }, 'audit of a proxied request result failed'),
    }),
    accessKeys: createAccessKeysService({ store, audit, clock, env: deps.keyEnv, onRevoke: forgetKey }),
    tenants: createTenantsService({ store, keyring, audit, clock, env: deps.keyEnv, onAccessKeyGone: forgetKey }),
    teams: createTeamsService({ store, audit, clock, directory, onMembershipChange: forgetKey }),
    idempotency: createIdempotencyService({ store, keyring, clock }),
    awsKeyPairs,
    sigv4: createSigV4Verifier({ pairs: awsKeyPairs, clock, service: 'secretsmanager' }),
    restoreByName: createRestoreByName({ store, credentials }),
    pendingVersions: createPendingVersions({ store, keyring, catalog, audit, clock, credentials }),
    webhooks,
    webhookDispatcher,
    webhookLogRetention,
    keys: createKeysService({ store, keyring, audit, clock }),
    recordFailedAuthentication(requestId, ip, userAgent) {
      const { first, holdMs } = failures.failed(ip, clock.now().getTime());
      if (first) audit.append(audit.anonymousEvent({ requestId, ip, userAgent }, 'auth.failed', 'invalid credentials')).catch(() => undefined);
      return holdMs;
    },
    async stop() {
      await webhookDispatcher.stop();
      await webhookLogRetention.stop();
      await oauth.stop();
      await lifecycle.stop();
      await expiry.stop();
      events.stop();
      authenticator.stop();
      await authenticator.flushUsage().catch(() => undefined);
      await audit.stop();
    },
  };
}
