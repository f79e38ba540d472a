/**
 * Dialect of source document 003 ("Get Credentials" with decrypted data, and its related
 * endpoints): `GET /api/v1/credentials/{integrationId}?credentialId=`, `POST /api/v1/credentials`,
 * `PATCH|DELETE /api/v1/credentials/{credentialId}`, `POST /api/v1/credentials/{credentialId}/rotate`.
 *
 * - Envelope `{ success, message, data, timestamp }`; errors `{ success: false, error: { code,
 *   message, details }, timestamp }` for every status, including the 401 thrown by the global
 *   authentication hook (this plugin's error handler is the one Fastify calls for its routes).
 * - `x-tenantid` is required and names the tenant the request acts in (its `ten_…` id or that
 *   id's UUID view): malformed is 400, a tenant not the caller's is 403, before any lookup. `realmname` is accepted and unused
 *   (Latchkey has no realms).
 * - Credential ids are UUIDs, written `cred-<uuid>` as in the document (a bare UUID is accepted
 *   too); see uuid-view.ts for how they map onto native ids.
 * - The GET reveals through `services.credentials.revealForIntegration` (needs
 *   `credentials:reveal`, audited before the secret leaves, refused if it cannot be audited;
 *   an inactive credential is answered with its `status`, which the document has clients check) and is sent with `Cache-Control: no-store`.
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { systemClock, type Clock } from '../../domain/clock.js';
import { LatchkeyError, validationFailed, type FieldIssue } from '../../domain/errors.js';
import { isValidPathId } from '../../domain/ids.js';
import type { RequestContext } from '../../domain/principal.js';
import type { CredentialInput, CredentialPatch } from '../../services/credentials/credential-input.js';
import type { Revealed } from '../../services/credentials/credentials-service.js';
import type { Services } from '../../services/services.js';
import type { CredentialRow } from '../../domain/records.js';
import { toLatchkeyError } from '../errors.js';
import { CreateBody, Data, failures, GetQuery, PatchBody, RevealedData, RotateBody, Success, WriteData } from './integration-credentials-schemas.js';
import { dialectIdCandidates, getFirst, inDialectIds, NO_STORE } from './credential-lookup.js';
import { prepareErrorReply } from './dialect-errors.js';
import { nativeIdCandidates, parseUuid, uuidViewOf } from './uuid-view.js';

const tags = ['dialect: integration-credentials'];

// ---------------------------------------------------------------------------------------------
// Field mapping (docs/dialects.md has the table)

/** authType ↔ native type. Only these three can be created here; any native type can be read. */
const AUTH_TYPES = { oauth2_bearer: 'oauth2', api_key: 'api_key', text: 'text' } as const;
type AuthType = keyof typeof AUTH_TYPES;

export function authTypeOf(nativeType: string): string {
  return nativeType === 'oauth2' ? 'oauth2_bearer' : nativeType;
}

/** Dialect field → native secret field, per native type. */
const SECRET_FIELDS: Record<string, Record<string, string>> = {
  oauth2: { accessToken: 'access_token', refreshToken: 'refresh_token', clientSecret: 'client_secret' },
  api_key: { accessToken: 'value' },
  text: { accessToken: 'value' },
};
/** Dialect field → native config field, per native type (`expiresAt` is the access token's expiry). */
const CONFIG_FIELDS: Record<string, Record<string, string>> = {
  oauth2: {
    clientId: 'client_id',
    tokenEndpoint: 'token_endpoint',
    authorizationEndpoint: 'authorization_endpoint',
    scopes: 'scopes',
    expiresAt: 'access_token_expires_at',
  },
};
/** Native issue paths back to this dialect's names, so a 422 speaks the caller's language. */
const ISSUE_PATHS: Record<string, string> = {
  name: 'credentialName',
  integration_id: 'integrationId',
  description: 'description',
  metadata: 'metadata',
  expires_at: 'expiresAt',
  'config.client_id': 'clientId',
  'config.token_endpoint': 'tokenEndpoint',
  'config.authorization_endpoint': 'authorizationEndpoint',
  'config.scopes': 'scopes',
  'config.access_token_expires_at': 'expiresAt',
  'secret.client_secret': 'clientSecret',
  'secret.access_token': 'accessToken',
  'secret.refresh_token': 'refreshToken',
  'secret.value': 'accessToken',
};

