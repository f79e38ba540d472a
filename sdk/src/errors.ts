import type { FieldIssue } from './types.js';

/** The codes the server's closed set holds today; any other string may still arrive (dialects, newer servers). */
export type KnownErrorCode =
  | 'INVALID_PARAMETER'
  | 'MALFORMED_REQUEST'
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  | 'CREDENTIAL_NOT_FOUND'
  | 'ACCESS_KEY_NOT_FOUND'
  | 'TENANT_NOT_FOUND'
  | 'AUDIT_EVENT_NOT_FOUND'
  | 'VERSION_NOT_FOUND'
  | 'METHOD_NOT_ALLOWED'
  | 'CONFLICT'
  | 'IDEMPOTENCY_CONFLICT'
  | 'CREDENTIAL_INACTIVE'
  | 'PRECONDITION_FAILED'
  | 'PAYLOAD_TOO_LARGE'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'VALIDATION_FAILED'
  | 'RATE_LIMITED'
  | 'INTERNAL'
  | 'UNAVAILABLE';

/** A known code, or any other string (`string & {}` keeps editor completion for the known ones). */
export type ErrorCode = KnownErrorCode | (string & {});

/** Base of every error this SDK throws, so `catch (e) { if (e instanceof LatchkeyError) … }` catches them all. */
export class LatchkeyError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

export interface ApiErrorInit {
  status: number;
  code: ErrorCode;
  message: string;
  details?: string | FieldIssue[] | undefined;
  requestId?: string | undefined;
  retryAfterSeconds?: number | undefined;
  /** The parsed JSON body (an envelope, or a dialect's own error shape); undefined when the body was not JSON. */
  body?: unknown;
}

/** The server answered with a status >= 400. */
export class LatchkeyApiError extends LatchkeyError {
  readonly status: number;
  readonly code: ErrorCode;
  /** The server's own `message`; `message` is the whole description (status, code, details, request id). */
  readonly serverMessage: string;
  readonly details: string | FieldIssue[] | undefined;
  /** From the envelope's `request_id`, else the `x-request-id` header: quote it when asking for help. */
  readonly requestId: string | undefined;
  /** From `Retry-After`, when the server sent one. */
  readonly retryAfterSeconds: number | undefined;
  readonly body: unknown;

  constructor(init: ApiErrorInit) {
    super(describe(init));
    this.status = init.status;
    this.code = init.code;
    this.serverMessage = init.message;
    this.details = init.details;
    this.requestId = init.requestId;
    this.retryAfterSeconds = init.retryAfterSeconds;
    this.body = init.body;
  }
}

function describe(init: ApiErrorInit): string {
  const details = typeof init.details === 'string' && init.details !== '' ? ` (${init.details})` : '';
  const issues =
    Array.isArray(init.details) && init.details.length > 0 ? `: ${init.details.map((i) => (i.path ? `${i.path} ${i.message}` : i.message)).join('; ')}` : '';
  const rid = init.requestId ? ` [${init.requestId}]` : '';
  return `${init.status} ${init.code}: ${init.message}${details}${issues}${rid}`;
}

/** 400: a bad path or query parameter, or a malformed body. */
export class BadRequestError extends LatchkeyApiError {}
/** 401: missing, malformed, expired, revoked or unknown key or token (the server never says which). */
export class UnauthenticatedError extends LatchkeyApiError {}
/** 403: authenticated, but the role lacks the permission (or the tenant is not the caller's). */
export class ForbiddenError extends LatchkeyApiError {}
/** 404: no such resource in the caller's tenant and view (other tenants' and deleted ones look the same). */
export class NotFoundError extends LatchkeyApiError {}
/** 409: a name, slug or id is taken, an idempotency key was reused, the credential is inactive… */
export class ConflictError extends LatchkeyApiError {}
/** 412: the `If-Match` etag no longer matches: someone else changed the resource first. */
export class PreconditionFailedError extends LatchkeyApiError {}

/** 422: the body broke the contract; `details` lists every issue. */
export class ValidationError extends LatchkeyApiError {
  declare readonly details: FieldIssue[];
  constructor(init: ApiErrorInit) {
    super({ ...init, details: asIssues(init.details) });
  }
}

function asIssues(details: string | FieldIssue[] | undefined): FieldIssue[] {
  if (Array.isArray(details)) return details;
  return typeof details === 'string' && details !== '' ? [{ path: '', message: details }] : [];
}

/** 429: slow down; `retryAfterSeconds` says for how long. Thrown after the retries are spent. */
export class RateLimitedError extends LatchkeyApiError {}
/** 503: the store or key provider is down; nothing was written. */
export class UnavailableError extends LatchkeyApiError {}
/** 500 and other 5xx: the server failed (it never says why on the wire). */
export class InternalServerError extends LatchkeyApiError {}

/** One attempt took longer than `timeoutMs` (after the retries, if the request could be retried). */
export class LatchkeyTimeoutError extends LatchkeyError {
  readonly timeoutMs: number;
  /** The client's `baseUrl`: which server did not answer. */
  readonly baseUrl: string;
  constructor(timeoutMs: number, method: string, baseUrl: string, path: string) {
    super(`${method} ${baseUrl}${path} timed out after ${timeoutMs} ms`);
    this.timeoutMs = timeoutMs;
    this.baseUrl = baseUrl;
  }
}

/** The request never got an answer: refused, reset, DNS failure, TLS failure… `cause` holds the platform error. */
export class LatchkeyConnectionError extends LatchkeyError {
  /** The client's `baseUrl`: which server could not be reached. */
  readonly baseUrl: string;
  /** What went wrong, short: `ECONNREFUSED`, `ENOTFOUND`, a TLS error's message… */
  readonly reason: string;
  constructor(method: string, baseUrl: string, path: string, cause: unknown) {
    const reason = causeText(cause);
    super(`${method} ${baseUrl}${path} failed: ${reason}`, { cause });
    this.baseUrl = baseUrl;
    this.reason = reason;
  }
}

function causeText(cause: unknown): string {
  const inner = (cause as { cause?: { code?: unknown; message?: unknown } } | undefined)?.cause;
  if (inner && typeof inner.code === 'string') return inner.code;
  if (cause instanceof Error) return cause.message;
  return 'network error';
}

const BY_STATUS: Record<number, new (init: ApiErrorInit) => LatchkeyApiError> = {
  400: BadRequestError,
  401: UnauthenticatedError,
  403: ForbiddenError,
  404: NotFoundError,
  409: ConflictError,
  412: PreconditionFailedError,
  422: ValidationError,
  429: RateLimitedError,
  503: UnavailableError,
};

/** The error class for a status: the table above, else a 5xx → InternalServerError, else the base class. */
export function apiErrorFor(init: ApiErrorInit): LatchkeyApiError {
  const Class = BY_STATUS[init.status] ?? (init.status >= 500 ? InternalServerError : LatchkeyApiError);
  return new Class(init);
}
