import { randomUUID } from 'node:crypto';

/**
 * The CLI's HTTP client for the native API.
 *
 * Why not the SDK (`sdk/src`)? The root tsconfig compiles `src/` with `rootDir: src`, and tsc
 * refuses any source file outside it (TS6059), type-only imports included; importing the SDK's
 * built `sdk/dist` instead would make `npm run build` depend on a second build that nothing runs
 * (sdk/dist is git-ignored). So this module mirrors the SDK calls the CLI needs — same resource
 * and method names (`credentials.reveal(id, { version })`, `auditEvents.listPage({ cursor })`…),
 * same error fields (`code`, `requestId`), same retry rule (429/503 honouring `Retry-After`;
 * only requests that are safe to resend) — so moving to `@latchkey/sdk` once it is a workspace
 * package is a change of imports, not of commands.
 */

export const CLI_VERSION = '0.1.0';

export type Json = Record<string, unknown>;

/** The credential object (metadata; never a secret). Only the fields the CLI reads are typed. */
export interface Credential extends Json {
  id: string;
  name: string;
  slug: string;
  type: string;
  status: 'active' | 'inactive' | 'deactivated';
  version: number;
  config: Json;
  secret_fields: string[];
  team_id: string | null;
  folder_id: string | null;
  shared_team_slugs: string[];
  test_credential_enabled: boolean;
  deactivation_time: string | null;
  updated_at: string;
}

export interface RevealedCredential extends Credential {
  secret: Json;
  test_secret?: Json;
}

export interface CredentialVersion {
  version: number;
  stage: 'current' | 'previous' | 'pending' | 'deprecated';
  expires_at: string | null;
  has_test_secret: boolean;
  created_at: string;
}

export interface ListPage<T> {
  data: T[];
  total?: number;
  next_cursor: string | null;
}

export interface AccessKey extends Json {
  id: string;
  name: string;
  role: string;
  prefix: string;
}

export interface AuditEvent extends Json {
  id: string;
  at: string;
  action: string;
  outcome: string;
  actor: { type: string; id: string; name: string };
  target: { type: string; id: string | null };
  request_id: string;
}

export interface Team {
  id: string;
  slug: string;
  name: string;
}

export interface Folder {
  id: string;
  team_id: string;
  name: string;
}

export interface CredentialType extends Json {
  id: string;
  config_schema?: Json;
  secret_schema?: Json;
}

/** The server answered with a status >= 400 (the error envelope's fields). */
export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: unknown,
    readonly requestId: string | undefined,
  ) {
    super(message);
  }
}

/** No answer at all: refused, reset, DNS, TLS, timeout. */
export class ConnectionError extends Error {
  override name = 'ConnectionError';
}

export interface ClientOptions {
  baseUrl: string;
  /** '' sends no Authorization header (public endpoints such as /readyz). */
  token: string;
  tenantId?: string | undefined;
  timeoutMs?: number;
  maxRetries?: number;
}

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
type QueryValue = string | number | boolean | undefined | null;

interface Call {
  method: Method;
  path: string;
  query?: Record<string, QueryValue>;
  body?: unknown;
  headers?: Record<string, string>;
  /** Answer statuses that are not errors for this call (`/readyz` answers 503 with its report). */
  accept?: number[];
}

/** A request the CLI will not send, because its URL would not say what the command meant. */
export class UnsendableRequest extends Error {
  override name = 'UnsendableRequest';
}

/**
 * `/v1/credentials/{id}` with every segment encoded: a typo must not change the path. A segment
 * of dots alone cannot be encoded at all (URL parsers resolve `.`, `..` and their `%2e` forms
 * away: `credentials reveal .` asked for `/v1/credentials/secret`), so it is refused.
 */
const pathOf = (...segments: Array<string | number>): string =>
  '/' + segments.map((s) => {
    if (/^\.+$/.test(String(s))) throw new UnsendableRequest(`"${String(s)}" cannot be sent as an id in a URL path (it would name another resource)`);
    return encodeURIComponent(String(s));
  }).join('/');

const filterQuery = (filter: Record<string, QueryValue> | undefined): Record<string, QueryValue> =>
  Object.fromEntries(Object.entries(filter ?? {}).filter(([, v]) => v !== undefined && v !== null).map(([k, v]) => [`filter[${k}]`, v]));

/** Walks a list by `next_cursor`, page by page as the caller consumes it. */
async function* byCursor<T>(fetchPage: (cursor: string | undefined) => Promise<ListPage<T>>): AsyncGenerator<ListPage<T>> {
  let cursor: string | undefined;
  const seen = new Set<string>();
  for (;;) {
    const page = await fetchPage(cursor);
    yield page;
    if (!page.next_cursor || page.data.length === 0) return;
    if (seen.has(page.next_cursor)) throw new ConnectionError('the server repeated a pagination cursor');
    seen.add(page.next_cursor);
    cursor = page.next_cursor;
  }
}

