import { pathOf, type RequestOptions, type Transport } from '../transport.js';
import type { ServiceCredentialFields } from '../types.js';

/** What `serviceCredentials.get` resolves to: `fields` is the dialect's response body as documented. */
export interface ServiceCredential<F extends ServiceCredentialFields = ServiceCredentialFields> {
  type: string;
  id: string;
  fields: F;
}

/**
 * `lk.serviceCredentials`: the client shape of source document 000,
 * `const credential = await api.serviceCredentials.get({ type, id }); credential.fields.status`,
 * served by the `service-credentials` dialect under `/compat/service-credentials`.
 */
export class ServiceCredentials {
  readonly #t: Transport;

  constructor(transport: Transport) {
    this.#t = transport;
  }

  /** `GET /compat/service-credentials/service-credentials/{type}/{id}`. */
  async get<F extends ServiceCredentialFields = ServiceCredentialFields>(
    params: { type: string; id: string },
    opts: RequestOptions = {},
  ): Promise<ServiceCredential<F>> {
    const res = await this.#t.request<F>({
      method: 'GET',
      path: '/compat/service-credentials' + pathOf('service-credentials', params.type, params.id),
      options: opts,
    });
    return { type: params.type, id: params.id, fields: res.body };
  }
}
