import { LatchkeyApiError } from '../errors.js';
import { filterQuery } from '../list-query.js';
import { isRetryableStatus } from '../retry.js';
import { readSse } from '../sse.js';
import type { RequestOptions, Transport } from '../transport.js';
import type { EventFilter, EventPage, LatchkeyEvent } from '../types.js';

export interface EventListOptions extends RequestOptions {
  filter?: EventFilter;
  perPage?: number;
  /** Chain position to read after: a page's `next_cursor`, or an event's `data.seq`. */
  after?: number | string;
}

export interface EventStreamOptions extends RequestOptions {
  filter?: EventFilter;
  /** Start after this position (an event's `data.seq`); without it (and without `filter.since`) the stream starts at now. */
  after?: number | string;
  /** Longest wait between reconnects (doubling from 250 ms, with jitter). Default 10 000. */
  maxReconnectDelayMs?: number;
}

/** `lk.events`: the tenant's events (needs `audit:read`), as pages or as a live stream. */
export class Events {
  readonly #t: Transport;

  constructor(transport: Transport) {
    this.#t = transport;
  }

  /** One page of `GET /v1/events`, oldest first from `after`. `has_more: false` = caught up (keep `next_cursor`). */
  async listPage(opts: EventListOptions = {}): Promise<EventPage> {
    const res = await this.#t.request<EventPage>({
      method: 'GET',
      path: '/v1/events',
      query: { per_page: opts.perPage, after: opts.after === undefined ? undefined : String(opts.after), ...filterQuery(opts.filter) },
      options: opts,
    });
    return res.body;
  }

  /**
   * Events as they are sealed, over Server-Sent Events (`GET /v1/events/stream`), for as long as
   * you iterate. A dropped connection is reopened from the last position seen (`Last-Event-ID`),
   * so nothing is missed or repeated; refusals (401, 403, 4xx) end the iteration with their error.
   * Stop with `break` or `signal`.
   *
   * ```ts
   * for await (const e of lk.events.stream({ filter: { type: ['credential.expiring'] } })) console.log(e.type, e.data.object_id);
   * ```
   */
  async *stream(opts: EventStreamOptions = {}): AsyncGenerator<LatchkeyEvent, void, undefined> {
    let lastId = opts.after === undefined ? undefined : String(opts.after);
    const maxDelay = opts.maxReconnectDelayMs ?? 10_000;
    let failures = 0;
    while (!opts.signal?.aborted) {
      let body: ReadableStream<Uint8Array> | null = null;
      try {
        const res = await this.#t.openStream({
          path: '/v1/events/stream',
          query: filterQuery(opts.filter),
          headers: lastId === undefined ? {} : { 'last-event-id': lastId },
          options: opts,
        });
        body = res.body;
        if (body) {
          for await (const msg of readSse(body)) {
            failures = 0;
            if (msg.id !== undefined) lastId = msg.id;
            if (msg.data !== undefined && msg.event !== undefined) yield JSON.parse(msg.data) as LatchkeyEvent;
          }
        }
      } catch (err) {
        if (opts.signal?.aborted) return;
        if (err instanceof LatchkeyApiError && !isRetryableStatus(err.status)) throw err;
        failures += 1;
      }
      // The server closed the stream (a restart) or the network failed: back off and resume.
      const ceiling = Math.min(maxDelay, 250 * 2 ** Math.min(failures, 10));
      await pause(failures === 0 ? 250 : ceiling / 2 + (Math.random() * ceiling) / 2, opts.signal);
    }
  }
}

function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
}
