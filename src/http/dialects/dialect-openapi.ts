/**
 * One OpenAPI document per dialect, served at `/compat/<dialect>/openapi.json` beside the native
 * `/openapi.json`, so a vendor's client generator can run against the paths its document names.
 * Each is a second @fastify/swagger instance over the same routes, hence the same TypeBox schemas
 * the dialect's routes validate and serialize with: it keeps only that dialect's routes and
 * states the dialect's base path as its server, so paths read as in the source document
 * (`/api/v1/credentials`, not `/compat/integration-credentials/api/v1/credentials`).
 */
import swagger from '@fastify/swagger';
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import { Type } from 'typebox';
import { DIALECT_PREFIXES } from './dialect-prefixes.js';

interface DialectDocument {
  prefix: string;
  document: string;
  title: string;
  description: string;
  /** Request headers the dialect checks in a hook rather than a route schema, declared for clients. */
  headers?: ReturnType<typeof Type.Object>;
}

const COMMON =
  'Served by Latchkey under this base path; authenticate with `Authorization: Bearer <access key or OIDC JWT>`. docs/dialects.md lists every deliberate difference from the source document.';

// Document 003's headers are checked by the dialect's preHandler (so it can answer the
// document's own 400 messages); the document marks them required, and so does this one. Its
// `accept` (which must admit application/json) is not listed: OpenAPI ignores an Accept parameter.
const IntegrationCredentialsHeaders = Type.Object({
  'x-tenantid': Type.String({ description: 'The tenant the request acts in: its UUID (as `tenant.id` shows it) or its ten_… id' }),
  realmname: Type.Optional(Type.String({ description: 'Accepted and unused: Latchkey has no realms' })),
});

export const DIALECT_DOCUMENTS: Record<string, DialectDocument> = {
  'service-credentials': {
    prefix: DIALECT_PREFIXES.serviceCredentials,
    document: '000',
    title: 'Service credentials',
    description: `Metadata of a service credential, never a secret. ${COMMON}`,
  },
  'user-credentials': {
    prefix: DIALECT_PREFIXES.userCredentials,
    document: '001',
    title: 'User credentials',
    description:
      'Metadata of a user credential. **Ids are strings**: `id`, `team_id` and `folder_id` are strings ' +
      "(`crd_…`, `team_…`, `fld_…`; `team_id`/`folder_id` may be null) where the source document's sample shows integers — " +
      'Latchkey ids are not numbers, and a number would not round-trip them. `test_credential` is never in this response: ' +
      `it is a secret, revealed only by the audited native GET /v1/credentials/{id}/secret?variant=test. ${COMMON}`,
  },
  'account-credentials': {
    prefix: DIALECT_PREFIXES.accountCredentials,
    document: '002',
    title: 'Account credentials',
    description: `An account's smtp and api credentials; a created credential's key is in the create response only. ${COMMON}`,
  },
  'integration-credentials': {
    prefix: DIALECT_PREFIXES.integrationCredentials,
    document: '003',
    title: 'Integration credentials',
    description: `Credentials of integrations, with decrypted tokens on GET (audited, never cached). ${COMMON}`,
    headers: IntegrationCredentialsHeaders,
  },
  'integration-metadata': {
    prefix: DIALECT_PREFIXES.integrationMetadata,
    document: '004',
    title: 'Integration credential metadata',
    description: `Integration credential metadata; secrets for service accounts only. ${COMMON}`,
  },
};

const decoratorOf = (name: string) => `dialectOpenapi:${name}`;

/** Registers one swagger instance per dialect; call before any route is added (they collect routes as they are added). */
export async function registerDialectDocuments(app: FastifyInstance): Promise<void> {
  for (const [name, d] of Object.entries(DIALECT_DOCUMENTS)) {
    const base = `/compat${d.prefix}`;
    await app.register(swagger, {
      decorator: decoratorOf(name),
      openapi: {
        openapi: '3.1.0',
        info: { title: `${d.title} (Latchkey dialect of document ${d.document})`, version: '1.0.0', description: d.description },
        servers: [{ url: base }],
        components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'An access key (lk_<env>_…) or an OIDC JWT' } } },
        security: [{ bearer: [] }],
      },
      transform: ({ schema, url }) => {
        if (!url.startsWith(`${base}/`) || url === `${base}/openapi.json`) return { schema: { ...schema, hide: true }, url };
        return { schema: d.headers ? { ...schema, headers: d.headers } : schema, url };
      },
    });
  }
}

/** `GET /compat/<dialect>/openapi.json`, public like the native document (no tenant data). */
export function dialectDocumentRoutes(): FastifyPluginAsync {
  return async (app) => {
    for (const [name, d] of Object.entries(DIALECT_DOCUMENTS)) {
      const document = app.getDecorator<() => unknown>(decoratorOf(name));
      app.get(`${d.prefix}/openapi.json`, { config: { public: true }, schema: { hide: true } }, async () => document());
    }
  };
}