function dialectIssues(err: unknown): unknown {
  if (!(err instanceof LatchkeyError) || err.code !== 'VALIDATION_FAILED' || !Array.isArray(err.details)) return err;
  const issues = err.details.map((i) => {
    const exact = ISSUE_PATHS[i.path];
    const prefix = Object.keys(ISSUE_PATHS).find((k) => i.path.startsWith(`${k}.`) || i.path.startsWith(`${k}[`));
    return { path: exact ?? (prefix ? ISSUE_PATHS[prefix] + i.path.slice(prefix.length) : i.path), message: i.message };
  });
  return validationFailed(issues);
}

// ---------------------------------------------------------------------------------------------
// Schemas: integration-credentials-schemas.ts

// ---------------------------------------------------------------------------------------------
// Views

interface TenantRef {
  id: string;
  name: string;
}

/** `cred-<uuid>` as in the document; a credential with no UUID view keeps its native id. */
export function dialectIdOf(nativeId: string): string {
  const uuid = uuidViewOf(nativeId);
  return uuid === null ? nativeId : `cred-${uuid}`;
}

function str(v: unknown): string | null {
  return typeof v === 'string' ? v : null;
}

/** The document's `data` without the tokens: what write responses carry (a write never echoes a secret). */
function dataView(c: CredentialRow, tenant: TenantRef) {
  const expiresAt = c.type === 'oauth2' ? (str(c.config['access_token_expires_at']) ?? c.expiresAt) : c.expiresAt;
  const scopes = Array.isArray(c.config['scopes']) ? (c.config['scopes'] as string[]) : [];
  return {
    id: dialectIdOf(c.id),
    integrationId: c.integrationId,
    credentialName: c.name,
    description: c.description,
    authType: authTypeOf(c.type),
    scopes,
    tokenEndpoint: str(c.config['token_endpoint']),
    authorizationEndpoint: str(c.config['authorization_endpoint']),
    metadata: c.metadata,
    status: c.status,
    expiresAt,
    createdAt: c.createdAt,
    createdBy: { id: c.createdBy.id, name: c.createdBy.name, email: c.createdBy.email },
    lastAccessedAt: c.lastUsedAt,
    tenant,
  };
}

/** Secret fields that are never the credential's own authentication secret. */
const NOT_PRIMARY = new Set(['client_secret', 'refresh_token', 'id_token']);

/**
 * The document's `data` with `accessToken`/`refreshToken`, from a secret that was revealed
 * (audited) or that the server made just now. `accessToken` is the type's authentication
 * secret: an access token where the type has one, else the first set field of the type's secret
 * fields in catalog order (smtp/basic/postgresql/sftp `password`, api_key/text `value`, sendgrid
 * `api_key`, …), so every type's reveal hands out its "decrypted authentication data".
 */
function revealedDataView(c: CredentialRow, tenant: TenantRef, secret: Record<string, unknown>, secretFields: readonly string[]) {
  const primary =
    secretFields
      .filter((f) => !NOT_PRIMARY.has(f))
      .map((f) => str(secret[f]))
      .find((v) => v !== null) ?? null;
  return {
    ...dataView(c, tenant),
    accessToken: str(secret['access_token']) ?? primary,
    refreshToken: str(secret['refresh_token']),
  };
}

// ---------------------------------------------------------------------------------------------
// Request → service input

const TENANT_ID = /^ten_[0-7][0-9A-HJKMNP-TV-Z]{25}$/;

/**
 * The native tenant id an `x-tenantid` header names, for authentication (src/http/app.ts uses it
 * as the native `x-tenant-id` on this dialect's routes when that is absent): a `ten_…` id as it
 * is, a UUID view mapped back (its v8 reading first). Undefined when absent or malformed.
 */
export function tenantIdFromHeader(value: string | string[] | undefined): string | undefined {
  if (typeof value !== 'string') return undefined;
  const text = value.trim();
  if (TENANT_ID.test(text)) return text;
  const uuid = parseUuid(text);
  return uuid === null ? undefined : nativeIdCandidates(uuid, 'ten')[0];
}

function invalidCredentialId(): LatchkeyError {
  return new LatchkeyError('INVALID_PARAMETER', 'credentialId must be a valid UUID', { message: 'Invalid credentialId format' });
}

/** `cred-<uuid>`, `<uuid>` or a caller-chosen id shown as it is → the native ids it may name, else 400 INVALID_PARAMETER. */
function credentialCandidates(text: string): string[] {
  const candidates = dialectIdCandidates(text);
  if (candidates === null) throw invalidCredentialId();
  return candidates;
}

