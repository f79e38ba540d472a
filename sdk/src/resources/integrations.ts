import { withEtag, type WithEtag } from '../etag.js';
import { Paginator } from '../paginate.js';
import { pathOf, type RequestOptions, type Transport } from '../transport.js';
import type { Credential, IntegrationCredentialListQuery, IntegrationCredentialPage, IntegrationRevealedCredential, IntegrationRevealQuery } from '../types.js';

export interface IntegrationListOptions extends RequestOptions {
  perPage?: number;
}

export interface IntegrationListPageOptions extends IntegrationListOptions {
  page?: number;
  cursor?: string;
}

export interface IntegrationRevealOptions extends RequestOptions {
  /** Which of the integration's credentials; without it, the most recently updated active one. */
  credentialId?: string;
}

/** `lk.integrations`: the credentials of one integration (`integration_id`). */
export class Integrations {
  readonly #t: Transport;

  constructor(transport: Transport) {
    this.#t = transport;
  }

  /** `GET /v1/integrations/{integration_id}/credentials`, every page as you iterate. */
  list(integrationId: string, opts: IntegrationListOptions = {}): Paginator<Credential, IntegrationCredentialPage> {
    return new Paginator((cursor) => this.listPage(integrationId, { ...opts, ...(cursor === undefined ? {} : { cursor }) }));
  }

  /** One page of `GET /v1/integrations/{integration_id}/credentials`. */
  async listPage(integrationId: string, opts: IntegrationListPageOptions = {}): Promise<IntegrationCredentialPage> {
    const res = await this.#t.request<IntegrationCredentialPage>({
      method: 'GET',
      path: pathOf('v1', 'integrations', integrationId, 'credentials'),
      query: { page: opts.page, per_page: opts.perPage, cursor: opts.cursor } satisfies IntegrationCredentialListQuery,
      options: opts,
    });
    return res.body;
  }

  /** `GET /v1/integrations/{integration_id}/secret?credential_id=…`: a decrypted secret (audited). */
  async reveal(integrationId: string, opts: IntegrationRevealOptions = {}): Promise<WithEtag<IntegrationRevealedCredential>> {
    const res = await this.#t.request<IntegrationRevealedCredential>({
      method: 'GET',
      path: pathOf('v1', 'integrations', integrationId, 'secret'),
      query: { credential_id: opts.credentialId } satisfies IntegrationRevealQuery,
      options: opts,
    });
    return withEtag(res.body, res.headers);
  }
}
