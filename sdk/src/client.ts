import { LatchkeyError } from './errors.js';
import { AccessKeys } from './resources/access-keys.js';
import { AuditEvents } from './resources/audit-events.js';
import { Credentials } from './resources/credentials.js';
import { Events } from './resources/events.js';
import { Folders } from './resources/folders.js';
import { Integrations } from './resources/integrations.js';
import { OAuth } from './resources/oauth.js';
import { ServiceCredentials } from './resources/service-credentials.js';
import { Teams } from './resources/teams.js';
import { Webhooks } from './resources/webhooks.js';
import { Tenants } from './resources/tenants.js';
import { Transport, pathOf, type HttpRequest, type QueryValue, type RequestOptions } from './transport.js';

export interface LatchkeyOptions {
  /** Where the server listens, e.g. `http://127.0.0.1:8080` (a path prefix is kept). */
  baseUrl: string;
  /** An access key issued by Latchkey (`lk_<env>_…`). Give this or `token`. */
  apiKey?: string;
  /** A JWT from an OIDC issuer the server trusts. Give this or `apiKey`. */
  token?: string;
  /** Which of the principal's tenants to act in (`x-tenant-id`); needed only with several. */
  tenantId?: string;
  /** Deadline of each attempt, headers and body included. Default 10 000. */
  timeoutMs?: number;
  /** Retries after the first attempt for 429, 503 and (when safe) network errors and timeouts. Default 3. */
  maxRetries?: number;
  /** Backoff ceiling of the first retry, doubling per retry (full jitter). Default 500. */
  retryBaseDelayMs?: number;
  /** Longest single wait. A `Retry-After` longer than this is not waited out: the error is thrown. Default 30 000. */
  maxRetryDelayMs?: number;
  /** A `fetch` to use instead of the global one (tests, proxies, instrumentation). */
  fetch?: typeof fetch;
}

export interface RawRequestOptions extends RequestOptions {
  query?: Record<string, QueryValue>;
  body?: unknown;
}

/**
 * The Latchkey client.
 *
 * ```ts
 * const lk = new Latchkey({ baseUrl: 'http://127.0.0.1:8080', apiKey: process.env.LATCHKEY_TOKEN! });
 * const c = await lk.credentials.create({ name: 'Mailer', type: 'smtp', config: { host: 'smtp.example.com' }, secret: { password: '…' } });
 * const { secret } = await lk.credentials.reveal(c.id);
 * ```
 */
export class Latchkey {
  readonly credentials: Credentials;
  readonly integrations: Integrations;
  readonly accessKeys: AccessKeys;
  readonly auditEvents: AuditEvents;
  readonly events: Events;
  readonly tenants: Tenants;
  readonly teams: Teams;
  readonly webhooks: Webhooks;
  readonly folders: Folders;
  readonly oauth: OAuth;
  readonly serviceCredentials: ServiceCredentials;

  readonly #options: LatchkeyOptions;
  readonly #transport: Transport;
  readonly #proxy: { baseUrl: string; token: string; fetch: typeof fetch };

