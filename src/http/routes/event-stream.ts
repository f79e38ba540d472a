import type { FastifyReply, FastifyRequest } from 'fastify';
import { can } from '../../domain/roles.js';
import type { RequestContext } from '../../domain/principal.js';
import type { Authenticator } from '../../services/auth/authenticator.js';
import type { EventFeed, FeedQuery } from '../../services/events/event-feed.js';
import type { LatchkeyEvent } from '../../services/events/event-types.js';

/** Events per read while catching up. */
const STREAM_PAGE = 100;

export function sseFrame(e: LatchkeyEvent): string {
  // JSON has no raw line breaks, so `data:` is one line.
  return `id: ${e.data.seq}\nevent: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`;
}

/**
 * Serves one SSE stream: pages from the feed as fast as the client reads, then waits until the
 * feed says something was sealed (at once in this process, within LATCHKEY_EVENTS_POLL_MS from
 * another) or the heartbeat is due. No query per client while nothing happens but the heartbeat's
 * re-check of the key: a revoked key's stream ends within one heartbeat.
 */
export async function openEventStream(
  deps: {
    request: FastifyRequest;
    reply: FastifyReply;
    feed: EventFeed;
    authenticator: Pick<Authenticator, 'authenticate'>;
    streams: Set<() => void>;
    heartbeatMs: number;
  },
  filters: Omit<FeedQuery, 'limit' | 'after'>,
  after: number | undefined,
): Promise<void> {
  const { request, reply, feed } = deps;
  let ctx: RequestContext = request.ctx;
  // Refusals (403) and a bad start come as JSON, before the stream begins.
  let position = after ?? (filters.since !== undefined ? undefined : await feed.head(ctx));
  const tenantId = ctx.principal.tenantId;

  reply.hijack();
  const raw = reply.raw;
  raw.writeHead(200, {
    ...(reply.getHeaders() as Record<string, string>),
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-store',
    'x-accel-buffering': 'no',
  });
  raw.flushHeaders();

  let closed = false;
  let pending = true;
  let wakeUp: (() => void) | null = null;
  const wake = (): void => {
    pending = true;
    wakeUp?.();
  };
  const end = (): void => {
    closed = true;
    wake();
  };
  raw.on('close', end);
  deps.streams.add(end);
  const unsubscribe = feed.subscribe(tenantId, wake);
  const wait = (ms: number): Promise<'wake' | 'timeout'> =>
    new Promise((resolve) => {
      if (pending || closed) return resolve('wake');
      const timer = setTimeout(() => {
        wakeUp = null;
        resolve('timeout');
      }, ms);
      wakeUp = () => {
        clearTimeout(timer);
        wakeUp = null;
        resolve('wake');
      };
    });
  const write = (chunk: string): Promise<void> =>
    raw.write(chunk)
      ? Promise.resolve()
      : new Promise((resolve) => {
          raw.once('drain', resolve);
          raw.once('close', resolve);
        });
  // A key can be revoked or lose its role while its stream is open: checked again at each heartbeat.
  const stillAllowed = async (): Promise<boolean> => {
    const auth = request.headers.authorization;
    if (auth === undefined) return false; // a console session: the browser reconnects through the normal checks
    const tenant = request.headers['x-tenant-id'];
    try {
      const p = await deps.authenticator.authenticate(auth, typeof tenant === 'string' ? tenant : undefined);
      if (p.id !== ctx.principal.id || p.tenantId !== tenantId || !can(p.role, 'audit:read')) return false;
      ctx = { ...ctx, principal: p };
      return true;
    } catch {
      return false;
    }
  };

  let unsentPosition = false;
  try {
    // The start position as an id at once: a client that reconnects before any event came resumes
    // here, not at a later head.
    await write(`: connected\n${position !== undefined ? `id: ${position}\n` : ''}\n`);
    while (!closed) {
      pending = false;
      const page = await feed.page(ctx, { ...filters, ...(position !== undefined ? { after: position } : {}), limit: STREAM_PAGE });
      for (const e of page.events) await write(sseFrame(e));
      if (page.events.length > 0) unsentPosition = false;
      else if (page.position !== position) unsentPosition = true;
      position = page.position;
      if (page.hasMore) continue;
      if ((await wait(deps.heartbeatMs)) === 'timeout' && !closed) {
        if (!(await stillAllowed())) break;
        await write(`: heartbeat\n${unsentPosition ? `id: ${position}\n` : ''}\n`);
        unsentPosition = false;
      }
    }
  } catch (err) {
    request.log.warn({ code: (err as { code?: string }).code }, 'event stream ended by an error');
  } finally {
    unsubscribe();
    deps.streams.delete(end);
    raw.off('close', end);
    raw.end();
  }
}
