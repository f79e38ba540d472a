import { LatchkeyError } from '../../domain/errors.js';
import { describeRemoteFailure, type RemoteFailure } from '../../domain/remote-failure.js';
import { EGRESS_REFUSED_MESSAGE, EgressFailed, EgressRefused } from '../../egress/egress-guard.js';

/**
 * A remote that was asked for a token (STS, a request chain's endpoint) and did not give one.
 * Only the category and status are known to anyone (domain/remote-failure.ts): the remote's
 * text may quote what it was sent.
 */
export class TokenSourceFailed extends Error {
  override name = 'TokenSourceFailed';
  constructor(readonly remote: RemoteFailure) {
    super(`token source answered ${describeRemoteFailure(remote)}`);
  }
}

/** The category of an HTTP answer that is not a success. */
export function failureOfStatus(status: number): RemoteFailure {
  return { category: status === 401 || status === 403 ? 'auth_failed' : status >= 500 ? 'bad_response' : 'refused', status };
}

/** Any failure of obtaining a token as the caller is told it: a refusal is 403, a timeout 504, the rest 502. */
export function tokenFailure(err: unknown, source: string): unknown {
  if (err instanceof EgressRefused) return new LatchkeyError('FORBIDDEN', `The ${source} ${EGRESS_REFUSED_MESSAGE}`);
  if (err instanceof EgressFailed) {
    if (err.category === 'timeout') return new LatchkeyError('UPSTREAM_TIMEOUT', `No answer from the ${source} in time`);
    return new LatchkeyError('UPSTREAM_FAILED', `The ${source} could not be used: ${err.category}`);
  }
  if (err instanceof TokenSourceFailed)
    return new LatchkeyError('UPSTREAM_FAILED', `The ${source} did not issue a token: ${describeRemoteFailure(err.remote)}`);
  return err;
}
