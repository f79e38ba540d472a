import type { FastifyInstance, onSendHookHandler, preHandlerHookHandler, RouteOptions } from 'fastify';
import { requestFingerprint, type IdempotencyService } from '../services/idempotency/idempotency-service.js';

declare module 'fastify' {
  interface FastifyRequest {
    idempotencyKey?: string;
  }
}

function withHook<T>(existing: T | T[] | undefined, hook: T): T[] {
  return existing === undefined ? [hook] : Array.isArray(existing) ? [...existing, hook] : [existing, hook];
}

/**
 * `Idempotency-Key` on authenticated POSTs: reserve before the handler runs, replay a kept
 * answer, store the first answer after it is sent. Server errors release the key for a retry.
 * The hooks go on POST routes only: on every GET they were two promises for nothing.
 */
export function registerIdempotency(app: FastifyInstance, idempotency: IdempotencyService): void {
  const reserve: preHandlerHookHandler = async (request, reply) => {
    const key = request.headers['idempotency-key'];
    if (typeof key !== 'string' || !request.ctx) return;
    const path = request.url;
    const outcome = await idempotency.begin(request.ctx, key, requestFingerprint(request.method, path, request.body ?? null));
    if (outcome.kind === 'replay') {
      return reply
        .code(outcome.status)
        .header('content-type', 'application/json; charset=utf-8')
        .header('idempotent-replayed', 'true')
        .header('cache-control', 'no-store')
        .send(outcome.body);
    }
    request.idempotencyKey = key;
    return undefined;
  };

  const keep: onSendHookHandler = async (request, reply, payload) => {
    const key = request.idempotencyKey;
    if (key === undefined) return payload;
    request.idempotencyKey = undefined;
    if (reply.statusCode >= 500 || typeof payload !== 'string') await idempotency.abort(request.ctx, key);
    else await idempotency.finish(request.ctx, key, reply.statusCode, payload);
    return payload;
  };

  app.addHook('onRoute', (route: RouteOptions) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    // A proxied request's `idempotency-key` is the target's (services/proxy), not ours.
    if (!methods.includes('POST') || route.config?.proxied === true) return;
    route.preHandler = withHook(route.preHandler, reserve);
    route.onSend = withHook(route.onSend, keep);
  });
}