  constructor(options: LatchkeyOptions) {
    const token = tokenOf(options);
    const fetchFn = options.fetch ?? globalThis.fetch;
    if (typeof fetchFn !== 'function') throw new LatchkeyError('No global fetch: pass options.fetch (Node 18+ has one)');
    this.#options = { ...options };
    this.#proxy = { baseUrl: normaliseBaseUrl(options.baseUrl), token, fetch: fetchFn };
    this.#transport = new Transport({
      baseUrl: normaliseBaseUrl(options.baseUrl),
      token,
      tenantId: options.tenantId,
      timeoutMs: positive(options.timeoutMs, 'timeoutMs', 10_000),
      retry: {
        maxRetries: nonNegativeInt(options.maxRetries, 'maxRetries', 3),
        baseDelayMs: positive(options.retryBaseDelayMs, 'retryBaseDelayMs', 500),
        maxDelayMs: positive(options.maxRetryDelayMs, 'maxRetryDelayMs', 30_000),
      },
      fetch: fetchFn,
    });
    this.credentials = new Credentials(this.#transport);
    this.integrations = new Integrations(this.#transport);
    this.accessKeys = new AccessKeys(this.#transport);
    this.auditEvents = new AuditEvents(this.#transport);
    this.events = new Events(this.#transport);
    this.tenants = new Tenants(this.#transport);
    this.teams = new Teams(this.#transport);
    this.webhooks = new Webhooks(this.#transport);
    this.folders = new Folders(this.#transport);
    this.oauth = new OAuth(this.#transport);
    this.serviceCredentials = new ServiceCredentials(this.#transport);
  }

  readonly fetchWith: FetchWith = (credentialId, url, init = {}) => {
    const target = new URL(url);
    if (target.username || target.password) throw new LatchkeyError('The target URL must not carry credentials: the server puts them in');
    const headers = new Headers(init.headers);
    headers.set('authorization', `Bearer ${this.#proxy.token}`);
    if (this.#options.tenantId !== undefined) headers.set('x-tenant-id', this.#options.tenantId);
    headers.set('x-latchkey-target', target.origin);
    const path = `${pathOf('v1', 'credentials', credentialId, 'proxy')}${target.pathname}${target.search}`;
    return this.#proxy.fetch(`${this.#proxy.baseUrl}${path}`, { ...init, headers, redirect: 'manual' });
  };

  /** The same client acting in another of the principal's tenants. */
  withTenant(tenantId: string): Latchkey {
    return new Latchkey({ ...this.#options, tenantId });
  }

  /**
   * Any endpoint this SDK does not wrap yet, with the same auth, retries, timeouts and errors.
   * `path` is used as given (encode ids yourself); the answer's body is returned.
   */
  async request<T = unknown>(method: HttpRequest['method'], path: string, opts: RawRequestOptions = {}): Promise<T> {
    if (!path.startsWith('/')) throw new LatchkeyError('path must start with /');
    const res = await this.#transport.request<T>({ method, path, query: opts.query, body: opts.body, options: opts });
    return res.body;
  }
}

/**
 * `fetch`, sent through Latchkey's proxy: the server puts the credential in (its type says how)
 * and this process never holds the secret. `url` is the target's (its host must be in the
 * credential's `allowed_hosts`); the answer is the target's `Response`, or Latchkey's error
 * envelope for what Latchkey refused. Not retried: a proxied request may not be safe to resend.
 *
 * ```ts
 * const res = await lk.fetchWith('cred_…', 'https://api.sendgrid.com/v3/mail/send', { method: 'POST', body });
 * ```
 */
export type FetchWith = (credentialId: string, url: string | URL, init?: RequestInit) => Promise<Response>;

function tokenOf(options: LatchkeyOptions): string {
  const { apiKey, token } = options;
  if (apiKey !== undefined && token !== undefined) throw new LatchkeyError('Give apiKey or token, not both');
  const value = apiKey ?? token;
  if (typeof value !== 'string' || value.trim() === '') throw new LatchkeyError('An apiKey or token is required');
  // A CR/LF would split the Authorization header. The message never quotes the value.
  if (/[\r\n\0]/.test(value) || value !== value.trim()) throw new LatchkeyError('The apiKey/token contains whitespace or control characters');
  return value;
}

function normaliseBaseUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new LatchkeyError('baseUrl is not a URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new LatchkeyError('baseUrl must be http: or https:');
  if (url.username || url.password) throw new LatchkeyError('baseUrl must not carry credentials; use apiKey or token');
  if (url.search || url.hash) throw new LatchkeyError('baseUrl must not have a query or fragment');
  return url.origin + url.pathname.replace(/\/+$/, '');
}

function positive(v: number | undefined, name: string, fallback: number): number {
  if (v === undefined) return fallback;
  if (!Number.isFinite(v) || v <= 0) throw new LatchkeyError(`${name} must be a positive number`);
  return v;
}

function nonNegativeInt(v: number | undefined, name: string, fallback: number): number {
  if (v === undefined) return fallback;
  if (!Number.isInteger(v) || v < 0) throw new LatchkeyError(`${name} must be a whole number >= 0`);
  return v;
}
