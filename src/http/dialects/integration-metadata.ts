/**
 * Dialect of source document 004 ("Get credential by ID", a FastAPI service) and its related
 * endpoints: `GET /integrations/credentials`, `GET|PATCH|DELETE /integrations/credentials/{credential_id}`,
 * `GET /integrations/credentials/{credential_id}/credentials`.
 *
 * - Metadata: `created_at, google_email, id, modified_by, provider, updated_at, user_id`; never a
 *   secret. Only credentials whose provider is in the document's enum exist here (see
 *   `providerOf`); any other looks like one that never existed (404, not listed).
 * - `…/credentials` (the secrets) answers `service` principals only (403 for every other role,
 *   owners included, as the document says "service accounts only"); it reveals through
 *   `services.credentials.reveal` (audited, fail-closed) and is sent with `Cache-Control: no-store`.
 * - Errors: `{ error: { code, message, details? }, request_id }`, and FastAPI's
 *   `422 { detail: [{ loc, msg, type }] }` for request validation. `credential_id` must be a UUID
 *   (400 "Invalid credential ID" otherwise); soft-deleted credentials are 404.
 */
import type { FastifyError, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { LatchkeyError, type FieldIssue } from '../../domain/errors.js';
import type { RequestContext } from '../../domain/principal.js';
import type { Services } from '../../services/services.js';
import type { CredentialFilter, CredentialRow, Keyset } from '../../domain/records.js';
import { toLatchkeyError } from '../errors.js';
import { JsonRejected } from '../strict-json.js';
import { dialectIdCandidates, getFirst, inDialectIds, NO_STORE } from './credential-lookup.js';
import { prepareErrorReply } from './dialect-errors.js';
import { uuidViewOf } from './uuid-view.js';

const tags = ['dialect: integration-metadata'];

export const PROVIDERS = ['microsoft', 'sharepoint', 'sftp', 'aws_ses', 'google', 'postgresql', 'internal_postgresql'] as const;
export type Provider = (typeof PROVIDERS)[number];

/** The document's provider of a native credential, or null when it has none (then it is not part of this dialect). */
export function providerOf(c: Pick<CredentialRow, 'type' | 'provider'>): Provider | null {
  switch (c.type) {
    case 'sftp':
      return 'sftp';
    case 'aws-ses':
      return 'aws_ses';
    case 'postgresql':
      return c.provider === 'internal_postgresql' ? 'internal_postgresql' : 'postgresql';
    case 'oauth2':
      return c.provider === 'google' || c.provider === 'microsoft' || c.provider === 'sharepoint' ? c.provider : null;
    default:
      return null;
  }
}

/** The native queries that together list every credential with a provider. */
const PROVIDER_FILTERS: CredentialFilter[] = [
  { type: 'sftp' },
  { type: 'aws-ses' },
  { type: 'postgresql' },
  { type: 'oauth2', provider: 'google' },
  { type: 'oauth2', provider: 'microsoft' },
  { type: 'oauth2', provider: 'sharepoint' },
];
/** Page size of the native queries behind the list (the document's list has no paging: it is whole). */
const PAGE = 500;

const Metadata = Type.Object({
  created_at: Type.String(),
  google_email: Type.Union([Type.String(), Type.Null()]),
  id: Type.String(),
  modified_by: Type.String(),
  provider: Type.Union([
    Type.Literal('microsoft'),
    Type.Literal('sharepoint'),
    Type.Literal('sftp'),
    Type.Literal('aws_ses'),
    Type.Literal('google'),
    Type.Literal('postgresql'),
    Type.Literal('internal_postgresql'),
  ]),
  updated_at: Type.String(),
  user_id: Type.Union([Type.String(), Type.Null()]),
  token_expires_at: Type.Optional(
    Type.Union([Type.String(), Type.Null()], {
      description: 'OAuth credentials only (google, microsoft, sharepoint): when the current access token expires; null when unknown',
    }),
  ),
});
const WithSecrets = Type.Intersect([
  Metadata,
  Type.Object({ credentials: Type.Record(Type.String(), Type.Unknown(), { description: "The type's config and decrypted secret fields, flat" }) }),
]);
const ErrorBody = Type.Object({
  error: Type.Object({
    code: Type.String(),
    message: Type.String(),
    details: Type.Optional(Type.Union([Type.String(), Type.Array(Type.Object({ path: Type.String(), message: Type.String() }))])),
  }),
  request_id: Type.Union([Type.String(), Type.Null()]),
});
const ValidationErrorBody = Type.Object({
  detail: Type.Array(Type.Object({ loc: Type.Array(Type.Union([Type.String(), Type.Integer()])), msg: Type.String(), type: Type.String() })),
});
const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 422: ValidationErrorBody, 500: ErrorBody };
const Params = Type.Object({ credential_id: Type.String({ maxLength: 200 }) }, { additionalProperties: false });
const PatchBody = Type.Object(
  {
    credentials: Type.Record(Type.String({ maxLength: 64 }), Type.Unknown(), {
      minProperties: 1,
      maxProperties: 64,
      description:
        "Fields of the credential's type to change: config fields and secret fields alike (a secret field makes a new version); null removes a field",
    }),
  },
  { additionalProperties: false },
);

