import { Transform, type Readable, type TransformCallback } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { LatchkeyError } from '../domain/errors.js';

/** Request bodies over this are 413 (the contract's 1 MiB). */
export const BODY_LIMIT = 1024 * 1024;
/**
 * How much of a refused upload is read and thrown away before the 413 is sent, and for how long.
 * A server that answers and closes while the client is still sending closes a socket with unread
 * bytes, which resets the connection; an HTTP client that is still writing (fetch, our SDK) then
 * often reports EPIPE or "fetch failed" and never reads the 413. Reading the rest first lets the
 * answer arrive; the bounds keep a client from making the server read without end.
 */
const DISCARD_BYTES = 8 * 1024 * 1024;
const DISCARD_MS = 5_000;

const tooLarge = (): LatchkeyError => new LatchkeyError('PAYLOAD_TOO_LARGE', `Request bodies are limited to ${BODY_LIMIT} bytes`);

/** Reads and drops `payload` until it ends (true) or a bound is reached (false). */
function discard(payload: Readable): Promise<boolean> {
  if (payload.readableEnded) return Promise.resolve(true);
  return new Promise((resolve) => {
    let seen = 0;
    const finish = (ended: boolean): void => {
      clearTimeout(timer);
      payload.off('data', onData).off('end', onEnd).off('error', onError);
      if (!ended) payload.pause();
      resolve(ended);
    };
    const onData = (chunk: Buffer): void => {
      seen += chunk.length;
      if (seen > DISCARD_BYTES) finish(false);
    };
    const onEnd = (): void => finish(true);
    const onError = (): void => finish(false);
    const timer = setTimeout(() => finish(false), DISCARD_MS);
    payload.on('data', onData).on('end', onEnd).on('error', onError);
  });
}

/**
 * Passes a body of unknown length (chunked) through while it is within the limit; past it,
 * drops the rest within the discard bounds and then fails with 413 (Fastify answers a failed
 * body stream and closes the connection).
 */
class ChunkedBodyLimit extends Transform {
  private received = 0;
  private timer: NodeJS.Timeout | undefined;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.received += chunk.length;
    if (this.received <= BODY_LIMIT) {
      callback(null, chunk);
      return;
    }
    this.timer ??= setTimeout(() => this.destroy(tooLarge()), DISCARD_MS);
    callback(this.received > BODY_LIMIT + DISCARD_BYTES ? tooLarge() : null);
  }

  override _flush(callback: TransformCallback): void {
    clearTimeout(this.timer);
    callback(this.received > BODY_LIMIT ? tooLarge() : null);
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    clearTimeout(this.timer);
    callback(err);
  }
}

/** Refuses bodies over BODY_LIMIT with a 413 that an HTTP client still sending can read. */
export function registerBodyLimit(app: FastifyInstance): void {
  // A callback hook, not an async one: it runs for every request, and most pass straight through.
  app.addHook('preParsing', (request, reply, payload, done) => {
    const declared = request.headers['content-length'];
    if (declared !== undefined) {
      if (!(Number(declared) > BODY_LIMIT)) return done(null, payload);
      // Fastify would refuse on the header alone, with the body still on its way.
      void discard(payload).then((ended) => {
        if (!ended) void reply.header('connection', 'close');
        done(tooLarge());
      });
      return;
    }
    if (request.headers['transfer-encoding'] === undefined) return done(null, payload);
    const limited = new ChunkedBodyLimit();
    payload.on('error', (err) => limited.destroy(err));
    done(null, payload.pipe(limited));
  });
}
