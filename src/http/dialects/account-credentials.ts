/**
 * Dialect of source document 002 (account "Credentials": SMTP logins and API keys):
 * `GET/POST /v1/credentials`, `GET/PUT/DELETE /v1/credentials/:id`.
 *
 * The document's two types are native types: `smtp` ↔ `smtp`, `api` ↔ `api_key`; credentials of
 * any other type do not exist for this dialect (404, left out of lists). A new credential gets a
 * server-made key `em_<43 base64url chars>` (32 random bytes, the document's `em_` prefix), stored
 * as the native secret (`api_key` → `secret.value`; `smtp` → `secret.password`, with config
 * `host: localhost`, `auth_type: login`, `username: <slug of name>`, port/encryption at their
 * catalog defaults) and shown in the POST response only, like the native `generated_secret`.
 * `PUT` changes only `name`. `DELETE` refuses, with the native 409 CONFLICT envelope, to remove
 * the last smtp/api credential the caller can see ("there always have to be at least one").
 * The document shows no error bodies: errors use the native envelope.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type, type Static } from 'typebox';
import { LatchkeyError } from '../../domain/errors.js';
import type { RequestContext } from '../../domain/principal.js';
import type { Services } from '../../services/services.js';
import { slugOf } from '../../services/credentials/credential-rows.js';
import type { CredentialFilter, CredentialRow } from '../../domain/records.js';
import { ErrorEnvelope, Name, PathId } from '../schemas/common.js';
import { parseStrictJson } from '../strict-json.js';
import { NO_STORE } from './credential-lookup.js';

const tags = ['dialect: account-credentials'];

const DIALECT_TYPES = { smtp: 'smtp', api: 'api_key' } as const;
type DialectType = keyof typeof DIALECT_TYPES;
const NATIVE_TO_DIALECT: Record<string, DialectType> = { smtp: 'smtp', api_key: 'api' };

const TypeEnum = Type.Union([Type.Literal('smtp'), Type.Literal('api')]);
const AccountCredential = Type.Object({
  id: Type.String(),
  name: Type.String(),
  type: TypeEnum,
  last_used_at: Type.Union([Type.String(), Type.Null()]),
  created_at: Type.String(),
  updated_at: Type.String(),
});
const AccountCredentialCreated = Type.Object({
  id: Type.String(),
  name: Type.String(),
  type: TypeEnum,
  key: Type.String({ description: 'Shown in this response only' }),
  last_used_at: Type.Union([Type.String(), Type.Null()]),
  created_at: Type.String(),
  updated_at: Type.String(),
});
const ListQuery = Type.Object(
  {
    per_page: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 25 })),
    page: Type.Optional(Type.Integer({ minimum: 1, maximum: 100000 })),
    'filter[name]': Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    'filter[type]': Type.Optional(TypeEnum),
  },
  { additionalProperties: false },
);
type ListQuery = Static<typeof ListQuery>;
const CreateBody = Type.Object({ name: Name, type: TypeEnum }, { additionalProperties: false });
const UpdateBody = Type.Object({ name: Type.Optional(Name) }, { additionalProperties: false });
const Params = Type.Object({ id: PathId }, { additionalProperties: false });
const errors = { 400: ErrorEnvelope, 401: ErrorEnvelope, 403: ErrorEnvelope, 404: ErrorEnvelope, 409: ErrorEnvelope, 422: ErrorEnvelope };

/** The document writes times with microseconds (`2024-09-26T08:16:03.000000Z`); ours have milliseconds. */
export function withMicroseconds(iso: string): string;
export function withMicroseconds(iso: string | null): string | null;
export function withMicroseconds(iso: string | null): string | null {
  if (iso === null) return null;
  const m = /^(.*T\d{2}:\d{2}:\d{2})(?:\.(\d{1,6}))?Z$/.exec(iso);
  return m ? `${m[1]}.${(m[2] ?? '').padEnd(6, '0')}Z` : iso;
}

function accountView(c: CredentialRow) {
  return {
    id: c.id,
    name: c.name,
    type: NATIVE_TO_DIALECT[c.type] as DialectType,
    last_used_at: withMicroseconds(c.lastUsedAt),
    created_at: withMicroseconds(c.createdAt),
    updated_at: withMicroseconds(c.updatedAt),
  };
}

const notFound = (id: string) => new LatchkeyError('CREDENTIAL_NOT_FOUND', `No credential ${id} in this tenant`);

/** Store order: created_at descending, id descending. */
/**
 * The sample request is `curl -G … -d '{ "per_page": 25, … }'`, which puts the JSON object itself
 * in the query string. Such a query (one key that is a JSON object, no value) is read as the
 * parameters it spells; it goes through the strict JSON gate like any body.
 */
