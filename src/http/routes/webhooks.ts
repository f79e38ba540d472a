import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { LatchkeyError } from '../../domain/errors.js';
import { EVENT_TYPES } from '../../services/events/event-types.js';
import type { Services } from '../../services/services.js';
import { DELIVERY_FAILURES } from '../../services/webhooks/webhook-delivery.js';
import type { WebhookWithState } from '../../services/webhooks/webhooks-service.js';
import type { WebhookAttemptRow } from '../../store/port.js';
import { Description, IdParams, PathId, errorResponses } from '../schemas/common.js';
import { etagOf, revisionFromIfMatch } from '../views.js';

const tags = ['webhooks'];

const EventTypeSchema = Type.Union(EVENT_TYPES.map((t) => Type.Literal(t)));
const Url = Type.String({ minLength: 1, maxLength: 2048, description: 'https:// (http:// and private addresses only where LATCHKEY_EGRESS_ALLOW allows)' });
const EventTypes = Type.Union([Type.Array(EventTypeSchema, { minItems: 1, maxItems: EVENT_TYPES.length, uniqueItems: true }), Type.Null()], {
  description: 'The event types delivered (docs/events.md); null = all of them, including types added later',
});
const TeamScope = Type.Union([PathId, Type.Null()], {
  description: "Only events about this team's objects (the event's data.team_id); null = the whole tenant",
});

export const WebhookView = Type.Object({
  id: Type.String(),
  url: Type.String(),
  description: Type.String(),
  event_types: Type.Union([Type.Array(Type.String()), Type.Null()]),
  team_id: Type.Union([Type.String(), Type.Null()]),
  active: Type.Boolean(),
  disabled_reason: Type.Union([Type.Literal('failure_streak'), Type.Null()], {
    description: 'Why the server turned the subscription off: `failure_streak` after LATCHKEY_WEBHOOK_DISABLE_AFTER_HOURS of failed deliveries',
  }),
  previous_secret_expires_at: Type.Union([Type.String(), Type.Null()], { description: 'Until then deliveries are signed with the previous secret too' }),
  delivery: Type.Object({
    failing_since: Type.Union([Type.String(), Type.Null()], { description: 'Start of the current failure streak; null when the last attempt succeeded' }),
    failures: Type.Integer({ description: 'Failed attempts in the current streak' }),
    next_attempt_at: Type.Union([Type.String(), Type.Null()]),
  }),
  created_at: Type.String(),
  updated_at: Type.String(),
});
const WithSecret = Type.Intersect([
  WebhookView,
  Type.Object({ secret: Type.String({ description: 'The Standard Webhooks signing secret (whsec_…), shown in this response only' }) }),
]);
const CreateBody = Type.Object(
  {
    url: Url,
    event_types: Type.Optional(EventTypes),
    team_id: Type.Optional(TeamScope),
    active: Type.Optional(Type.Boolean()),
    description: Type.Optional(Description),
  },
  { additionalProperties: false },
);
const PatchBody = Type.Object(
  {
    url: Type.Optional(Url),
    event_types: Type.Optional(EventTypes),
    team_id: Type.Optional(TeamScope),
    active: Type.Optional(Type.Boolean({ description: 'false pauses delivery; true resumes it from the first event not yet delivered' })),
    description: Type.Optional(Description),
  },
  { additionalProperties: false },
);
const RotateBody = Type.Object(
  {
    overlap_seconds: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 604_800, description: 'How long the old secret signs too (default 86400; 0 = drop it now)' }),
    ),
  },
  { additionalProperties: false },
);
const AttemptView = Type.Object({
  id: Type.String(),
  event_id: Type.String({ description: 'The event, which is also the delivery’s webhook-id' }),
  event_type: Type.String(),
  attempt: Type.Integer({ description: 'The how-manieth attempt to deliver this event to this subscription' }),
  status: Type.Union([Type.Integer(), Type.Null()], { description: "The receiver's HTTP status; null when it did not answer" }),
  failure: Type.Union([Type.String(), Type.Null()], {
    description: `null on success; else one of ${DELIVERY_FAILURES.join(', ')}: http_status for an answer outside 2xx, else how the call failed. Never the receiver’s body`,
  }),
  latency_ms: Type.Integer(),
  manual: Type.Boolean({ description: 'Sent by POST …/redeliver' }),
  at: Type.String(),
});
const DeliveriesQuery = Type.Object(
  {
    per_page: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
    cursor: Type.Optional(Type.String({ maxLength: 200, pattern: '^[A-Za-z0-9_-]+$' })),
  },
  { additionalProperties: false },
);
const RedeliverParams = Type.Object({ id: PathId, event_id: PathId }, { additionalProperties: false });

function webhookView(w: WebhookWithState) {
  return {
    id: w.id,
    url: w.url,
    description: w.description,
    event_types: w.eventTypes,
    team_id: w.teamId,
    active: w.active,
    disabled_reason: w.disabledReason === 'failure_streak' ? ('failure_streak' as const) : null,
    previous_secret_expires_at: w.previousSecretExpiresAt,
    delivery: { failing_since: w.state.failingSince, failures: w.state.failures, next_attempt_at: w.state.nextAttemptAt },
    created_at: w.createdAt,
    updated_at: w.updatedAt,
  };
}

