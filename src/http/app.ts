import { setTimeout as sleep } from 'node:timers/promises';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import rateLimit from '@fastify/rate-limit';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Ajv, type ValidateFunction } from 'ajv';
import { Registry } from 'prom-client';
import addFormats from 'ajv-formats';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import { storableDateTimeFormat } from '../domain/clock.js';
import { isDisplayName, isDisplayText } from '../domain/display-names.js';
import { LatchkeyError } from '../domain/errors.js';
import { isSaneRequestId, newRequestId } from '../domain/ids.js';
import type { Services } from '../services/services.js';
import './context.js';
import { BODY_LIMIT, registerBodyLimit } from './body-limit.js';
import { compiledOnce, serializerFor } from './compiled-schemas.js';
import { envelope, errorHandler } from './errors.js';
import { registerIdempotency } from './idempotency.js';
import { parseStrictJsonBody } from './strict-json.js';
import { accessKeyRoutes } from './routes/access-keys.js';
import { auditRoutes, recordRefusedResponses } from './routes/audit-events.js';
import { webhookRoutes } from './routes/webhooks.js';
import { credentialTypeRoutes } from './routes/credential-types.js';
import { credentialRoutes } from './routes/credentials.js';
import { pendingVersionRoutes } from './routes/pending-versions.js';
import { integrationRoutes } from './routes/integrations.js';
import { oauthRoutes } from './routes/oauth.js';
import { proxyRoutes } from './routes/proxy.js';
import { derivedTokenRoutes } from './routes/derived-tokens.js';
import { operationsRoutes } from './routes/operations.js';
import { teamRoutes } from './routes/teams.js';
import { tenantRoutes } from './routes/tenants.js';
import { dialectRoutes, DIALECT_PREFIXES } from './dialects/index.js';
import { registerDialectDocuments } from './dialects/dialect-openapi.js';
import { consoleRoutes } from './console/console-routes.js';
import { principalOfSession, sessionTokenOf } from './console/console-session-auth.js';
import { compatRoutes } from './compat/index.js';
import { tenantIdFromHeader } from './dialects/integration-credentials.js';

export type App = FastifyInstance;

export interface AppDeps {
  config: Config;
  logger: Logger;
  services: Services;
  ready: () => Promise<{
    store: boolean;
    keyProvider: boolean;
    keys?: { rootKeyId: string | null; rotationInProgress: boolean; rotatingTo: string | null } | null;
  }>;
}

/** Body validators do not coerce (a string is not a port); query/path validators do (they are text). */
function makeAjv(coerce: boolean): Ajv {
  const ajv = new Ajv({ allErrors: true, removeAdditional: false, useDefaults: false, coerceTypes: coerce ? 'array' : false, strict: false });
  addFormats.default(ajv);
  // A leap second (…T23:59:60Z) is RFC 3339 but cannot be stored: refused as bad input.
  ajv.addFormat('date-time', storableDateTimeFormat);
  ajv.addFormat('display-name', { type: 'string', validate: isDisplayName });
  ajv.addFormat('display-text', { type: 'string', validate: isDisplayText });
  return ajv;
}

/**
 * A route validator compiled on its route's first request, not at start-up (a quarter of it went
 * to compiling validators of routes a process may never serve). Fastify hands Ajv's functions
 * the request as parent (so a coerced root value can be replaced) when they have a `schemaEnv`;
 * the wrapper answers that question with the compiled function's own.
 */
function validatedOnUse(compile: () => ValidateFunction): ValidateFunction {
  let compiled: ValidateFunction | undefined;
  const validate = ((data: unknown, context?: Parameters<ValidateFunction>[1]) => {
    compiled ??= compile();
    const valid = compiled(data, context);
    validate.errors = compiled.errors ?? null;
    return valid;
  }) as ValidateFunction;
  Object.defineProperty(validate, 'schemaEnv', { get: () => (compiled ??= compile()).schemaEnv });
  return validate;
}

