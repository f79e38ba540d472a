import { EgressFailed, EgressRefused } from '../../egress/egress-guard.js';
import { LatchkeyError } from '../../domain/errors.js';
import { ProviderError, type ProviderFailure } from './token-client.js';

/** The credential cannot get a token by itself (no refresh token, not client_credentials). */
export class NothingToRefreshWith extends Error {
  override name = 'NothingToRefreshWith';
}

/** The ID token did not belong to this authorization (nonce) or client (aud). */
export class IdTokenMismatch extends Error {
  override name = 'IdTokenMismatch';
}

export interface ClassifiedFailure {
  /** What the API answers. */
  error: LatchkeyError;
  /** What goes into the credential's `last_error` and the audit reason: codes and our words only. */
  lastError: string;
  /** A short code for redirects and audit reasons. */
  code: string;
  failure: ProviderFailure;
}

/**
 * Failures of a token call, in the closed error set. A provider that refuses is a 409 (the
 * credential's state conflicts with the request: it must be reconnected or fixed), a provider
 * that cannot be reached is a 503 to retry, a destination the egress policy refuses is a 422 on
 * the field that names it. Messages never carry a token or the provider's free text.
 */
export function classifyFailure(err: unknown, field = 'config.token_endpoint'): ClassifiedFailure | null {
  if (err instanceof EgressRefused) {
    return {
      error: new LatchkeyError('VALIDATION_FAILED', [{ path: field, message: `is not an allowed egress target: ${err.reason}` }]),
      lastError: `egress refused: ${err.reason}`,
      code: 'egress_refused',
      failure: 'rejected',
    };
  }
  if (err instanceof EgressFailed) {
    return {
      error: new LatchkeyError('UNAVAILABLE', `The token endpoint could not be reached (${err.kind})`, { retryAfterSeconds: 5 }),
      lastError: `token endpoint unreachable: ${err.message}`,
      code: `unreachable_${err.kind}`,
      failure: 'transient',
    };
  }
  if (err instanceof ProviderError) {
    if (err.failure === 'invalid_grant') {
      return {
        error: new LatchkeyError('CONFLICT', `The provider refused the grant (${err.code}): reconnect the credential`),
        lastError: `${err.code}: the provider refused the grant; reconnect the credential`,
        code: err.code,
        failure: 'invalid_grant',
      };
    }
    if (err.failure === 'rejected') {
      return {
        error: new LatchkeyError('CONFLICT', `The provider refused the request (${err.code}, HTTP ${err.status})`),
        lastError: `${err.code}: the provider refused the request (HTTP ${err.status})`,
        code: err.code,
        failure: 'rejected',
      };
    }
    return {
      error: new LatchkeyError('UNAVAILABLE', `The provider failed (${err.code}, HTTP ${err.status})`, { retryAfterSeconds: 5 }),
      lastError: `${err.code}: the provider failed (HTTP ${err.status}); retrying with backoff`,
      code: err.code,
      failure: 'transient',
    };
  }
  if (err instanceof NothingToRefreshWith) {
    return {
      error: new LatchkeyError('VALIDATION_FAILED', [{ path: 'secret.refresh_token', message: 'is required to refresh (or use config.grant_type client_credentials); reconnect the credential' }]),
      lastError: 'no refresh token: reconnect the credential',
      code: 'no_refresh_token',
      failure: 'rejected',
    };
  }
  if (err instanceof IdTokenMismatch) {
    return {
      error: new LatchkeyError('CONFLICT', `The provider's ID token does not belong to this authorization (${err.message})`),
      lastError: `id token mismatch: ${err.message}`,
      code: 'invalid_id_token',
      failure: 'rejected',
    };
  }
  return null;
}
