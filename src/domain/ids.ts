import { monotonicFactory } from 'ulid';

const ulid = monotonicFactory();

export type IdPrefix = 'crd' | 'key' | 'ten' | 'team' | 'fld' | 'evt' | 'req' | 'usr';

export function newId(prefix: IdPrefix): string {
  return `${prefix}_${ulid()}`;
}

/** API.md: every id in a path is at most 50 characters of `[@~\-.\w]`. */
export const PATH_ID_PATTERN = '^[@~\\-\\.\\w]{1,50}$';
const PATH_ID_RE = new RegExp(PATH_ID_PATTERN);

export function isValidPathId(value: string): boolean {
  return PATH_ID_RE.test(value);
}

/** A request id the caller sent is echoed only when it is short and printable, so logs stay clean. */
const REQUEST_ID_RE = /^[A-Za-z0-9._:\-]{1,64}$/;
export function isSaneRequestId(value: string): boolean {
  return REQUEST_ID_RE.test(value);
}
