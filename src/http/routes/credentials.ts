import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { CredentialRow, CredentialFilter } from '../../domain/records.js';
import type { Services } from '../../services/services.js';
import { REMOTE_FAILURE_CATEGORIES } from '../../domain/remote-failure.js';
import type { Revealed } from '../../services/credentials/credentials-service.js';
import { IdParams, ListOf, errorResponses } from '../schemas/common.js';
import {
  CredentialCreateBody,
  CredentialCreated,
  CredentialListQuery,
  CredentialPatchBody,
  CredentialView,
  CredentialWithSecret,
  DeleteQuery,
  RevealQuery,
  RotateBody,
  VersionParams,
  VersionView,
} from '../schemas/credential-schemas.js';
import { credentialJson, credentialPageJson } from '../credential-json.js';
import { credentialView, etagOf, pageOf, revisionFromIfMatch, versionView } from '../views.js';

const tags = ['credentials'];

export function filterOf(q: CredentialListQuery): CredentialFilter {
  const f: CredentialFilter = {};
  if (q['filter[name]'] !== undefined) f.name = q['filter[name]'];
  if (q['filter[type]'] !== undefined) f.type = q['filter[type]'];
  if (q['filter[status]'] !== undefined) f.status = q['filter[status]'];
  if (q['filter[provider]'] !== undefined) f.provider = q['filter[provider]'];
  if (q['filter[integration_id]'] !== undefined) f.integrationId = q['filter[integration_id]'];
  if (q['filter[team_id]'] !== undefined) f.teamId = q['filter[team_id]'];
  if (q['filter[folder_id]'] !== undefined) f.folderId = q['filter[folder_id]'];
  if (q['filter[rotation_due]'] !== undefined) f.rotationDue = q['filter[rotation_due]'];
  if (q['filter[expires_before]'] !== undefined) f.expiresBefore = new Date(q['filter[expires_before]']).toISOString();
  return f;
}

function ifMatch(request: FastifyRequest): number | undefined {
  const h = request.headers['if-match'];
  return revisionFromIfMatch(Array.isArray(h) ? h[0] : h);
}

/** A body that is already JSON text (with its content type) is sent as it is, not serialized again. */
export function sendJsonText(reply: FastifyReply, json: string) {
  return reply.type('application/json; charset=utf-8').send(json);
}

function sendCredential(reply: FastifyReply, c: CredentialRow, status = 200, extra?: Record<string, unknown>) {
  void reply.code(status).header('etag', etagOf(c.revision));
  if (extra === undefined) return sendJsonText(reply, credentialJson(c));
  return reply.send({ ...credentialView(c), ...extra });
}

/** Decrypted secrets: never cached by anything between us and the caller. */
export function sendRevealed(reply: FastifyReply, r: Revealed) {
  return reply
    .header('cache-control', 'no-store')
    .header('pragma', 'no-cache')
    .header('etag', etagOf(r.credential.revision))
    .send({ ...credentialView(r.credential), secret: r.secret, ...(r.testSecret ? { test_secret: r.testSecret } : {}) });
}

