import type { FastifyReply, FastifyRequest } from 'fastify';
import type { LatchkeyError } from '../../domain/errors.js';

/**
 * What every dialect error handler does besides shaping the body: log a 5xx the way the native
 * handler does (class, code and frames only: messages can quote values, and a value may be a
 * secret), pass `Retry-After` on, and keep error bodies out of caches.
 */
export function prepareErrorReply(err: unknown, e: LatchkeyError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (e.status >= 500) {
    const frames = ((err as Error)?.stack ?? '').split('\n').slice(1, 8).join('\n');
    request.log.error(
      { reqId: request.id, err: { type: (err as Error)?.name, code: (err as { code?: string })?.code, mapped: e.code, frames } },
      'request failed',
    );
  }
  if (e.retryAfterSeconds !== undefined) void reply.header('retry-after', String(e.retryAfterSeconds));
  return reply.code(e.status).header('cache-control', 'no-store');
}
