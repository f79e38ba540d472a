import { EGRESS_REFUSED_MESSAGE, EgressFailed, EgressRefused } from '../../egress/egress-guard.js';
import { LatchkeyError } from '../../domain/errors.js';
import { describeRemoteFailure, type RemoteFailure } from '../../domain/remote-failure.js';
import { ProviderError, type ProviderFailure } from './token-client.js';

/** The credential cannot get a token by itself (no refresh token, not client_credentials). */
export class NothingToRefreshWith extends Error {
  override name = 'NothingToRefreshWith';
}

/** The ID token did not belong to this authorization (nonce) or client (aud). The message is ours. */
export class IdTokenMismatch extends Error {
  override name = 'IdTokenMismatch';
}

export interface ClassifiedFailure {
  /** What the API answers. */
  error: LatchkeyError;
  /** What goes into the credential's `last_error`: a category, a status code and our words only. */
  lastError: string;
  /** A short code for redirects and audit reasons: the category (and status), or our own code. */
  code: string;
  failure: ProviderFailure;
  /** How the outbound call failed; null when none was made (nothing to refresh with). */
  remote: RemoteFailure | null;
}

/**
 * Failures of a token call, in the closed error set. A provider that refuses is a 409 (the
 * credential's state conflicts with the request: it must be reconnected or fixed), a provider
 * that cannot be reached is a 503 to retry, a destination the egress policy refuses (or a name
 * that does not resolve: the two look the same) is a 422 on the field that names it. Messages
 * carry a category and a status code, never a token or the provider's text.
 */
export function classifyFailure(err: unknown, field = 'config.token_endpoint'): ClassifiedFailure | null {
  if (err instanceof EgressRefused) {
    const remote: RemoteFailure = { category: 'refused', status: null };
    return {
      error: new LatchkeyError('VALIDATION_FAILED', [{ path: field, message: EGRESS_REFUSED_MESSAGE }]),
      lastError: 'refused: the token endpoint is not an allowed egress target',
      code: describeRemoteFailure(remote),
      // A name that does not resolve now may resolve later: the scheduler retries it, quietly.
      failure: err.unresolved ? 'transient' : 'rejected',
      remote,
    };
  }
  if (err instanceof EgressFailed) {
    const remote: RemoteFailure = { category: err.category, status: null };
    return {
      error: new LatchkeyError('UNAVAILABLE', `The token endpoint could not be reached (${err.category})`, { retryAfterSeconds: 5 }),
      lastError: `${err.category}: the token endpoint could not be reached; retrying with backoff`,
      code: describeRemoteFailure(remote),
      failure: 'transient',
      remote,
    };
  }
  if (err instanceof ProviderError) {
    const what = describeRemoteFailure(err.remote);
    const base = { code: what, failure: err.failure, remote: err.remote };
    if (err.failure === 'invalid_grant') {
      return {
        ...base,
        error: new LatchkeyError('CONFLICT', `The provider refused the grant (${what}): reconnect the credential`),
        lastError: `${what}: the provider refused the grant; reconnect the credential`,
      };
    }
    if (err.failure === 'rejected') {
      return {
        ...base,
        error: new LatchkeyError('CONFLICT', `The provider refused the request (${what})`),
        lastError: `${what}: the provider refused the request`,
      };
    }
    return {
      ...base,
      error: new LatchkeyError('UNAVAILABLE', `The provider failed (${what})`, { retryAfterSeconds: 5 }),
      lastError: `${what}: the provider failed; retrying with backoff`,
    };
  }
  if (err instanceof NothingToRefreshWith) {
    return {
      error: new LatchkeyError('VALIDATION_FAILED', [
        { path: 'secret.refresh_token', message: 'is required to refresh (or use config.grant_type client_credentials); reconnect the credential' },
      ]),
      lastError: 'no refresh token: reconnect the credential',
      code: 'no_refresh_token',
      failure: 'rejected',
      remote: null,
    };
  }
  if (err instanceof IdTokenMismatch) {
    return {
      error: new LatchkeyError('CONFLICT', `The provider's ID token does not belong to this authorization (${err.message})`),
      lastError: `bad_response: the ID token does not belong to this authorization (${err.message})`,
      code: 'bad_response',
      failure: 'rejected',
      remote: { category: 'bad_response', status: null },
    };
  }
  return null;
}
