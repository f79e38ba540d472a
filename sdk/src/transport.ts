import { LatchkeyConnectionError, LatchkeyError, LatchkeyTimeoutError, apiErrorFor, type LatchkeyApiError } from './errors.js';
import { isRetryableStatus, isSafeToResend, parseRetryAfter, retryDelayMs, type RetryPolicy } from './retry.js';
import type { FieldIssue } from './types.js';

export const SDK_VERSION = '0.1.0';

/** Per-call options every method accepts (last argument, or merged into its options object). */
export interface RequestOptions {
  /** Abort the call (including any backoff wait); the promise rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Overrides the client's `timeoutMs` for each attempt of this call. */
  timeoutMs?: number;
  /** Overrides the client's `maxRetries` for this call. */
  maxRetries?: number;
  /** Extra headers, e.g. your own `x-request-id` to follow a call through the server's logs. */
  headers?: Record<string, string>;
}

/** A query parameter's value; an array repeats the parameter (`filter[type]=a&filter[type]=b`). */
export type QueryValue = string | number | boolean | Date | readonly string[] | null | undefined;

export interface HttpRequest {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Path below the base URL, its segments already encoded (use `pathOf`). */
  path: string;
  query?: Record<string, QueryValue>;
  body?: unknown;
  headers?: Record<string, string | undefined>;
  options?: RequestOptions | undefined;
}

export interface HttpResponse<T> {
  status: number;
  headers: Headers;
  body: T;
}

export interface TransportConfig {
  baseUrl: string;
  token: string;
  tenantId: string | undefined;
  timeoutMs: number;
  retry: RetryPolicy;
  fetch: typeof fetch;
}

/**
 * Joins path segments, encoding each one (ids are `^[@~\-\.\w]+$`, but a caller's typo must not
 * change the path). A segment of dots alone is refused: `fetch` resolves `.`, `..` and their
 * `%2e` forms away, so `reveal('.')` would have asked for `/v1/credentials/secret`.
 */
export function pathOf(...segments: Array<string | number>): string {
  return (
    '/' +
    segments
      .map((s) => {
        if (/^\.+$/.test(String(s))) throw new LatchkeyError(`"${String(s)}" cannot be sent as an id in a URL path (it would name another resource)`);
        return encodeURIComponent(String(s));
      })
      .join('/')
  );
}

/**
 * Sends requests: authentication, JSON, per-attempt timeout, retries with backoff, and the
 * mapping of error answers to typed errors. It never logs, and it scrubs the token from any
 * text it puts into an error (a misbehaving proxy could echo the Authorization header).
 */
export class Transport {
  readonly #config: TransportConfig;

  constructor(config: TransportConfig) {
    this.#config = config;
  }

