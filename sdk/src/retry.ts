/**
 * When to try a request again and how long to wait first. Pure functions, so the policy is
 * tested without a clock; the transport does the sleeping.
 */

export interface RetryPolicy {
  /** Retries after the first attempt (0 = never retry). */
  maxRetries: number;
  /** Backoff ceiling of the first retry; doubles per retry. */
  baseDelayMs: number;
  /** No single wait is longer than this. A `Retry-After` beyond it is not waited out: the error is thrown. */
  maxDelayMs: number;
}

/** Statuses that mean "the request was not carried out, try later" (never a partial write): 429 and 503. */
export function isRetryableStatus(status: number): boolean {
  return status === 429 || status === 503;
}

/**
 * Whether a request whose outcome is unknown (network error, timeout) may be sent again: the
 * methods HTTP defines as idempotent, and a POST carrying an `Idempotency-Key` (the server
 * answers a repeat with the first response). PATCH and a bare POST could apply twice.
 */
export function isSafeToResend(method: string, hasIdempotencyKey: boolean): boolean {
  const m = method.toUpperCase();
  if (m === 'GET' || m === 'HEAD' || m === 'OPTIONS' || m === 'PUT' || m === 'DELETE') return true;
  return m === 'POST' && hasIdempotencyKey;
}

/**
 * `Retry-After` as milliseconds: delta-seconds (RFC 9110 §10.2.3) or an HTTP-date. Undefined when
 * absent or unreadable; never negative (a date in the past means "now").
 */
export function parseRetryAfter(value: string | null | undefined, now: number = Date.now()): number | undefined {
  if (value === null || value === undefined) return undefined;
  const v = value.trim();
  if (v === '') return undefined;
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  if (/^\d+\.\d+$/.test(v)) return Math.round(Number(v) * 1000); // not RFC, but some servers send it
  const at = Date.parse(v);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

/**
 * Milliseconds to wait before retry number `retry` (0 for the first retry), or `null` to give up.
 *
 * Without `Retry-After`: "full jitter" (AWS Architecture Blog, "Exponential Backoff and Jitter"):
 * uniform in [0, min(maxDelay, base * 2^retry)], which spreads a crowd of clients best.
 * With `Retry-After`: wait at least that long, plus up to 10 % (at most 1 s) of jitter so the
 * crowd does not come back in the same millisecond; if the server asks for more than
 * `maxDelayMs`, give up at once rather than sleep through it or come back too early.
 */
export function retryDelayMs(retry: number, policy: RetryPolicy, retryAfterMs: number | undefined, random: () => number = Math.random): number | null {
  if (retry >= policy.maxRetries) return null;
  if (retryAfterMs !== undefined && retryAfterMs > 0) {
    if (retryAfterMs > policy.maxDelayMs) return null;
    const jitter = random() * Math.min(1000, retryAfterMs * 0.1);
    return Math.min(policy.maxDelayMs, Math.ceil(retryAfterMs + jitter));
  }
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** retry);
  return Math.floor(random() * ceiling);
}
