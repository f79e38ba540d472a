import type { FastifyPluginAsync } from 'fastify';
import { collectDefaultMetrics, Counter, Histogram, type Registry } from 'prom-client';
import type { AppDeps } from '../app.js';

/** /healthz, /readyz, /metrics and /openapi.json: public, no tenant data. */
export function operationsRoutes(deps: AppDeps, registry: Registry): FastifyPluginAsync {
  return async (app) => {
    collectDefaultMetrics({ register: registry, prefix: 'latchkey_' });
    const requests = new Counter({
      name: 'latchkey_http_requests_total',
      help: 'HTTP requests by route and status',
      labelNames: ['method', 'route', 'status'],
      registers: [registry],
    });
    const latency = new Histogram({
      name: 'latchkey_http_request_duration_seconds',
      help: 'HTTP request latency',
      labelNames: ['route'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: [registry],
    });
    // prom-client hashes a label object on every call; the labelled children are looked up once.
    const counted = new Map<string, { inc(): void }>();
    const timed = new Map<string, { observe(v: number): void }>();
    app.addHook('onResponse', (request, reply, done) => {
      const route = request.routeOptions.url ?? 'unmatched';
      const key = `${request.method} ${reply.statusCode} ${route}`;
      let counter = counted.get(key);
      if (counter === undefined) {
        counter = requests.labels({ method: request.method, route, status: String(reply.statusCode) });
        counted.set(key, counter);
      }
      counter.inc();
      let histogram = timed.get(route);
      if (histogram === undefined) {
        histogram = latency.labels({ route });
        timed.set(route, histogram);
      }
      histogram.observe(reply.elapsedTime / 1000);
      done();
    });

    app.get('/healthz', { config: { public: true }, schema: { tags: ['operations'], summary: 'The process is up', security: [] } }, async () => ({ ok: true }));

    app.get(
      '/readyz',
      { config: { public: true }, schema: { tags: ['operations'], summary: 'The store and the key provider answer', security: [] } },
      async (_request, reply) => {
        const r = await deps.ready();
        const ok = r.store && r.keyProvider;
        // Key ids are fingerprints (not secret); no key material is ever shown here.
        const keys = r.keys ? { root_key_id: r.keys.rootKeyId, rotation_in_progress: r.keys.rotationInProgress, rotating_to: r.keys.rotatingTo } : undefined;
        return reply
          .code(ok ? 200 : 503)
          .send({ ok, store: r.store ? 'ok' : 'unavailable', key_provider: r.keyProvider ? 'ok' : 'unavailable', ...(keys ? { keys } : {}) });
      },
    );

    app.get(
      '/metrics',
      { config: { public: true }, schema: { tags: ['operations'], summary: 'Prometheus metrics', security: [] } },
      async (_request, reply) => {
        return reply.header('content-type', registry.contentType).send(await registry.metrics());
      },
    );

    app.get('/openapi.json', { config: { public: true }, schema: { hide: true } }, async () => app.swagger());
  };
}
