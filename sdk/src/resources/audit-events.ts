import { filterQuery } from '../list-query.js';
import { Paginator } from '../paginate.js';
import type { RequestOptions, Transport } from '../transport.js';
import type { AuditEvent, AuditEventFilter, AuditEventListQuery, AuditEventPage, AuditVerifyResult } from '../types.js';

export interface AuditEventListOptions extends RequestOptions {
  filter?: AuditEventFilter;
  perPage?: number;
}

export interface AuditEventListPageOptions extends AuditEventListOptions {
  cursor?: string;
}

/** `lk.auditEvents`: the tenant's tamper-evident audit log (needs `audit:read`). */
export class AuditEvents {
  readonly #t: Transport;

  constructor(transport: Transport) {
    this.#t = transport;
  }

  /** Events newest first, page by page as you iterate. */
  list(opts: AuditEventListOptions = {}): Paginator<AuditEvent, AuditEventPage> {
    return new Paginator((cursor) => this.listPage({ ...opts, ...(cursor === undefined ? {} : { cursor }) }));
  }

  /** One page of `GET /v1/audit-events` (cursor paging only). */
  async listPage(opts: AuditEventListPageOptions = {}): Promise<AuditEventPage> {
    const paging = { per_page: opts.perPage, cursor: opts.cursor } satisfies AuditEventListQuery;
    const res = await this.#t.request<AuditEventPage>({
      method: 'GET',
      path: '/v1/audit-events',
      query: { ...paging, ...filterQuery(opts.filter) },
      options: opts,
    });
    return res.body;
  }

  /** `GET /v1/audit-events/verify`: checks the tenant's hash chain. */
  async verify(opts: RequestOptions = {}): Promise<AuditVerifyResult> {
    const res = await this.#t.request<AuditVerifyResult>({ method: 'GET', path: '/v1/audit-events/verify', options: opts });
    return res.body;
  }
}