const viewOf = (nativeId: string) => uuidViewOf(nativeId) ?? nativeId;

export function metadataView(c: CredentialRow) {
  const provider = providerOf(c) as Provider;
  const account = c.config['account'];
  const expiry = c.config['access_token_expires_at'];
  const email = provider === 'google' && typeof account === 'object' && account !== null ? (account as Record<string, unknown>)['email'] : undefined;
  return {
    created_at: c.createdAt,
    google_email: typeof email === 'string' ? email : null,
    id: viewOf(c.id),
    modified_by: c.modifiedBy.id,
    provider,
    updated_at: c.updatedAt,
    user_id: c.createdBy.type === 'user' ? c.createdBy.id : null,
    ...(c.type === 'oauth2' ? { token_expires_at: typeof expiry === 'string' ? expiry : null } : {}),
  };
}

// ---------------------------------------------------------------------------------------------
// FastAPI-style validation errors

interface Detail {
  loc: Array<string | number>;
  msg: string;
  type: string;
}

class RequestValidation extends Error {
  constructor(readonly detail: Detail[]) {
    super('request validation failed');
  }
}

const LOCATION: Record<string, string> = { body: 'body', params: 'path', querystring: 'query', headers: 'header' };

function segments(path: string): Array<string | number> {
  return path === ''
    ? []
    : path.split('.').flatMap((p) =>
        p
          .split(/\[(\d+)\]/)
          .filter((x) => x !== '')
          .map((x) => (/^\d+$/.test(x) ? Number(x) : x)),
      );
}

/** Ajv errors as FastAPI's `detail`: `loc` from the location and the instance path. */
function fromAjv(fe: FastifyError & { validationContext?: string }): Detail[] {
  const where = LOCATION[fe.validationContext ?? 'body'] ?? 'body';
  return (fe.validation ?? []).map((v) => {
    const loc: Array<string | number> = [
      where,
      ...v.instancePath
        .split('/')
        .filter((p) => p !== '')
        .map((p) => (/^\d+$/.test(p) ? Number(p) : p)),
    ];
    const params = v.params as { missingProperty?: string; additionalProperty?: string };
    if (v.keyword === 'required') return { loc: [...loc, String(params.missingProperty)], msg: 'Field required', type: 'missing' };
    if (v.keyword === 'additionalProperties')
      return { loc: [...loc, String(params.additionalProperty)], msg: 'Extra inputs are not permitted', type: 'extra_forbidden' };
    if (v.keyword === 'type')
      return {
        loc,
        msg: `Input should be ${v.message?.replace(/^must be /, 'a valid ') ?? 'valid'}`,
        type: `${String((v.params as { type?: string }).type ?? 'value')}_type`,
      };
    return { loc, msg: v.message ?? 'Invalid value', type: 'value_error' };
  });
}

