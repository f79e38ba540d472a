import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { ROLES } from '../../domain/roles.js';
import type { Services } from '../../services/services.js';
import { IdParams, ListOf, Name, NullableDateTime, PageQuery, PathId, errorResponses } from '../schemas/common.js';
import { accessKeyView, etagOf, listBody, pageOf, revisionFromIfMatch } from '../views.js';

const tags = ['access-keys'];

export const AccessKeyView = Type.Object({
  id: Type.String(),
  name: Type.String(),
  type: Type.String(),
  role: Type.String(),
  team_ids: Type.Array(Type.String()),
  prefix: Type.String({ description: 'The lk_<env>_ marker and the first 8 random characters, to recognise a key' }),
  last_used_at: Type.Union([Type.String(), Type.Null()]),
  expires_at: Type.Union([Type.String(), Type.Null()]),
  created_at: Type.String(),
  updated_at: Type.String(),
});
const Created = Type.Intersect([AccessKeyView, Type.Object({ key: Type.String({ description: 'Shown in this response only' }) })]);
const CreateBody = Type.Object(
  {
    name: Name,
    type: Type.Optional(Type.Literal('api')),
    role: Type.Union(ROLES.map((r) => Type.Literal(r))),
    team_ids: Type.Optional(Type.Array(PathId, { maxItems: 100, uniqueItems: true })),
    expires_at: Type.Optional(NullableDateTime),
  },
  { additionalProperties: false },
);
const ListQuery = Type.Object(
  { ...PageQuery, 'filter[name]': Type.Optional(Type.String({ minLength: 1, maxLength: 200 })), 'filter[type]': Type.Optional(Type.String({ maxLength: 32 })) },
  { additionalProperties: false },
);

export function accessKeyRoutes(s: Services): FastifyPluginAsync {
  return async (fastify) => {
    const app = fastify.withTypeProvider<TypeBoxTypeProvider>();

    app.post(
      '/access-keys',
      {
        schema: { tags, summary: 'Issue an access key (the key is shown once)', body: CreateBody, response: { 201: Created, ...errorResponses } },
      },
      async (request, reply) => {
        const { row, key } = await s.accessKeys.create(request.ctx, request.body);
        return reply
          .code(201)
          .header('cache-control', 'no-store')
          .header('etag', etagOf(row.revision))
          .send({ ...accessKeyView(row), key });
      },
    );

    app.get(
      '/access-keys',
      {
        schema: { tags, summary: 'List access keys', querystring: ListQuery, response: { 200: ListOf(AccessKeyView), ...errorResponses } },
      },
      async (request) => {
        const p = pageOf(request.query);
        const filter = {
          ...(request.query['filter[name]'] !== undefined ? { name: request.query['filter[name]'] } : {}),
          ...(request.query['filter[type]'] !== undefined ? { type: request.query['filter[type]'] } : {}),
        };
        const { rows, total } = await s.accessKeys.list(request.ctx, filter, p);
        return listBody(rows, total, p, accessKeyView);
      },
    );

    app.get(
      '/access-keys/:id',
      {
        schema: { tags, summary: 'One access key', params: IdParams, response: { 200: AccessKeyView, ...errorResponses } },
      },
      async (request, reply) => {
        const row = await s.accessKeys.get(request.ctx, request.params.id);
        return reply.header('etag', etagOf(row.revision)).send(accessKeyView(row));
      },
    );

    app.put(
      '/access-keys/:id',
      {
        schema: {
          tags,
          summary: 'Rename an access key (only the name can change)',
          description:
            'Only keys of a role the caller could issue itself (`403` otherwise: an admin cannot rename an owner, integration_admin or service key).',
          params: IdParams,
          body: Type.Object({ name: Name }, { additionalProperties: false }),
          response: { 200: AccessKeyView, ...errorResponses },
        },
      },
      async (request, reply) => {
        const row = await s.accessKeys.rename(request.ctx, request.params.id, request.body.name, revisionFromIfMatch(request.headers['if-match']));
        return reply.header('etag', etagOf(row.revision)).send(accessKeyView(row));
      },
    );

    app.post(
      '/access-keys/:id/aws-key-pair',
      {
        schema: {
          tags,
          summary: 'Give an access key an AWS-style key pair (the secret is shown once)',
          description:
            'For the AWS Secrets Manager dialect (docs/compat.md): AWS SDKs sign requests (SigV4) with an access key id and a ' +
            'secret access key. The pair acts as this access key (its role, teams and expiry) and stops working when the key is ' +
            "revoked. A second call replaces the pair. The secret is kept sealed under the tenant's keyring, since a SigV4 check " +
            'needs it. Only keys of a role the caller could issue itself.',
          params: IdParams,
          response: {
            201: Type.Object({
              key_id: Type.String(),
              access_key_id: Type.String({ description: 'LKIA + 16 characters of A-Z2-7' }),
              secret_access_key: Type.String({ description: 'Shown in this response only' }),
              created_at: Type.String(),
            }),
            ...errorResponses,
          },
        },
      },
      async (request, reply) => {
        const pair = await s.awsKeyPairs.issue(request.ctx, request.params.id);
        return reply.code(201).header('cache-control', 'no-store').send({
          key_id: pair.keyId,
          access_key_id: pair.accessKeyId,
          secret_access_key: pair.secretAccessKey,
          created_at: pair.createdAt,
        });
      },
    );

    app.delete(
      '/access-keys/:id',
      {
        schema: {
          tags,
          summary: 'Revoke an access key at once',
          description:
            'Only keys of a role the caller could issue itself (`403` otherwise: an owner key is revoked only by an owner). The ' +
            "tenant's last active owner key cannot be revoked (`409`): issue another owner key first; a tenant that lost every " +
            'owner key gets a new one from the server host (see docs/security.md).',
          params: IdParams,
          response: { 204: Type.Null(), ...errorResponses },
        },
      },
      async (request, reply) => {
        await s.accessKeys.revoke(request.ctx, request.params.id, revisionFromIfMatch(request.headers['if-match']));
        return reply.code(204).send(null);
      },
    );
  };
}
