import { hash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { JSONWebKeySet, JWTPayload, JWTVerifyGetKey } from 'jose';
import type { Clock } from '../../domain/clock.js';
import { LatchkeyError } from '../../domain/errors.js';
import type { Principal } from '../../domain/principal.js';
import { createEgressGuard, EgressAllowList, type EgressGuard } from '../../egress/egress-guard.js';
import type { ConsoleSessionStore, Store } from '../../store/port.js';
import { mappedClaims, principalFromClaims, tenantsOfClaims, type OidcIssuerConfig } from '../auth/oidc.js';
import type { TeamDirectory } from '../tenancy/team-directory.js';

/**
 * "Sign in with SSO" on the console (docs/console.md): OpenID Connect authorization code flow
 * with PKCE (S256), state and nonce, for one issuer the operator named.
 *
 * The browser holds the only secret of a sign-in under way: a random login secret in an HttpOnly
 * cookie. The state, the nonce and the PKCE verifier are derived from it (SHA-256 with a label
 * each), so the state in the URL says nothing of the verifier, and the store keeps only the hash
 * of the state, taken once by the callback. Hence:
 * - a wrong state (or a callback in a browser that did not start the sign-in: no cookie, another
 *   cookie) is refused before any call to the provider;
 * - a replayed callback finds its state taken; a code replayed under a fresh state fails PKCE at
 *   the provider, which refuses a used code anyway;
 * - an ID token whose nonce is not this sign-in's (a code injected from another sign-in) is refused.
 *
 * The session then keeps the mapped claims of the ID token, and every request maps them again
 * with the issuer's current settings (services/auth/oidc.ts): a tenant removed, a role_map entry
 * removed, or the issuer taken out of the configuration ends the session at its next request.
 */
export interface ConsoleOidc {
  /** Where the browser goes to sign in, and the login secret for its cookie. */
  begin(redirectUri: string): Promise<{ authorizationUrl: string; loginSecret: string }>;
  /** The callback: the principal signed in and the identity its session keeps, or an SsoRefused. */
  finish(
    query: { state?: string | undefined; code?: string | undefined; error?: string | undefined },
    loginSecret: string | undefined,
    redirectUri: string,
  ): Promise<{ principal: Principal; identity: string }>;
  /** The principal of a stored identity now, or UNAUTHENTICATED when it no longer maps to one. */
  principalOf(identity: string, tenantId: string, tenantHeader: string | undefined): Promise<Principal>;
}

export interface ConsoleOidcSettings {
  issuer: OidcIssuerConfig;
  clientId: string;
  clientSecret: string | null;
  scopes: readonly string[];
}

/** A refused SSO callback; `reason` is for the server's log only (never a provider's text). */
export class SsoRefused extends Error {
  constructor(readonly reason: string) {
    super(`single sign-on refused: ${reason}`);
  }
}

/** How long a sign-in may take at the provider. */
const LOGIN_SECONDS = 600;
const ASYMMETRIC = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];
const SECRET_RE = /^[A-Za-z0-9_-]{43}$/;

const derive = (label: string, secret: string): string => hash('sha256', `latchkey console oidc ${label}\0${secret}`, 'base64url');
const sha256 = (v: string): Buffer => hash('sha256', v, 'buffer');