export function credentialRoutes(s: Services): FastifyPluginAsync {
  return async (fastify) => {
    const app = fastify.withTypeProvider<TypeBoxTypeProvider>();

    app.post(
      '/credentials',
      {
        schema: { tags, summary: 'Create a credential', body: CredentialCreateBody, response: { 201: CredentialCreated, ...errorResponses } },
      },
      async (request, reply) => {
        const { credential, generated } = await s.credentials.create(request.ctx, request.body);
        if (generated) void reply.header('cache-control', 'no-store');
        return sendCredential(reply, credential, 201, generated ? { generated_secret: generated } : undefined);
      },
    );

    app.put(
      '/credentials/:id',
      {
        schema: {
          tags,
          summary: 'Create a credential with a chosen id, or replace one whole',
          params: IdParams,
          body: CredentialCreateBody,
          description:
            'Changing needs the write scope (docs/security.md): 403 for a credential seen only through a share or GLOBAL visibility. An id held by a credential you cannot see answers 404, as GET does, and is never overwritten.',
          response: { 200: CredentialCreated, 201: CredentialCreated, ...errorResponses },
        },
      },
      async (request, reply) => {
        const r = await s.credentials.replace(request.ctx, request.params.id, request.body, ifMatch(request));
        if (r.generated) void reply.header('cache-control', 'no-store');
        return sendCredential(reply, r.credential, r.created ? 201 : 200, r.generated ? { generated_secret: r.generated } : undefined);
      },
    );

    app.get(
      '/credentials',
      {
        schema: { tags, summary: 'List credentials', querystring: CredentialListQuery, response: { 200: ListOf(CredentialView), ...errorResponses } },
      },
      async (request, reply) => {
        const p = pageOf(request.query);
        const { rows, total } = await s.credentials.list(request.ctx, filterOf(request.query), p);
        return sendJsonText(reply, credentialPageJson(rows, total, p));
      },
    );

    app.get(
      '/credentials/:id',
      {
        schema: { tags, summary: 'Credential metadata (never a secret)', params: IdParams, response: { 200: CredentialView, ...errorResponses } },
      },
      async (request, reply) => sendCredential(reply, await s.credentials.get(request.ctx, request.params.id)),
    );

    app.patch(
      '/credentials/:id',
      {
        schema: {
          tags,
          summary: 'Update a credential (a new secret makes a new version)',
          params: IdParams,
          body: CredentialPatchBody,
          response: { 200: CredentialView, ...errorResponses },
        },
      },
      async (request, reply) => sendCredential(reply, await s.credentials.update(request.ctx, request.params.id, request.body, ifMatch(request))),
    );

    app.delete(
      '/credentials/:id',
      {
        schema: {
          tags,
          summary: 'Soft-delete a credential (purge=true destroys it; owners only)',
          params: IdParams,
          querystring: DeleteQuery,
          response: { 204: Type.Null(), ...errorResponses },
          description: 'Needs the write scope (docs/security.md). A soft-deleted credential exists only for an owner purging it: anyone else gets 404.',
        },
      },
      async (request, reply) => {
        await s.credentials.remove(request.ctx, request.params.id, { purge: request.query.purge === true, expectedRevision: ifMatch(request) });
        return reply.code(204).send(null);
      },
    );

    app.post(
      '/credentials/:id/restore',
      {
        schema: { tags, summary: 'Undo a soft delete', params: IdParams, response: { 200: CredentialView, ...errorResponses } },
      },
      async (request, reply) => sendCredential(reply, await s.credentials.restore(request.ctx, request.params.id)),
    );

    app.get(
      '/credentials/:id/secret',
      {
        config: { reveals: { action: 'credential.reveal', target: 'credential', param: 'id' } },
        schema: {
          tags,
          summary: 'Reveal the decrypted secret (audited; needs credentials:reveal)',
          params: IdParams,
          querystring: RevealQuery,
          description:
            "Refusals are audited too: a 403 as outcome `denied`, and a 404 (an id of another tenant, outside the caller's teams, " +
            'or none) as outcome `not_found`, grouped per caller and id over a window (`suppressed` on the event).',
          response: { 200: CredentialWithSecret, ...errorResponses },
        },
      },
      async (request, reply) => {
        const r = await s.credentials.reveal(request.ctx, request.params.id, {
          variant: request.query.variant ?? 'main',
          allowInactive: request.query.allow_inactive === true,
          ...(request.query.version !== undefined ? { version: request.query.version } : {}),
        });
        return sendRevealed(reply, r);
      },
    );

    app.get(
      '/credentials/:id/versions',
      {
        schema: {
          tags,
          summary: 'Versions of the secret, newest first (metadata only)',
          params: IdParams,
          response: { 200: Type.Object({ data: Type.Array(VersionView) }), ...errorResponses },
        },
      },
      async (request) => ({ data: (await s.credentials.versions(request.ctx, request.params.id)).map(versionView) }),
    );

    app.get(
      '/credentials/:id/versions/:n',
      {
        schema: { tags, summary: 'One version (metadata only)', params: VersionParams, response: { 200: VersionView, ...errorResponses } },
      },
      async (request) => versionView(await s.credentials.version(request.ctx, request.params.id, request.params.n)),
    );

    app.post(
      '/credentials/:id/versions/:n/restore',
      {
        schema: { tags, summary: 'Make a new current version from an old one', params: VersionParams, response: { 200: CredentialView, ...errorResponses } },
      },
      async (request, reply) => sendCredential(reply, await s.credentials.restoreVersion(request.ctx, request.params.id, request.params.n)),
    );

    app.post(
      '/credentials/:id/rotate',
      {
        schema: {
          tags,
          summary: 'Rotate: a new secret given, or one the type makes itself; the old one stays readable for the grace period',
          params: IdParams,
          body: RotateBody,
          response: { 200: CredentialCreated, ...errorResponses },
        },
        // No body at all means "rotate by yourself", the same as {}.
        preValidation: async (request) => {
          request.body ??= {};
        },
      },
      async (request, reply) => {
        const body = request.body;
        const r = await s.credentials.rotate(request.ctx, request.params.id, {
          ...(body.secret !== undefined ? { secret: body.secret } : {}),
          gracePeriodSeconds: body.grace_period_seconds ?? 3600,
        });
        if (r.generated) void reply.header('cache-control', 'no-store');
        return sendCredential(reply, r.credential, 200, r.generated ? { generated_secret: r.generated } : undefined);
      },
    );

    app.post(
      '/credentials/:id/refresh',
      {
        schema: {
          tags,
          summary: 'Refresh an OAuth2 credential now (refresh_token or client_credentials grant); one refresh at a time across all processes',
          params: IdParams,
          response: { 200: CredentialView, ...errorResponses },
        },
      },
      async (request, reply) => sendCredential(reply, await s.oauth.refresh(request.ctx, request.params.id)),
    );

    app.post(
      '/credentials/:id/verify',
      {
        schema: {
          tags,
          summary:
            'Try the credential against its service (smtp: a login; webhook: an HTTP probe; oauth2: a token call) behind the egress guard, and report the outcome (never the secret)',
          params: IdParams,
          response: {
            200: Type.Object({
              ok: Type.Boolean(),
              checked_at: Type.String(),
              error: Type.Optional(
                Type.Enum(REMOTE_FAILURE_CATEGORIES, { description: "How the check failed; the remote server's own text is never repeated" }),
              ),
              status: Type.Optional(
                Type.Union([Type.Integer(), Type.Null()], {
                  description: 'The remote status code (SMTP reply code, HTTP status), null when it never answered',
                }),
              ),
            }),
            ...errorResponses,
          },
        },
      },
      async (request) => s.verify.verify(request.ctx, request.params.id),
    );
  };
}
