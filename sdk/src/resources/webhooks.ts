import { ifMatchHeader, withEtag, type WithEtag } from '../etag.js';
import { newIdempotencyKey } from '../idempotency.js';
import { Paginator } from '../paginate.js';
import { pathOf, type RequestOptions, type Transport } from '../transport.js';
import type { Webhook, WebhookCreateBody, WebhookDelivery, WebhookDeliveryPage, WebhookList, WebhookPatchBody, WebhookWithSecret } from '../types.js';
import type { ConditionalOptions, IdempotentOptions } from './credentials.js';

export interface WebhookDeliveryListOptions extends RequestOptions {
  perPage?: number;
}

export interface WebhookDeliveryPageOptions extends WebhookDeliveryListOptions {
  cursor?: string;
}

export interface WebhookRotateOptions extends RequestOptions {
  /** How long the old secret keeps signing beside the new one (the server's default: 24 h). */
  overlapSeconds?: number;
}

/**
 * `lk.webhooks`: `/v1/webhooks`, subscriptions to the tenant's events (owners and admins). Deliveries
 * follow Standard Webhooks: verify them with the `whsec_` secret that `create` and `rotateSecret`
 * answer once (docs/events.md).
 */
export class Webhooks {
  readonly #t: Transport;

  constructor(transport: Transport) {
    this.#t = transport;
  }

  /** `POST /v1/webhooks`: the answer holds the signing secret, this once. */
  async create(body: WebhookCreateBody, opts: IdempotentOptions = {}): Promise<WithEtag<WebhookWithSecret>> {
    const res = await this.#t.request<WebhookWithSecret>({
      method: 'POST',
      path: '/v1/webhooks',
      body,
      headers: { 'idempotency-key': opts.idempotencyKey ?? newIdempotencyKey() },
      options: opts,
    });
    return withEtag(res.body, res.headers);
  }

  /** `GET /v1/webhooks`: the server answers every subscription at once, so this iterates one page. */
  list(opts: RequestOptions = {}): Paginator<Webhook, WebhookList & { next_cursor: null }> {
    return new Paginator(async () => {
      const res = await this.#t.request<WebhookList>({ method: 'GET', path: '/v1/webhooks', options: opts });
      return { ...res.body, next_cursor: null };
    });
  }

  async get(id: string, opts: RequestOptions = {}): Promise<WithEtag<Webhook>> {
    const res = await this.#t.request<Webhook>({ method: 'GET', path: pathOf('v1', 'webhooks', id), options: opts });
    return withEtag(res.body, res.headers);
  }

  /** `PATCH /v1/webhooks/{id}`: URL, event types, team scope, active, description. */
  async update(id: string, patch: WebhookPatchBody, opts: ConditionalOptions = {}): Promise<WithEtag<Webhook>> {
    const res = await this.#t.request<Webhook>({
      method: 'PATCH',
      path: pathOf('v1', 'webhooks', id),
      body: patch,
      headers: ifMatchHeader(opts.ifMatch),
      options: opts,
    });
    return withEtag(res.body, res.headers);
  }

  /** `DELETE /v1/webhooks/{id}`, its delivery log with it. */
  async delete(id: string, opts: ConditionalOptions = {}): Promise<void> {
    await this.#t.request<undefined>({ method: 'DELETE', path: pathOf('v1', 'webhooks', id), headers: ifMatchHeader(opts.ifMatch), options: opts });
  }

  /** `POST /v1/webhooks/{id}/rotate-secret`: a new secret (shown once); the old one keeps signing during the overlap. */
  async rotateSecret(id: string, opts: WebhookRotateOptions = {}): Promise<WithEtag<WebhookWithSecret>> {
    const res = await this.#t.request<WebhookWithSecret>({
      method: 'POST',
      path: pathOf('v1', 'webhooks', id, 'rotate-secret'),
      body: opts.overlapSeconds === undefined ? {} : { overlap_seconds: opts.overlapSeconds },
      options: opts,
    });
    return withEtag(res.body, res.headers);
  }

  /** The delivery log, newest attempt first, page by page as you iterate. */
  deliveries(id: string, opts: WebhookDeliveryListOptions = {}): Paginator<WebhookDelivery, WebhookDeliveryPage> {
    return new Paginator((cursor) => this.deliveriesPage(id, { ...opts, ...(cursor === undefined ? {} : { cursor }) }));
  }

  /** One page of `GET /v1/webhooks/{id}/deliveries`. */
  async deliveriesPage(id: string, opts: WebhookDeliveryPageOptions = {}): Promise<WebhookDeliveryPage> {
    const res = await this.#t.request<WebhookDeliveryPage>({
      method: 'GET',
      path: pathOf('v1', 'webhooks', id, 'deliveries'),
      query: { per_page: opts.perPage, cursor: opts.cursor },
      options: opts,
    });
    return res.body;
  }

  /** `POST …/deliveries/{event_id}/redeliver`: sends one event again now; the answer is that attempt. */
  async redeliver(id: string, eventId: string, opts: RequestOptions = {}): Promise<WebhookDelivery> {
    const res = await this.#t.request<WebhookDelivery>({
      method: 'POST',
      path: pathOf('v1', 'webhooks', id, 'deliveries', eventId, 'redeliver'),
      options: opts,
    });
    return res.body;
  }
}
