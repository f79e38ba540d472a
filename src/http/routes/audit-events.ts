import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { requirePermission, type RequestContext } from '../../domain/principal.js';
import type { AuditService } from '../../services/audit/audit-service.js';
import type { Services } from '../../services/services.js';
import { DateTime, PathId, errorResponses } from '../schemas/common.js';
import { auditView, decodeCursor, encodeCursor } from '../views.js';

const tags = ['audit'];
const Outcome = Type.Union([Type.Literal('success'), Type.Literal('denied'), Type.Literal('not_found'), Type.Literal('failure')]);
const Query = Type.Object(
  {
    per_page: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
    cursor: Type.Optional(Type.String({ maxLength: 512, pattern: '^[A-Za-z0-9_-]+$' })),
    'filter[credential_id]': Type.Optional(PathId),
    'filter[action]': Type.Optional(Type.String({ maxLength: 64, pattern: '^[a-z_.]+$' })),
    'filter[outcome]': Type.Optional(Outcome),
    'filter[actor_id]': Type.Optional(PathId),
    'filter[since]': Type.Optional(DateTime),
    'filter[until]': Type.Optional(DateTime),
  },
  { additionalProperties: false },
);
const EventView = Type.Object({
  id: Type.String(),
  at: Type.String(),
  tenant_id: Type.String(),
  actor: Type.Object({ type: Type.String(), id: Type.String(), name: Type.String() }),
  action: Type.String(),
  target: Type.Object({ type: Type.String(), id: Type.Union([Type.String(), Type.Null()]) }),
  outcome: Type.Union(Outcome.anyOf, {
    description:
      "`not_found`: a request for an id the caller cannot see (another tenant's, outside its teams, or none), answered 404 like an id that never existed",
  }),
  reason: Type.Union([Type.String(), Type.Null()]),
  request_id: Type.String(),
  ip: Type.String(),
  user_agent: Type.String(),
  suppressed: Type.Integer({
    minimum: 0,
    description:
      'Refusals (denied, not_found) are grouped by actor, action and target over a window: the first is written at once, and when the ' +
      'window closes the last is written with the number of further refusals it stands for here. Each event stands for 1 + suppressed ' +
      'attempts. 0 on every other event. Hashed into the chain after prev_hash when it is above 0.',
  }),
  detail: Type.Union([Type.Record(Type.String(), Type.Union([Type.String(), Type.Number(), Type.Boolean(), Type.Null()])), Type.Null()], {
    description:
      "Facts beyond action and target, on the events that have them: a rotation's `version`, a status change's `status`, an expiry " +
      "warning's `lead_days` and `expires_at`, a failure's `category`. Ids, numbers, fixed words and timestamps only, never a secret. " +
      'Hashed into the chain when present.',
  }),
  seq: Type.Union([Type.Integer(), Type.Null()]),
  hash: Type.Union([Type.String(), Type.Null()]),
  prev_hash: Type.Union([Type.String(), Type.Null()]),
});

const VerifyView = Type.Object({
  ok: Type.Boolean(),
  events_checked: Type.Integer(),
  first_bad_event_id: Type.Optional(Type.String()),
  problem: Type.Optional(Type.String()),
  unsealed: Type.Integer({ description: 'events written but not sealed into the chain yet (sealing runs every few hundred ms)' }),
  head: Type.Object({ seq: Type.Integer(), hash: Type.String(), event_id: Type.Union([Type.String(), Type.Null()]) }),
  anchor: Type.Optional(Type.Object({ event_id: Type.String(), through_seq: Type.Integer(), through_hash: Type.String() })),
});

/**
 * Every 403 becomes an audit event, whichever route, dialect or hook refused the request, and so
 * does every 404 of a route that hands out secrets (`config.reveals`), so no service has to
 * remember to record its own refusals. The event is decided by the route and the status, never by
 * anything the caller sends. Call on the root instance before the routes are registered: hooks
 * reach the plugins registered after.
 */
export function recordRefusedResponses(app: FastifyInstance, audit: Pick<AuditService, 'recordRefused'>): void {
  app.addHook('onResponse', (request, reply, done) => {
    const status = reply.statusCode;
    const reveals = request.is404 ? undefined : request.routeOptions.config.reveals;
    if (status === 403 || (status === 404 && reveals !== undefined)) {
      const id = reveals ? (request.params as Record<string, unknown> | undefined)?.[reveals.param] : undefined;
      audit.recordRefused({
        ctx: (request.ctx as RequestContext | undefined) ?? null,
        outcome: status === 403 ? 'denied' : 'not_found',
        action: reveals?.action ?? null,
        target: reveals && typeof id === 'string' ? { type: reveals.target, id } : null,
        requestId: request.id,
        ip: request.ip,
        userAgent: request.headers['user-agent'] ?? '',
        method: request.method,
        route: request.routeOptions.url ?? null,
        params: request.params,
      });
    }
    done();
  });
}

export function auditRoutes(s: Services): FastifyPluginAsync {
  return async (fastify) => {
    const app = fastify.withTypeProvider<TypeBoxTypeProvider>();

    app.get(
      '/audit-events',
      {
        schema: {
          tags,
          summary: "The tenant's audit events, newest first (cursor paging)",
          querystring: Query,
          response: {
            200: Type.Object({ data: Type.Array(EventView), per_page: Type.Integer(), next_cursor: Type.Union([Type.String(), Type.Null()]) }),
            ...errorResponses,
          },
        },
      },
      async (request) => {
        requirePermission(request.ctx, 'audit:read');
        const q = request.query;
        const perPage = q.per_page ?? 25;
        const toIso = (v: string | undefined) => (v === undefined ? undefined : new Date(v).toISOString());
        const query = {
          ...(q['filter[credential_id]'] !== undefined ? { credentialId: q['filter[credential_id]'] } : {}),
          ...(q['filter[action]'] !== undefined ? { action: q['filter[action]'] } : {}),
          ...(q['filter[outcome]'] !== undefined ? { outcome: q['filter[outcome]'] } : {}),
          ...(q['filter[actor_id]'] !== undefined ? { actorId: q['filter[actor_id]'] } : {}),
          ...(q['filter[since]'] !== undefined ? { since: toIso(q['filter[since]']) } : {}),
          ...(q['filter[until]'] !== undefined ? { until: toIso(q['filter[until]']) } : {}),
        };
        const rows = await s.audit.list(request.ctx.principal.tenantId, query, perPage, q.cursor ? decodeCursor(q.cursor) : undefined);
        const last = rows[rows.length - 1];
        return {
          data: rows.map(auditView),
          per_page: perPage,
          next_cursor: rows.length === perPage && last ? encodeCursor({ createdAt: last.at, id: last.id }) : null,
        };
      },
    );

    app.get(
      '/audit-events/verify',
      {
        schema: {
          tags,
          summary: "Verify the tenant's audit hash chain",
          description:
            'Walks the chain from its start (or from the newest retention anchor) to its end, then checks the end against the ' +
            "tenant's keyed checkpoint, so an edited, deleted, reordered or cut-off event is reported. `first_bad_event_id` is " +
            'the first event out of place (for deleted rows: the one after the gap; for a cut-off end: the sealed head that is ' +
            'gone). Record `head` somewhere outside the database to catch a rollback of the whole table.',
          response: { 200: VerifyView, ...errorResponses },
        },
      },
      async (request) => {
        requirePermission(request.ctx, 'audit:read');
        return s.audit.verify(request.ctx.principal.tenantId);
      },
    );
  };
}
