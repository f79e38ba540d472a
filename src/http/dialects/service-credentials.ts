/**
 * Dialect of source document 000 ("Retrieve a service credential"):
 * `GET /service-credentials/{type}/{id}` answered in camelCase with `hash` (deprecated mirror of
 * `id`), `deactivationTime`, the type's non-secret fields flattened to the top level, SMTP-style
 * `auth: { type, username? }`, and `_links: [{ rel: 'self', href }]`.
 *
 * Metadata only: it reads through `services.credentials.get` and never returns a secret (the
 * document's `auth` "details" are the login name; the password stays write-only here and is
 * revealed only by the audited native `GET /v1/credentials/{id}/secret`). The document lists no
 * error bodies, so errors use the native envelope with the statuses it lists (401, 403, 404): an
 * id that is malformed or longer than the document's 36 characters is a 404.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { Catalog } from '../../catalog/catalog.js';
import { LatchkeyError } from '../../domain/errors.js';
import type { Services } from '../../services/services.js';
import type { CredentialRow } from '../../domain/records.js';
import { isValidPathId, PATH_ID_PATTERN } from '../../domain/ids.js';
import { ErrorEnvelope } from '../schemas/common.js';

const tags = ['dialect: service-credentials'];

/** The document bounds the `id` it answers to 36 characters. */
const MAX_ID = 36;

// No pattern or length in the schema: the document lists no 400, so a path that cannot name a
// credential of this dialect is its 404 (checked in the handler), like one that never existed.
const Params = Type.Object(
  {
    type: Type.String({ description: "Type of service credential (a catalog type id, e.g. smtp, webhook, oauth2); must be the credential's type" }),
    id: Type.String({
      description: `ID of the resource: ${PATH_ID_PATTERN}, at most ${MAX_ID} characters (a credential whose id is longer is not part of this dialect)`,
    }),
  },
  { additionalProperties: false },
);

const ServiceCredentialView = Type.Object(
  {
    id: Type.String({ maxLength: MAX_ID, description: 'ID of the credential' }),
    hash: Type.String({ maxLength: MAX_ID, description: 'Deprecated: the same as id' }),
    status: Type.Union([Type.Literal('active'), Type.Literal('inactive'), Type.Literal('deactivated')]),
    deactivationTime: Type.Union([Type.String(), Type.Null()]),
    type: Type.String(),
  },
  {
    additionalProperties: true,
    // _links is documented here but serialized as an extra field, so it stays last as in the document's sample.
    description: "Plus the type's non-secret fields in camelCase (smtp: host, port, encryption, auth { type, username? }) and _links: [{ rel: 'self', href }]",
  },
);

/** Keys the flattened config may not overwrite. */
const RESERVED = new Set(['id', 'hash', 'status', 'deactivationTime', 'type', 'auth', '_links']);

const camel = (key: string): string => key.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());

/**
 * Config keys become top-level camelCase fields (nested values are data and keep their keys).
 * A type whose config has `auth_type` gets the document's SmtpAuthorization object instead:
 * `auth: { type, username? }`, `type` defaulting to the catalog default (`none`).
 */
export function serviceCredentialView(catalog: Catalog, c: CredentialRow, selfHref: string) {
  const t = catalog.get(c.type);
  const hasAuth = t !== undefined && 'auth_type' in t.config.properties;
  const fields: Record<string, unknown> = {};
  const auth: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(c.config)) {
    if (hasAuth && key === 'auth_type') auth['type'] = value;
    else if (hasAuth && key === 'username') auth['username'] = value;
    else if (!RESERVED.has(camel(key))) fields[camel(key)] = value;
  }
  if (hasAuth) {
    const fallback = t.config.properties['auth_type']?.['default'];
    fields['auth'] = { type: auth['type'] ?? fallback ?? 'none', ...(auth['username'] !== undefined ? { username: auth['username'] } : {}) };
  }
  return {
    id: c.id,
    hash: c.id,
    status: c.status,
    deactivationTime: c.deactivationTime,
    type: c.type,
    ...fields,
    _links: [{ rel: 'self' as const, href: selfHref }],
  };
}

export function serviceCredentialsDialect(s: Services): FastifyPluginAsync {
  return async (fastify) => {
    const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
    const base = app.prefix;

    app.get(
      '/service-credentials/:type/:id',
      {
        schema: {
          tags,
          summary: 'Retrieve a service credential (document 000)',
          params: Params,
          response: { 200: ServiceCredentialView, 401: ErrorEnvelope, 403: ErrorEnvelope, 404: ErrorEnvelope },
        },
      },
      async (request) => {
        const { type, id } = request.params;
        if (!isValidPathId(id) || id.length > MAX_ID) throw new LatchkeyError('CREDENTIAL_NOT_FOUND', 'No such credential in this tenant');
        const c = await s.credentials.get(request.ctx, id);
        // Another type at this id is "no such <type> credential": the same 404 as a missing one.
        if (c.type !== type) throw new LatchkeyError('CREDENTIAL_NOT_FOUND', `No credential ${id} in this tenant`);
        const href = `${base}/service-credentials/${encodeURIComponent(type)}/${encodeURIComponent(c.id)}`;
        return serviceCredentialView(s.catalog, c, href);
      },
    );
  };
}
