import { newIdempotencyKey } from '../idempotency.js';
import type { RequestOptions, Transport } from '../transport.js';
import type { Tenant, TenantCreateBody, TenantCreated, TenantList } from '../types.js';
import type { IdempotentOptions } from './credentials.js';

/** `lk.tenants`. */
export class Tenants {
  readonly #t: Transport;

  constructor(transport: Transport) {
    this.#t = transport;
  }

  /** `POST /v1/tenants` (platform admins only): the tenant and its owner key, shown this once. */
  async create(body: TenantCreateBody, opts: IdempotentOptions = {}): Promise<TenantCreated> {
    const res = await this.#t.request<TenantCreated>({
      method: 'POST',
      path: '/v1/tenants',
      body,
      headers: { 'idempotency-key': opts.idempotencyKey ?? newIdempotencyKey() },
      options: opts,
    });
    return res.body;
  }

  /** `GET /v1/tenants`: the tenants the caller belongs to. */
  async list(opts: RequestOptions = {}): Promise<Tenant[]> {
    const res = await this.#t.request<TenantList>({ method: 'GET', path: '/v1/tenants', options: opts });
    return res.body.data;
  }
}
