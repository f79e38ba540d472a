import { randomFillSync } from 'node:crypto';
import { encodeTime, monotonicFactory } from 'ulid';

/**
 * ulid's default PRNG asks the OS for one byte per character (16 calls per id); every request
 * gets an id, so draw from a pool of CSPRNG bytes refilled 4 KiB at a time instead.
 */
const pool = new Uint32Array(1024);
let next = pool.length;
function pooledRandom(): number {
  if (next === pool.length) {
    randomFillSync(pool);
    next = 0;
  }
  // biome-ignore lint/style/noNonNullAssertion: next < pool.length here
  return pool[next++]! / 0x1_0000_0000;
}

const ulid = monotonicFactory(pooledRandom);

export type IdPrefix = 'crd' | 'key' | 'ten' | 'team' | 'fld' | 'evt' | 'req' | 'usr' | 'whk' | 'dlv';

export function newId(prefix: IdPrefix): string {
  return `${prefix}_${ulid()}`;
}

/**
 * Request ids only need to be unique, not sortable: the first 16 characters of a ULID made when
 * the process started (time and randomness, so two processes do not collide) and a counter in
 * the same alphabet, 26 characters like any ULID. A ULID per request was 2 % of a metadata GET.
 */
const requestIdBase = `req_${ulid().slice(0, 16)}`;
let requestCount = 0;
export function newRequestId(): string {
  requestCount += 1;
  return requestIdBase + encodeTime(requestCount, 10);
}

/**
 * Every id in a path is at most 50 characters of `[@~\-.\w]` (the wire contract), and not dots alone: `.`
 * and `..` are dot-segments that every URL parser (fetch, browsers, proxies) resolves away, so
 * `/v1/credentials/../secret` names another resource (and `%2e` is decoded to `.` first).
 * Longer runs of dots go with them: one rule, "not dots alone", is easier to check everywhere.
 */
export const PATH_ID_PATTERN = '^(?!\\.+$)[@~\\-\\.\\w]{1,50}$';
const PATH_ID_RE = new RegExp(PATH_ID_PATTERN);

export function isValidPathId(value: string): boolean {
  return PATH_ID_RE.test(value);
}

/** A request id the caller sent is echoed only when it is short and printable, so logs stay clean. */
const REQUEST_ID_RE = /^[A-Za-z0-9._:-]{1,64}$/;
export function isSaneRequestId(value: string): boolean {
  return REQUEST_ID_RE.test(value);
}
