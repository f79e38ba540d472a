/**
 * The web console (docs/console.md), served by this process at /ui: a page, its script and its
 * style, built by `npm run build` into dist/console/ (no CDN, nothing fetched at run time), and
 * the session endpoints. The page talks to the native API (/v1) with its session cookie and the
 * session's CSRF token (console-session-auth.ts); it never holds an access key after sign-in.
 */
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { serialize as serializeCookie } from 'cookie';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { LatchkeyError } from '../../domain/errors.js';
import { permissionsOf } from '../../domain/roles.js';
import type { Principal } from '../../domain/principal.js';
import type { Services } from '../../services/services.js';
import { SECURE_SESSION_COOKIE, SESSION_COOKIE, principalOfSession, sessionCookie, sessionTokenOf } from './console-session-auth.js';
import { consoleOidcRoutes } from './console-oidc-routes.js';

// No inline script or style anywhere, so 'self' is all the page needs; frame-ancestors keeps it
// out of frames (clickjacking a reveal), form-action 'none' keeps a form from ever submitting
// (and putting a pasted key in a URL) if the script did not run.
export const CONSOLE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
  "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const ASSETS = new URL('../../console/', import.meta.url);
const FILES = { 'index.html': 'text/html; charset=utf-8', 'app.js': 'text/javascript; charset=utf-8', 'app.css': 'text/css; charset=utf-8' } as const;
type AssetName = keyof typeof FILES;

function loadAssets(): Map<AssetName, Buffer> | null {
  try {
    return new Map((Object.keys(FILES) as AssetName[]).map((name) => [name, readFileSync(new URL(name, ASSETS))]));
  } catch {
    return null;
  }
}

const SessionView = Type.Object({
  principal: Type.Object({ id: Type.String(), name: Type.String(), type: Type.String(), role: Type.String(), tenant_id: Type.String() }),
  permissions: Type.Array(Type.String()),
  csrf_token: Type.String(),
  expires_at: Type.String(),
});

function sessionView(principal: Principal, csrfToken: string, expiresAt: string) {
  return {
    principal: { id: principal.id, name: principal.name, type: principal.type, role: principal.role, tenant_id: principal.tenantId },
    permissions: [...permissionsOf(principal.role)],
    csrf_token: csrfToken,
    expires_at: expiresAt,
  };
}

function hardened(reply: FastifyReply): FastifyReply {
  return reply.headers({
    'content-security-policy': CONSOLE_CSP,
    'x-frame-options': 'DENY',
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'cross-origin-opener-policy': 'same-origin',
    'cache-control': 'no-store',
  });
}

/** Sign-in must come from the console's own page: browsers send Origin on every POST. */
function assertSameOrigin(request: FastifyRequest): void {
  const origin = request.headers.origin;
  if (origin !== `${request.protocol}://${request.host}`) throw new LatchkeyError('FORBIDDEN', "Sign-in is accepted only from this server's own console page");
}

export function consoleRoutes(services: Services, publicUrl: string | null = null): FastifyPluginAsync {
  const assets = loadAssets();
  const sessions = services.consoleSessions;
  return async (fastify) => {
    const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
    // Every answer under /ui carries the headers, errors included.
    app.addHook('onSend', async (_request, reply) => {
      hardened(reply);
    });

    const serve = (name: AssetName) => async (_request: FastifyRequest, reply: FastifyReply) => {
      const body = assets?.get(name);
      if (body === undefined) throw new LatchkeyError('UNAVAILABLE', 'The console is not built: run npm run build');
      return reply.type(FILES[name]).send(body);
    };
    const page = { config: { public: true }, schema: { hide: true } };
    app.get('/', page, serve('index.html'));
    await app.register(consoleOidcRoutes(services, publicUrl));
    app.get('/assets/app.js', page, serve('app.js'));
    app.get('/assets/app.css', page, serve('app.css'));

    app.post(
      '/session',
      {
        config: { public: true },
        schema: {
          hide: true,
          body: Type.Object({ key: Type.String({ minLength: 1, maxLength: 200 }) }, { additionalProperties: false }),
          response: { 201: SessionView },
        },
      },
      async (request, reply) => {
        assertSameOrigin(request);
        const meta = { requestId: request.id, ip: request.ip, userAgent: request.headers['user-agent'] ?? '' };
        let made: Awaited<ReturnType<typeof sessions.signIn>>;
        try {
          made = await sessions.signIn(request.body.key, meta);
        } catch (err) {
          // The same hold as a bad bearer key (app.ts): a form is no faster a way to guess keys.
          if (err instanceof LatchkeyError && err.code === 'UNAUTHENTICATED') {
            const holdMs = services.recordFailedAuthentication(request.id, request.ip, meta.userAgent);
            if (holdMs > 0) await sleep(holdMs);
          }
          throw err;
        }
        const cookie = sessionCookie(request.protocol === 'https', made.token, made.expiresAt);
        return reply
          .code(201)
          .header('set-cookie', cookie)
          .send(sessionView(made.principal, made.csrfToken, made.expiresAt));
      },
    );

    app.get('/session', { config: { public: true }, schema: { hide: true, response: { 200: SessionView } } }, async (request) => {
      const token = sessionTokenOf(request);
      if (token === undefined) throw new LatchkeyError('UNAUTHENTICATED', 'Not signed in');
      const s = await sessions.resolve(token, undefined);
      return sessionView(s.principal, s.csrfToken, s.expiresAt);
    });

    app.delete('/session', { config: { public: true }, schema: { hide: true, response: { 204: Type.Null() } } }, async (request, reply) => {
      const token = sessionTokenOf(request);
      if (token === undefined) throw new LatchkeyError('UNAUTHENTICATED', 'Not signed in');
      const principal = await principalOfSession(sessions, request, token, undefined);
      await sessions.signOut({ principal, requestId: request.id, ip: request.ip, userAgent: request.headers['user-agent'] ?? '' }, token);
      const secure = request.protocol === 'https';
      return reply
        .code(204)
        .header(
          'set-cookie',
          serializeCookie(secure ? SECURE_SESSION_COOKIE : SESSION_COOKIE, '', { httpOnly: true, sameSite: 'strict', secure, path: '/', maxAge: 0 }),
        )
        .send(null);
    });
  };
}
