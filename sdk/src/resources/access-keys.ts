import { ifMatchHeader, withEtag, type WithEtag } from '../etag.js';
import { newIdempotencyKey } from '../idempotency.js';
import { filterQuery } from '../list-query.js';
import { Paginator } from '../paginate.js';
import { pathOf, type RequestOptions, type Transport } from '../transport.js';
import type {
  AccessKey,
  AccessKeyCreateBody,
  AccessKeyCreated,
  AccessKeyListFilter,
  AccessKeyListQuery,
  AccessKeyPage,
  AccessKeyRenameBody,
  AccessKeyRenamed,
  AwsKeyPairIssued,
} from '../types.js';
import type { ConditionalOptions, IdempotentOptions } from './credentials.js';

export interface AccessKeyListOptions extends RequestOptions {
  filter?: AccessKeyListFilter;
  perPage?: number;
}

export interface AccessKeyListPageOptions extends AccessKeyListOptions {
  page?: number;
  cursor?: string;
}

/** `lk.accessKeys`: keys for calling Latchkey itself (`/v1/access-keys`). */
export class AccessKeys {
  readonly #t: Transport;

  constructor(transport: Transport) {
    this.#t = transport;
  }

  /** `POST /v1/access-keys`. The answer's `key` is shown this once: store it now. */
  async create(body: AccessKeyCreateBody, opts: IdempotentOptions = {}): Promise<WithEtag<AccessKeyCreated>> {
    const res = await this.#t.request<AccessKeyCreated>({
      method: 'POST',
      path: '/v1/access-keys',
      body,
      headers: { 'idempotency-key': opts.idempotencyKey ?? newIdempotencyKey() },
      options: opts,
    });
    return withEtag(res.body, res.headers);
  }

  /** Every access key of the tenant (never the keys themselves), page by page as you iterate. */
  list(opts: AccessKeyListOptions = {}): Paginator<AccessKey, AccessKeyPage> {
    return new Paginator((cursor) => this.listPage({ ...opts, ...(cursor === undefined ? {} : { cursor }) }));
  }

  /** One page of `GET /v1/access-keys`. */
  async listPage(opts: AccessKeyListPageOptions = {}): Promise<AccessKeyPage> {
    const paging = { page: opts.page, per_page: opts.perPage, cursor: opts.cursor } satisfies AccessKeyListQuery;
    const res = await this.#t.request<AccessKeyPage>({
      method: 'GET',
      path: '/v1/access-keys',
      query: { ...paging, ...filterQuery(opts.filter) },
      options: opts,
    });
    return res.body;
  }

  /** `GET /v1/access-keys/{id}`. */
  async get(id: string, opts: RequestOptions = {}): Promise<WithEtag<AccessKey>> {
    const res = await this.#t.request<AccessKey>({ method: 'GET', path: pathOf('v1', 'access-keys', id), options: opts });
    return withEtag(res.body, res.headers);
  }

  /** `PUT /v1/access-keys/{id}`: only the name can change. */
  async rename(id: string, name: string, opts: ConditionalOptions = {}): Promise<WithEtag<AccessKeyRenamed>> {
    const res = await this.#t.request<AccessKeyRenamed>({
      method: 'PUT',
      path: pathOf('v1', 'access-keys', id),
      body: { name } satisfies AccessKeyRenameBody,
      headers: ifMatchHeader(opts.ifMatch),
      options: opts,
    });
    return withEtag(res.body, res.headers);
  }

  /**
   * `POST /v1/access-keys/{id}/aws-key-pair`: an access key id and secret access key for AWS SDKs
   * (docs/compat.md), acting as this key; replaces the key's earlier pair. The secret is shown this once.
   */
  async awsKeyPair(id: string, opts: RequestOptions = {}): Promise<AwsKeyPairIssued> {
    const res = await this.#t.request<AwsKeyPairIssued>({ method: 'POST', path: `${pathOf('v1', 'access-keys', id)}/aws-key-pair`, options: opts });
    return res.body;
  }

  /** `DELETE /v1/access-keys/{id}`: revoked at once. Revoking the tenant's last managing key is a `ConflictError`. */
  async revoke(id: string, opts: ConditionalOptions = {}): Promise<void> {
    await this.#t.request<undefined>({ method: 'DELETE', path: pathOf('v1', 'access-keys', id), headers: ifMatchHeader(opts.ifMatch), options: opts });
  }
}
