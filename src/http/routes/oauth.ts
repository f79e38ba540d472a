import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { Config } from '../../config.js';
import type { Services } from '../../services/services.js';
import { presetView } from '../../services/oauth/provider-presets.js';
import { Description, FreeObject, Name, PathId, errorResponses } from '../schemas/common.js';

const tags = ['oauth'];

const Url = Type.String({ format: 'uri', maxLength: 2048, pattern: '^[Hh][Tt][Tt][Pp][Ss]?://' });
const ScopeToken = Type.String({ pattern: '^[\\x21\\x23-\\x5B\\x5D-\\x7E]+$', maxLength: 1024 });

const ConnectBody = Type.Object(
  {
    credential_id: Type.Optional(PathId),
    provider: Type.Optional(
      Type.String({ pattern: '^[a-z][a-z0-9_-]{0,39}$', description: 'A preset id (GET /v1/oauth/providers): makes a new oauth2 credential' }),
    ),
    config: Type.Optional(FreeObject),
    secret: Type.Optional(FreeObject),
    name: Type.Optional(Name),
    description: Type.Optional(Description),
    integration_id: Type.Optional(Type.Union([PathId, Type.Null()])),
    team_id: Type.Optional(Type.Union([PathId, Type.Null()])),
    folder_id: Type.Optional(Type.Union([PathId, Type.Null()])),
    read_access: Type.Optional(Type.Union([Type.Literal('TEAM'), Type.Literal('GLOBAL'), Type.Literal('SPECIFIC_TEAMS')])),
    metadata: Type.Optional(
      Type.Record(Type.String({ maxLength: 200 }), Type.Union([Type.String({ maxLength: 4096 }), Type.Number(), Type.Boolean(), Type.Null()]), {
        maxProperties: 64,
      }),
    ),
    redirect_uri: Type.Optional(Url),
    scopes: Type.Optional(Type.Array(ScopeToken, { maxItems: 100, uniqueItems: true })),
    return_to: Type.Optional(
      Type.String({
        format: 'uri',
        maxLength: 2048,
        pattern: '^[Hh][Tt][Tt][Pp][Ss]?://',
        description:
          'Where the callback sends the browser afterwards (with status and credential_id); its origin must be one the operator lists in LATCHKEY_OAUTH_RETURN_ORIGINS',
      }),
    ),
  },
  {
    additionalProperties: false,
    description:
      'Either credential_id (an existing oauth2 credential with the authorization_code grant), or provider with config (preset template values such as instance or tenant go in config) and secret (client_secret) for a new one.',
  },
);

const ConnectResponse = Type.Object({
  authorization_url: Type.String({ description: 'Send the user here; the provider comes back to redirect_uri with code and state' }),
  credential_id: Type.String(),
  redirect_uri: Type.String(),
  state_expires_at: Type.String({ description: 'The single-use state is valid until then (10 minutes)' }),
});

const CallbackQuery = Type.Object(
  {
    state: Type.Optional(Type.String({ maxLength: 512 })),
    code: Type.Optional(Type.String({ maxLength: 4096 })),
    error: Type.Optional(Type.String({ maxLength: 256 })),
    error_description: Type.Optional(Type.String({ maxLength: 2048 })),
    iss: Type.Optional(Type.String({ maxLength: 2048 })),
  },
  // Providers add their own parameters (Google: scope, authuser, prompt; OIDC: session_state).
  { additionalProperties: true },
);

const CallbackResponse = Type.Object({ status: Type.Literal('connected'), credential_id: Type.String() });

const ProviderView = Type.Object({
  id: Type.String(),
  title: Type.String(),
  docs: Type.String(),
  params: FreeObject,
  authorization_endpoint: Type.Union([Type.String(), Type.Null()]),
  token_endpoint: Type.Union([Type.String(), Type.Null()]),
  default_scopes: Type.Array(Type.String()),
  token_endpoint_auth_method: Type.String(),
  pkce: Type.Boolean(),
  refresh_token_rotation: Type.String(),
  identity: Type.Union([Type.String(), Type.Null()]),
});

/** Where the provider sends the browser back: the operator's public URL, else this request's own origin. */
function callbackUrl(config: Config, request: FastifyRequest): string {
  const base = config.publicUrl ?? `${request.protocol}://${request.host}`;
  return `${base}/v1/oauth/callback`;
}

export function oauthRoutes(s: Services, config: Config): FastifyPluginAsync {
  return async (fastify) => {
    const app = fastify.withTypeProvider<TypeBoxTypeProvider>();

    app.get(
      '/oauth/providers',
      {
        schema: {
          tags,
          summary: 'Provider presets for OAuth2 credentials',
          response: { 200: Type.Object({ data: Type.Array(ProviderView) }), ...errorResponses },
        },
      },
      async () => ({ data: s.oauth.providers().map(presetView) }),
    );

    app.post(
      '/oauth/connect',
      {
        schema: {
          tags,
          summary: 'Start the authorization code flow (PKCE S256, single-use state, 10 minutes)',
          body: ConnectBody,
          response: { 200: ConnectResponse, ...errorResponses },
        },
      },
      async (request, reply) => {
        const r = await s.oauth.connect(request.ctx, request.body, callbackUrl(config, request));
        return reply.header('cache-control', 'no-store').send(r);
      },
    );

    // Public: the provider sends the user's browser here. The single-use state is the authority:
    // it names the tenant, the credential and the principal that started the flow.
    app.get(
      '/oauth/callback',
      {
        config: { public: true },
        schema: {
          tags,
          summary: 'Where the provider returns: exchanges the code and stores the tokens; redirects to return_to with status=connected|error, or answers JSON',
          security: [],
          querystring: CallbackQuery,
          response: { 200: CallbackResponse, ...errorResponses },
        },
      },
      async (request, reply) => {
        const q = request.query;
        const result = await s.oauth.callback(
          {
            ...(q.state !== undefined ? { state: q.state } : {}),
            ...(q.code !== undefined ? { code: q.code } : {}),
            ...(q.error !== undefined ? { error: q.error } : {}),
            ...(q.iss !== undefined ? { iss: q.iss } : {}),
          },
          { requestId: request.id, ip: request.ip, userAgent: request.headers['user-agent'] ?? '' },
        );
        void reply.header('cache-control', 'no-store').header('referrer-policy', 'no-referrer');
        if (result.returnTo !== null) {
          const to = new URL(result.returnTo);
          to.searchParams.set('status', result.status);
          if (result.credentialId !== null) to.searchParams.set('credential_id', result.credentialId);
          if (result.error !== undefined) to.searchParams.set('error', result.error);
          return reply.redirect(to.toString(), 303);
        }
        if (result.status === 'error') throw result.httpError;
        return reply.send({ status: 'connected', credential_id: result.credentialId ?? '' });
      },
    );
  };
}
