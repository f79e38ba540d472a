import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type, type Static } from 'typebox';
import type { Config } from '../../config.js';
import { LatchkeyError } from '../../domain/errors.js';
import { EVENT_TYPES } from '../../services/events/event-types.js';
import type { FeedQuery } from '../../services/events/event-feed.js';
import type { Services } from '../../services/services.js';
import { DateTime, PathId, errorResponses } from '../schemas/common.js';
import { openEventStream } from './event-stream.js';

const tags = ['events'];

const Fact = Type.Union([Type.String(), Type.Number(), Type.Boolean(), Type.Null()]);
export const EventTypeSchema = Type.Enum(EVENT_TYPES, { description: 'The event types and the `data` fields of each are listed in docs/events.md.' });

/** One event, as `GET /v1/events` lists it, the SSE stream sends it and a webhook delivers it (event-types.ts `eventOf`). */
export const EventView = Type.Object({
  id: Type.String({ description: "The audit event's id (`evt_…`): deduplicate by it." }),
  type: EventTypeSchema,
  timestamp: Type.String(),
  data: Type.Object(
    {
      tenant_id: Type.String(),
      object: Type.String({ description: '`credential`, `access_key`, …' }),
      object_id: Type.Union([Type.String(), Type.Null()]),
      actor: Type.Object({ type: Type.String(), id: Type.String(), name: Type.String() }),
      request_id: Type.String(),
      seq: Type.Union([Type.Integer(), Type.Null()], { description: 'The chain position: `after=` and `Last-Event-ID` take it.' }),
    },
    {
      additionalProperties: Fact,
      description: "The event's facts by type (`type`, `team_id`, `version`, `status`, `lead_days`, `expires_at`, `what`, `category`, …): never a secret.",
    },
  ),
});

const Filters = {
  'filter[type]': Type.Optional(Type.Array(EventTypeSchema, { maxItems: EVENT_TYPES.length, description: 'one or more event types (repeat the parameter)' })),
  'filter[credential_id]': Type.Optional(PathId),
  'filter[object_id]': Type.Optional(PathId),
  'filter[since]': Type.Optional(DateTime),
};
const Position = Type.Integer({
  minimum: 0,
  maximum: Number.MAX_SAFE_INTEGER,
  description: "chain position to read after (a `next_cursor`, an event's `data.seq`)",
});

const ListQuery = Type.Object(
  { per_page: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })), after: Type.Optional(Position), ...Filters },
  { additionalProperties: false },
);
const StreamQuery = Type.Object({ after: Type.Optional(Position), ...Filters }, { additionalProperties: false });

type FilterQuery = Static<typeof StreamQuery>;

export function feedFilters(q: FilterQuery): Omit<FeedQuery, 'limit' | 'after'> {
  const objectId = q['filter[credential_id]'] ?? q['filter[object_id]'];
  if (q['filter[credential_id]'] !== undefined && q['filter[object_id]'] !== undefined)
    throw new LatchkeyError('INVALID_PARAMETER', 'Give filter[credential_id] or filter[object_id], not both');
  return {
    ...(q['filter[type]'] !== undefined ? { types: q['filter[type]'] } : {}),
    ...(q['filter[credential_id]'] !== undefined ? { objectType: 'credential' as const } : {}),
    ...(objectId !== undefined ? { objectId } : {}),
    ...(q['filter[since]'] !== undefined ? { since: q['filter[since]'] } : {}),
  };
}

export function eventRoutes(s: Services, config: Pick<Config, 'eventsHeartbeatMs'>): FastifyPluginAsync {
  return async (fastify) => {
    const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
    const streams = new Set<() => void>();
    // Streams end before the server stops listening: an open stream would hold close() forever.
    app.addHook('preClose', (done) => {
      for (const end of streams) end();
      done();
    });

    app.get(
      '/events',
      {
        schema: {
          tags,
          summary: "The tenant's events in chain order, from a position (needs audit:read)",
          description:
            'Sealed audit events that are events (docs/events.md), oldest first. Page on with `after=next_cursor`; `has_more: false` means ' +
            'caught up: keep `next_cursor` and ask again later, nothing sealed after it is missed. A page looks at up to 10 000 chain ' +
            'positions, so a page may hold fewer than `per_page` events (even none) and still have `has_more`.',
          querystring: ListQuery,
          response: {
            200: Type.Object({
              data: Type.Array(EventView),
              per_page: Type.Integer(),
              next_cursor: Type.String({ description: 'The position to pass as `after` next (decimal).' }),
              has_more: Type.Boolean(),
            }),
            ...errorResponses,
          },
        },
      },
      async (request) => {
        const q = request.query;
        const perPage = q.per_page ?? 25;
        const page = await s.events.page(request.ctx, { ...feedFilters(q), ...(q.after !== undefined ? { after: q.after } : {}), limit: perPage });
        return { data: page.events, per_page: perPage, next_cursor: String(page.position), has_more: page.hasMore };
      },
    );

    app.get(
      '/events/stream',
      {
        schema: {
          tags,
          summary: 'The same events as Server-Sent Events, as they are sealed (needs audit:read)',
          description:
            'text/event-stream: each event is `id: <chain position>`, `event: <type>`, `data: <the event as GET /v1/events lists it>`. ' +
            'Resumes after `Last-Event-ID` (or `after=`); without either it starts at the head (or at `filter[since]`). A comment line ' +
            '(`: heartbeat`) comes every LATCHKEY_EVENTS_HEARTBEAT_MS while no event does, with an `id:` when the position moved past ' +
            "events the filters left out. The caller's key is checked again at each heartbeat.",
          querystring: StreamQuery,
          headers: Type.Object({ 'last-event-id': Type.Optional(Type.String({ pattern: '^[0-9]{1,15}$' })) }),
          response: { 200: Type.String({ description: 'text/event-stream' }), ...errorResponses },
        },
      },
      async (request, reply) => {
        const q = request.query;
        const lastId = request.headers['last-event-id'];
        const after = typeof lastId === 'string' ? Number(lastId) : q.after;
        await openEventStream(
          { request, reply, feed: s.events, authenticator: s.authenticator, streams, heartbeatMs: config.eventsHeartbeatMs },
          feedFilters(q),
          after,
        );
      },
    );
  };
}
