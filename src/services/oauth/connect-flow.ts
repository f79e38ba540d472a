import { createHash, randomBytes } from 'node:crypto';
import { purposeAad } from '../../crypto/aead.js';
import { LatchkeyError, validationFailed } from '../../domain/errors.js';
import { requirePermission, type RequestContext } from '../../domain/principal.js';
import { can, type Role } from '../../domain/roles.js';
import type { CredentialRow, OAuthStateRow } from '../../store/port.js';
import type { CredentialInput } from '../credentials/credential-input.js';
import { classifyFailure, IdTokenMismatch } from './oauth-errors.js';
import { clientAuth, errorClasses, loadOAuth2, str, tokenEndpoint } from './oauth2-credential.js';
import type { OAuthDeps } from './oauth-service.js';
import { applyPreset, providerPreset } from './provider-presets.js';
import type { RefreshCoordinator } from './refresh-coordinator.js';
import { grantOf } from './refresh-policy.js';
import { callTokenEndpoint, fetchJson, type TokenSet } from './token-client.js';

/**
 * The authorization-code connect flow: `connect` stores a single-use state (PKCE verifier sealed,
 * OIDC nonce) and answers the provider's authorization URL; `callback` takes the state once,
 * checks that its starter may still write, exchanges the code and stores the tokens under a
 * refresh claim (refresh-coordinator.ts), as a refresh would.
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

const STATE_TTL_MS = 10 * 60_000;
/** Error codes of an authorization response (RFC 6749 §4.1.2.1): repeated by name, anything else is `refused`. */
const AUTHORIZATION_ERRORS: ReadonlySet<string> = new Set([
  'invalid_request',
  'unauthorized_client',
  'access_denied',
  'unsupported_response_type',
  'invalid_scope',
  'server_error',
  'temporarily_unavailable',
]);

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');
const b64url = (bytes: Buffer): string => bytes.toString('base64url');

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

export interface ConnectFlow {
  connect(ctx: RequestContext, input: ConnectInput, callbackUrl: string): Promise<ConnectResult>;
  callback(query: CallbackQuery, meta: { requestId: string; ip: string; userAgent: string }): Promise<CallbackResult>;
}

