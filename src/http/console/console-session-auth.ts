import { parse as parseCookies, serialize as serializeCookie } from 'cookie';
import type { FastifyRequest } from 'fastify';
import { LatchkeyError } from '../../domain/errors.js';
import type { Principal } from '../../domain/principal.js';
import type { ConsoleSessions } from '../../services/console/console-sessions.js';

/** The console's session cookie (docs/console.md). `__Host-` is used over HTTPS: Secure, Path=/, no Domain. */
export const SESSION_COOKIE = 'latchkey_session';
export const SECURE_SESSION_COOKIE = '__Host-latchkey_session';
export const CSRF_HEADER = 'x-csrf-token';

/** The session cookie: HttpOnly, SameSite=Strict, Path=/, `__Host-` and Secure over HTTPS, for the session's life. */
export function sessionCookie(secure: boolean, token: string, expiresAt: string): string {
  return serializeCookie(secure ? SECURE_SESSION_COOKIE : SESSION_COOKIE, token, {
    httpOnly: true,
    sameSite: 'strict',
    secure,
    path: '/',
    maxAge: Math.max(1, Math.round((Date.parse(expiresAt) - Date.now()) / 1000)),
  });
}

export function sessionTokenOf(request: FastifyRequest): string | undefined {
  const header = request.headers.cookie;
  if (header === undefined) return undefined;
  const cookies = parseCookies(header);
  return cookies[SECURE_SESSION_COOKIE] ?? cookies[SESSION_COOKIE];
}

/**
 * The principal of a request the console sends with its session cookie. Every such request must
 * carry the session's CSRF token in `x-csrf-token`, reads included: a reveal is a GET, and a
 * page of another site can make a browser send GETs (SameSite=Strict already keeps the cookie
 * off cross-site requests; the token also covers a same-site page that is not the console).
 */
export async function principalOfSession(
  sessions: ConsoleSessions,
  request: FastifyRequest,
  token: string,
  tenantHeader: string | undefined,
): Promise<Principal> {
  const { principal } = await sessions.resolve(token, tenantHeader);
  const sent = request.headers[CSRF_HEADER];
  if (!sessions.csrfMatches(token, typeof sent === 'string' ? sent : undefined)) {
    throw new LatchkeyError('FORBIDDEN', "A console request needs the session's x-csrf-token header");
  }
  return principal;
}