function attemptView(a: WebhookAttemptRow) {
  return {
    id: a.id,
    event_id: a.eventId,
    event_type: a.eventType,
    attempt: a.attempt,
    status: a.status,
    failure: a.failure,
    latency_ms: a.latencyMs,
    manual: a.manual,
    at: a.at,
  };
}

function decodeAttemptCursor(cursor: string): string {
  const id = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!/^dlv_[0-9A-Z]{26}$/.test(id)) throw new LatchkeyError('INVALID_PARAMETER', 'cursor is not one this server issued');
  return id;
}

export function webhookRoutes(s: Services): FastifyPluginAsync {
  return async (fastify) => {
    const app = fastify.withTypeProvider<TypeBoxTypeProvider>();

    app.post(
      '/webhooks',
      {
        schema: {
          tags,
          summary: 'Subscribe a URL to the tenant’s events (the signing secret is shown once)',
          description:
            'Owners and admins. Deliveries follow the Standard Webhooks specification (webhook-id, webhook-timestamp, webhook-signature); ' +
            'a new subscription gets the events from now on. See docs/events.md.',
          body: CreateBody,
          response: { 201: WithSecret, ...errorResponses },
        },
      },
      async (request, reply) => {
        const { row, secret } = await s.webhooks.create(request.ctx, request.body);
        return reply
          .code(201)
          .header('cache-control', 'no-store')
          .header('etag', etagOf(row.revision))
          .send({ ...webhookView(row), secret });
      },
    );

    app.get(
      '/webhooks',
      { schema: { tags, summary: 'The tenant’s webhook subscriptions', response: { 200: Type.Object({ data: Type.Array(WebhookView) }), ...errorResponses } } },
      async (request) => ({ data: (await s.webhooks.list(request.ctx)).map(webhookView) }),
    );

    app.get(
      '/webhooks/:id',
      { schema: { tags, summary: 'One webhook subscription', params: IdParams, response: { 200: WebhookView, ...errorResponses } } },
      async (request, reply) => {
        const row = await s.webhooks.get(request.ctx, request.params.id);
        return reply.header('etag', etagOf(row.revision)).send(webhookView(row));
      },
    );

    app.patch(
      '/webhooks/:id',
      {
        schema: {
          tags,
          summary: 'Change a webhook subscription (URL, filter, team scope, active, description)',
          params: IdParams,
          body: PatchBody,
          response: { 200: WebhookView, ...errorResponses },
        },
      },
      async (request, reply) => {
        const row = await s.webhooks.update(request.ctx, request.params.id, request.body, revisionFromIfMatch(request.headers['if-match']));
        return reply.header('etag', etagOf(row.revision)).send(webhookView(row));
      },
    );

    app.delete(
      '/webhooks/:id',
      { schema: { tags, summary: 'Delete a webhook subscription and its delivery log', params: IdParams, response: { 204: Type.Null(), ...errorResponses } } },
      async (request, reply) => {
        await s.webhooks.remove(request.ctx, request.params.id, revisionFromIfMatch(request.headers['if-match']));
        return reply.code(204).send(null);
      },
    );

    app.post(
      '/webhooks/:id/rotate-secret',
      {
        schema: {
          tags,
          summary: 'A new signing secret (shown once); the old one keeps signing during the overlap',
          description: 'During the overlap every delivery carries two signatures (space-separated v1,… entries): receivers switch secrets without missing one.',
          params: IdParams,
          body: RotateBody,
          response: { 200: WithSecret, ...errorResponses },
        },
        // No body at all is the default overlap, the same as {}.
        preValidation: async (request) => {
          request.body ??= {};
        },
      },
      async (request, reply) => {
        const { row, secret } = await s.webhooks.rotateSecret(request.ctx, request.params.id, request.body.overlap_seconds);
        return reply
          .header('cache-control', 'no-store')
          .header('etag', etagOf(row.revision))
          .send({ ...webhookView(row), secret });
      },
    );

    app.get(
      '/webhooks/:id/deliveries',
      {
        schema: {
          tags,
          summary: 'The delivery log: each attempt, newest first (cursor paging)',
          params: IdParams,
          querystring: DeliveriesQuery,
          response: {
            200: Type.Object({ data: Type.Array(AttemptView), per_page: Type.Integer(), next_cursor: Type.Union([Type.String(), Type.Null()]) }),
            ...errorResponses,
          },
        },
      },
      async (request) => {
        const perPage = request.query.per_page ?? 25;
        const before = request.query.cursor === undefined ? null : decodeAttemptCursor(request.query.cursor);
        const rows = await s.webhooks.deliveries(request.ctx, request.params.id, before, perPage);
        const last = rows[rows.length - 1];
        return {
          data: rows.map(attemptView),
          per_page: perPage,
          next_cursor: rows.length === perPage && last ? Buffer.from(last.id, 'utf8').toString('base64url') : null,
        };
      },
    );

    app.post(
      '/webhooks/:id/deliveries/:event_id/redeliver',
      {
        schema: {
          tags,
          summary: 'Send one event to the subscription again, now',
          description:
            'Out of order, with the same webhook-id; logged as a manual attempt. Any event of the tenant can be sent again while the audit ' +
            'trail holds it, whatever the filter says. The answer is the attempt (its status, or why it failed).',
          params: RedeliverParams,
          response: { 200: AttemptView, ...errorResponses },
        },
      },
      async (request) => attemptView(await s.webhooks.redeliver(request.ctx, request.params.id, request.params.event_id)),
    );
  };
}
