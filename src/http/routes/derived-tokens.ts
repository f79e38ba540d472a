import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { Services } from '../../services/services.js';
import { errorResponses, IdParams } from '../schemas/common.js';

const tags = ['proxy'];

const DerivedToken = Type.Object(
  {
    credential_id: Type.String(),
    kind: Type.Union([Type.Literal('oauth2_access_token'), Type.Literal('jwt'), Type.Literal('aws_session'), Type.Literal('http_request_results')], {
      description:
        'oauth2_access_token: `token.access_token`; jwt: `token.token`; aws_session: `token.access_key_id`, `token.secret_access_key`, `token.session_token`; http_request_results: the values the request chain extracted, by `extract.field`.',
    }),
    token: Type.Record(Type.String(), Type.String(), { description: 'The short-lived values, by name (see kind).' }),
    expires_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], {
      description: 'When the token stops working; null when the issuer did not say.',
    }),
  },
  { additionalProperties: false },
);

const DESCRIPTION = [
  'For a caller that cannot send its requests through the proxy: a short-lived credential derived from the stored one, never the stored secret.',
  'An oauth2 credential gives its access token (refreshed first when due); jwt a token minted from the signing key (cached until shortly before it expires, so callers in that window get the same one);',
  'aws with authentication_type ROLE the session credentials of the assumed role. A client secret, refresh token, private key or long-lived access key never leaves this way;',
  'a type with nothing short-lived to derive is 422.',
  'Needs `credentials:use` and the visibility of a reveal (404 otherwise); audited as `credential.use` with reason `token <kind>`, durable before the secret is opened (fails closed).',
  'A source that does not issue a token answers 502 `UPSTREAM_FAILED` with its category only, 504 on a timeout.',
].join(' ');

export function derivedTokenRoutes(s: Services): FastifyPluginAsync {
  return async (fastify) => {
    const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
    app.post(
      '/credentials/:id/token',
      {
        config: { reveals: { action: 'credential.use', target: 'credential', param: 'id' } },
        schema: {
          tags,
          summary: 'A short-lived token derived from the credential',
          description: DESCRIPTION,
          params: IdParams,
          response: { 200: DerivedToken, ...errorResponses },
        },
      },
      async (request, reply) => {
        const { credential, derived } = await s.tokens.issue(request.ctx, request.params.id);
        return reply
          .header('cache-control', 'no-store')
          .header('pragma', 'no-cache')
          .send({ credential_id: credential.id, kind: derived.kind, token: derived.values, expires_at: derived.expiresAt });
      },
    );
  };
}
