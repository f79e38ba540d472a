import { LatchkeyError } from '../../domain/errors.js';
import type { RequestContext } from '../../domain/principal.js';
import type { Services } from '../../services/services.js';
import type { CredentialRow } from '../../domain/records.js';
import { isValidPathId } from '../../domain/ids.js';
import { nativeIdCandidates, parseUuid, uuidViewOf } from './uuid-view.js';

/**
 * The native ids a dialect's credential id may stand for: a UUID's (uuid-view.ts), or a
 * caller-chosen id that has no UUID view, which the dialect showed as it is. Null when `text` is
 * neither (the dialect's 400): a native id that has a UUID view (`crd_<ULID>`) is never shown by
 * the dialect, so it is refused like any malformed id.
 */
export function dialectIdCandidates(text: string): string[] | null {
  const uuid = parseUuid(text.startsWith('cred-') ? text.slice(5) : text);
  if (uuid !== null) return nativeIdCandidates(uuid);
  return isValidPathId(text) && uuidViewOf(text) === null ? [text] : null;
}

/**
 * The first of `candidates` the caller can see, through `services.credentials.get` (tenancy,
 * visibility and soft-delete rules included). Any miss is the same 404 as a credential that
 * never existed, whatever the reason.
 */
export async function getFirst(s: Services, ctx: RequestContext, candidates: string[]): Promise<CredentialRow> {
  for (const id of candidates) {
    try {
      return await s.credentials.get(ctx, id);
    } catch (err) {
      if (!(err instanceof LatchkeyError) || err.code !== 'CREDENTIAL_NOT_FOUND') throw err;
    }
  }
  throw new LatchkeyError('CREDENTIAL_NOT_FOUND', 'No such credential in this tenant');
}

const NATIVE_CREDENTIAL_ID = /\bcrd_[0-7][0-9A-HJKMNP-TV-Z]{25}\b/g;

/** An error text with every native `crd_<ULID>` id written as the dialect writes it (`view`). */
export function inDialectIds(text: string, view: (nativeId: string) => string): string {
  return text.replace(NATIVE_CREDENTIAL_ID, view);
}

/** `Cache-Control` for every response that carries a decrypted or generated secret. */
export const NO_STORE = { 'cache-control': 'no-store', pragma: 'no-cache' } as const;
