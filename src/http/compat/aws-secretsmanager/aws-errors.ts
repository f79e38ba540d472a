import { LatchkeyError, type ErrorCode } from '../../../domain/errors.js';

/**
 * An error in AWS's JSON 1.1 shape: `{ "__type": <name>, "message": … }` with the status AWS
 * uses (400 for client errors of this protocol, 500/503 for the server's). The SDK turns the
 * name into its typed exception (`ResourceNotFoundException`, …) or a service exception with
 * that name (`AccessDeniedException`, `ThrottlingException`, …).
 */
export class AwsError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

export const secretNotFound = (): AwsError => new AwsError('ResourceNotFoundException', "Secrets Manager can't find the specified secret.");
export const valueNotFound = (what: string): AwsError =>
  new AwsError('ResourceNotFoundException', `Secrets Manager can't find the specified secret value for ${what}.`);
export const invalidParameter = (message: string): AwsError => new AwsError('InvalidParameterException', message);
export const invalidRequest = (message: string): AwsError => new AwsError('InvalidRequestException', message);

/**
 * Native errors in AWS's names. Messages are fixed per code (plus field paths for validation):
 * a service message can name ids, never values, but the dialect does not rely on it.
 */
const BY_CODE: Partial<Record<ErrorCode, (e: LatchkeyError) => AwsError>> = {
  CREDENTIAL_NOT_FOUND: secretNotFound,
  VERSION_NOT_FOUND: () => valueNotFound('the version you asked for'),
  NOT_FOUND: secretNotFound,
  FORBIDDEN: (e) =>
    new AwsError(
      'AccessDeniedException',
      `User is not authorized to perform this operation: ${e.message.startsWith('Role ') ? e.message : 'the key may not act on this secret'}`,
    ),
  UNAUTHENTICATED: () => new AwsError('UnrecognizedClientException', 'The security token included in the request is invalid.'),
  VALIDATION_FAILED: (e) =>
    invalidParameter(
      `Invalid value for ${(e.details as Array<{ path: string; message: string }> | undefined)?.map((i) => `${i.path} (${i.message})`).join(', ') ?? 'a parameter'}`,
    ),
  INVALID_PARAMETER: (e) => invalidParameter(e.message),
  MALFORMED_REQUEST: () => new AwsError('SerializationException', 'The request body could not be read as JSON.'),
  PAYLOAD_TOO_LARGE: () => invalidParameter('The request is too large.'),
  CONFLICT: (e) => invalidRequest(e.message),
  IDEMPOTENCY_CONFLICT: () => new AwsError('ResourceExistsException', 'A request with this ClientRequestToken and different contents was already made.'),
  CREDENTIAL_INACTIVE: () => invalidRequest('The secret is not active (its Latchkey status is inactive or deactivated).'),
  PRECONDITION_FAILED: () => invalidRequest('The secret changed while this request ran; try again.'),
  RATE_LIMITED: () => new AwsError('ThrottlingException', 'Rate exceeded'),
  UNAVAILABLE: () => new AwsError('ServiceUnavailable', 'The service is unavailable; try again.', 503),
};

export function toAwsError(err: unknown): AwsError {
  if (err instanceof AwsError) return err;
  if (err instanceof LatchkeyError) {
    const map = BY_CODE[err.code];
    if (map) return map(err);
  }
  // Fastify's own errors (a body too large, a content type it has no parser for).
  const status = (err as { statusCode?: number }).statusCode;
  if (status === 413) return invalidParameter('The request is too large.');
  if (status === 415) return new AwsError('SerializationException', 'Content-Type must be application/x-amz-json-1.1.');
  // Fastify's request validation (a missing or malformed X-Amz-Target header).
  if (status !== undefined && status >= 400 && status < 500)
    return invalidParameter('Not a Secrets Manager request: send POST / with X-Amz-Target: secretsmanager.<Operation>.');
  return new AwsError('InternalServiceError', 'An error occurred on the server side.', 500);
}
