import { createHash, randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { Catalog } from '../../catalog/catalog.js';
import { purposeAad } from '../../crypto/aead.js';
import type { Keyring } from '../../crypto/keyring.js';
import type { Clock } from '../../domain/clock.js';
import { LatchkeyError, validationFailed } from '../../domain/errors.js';
import { newId } from '../../domain/ids.js';
import { actorOf, type RequestContext } from '../../domain/principal.js';
import { describeRemoteFailure } from '../../domain/remote-failure.js';
import { can, type Permission, type Role } from '../../domain/roles.js';
import type { EgressGuard } from '../../egress/egress-guard.js';
import type { ActorRef, CredentialRow, OAuthStateRow, RefreshState, VersionRow } from '../../store/port.js';
import type { AccessKeyStore, CredentialStore, OAuthStore } from '../../store/port.js';
import type { AuditService } from '../audit/audit-service.js';
import type { VerifyResult } from '../verify/verify-service.js';
import type { CredentialInput } from '../credentials/credential-input.js';
import {
  openSecretValues, restagePlan, sealSecretValues, type CredentialsService, type SecretValues, type TokenRefresher,
} from '../credentials/credentials-service.js';
import { classifyFailure, IdTokenMismatch, NothingToRefreshWith, type ClassifiedFailure } from './oauth-errors.js';
import { applyPreset, listProviderPresets, providerPreset, type ProviderPreset, type TokenAuthMethod } from './provider-presets.js';
import { accessTokenExpiry, grantOf, nextRefreshAt, scheduleAfterFailure, shouldRefresh, type RefreshMode } from './refresh-policy.js';
import { callTokenEndpoint, fetchJson, type ClientAuth, type ErrorClasses, type TokenSet } from './token-client.js';

/**
 * OAuth2 for `oauth2` credentials: the authorization-code connect flow (PKCE, single-use state),
 * token refresh (ahead of expiry by a scheduler, on reveal of an expired token, on demand) and
 * client-credentials tokens fetched and cached the same way.
 *
 * One refresh per credential at a time, across every process sharing the store:
 *  1. single flight in this process: concurrent callers for one credential share one promise;
 *  2. a claim in the database (a lease in the credential's row, with a fencing counter bumped by
 *     every claim): one process calls the provider, the others poll the row (bounded) and read
 *     the result it wrote;
 *  3. after claiming, the row is read again and the decision re-made, so a refresh another
 *     process finished a moment ago is not done twice;
 *  4. the new tokens are written as a new secret version in the transaction that releases the
 *     claim, compare-and-set on the fence (a holder whose lease ran out writes nothing) and on
 *     the revision (a concurrent edit is re-read and the tokens applied on top of it).
 */

export interface ConnectInput {
  credential_id?: string;
  provider?: string;
  name?: string;
  description?: string;
  integration_id?: string | null;
  team_id?: string | null;
  folder_id?: string | null;
  read_access?: 'TEAM' | 'GLOBAL' | 'SPECIFIC_TEAMS';
  metadata?: Record<string, unknown>;
  config?: Record<string, unknown>;
  secret?: Record<string, unknown>;
  redirect_uri?: string;
  scopes?: string[];
  return_to?: string;
}

export interface ConnectResult {
  authorization_url: string;
  credential_id: string;
  redirect_uri: string;
  state_expires_at: string;
}

export interface CallbackQuery {
  state?: string;
  code?: string;
  error?: string;
  iss?: string;
}

export interface CallbackResult {
  status: 'connected' | 'error';
  credentialId: string | null;
  returnTo: string | null;
  /** Short code for the redirect (`error=`). */
  error?: string;
  /** What to answer when there is nowhere to redirect to. */
  httpError?: LatchkeyError;
}

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

const STATE_TTL_MS = 10 * 60_000;
/** Error codes of an authorization response (RFC 6749 §4.1.2.1): repeated by name, anything else is `refused`. */
const AUTHORIZATION_ERRORS: ReadonlySet<string> = new Set([
  'invalid_request', 'unauthorized_client', 'access_denied', 'unsupported_response_type', 'invalid_scope', 'server_error', 'temporarily_unavailable',
]);
const SCHEDULER_BATCH = 50;

type FlightStatus = 'refreshed' | 'fresh' | 'skipped' | 'failed' | 'timeout';
interface FlightResult {
  status: FlightStatus;
  failure?: ClassifiedFailure;
}

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');
const b64url = (bytes: Buffer): string => bytes.toString('base64url');
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function requirePermission(ctx: RequestContext, permission: Permission): void {
  if (!can(ctx.principal.role, permission)) throw new LatchkeyError('FORBIDDEN', `Role ${ctx.principal.role} lacks ${permission}`);
}

function systemContext(tenantId: string): RequestContext {
  return {
    principal: { type: 'system', id: 'oauth-refresher', name: 'latchkey token refresher', email: null, tenantId, tenantIds: [tenantId], role: 'owner', teamIds: [], platformAdmin: false },
    requestId: newId('req'),
    ip: '',
    userAgent: 'latchkey-scheduler',
  };
}

function actorRef(ctx: RequestContext): ActorRef {
  return { type: ctx.principal.type, ...actorOf(ctx.principal) };
}

function str(v: unknown): string | null {
  return typeof v === 'string' && v !== '' ? v : null;
}

/** Identity of the connected account, bounded to what the catalog's `account` allows. */
function account(sub: unknown, email: unknown, name: unknown): Record<string, string> | null {
  const out: Record<string, string> = {};
  const s = typeof sub === 'number' ? String(sub) : str(sub);
  if (s !== null && s.length <= 1024) out.sub = s;
  const e = str(email);
  if (e !== null && e.length <= 320) out.email = e;
  const n = str(name);
  if (n !== null && n.length <= 1024) out.name = n;
  return Object.keys(out).length > 0 ? out : null;
}

/**
 * The callback redirects the browser to `return_to` once the provider is done, so an arbitrary
 * value would make this server an open redirect for anyone who may start a connect: only origins
 * the operator listed are accepted.
 */
function checkReturnTo(value: string | undefined, allowed: readonly string[]): string | null {
  if (value === undefined) return null;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw validationFailed([{ path: 'return_to', message: 'must be an absolute URL' }]);
  }
  if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.username !== '' || url.password !== '') {
    throw validationFailed([{ path: 'return_to', message: 'must be an http(s) URL without credentials' }]);
  }
  if (!allowed.includes(url.origin)) {
    throw validationFailed([{ path: 'return_to', message: `origin ${url.origin} is not one the operator allows (LATCHKEY_OAUTH_RETURN_ORIGINS)` }]);
  }
  return url.toString();
}