function jsonObjectQuery(request: FastifyRequest): void {
  const q = request.query as Record<string, unknown>;
  const [key, ...more] = Object.keys(q);
  if (key === undefined || more.length > 0 || q[key] !== '' || !key.trim().startsWith('{')) return;
  let parsed: unknown;
  try {
    parsed = parseStrictJson(key);
  } catch {
    throw new LatchkeyError('INVALID_PARAMETER', 'query is neither name=value pairs nor a JSON object');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new LatchkeyError('INVALID_PARAMETER', 'query JSON must be an object');
  request.query = parsed;
}

export function accountCredentialsDialect(s: Services): FastifyPluginAsync {
  async function getOwn(ctx: RequestContext, id: string): Promise<CredentialRow> {
    const c = await s.credentials.get(ctx, id);
    if (!(c.type in NATIVE_TO_DIALECT)) throw notFound(id);
    return c;
  }

  async function list(ctx: RequestContext, q: ListQuery): Promise<CredentialRow[]> {
    const perPage = q.per_page ?? 25;
    const page = q.page ?? 1;
    const base: CredentialFilter = q['filter[name]'] !== undefined ? { name: q['filter[name]'] } : {};
    // One query either way (both types with `types`), newest first, so any page is reachable.
    const filter: CredentialFilter =
      q['filter[type]'] !== undefined ? { ...base, type: DIALECT_TYPES[q['filter[type]']] } : { ...base, types: Object.values(DIALECT_TYPES) };
    const { rows } = await s.credentials.list(ctx, filter, { limit: perPage, offset: (page - 1) * perPage });
    return rows;
  }

  return async (fastify) => {
    const app = fastify.withTypeProvider<TypeBoxTypeProvider>();

    app.get(
      '/v1/credentials',
      {
        schema: {
          tags,
          summary: 'List all credentials (document 002)',
          querystring: ListQuery,
          response: { 200: Type.Object({ data: Type.Array(AccountCredential) }), ...errors },
        },
        preValidation: async (request) => jsonObjectQuery(request),
      },
      async (request) => ({ data: (await list(request.ctx, request.query)).map(accountView) }),
    );

    app.post(
      '/v1/credentials',
      {
        schema: {
          tags,
          summary: 'Create a credential; its key is in this response only',
          body: CreateBody,
          response: { 201: AccountCredentialCreated, ...errors },
        },
      },
      async (request, reply) => {
        const { name, type } = request.body;
        const key = `em_${randomBytes(32).toString('base64url')}`;
        const input =
          type === 'api'
            ? { name, type: 'api_key', secret: { value: key } }
            : { name, type: 'smtp', config: { host: 'localhost', auth_type: 'login', username: slugOf(name) || 'smtp' }, secret: { password: key } };
        const { credential } = await s.credentials.create(request.ctx, input);
        const view = accountView(credential);
        return reply.code(201).headers(NO_STORE).send({
          id: view.id,
          name: view.name,
          type: view.type,
          key,
          last_used_at: view.last_used_at,
          created_at: view.created_at,
          updated_at: view.updated_at,
        });
      },
    );

    app.get(
      '/v1/credentials/:id',
      {
        schema: { tags, summary: 'Retrieve a credential', params: Params, response: { 200: AccountCredential, ...errors } },
      },
      async (request) => accountView(await getOwn(request.ctx, request.params.id)),
    );

    app.put(
      '/v1/credentials/:id',
      {
        schema: { tags, summary: 'Update a credential (only name)', params: Params, body: UpdateBody, response: { 200: AccountCredential, ...errors } },
        // `PUT` with no body at all changes nothing, like `{}`.
        preValidation: async (request) => {
          request.body ??= {};
        },
      },
      async (request) => {
        const current = await getOwn(request.ctx, request.params.id);
        const name = request.body.name;
        if (name === undefined || name === current.name) return accountView(current);
        return accountView(await s.credentials.update(request.ctx, current.id, { name }));
      },
    );

    app.delete(
      '/v1/credentials/:id',
      {
        schema: { tags, summary: 'Delete a credential (never the last one)', params: Params, response: { 204: Type.Null(), ...errors } },
      },
      async (request, reply) => {
        const ctx = request.ctx;
        const target = await getOwn(ctx, request.params.id);
        // "At least one credential remains" is held by the store for the whole account, inside the
        // deleting transaction, whatever route deletes (queries.ts, ACCOUNT_CREDENTIAL_TYPES); the
        // service checks permission and write scope first, so a caller who may not delete never
        // learns it was the last one.
        await s.credentials.remove(ctx, target.id, { purge: false });
        return reply.code(204).send(null);
      },
    );
  };
}
