/**
 * "Sign in with SSO" (docs/console.md): the two browser stops of the OpenID Connect code flow.
 * `GET /ui/oidc/start` sets the login cookie and sends the browser to the provider;
 * `GET /ui/oidc/callback` finishes the sign-in (services/console/console-oidc.ts) and sets the
 * same session cookie as a pasted key, or sends the browser back to the sign-in page.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { parse as parseCookies, serialize as serializeCookie } from 'cookie';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { LatchkeyError } from '../../domain/errors.js';
import { SsoRefused } from '../../services/console/console-oidc.js';
import type { Services } from '../../services/services.js';
import { sessionCookie } from './console-session-auth.js';

const LOGIN_COOKIE = 'latchkey_oidc_login';
const SECURE_LOGIN_COOKIE = '__Host-latchkey_oidc_login';
const LOGIN_SECONDS = 600;

/** The query a provider sends back (RFC 6749 §4.1.2); anything longer than this is not from it. */
const CallbackQuery = Type.Object({
  state: Type.Optional(Type.String({ maxLength: 256 })),
  code: Type.Optional(Type.String({ maxLength: 4096 })),
  error: Type.Optional(Type.String({ maxLength: 256 })),
  error_description: Type.Optional(Type.String({ maxLength: 2048 })),
  error_uri: Type.Optional(Type.String({ maxLength: 2048 })),
  iss: Type.Optional(Type.String({ maxLength: 2048 })),
  scope: Type.Optional(Type.String({ maxLength: 2048 })),
  session_state: Type.Optional(Type.String({ maxLength: 2048 })),
});

/**
 * The login cookie travels on the provider's redirect back to us, a top-level navigation from
 * another site: SameSite=Lax is the strictest setting a browser sends then. It holds the login
 * secret (the PKCE verifier and the nonce derive from it) and dies with the callback.
 */
function loginCookie(secure: boolean, value: string, maxAge: number): string {
  return serializeCookie(secure ? SECURE_LOGIN_COOKIE : LOGIN_COOKIE, value, { httpOnly: true, sameSite: 'lax', secure, path: '/', maxAge });
}

function loginSecretOf(request: FastifyRequest): string | undefined {
  const cookies = parseCookies(request.headers.cookie ?? '');
  return request.protocol === 'https' ? cookies[SECURE_LOGIN_COOKIE] : cookies[LOGIN_COOKIE];
}

export function consoleOidcRoutes(services: Services, publicUrl: string | null): FastifyPluginAsync {
  const oidc = services.consoleOidc;
  const redirectUri = (request: FastifyRequest) => `${publicUrl ?? `${request.protocol}://${request.host}`}/ui/oidc/callback`;
  return async (fastify) => {
    const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
    const page = { config: { public: true }, schema: { hide: true } };

    app.get('/sign-in-options', { ...page, schema: { hide: true, response: { 200: Type.Object({ sso: Type.Boolean() }) } } }, async () => ({
      sso: oidc !== null,
    }));

    app.get('/oidc/start', page, async (request, reply) => {
      if (oidc === null) throw new LatchkeyError('NOT_FOUND', 'Single sign-on is not configured');
      let begun: Awaited<ReturnType<typeof oidc.begin>>;
      try {
        begun = await oidc.begin(redirectUri(request));
      } catch (err) {
        // The provider's discovery could not be read: the page says SSO is unavailable.
        request.log.warn({ reason: err instanceof SsoRefused ? err.reason : 'error' }, 'console single sign-on could not start');
        return reply.code(303).header('location', '/ui/#/sso-unavailable').send();
      }
      const { authorizationUrl, loginSecret } = begun;
      const secure = request.protocol === 'https';
      return reply
        .code(303)
        .header('set-cookie', loginCookie(secure, loginSecret, LOGIN_SECONDS))
        .header('location', authorizationUrl)
        .send();
    });

    app.get('/oidc/callback', { ...page, schema: { hide: true, querystring: CallbackQuery } }, async (request, reply) => {
      if (oidc === null) throw new LatchkeyError('NOT_FOUND', 'Single sign-on is not configured');
      const secure = request.protocol === 'https';
      const meta = { requestId: request.id, ip: request.ip, userAgent: request.headers['user-agent'] ?? '' };
      const cookies = [loginCookie(secure, '', 0)];
      try {
        const { principal, identity } = await oidc.finish(request.query, loginSecretOf(request), redirectUri(request));
        const made = await services.consoleSessions.signInOidc(principal, identity, meta);
        cookies.push(sessionCookie(secure, made.token, made.expiresAt));
        return reply.code(303).header('set-cookie', cookies).header('location', '/ui/#/credentials').send();
      } catch (err) {
        if (!(err instanceof SsoRefused) && !(err instanceof LatchkeyError && err.code === 'UNAUTHENTICATED')) {
          // The provider or the store could not be reached: say so on the page, count no failure.
          request.log.warn({ err: { message: err instanceof LatchkeyError ? err.code : 'error' } }, 'console single sign-on failed');
          return reply.code(303).header('set-cookie', cookies).header('location', '/ui/#/sso-unavailable').send();
        }
        // Refused like a bad key: audited, and held for a source that keeps failing.
        request.log.info({ reason: err instanceof SsoRefused ? err.reason : 'unauthenticated' }, 'console single sign-on refused');
        const holdMs = services.recordFailedAuthentication(request.id, request.ip, meta.userAgent);
        if (holdMs > 0) await sleep(holdMs);
        return reply.code(303).header('set-cookie', cookies).header('location', '/ui/#/sso-refused').send();
      }
    });
  };
}
