import type { RemoteFailure, RemoteFailureCategory } from '../../domain/remote-failure.js';
import type { EgressGuard } from '../../egress/egress-guard.js';
import type { TokenAuthMethod } from './provider-presets.js';

/** The client's registration as the token endpoint needs it (RFC 6749 §2.3). */
export interface ClientAuth {
  clientId: string;
  clientSecret: string | null;
  method: TokenAuthMethod;
}

/** A successful token response (RFC 6749 §5.1), lifetimes in seconds as the provider sent them. */
export interface TokenSet {
  accessToken: string;
  tokenType: string | null;
  expiresIn: number | null;
  refreshToken: string | null;
  /** Not in RFC 6749, but GitHub, Microsoft and others say how long the refresh token lives. */
  refreshTokenExpiresIn: number | null;
  idToken: string | null;
  scope: string | null;
}

/**
 * How a failed token call is handled:
 *  - `invalid_grant`: the refresh token (or code) is dead; retrying cannot help, a person must reconnect;
 *  - `rejected`: another refusal that retrying will not fix (bad client credentials, bad scope, …);
 *  - `transient`: the provider is down, slow or rate-limiting; back off and try again.
 */
export type ProviderFailure = 'invalid_grant' | 'rejected' | 'transient';

/**
 * The provider answered with an error. Its error code and description are read to decide what
 * to do next, and then dropped: a token endpoint chooses them, and one that quotes the refresh
 * token or the client secret back would put it wherever the text went. What is kept is ours.
 */
export class ProviderError extends Error {
  override name = 'ProviderError';
  constructor(
    readonly remote: RemoteFailure,
    readonly failure: ProviderFailure,
  ) {
    super(`token endpoint answered ${remote.category} (HTTP ${String(remote.status)})`);
  }
}

const STANDARD_PERMANENT = new Set(['invalid_client', 'unauthorized_client', 'unsupported_grant_type', 'invalid_scope', 'invalid_request', 'access_denied']);
/** RFC 6749 §5.2 codes that say the client's own credentials were refused. */
const CLIENT_AUTH_FAILED = new Set(['invalid_client', 'unauthorized_client']);
/** Our marker for a 200 we cannot use (no JSON object, no access token). */
const INVALID_RESPONSE = 'invalid_response';
const MAX_TOKEN_LENGTH = 65_536;

export interface ErrorClasses {
  invalidGrant: readonly string[];
  permanent: readonly string[];
}

function classifyError(code: string, status: number, classes: ErrorClasses): ProviderFailure {
  if (code === 'invalid_grant' || classes.invalidGrant.includes(code)) return 'invalid_grant';
  if (code === 'temporarily_unavailable' || code === 'server_error' || status >= 500 || status === 429) return 'transient';
  if (STANDARD_PERMANENT.has(code) || classes.permanent.includes(code)) return 'rejected';
  // Another 4xx with an unknown code: a request the provider will refuse again the same way.
  return status >= 400 && status < 500 ? 'rejected' : 'transient';
}

/** What is reported of a failed token call: the category, from the code and status, and the status. */
function categoryOf(code: string, status: number, failure: ProviderFailure): RemoteFailureCategory {
  if (failure === 'invalid_grant' || CLIENT_AUTH_FAILED.has(code) || status === 401 || status === 403) return 'auth_failed';
  if (code === INVALID_RESPONSE || status >= 500) return 'bad_response';
  return 'refused';
}

function providerError(code: string, status: number, classes: ErrorClasses): ProviderError {
  const failure = classifyError(code, status, classes);
  return new ProviderError({ category: categoryOf(code, status, failure), status }, failure);
}

function parseBody(body: Buffer, contentType: string | undefined): Record<string, unknown> | null {
  const text = body.toString('utf8');
  if ((contentType ?? '').includes('application/x-www-form-urlencoded')) return Object.fromEntries(new URLSearchParams(text));
  try {
    const parsed: unknown = JSON.parse(text);
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

function seconds(v: unknown): number | null {
  const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v;
  return typeof n === 'number' && Number.isFinite(n) && n >= 0 && n < 10 * 365 * 86_400 ? Math.floor(n) : null;
}

function token(v: unknown): string | null {
  return typeof v === 'string' && v.length > 0 && v.length <= MAX_TOKEN_LENGTH ? v : null;
}

/** `application/x-www-form-urlencoded` of one value, as RFC 6749 §2.3.1 wants for Basic credentials. */
function formEncode(value: string): string {
  return new URLSearchParams({ v: value }).toString().slice(2);
}

/**
 * One call to a token endpoint through the egress guard. Client authentication per the
 * registration; the answer is parsed as JSON or as a form (GitHub without Accept), and a 200 that
 * says `ok: false` / `error` (Slack) is an error too.
 */
export async function callTokenEndpoint(
  egress: EgressGuard,
  endpoint: string,
  auth: ClientAuth,
  params: Record<string, string>,
  classes: ErrorClasses,
): Promise<TokenSet> {
  const form = new URLSearchParams(params);
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
  if (auth.method === 'client_secret_basic' && auth.clientSecret !== null) {
    headers.authorization = `Basic ${Buffer.from(`${formEncode(auth.clientId)}:${formEncode(auth.clientSecret)}`).toString('base64')}`;
  } else {
    form.set('client_id', auth.clientId);
    if (auth.method === 'client_secret_post' && auth.clientSecret !== null) form.set('client_secret', auth.clientSecret);
  }
  const res = await egress.request({ method: 'POST', url: endpoint, headers, body: form.toString() });
  const body = parseBody(res.body, res.headers['content-type']);
  const errorCode = body ? (body.error ?? (res.status >= 400 && typeof body.status === 'string' ? body.status : undefined)) : undefined;
  if (res.status !== 200 || !body || errorCode !== undefined || body.ok === false) {
    // Compared with known codes only, never kept: any other string is as good as none.
    const code = typeof errorCode === 'string' ? errorCode : res.status === 200 ? INVALID_RESPONSE : '';
    throw providerError(code, res.status, classes);
  }
  const accessToken = token(body.access_token);
  if (accessToken === null) throw new ProviderError({ category: 'bad_response', status: res.status }, 'transient');
  return {
    accessToken,
    tokenType: typeof body.token_type === 'string' ? body.token_type : null,
    expiresIn: seconds(body.expires_in),
    refreshToken: token(body.refresh_token),
    refreshTokenExpiresIn: seconds(body.refresh_token_expires_in),
    idToken: token(body.id_token),
    scope: typeof body.scope === 'string' ? body.scope : null,
  };
}

/** GET a JSON document with the access token (userinfo); null when it cannot be had. */
export async function fetchJson(egress: EgressGuard, url: string, accessToken: string): Promise<Record<string, unknown> | null> {
  const res = await egress.request({ method: 'GET', url, headers: { authorization: `Bearer ${accessToken}`, accept: 'application/json' } });
  if (res.status !== 200) return null;
  return parseBody(res.body, res.headers['content-type']);
}
