import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { DISPLAY_NAME_MESSAGE, DISPLAY_TEXT_MESSAGE } from '../domain/display-names.js';
import { LatchkeyError, type ErrorCode } from '../domain/errors.js';
import { StoreConflict, StoreFull, StoreUnavailable } from '../store/store-errors.js';
import { JsonRejected } from './strict-json.js';

/** Formats whose rule Ajv's "must match format" does not tell. */
const FORMAT_MESSAGES: Record<string, string> = {
  'display-name': DISPLAY_NAME_MESSAGE,
  'display-text': DISPLAY_TEXT_MESSAGE,
  'date-time': 'must be an RFC 3339 date-time with a second from 00 to 59 (a leap second, :60, cannot be stored)',
};

/**
 * The one error handler: a LatchkeyError becomes its envelope; Fastify's own errors are mapped
 * to the closed code set; anything else is a 500 whose message is logged, never sent.
 */
export function toLatchkeyError(err: unknown): LatchkeyError {
  if (err instanceof LatchkeyError) return err;
  if (err instanceof JsonRejected) return new LatchkeyError('MALFORMED_REQUEST', err.message, { message: 'Malformed JSON body' });
  const fe = err as FastifyError & { validationContext?: string };
  if (fe.validation) {
    const part = fe.validationContext ?? 'body';
    const issues = fe.validation.map((v) => {
      const missing = v.keyword === 'required' ? `/${String((v.params as { missingProperty?: string }).missingProperty)}` : '';
      const extra = v.keyword === 'additionalProperties' ? `/${String((v.params as { additionalProperty?: string }).additionalProperty)}` : '';
      const path = (v.instancePath + missing + extra).replace(/^\//, '').replace(/\//g, '.');
      const format = v.keyword === 'format' ? FORMAT_MESSAGES[String((v.params as { format?: string }).format)] : undefined;
      const message =
        v.keyword === 'required' ? 'is required' : v.keyword === 'additionalProperties' ? 'is not allowed' : (format ?? v.message ?? 'is invalid');
      return { path: part === 'body' ? path || '(body)' : `${part}.${path}`.replace(/\.$/, ''), message };
    });
    if (part === 'body') return new LatchkeyError('VALIDATION_FAILED', issues);
    return new LatchkeyError('INVALID_PARAMETER', issues.map((i) => `${i.path} ${i.message}`).join('; '));
  }
  const byCode: Record<string, ErrorCode> = {
    FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
    FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
    FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'MALFORMED_REQUEST',
    FST_ERR_CTP_EMPTY_JSON_BODY: 'MALFORMED_REQUEST',
    FST_ERR_CTP_INVALID_JSON_BODY: 'MALFORMED_REQUEST',
    FST_ERR_BAD_URL: 'INVALID_PARAMETER',
    FST_ERR_ASYNC_CONSTRAINT: 'INVALID_PARAMETER',
  };
  const mapped = fe.code ? byCode[fe.code] : undefined;
  if (mapped) return new LatchkeyError(mapped);
  if (fe.statusCode === 429) return new LatchkeyError('RATE_LIMITED', undefined, { retryAfterSeconds: 60 });
  if (fe.statusCode === 413) return new LatchkeyError('PAYLOAD_TOO_LARGE');
  if (fe.statusCode === 415) return new LatchkeyError('UNSUPPORTED_MEDIA_TYPE');
  if (fe.statusCode === 400) return new LatchkeyError('MALFORMED_REQUEST');
  // The store's adapters translate their drivers' errors into these (store/store-errors.ts).
  if (err instanceof StoreFull) return new LatchkeyError('UNAVAILABLE', 'The store has no space left for writes', { retryAfterSeconds: 10 });
  if (err instanceof StoreUnavailable) return new LatchkeyError('UNAVAILABLE', 'The store is not reachable', { retryAfterSeconds: 1 });
  if (err instanceof StoreConflict) return new LatchkeyError('CONFLICT', 'The request collided with a concurrent change; retry it');
  return new LatchkeyError('INTERNAL');
}

export function envelope(err: LatchkeyError, requestId: string) {
  return {
    error: {
      code: err.code,
      message: err.message,
      ...(err.details === undefined ? {} : { details: err.details }),
      request_id: requestId,
    },
  };
}

export function errorHandler(err: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const e = toLatchkeyError(err);
  if (e.status >= 500) {
    // Log the class, code and frames only: messages can quote values (JSON.parse does), and a
    // value here may be a secret.
    const frames = ((err as Error)?.stack ?? '').split('\n').slice(1, 8).join('\n');
    request.log.error(
      { reqId: request.id, err: { type: (err as Error)?.name, code: (err as { code?: string })?.code, mapped: e.code, frames } },
      'request failed',
    );
  }
  if (e.retryAfterSeconds !== undefined) void reply.header('retry-after', String(e.retryAfterSeconds));
  // Sent as JSON text: the envelope is one small shape, and the route's compiled serializer for
  // it (looked up per status) was a tenth of what a 401 cost.
  return reply
    .code(e.status)
    .header('cache-control', 'no-store')
    .type('application/json; charset=utf-8')
    .send(JSON.stringify(envelope(e, request.id)));
}
