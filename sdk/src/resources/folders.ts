import { withEtag, type WithEtag } from '../etag.js';
import { newIdempotencyKey } from '../idempotency.js';
import { Paginator } from '../paginate.js';
import type { RequestOptions, Transport } from '../transport.js';
import type { Folder, FolderCreateBody, FolderCreated, FolderList } from '../types.js';
import type { IdempotentOptions } from './credentials.js';

/** `lk.folders`: `/v1/folders`, the folders inside teams (needs `teams:manage` to create them). */
export class Folders {
  readonly #t: Transport;

  constructor(transport: Transport) {
    this.#t = transport;
  }

  /** `POST /v1/folders`: a folder in a team. */
  async create(body: FolderCreateBody, opts: IdempotentOptions = {}): Promise<WithEtag<FolderCreated>> {
    const res = await this.#t.request<FolderCreated>({
      method: 'POST',
      path: '/v1/folders',
      body,
      headers: { 'idempotency-key': opts.idempotencyKey ?? newIdempotencyKey() },
      options: opts,
    });
    return withEtag(res.body, res.headers);
  }

  /** `GET /v1/folders`: the server answers every folder at once, so this iterates one page. */
  list(opts: RequestOptions = {}): Paginator<Folder, FolderList & { next_cursor: null }> {
    return new Paginator(async () => {
      const res = await this.#t.request<FolderList>({ method: 'GET', path: '/v1/folders', options: opts });
      return { ...res.body, next_cursor: null };
    });
  }
}
