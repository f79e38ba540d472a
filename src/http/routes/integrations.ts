import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { Services } from '../../services/services.js';
import { ListOf, PageQuery, PathId, errorResponses } from '../schemas/common.js';
import { CredentialView, CredentialWithSecret } from '../schemas/credential-schemas.js';
import { credentialPageJson } from '../credential-json.js';
import { pageOf } from '../views.js';
import { sendJsonText, sendRevealed } from './credentials.js';

const tags = ['integrations'];
const Params = Type.Object({ integration_id: PathId }, { additionalProperties: false });

export function integrationRoutes(s: Services): FastifyPluginAsync {
  return async (fastify) => {
    const app = fastify.withTypeProvider<TypeBoxTypeProvider>();

    app.get(
      '/integrations/:integration_id/credentials',
      {
        schema: {
          tags,
          summary: "One integration's credentials (metadata)",
          params: Params,
          querystring: Type.Object(PageQuery, { additionalProperties: false }),
          response: { 200: ListOf(CredentialView), ...errorResponses },
        },
      },
      async (request, reply) => {
        const p = pageOf(request.query);
        const { rows, total } = await s.credentials.list(request.ctx, { integrationId: request.params.integration_id }, p);
        return sendJsonText(reply, credentialPageJson(rows, total, p));
      },
    );

    app.get(
      '/integrations/:integration_id/secret',
      {
        config: { reveals: { action: 'credential.reveal', target: 'integration', param: 'integration_id' } },
        schema: {
          tags,
          summary: "Reveal an integration's credential: credential_id picks one, else the most recently updated active one",
          description: 'A 403 or 404 here is audited (outcome `denied` or `not_found`, target the integration id), grouped per caller and id over a window.',
          params: Params,
          querystring: Type.Object({ credential_id: Type.Optional(PathId) }, { additionalProperties: false }),
          response: { 200: CredentialWithSecret, ...errorResponses },
        },
      },
      async (request, reply) =>
        sendRevealed(reply, await s.credentials.revealForIntegration(request.ctx, request.params.integration_id, request.query.credential_id)),
    );
  };
}
