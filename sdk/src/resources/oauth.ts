import type { RequestOptions, Transport } from '../transport.js';
import type { OAuthConnectBody, OAuthConnectResult } from '../types.js';

/** `lk.oauth`: the authorization-code flow with PKCE. */
export class OAuth {
  readonly #t: Transport;

  constructor(transport: Transport) {
    this.#t = transport;
  }

  /**
   * `POST /v1/oauth/connect` → `{ authorization_url, credential_id, state_expires_at }`: send the
   * user to the URL; the server's callback exchanges the code and stores the tokens. Connect an
   * existing OAuth2 credential (`credential_id`), or make a new one from a provider preset
   * (`provider`, `config`, `secret.client_secret`).
   */
  async connect(body: OAuthConnectBody, opts: RequestOptions = {}): Promise<OAuthConnectResult> {
    // No Idempotency-Key: every call must make a fresh single-use `state`, so it is not retried on network errors.
    const res = await this.#t.request<OAuthConnectResult>({ method: 'POST', path: '/v1/oauth/connect', body, options: opts });
    return res.body;
  }
}
