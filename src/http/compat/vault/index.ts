/**
 * Vault / OpenBao KV version 2, served under `/compat/vault` (docs/compat.md): clients' address
 * points here (`http://host:port/compat/vault`, then `/v1/...`). `X-Vault-Token` (or
 * `Authorization: Bearer`) is a Latchkey access key; roles, teams, audit and tenancy are native.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyPluginAsync } from 'fastify';
import type { Clock } from '../../../domain/clock.js';
import { LatchkeyError } from '../../../domain/errors.js';
import type { RequestContext } from '../../../domain/principal.js';
import type { Services } from '../../../services/services.js';
import { parseStrictJsonBody } from '../../strict-json.js';
import { kvV2Routes } from './kv-v2.js';
import { permissionDenied, toVaultError, vaultResponse } from './vault-envelope.js';

export const VAULT_PREFIX = '/vault';
const tags = ['dialect: vault'];

/** What Vault's own health answer says of a server that is up: initialised, unsealed, active. */
const VERSION = '1.15.0+latchkey';

export function vaultDialect(s: Services, clock: Clock): FastifyPluginAsync {
  return async (app) => {
    // application/json is the app's strict parser; some Vault clients label JSON otherwise.
    app.addContentTypeParser(['application/merge-patch+json', 'text/plain'], { parseAs: 'buffer' }, (_req, body, done) => {
      try {
        done(null, (body as Buffer).length === 0 ? undefined : parseStrictJsonBody(body as Buffer));
      } catch (err) {
        done(err as Error, undefined);
      }
    });

    app.addHook('onRequest', async (request) => {
      if (request.routeOptions.url === `/compat${VAULT_PREFIX}/v1/sys/health` || request.is404) return;
      const vaultToken = request.headers['x-vault-token'];
      const authorization = typeof vaultToken === 'string' && vaultToken !== '' ? `Bearer ${vaultToken}` : request.headers.authorization;
      try {
        const principal = await s.authenticator.authenticate(authorization, undefined);
        request.ctx = { principal, requestId: request.id, ip: request.ip, userAgent: request.headers['user-agent'] ?? '' };
      } catch (err) {
        if (err instanceof LatchkeyError && err.code === 'UNAUTHENTICATED') {
          const holdMs = s.recordFailedAuthentication(request.id, request.ip, request.headers['user-agent'] ?? '');
          if (holdMs > 0) await sleep(holdMs);
          throw permissionDenied();
        }
        throw err;
      }
    });

    app.setErrorHandler((err, request, reply) => {
      const e = toVaultError(err);
      if (e.status >= 500) {
        const frames = ((err as Error)?.stack ?? '').split('\n').slice(1, 8).join('\n');
        request.log.error({ reqId: request.id, err: { type: (err as Error)?.name, code: (err as { code?: string })?.code, frames } }, 'request failed');
      }
      // A refused or missing secret read is audited like a native reveal's refusal (a probe).
      const ctx = (request.ctx as RequestContext | undefined) ?? null;
      if (ctx && e.status === 404 && request.method === 'GET' && /\/v1\/secret\/(data|subkeys)\//.test(request.url)) {
        s.audit.recordRefused({
          ctx,
          outcome: 'not_found',
          action: 'credential.reveal',
          target: null,
          requestId: request.id,
          ip: request.ip,
          userAgent: request.headers['user-agent'] ?? '',
          method: request.method,
          route: request.routeOptions.url ?? null,
          params: {},
        });
      }
      return reply.code(e.status).header('cache-control', 'no-store').send({ errors: e.errors });
    });
    app.setNotFoundHandler((_request, reply) => reply.code(404).header('cache-control', 'no-store').send({ errors: [] }));

    app.get('/v1/sys/health', { config: { public: true }, schema: { tags, summary: 'Vault health: initialised, unsealed, active' } }, async () => ({
      initialized: true,
      sealed: false,
      standby: false,
      performance_standby: false,
      replication_performance_mode: 'disabled',
      replication_dr_mode: 'disabled',
      server_time_utc: Math.floor(clock.now().getTime() / 1000),
      version: VERSION,
      cluster_name: 'latchkey',
    }));

    const secretMount = {
      type: 'kv',
      description: 'Latchkey credentials',
      options: { version: '2' },
      accessor: 'kv_latchkey',
      local: false,
      seal_wrap: false,
      config: { default_lease_ttl: 0, max_lease_ttl: 0 },
    };
    app.get('/v1/sys/mounts', { config: { public: true }, schema: { tags, summary: 'The one mount: secret/ (kv v2)' } }, async (request) =>
      vaultResponse(request.id, { 'secret/': secretMount }, { 'secret/': secretMount }),
    );
    app.get(
      '/v1/sys/internal/ui/mounts/*',
      { config: { public: true }, schema: { tags, summary: 'Which mount a path is on (clients ask before a read)' } },
      async (request) => {
        const path = (request.params as Record<string, string>)['*'] ?? '';
        if (path !== 'secret' && !path.startsWith('secret/')) throw permissionDenied();
        return vaultResponse(request.id, { ...secretMount, path: 'secret/' });
      },
    );

    app.get(
      '/v1/auth/token/lookup-self',
      { config: { public: true }, schema: { tags, summary: 'The access key behind the token (never the token itself)' } },
      async (request) => {
        const p = request.ctx.principal;
        return vaultResponse(request.id, {
          accessor: p.id,
          display_name: p.name,
          entity_id: p.id,
          expire_time: null,
          explicit_max_ttl: 0,
          id: '',
          meta: { tenant_id: p.tenantId, role: p.role },
          num_uses: 0,
          orphan: true,
          path: 'auth/token/create',
          policies: [p.role],
          renewable: false,
          ttl: 0,
          type: 'service',
        });
      },
    );

    kvV2Routes(app, s, clock);
  };
}
