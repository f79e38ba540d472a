/**
 * The dialects: each source document's API served under its own base path (docs/dialects.md),
 * so that a client of that system only changes its base URL. Each is a thin route module that
 * translates its shapes to the services the native API uses and the results and errors back; none
 * touches the store. Register under `/compat`:
 *
 *   await app.register(dialectRoutes(services), { prefix: '/compat' });
 *
 * Each dialect's own OpenAPI document is at `/compat/<dialect>/openapi.json` (dialect-openapi.ts).
 * docs/dialects.md has every decision and the field-by-field mapping tables.
 */
import type { FastifyPluginAsync } from 'fastify';
import { systemClock, type Clock } from '../../domain/clock.js';
import type { Services } from '../../services/services.js';
import { dialectDocumentRoutes } from './dialect-openapi.js';
import { DIALECT_PREFIXES } from './dialect-prefixes.js';
import { accountCredentialsDialect } from './account-credentials.js';
import { integrationCredentialsDialect } from './integration-credentials.js';
import { integrationMetadataDialect } from './integration-metadata.js';
import { serviceCredentialsDialect } from './service-credentials.js';
import { userCredentialsDialect } from './user-credentials.js';

export { DIALECT_PREFIXES };

export function dialectRoutes(services: Services, opts: { clock?: Clock } = {}): FastifyPluginAsync {
  const clock = opts.clock ?? systemClock;
  return async (app) => {
    await app.register(serviceCredentialsDialect(services), { prefix: DIALECT_PREFIXES.serviceCredentials });
    await app.register(userCredentialsDialect(services), { prefix: DIALECT_PREFIXES.userCredentials });
    await app.register(accountCredentialsDialect(services), { prefix: DIALECT_PREFIXES.accountCredentials });
    await app.register(integrationCredentialsDialect(services, clock), { prefix: DIALECT_PREFIXES.integrationCredentials });
    await app.register(integrationMetadataDialect(services), { prefix: DIALECT_PREFIXES.integrationMetadata });
    await app.register(dialectDocumentRoutes());
  };
}
