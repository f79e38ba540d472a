import type { FastifyPluginAsync } from 'fastify';
import { Type } from 'typebox';
import type { CredentialType } from '../../catalog/catalog.js';
import type { Services } from '../../services/services.js';
import { FreeObject, errorResponses } from '../schemas/common.js';

const TypeView = Type.Object({
  id: Type.String(), title: Type.String(), description: Type.String(),
  config_schema: FreeObject, secret_schema: FreeObject, secret_fields: Type.Array(Type.String()),
  capabilities: Type.Object({ rotatable: Type.Boolean(), refreshable: Type.Boolean(), generatable: Type.Boolean(), verifiable: Type.Boolean() }),
  injection: FreeObject,
});

function typeView(t: CredentialType) {
  return {
    id: t.id, title: t.title, description: t.description, config_schema: t.config, secret_schema: t.secret,
    secret_fields: t.secretFields, capabilities: t.capabilities, injection: t.injection,
  };
}

export function credentialTypeRoutes(s: Services): FastifyPluginAsync {
  return async (app) => {
    const body = { data: s.catalog.list().map(typeView) };
    app.get('/credential-types', {
      schema: { tags: ['credentials'], summary: 'The credential type catalog: schemas, defaults and capabilities', response: { 200: Type.Object({ data: Type.Array(TypeView) }), ...errorResponses } },
    }, async () => body);
  };
}
