import { ifMatchHeader, withEtag, type WithEtag } from '../etag.js';
import { newIdempotencyKey } from '../idempotency.js';
import { filterQuery } from '../list-query.js';
import { Paginator } from '../paginate.js';
import { pathOf, type RequestOptions, type Transport } from '../transport.js';
import type {
  Credential,
  CredentialCreateBody,
  CredentialCreated,
  CredentialListFilter,
  CredentialListQuery,
  CredentialPage,
  CredentialPatchBody,
  CredentialReplaceBody,
  CredentialReplaced,
  CredentialRestored,
  CredentialRotateBody,
  CredentialRotated,
  CredentialTypeInfo,
  CredentialTypeList,
  CredentialUpdated,
  CredentialVersion,
  CredentialVersionList,
  CredentialVersionRestored,
  DeleteCredentialQuery,
  DerivedToken,
  RevealedCredential,
  RevealQuery,
  VerifyResult,
} from '../types.js';

export interface IdempotentOptions extends RequestOptions {
  /** Same key + same body within 24 h → the first answer again. Made for you when omitted. */
  idempotencyKey?: string;
}

export interface ConditionalOptions extends RequestOptions {
  /** An `etag` from an earlier answer; the write fails with `PreconditionFailedError` if it is stale. */
  ifMatch?: string | null;
}

export interface DeleteCredentialOptions extends ConditionalOptions {
  /** Destroy the credential and its key material now instead of a restorable soft delete (owners only). */
  purge?: boolean;
}

export interface CredentialListOptions extends RequestOptions {
  filter?: CredentialListFilter;
  /** Items per request, 1..100 (server default 25). */
  perPage?: number;
}

export interface CredentialListPageOptions extends CredentialListOptions {
  /** Page number from 1 (offset paging; prefer `cursor` for deep pages). */
  page?: number;
  /** A `next_cursor` from an earlier page. */
  cursor?: string;
}

export interface RevealOptions extends RequestOptions {
  /** `test` reveals the test secret as `test_secret` as well. */
  variant?: RevealQuery['variant'];
  /** Reveal an inactive or deactivated credential (owners only). */
  allowInactive?: boolean;
  /** An older version: readable while current, pending, or previous within its grace period. */
  version?: number;
}

export interface RotateOptions extends IdempotentOptions {
  /** The new secret; omit it for a type that can make its own (generated values, OAuth2 refresh). */
  secret?: CredentialRotateBody['secret'];
  /** How long the old version stays readable as `previous` (server default 3600). */
  gracePeriodSeconds?: number;
}

/** `lk.credentials`: `/v1/credentials` and the credential type catalog. */
export class Credentials {
  readonly #t: Transport;

  constructor(transport: Transport) {
    this.#t = transport;
  }