  async request<T>(req: HttpRequest): Promise<HttpResponse<T>> {
    const opts = req.options ?? {};
    const policy: RetryPolicy = { ...this.#config.retry, maxRetries: opts.maxRetries ?? this.#config.retry.maxRetries };
    const timeoutMs = opts.timeoutMs ?? this.#config.timeoutMs;
    const url = this.#url(req.path, req.query);
    const headers = this.#headers(req);
    const resendable = isSafeToResend(req.method, headers['idempotency-key'] !== undefined);
    const body = req.body === undefined ? undefined : JSON.stringify(req.body);
    const label = `${req.method} ${req.path}`;

    for (let retry = 0; ; retry++) {
      let status: number;
      let resHeaders: Headers;
      let text: string;
      try {
        ({ status, headers: resHeaders, text } = await this.#attempt(url, req.method, headers, body, timeoutMs, opts.signal));
      } catch (err) {
        if (opts.signal?.aborted) throw opts.signal.reason;
        const wrapped =
          err instanceof TimeoutSignal
            ? new LatchkeyTimeoutError(timeoutMs, req.method, this.#config.baseUrl, req.path)
            : new LatchkeyConnectionError(req.method, this.#config.baseUrl, req.path, err);
        const delay = resendable ? retryDelayMs(retry, policy, undefined) : null;
        if (delay === null) throw wrapped;
        await sleep(delay, opts.signal);
        continue;
      }

      if (status < 400) return { status, headers: resHeaders, body: parseBody(text, resHeaders, label) as T };

      const error = this.#apiError(status, resHeaders, text, label);
      if (isRetryableStatus(status)) {
        const delay = retryDelayMs(retry, policy, parseRetryAfter(resHeaders.get('retry-after')));
        if (delay !== null) {
          await sleep(delay, opts.signal);
          continue;
        }
      }
      throw error;
    }
  }

  /**
   * Opens a long-lived response (Server-Sent Events): the same headers and error mapping as
   * `request`, the deadline on the answer's headers only, no retries (the caller reconnects).
   */
  async openStream(req: Omit<HttpRequest, 'method' | 'body'>): Promise<Response> {
    const opts = req.options ?? {};
    const timeoutMs = opts.timeoutMs ?? this.#config.timeoutMs;
    const headers = { ...this.#headers({ ...req, method: 'GET' }), accept: 'text/event-stream' };
    const controller = new AbortController();
    const onAbort = () => controller.abort(opts.signal?.reason);
    if (opts.signal?.aborted) throw opts.signal.reason;
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    const timer = setTimeout(() => controller.abort(new TimeoutSignal()), timeoutMs);
    let res: Response;
    try {
      res = await this.#config.fetch(this.#url(req.path, req.query), { method: 'GET', headers, signal: controller.signal, redirect: 'error' });
    } catch (err) {
      opts.signal?.removeEventListener('abort', onAbort);
      if (opts.signal?.aborted) throw opts.signal.reason;
      if (controller.signal.reason instanceof TimeoutSignal) throw new LatchkeyTimeoutError(timeoutMs, 'GET', this.#config.baseUrl, req.path);
      throw new LatchkeyConnectionError('GET', this.#config.baseUrl, req.path, err);
    } finally {
      clearTimeout(timer);
    }
    // The body outlives this call: the caller's signal still ends it, so its listener stays.
    if (res.status >= 400) {
      opts.signal?.removeEventListener('abort', onAbort);
      throw this.#apiError(res.status, res.headers, await res.text(), `GET ${req.path}`);
    }
    return res;
  }

  async #attempt(url: string, method: string, headers: Record<string, string>, body: string | undefined, timeoutMs: number, signal: AbortSignal | undefined) {
    const timeout = AbortSignal.timeout(timeoutMs);
    const linked = linkSignals(timeout, signal);
    try {
      const res = await this.#config.fetch(url, { method, headers, body, signal: linked.signal, redirect: 'error' });
      // The body is read under the same deadline: a server that sends headers and then stalls is a timeout too.
      const text = await res.text();
      return { status: res.status, headers: res.headers, text };
    } catch (err) {
      if (timeout.aborted && !signal?.aborted) throw new TimeoutSignal();
      throw err;
    } finally {
      linked.dispose();
    }
  }

  #url(path: string, query: Record<string, QueryValue> | undefined): string {
    let url = this.#config.baseUrl + path;
    if (query) {
      const params = new URLSearchParams();
      for (const [k, v] of Object.entries(query)) {
        if (v === undefined || v === null) continue;
        if (Array.isArray(v)) for (const item of v as readonly string[]) params.append(k, item);
        else params.append(k, v instanceof Date ? v.toISOString() : String(v));
      }
      const qs = params.toString();
      if (qs) url += '?' + qs;
    }
    return url;
  }

  #headers(req: HttpRequest): Record<string, string> {
    const h: Record<string, string> = {
      accept: 'application/json',
      'user-agent': `latchkey-sdk/${SDK_VERSION}`,
    };
    if (this.#config.tenantId !== undefined) h['x-tenant-id'] = this.#config.tenantId;
    for (const [k, v] of Object.entries({ ...req.headers, ...req.options?.headers })) {
      if (v !== undefined) h[k.toLowerCase()] = v;
    }
    // Set last so that no extra header can replace or duplicate it.
    h.authorization = `Bearer ${this.#config.token}`;
    if (req.body !== undefined) h['content-type'] = 'application/json';
    return h;
  }

  #apiError(status: number, headers: Headers, text: string, label: string): LatchkeyApiError {
    const body = parseJson(text);
    const env = errorFields(body);
    const retryAfterMs = parseRetryAfter(headers.get('retry-after'));
    return apiErrorFor({
      status,
      code: env.code ?? defaultCode(status),
      message: this.#scrub(env.message ?? `${label} answered ${status}`),
      details: this.#scrubDetails(env.details),
      requestId: env.requestId ?? headers.get('x-request-id') ?? undefined,
      retryAfterSeconds: retryAfterMs === undefined ? undefined : Math.ceil(retryAfterMs / 1000),
      body,
    });
  }

  #scrub(text: string): string {
    const token = this.#config.token;
    return token !== '' && text.includes(token) ? text.split(token).join('[redacted]') : text;
  }

  #scrubDetails(details: string | FieldIssue[] | undefined): string | FieldIssue[] | undefined {
    if (typeof details === 'string') return this.#scrub(details);
    return details?.map((i) => ({ path: this.#scrub(i.path), message: this.#scrub(i.message) }));
  }
}

/** Internal marker: the attempt's own deadline fired (as opposed to the caller's signal or the network). */
class TimeoutSignal extends Error {}

function linkSignals(a: AbortSignal, b: AbortSignal | undefined): { signal: AbortSignal; dispose(): void } {
  if (b === undefined) return { signal: a, dispose() {} };
  const controller = new AbortController();
  const abort = (s: AbortSignal) => () => controller.abort(s.reason);
  const onA = abort(a);
  const onB = abort(b);
  if (a.aborted) controller.abort(a.reason);
  else if (b.aborted) controller.abort(b.reason);
  a.addEventListener('abort', onA, { once: true });
  b.addEventListener('abort', onB, { once: true });
  return {
    signal: controller.signal,
    dispose() {
      a.removeEventListener('abort', onA);
      b.removeEventListener('abort', onB);
    },
  };
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function parseJson(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** JSON when the server says so, else the text (e.g. `/metrics`); no body → undefined. */
function parseBody(text: string, headers: Headers, label: string): unknown {
  if (text === '') return undefined;
  const type = headers.get('content-type') ?? '';
  if (!/[/+]json\b/i.test(type)) return text;
  try {
    return JSON.parse(text);
  } catch {
    throw new LatchkeyError(`${label} answered with a body that is not valid JSON`);
  }
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/**
 * Reads the error fields from the native envelope `{ error: { code, message, details, request_id } }`,
 * and, as well as it can, from the dialects' own shapes (`{ code, message }`, `{ detail: [...] }`,
 * `{ success: false, message }`).
 */
function errorFields(body: unknown): { code?: string; message?: string; details?: string | FieldIssue[]; requestId?: string } {
  if (typeof body !== 'object' || body === null) return {};
  const b = body as Record<string, unknown>;
  const e = typeof b.error === 'object' && b.error !== null ? (b.error as Record<string, unknown>) : b;
  const out: { code?: string; message?: string; details?: string | FieldIssue[]; requestId?: string } = {};
  const code = str(e.code) ?? str(b.code);
  if (code !== undefined) out.code = code;
  const message = str(e.message) ?? str(b.message) ?? str(b.detail) ?? str(b.error);
  if (message !== undefined) out.message = message;
  const details = e.details ?? b.detail;
  if (typeof details === 'string') out.details = details;
  else if (Array.isArray(details)) out.details = details.map(toIssue);
  const requestId = str(e.request_id) ?? str(b.request_id) ?? str(b.requestId);
  if (requestId !== undefined) out.requestId = requestId;
  return out;
}

function toIssue(d: unknown): FieldIssue {
  if (typeof d !== 'object' || d === null) return { path: '', message: String(d) };
  const o = d as Record<string, unknown>;
  // FastAPI-style `{ loc: ["body", "name"], msg }` as well as the native `{ path, message }`.
  const path = str(o.path) ?? (Array.isArray(o.loc) ? o.loc.map(String).join('.') : '');
  const message = str(o.message) ?? str(o.msg) ?? 'is invalid';
  return { path, message };
}

function defaultCode(status: number): string {
  const codes: Record<number, string> = {
    400: 'MALFORMED_REQUEST',
    401: 'UNAUTHENTICATED',
    403: 'FORBIDDEN',
    404: 'NOT_FOUND',
    405: 'METHOD_NOT_ALLOWED',
    409: 'CONFLICT',
    412: 'PRECONDITION_FAILED',
    413: 'PAYLOAD_TOO_LARGE',
    415: 'UNSUPPORTED_MEDIA_TYPE',
    422: 'VALIDATION_FAILED',
    429: 'RATE_LIMITED',
    500: 'INTERNAL',
    503: 'UNAVAILABLE',
  };
  return codes[status] ?? `HTTP_${status}`;
}