export function createOAuthService(deps: OAuthDeps): OAuthService {
  const { store, keyring, catalog, audit, clock, logger, credentials, egress } = deps;
  const leaseMs = deps.claimLeaseMs ?? 30_000;
  const waitMs = deps.waitMs ?? 10_000;
  /** Names this process in claims (logs and debugging); the fence is what makes claims safe. */
  const owner = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  const flights = new Map<string, Promise<FlightResult>>();
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> | null = null;

  const iso = (d: Date = clock.now()): string => d.toISOString();
  const later = (ms: number): string => new Date(clock.now().getTime() + ms).toISOString();

  function errorClasses(c: CredentialRow): ErrorClasses {
    const p = providerPreset(c.provider) ?? providerPreset('oauth2');
    return { invalidGrant: p?.invalid_grant_errors ?? [], permanent: p?.permanent_errors ?? [] };
  }

  function clientAuth(c: CredentialRow, secret: SecretValues): ClientAuth {
    return {
      clientId: String(c.config.client_id ?? ''),
      clientSecret: str(secret.client_secret),
      method: (str(c.config.token_endpoint_auth_method) ?? 'client_secret_basic') as TokenAuthMethod,
    };
  }

  function tokenEndpoint(c: Pick<CredentialRow, 'config'>): string {
    const t = str(c.config.token_endpoint);
    if (t === null) throw validationFailed([{ path: 'config.token_endpoint', message: 'is required' }]);
    return t;
  }

  async function currentSecret(c: CredentialRow, slot: 'secret' | 'test_secret' = 'secret'): Promise<SecretValues | null> {
    const v = await store.getVersion(c.tenantId, c.id, c.version);
    if (!v) throw new Error('version row missing');
    return openSecretValues(keyring, v, slot);
  }

  /** Claims the refresh, waiting (bounded) for another holder to finish; null when the wait ran out. */
  async function acquireClaim(tenantId: string, id: string): Promise<number | null> {
    const deadline = Date.now() + waitMs;
    for (let pause = 20; ; pause = Math.min(pause * 2, 200)) {
      const fence = await store.claimRefresh(tenantId, id, owner, iso(), later(leaseMs));
      if (fence !== null) return fence;
      if (Date.now() > deadline) return null;
      await sleep(pause);
    }
  }

  interface WriteOptions {
    action: string;
    /** The refresh token the call used: if someone stored another meanwhile, theirs wins. */
    usedRefreshToken: string | null;
    /** Connect: replaces the grant (new refresh token, identity), whatever was stored. */
    connect?: { account: Record<string, string> | null };
  }

  /**
   * Stores a token response as a new version and releases the claim in the same transaction.
   * Retries on a concurrent edit (revision moved) by re-reading and applying the tokens on top.
   */
  async function writeTokens(ctx: RequestContext, start: CredentialRow, startSecret: SecretValues, tokens: TokenSet, fence: number, opts: WriteOptions): Promise<CredentialRow | null> {
    let c = start;
    let base = startSecret;
    for (let attempt = 0; attempt < 5; attempt++) {
      const now = clock.now();
      const expiresAt = tokens.expiresIn === null ? null : new Date(now.getTime() + tokens.expiresIn * 1000);
      const secret: SecretValues = { ...base, access_token: tokens.accessToken };
      // A refresh answer without a refresh token keeps the stored one (RFC 6749 §6: "MAY issue").
      if (tokens.refreshToken !== null) secret.refresh_token = tokens.refreshToken;
      else if (opts.connect) delete secret.refresh_token;
      if (tokens.idToken !== null) secret.id_token = tokens.idToken;
      else if (opts.connect) delete secret.id_token;
      const config: Record<string, unknown> = { ...c.config, access_token_expires_at: expiresAt === null ? null : expiresAt.toISOString() };
      if (tokens.refreshTokenExpiresIn !== null) config.refresh_token_expires_at = new Date(now.getTime() + tokens.refreshTokenExpiresIn * 1000).toISOString();
      else if (opts.connect) config.refresh_token_expires_at = null;
      if (opts.connect?.account) config.account = opts.connect.account;
      const checkedConfig = catalog.checkConfig(c.type, config);
      const checkedSecret = catalog.checkSecret(c.type, secret);
      if (checkedConfig.issues.length > 0 || checkedSecret.issues.length > 0) {
        throw new LatchkeyError('CONFLICT', 'The provider answered with tokens this credential cannot hold', { cause: [...checkedConfig.issues, ...checkedSecret.issues] });
      }
      const row: CredentialRow = {
        ...c, config: checkedConfig.value, version: c.version + 1, revision: c.revision + 1, expiresAt: expiresAt === null ? null : expiresAt.toISOString(),
        updatedAt: iso(now), modifiedBy: actorRef(ctx), lastError: null,
        secretFields: (catalog.get(c.type)?.secretFields ?? []).filter((f) => f in checkedSecret.value),
      };
      const testSecret = c.testCredentialEnabled ? await currentSecret(c, 'test_secret') : null;
      const version: VersionRow = {
        tenantId: c.tenantId, credentialId: c.id, version: row.version, stage: 'current',
        secret: await sealSecretValues(keyring, c.tenantId, c.id, row.version, 'secret', checkedSecret.value),
        testSecret: testSecret === null ? null : await sealSecretValues(keyring, c.tenantId, c.id, row.version, 'test_secret', testSecret),
        expiresAt: null, createdAt: iso(now), createdBy: actorRef(ctx),
      };
      // The old access token keeps working at the provider until it expires: readable until then.
      const oldExpiry = accessTokenExpiry(c);
      const graceEnds = oldExpiry !== null && oldExpiry > iso(now) ? oldExpiry : iso(now);
      const restage = restagePlan(await store.listVersions(c.tenantId, c.id), c.version, graceEnds);
      const lifetimeMs = tokens.expiresIn === null ? null : tokens.expiresIn * 1000;
      const result = await store.completeRefresh(c.tenantId, owner, fence, c.revision, {
        credential: row, version, restage, audit: [audit.event(ctx, opts.action, { type: 'credential', id: c.id })],
      }, { revision: row.revision, nextAt: nextRefreshAt(expiresAt, lifetimeMs, deps.refreshLeadMs), failures: 0, blocked: false });
      if (result === 'updated') return row;
      if (result === 'fenced') {
        // Our lease ran out and another process claimed the credential: what it writes is newer.
        logger.error({ tenant_id: c.tenantId, credential_id: c.id }, 'refresh claim lost before the tokens were stored; this response is discarded');
        return null;
      }
      const fresh = await store.getCredential(c.tenantId, c.id);
      if (!fresh) return null;
      if (fresh.version !== c.version) {
        const theirs = (await currentSecret(fresh)) ?? {};
        if (!opts.connect && str(theirs.refresh_token) !== opts.usedRefreshToken) {
          // Someone stored another grant while we refreshed the old one: theirs is the one to keep.
          await store.releaseRefresh(c.tenantId, c.id, owner, fence, null);
          return fresh;
        }
        base = theirs;
      }
      c = fresh;
    }
    await store.releaseRefresh(c.tenantId, c.id, owner, fence, null);
    throw new LatchkeyError('CONFLICT', 'The credential kept changing while its tokens were stored');
  }

  /** Calls the token endpoint for the credential's grant (refresh_token or client_credentials). */
  async function obtainTokens(c: CredentialRow, secret: SecretValues): Promise<{ tokens: TokenSet; used: string | null }> {
    const endpoint = tokenEndpoint(c);
    const grant = grantOf(c);
    let params: Record<string, string>;
    let used: string | null = null;
    if (grant === 'client_credentials') {
      params = { grant_type: 'client_credentials' };
      const scopes = Array.isArray(c.config.scopes) ? (c.config.scopes as string[]) : [];
      if (scopes.length > 0) params.scope = scopes.join(providerPreset(c.provider)?.scope_separator ?? ' ');
      const aud = str(c.config.audience);
      if (aud !== null) params.audience = aud;
    } else {
      used = str(secret.refresh_token);
      if (used === null) throw new NothingToRefreshWith();
      params = { grant_type: 'refresh_token', refresh_token: used };
    }
    return { tokens: await callTokenEndpoint(egress, endpoint, clientAuth(c, secret), params, errorClasses(c)), used };
  }

  /** The refresh itself, with the claim (`fence`) held. Always leaves the claim released. */
  async function refreshHeld(ctx: RequestContext, tenantId: string, id: string, fence: number, mode: RefreshMode): Promise<FlightResult> {
    let c: CredentialRow | null = null;
    let state: RefreshState | null = null;
    try {
      // Re-read after claiming: another process may have refreshed between our read and our claim.
      c = await store.getCredential(tenantId, id);
      state = await store.getRefreshState(tenantId, id);
      if (!c) return { status: 'skipped' };
      const decision = shouldRefresh(c, state, clock.now(), mode, deps.refreshLeadMs);
      if (!decision.refresh) {
        if (decision.reason === 'not_refreshable' && mode === 'schedule' && c.type === 'oauth2' && c.deletedAt === null) throw new NothingToRefreshWith();
        await store.releaseRefresh(tenantId, id, owner, fence, null);
        return { status: decision.reason === 'fresh' ? 'fresh' : 'skipped' };
      }
      const secret = (await currentSecret(c)) ?? {};
      const { tokens, used } = await obtainTokens(c, secret);
      const written = await writeTokens(ctx, c, secret, tokens, fence, { action: 'credential.refresh', usedRefreshToken: used });
      return { status: written ? 'refreshed' : 'fresh' };
    } catch (err) {
      const failure = classifyFailure(err);
      if (!failure || !c) {
        await store.releaseRefresh(tenantId, id, owner, fence, null).catch(() => undefined);
        throw err;
      }
      const schedule = scheduleAfterFailure(failure.failure, state, c.revision, clock.now());
      logger.warn({ tenant_id: tenantId, credential_id: id, code: failure.code, failure: failure.failure, next_at: schedule.nextAt }, 'token refresh failed');
      await store.releaseRefresh(tenantId, id, owner, fence, {
        lastError: failure.lastError, schedule,
        audit: [audit.event(ctx, 'credential.refresh', { type: 'credential', id }, 'failure', failure.code)],
      });
      return { status: 'failed', failure };
    }
  }

  /**
   * One refresh attempt for a credential, shared by every caller in this process. Without a held
   * claim it claims one, or waits (bounded) while another process holds it and returns once that
   * one's result is stored.
   */
  function flight(ctx: RequestContext, tenantId: string, id: string, mode: RefreshMode, heldFence?: number): Promise<FlightResult> {
    const key = `${tenantId}\u0000${id}`;
    const joined = flights.get(key);
    if (joined) {
      if (heldFence !== undefined) void store.releaseRefresh(tenantId, id, owner, heldFence, null).catch(() => undefined);
      return joined;
    }
    const run = (async (): Promise<FlightResult> => {
      if (heldFence !== undefined) return refreshHeld(ctx, tenantId, id, heldFence, mode);
      const deadline = Date.now() + waitMs;
      let sawOther: number | null = null;
      for (let pause = 20; ; pause = Math.min(pause * 2, 200)) {
        const fence = await store.claimRefresh(tenantId, id, owner, iso(), later(leaseMs));
        if (fence !== null) return refreshHeld(ctx, tenantId, id, fence, mode);
        // Another process is refreshing: read what it leaves behind.
        await sleep(pause);
        const c = await store.getCredential(tenantId, id);
        if (!c) return { status: 'skipped' };
        sawOther ??= c.revision;
        if (mode === 'manual' ? c.revision !== sawOther : !shouldRefresh(c, await store.getRefreshState(tenantId, id), clock.now(), mode, deps.refreshLeadMs).refresh) {
          return { status: 'fresh' };
        }
        if (Date.now() > deadline) return { status: 'timeout' };
      }
    })();
    flights.set(key, run);
    void run.finally(() => flights.delete(key)).catch(() => undefined);
    return run;
  }

  /** Connect, callback, refresh and verify change the credential: its write scope, not its visibility (visibility.ts `canChange`). */
  async function loadOAuth2(ctx: RequestContext, id: string): Promise<CredentialRow> {
    const c = await credentials.getForChange(ctx, id);
    if (c.type !== 'oauth2') throw validationFailed([{ path: 'type', message: `is ${c.type}; only oauth2 credentials have tokens to refresh` }]);
    return c;
  }

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

  async function identityOf(c: CredentialRow, tokens: TokenSet, nonce: string | null): Promise<Record<string, string> | null> {
    const clientId = String(c.config.client_id ?? '');
    if (tokens.idToken !== null) {
      // Received straight from the token endpoint over the connection we checked, so the TLS
      // server check stands in for the signature (OpenID Connect Core 1.0 §3.1.3.7 item 6).
      let claims: Record<string, unknown>;
      // jose is loaded when first needed: most processes never see an ID token (start-up time).
      const { decodeJwt } = await import('jose');
      try {
        claims = decodeJwt(tokens.idToken);
      } catch {
        throw new IdTokenMismatch('not a JWT');
      }
      const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
      if (!aud.includes(clientId)) throw new IdTokenMismatch('aud is not this client');
      if (nonce !== null && claims.nonce !== nonce) throw new IdTokenMismatch('nonce does not match');
      const fromToken = account(claims.sub, claims.email, claims.name);
      if (fromToken?.email !== undefined || typeof claims.iss !== 'string') return fromToken;
      // Many providers put only `sub` in the ID token and the rest behind userinfo (found by
      // discovery from the issuer). Its `sub` must be the ID token's (OIDC Core §5.3.2).
      const extra = await userinfoByDiscovery(claims.iss, tokens.accessToken).catch(() => null);
      if (!extra || extra.sub !== claims.sub) return fromToken;
      return account(claims.sub, extra.email, extra.name ?? claims.name);
    }
    const identity = providerPreset(c.provider)?.identity;
    if (identity?.source === 'userinfo') {
      const doc = await fetchJson(egress, identity.endpoint, tokens.accessToken).catch(() => null);
      if (doc) return account(doc[identity.sub], identity.email ? doc[identity.email] : null, identity.name ? doc[identity.name] : null);
    }
    return null;
  }

  async function userinfoByDiscovery(issuer: string, accessToken: string): Promise<Record<string, unknown> | null> {
    const res = await egress.request({ method: 'GET', url: `${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`, headers: { accept: 'application/json' } });
    if (res.status !== 200) return null;
    const doc = JSON.parse(res.body.toString('utf8')) as { userinfo_endpoint?: unknown };
    if (typeof doc.userinfo_endpoint !== 'string') return null;
    return fetchJson(egress, doc.userinfo_endpoint, accessToken);
  }

  /** The browser visits the authorization endpoint, not the server; it still must not be plain http to the world. */
  async function checkAuthorizationEndpoint(url: string): Promise<void> {
    if (url.startsWith('https://')) return;
    try {
      await egress.check(url);
    } catch (err) {
      const f = classifyFailure(err, 'config.authorization_endpoint');
      throw f ? f.error : err;
    }
  }

  /**
   * Connect refuses a token endpoint whose URL alone breaks the egress policy (a literal private
   * address, plain http, another scheme). A name is checked when the code is exchanged: refusing
   * it here would answer how it resolves.
   */
  async function checkTokenEndpoint(url: string): Promise<void> {
    try {
      await egress.check(url);
    } catch (err) {
      const f = classifyFailure(err);
      throw f ? f.error : err;
    }
  }

  /** What a connect needs of a credential's config; returns the authorization endpoint. */
  async function checkConnectable(config: Record<string, unknown>): Promise<string> {
    if (grantOf({ config }) !== 'authorization_code') throw validationFailed([{ path: 'config.grant_type', message: 'must be authorization_code to connect (client_credentials tokens are fetched by the server)' }]);
    const authorizationEndpoint = str(config.authorization_endpoint);
    if (authorizationEndpoint === null) throw validationFailed([{ path: 'config.authorization_endpoint', message: 'is required to connect' }]);
    await checkTokenEndpoint(tokenEndpoint({ config }));
    await checkAuthorizationEndpoint(authorizationEndpoint);
    return authorizationEndpoint;
  }

  /** The principal that started a connect, as the state recorded it then. */
  function starterThen(row: OAuthStateRow, meta: { requestId: string; ip: string; userAgent: string }): RequestContext {
    const p = row.principal;
    return {
      principal: {
        type: p.type === 'anonymous' ? 'system' : p.type, id: p.id, name: p.name, email: p.email,
        tenantId: row.tenantId, tenantIds: [row.tenantId], role: p.role as Role, teamIds: p.teamIds, platformAdmin: false,
      },
      requestId: meta.requestId, ip: meta.ip, userAgent: meta.userAgent,
    };
  }

  /**
   * The same principal as it is now: the callback writes as it, so it must still exist and still
   * be allowed to. An access key is looked up again (revoked or expired since: null) and its
   * current role and teams replace the ones of the connect. An OIDC user or workload has nothing
   * stored to look up; its connect is bounded by the state's ten minutes.
   */
  async function starterNow(then: RequestContext): Promise<RequestContext | null> {
    const p = then.principal;
    if (p.type !== 'access_key') return then;
    const key = await store.getAccessKey(p.tenantId, p.id);
    if (!key || (key.expiresAt !== null && key.expiresAt <= iso())) return null;
    return { ...then, principal: { ...p, role: key.role as Role, teamIds: key.teamIds } };
  }

  const service: OAuthService = {
    providers: listProviderPresets,

    async connect(ctx, input, callbackUrl) {
      requirePermission(ctx, 'credentials:write');
      if ((input.credential_id === undefined) === (input.provider === undefined)) {
        throw validationFailed([{ path: 'credential_id', message: 'give either credential_id (an existing oauth2 credential) or provider (and config) for a new one' }]);
      }
      const returnTo = checkReturnTo(input.return_to, deps.returnOrigins);
      let c: CredentialRow;
      let authorizationEndpoint: string;
      if (input.credential_id !== undefined) {
        const extra = (['config', 'secret', 'name', 'description', 'integration_id', 'team_id', 'folder_id', 'read_access', 'metadata'] as const).filter((k) => input[k] !== undefined);
        if (extra.length > 0) throw validationFailed(extra.map((k) => ({ path: k, message: 'is only for a new credential (with provider)' })));
        c = await loadOAuth2(ctx, input.credential_id);
        if (c.status === 'deactivated') throw new LatchkeyError('CONFLICT', 'A deactivated credential is permanent and cannot be changed');
        authorizationEndpoint = await checkConnectable(c.config);
      } else {
        const preset = providerPreset(input.provider);
        if (!preset) throw validationFailed([{ path: 'provider', message: `is not a known provider; see GET /v1/oauth/providers` }]);
        const config = applyPreset(preset, input.config ?? {});
        const made: CredentialInput = {
          name: input.name ?? `${preset.title} ${randomBytes(3).toString('hex')}`, type: 'oauth2', provider: preset.id, config, secret: input.secret ?? {},
          ...(input.description !== undefined ? { description: input.description } : {}),
          ...(input.integration_id !== undefined ? { integration_id: input.integration_id } : {}),
          ...(input.team_id !== undefined ? { team_id: input.team_id } : {}),
          ...(input.folder_id !== undefined ? { folder_id: input.folder_id } : {}),
          ...(input.read_access !== undefined ? { read_access: input.read_access } : {}),
          ...(input.metadata !== undefined ? { metadata: input.metadata } : {}),
        };
        // Everything a connect can refuse is checked before anything is stored (on the config as
        // the catalog makes it), so a refused connect leaves no credential behind.
        const draft = catalog.checkConfig('oauth2', config);
        if (draft.issues.length > 0) throw validationFailed(draft.issues);
        authorizationEndpoint = await checkConnectable(draft.value);
        c = (await credentials.create(ctx, made)).credential;
      }

      const preset = providerPreset(c.provider);
      const redirectUri = input.redirect_uri ?? str(c.config.redirect_uri) ?? callbackUrl;
      const scopes = input.scopes ?? (Array.isArray(c.config.scopes) ? (c.config.scopes as string[]) : []);
      const state = b64url(randomBytes(32));
      const stateHash = sha256(state);
      const verifier = c.config.pkce === false ? null : b64url(randomBytes(32));
      const nonce = scopes.includes('openid') ? b64url(randomBytes(16)) : null;
      const now = clock.now();
      const row: OAuthStateRow = {
        stateHash, tenantId: c.tenantId, credentialId: c.id,
        principal: { type: ctx.principal.type, id: ctx.principal.id, name: ctx.principal.name, email: ctx.principal.email, role: ctx.principal.role, teamIds: [...ctx.principal.teamIds] },
        codeVerifier: verifier === null ? null : await keyring.sealFor(c.tenantId, Buffer.from(verifier, 'utf8'), purposeAad('oauth-pkce', c.tenantId, stateHash)),
        nonce, redirectUri, returnTo, createdAt: iso(now), expiresAt: new Date(now.getTime() + STATE_TTL_MS).toISOString(),
      };
      await store.insertOAuthState(row);
      await audit.append(audit.event(ctx, 'credential.oauth_connect', { type: 'credential', id: c.id }));

      const url = new URL(authorizationEndpoint);
      for (const [k, v] of Object.entries(preset?.authorization_params ?? {})) url.searchParams.set(k, v);
      url.searchParams.set('response_type', 'code');
      url.searchParams.set('client_id', String(c.config.client_id ?? ''));
      url.searchParams.set('redirect_uri', redirectUri);
      if (scopes.length > 0) url.searchParams.set('scope', scopes.join(preset?.scope_separator ?? ' '));
      url.searchParams.set('state', state);
      if (verifier !== null) {
        url.searchParams.set('code_challenge', b64url(createHash('sha256').update(verifier).digest()));
        url.searchParams.set('code_challenge_method', 'S256');
      }
      if (nonce !== null) url.searchParams.set('nonce', nonce);
      const aud = str(c.config.audience);
      if (aud !== null) url.searchParams.set('audience', aud);
      return { authorization_url: url.toString(), credential_id: c.id, redirect_uri: redirectUri, state_expires_at: row.expiresAt };
    },

    async callback(query, meta) {
      if (!query.state) throw new LatchkeyError('INVALID_PARAMETER', 'state is required');
      // Taken (deleted) before anything else: a state works once, whatever happens next.
      const row = await store.takeOAuthState(sha256(query.state));
      if (!row) throw new LatchkeyError('INVALID_PARAMETER', 'The state is unknown, already used or expired');
      const then = starterThen(row, meta);
      const starter = await starterNow(then);
      // A starter that is gone is still named in the failure event, as it was at the connect.
      const ctx = starter ?? then;
      const fail = async (code: string, error: LatchkeyError): Promise<CallbackResult> => {
        await audit.append(audit.event(ctx, 'credential.oauth_callback', { type: 'credential', id: row.credentialId }, 'failure', code)).catch(() => undefined);
        return { status: 'error', credentialId: row.credentialId, returnTo: row.returnTo, error: code, httpError: error };
      };
      if (row.expiresAt <= iso()) return fail('state_expired', new LatchkeyError('INVALID_PARAMETER', 'The state is unknown, already used or expired'));
      // Checked before the code is exchanged: a key revoked (or stripped of write) since it started
      // the connect must not have tokens written in its name.
      if (starter === null) return fail('starter_revoked', new LatchkeyError('CONFLICT', 'The access key that started this connection was revoked or has expired; connect again'));
      if (!can(starter.principal.role, 'credentials:write')) return fail('starter_not_allowed', new LatchkeyError('CONFLICT', 'The principal that started this connection may no longer write credentials; connect again'));
      if (query.error !== undefined) {
        // The provider's text is not repeated: only the codes of RFC 6749 §4.1.2.1, by name.
        const code = AUTHORIZATION_ERRORS.has(query.error) ? query.error : 'refused';
        return fail(code, new LatchkeyError('CONFLICT', `The provider did not authorize the connection (${code})`));
      }
      if (!query.code) return fail('missing_code', new LatchkeyError('INVALID_PARAMETER', 'code is required'));
      let fence: number | null = null;
      try {
        const c = await loadOAuth2(ctx, row.credentialId);
        const secret = (await currentSecret(c)) ?? {};
        const verifier = row.codeVerifier === null ? null : (await keyring.openFor(row.tenantId, row.codeVerifier, purposeAad('oauth-pkce', row.tenantId, row.stateHash))).toString('utf8');
        const params: Record<string, string> = { grant_type: 'authorization_code', code: query.code, redirect_uri: row.redirectUri };
        if (verifier !== null) params.code_verifier = verifier;
        const tokens = await callTokenEndpoint(egress, tokenEndpoint(c), clientAuth(c, secret), params, errorClasses(c));
        const identity = await identityOf(c, tokens, row.nonce);
        fence = await acquireClaim(c.tenantId, c.id);
        if (fence === null) return fail('busy', new LatchkeyError('UNAVAILABLE', 'The credential is being refreshed; connect again', { retryAfterSeconds: 1 }));
        const latest = (await store.getCredential(c.tenantId, c.id)) ?? c;
        const latestSecret = latest.version === c.version ? secret : ((await currentSecret(latest)) ?? {});
        const written = await writeTokens(ctx, latest, latestSecret, tokens, fence, { action: 'credential.oauth_callback', usedRefreshToken: null, connect: { account: identity } });
        fence = null;
        if (!written) return fail('busy', new LatchkeyError('UNAVAILABLE', 'The credential changed while connecting; connect again', { retryAfterSeconds: 1 }));
        return { status: 'connected', credentialId: c.id, returnTo: row.returnTo };
      } catch (err) {
        if (fence !== null) await store.releaseRefresh(row.tenantId, row.credentialId, owner, fence, null).catch(() => undefined);
        const f = classifyFailure(err);
        if (f) return fail(f.code, f.error);
        if (err instanceof LatchkeyError) return fail(err.code.toLowerCase(), err);
        throw err;
      }
    },

    async beforeReveal(ctx, c) {
      // Fast path, no extra read: a token that is there and not about to expire.
      if (!shouldRefresh(c, null, clock.now(), 'reveal', deps.refreshLeadMs).refresh) return c;
      // A dead grant or a provider in backoff is not called again by every reveal.
      if (!shouldRefresh(c, await store.getRefreshState(c.tenantId, c.id), clock.now(), 'reveal', deps.refreshLeadMs).refresh) return c;
      try {
        const result = await flight(ctx, c.tenantId, c.id, 'reveal');
        if (result.status === 'timeout') logger.warn({ tenant_id: c.tenantId, credential_id: c.id }, 'waited for another process to refresh; revealing what is stored');
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
      return refreshNow(ctx, await loadOAuth2(ctx, id));
    },

    async verify(ctx, id) {
      requirePermission(ctx, 'credentials:rotate');
      const c = await credentials.getForChange(ctx, id);
      if (c.type !== 'oauth2') throw validationFailed([{ path: 'type', message: `is ${c.type}; verification is implemented for oauth2 credentials (a token call)` }]);
      const checkedAt = iso();
      const failure = await attemptRefresh(ctx, c);
      // Nothing to make a token call with: there is nothing to verify (as for a type without a check).
      if (failure !== null && failure.remote === null) throw failure.error;
      const remote = failure?.remote ?? null;
      await audit.append(audit.event(ctx, 'credential.verify', { type: 'credential', id }, remote === null ? 'success' : 'failure', remote === null ? null : describeRemoteFailure(remote)));
      return remote === null ? { ok: true, checked_at: checkedAt } : { ok: false, checked_at: checkedAt, error: remote.category, status: remote.status };
    },

    async runOnce() {
      const now = clock.now();
      await store.purgeOAuthStates(iso(now)).catch(() => 0);
      const claims = await store.claimDueRefreshes({
        type: 'oauth2', now: iso(now), horizon: new Date(now.getTime() + deps.refreshLeadMs).toISOString(), owner, leaseUntil: later(leaseMs), limit: SCHEDULER_BATCH,
      });
      let refreshed = 0;
      let failed = 0;
      // A few at a time: one slow provider must not hold up the rest of the batch for long.
      const queue = [...claims];
      await Promise.all(Array.from({ length: Math.min(4, queue.length) }, async () => {
        for (let next = queue.shift(); next; next = queue.shift()) {
          try {
            const r = await flight(systemContext(next.tenantId), next.tenantId, next.id, 'schedule', next.fence);
            if (r.status === 'refreshed') refreshed += 1;
            if (r.status === 'failed') failed += 1;
          } catch (err) {
            failed += 1;
            logger.warn({ tenant_id: next.tenantId, credential_id: next.id, code: (err as { code?: string }).code }, 'scheduled refresh failed; will retry');
          }
        }
      }));
      return { claimed: claims.length, refreshed, failed };
    },

    start(intervalMs) {
      timer = setInterval(() => {
        if (running) return;
        running = service.runOnce()
          .catch((err: unknown) => logger.warn({ code: (err as { code?: string }).code }, 'token refresh scheduler failed; will retry'))
          .finally(() => (running = null));
      }, intervalMs);
      timer.unref();
    },

    async stop() {
      if (timer) clearInterval(timer);
      await running;
      await Promise.allSettled([...flights.values()]);
    },
  };
  return service;
}
