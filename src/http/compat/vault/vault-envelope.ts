import { LatchkeyError, type ErrorCode } from '../../../domain/errors.js';

/**
 * Vault's answers: `{ request_id, lease_id, renewable, lease_duration, data, wrap_info, warnings,
 * auth }`, and errors as `{ "errors": [ … ] }` with Vault's statuses (a missing secret is a 404
 * with an empty list, as Vault answers it).
 */
export function vaultResponse(requestId: string, data: unknown, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { request_id: requestId, lease_id: '', renewable: false, lease_duration: 0, data, wrap_info: null, warnings: null, auth: null, ...extra };
}

export class VaultError extends Error {
  constructor(
    readonly status: number,
    readonly errors: string[],
  ) {
    super(errors[0] ?? `status ${status}`);
  }
}

export const vaultNotFound = (): VaultError => new VaultError(404, []);
export const vaultBadRequest = (message: string): VaultError => new VaultError(400, [message]);
export const permissionDenied = (): VaultError => new VaultError(403, ['permission denied']);

const BY_CODE: Partial<Record<ErrorCode, (e: LatchkeyError) => VaultError>> = {
  CREDENTIAL_NOT_FOUND: vaultNotFound,
  VERSION_NOT_FOUND: vaultNotFound,
  NOT_FOUND: vaultNotFound,
  UNAUTHENTICATED: permissionDenied,
  FORBIDDEN: (e) => new VaultError(403, ['permission denied', e.message]),
  VALIDATION_FAILED: (e) =>
    vaultBadRequest(
      `invalid data: ${Array.isArray(e.details) ? e.details.map((i) => `${i.path.replace(/^secret\.?/, 'data.')} ${i.message}`).join(', ') : 'refused'}`,
    ),
  INVALID_PARAMETER: (e) => vaultBadRequest(e.message),
  MALFORMED_REQUEST: () => vaultBadRequest('failed to parse JSON input'),
  PAYLOAD_TOO_LARGE: () => new VaultError(413, ['request too large']),
  CONFLICT: (e) => vaultBadRequest(e.message),
  CREDENTIAL_INACTIVE: () => vaultBadRequest('the secret is not active (its Latchkey status is inactive or deactivated)'),
  PRECONDITION_FAILED: () => vaultBadRequest('check-and-set parameter did not match the current version'),
  RATE_LIMITED: () => new VaultError(429, ['rate limit quota exceeded']),
  UNAVAILABLE: () => new VaultError(503, ['Vault is sealed']),
  UNSUPPORTED_MEDIA_TYPE: () => vaultBadRequest('failed to parse JSON input'),
};

export function toVaultError(err: unknown): VaultError {
  if (err instanceof VaultError) return err;
  if (err instanceof LatchkeyError) {
    const map = BY_CODE[err.code];
    if (map) return map(err);
  }
  const status = (err as { statusCode?: number }).statusCode;
  if (status === 413) return new VaultError(413, ['request too large']);
  if (status !== undefined && status >= 400 && status < 500) return vaultBadRequest('invalid request');
  return new VaultError(500, ['internal error']);
}
