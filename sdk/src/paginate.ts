import { LatchkeyError } from './errors.js';

/** What a paginator needs of each page: its items and the cursor of the next one. */
export interface PageOfItems<T> {
  data: T[];
  next_cursor: string | null;
}

/** Fetches the page after `cursor` (undefined = the first page). */
export type PageFetcher<T, P extends PageOfItems<T>> = (cursor: string | undefined) => Promise<P>;

/**
 * Walks a list by its `next_cursor` (keyset paging on the server, so a deep walk stays fast and
 * does not skip or repeat items when rows are added meanwhile). Nothing is fetched until you
 * iterate; each page is fetched when the previous one is used up.
 *
 * ```ts
 * for await (const c of lk.credentials.list({ filter: { type: 'smtp' } })) console.log(c.id);
 * for await (const page of lk.credentials.list().pages()) console.log(page.data.length);
 * const first10 = await lk.credentials.list().toArray({ limit: 10 });
 * ```
 */
export class Paginator<T, P extends PageOfItems<T> = PageOfItems<T>> implements AsyncIterable<T> {
  readonly #fetchPage: PageFetcher<T, P>;

  constructor(fetchPage: PageFetcher<T, P>) {
    this.#fetchPage = fetchPage;
  }

  /** Every page, in order, as the server sent it. */
  async *pages(): AsyncGenerator<P, void, undefined> {
    let cursor: string | undefined;
    const seen = new Set<string>();
    for (;;) {
      const page = await this.#fetchPage(cursor);
      yield page;
      const next = page.next_cursor;
      if (next === null || next === undefined || page.data.length === 0) return;
      // A server that hands back a cursor it already gave would loop forever; stop loudly instead.
      if (seen.has(next)) throw new LatchkeyError('The server repeated a pagination cursor; stopping to avoid an endless loop');
      seen.add(next);
      cursor = next;
    }
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<T, void, undefined> {
    for await (const page of this.pages()) yield* page.data;
  }

  /** Collects the items into an array, stopping after `limit` of them (fetches no more pages than needed). */
  async toArray(opts: { limit?: number } = {}): Promise<T[]> {
    const limit = opts.limit ?? Infinity;
    const out: T[] = [];
    if (limit <= 0) return out;
    for await (const item of this) {
      out.push(item);
      if (out.length >= limit) break;
    }
    return out;
  }
}