  /** `POST /v1/credentials`. A generatable type given no secret answers with `generated_secret`, once. */
  async create(body: CredentialCreateBody, opts: IdempotentOptions = {}): Promise<WithEtag<CredentialCreated>> {
    const res = await this.#t.request<CredentialCreated>({
      method: 'POST',
      path: '/v1/credentials',
      body,
      headers: { 'idempotency-key': opts.idempotencyKey ?? newIdempotencyKey() },
      options: opts,
    });
    return withEtag(res.body, res.headers);
  }

  /** `PUT /v1/credentials/{id}`: create with your own id, or replace the whole credential. */
  async put(id: string, body: CredentialReplaceBody, opts: ConditionalOptions = {}): Promise<WithEtag<CredentialReplaced>> {
    const res = await this.#t.request<CredentialReplaced>({
      method: 'PUT',
      path: pathOf('v1', 'credentials', id),
      body,
      headers: ifMatchHeader(opts.ifMatch),
      options: opts,
    });
    return withEtag(res.body, res.headers);
  }

  /** `GET /v1/credentials/{id}`: metadata, never a secret. */
  async get(id: string, opts: RequestOptions = {}): Promise<WithEtag<Credential>> {
    const res = await this.#t.request<Credential>({ method: 'GET', path: pathOf('v1', 'credentials', id), options: opts });
    return withEtag(res.body, res.headers);
  }

  /** Every credential matching `filter`, fetched page by page as you iterate. */
  list(opts: CredentialListOptions = {}): Paginator<Credential, CredentialPage> {
    return new Paginator((cursor) => this.listPage({ ...opts, ...(cursor === undefined ? {} : { cursor }) }));
  }

  /** One page of `GET /v1/credentials`: `{ data, page, per_page, total, next_cursor }`. */
  async listPage(opts: CredentialListPageOptions = {}): Promise<CredentialPage> {
    const paging = { page: opts.page, per_page: opts.perPage, cursor: opts.cursor } satisfies CredentialListQuery;
    const res = await this.#t.request<CredentialPage>({
      method: 'GET',
      path: '/v1/credentials',
      query: { ...paging, ...filterQuery(opts.filter) },
      options: opts,
    });
    return res.body;
  }

  /** `PATCH /v1/credentials/{id}`: change some fields; a new `secret` makes a new version. */
  async update(id: string, patch: CredentialPatchBody, opts: ConditionalOptions = {}): Promise<WithEtag<CredentialUpdated>> {
    const res = await this.#t.request<CredentialUpdated>({
      method: 'PATCH',
      path: pathOf('v1', 'credentials', id),
      body: patch,
      headers: ifMatchHeader(opts.ifMatch),
      options: opts,
    });
    return withEtag(res.body, res.headers);
  }

  /** `DELETE /v1/credentials/{id}`: soft delete (restorable), or `purge: true` to destroy. */
  async delete(id: string, opts: DeleteCredentialOptions = {}): Promise<void> {
    await this.#t.request<undefined>({
      method: 'DELETE',
      path: pathOf('v1', 'credentials', id),
      query: { purge: opts.purge ? true : undefined } satisfies DeleteCredentialQuery,
      headers: ifMatchHeader(opts.ifMatch),
      options: opts,
    });
  }

  /** `POST /v1/credentials/{id}/restore`: undo a soft delete. */
  async restore(id: string, opts: RequestOptions = {}): Promise<WithEtag<CredentialRestored>> {
    const res = await this.#t.request<CredentialRestored>({ method: 'POST', path: pathOf('v1', 'credentials', id, 'restore'), options: opts });
    return withEtag(res.body, res.headers);
  }

  /** `GET /v1/credentials/{id}/secret`: the decrypted secret (audited; needs `credentials:reveal`). */
  async reveal(id: string, opts: RevealOptions = {}): Promise<WithEtag<RevealedCredential>> {
    const res = await this.#t.request<RevealedCredential>({
      method: 'GET',
      path: pathOf('v1', 'credentials', id, 'secret'),
      query: { variant: opts.variant, allow_inactive: opts.allowInactive ? true : undefined, version: opts.version } satisfies RevealQuery,
      options: opts,
    });
    return withEtag(res.body, res.headers);
  }

  /** `POST /v1/credentials/{id}/rotate`: a new current version; the old one stays `previous` for the grace period. */
  async rotate(id: string, opts: RotateOptions = {}): Promise<WithEtag<CredentialRotated>> {
    const body: CredentialRotateBody = {};
    if (opts.secret !== undefined) body.secret = opts.secret;
    if (opts.gracePeriodSeconds !== undefined) body.grace_period_seconds = opts.gracePeriodSeconds;
    const res = await this.#t.request<CredentialRotated>({
      method: 'POST',
      path: pathOf('v1', 'credentials', id, 'rotate'),
      body,
      headers: { 'idempotency-key': opts.idempotencyKey ?? newIdempotencyKey() },
      options: opts,
    });
    return withEtag(res.body, res.headers);
  }

  /** `POST /v1/credentials/{id}/verify`: try the credential against its service where the type can. */
  async verify(id: string, opts: RequestOptions = {}): Promise<VerifyResult> {
    const res = await this.#t.request<VerifyResult>({ method: 'POST', path: pathOf('v1', 'credentials', id, 'verify'), options: opts });
    return res.body;
  }

  /**
   * `POST /v1/credentials/{id}/token`: a short-lived credential derived from the stored one (an
   * OAuth2 access token, a minted JWT, an assumed role's session, a request chain's results),
   * never the stored secret; needs `credentials:use`. For callers that cannot use `fetchWith`.
   */
  async derivedToken(id: string, opts: RequestOptions = {}): Promise<DerivedToken> {
    const res = await this.#t.request<DerivedToken>({ method: 'POST', path: pathOf('v1', 'credentials', id, 'token'), options: opts });
    return res.body;
  }

  /** `GET /v1/credentials/{id}/versions`: every version's metadata and stage, newest first. */
  async versions(id: string, opts: RequestOptions = {}): Promise<CredentialVersionList['data']> {
    const res = await this.#t.request<CredentialVersionList>({
      method: 'GET',
      path: pathOf('v1', 'credentials', id, 'versions'),
      options: opts,
    });
    return res.body.data;
  }

  /** `GET /v1/credentials/{id}/versions/{n}`: one version's metadata. */
  async version(id: string, n: number, opts: RequestOptions = {}): Promise<CredentialVersion> {
    const res = await this.#t.request<CredentialVersion>({ method: 'GET', path: pathOf('v1', 'credentials', id, 'versions', n), options: opts });
    return res.body;
  }

  /** `POST /v1/credentials/{id}/versions/{n}/restore`: a new version made from version `n`. */
  async restoreVersion(id: string, n: number, opts: IdempotentOptions = {}): Promise<WithEtag<CredentialVersionRestored>> {
    const res = await this.#t.request<CredentialVersionRestored>({
      method: 'POST',
      path: pathOf('v1', 'credentials', id, 'versions', n, 'restore'),
      headers: { 'idempotency-key': opts.idempotencyKey ?? newIdempotencyKey() },
      options: opts,
    });
    return withEtag(res.body, res.headers);
  }

  /** `GET /v1/credential-types`: the catalog (schemas, secret fields, capabilities). */
  async types(opts: RequestOptions = {}): Promise<CredentialTypeInfo[]> {
    const res = await this.#t.request<CredentialTypeList>({ method: 'GET', path: '/v1/credential-types', options: opts });
    return res.body.data;
  }
}
