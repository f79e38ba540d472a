import { hash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../../domain/clock.js';
import { LatchkeyError } from '../../domain/errors.js';
import type { Principal, RequestContext } from '../../domain/principal.js';
import type { ConsoleSessionRow, ConsoleSessionStore } from '../../store/port.js';
import { ACCESS_KEY_RE, hashAccessKey } from '../access-keys/key-material.js';
import type { AuditService } from '../audit/audit-service.js';
import type { Authenticator } from '../auth/authenticator.js';
import type { ConsoleOidc } from './console-oidc.js';

/**
 * Console sessions (docs/console.md). A person pastes an access key once; the browser then holds
 * only an HttpOnly cookie with a random token. The store keeps the token's SHA-256 and the key's
 * SHA-256, so every process of a shared store finds the session, and each request authenticates
 * the key again through the authenticator: a revoked or expired key ends its sessions at once
 * (the same invalidation feed that drops a revoked key everywhere). Logout deletes the row.
 *
 * The CSRF token is derived from the session token (a one-way hash), so it needs no storage: the
 * page reads it from the session answer (same-origin only) and sends it on every API request.
 */
export interface ConsoleSessions {
  signIn(
    key: string,
    meta: { requestId: string; ip: string; userAgent: string },
  ): Promise<{ token: string; csrfToken: string; principal: Principal; expiresAt: string }>;
  /** A session for a person signed in with the console's OIDC issuer (console-oidc.ts). */
  signInOidc(
    principal: Principal,
    identity: string,
    meta: { requestId: string; ip: string; userAgent: string },
  ): Promise<{ token: string; csrfToken: string; principal: Principal; expiresAt: string }>;
  /** The session's principal, or UNAUTHENTICATED (missing, expired, signed out, or its key revoked). */
  resolve(token: string, tenantHeader: string | undefined): Promise<{ principal: Principal; csrfToken: string; expiresAt: string }>;
  signOut(ctx: RequestContext, token: string): Promise<void>;
  /** The request carries the session's CSRF token (compared in constant time). */
  csrfMatches(token: string, sent: string | undefined): boolean;
}

const TOKEN_RE = /^lks_[A-Za-z0-9_-]{43}$/;
const unauthenticated = () => new LatchkeyError('UNAUTHENTICATED', 'Missing, expired or ended console session');
const tokenHash = (token: string): Buffer => hash('sha256', token, 'buffer');
const csrfOf = (token: string): string => hash('sha256', `latchkey console csrf\0${token}`, 'base64url');

export function createConsoleSessions(deps: {
  store: ConsoleSessionStore;
  authenticator: Pick<Authenticator, 'authenticate' | 'authenticateKeyHash'>;
  /** Maps an OIDC session's identity to its principal now; absent = OIDC sessions end at their next request. */
  oidc?: Pick<ConsoleOidc, 'principalOf'> | undefined;
  audit: AuditService;
  clock: Clock;
  ttlSeconds: number;
}): ConsoleSessions {
  const { store, authenticator, audit, clock } = deps;
  const target = (p: Principal) => ({ type: p.type === 'access_key' ? 'access_key' : 'user', id: p.id });

  async function open(
    principal: Principal,
    standsFor: { keyHash: Buffer | null; oidcIdentity: string | null },
    meta: { requestId: string; ip: string; userAgent: string },
  ) {
    const now = clock.now();
    // Expired rows are removed here rather than by a timer: sign-ins are rare, and a stale row
    // is refused anyway by its expires_at.
    await store.deleteExpiredConsoleSessions(now.toISOString());
    const token = `lks_${randomBytes(32).toString('base64url')}`;
    const expiresAt = new Date(now.getTime() + deps.ttlSeconds * 1000).toISOString();
    await store.insertConsoleSession({ tokenHash: tokenHash(token), tenantId: principal.tenantId, ...standsFor, createdAt: now.toISOString(), expiresAt });
    await audit.append(audit.event({ principal, ...meta }, 'console.sign_in', target(principal)));
    return { token, csrfToken: csrfOf(token), principal, expiresAt };
  }

  /** The principal the session stands for now: its access key checked again, or its OIDC identity mapped again. */
  function principalOfRow(session: ConsoleSessionRow, tenantHeader: string | undefined): Promise<Principal> {
    if (session.keyHash !== null) return authenticator.authenticateKeyHash(session.keyHash, tenantHeader);
    if (session.oidcIdentity === null || deps.oidc === undefined) return Promise.reject(unauthenticated());
    return deps.oidc.principalOf(session.oidcIdentity, session.tenantId, tenantHeader);
  }

  return {
    async signIn(key, meta) {
      // Access keys only: an OIDC token has its own expiry and a sign-in flow of its own.
      if (!ACCESS_KEY_RE.test(key)) throw new LatchkeyError('UNAUTHENTICATED', 'Not an access key');
      const principal = await authenticator.authenticate(`Bearer ${key}`, undefined);
      return open(principal, { keyHash: hashAccessKey(key), oidcIdentity: null }, meta);
    },

    signInOidc(principal, identity, meta) {
      return open(principal, { keyHash: null, oidcIdentity: identity }, meta);
    },

    async resolve(token, tenantHeader) {
      if (!TOKEN_RE.test(token)) throw unauthenticated();
      const h = tokenHash(token);
      const session = await store.findConsoleSession(h);
      if (session === null || !timingSafeEqual(session.tokenHash, h)) throw unauthenticated();
      if (Date.parse(session.expiresAt) <= clock.now().getTime()) {
        await store.deleteConsoleSession(h);
        throw unauthenticated();
      }
      let principal: Principal;
      try {
        principal = await principalOfRow(session, tenantHeader);
      } catch (err) {
        // The key behind the session is gone or expired, or the identity maps to no role: so is the session.
        if (err instanceof LatchkeyError && err.code === 'UNAUTHENTICATED') await store.deleteConsoleSession(h);
        throw err;
      }
      return { principal, csrfToken: csrfOf(token), expiresAt: session.expiresAt };
    },

    async signOut(ctx, token) {
      await store.deleteConsoleSession(tokenHash(token));
      await audit.append(audit.event(ctx, 'console.sign_out', target(ctx.principal)));
    },

    csrfMatches(token, sent) {
      if (sent === undefined) return false;
      const want = Buffer.from(csrfOf(token));
      const got = Buffer.from(sent);
      return want.length === got.length && timingSafeEqual(want, got);
    },
  };
}
