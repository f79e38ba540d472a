/**
 * How an outbound call failed, as far as anyone is told. A remote server's own words never get
 * past this: an attacker who can aim a call (or who runs the server it reaches) chooses them, and
 * a server that quotes what it was sent — an SMTP 535 echoing `AUTH PLAIN` in base64, a token
 * endpoint repeating the refresh token — would otherwise put a secret into a response, a log
 * line, `last_error` or the audit chain. So every outbound call reports one of these categories
 * and, when the remote answered, its numeric status code; nothing else.
 */
export const REMOTE_FAILURE_CATEGORIES = ['auth_failed', 'connect_failed', 'tls_failed', 'timeout', 'refused', 'bad_response'] as const;

/**
 * - `auth_failed`: the remote refused the credential (SMTP 535, HTTP 401/403, OAuth `invalid_grant`/`invalid_client`);
 * - `connect_failed`: no connection (refused, reset, unreachable);
 * - `tls_failed`: the TLS handshake or the server's certificate check failed;
 * - `timeout`: the call's deadline passed;
 * - `refused`: the egress guard refused the destination (no status), or the remote refused the request for another reason;
 * - `bad_response`: the remote failed or answered something unusable (HTTP 5xx, an unparseable or oversized body, bad redirects).
 */
export type RemoteFailureCategory = (typeof REMOTE_FAILURE_CATEGORIES)[number];

export interface RemoteFailure {
  category: RemoteFailureCategory;
  /** The remote's status code (SMTP reply code, HTTP status), or null when it never answered. */
  status: number | null;
}

/** Node's TLS and certificate error codes (`ERR_TLS_*`, `ERR_SSL_*`, OpenSSL's X509 names). */
const TLS_CODE = /^(ERR_TLS_|ERR_SSL_|EPROTO$|CERT_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_|HOSTNAME_MISMATCH|ERR_OSSL_)/;

/** The category of a socket-level error code (`err.code` of a failed connection). */
export function categoryOfSocketError(code: string | undefined): 'connect_failed' | 'tls_failed' | 'timeout' {
  if (code === undefined) return 'connect_failed';
  if (code === 'ETIMEDOUT' || code === 'ABORT_ERR') return 'timeout';
  if (TLS_CODE.test(code)) return 'tls_failed';
  return 'connect_failed';
}

/** `auth_failed (SMTP 535)`: the one text form, for `last_error`, audit reasons and logs. */
export function describeRemoteFailure(f: RemoteFailure, protocol: 'HTTP' | 'SMTP' = 'HTTP'): string {
  return f.status === null ? f.category : `${f.category} (${protocol} ${f.status})`;
}

/** A status code as received, kept only when it is a plain number in the protocol's range. */
export function remoteStatus(value: unknown): number | null {
  return typeof value === 'number' && Number.isInteger(value) && value >= 100 && value <= 999 ? value : null;
}
