/**
 * UUID views of Latchkey ids, for the two dialects whose documents require UUID credential ids
 * (`integration-credentials`' `credentialId`, `integration-metadata`'s `credential_id`).
 *
 * A ULID is 128 bits (26 Crockford base32 characters, the first at most `7`), exactly a UUID's
 * width, so `crd_<ULID>` maps 1:1 onto a UUID and back with no table and no store lookup. The
 * UUID is the ULID's 16 bytes written 8-4-4-4-12 in lower-case hex; its version and variant
 * nibbles are whatever the ULID holds (like PostgreSQL's `uuid` type and Python's `uuid.UUID`,
 * the dialects accept any 32 hex digits in that layout, not only RFC 9562 versions).
 *
 * A credential created with a caller-chosen id (`PUT /v1/credentials/{id}`) that is itself a
 * lower-case UUID (or `cred-` + one, the form document 003 shows) is addressed by that UUID.
 */
const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const CANONICAL_ULID = /^[0-7][0-9A-HJKMNP-TV-Z]{25}$/;
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The canonical (lower-case) UUID in `text`, or null when it is not one. */
export function parseUuid(text: string): string | null {
  const lower = text.toLowerCase();
  return UUID_RE.test(lower) ? lower : null;
}

export function ulidToUuid(ulid: string): string | null {
  if (!CANONICAL_ULID.test(ulid)) return null;
  let n = 0n;
  for (const ch of ulid) n = (n << 5n) | BigInt(CROCKFORD.indexOf(ch));
  const hex = n.toString(16).padStart(32, '0');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export function uuidToUlid(uuid: string): string {
  let n = BigInt(`0x${uuid.replace(/-/g, '')}`);
  let out = '';
  for (let i = 0; i < 26; i++) {
    out = CROCKFORD[Number(n & 31n)] + out;
    n >>= 5n;
  }
  return out;
}

/**
 * The UUID through which a native id is addressed, or null when it has none (a caller-chosen id
 * that is neither a ULID id nor a UUID: such a credential cannot be named in a UUID-only path).
 */
export function uuidViewOf(nativeId: string, prefix: 'crd' | 'ten' = 'crd'): string | null {
  if (nativeId.startsWith(`${prefix}_`)) return ulidToUuid(nativeId.slice(prefix.length + 1));
  if (UUID_RE.test(nativeId)) return nativeId;
  if (nativeId.startsWith('cred-') && UUID_RE.test(nativeId.slice(5))) return nativeId.slice(5);
  return null;
}

/** Native ids a UUID may stand for, in the order they are tried (the ULID form first). */
export function nativeIdCandidates(uuid: string): string[] {
  return [`crd_${uuidToUlid(uuid)}`, uuid, `cred-${uuid}`];
}