/** A service's 422 (`VALIDATION_FAILED`) as `detail`: `config.port` → `["body", "credentials", "port"]`. */
function fromIssues(issues: FieldIssue[]): Detail[] {
  return issues.map((i) => ({ loc: ['body', 'credentials', ...segments(i.path.replace(/^(config|secret)\.?/, ''))], msg: i.message, type: 'value_error' }));
}

// ---------------------------------------------------------------------------------------------
// Plugin

export function integrationMetadataDialect(s: Services): FastifyPluginAsync {
  function errorReply(err: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
    const fe = err as FastifyError & { validationContext?: string };
    if (err instanceof RequestValidation) return reply.code(422).header('cache-control', 'no-store').send({ detail: err.detail });
    if (fe.validation)
      return reply
        .code(422)
        .header('cache-control', 'no-store')
        .send({ detail: fromAjv(fe) });
    if (err instanceof JsonRejected || fe.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || fe.code === 'FST_ERR_CTP_EMPTY_JSON_BODY') {
      return reply
        .code(422)
        .header('cache-control', 'no-store')
        .send({ detail: [{ loc: ['body'], msg: 'JSON decode error', type: 'json_invalid' }] });
    }
    const e = toLatchkeyError(err);
    if (e.code === 'VALIDATION_FAILED' && Array.isArray(e.details)) {
      return reply
        .code(422)
        .header('cache-control', 'no-store')
        .send({ detail: fromIssues(e.details) });
    }
    // The document lists no 409: an inactive credential's secrets are refused as a 403 (the
    // secrets may not be used), the code says why.
    const prepared = prepareErrorReply(err, e, request, reply);
    if (e.code === 'CREDENTIAL_INACTIVE') void prepared.code(403);
    return prepared.send({
      error: {
        code: e.code,
        message: inDialectIds(e.message, viewOf),
        ...(e.details === undefined ? {} : { details: typeof e.details === 'string' ? inDialectIds(e.details, viewOf) : e.details }),
      },
      request_id: request.id,
    });
  }

  /** Every credential of `filter` the caller can see, page by page (keyset). */
  async function everyPage(ctx: RequestContext, filter: CredentialFilter): Promise<CredentialRow[]> {
    const all: CredentialRow[] = [];
    for (let after: Keyset | undefined; ; ) {
      const { rows } = await s.credentials.list(ctx, filter, { limit: PAGE, ...(after ? { after } : {}) });
      all.push(...rows);
      const last = rows[rows.length - 1];
      if (rows.length < PAGE || last === undefined) return all;
      after = { createdAt: last.createdAt, id: last.id };
    }
  }

  /** A UUID, or a caller-chosen id this dialect showed as it is; else the document's 400. */
  function candidatesOf(credentialId: string): string[] {
    const candidates = dialectIdCandidates(credentialId);
    if (candidates === null) throw new LatchkeyError('INVALID_PARAMETER', 'credential_id must be a UUID', { message: 'Invalid credential ID' });
    return candidates;
  }

  /** A path credential_id → the caller's credential with a provider, or the document's 400/404. */
  async function resolve(ctx: RequestContext, credentialId: string): Promise<CredentialRow> {
    const candidates = candidatesOf(credentialId);
    const notFound = () => new LatchkeyError('CREDENTIAL_NOT_FOUND', `No credential ${credentialId} in this organization`);
    let c: CredentialRow;
    try {
      c = await getFirst(s, ctx, candidates);
    } catch (err) {
      if (err instanceof LatchkeyError && err.code === 'CREDENTIAL_NOT_FOUND') throw notFound();
      throw err;
    }
    if (providerOf(c) === null) throw notFound();
    return c;
  }

  return async (fastify) => {
    const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
    app.setErrorHandler(errorReply);
    app.setNotFoundHandler((request, reply) =>
      errorReply(new LatchkeyError('NOT_FOUND', `No route ${request.method} ${request.url.split('?')[0]}`), request, reply),
    );

    app.get(
      '/integrations/credentials',
      {
        schema: {
          tags,
          summary: "List the organization's integration credentials (metadata, newest first)",
          response: { 200: Type.Array(Metadata), ...errors },
        },
      },
      async (request) => {
        const lists = await Promise.all(PROVIDER_FILTERS.map((f) => everyPage(request.ctx, f)));
        const rows = lists.flat().filter((c) => providerOf(c) !== null);
        rows.sort((a, b) => (a.createdAt !== b.createdAt ? (a.createdAt < b.createdAt ? 1 : -1) : a.id < b.id ? 1 : -1));
        return rows.map(metadataView);
      },
    );

    app.get(
      '/integrations/credentials/:credential_id',
      {
        schema: { tags, summary: 'Get credential by ID (document 004): metadata, never a secret', params: Params, response: { 200: Metadata, ...errors } },
      },
      async (request) => metadataView(await resolve(request.ctx, request.params.credential_id)),
    );

    app.patch(
      '/integrations/credentials/:credential_id',
      {
        schema: { tags, summary: 'Update credential', params: Params, body: PatchBody, response: { 200: Metadata, ...errors } },
      },
      async (request) => {
        const current = await resolve(request.ctx, request.params.credential_id);
        const type = s.catalog.get(current.type);
        const configFields = new Set(Object.keys(type?.config.properties ?? {}));
        const secretFields = new Set(type?.secretFields ?? []);
        const config: Record<string, unknown> = {};
        const secret: Record<string, unknown> = {};
        const unknown: Detail[] = [];
        for (const [key, value] of Object.entries(request.body.credentials)) {
          if (configFields.has(key)) config[key] = value;
          else if (secretFields.has(key)) secret[key] = value;
          else unknown.push({ loc: ['body', 'credentials', key], msg: 'Extra inputs are not permitted', type: 'extra_forbidden' });
        }
        if (unknown.length > 0) throw new RequestValidation(unknown);
        const row = await s.credentials.update(request.ctx, current.id, {
          ...(Object.keys(config).length > 0 ? { config } : {}),
          ...(Object.keys(secret).length > 0 ? { secret } : {}),
        });
        return metadataView(row);
      },
    );

    app.delete(
      '/integrations/credentials/:credential_id',
      {
        schema: { tags, summary: 'Delete credential (soft delete: it then answers 404)', params: Params, response: { 204: Type.Null(), ...errors } },
      },
      async (request, reply) => {
        const current = await resolve(request.ctx, request.params.credential_id);
        await s.credentials.remove(request.ctx, current.id, { purge: false });
        return reply.code(204).send(null);
      },
    );

    app.get(
      '/integrations/credentials/:credential_id/credentials',
      {
        config: { reveals: { action: 'credential.reveal', target: 'credential', param: 'credential_id' } },
        schema: {
          tags,
          summary: 'Get credential secrets (service accounts only; audited, never cached)',
          params: Params,
          response: { 200: WithSecrets, ...errors },
        },
      },
      async (request, reply) => {
        const ctx = request.ctx;
        candidatesOf(request.params.credential_id);
        if (ctx.principal.role !== 'service') {
          // Audited from the 403 like every refused reveal (config.reveals).
          throw new LatchkeyError('FORBIDDEN', 'Credential secrets are for service accounts only');
        }
        const current = await resolve(ctx, request.params.credential_id);
        const r = await s.credentials.reveal(ctx, current.id, { variant: 'main', allowInactive: false });
        return reply.headers(NO_STORE).send({ ...metadataView(r.credential), credentials: { ...r.credential.config, ...r.secret } });
      },
    );
  };
}
