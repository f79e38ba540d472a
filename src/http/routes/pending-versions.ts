import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { Services } from '../../services/services.js';
import { FreeObject, IdParams, errorResponses } from '../schemas/common.js';
import { CredentialView, VersionParams } from '../schemas/credential-schemas.js';
import { credentialView, etagOf } from '../views.js';

const tags = ['credentials'];

/** Staged rotation (services/credentials/pending-versions.ts): a pending version, then its promotion. */
export function pendingVersionRoutes(s: Services): FastifyPluginAsync {
  return async (fastify) => {
    const app = fastify.withTypeProvider<TypeBoxTypeProvider>();

    app.post(
      '/credentials/:id/versions/pending',
      {
        schema: {
          tags,
          summary: 'Stage a new secret as a pending version (the current one stays current until the promotion)',
          description:
            'Needs credentials:rotate. A pending version is readable by number (`GET …/secret?version=N`) and used by nothing; an earlier pending version is retired. Not for oauth2 (it rotates by refresh).',
          params: IdParams,
          body: Type.Object({ secret: FreeObject }, { additionalProperties: false }),
          response: { 201: Type.Object({ id: Type.String(), version: Type.Integer(), stage: Type.Literal('pending') }), ...errorResponses },
        },
      },
      async (request, reply) => {
        const r = await s.pendingVersions.putPending(request.ctx, request.params.id, request.body.secret);
        return reply
          .code(201)
          .header('etag', etagOf(r.credential.revision))
          .send({ id: r.credential.id, version: r.version, stage: 'pending' as const });
      },
    );

    app.post(
      '/credentials/:id/versions/:n/promote',
      {
        schema: {
          tags,
          summary: 'Make a pending version current; the current one stays readable as previous for the grace period',
          params: VersionParams,
          body: Type.Object(
            { grace_period_seconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 30 * 86400, default: 3600 })) },
            { additionalProperties: false },
          ),
          response: { 200: CredentialView, ...errorResponses },
        },
        // No body at all means the default grace period, the same as {}.
        preValidation: async (request) => {
          request.body ??= {};
        },
      },
      async (request, reply) => {
        const c = await s.pendingVersions.promote(request.ctx, request.params.id, request.params.n, request.body.grace_period_seconds ?? 3600);
        return reply.header('etag', etagOf(c.revision)).send(credentialView(c));
      },
    );
  };
}
