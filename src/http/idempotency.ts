import type { FastifyInstance } from 'fastify';
import { requestFingerprint, type IdempotencyService } from '../services/idempotency/idempotency-service.js';

declare module 'fastify' {
  interface FastifyRequest {
    idempotencyKey?: string;
  }
}

/**
 * `Idempotency-Key` on authenticated POSTs: reserve before the handler runs, replay a kept
 * answer, store the first answer after it is sent. Server errors release the key for a retry.
 */
export function registerIdempotency(app: FastifyInstance, idempotency: IdempotencyService): void {
  app.addHook('preHandler', async (request, reply) => {
    const key = request.headers['idempotency-key'];
    if (request.method !== 'POST' || typeof key !== 'string' || !request.ctx) return;
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
  });

  app.addHook('onSend', async (request, reply, payload) => {
    const key = request.idempotencyKey;
    if (key === undefined) return payload;
    request.idempotencyKey = undefined;
    if (reply.statusCode >= 500 || typeof payload !== 'string') await idempotency.abort(request.ctx, key);
    else await idempotency.finish(request.ctx, key, reply.statusCode, payload);
    return payload;
  });
}
