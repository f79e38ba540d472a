/** The closed set of error codes and the one table that maps them to HTTP statuses. */
export const ERROR_STATUS = {
  INVALID_PARAMETER: 400,
  MALFORMED_REQUEST: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CREDENTIAL_NOT_FOUND: 404,
  ACCESS_KEY_NOT_FOUND: 404,
  TENANT_NOT_FOUND: 404,
  AUDIT_EVENT_NOT_FOUND: 404,
  WEBHOOK_NOT_FOUND: 404,
  VERSION_NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  CONFLICT: 409,
  IDEMPOTENCY_CONFLICT: 409,
  CREDENTIAL_INACTIVE: 409,
  PRECONDITION_FAILED: 412,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  VALIDATION_FAILED: 422,
  RATE_LIMITED: 429,
  INTERNAL: 500,
  UPSTREAM_FAILED: 502,
  UNAVAILABLE: 503,
  UPSTREAM_TIMEOUT: 504,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export interface FieldIssue {
  path: string;
  message: string;
}

const DEFAULT_MESSAGES: Record<ErrorCode, string> = {
  INVALID_PARAMETER: 'Invalid parameter',
  MALFORMED_REQUEST: 'Malformed request',
  UNAUTHENTICATED: 'Authentication required',
  FORBIDDEN: 'Forbidden',
  NOT_FOUND: 'Not found',
  CREDENTIAL_NOT_FOUND: 'Credential not found',
  ACCESS_KEY_NOT_FOUND: 'Access key not found',
  TENANT_NOT_FOUND: 'Tenant not found',
  AUDIT_EVENT_NOT_FOUND: 'Audit event not found',
  WEBHOOK_NOT_FOUND: 'Webhook not found',
  VERSION_NOT_FOUND: 'Version not found',
  METHOD_NOT_ALLOWED: 'Method not allowed',
  CONFLICT: 'Conflict',
  IDEMPOTENCY_CONFLICT: 'Idempotency key reused with a different request',
  CREDENTIAL_INACTIVE: 'Credential is not active',
  PRECONDITION_FAILED: 'Precondition failed',
  PAYLOAD_TOO_LARGE: 'Payload too large',
  UNSUPPORTED_MEDIA_TYPE: 'Unsupported media type',
  VALIDATION_FAILED: 'Validation failed',
  RATE_LIMITED: 'Too many requests',
  INTERNAL: 'Internal error',
  UPSTREAM_FAILED: 'The proxied request did not get a usable answer',
  UNAVAILABLE: 'Service unavailable',
  UPSTREAM_TIMEOUT: 'The proxied request timed out',
};

/**
 * Every failure a service reports. `details` is shown to the caller, so it must never hold a
 * secret or an internal message: callers build it from ids and field paths only.
 */
export class LatchkeyError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: string | FieldIssue[] | undefined;
  readonly retryAfterSeconds: number | undefined;

  constructor(code: ErrorCode, details?: string | FieldIssue[], opts: { message?: string; retryAfterSeconds?: number; cause?: unknown } = {}) {
    // A caller's mistake (4xx) is answered and never logged with its frames: capturing a stack
    // for each one was 6 % of a 401, which a flood of bad keys pays per request.
    const stackTraceLimit = Error.stackTraceLimit;
    if (ERROR_STATUS[code] < 500) Error.stackTraceLimit = 0;
    try {
      super(opts.message ?? DEFAULT_MESSAGES[code], opts.cause === undefined ? undefined : { cause: opts.cause });
    } finally {
      Error.stackTraceLimit = stackTraceLimit;
    }
    this.name = 'LatchkeyError';
    this.code = code;
    this.status = ERROR_STATUS[code];
    this.details = details;
    this.retryAfterSeconds = opts.retryAfterSeconds;
  }
}

export function isLatchkeyError(err: unknown): err is LatchkeyError {
  return err instanceof LatchkeyError;
}

export function validationFailed(issues: FieldIssue[]): LatchkeyError {
  return new LatchkeyError('VALIDATION_FAILED', issues);
}