/** Splits dialect fields into the native config and secret of `type`; a field the type has not is a 422. */
function split(type: string, body: Record<string, unknown>): { config: Record<string, unknown>; secret: Record<string, unknown>; issues: FieldIssue[] } {
  const configMap = CONFIG_FIELDS[type] ?? {};
  const secretMap = SECRET_FIELDS[type] ?? {};
  const config: Record<string, unknown> = {};
  const secret: Record<string, unknown> = {};
  const issues: FieldIssue[] = [];
  for (const field of ['scopes', 'tokenEndpoint', 'authorizationEndpoint', 'clientId', 'clientSecret', 'accessToken', 'refreshToken']) {
    if (body[field] === undefined) continue;
    const c = configMap[field];
    const s = secretMap[field];
    if (c !== undefined) config[c] = body[field];
    else if (s !== undefined) secret[s] = body[field];
    else issues.push({ path: field, message: `does not apply to authType ${authTypeOf(type)}` });
  }
  if (body['expiresAt'] !== undefined && configMap['expiresAt'] !== undefined) config[configMap['expiresAt']] = body['expiresAt'];
  return { config, secret, issues };
}

function createInput(body: CreateBody): CredentialInput {
  const type = AUTH_TYPES[body.authType as AuthType];
  const { config, secret, issues } = split(type, body);
  if (issues.length > 0) throw validationFailed(issues);
  if (type === 'oauth2') {
    // A pasted token pair with no authorization endpoint is only refreshed (grant refresh_token);
    // a client without a secret is a public client.
    config['grant_type'] = body.authorizationEndpoint !== undefined ? 'authorization_code' : 'refresh_token';
    config['token_endpoint_auth_method'] = body.clientSecret !== undefined ? 'client_secret_basic' : 'none';
  }
  return {
    name: body.credentialName,
    type,
    integration_id: body.integrationId,
    config,
    ...(Object.keys(secret).length > 0 || type === 'oauth2' ? { secret } : {}),
    ...(body.description !== undefined ? { description: body.description } : {}),
    ...(body.metadata !== undefined ? { metadata: body.metadata } : {}),
    ...(body.status !== undefined ? { status: body.status } : {}),
    ...(type !== 'oauth2' && body.expiresAt !== undefined ? { expires_at: body.expiresAt } : {}),
  };
}

function patchInput(current: CredentialRow, body: PatchBody): CredentialPatch {
  const { config, secret, issues } = split(current.type, body);
  if (issues.length > 0) throw validationFailed(issues);
  return {
    ...(body.credentialName !== undefined ? { name: body.credentialName } : {}),
    ...(body.integrationId !== undefined ? { integration_id: body.integrationId } : {}),
    ...(body.description !== undefined ? { description: body.description } : {}),
    ...(body.metadata !== undefined ? { metadata: body.metadata } : {}),
    ...(body.status !== undefined ? { status: body.status } : {}),
    ...(current.type !== 'oauth2' && body.expiresAt !== undefined ? { expires_at: body.expiresAt } : {}),
    ...(Object.keys(config).length > 0 ? { config } : {}),
    ...(Object.keys(secret).length > 0 ? { secret } : {}),
  };
}

// ---------------------------------------------------------------------------------------------
// Plugin

const Params = Type.Object({ credentialId: Type.String({ maxLength: 200 }) }, { additionalProperties: false });