export class ApiClient {
  readonly baseUrl: string;
  readonly #token: string;
  readonly #tenantId: string | undefined;
  readonly #timeoutMs: number;
  readonly #maxRetries: number;

  constructor(opts: ClientOptions) {
    this.baseUrl = opts.baseUrl.replace(/\/+$/, '');
    this.#token = opts.token;
    this.#tenantId = opts.tenantId;
    this.#timeoutMs = opts.timeoutMs ?? 30_000;
    this.#maxRetries = opts.maxRetries ?? 3;
  }

  readonly credentials = {
    listPage: (o: { filter?: Record<string, QueryValue>; perPage?: number; cursor?: string } = {}) =>
      this.#json<ListPage<Credential>>({ method: 'GET', path: '/v1/credentials', query: { per_page: o.perPage, cursor: o.cursor, ...filterQuery(o.filter) } }),
    pages: (o: { filter?: Record<string, QueryValue>; perPage?: number } = {}) =>
      byCursor((cursor) => this.credentials.listPage({ ...o, ...(cursor === undefined ? {} : { cursor }) })),
    get: (id: string) => this.#json<Credential>({ method: 'GET', path: pathOf('v1', 'credentials', id) }),
    create: (body: Json) => this.#json<Credential & { generated_secret?: Json }>({ method: 'POST', path: '/v1/credentials', body, headers: { 'idempotency-key': randomUUID() } }),
    put: (id: string, body: Json) => this.#json<Credential & { generated_secret?: Json }>({ method: 'PUT', path: pathOf('v1', 'credentials', id), body }),
    update: (id: string, patch: Json, ifMatch?: string) =>
      this.#json<Credential>({ method: 'PATCH', path: pathOf('v1', 'credentials', id), body: patch, headers: ifMatch ? { 'if-match': ifMatch } : {} }),
    delete: (id: string, o: { purge?: boolean } = {}) =>
      this.#json<undefined>({ method: 'DELETE', path: pathOf('v1', 'credentials', id), query: { purge: o.purge ? true : undefined } }),
    reveal: (id: string, o: { version?: number; variant?: 'main' | 'test'; allowInactive?: boolean } = {}) =>
      this.#json<RevealedCredential>({
        method: 'GET', path: pathOf('v1', 'credentials', id, 'secret'),
        query: { version: o.version, variant: o.variant, allow_inactive: o.allowInactive ? true : undefined },
      }),
    rotate: (id: string, o: { secret?: Json; gracePeriodSeconds?: number } = {}) =>
      this.#json<Credential & { generated_secret?: Json }>({
        method: 'POST', path: pathOf('v1', 'credentials', id, 'rotate'), headers: { 'idempotency-key': randomUUID() },
        body: { ...(o.secret !== undefined ? { secret: o.secret } : {}), ...(o.gracePeriodSeconds !== undefined ? { grace_period_seconds: o.gracePeriodSeconds } : {}) },
      }),
    versions: async (id: string) => (await this.#json<{ data: CredentialVersion[] }>({ method: 'GET', path: pathOf('v1', 'credentials', id, 'versions') })).data,
    types: async () => (await this.#json<{ data: CredentialType[] }>({ method: 'GET', path: '/v1/credential-types' })).data,
  };

  readonly accessKeys = {
    pages: (o: { filter?: Record<string, QueryValue> } = {}) =>
      byCursor((cursor) => this.#json<ListPage<AccessKey>>({ method: 'GET', path: '/v1/access-keys', query: { per_page: 100, cursor, ...filterQuery(o.filter) } })),
    create: (body: Json) => this.#json<AccessKey & { key: string }>({ method: 'POST', path: '/v1/access-keys', body, headers: { 'idempotency-key': randomUUID() } }),
    revoke: (id: string) => this.#json<undefined>({ method: 'DELETE', path: pathOf('v1', 'access-keys', id) }),
  };

  readonly auditEvents = {
    listPage: (o: { filter?: Record<string, QueryValue>; perPage?: number; cursor?: string } = {}) =>
      this.#json<ListPage<AuditEvent>>({ method: 'GET', path: '/v1/audit-events', query: { per_page: o.perPage, cursor: o.cursor, ...filterQuery(o.filter) } }),
    pages: (o: { filter?: Record<string, QueryValue>; perPage?: number } = {}) =>
      byCursor((cursor) => this.auditEvents.listPage({ ...o, ...(cursor === undefined ? {} : { cursor }) })),
    verify: () => this.#json<{ ok: boolean; events_checked: number; first_bad_event_id?: string; problem?: string } & Json>({ method: 'GET', path: '/v1/audit-events/verify' }),
  };

  readonly tenants = {
    list: async () => (await this.#json<{ data: Array<{ id: string; name: string }> }>({ method: 'GET', path: '/v1/tenants' })).data,
  };

  readonly teams = {
    list: async () => (await this.#json<{ data: Team[] }>({ method: 'GET', path: '/v1/teams' })).data,
    create: (body: { name: string; slug: string }) => this.#json<Team>({ method: 'POST', path: '/v1/teams', body, headers: { 'idempotency-key': randomUUID() } }),
    listFolders: async () => (await this.#json<{ data: Folder[] }>({ method: 'GET', path: '/v1/folders' })).data,
    createFolder: (body: { name: string; team_id: string }) => this.#json<Folder>({ method: 'POST', path: '/v1/folders', body, headers: { 'idempotency-key': randomUUID() } }),
  };

  /** `GET /readyz`: public; answers 503 with the same report when something is down. */
  readyz(): Promise<{ status: number; body: Json }> {
    return this.#send({ method: 'GET', path: '/readyz', accept: [503] }).then(({ status, body }) => ({ status, body: (body ?? {}) as Json }));
  }

  async #json<T>(call: Call): Promise<T> {
    return (await this.#send(call)).body as T;
  }

  async #send(call: Call): Promise<{ status: number; body: unknown }> {
    const url = new URL(this.baseUrl + call.path);
    for (const [k, v] of Object.entries(call.query ?? {})) if (v !== undefined && v !== null) url.searchParams.append(k, String(v));
    const headers: Record<string, string> = { accept: 'application/json', 'user-agent': `latchkey-cli/${CLI_VERSION}`, ...call.headers };
    if (this.#tenantId) headers['x-tenant-id'] = this.#tenantId;
    if (this.#token !== '') headers.authorization = `Bearer ${this.#token}`;
    const body = call.body === undefined ? undefined : JSON.stringify(call.body);
    if (body !== undefined) headers['content-type'] = 'application/json';
    // Unknown outcome (network error) may be resent only when the server would not apply it twice.
    const resendable = call.method !== 'PATCH' && (call.method !== 'POST' || headers['idempotency-key'] !== undefined);
    const label = `${call.method} ${call.path}`;

    for (let attempt = 0; ; attempt++) {
      let res: Response;
      let text: string;
      try {
        res = await fetch(url, { method: call.method, headers, body, redirect: 'error', signal: AbortSignal.timeout(this.#timeoutMs) });
        text = await res.text();
      } catch (err) {
        if (resendable && attempt < this.#maxRetries) {
          await sleep(backoff(attempt));
          continue;
        }
        throw new ConnectionError(`cannot reach ${this.baseUrl} (${label}): ${causeOf(err)}`);
      }
      const parsed = parseJson(text);
      if (res.status < 400 || call.accept?.includes(res.status)) {
        if (text !== '' && parsed === undefined && /json/.test(res.headers.get('content-type') ?? '')) {
          throw new ConnectionError(`${label}: the server sent a body that is not valid JSON`);
        }
        return { status: res.status, body: parsed };
      }
      if ((res.status === 429 || res.status === 503) && attempt < this.#maxRetries) {
        const after = retryAfterMs(res.headers.get('retry-after'));
        if (after === undefined || after <= 30_000) {
          await sleep(after ?? backoff(attempt));
          continue;
        }
      }
      throw this.#apiError(res, parsed, label);
    }
  }

  #apiError(res: Response, body: unknown, label: string): ApiError {
    const env = typeof body === 'object' && body !== null ? (body as Json) : {};
    const e = typeof env.error === 'object' && env.error !== null ? (env.error as Json) : env;
    const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
    // A misbehaving proxy could echo the Authorization header back: never print the token.
    const scrub = (s: string) => (this.#token === '' ? s : s.split(this.#token).join('[redacted]'));
    return new ApiError(
      res.status,
      str(e.code) ?? `HTTP_${res.status}`,
      scrub(str(e.message) ?? `${label} answered ${res.status}`),
      e.details,
      str(e.request_id) ?? res.headers.get('x-request-id') ?? undefined,
    );
  }
}

function parseJson(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function causeOf(err: unknown): string {
  if (err instanceof Error && err.name === 'TimeoutError') return 'timed out';
  const inner = (err as { cause?: { code?: unknown; message?: unknown } } | undefined)?.cause;
  if (inner && typeof inner.code === 'string') return inner.code;
  if (inner && typeof inner.message === 'string') return inner.message;
  return err instanceof Error ? err.message : 'network error';
}

/** Full jitter (AWS "Exponential Backoff and Jitter"), 250 ms doubling. */
const backoff = (attempt: number): number => Math.floor(Math.random() * Math.min(8_000, 250 * 2 ** attempt));

function retryAfterMs(v: string | null): number | undefined {
  if (v === null || v.trim() === '') return undefined;
  if (/^\d+$/.test(v.trim())) return Number(v.trim()) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
