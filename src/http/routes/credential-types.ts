import type { FastifyPluginAsync } from 'fastify';
import { Type } from 'typebox';
import type { CredentialType } from '../../catalog/catalog.js';
import type { Services } from '../../services/services.js';
import { FreeObject, errorResponses } from '../schemas/common.js';

const JsonScalar = Type.Union([Type.String(), Type.Number(), Type.Boolean(), Type.Null()]);

const Condition = Type.Union([
  Type.Object({ equals: JsonScalar }, { additionalProperties: false }),
  Type.Object({ not: JsonScalar }, { additionalProperties: false }),
  Type.Object({ in: Type.Array(JsonScalar) }, { additionalProperties: false }),
]);

const RuleView = Type.Object(
  {
    when: Type.Optional(Type.Record(Type.String(), Condition, { description: 'Paths "config.<field>" / "secret.<field>"; every condition must hold' })),
    require: Type.Optional(Type.Array(Type.String(), { description: 'Paths that must then be present' })),
    require_one_of: Type.Optional(Type.Array(Type.String(), { description: 'Paths of which at least one must then be present' })),
  },
  { additionalProperties: false },
);

const TypeView = Type.Object({
  id: Type.String(),
  title: Type.String(),
  description: Type.String(),
  config_schema: FreeObject,
  secret_schema: FreeObject,
  secret_fields: Type.Array(Type.String()),
  capabilities: Type.Object({ rotatable: Type.Boolean(), refreshable: Type.Boolean(), generatable: Type.Boolean(), verifiable: Type.Boolean() }),
  injection: FreeObject,
  rules: Type.Array(RuleView, {
    description:
      'Requirements that span config and secret, which the two JSON Schemas cannot say (a form shows and requires fields by them); ' +
      'requirements within config are if/then/else in config_schema.',
  }),
  aim_fields: Type.Array(Type.String(), {
    description:
      'Config fields that decide where the secret is sent (or whether a third party can read it on the way). ' +
      'Changing one needs credentials:reveal on the credential, unless the same request gives every secret field a new value; ' +
      'otherwise the change is refused (403) and nothing is stored.',
  }),
});

function typeView(t: CredentialType) {
  return {
    id: t.id,
    title: t.title,
    description: t.description,
    config_schema: t.config,
    secret_schema: t.secret,
    secret_fields: t.secretFields,
    capabilities: t.capabilities,
    injection: t.injection,
    rules: t.rules,
    aim_fields: t.aimFields,
  };
}

export function credentialTypeRoutes(s: Services): FastifyPluginAsync {
  return async (app) => {
    const body = { data: s.catalog.list().map(typeView) };
    app.get(
      '/credential-types',
      {
        schema: {
          tags: ['credentials'],
          summary: 'The credential type catalog: schemas, defaults and capabilities',
          response: { 200: Type.Object({ data: Type.Array(TypeView) }), ...errorResponses },
        },
      },
      async () => body,
    );
  };
}
