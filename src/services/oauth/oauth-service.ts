import type { Logger } from 'pino';
import type { Catalog } from '../../catalog/catalog.js';
import type { Keyring } from '../../crypto/keyring.js';
import type { Clock } from '../../domain/clock.js';
import { LatchkeyError, validationFailed } from '../../domain/errors.js';
import { requirePermission, type RequestContext } from '../../domain/principal.js';
import { describeRemoteFailure } from '../../domain/remote-failure.js';
import type { EgressGuard } from '../../egress/egress-guard.js';
import type { CredentialRow } from '../../store/port.js';
import type { AccessKeyStore, CredentialStore, OAuthStore } from '../../store/port.js';
import type { AuditService } from '../audit/audit-service.js';
import { credentialFacts } from '../credentials/credential-rows.js';
import type { CredentialsService, TokenRefresher } from '../credentials/credentials-service.js';
import type { VerifyResult } from '../verify/verify-service.js';
import { createConnectFlow, type CallbackQuery, type CallbackResult, type ConnectInput, type ConnectResult } from './connect-flow.js';
import { classifyFailure, NothingToRefreshWith, type ClassifiedFailure } from './oauth-errors.js';
import { loadOAuth2 } from './oauth2-credential.js';
import { listProviderPresets, type ProviderPreset } from './provider-presets.js';
import { createRefreshCoordinator } from './refresh-coordinator.js';
import { shouldRefresh } from './refresh-policy.js';

/**
 * OAuth2 for `oauth2` credentials: the authorization-code connect flow (PKCE, single-use state;
 * connect-flow.ts), token refresh (ahead of expiry by a scheduler, on reveal of an expired token,
 * on demand) and client-credentials tokens fetched and cached the same way, one refresh per
 * credential at a time across every process (refresh-coordinator.ts).
 */

export interface OAuthService extends TokenRefresher {
  connect(ctx: RequestContext, input: ConnectInput, callbackUrl: string): Promise<ConnectResult>;
  callback(query: CallbackQuery, meta: { requestId: string; ip: string; userAgent: string }): Promise<CallbackResult>;
  /** `POST /v1/credentials/{id}/refresh`. */
  refresh(ctx: RequestContext, id: string): Promise<CredentialRow>;
  verify(ctx: RequestContext, id: string): Promise<VerifyResult>;
  providers(): ProviderPreset[];
  /** One scheduler pass: claims due credentials and refreshes them. */
  runOnce(): Promise<{ claimed: number; refreshed: number; failed: number }>;
  start(intervalMs: number): void;
  stop(): Promise<void>;
}

export interface OAuthDeps {
  store: OAuthStore & Pick<AccessKeyStore, 'getAccessKey'> & Pick<CredentialStore, 'getCredential' | 'getVersion' | 'listVersions'>;
  keyring: Keyring;
  catalog: Catalog;
  audit: AuditService;
  clock: Clock;
  logger: Logger;
  credentials: CredentialsService;
  egress: EgressGuard;
  /** Refresh this long before the access token expires (default 5 minutes). */
  refreshLeadMs: number;
  /** Origins an operator lets `return_to` send the browser back to (LATCHKEY_OAUTH_RETURN_ORIGINS). */
  returnOrigins: readonly string[];
  /** How long a claim lasts; longer than a whole token call (the egress deadline) can take. */
  claimLeaseMs?: number;
  /** How long a caller waits for another process's refresh before it reads what is stored. */
  waitMs?: number;
}

