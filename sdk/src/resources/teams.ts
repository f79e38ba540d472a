import { ifMatchHeader, withEtag, type WithEtag } from '../etag.js';
import { newIdempotencyKey } from '../idempotency.js';
import { Paginator } from '../paginate.js';
import { pathOf, type RequestOptions, type Transport } from '../transport.js';
import type { Team, TeamCreateBody, TeamCreated, TeamList, TeamPatchBody, TeamUpdated } from '../types.js';
import type { ConditionalOptions, IdempotentOptions } from './credentials.js';

export type TeamListOptions = RequestOptions;

/** `lk.teams`: `/v1/teams` (needs `teams:manage` to change them). */
export class Teams {
  readonly #t: Transport;

  constructor(transport: Transport) {
    this.#t = transport;
  }

  /** `POST /v1/teams`: the slug defaults from the name and never changes. */
  async create(body: TeamCreateBody, opts: IdempotentOptions = {}): Promise<WithEtag<TeamCreated>> {
    const res = await this.#t.request<TeamCreated>({
      method: 'POST',
      path: '/v1/teams',
      body,
      headers: { 'idempotency-key': opts.idempotencyKey ?? newIdempotencyKey() },
      options: opts,
    });
    return withEtag(res.body, res.headers);
  }

  /** `GET /v1/teams`: the server answers every team at once, so this iterates one page. */
  list(opts: TeamListOptions = {}): Paginator<Team, TeamList & { next_cursor: null }> {
    return new Paginator(async () => {
      const res = await this.#t.request<TeamList>({ method: 'GET', path: '/v1/teams', options: opts });
      return { ...res.body, next_cursor: null };
    });
  }

  async get(id: string, opts: RequestOptions = {}): Promise<WithEtag<Team>> {
    const res = await this.#t.request<Team>({ method: 'GET', path: pathOf('v1', 'teams', id), options: opts });
    return withEtag(res.body, res.headers);
  }

  /** `PATCH /v1/teams/{id}`: rename. */
  async update(id: string, patch: TeamPatchBody, opts: ConditionalOptions = {}): Promise<WithEtag<TeamUpdated>> {
    const res = await this.#t.request<TeamUpdated>({
      method: 'PATCH',
      path: pathOf('v1', 'teams', id),
      body: patch,
      headers: ifMatchHeader(opts.ifMatch),
      options: opts,
    });
    return withEtag(res.body, res.headers);
  }

  async delete(id: string, opts: ConditionalOptions = {}): Promise<void> {
    await this.#t.request<undefined>({ method: 'DELETE', path: pathOf('v1', 'teams', id), headers: ifMatchHeader(opts.ifMatch), options: opts });
  }
}