export function integrationCredentialsDialect(s: Services, clock: Clock = systemClock): FastifyPluginAsync {
  const now = () => clock.now().toISOString();
  const ok = <T>(message: string, data: T) => ({ success: true as const, message, data, timestamp: now() });

  const MESSAGES: Partial<Record<string, string>> = {
    UNAUTHENTICATED: 'Authentication failed',
    FORBIDDEN: 'Insufficient permissions',
    INTERNAL: 'Server error',
  };

  function errorReply(err: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
    const e = toLatchkeyError(err);
    // Errors speak in this dialect's ids (`cred-<uuid>`), never the native `crd_…`.
    const details = e.details ?? e.message;
    return prepareErrorReply(err, e, request, reply).send({
      success: false,
      error: {
        code: e.code,
        message: inDialectIds(MESSAGES[e.code] ?? e.message, dialectIdOf),
        details: typeof details === 'string' ? inDialectIds(details, dialectIdOf) : details,
      },
      timestamp: now(),
    });
  }

  const fieldsOf = (c: CredentialRow): readonly string[] => s.catalog.get(c.type)?.secretFields ?? [];

  async function tenantOf(ctx: RequestContext): Promise<TenantRef> {
    const id = ctx.principal.tenantId;
    const row = (await s.tenants.list(ctx)).find((t) => t.id === id);
    return { id: uuidViewOf(id, 'ten') ?? id, name: row?.name ?? '' };
  }

  /** A path credentialId → the caller's credential, or the document's 404. */
  async function resolve(ctx: RequestContext, credentialId: string): Promise<CredentialRow> {
    const candidates = credentialCandidates(credentialId);
    try {
      return await getFirst(s, ctx, candidates);
    } catch (err) {
      if (err instanceof LatchkeyError && err.code === 'CREDENTIAL_NOT_FOUND')
        throw new LatchkeyError('CREDENTIAL_NOT_FOUND', `No credential exists with ID: ${credentialId}`);
      throw err;
    }
  }

  async function revealFor(ctx: RequestContext, integrationId: string, credentialId: string | undefined): Promise<Revealed> {
    const notFound = () =>
      new LatchkeyError(
        'CREDENTIAL_NOT_FOUND',
        credentialId === undefined
          ? `No credential exists for integration ID: ${integrationId}`
          : `No credential ${credentialId} exists for integration ID: ${integrationId}`,
      );
    const candidates = credentialId === undefined ? [undefined] : credentialCandidates(credentialId);
    for (const candidate of candidates) {
      try {
        // The service checks credentials:reveal first, so a caller without it gets 403 before any lookup.
        // An inactive credential is answered with its status: the document has clients check it.
        return await s.credentials.revealForIntegration(ctx, integrationId, candidate, { allowInactive: true });
      } catch (err) {
        if (!(err instanceof LatchkeyError) || err.code !== 'CREDENTIAL_NOT_FOUND') throw err;
      }
    }
    throw notFound();
  }

  return async (fastify) => {
    const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
    app.setErrorHandler(errorReply);
    app.setNotFoundHandler((request, reply) =>
      errorReply(new LatchkeyError('NOT_FOUND', `No route ${request.method} ${request.url.split('?')[0]}`), request, reply),
    );

    // x-tenantid: required and well-formed (400), and only a tenant of the caller: it chose the
    // tenant at authentication (`tenantIdFromHeader`), so a principal of several tenants acts in
    // the one it names and a key of one tenant gets 403 for any other; checked before any lookup.
    app.addHook('preHandler', async (request) => {
      if (request.is404) return;
      // `accept` is required by the document: it must admit application/json, the only format here.
      const accept = request.headers.accept;
      if (typeof accept !== 'string' || !/(^|,)\s*(application\/json|application\/\*|\*\/\*)\s*(;|,|$)/i.test(accept)) {
        throw new LatchkeyError('INVALID_PARAMETER', 'The accept header must admit application/json', { message: 'Invalid accept header' });
      }
      const sent = request.headers['x-tenantid'];
      if (typeof sent !== 'string' || sent.trim() === '') {
        throw new LatchkeyError('INVALID_PARAMETER', 'The x-tenantid header is required', { message: 'Missing x-tenantid header' });
      }
      const named = tenantIdFromHeader(sent);
      if (named === undefined) {
        throw new LatchkeyError('INVALID_PARAMETER', 'x-tenantid must be a tenant UUID', { message: 'Invalid x-tenantid format' });
      }
      const own = request.ctx.principal.tenantId;
      const uuid = parseUuid(sent.trim());
      if (named !== own && (uuid === null || !nativeIdCandidates(uuid, 'ten').includes(own))) {
        throw new LatchkeyError('FORBIDDEN', 'This key does not belong to the tenant in x-tenantid');
      }
    });

    app.get(
      '/api/v1/credentials/:integrationId',
      {
        config: { reveals: { action: 'credential.reveal', target: 'integration', param: 'integrationId' } },
        schema: {
          tags,
          summary: 'Get credential with decrypted data (document 003); audited, never cached',
          params: Type.Object({ integrationId: Type.String({ maxLength: 200 }) }, { additionalProperties: false }),
          querystring: GetQuery,
          response: { 200: Success(RevealedData), ...failures },
        },
      },
      async (request, reply) => {
        const { integrationId } = request.params;
        if (!isValidPathId(integrationId)) {
          throw new LatchkeyError('INVALID_PARAMETER', 'integrationId must be at most 50 characters of letters, digits, _ - . @ ~', {
            message: 'Invalid integrationId format',
          });
        }
        const r = await revealFor(request.ctx, integrationId, request.query.credentialId);
        const data = revealedDataView(r.credential, await tenantOf(request.ctx), r.secret, fieldsOf(r.credential));
        return reply.headers(NO_STORE).send(ok('Credentials retrieved successfully', data));
      },
    );

    app.post(
      '/api/v1/credentials',
      {
        schema: { tags, summary: 'Store new credentials', body: CreateBody, response: { 201: Success(WriteData), ...failures } },
      },
      async (request, reply) => {
        let made: Awaited<ReturnType<Services['credentials']['create']>>;
        try {
          made = await s.credentials.create(request.ctx, createInput(request.body));
        } catch (err) {
          throw dialectIssues(err);
        }
        // A token the server made (api_key/text with no accessToken) is shown here, once.
        if (made.generated) void reply.headers(NO_STORE);
        const tenant = await tenantOf(request.ctx);
        const data = made.generated ? revealedDataView(made.credential, tenant, made.generated, fieldsOf(made.credential)) : dataView(made.credential, tenant);
        return reply.code(201).send(ok('Credential created successfully', data));
      },
    );

    app.patch(
      '/api/v1/credentials/:credentialId',
      {
        schema: { tags, summary: 'Update credential', params: Params, body: PatchBody, response: { 200: Success(Data), ...failures } },
      },
      async (request) => {
        const current = await resolve(request.ctx, request.params.credentialId);
        let row: CredentialRow;
        try {
          row = await s.credentials.update(request.ctx, current.id, patchInput(current, request.body));
        } catch (err) {
          throw dialectIssues(err);
        }
        return ok('Credential updated successfully', dataView(row, await tenantOf(request.ctx)));
      },
    );

    app.delete(
      '/api/v1/credentials/:credentialId',
      {
        schema: {
          tags,
          summary: 'Delete credential (soft delete, restorable natively)',
          params: Params,
          response: { 200: Success(Type.Object({ id: Type.String() })), ...failures },
        },
      },
      async (request) => {
        const current = await resolve(request.ctx, request.params.credentialId);
        await s.credentials.remove(request.ctx, current.id, { purge: false });
        return ok('Credential deleted successfully', { id: dialectIdOf(current.id) });
      },
    );

    app.post(
      '/api/v1/credentials/:credentialId/rotate',
      {
        schema: {
          tags,
          summary: 'Rotate credential tokens (the new tokens, or empty for a type that makes its own)',
          params: Params,
          body: RotateBody,
          response: { 200: Success(WriteData), ...failures },
        },
        preValidation: async (request) => {
          request.body ??= {};
        },
      },
      async (request, reply) => {
        const current = await resolve(request.ctx, request.params.credentialId);
        const { secret, issues } = split(current.type, request.body);
        if (request.body.expiresAt !== undefined && current.type !== 'oauth2')
          issues.push({ path: 'expiresAt', message: `does not apply to the rotation of authType ${authTypeOf(current.type)}` });
        if (issues.length > 0) throw validationFailed(issues);
        let r: Awaited<ReturnType<Services['credentials']['rotate']>>;
        try {
          // OAuth2: the sent tokens replace the old ones, the client secret (and a refresh token not
          // sent) is kept, and expiresAt describes the new access token.
          const oauth = current.type === 'oauth2' && Object.keys(secret).length > 0;
          r = await s.credentials.rotate(request.ctx, current.id, {
            ...(Object.keys(secret).length > 0 ? { secret } : {}),
            gracePeriodSeconds: request.body.gracePeriodSeconds ?? 3600,
            ...(oauth ? { mergeSecret: true, accessTokenExpiresAt: request.body.expiresAt ?? null } : {}),
          });
        } catch (err) {
          throw dialectIssues(err);
        }
        if (r.generated) void reply.headers(NO_STORE);
        const tenant = await tenantOf(request.ctx);
        return reply.send(
          ok(
            'Credential rotated successfully',
            r.generated ? revealedDataView(r.credential, tenant, r.generated, fieldsOf(r.credential)) : dataView(r.credential, tenant),
          ),
        );
      },
    );
  };
}