interface Discovery {
  authorization_endpoint: string;
  token_endpoint: string;
  jwks_uri: string;
}

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export function createConsoleOidc(
  settings: ConsoleOidcSettings,
  deps: {
    store: Pick<ConsoleSessionStore, 'insertConsoleOidcLogin' | 'takeConsoleOidcLogin'> & Pick<Store, 'getTenant'>;
    teams: TeamDirectory;
    clock: Clock;
    timeoutMs: number;
    /** Tests pass their own; else the guard allows the issuer's host (the operator named it) and nothing private beyond. */
    egress?: EgressGuard;
  },
): ConsoleOidc {
  const c = settings.issuer;
  const issuerHost = new URL(c.issuer).hostname.replace(/^\[|\]$/g, '');
  // Like the audit webhook (services/audit/sinks): the operator's issuer may be internal, the
  // endpoints it points to elsewhere must be public https; no redirect is followed.
  const egress =
    deps.egress ?? createEgressGuard({ allow: new EgressAllowList([issuerHost]), timeoutMs: deps.timeoutMs, maxResponseBytes: 256 * 1024, maxRedirects: 0 });
  const jose = import('jose');

  const getJson = async (url: string, what: string): Promise<Record<string, unknown>> => {
    const res = await egress.request({ method: 'GET', url, headers: { accept: 'application/json' } });
    if (res.status !== 200) throw new SsoRefused(`${what} answered ${res.status}`);
    return JSON.parse(res.body.toString('utf8')) as Record<string, unknown>;
  };

  let discovery: Promise<Discovery> | undefined;
  const discover = (): Promise<Discovery> => {
    discovery ??= (async () => {
      const d = await getJson(`${c.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`, 'discovery');
      // OpenID Connect Discovery §4.3: the document must name the issuer it was fetched for.
      if (d.issuer !== c.issuer) throw new SsoRefused('discovery names another issuer');
      const { authorization_endpoint: a, token_endpoint: t } = d;
      const jwks = c.jwks_uri ?? d.jwks_uri;
      if (typeof a !== 'string' || typeof t !== 'string' || typeof jwks !== 'string') throw new SsoRefused('discovery lacks an endpoint');
      return { authorization_endpoint: a, token_endpoint: t, jwks_uri: jwks };
    })();
    // A failed discovery is tried again at the next sign-in rather than kept.
    discovery.catch(() => {
      discovery = undefined;
    });
    return discovery;
  };

  let keys: { set: JWTVerifyGetKey; loadedAt: number } | undefined;
  const keySet = async (fresh: boolean): Promise<JWTVerifyGetKey> => {
    const now = deps.clock.now().getTime();
    // A key the set does not have is looked for again, at most every 30 s (a rotation at the provider).
    if (keys && (!fresh || now - keys.loadedAt < 30_000)) return keys.set;
    const json = await getJson((await discover()).jwks_uri, 'jwks');
    keys = { set: (await jose).createLocalJWKSet(json as unknown as JSONWebKeySet), loadedAt: now };
    return keys.set;
  };

  const verifyIdToken = async (idToken: string): Promise<JWTPayload> => {
    const { jwtVerify } = await jose;
    const options = {
      issuer: c.issuer,
      audience: settings.clientId,
      algorithms: c.algorithms ?? ASYMMETRIC,
      requiredClaims: ['sub', 'exp', 'iat', 'nonce'],
      clockTolerance: 30,
    };
    try {
      return (await jwtVerify(idToken, await keySet(false), options)).payload;
    } catch (err) {
      if ((err as { code?: string }).code !== 'ERR_JWKS_NO_MATCHING_KEY') throw new SsoRefused('ID token did not verify');
    }
    try {
      return (await jwtVerify(idToken, await keySet(true), options)).payload;
    } catch {
      throw new SsoRefused('ID token did not verify');
    }
  };

  const exchange = async (code: string, verifier: string, redirectUri: string): Promise<string> => {
    const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
    const form = new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: verifier });
    // RFC 6749 §2.3.1: client_secret_basic, both parts form-encoded first.
    if (settings.clientSecret !== null)
      headers.authorization = `Basic ${Buffer.from(`${encodeURIComponent(settings.clientId)}:${encodeURIComponent(settings.clientSecret)}`).toString('base64')}`;
    else form.set('client_id', settings.clientId);
    const res = await egress.request({ method: 'POST', url: (await discover()).token_endpoint, headers, body: form.toString() });
    // The provider's answer is never quoted: only its status reaches the log.
    if (res.status !== 200) throw new SsoRefused(`token endpoint answered ${res.status}`);
    let idToken: unknown;
    try {
      idToken = (JSON.parse(res.body.toString('utf8')) as { id_token?: unknown }).id_token;
    } catch {
      throw new SsoRefused('token endpoint answered no JSON');
    }
    if (typeof idToken !== 'string') throw new SsoRefused('token endpoint answered no ID token');
    return idToken;
  };

  const map = (payload: JWTPayload, tenantHeader: string | undefined) => principalFromClaims(c, payload, tenantHeader, deps);

  return {
    async begin(redirectUri) {
      const d = await discover();
      const loginSecret = randomBytes(32).toString('base64url');
      const state = derive('state', loginSecret);
      const now = deps.clock.now();
      await deps.store.insertConsoleOidcLogin({
        stateHash: sha256(state),
        createdAt: now.toISOString(),
        expiresAt: new Date(now.getTime() + LOGIN_SECONDS * 1000).toISOString(),
      });
      const url = new URL(d.authorization_endpoint);
      url.search = new URLSearchParams({
        response_type: 'code',
        client_id: settings.clientId,
        redirect_uri: redirectUri,
        scope: settings.scopes.join(' '),
        state,
        nonce: derive('nonce', loginSecret),
        code_challenge: hash('sha256', derive('pkce', loginSecret), 'base64url'),
        code_challenge_method: 'S256',
      }).toString();
      return { authorizationUrl: url.toString(), loginSecret };
    },

    async finish(query, loginSecret, redirectUri) {
      if (loginSecret === undefined || !SECRET_RE.test(loginSecret)) throw new SsoRefused('no sign-in under way in this browser');
      const state = derive('state', loginSecret);
      if (query.state === undefined || !sameText(query.state, state)) throw new SsoRefused('state does not match');
      if (!(await deps.store.takeConsoleOidcLogin(sha256(state), deps.clock.now().toISOString()))) throw new SsoRefused('state used or expired');
      if (query.error !== undefined) throw new SsoRefused('the provider answered an error');
      if (query.code === undefined || query.code === '') throw new SsoRefused('no code');
      const payload = await verifyIdToken(await exchange(query.code, derive('pkce', loginSecret), redirectUri));
      if (typeof payload.nonce !== 'string' || !sameText(payload.nonce, derive('nonce', loginSecret))) throw new SsoRefused('nonce does not match');
      // OpenID Connect Core §3.1.3.7: with several audiences, the token must be issued to us.
      if (Array.isArray(payload.aud) && payload.aud.length > 1 && payload.azp !== settings.clientId) throw new SsoRefused('azp is not this client');
      const claims = mappedClaims(c, payload);
      // A person of several tenants starts in the first their claims name.
      let principal: Principal;
      try {
        principal = await map(claims, tenantsOfClaims(c, claims)[0]);
      } catch {
        throw new SsoRefused('the identity maps to no tenant and role');
      }
      return { principal, identity: JSON.stringify({ iss: c.issuer, claims }) };
    },

    async principalOf(identity, tenantId, tenantHeader) {
      const stored = JSON.parse(identity) as { iss?: unknown; claims?: JWTPayload };
      if (stored.iss !== c.issuer || typeof stored.claims !== 'object' || stored.claims === null) {
        throw new LatchkeyError('UNAUTHENTICATED', 'Missing, expired or ended console session');
      }
      return map(stored.claims, tenantHeader ?? tenantId);
    },
  };
}