export async function buildApp(deps: AppDeps): Promise<App> {
  const { config, logger, services } = deps;
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    // One access line per request is written by the onResponse hook below, in our own shape.
    logController: new LogController({ disableRequestLogging: true }),
    // A pino child per request (Fastify's default) ran redaction over its bindings every time: 4 %
    // of a metadata GET. The few lines written for a request (errors) carry reqId themselves.
    childLoggerFactory: (parent) => parent,
    bodyLimit: BODY_LIMIT,
    trustProxy: config.trustProxy,
    requestIdHeader: false,
    genReqId: (req) => {
      const sent = req.headers['x-request-id'];
      return typeof sent === 'string' && isSaneRequestId(sent) ? sent : newRequestId();
    },
    routerOptions: { maxParamLength: 500 },
    // Requests Node's parser refuses (bad header bytes, folded lines) still get the envelope
    // and a request id, never Fastify's default body.
    clientErrorHandler: (err, socket) => {
      if (!socket.writable) return;
      const code = (err as { code?: string }).code;
      const e = new LatchkeyError(code === 'HPE_HEADER_OVERFLOW' ? 'PAYLOAD_TOO_LARGE' : 'MALFORMED_REQUEST', 'The request could not be parsed');
      const requestId = newRequestId();
      const body = JSON.stringify(envelope(e, requestId));
      socket.end(
        `HTTP/1.1 ${e.status} ${e.status === 413 ? 'Payload Too Large' : 'Bad Request'}\r\nconnection: close\r\ncontent-type: application/json; charset=utf-8\r\n` +
          `x-request-id: ${requestId}\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
    },
  }).withTypeProvider<TypeBoxTypeProvider>();

  const bodyAjv = makeAjv(false);
  const textAjv = makeAjv(true);
  const bodyValidator = compiledOnce((schema: object) => bodyAjv.compile(schema));
  const textValidator = compiledOnce((schema: object) => textAjv.compile(schema));
  app.setValidatorCompiler(({ schema, httpPart }) => validatedOnUse(() => (httpPart === 'body' ? bodyValidator : textValidator)(schema)));
  // Most of the 357 response serializers (one per route and status) never run in a process's
  // life, and building one costs milliseconds: each is built when its status is first answered.
  app.setSerializerCompiler(({ schema }) => {
    let serialize: ((data: unknown) => string) | undefined;
    return (data: unknown) => (serialize ??= serializerFor(schema))(data);
  });

  app.removeAllContentTypeParsers();
  // Bytes, not a string: Fastify's string decoding replaces invalid UTF-8 with U+FFFD.
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_req, body, done) => {
    try {
      // An empty body with a JSON content type is "no body" (e.g. POST …/rotate with nothing to say).
      done(null, (body as Buffer).length === 0 ? undefined : parseStrictJsonBody(body as Buffer));
    } catch (err) {
      done(err as Error, undefined);
    }
  });

  registerBodyLimit(app);
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler((request, reply) => {
    const e = new LatchkeyError('NOT_FOUND', `No route ${request.method} ${request.url.split('?')[0]}`);
    return reply.code(404).send(envelope(e, request.id));
  });

  // The access log line has fixed fields that never carry a secret (the route is the template,
  // not the URL), so it skips the redaction pass that costs every request a few percent. Below
  // info there is no line to write, and no hook to run.
  if (logger.isLevelEnabled('info')) {
    const accessLog = logger.child({}, { redact: [] });
    app.addHook('onResponse', (request, reply, done) => {
      accessLog.info(
        { reqId: request.id, method: request.method, route: request.routeOptions.url, status: reply.statusCode, ms: Math.round(reply.elapsedTime * 10) / 10 },
        'request',
      );
      done();
    });
  }

  // Deny by default: every route authenticates unless it says it is public.
  app.addHook('onRequest', async (request, reply) => {
    void reply.header('x-request-id', request.id);
    if (request.routeOptions.config.public === true || request.is404 || request.url.startsWith('/docs')) return;
    const auth = request.headers.authorization;
    // Document 003's clients name the tenant in `x-tenantid` (a UUID), which chooses it the same way.
    const tenantHeader =
      request.headers['x-tenant-id'] ??
      (request.url.startsWith(`/compat${DIALECT_PREFIXES.integrationCredentials}/`) ? tenantIdFromHeader(request.headers['x-tenantid']) : undefined);
    // The console (docs/console.md) sends its session cookie instead of a key, and its CSRF token.
    const sessionToken = auth === undefined ? sessionTokenOf(request) : undefined;
    try {
      const tenant = typeof tenantHeader === 'string' ? tenantHeader : undefined;
      const principal =
        sessionToken !== undefined
          ? await principalOfSession(services.consoleSessions, request, sessionToken, tenant)
          : await services.authenticator.authenticate(auth, tenant);
      request.ctx = { principal, requestId: request.id, ip: request.ip, userAgent: request.headers['user-agent'] ?? '' };
    } catch (err) {
      if (err instanceof LatchkeyError && err.code === 'UNAUTHENTICATED') {
        const holdMs = services.recordFailedAuthentication(request.id, request.ip, request.headers['user-agent'] ?? '');
        if (holdMs > 0) await sleep(holdMs);
      }
      throw err;
    }
  });
  // Denied access (and probes of secrets) are audit events for every route and dialect (see recordRefusedResponses).
  recordRefusedResponses(app, services.audit);

  if (config.rateLimit > 0) {
    await app.register(rateLimit, {
      max: config.rateLimit,
      timeWindow: config.rateLimitWindowSeconds * 1000,
      keyGenerator: (request) => request.ctx?.principal.id ?? request.ip,
      hook: 'preHandler',
      errorResponseBuilder: (_request, context) =>
        new LatchkeyError('RATE_LIMITED', `Limit of ${context.max} requests per ${config.rateLimitWindowSeconds} s`, {
          retryAfterSeconds: Math.ceil(context.ttl / 1000),
        }),
    });
  }

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Latchkey API',
        version: '1.0.0',
        description: 'Credential vault for integrations. Errors use one envelope; see the README for the decisions this document records.',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'An access key (lk_<env>_…) or an OIDC JWT' } } },
      security: [{ bearer: [] }],
    },
  });
  await registerDialectDocuments(app);
  await app.register(swaggerUi, { routePrefix: '/docs', uiConfig: { docExpansion: 'list' } });
  registerIdempotency(app, services.idempotency);

  // One registry for /metrics: the HTTP counters and the proxy's own.
  const metrics = new Registry();
  await app.register(operationsRoutes(deps, metrics));
  await app.register(credentialTypeRoutes(services), { prefix: '/v1' });
  await app.register(credentialRoutes(services), { prefix: '/v1' });
  await app.register(pendingVersionRoutes(services), { prefix: '/v1' });
  await app.register(integrationRoutes(services), { prefix: '/v1' });
  await app.register(proxyRoutes(services, metrics), { prefix: '/v1' });
  await app.register(derivedTokenRoutes(services), { prefix: '/v1' });
  await app.register(oauthRoutes(services, config), { prefix: '/v1' });
  await app.register(accessKeyRoutes(services), { prefix: '/v1' });
  await app.register(tenantRoutes(services), { prefix: '/v1' });
  await app.register(teamRoutes(services), { prefix: '/v1' });
  await app.register(auditRoutes(services), { prefix: '/v1' });
  await app.register(webhookRoutes(services), { prefix: '/v1' });
  await app.register(dialectRoutes(services), { prefix: '/compat' });
  await app.register(consoleRoutes(services, config.publicUrl), { prefix: '/ui' });
  await app.register(compatRoutes(services, { deletedRetentionDays: config.deletedRetentionDays }), { prefix: '/compat' });
  return app;
}
