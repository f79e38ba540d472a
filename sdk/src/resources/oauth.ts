import type { RequestOptions, Transport } from '../transport.js';
import type { JsonObject, OAuthConnectResult } from '../types.js';

interface ConnectCommon extends RequestOptions {
  /** Where the provider sends the browser back; the server's callback when omitted. */
  redirectUri?: string;
  scopes?: string[];
}

/** Connect an existing OAuth2 credential, or make a new one from a provider preset and its config. */
export type OAuthConnectOptions =
  | (ConnectCommon & { credentialId: string; provider?: never; config?: never })
  | (ConnectCommon & { provider: string; config?: JsonObject; credentialId?: never });

/** `lk.oauth`: the authorization-code flow with PKCE (not served yet; follows API.md). */
export class OAuth {
  readonly #t: Transport;

  constructor(transport: Transport) {
    this.#t = transport;
  }

  /** `POST /v1/oauth/connect` → `{ authorization_url }`: send the user there; the server's callback stores the tokens. */
  async connect(opts: OAuthConnectOptions): Promise<OAuthConnectResult> {
    const body: JsonObject = {};
    if (opts.credentialId !== undefined) body.credential_id = opts.credentialId;
    if (opts.provider !== undefined) body.provider = opts.provider;
    if (opts.config !== undefined) body.config = opts.config;
    if (opts.redirectUri !== undefined) body.redirect_uri = opts.redirectUri;
    if (opts.scopes !== undefined) body.scopes = opts.scopes;
    // No Idempotency-Key: every call must make a fresh single-use `state`, so it is not retried on network errors.
    const res = await this.#t.request<OAuthConnectResult>({ method: 'POST', path: '/v1/oauth/connect', body, options: opts });
    return res.body;
  }
}