export function createOAuthService(deps: OAuthDeps): OAuthService {
  const { store, audit, clock, logger, credentials } = deps;
  const refresher = createRefreshCoordinator(deps);
  const { flight } = refresher;
  const connectFlow = createConnectFlow(deps, refresher);
  const iso = (d: Date = clock.now()): string => d.toISOString();

  /** A refresh now; null when it worked, else how it failed. */
  async function attemptRefresh(ctx: RequestContext, c: CredentialRow): Promise<ClassifiedFailure | null> {
    requirePermission(ctx, 'credentials:rotate');
    if (c.type !== 'oauth2') throw validationFailed([{ path: 'type', message: `is ${c.type}; only oauth2 credentials have tokens to refresh` }]);
    if (c.status === 'deactivated') throw new LatchkeyError('CONFLICT', 'A deactivated credential is permanent and cannot be changed');
    const result = await flight(ctx, c.tenantId, c.id, 'manual');
    if (result.status === 'failed' && result.failure) return result.failure;
    if (result.status === 'timeout') throw new LatchkeyError('UNAVAILABLE', 'Another process is refreshing this credential', { retryAfterSeconds: 1 });
    if (result.status === 'skipped') return classifyFailure(new NothingToRefreshWith());
    return null;
  }

  async function refreshNow(ctx: RequestContext, c: CredentialRow): Promise<CredentialRow> {
    const failure = await attemptRefresh(ctx, c);
    if (failure) throw failure.error;
    return (await store.getCredential(c.tenantId, c.id)) ?? c;
  }

  const service: OAuthService = {
    providers: listProviderPresets,
    connect: connectFlow.connect,
    callback: connectFlow.callback,

    async beforeReveal(ctx, c) {
      // Fast path, no extra read: a token that is there and not about to expire.
      if (!shouldRefresh(c, null, clock.now(), 'reveal', deps.refreshLeadMs).refresh) return c;
      // A dead grant or a provider in backoff is not called again by every reveal.
      if (!shouldRefresh(c, await store.getRefreshState(c.tenantId, c.id), clock.now(), 'reveal', deps.refreshLeadMs).refresh) return c;
      try {
        const result = await flight(ctx, c.tenantId, c.id, 'reveal');
        if (result.status === 'timeout')
          logger.warn({ tenant_id: c.tenantId, credential_id: c.id }, 'waited for another process to refresh; revealing what is stored');
      } catch (err) {
        if (!(err instanceof LatchkeyError) || err.code === 'UNAVAILABLE') throw err;
        logger.warn({ tenant_id: c.tenantId, credential_id: c.id, code: err.code }, 'refresh before reveal failed; revealing what is stored');
      }
      // Whatever happened, the reveal answers with what is stored now (a refused refresh leaves
      // the old tokens readable and says so in last_error).
      const now = await store.getCredential(c.tenantId, c.id);
      return now && now.deletedAt === null ? now : c;
    },

    refreshNow,

    async refresh(ctx, id) {
      requirePermission(ctx, 'credentials:rotate');
      return refreshNow(ctx, await loadOAuth2(credentials, ctx, id));
    },

    async verify(ctx, id) {
      requirePermission(ctx, 'credentials:rotate');
      const c = await credentials.getForChange(ctx, id);
      if (c.type !== 'oauth2')
        throw validationFailed([{ path: 'type', message: `is ${c.type}; verification is implemented for oauth2 credentials (a token call)` }]);
      const checkedAt = iso();
      const failure = await attemptRefresh(ctx, c);
      // Nothing to make a token call with: there is nothing to verify (as for a type without a check).
      if (failure !== null && failure.remote === null) throw failure.error;
      const remote = failure?.remote ?? null;
      await audit.append(
        audit.event(
          ctx,
          'credential.verify',
          { type: 'credential', id },
          remote === null ? 'success' : 'failure',
          remote === null ? null : describeRemoteFailure(remote),
          credentialFacts(c, remote === null ? {} : { category: remote.category, status: remote.status }),
        ),
      );
      return remote === null ? { ok: true, checked_at: checkedAt } : { ok: false, checked_at: checkedAt, error: remote.category, status: remote.status };
    },

    runOnce: refresher.runOnce,
    start: refresher.start,
    stop: refresher.stop,
  };
  return service;
}