export function createConnectFlow(deps: OAuthDeps, refresher: RefreshCoordinator): ConnectFlow {
  const { store, keyring, catalog, audit, clock, credentials, egress } = deps;
  const { currentSecret, acquireClaim, writeTokens } = refresher;
  const iso = (d: Date = clock.now()): string => d.toISOString();

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
    const res = await egress.request({
      method: 'GET',
      url: `${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`,
      headers: { accept: 'application/json' },
    });
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
    if (grantOf({ config }) !== 'authorization_code')
      throw validationFailed([
        { path: 'config.grant_type', message: 'must be authorization_code to connect (client_credentials tokens are fetched by the server)' },
      ]);
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
        type: p.type === 'anonymous' ? 'system' : p.type,
        id: p.id,
        name: p.name,
        email: p.email,
        tenantId: row.tenantId,
        tenantIds: [row.tenantId],
        role: p.role as Role,
        teamIds: p.teamIds,
        platformAdmin: false,
      },
      requestId: meta.requestId,
      ip: meta.ip,
      userAgent: meta.userAgent,
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

  return {
    async connect(ctx, input, callbackUrl) {
      requirePermission(ctx, 'credentials:write');
      if ((input.credential_id === undefined) === (input.provider === undefined)) {
        throw validationFailed([
          { path: 'credential_id', message: 'give either credential_id (an existing oauth2 credential) or provider (and config) for a new one' },
        ]);
      }
      const returnTo = checkReturnTo(input.return_to, deps.returnOrigins);
      let c: CredentialRow;
      let authorizationEndpoint: string;
      if (input.credential_id !== undefined) {
        const extra = (['config', 'secret', 'name', 'description', 'integration_id', 'team_id', 'folder_id', 'read_access', 'metadata'] as const).filter(
          (k) => input[k] !== undefined,
        );
        if (extra.length > 0) throw validationFailed(extra.map((k) => ({ path: k, message: 'is only for a new credential (with provider)' })));
        c = await loadOAuth2(credentials, ctx, input.credential_id);
        if (c.status === 'deactivated') throw new LatchkeyError('CONFLICT', 'A deactivated credential is permanent and cannot be changed');
        authorizationEndpoint = await checkConnectable(c.config);
      } else {
        const preset = providerPreset(input.provider);
        if (!preset) throw validationFailed([{ path: 'provider', message: `is not a known provider; see GET /v1/oauth/providers` }]);
        const config = applyPreset(preset, input.config ?? {});
        const made: CredentialInput = {
          name: input.name ?? `${preset.title} ${randomBytes(3).toString('hex')}`,
          type: 'oauth2',
          provider: preset.id,
          config,
          secret: input.secret ?? {},
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
        stateHash,
        tenantId: c.tenantId,
        credentialId: c.id,
        principal: {
          type: ctx.principal.type,
          id: ctx.principal.id,
          name: ctx.principal.name,
          email: ctx.principal.email,
          role: ctx.principal.role,
          teamIds: [...ctx.principal.teamIds],
        },
        codeVerifier:
          verifier === null ? null : await keyring.sealFor(c.tenantId, Buffer.from(verifier, 'utf8'), purposeAad('oauth-pkce', c.tenantId, stateHash)),
        nonce,
        redirectUri,
        returnTo,
        createdAt: iso(now),
        expiresAt: new Date(now.getTime() + STATE_TTL_MS).toISOString(),
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
      if (starter === null)
        return fail('starter_revoked', new LatchkeyError('CONFLICT', 'The access key that started this connection was revoked or has expired; connect again'));
      if (!can(starter.principal.role, 'credentials:write'))
        return fail(
          'starter_not_allowed',
          new LatchkeyError('CONFLICT', 'The principal that started this connection may no longer write credentials; connect again'),
        );
      if (query.error !== undefined) {
        // The provider's text is not repeated: only the codes of RFC 6749 §4.1.2.1, by name.
        const code = AUTHORIZATION_ERRORS.has(query.error) ? query.error : 'refused';
        return fail(code, new LatchkeyError('CONFLICT', `The provider did not authorize the connection (${code})`));
      }
      if (!query.code) return fail('missing_code', new LatchkeyError('INVALID_PARAMETER', 'code is required'));
      let fence: number | null = null;
      try {
        const c = await loadOAuth2(credentials, ctx, row.credentialId);
        const secret = (await currentSecret(c)) ?? {};
        const verifier =
          row.codeVerifier === null
            ? null
            : (await keyring.openFor(row.tenantId, row.codeVerifier, purposeAad('oauth-pkce', row.tenantId, row.stateHash))).toString('utf8');
        const params: Record<string, string> = { grant_type: 'authorization_code', code: query.code, redirect_uri: row.redirectUri };
        if (verifier !== null) params.code_verifier = verifier;
        const tokens = await callTokenEndpoint(egress, tokenEndpoint(c), clientAuth(c, secret), params, errorClasses(c));
        const identity = await identityOf(c, tokens, row.nonce);
        fence = await acquireClaim(c.tenantId, c.id);
        if (fence === null) return fail('busy', new LatchkeyError('UNAVAILABLE', 'The credential is being refreshed; connect again', { retryAfterSeconds: 1 }));
        const latest = (await store.getCredential(c.tenantId, c.id)) ?? c;
        const latestSecret = latest.version === c.version ? secret : ((await currentSecret(latest)) ?? {});
        const written = await writeTokens(ctx, latest, latestSecret, tokens, fence, {
          action: 'credential.oauth_callback',
          usedRefreshToken: null,
          connect: { account: identity },
        });
        fence = null;
        if (!written) return fail('busy', new LatchkeyError('UNAVAILABLE', 'The credential changed while connecting; connect again', { retryAfterSeconds: 1 }));
        return { status: 'connected', credentialId: c.id, returnTo: row.returnTo };
      } catch (err) {
        if (fence !== null) await refresher.releaseClaim(row.tenantId, row.credentialId, fence).catch(() => undefined);
        const f = classifyFailure(err);
        if (f) return fail(f.code, f.error);
        if (err instanceof LatchkeyError) return fail(err.code.toLowerCase(), err);
        throw err;
      }
    },
  };
}
