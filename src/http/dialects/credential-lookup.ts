import { LatchkeyError } from '../../domain/errors.js';
import type { RequestContext } from '../../domain/principal.js';
import type { Services } from '../../services/services.js';
import type { CredentialRow } from '../../store/port.js';
import { nativeIdCandidates } from './uuid-view.js';

/**
 * The credential a UUID names, through `services.credentials.get` (tenancy, visibility and
 * soft-delete rules included): the ULID form first, then a caller-chosen UUID id. Any miss is
 * the same 404 as a credential that never existed, whatever the reason.
 */
export async function getByUuid(s: Services, ctx: RequestContext, uuid: string): Promise<CredentialRow> {
  for (const id of nativeIdCandidates(uuid)) {
    try {
      return await s.credentials.get(ctx, id);
    } catch (err) {
      if (!(err instanceof LatchkeyError) || err.code !== 'CREDENTIAL_NOT_FOUND') throw err;
    }
  }
  throw new LatchkeyError('CREDENTIAL_NOT_FOUND', `No credential ${uuid} in this tenant`);
}

/** `Cache-Control` for every response that carries a decrypted or generated secret. */
export const NO_STORE = { 'cache-control': 'no-store', pragma: 'no-cache' } as const;
