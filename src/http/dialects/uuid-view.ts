/**
 * UUID views of Latchkey ids, for the two dialects whose documents require UUID credential ids
 * (`integration-credentials`' `credentialId`, `integration-metadata`'s `credential_id`) and the
 * tenant id in `x-tenantid`.
 *
 * A `<prefix>_<ULID>` id is shown as an RFC 9562 version 8 UUID that holds the ULID's value: a
 * ULID is 128 bits whose first 48 are a millisecond time, and every time before 2109-05-15
 * (2^42 ms) leaves the top 6 bits zero, so the value fits the 122 bits a UUIDv8 leaves free
 * (48 + 12 + 62 around the version nibble `8` and the variant bits `10`). The mapping is
 * reversible with no table and no store lookup, every view passes version/variant checks
 * (`uuid`'s `validate`/`version`), and views sort like the ids. A ULID id is already unique
 * across tenants, so the tenant need not enter the view.
 *
 * Earlier releases showed the ULID's 16 bytes as they are (any version/variant nibble); those
 * UUIDs are still accepted, tried after the v8 reading (`nativeIdCandidates`).
 *
 * A credential created with a caller-chosen id (`PUT /v1/credentials/{id}`) that is itself a
 * UUID (or `cred-` + one, the form document 003 shows) is addressed by that UUID. Any other
 * caller-chosen id has no UUID view; the dialects show it as it is and accept it back.
 */
const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const CANONICAL_ULID = /^[0-7][0-9A-HJKMNP-TV-Z]{25}$/;
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const V8_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const FREE_BITS = 122n;
const mask = (bits: bigint) => (1n << bits) - 1n;

/** The canonical (lower-case) UUID in `text`, or null when it is not one. */
export function parseUuid(text: string): string | null {
  const lower = text.toLowerCase();
  return UUID_RE.test(lower) ? lower : null;
}

function ulidValue(ulid: string): bigint | null {
  if (!CANONICAL_ULID.test(ulid)) return null;
  let n = 0n;
  for (const ch of ulid) n = (n << 5n) | BigInt(CROCKFORD.indexOf(ch));
  return n;
}

function ulidOf(n: bigint): string {
  let out = '';
  for (let i = 0; i < 26; i++) {
    out = CROCKFORD[Number(n & 31n)] + out;
    n >>= 5n;
  }
  return out;
}

function uuidText(u: bigint): string {
  const hex = u.toString(16).padStart(32, '0');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The UUIDv8 holding a ULID's value, or null when it is not a ULID or its time is past 2109. */
export function ulidToUuid(ulid: string): string | null {
  const v = ulidValue(ulid);
  if (v === null || v >> FREE_BITS !== 0n) return null;
  const u = ((v >> 74n) << 80n) | (8n << 76n) | (((v >> 62n) & mask(12n)) << 64n) | (2n << 62n) | (v & mask(62n));
  return uuidText(u);
}

/** The ULID a UUIDv8 view holds, or null when `uuid` (canonical) is not a version 8, variant 10 UUID. */
export function uuidToUlid(uuid: string): string | null {
  if (!V8_RE.test(uuid)) return null;
  const u = BigInt(`0x${uuid.replace(/-/g, '')}`);
  const v = ((u >> 80n) << 74n) | (((u >> 64n) & mask(12n)) << 62n) | (u & mask(62n));
  return ulidOf(v);
}

/**
 * The UUID through which a native id is addressed, or null when it has none (a caller-chosen id
 * that is neither a ULID id nor a UUID: the dialects show and accept such an id as it is).
 */
export function uuidViewOf(nativeId: string, prefix: 'crd' | 'ten' = 'crd'): string | null {
  if (nativeId.startsWith(`${prefix}_`)) {
    const view = ulidToUuid(nativeId.slice(prefix.length + 1));
    if (view !== null) return view;
  }
  if (UUID_RE.test(nativeId)) return nativeId;
  if (nativeId.startsWith('cred-') && UUID_RE.test(nativeId.slice(5))) return nativeId.slice(5);
  return null;
}

/**
 * Native ids a canonical UUID may stand for, in the order they are tried: the v8 view's ULID,
 * the earlier releases' raw-bytes view, then a caller-chosen UUID id.
 */
export function nativeIdCandidates(uuid: string, prefix: 'crd' | 'ten' = 'crd'): string[] {
  const v8 = uuidToUlid(uuid);
  const raw = BigInt(`0x${uuid.replace(/-/g, '')}`);
  const ids = [...(v8 === null ? [] : [`${prefix}_${v8}`]), `${prefix}_${ulidOf(raw)}`];
  return prefix === 'crd' ? [...ids, uuid, `cred-${uuid}`] : ids;
}
