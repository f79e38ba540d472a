import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { KeyStatus } from '../../services/keys/keys-service.js';
import type { Services } from '../../services/services.js';
import type { TenantRow } from '../../domain/records.js';
import { IdParams, Name, errorResponses } from '../schemas/common.js';
import { accessKeyView } from '../views.js';
import { AccessKeyView } from './access-keys.js';

const tags = ['tenants'];
const TenantView = Type.Object({ id: Type.String(), name: Type.String(), created_at: Type.String() });
const tenantView = (t: TenantRow) => ({ id: t.id, name: t.name, created_at: t.createdAt });

const KeyStatusView = Type.Object({
  tenant_id: Type.String(),
  root_key_id: Type.Union([Type.String(), Type.Null()], { description: 'the root key that wraps new data keys (a fingerprint, not secret)' }),
  provider_holds_root_key: Type.Boolean(),
  root_rotation: Type.Union([Type.Object({ from: Type.String(), to: Type.String(), started_at: Type.String() }), Type.Null()], {
    description: 'a root-key rotation under way (`latchkey keys rotate-root`), or null',
  }),
  last_root_rotation_at: Type.Union([Type.String(), Type.Null()]),
  data_key: Type.Object({
    current_version: Type.Integer({ description: 'new secrets are sealed under this version' }),
    versions: Type.Array(Type.Integer()),
    wrapped_by: Type.Array(Type.String(), { description: 'root key ids wrapping its versions (two during a root rotation)' }),
    sealed_by_version: Type.Record(Type.String(), Type.Integer()),
    sealed_under_old_versions: Type.Integer({ description: 'values `latchkey keys reseal` would move to the current version' }),
  }),
});

function keyStatusView(tenantId: string, k: KeyStatus) {
  const t = k.tenants.find((x) => x.tenantId === tenantId);
  return {
    tenant_id: tenantId,
    root_key_id: k.rootKeyId,
    provider_holds_root_key: k.providerHoldsRootKey,
    root_rotation: k.rotation ? { from: k.rotation.from, to: k.rotation.to, started_at: k.rotation.startedAt } : null,
    last_root_rotation_at: k.lastRootRotationAt,
    data_key: {
      current_version: t?.currentVersion ?? 0,
      versions: [...(t?.versions ?? [])].sort((a, b) => a - b),
      wrapped_by: t?.rootKeyIds ?? [],
      sealed_by_version: t?.sealedByVersion ?? {},
      sealed_under_old_versions: t?.sealedUnderOldVersions ?? 0,
    },
  };
}

export function tenantRoutes(s: Services): FastifyPluginAsync {
  return async (fastify) => {
    const app = fastify.withTypeProvider<TypeBoxTypeProvider>();

    app.post(
      '/tenants',
      {
        schema: {
          tags,
          summary: 'Create a tenant and its owner key (platform admins only; the key is shown once)',
          body: Type.Object({ name: Name }, { additionalProperties: false }),
          response: {
            201: Type.Object({ tenant: TenantView, owner_access_key: Type.Intersect([AccessKeyView, Type.Object({ key: Type.String() })]) }),
            ...errorResponses,
          },
        },
      },
      async (request, reply) => {
        const made = await s.tenants.create(request.ctx, request.body.name);
        return reply
          .code(201)
          .header('cache-control', 'no-store')
          .send({ tenant: tenantView(made.tenant), owner_access_key: { ...accessKeyView(made.keyRow), key: made.key } });
      },
    );

    app.get(
      '/tenants',
      {
        schema: { tags, summary: 'The tenants the caller belongs to', response: { 200: Type.Object({ data: Type.Array(TenantView) }), ...errorResponses } },
      },
      async (request) => ({ data: (await s.tenants.list(request.ctx)).map(tenantView) }),
    );

    app.delete(
      '/tenants/:id',
      {
        schema: {
          tags,
          params: IdParams,
          response: { 204: Type.Null(), ...errorResponses },
          summary: 'Purge a tenant for good: its data keys are destroyed first (crypto-shredding), then every row (platform admins; not their own tenant)',
        },
      },
      async (request, reply) => {
        await s.tenants.purge(request.ctx, request.params.id);
        return reply.code(204).send(null);
      },
    );

    app.get(
      '/tenants/:id/keys',
      {
        schema: {
          tags,
          params: IdParams,
          summary:
            "The tenant's keys: the root key that wraps them, a root-key rotation under way, its data-key versions and what is sealed under each (ids and counts, never key material; platform admins, or owners of the tenant)",
          response: { 200: KeyStatusView, ...errorResponses },
        },
      },
      async (request) => keyStatusView(request.params.id, await s.keys.statusAs(request.ctx, request.params.id)),
    );

    app.post(
      '/tenants/:id/keys/rotate',
      {
        schema: {
          tags,
          params: IdParams,
          summary:
            'Add a data-key version: new secrets are sealed under it at once; older ones are re-sealed when next written or by `latchkey keys reseal` (platform admins, or owners of the tenant)',
          response: { 201: Type.Object({ tenant_id: Type.String(), data_key_version: Type.Integer(), previous_version: Type.Integer() }), ...errorResponses },
        },
      },
      async (request, reply) => {
        const r = await s.keys.rotateDataKeyAs(request.ctx, request.params.id);
        return reply.code(201).send({ tenant_id: r.tenantId, data_key_version: r.version, previous_version: r.previousVersion });
      },
    );
  };
}
