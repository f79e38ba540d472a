import { fullFormats } from 'ajv-formats/dist/formats.js';
import { LatchkeyError } from './errors.js';

/** Time comes from a port so schedulers and expiry can be tested with a controlled clock. */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

/**
 * Whether a syntactically valid RFC 3339 date-time can be stored. RFC 3339 (§5.6) lets the
 * second be 60 for a leap second, but the UTC text we store and compare, like POSIX time and
 * `Date`, has no such second; rounding it to :59 or to the next minute would move an expiry or
 * a deactivation the caller set, so it is refused as invalid input instead (nothing stored).
 */
export function isStorableTime(value: string): boolean {
  return !Number.isNaN(Date.parse(value));
}

/** ajv-formats' full `date-time` check (RFC 3339 §5.6, leap second included): an object format. */
const rfc3339 = fullFormats['date-time'] as { validate: (value: string) => boolean };

/** The `date-time` format of every validator (request schemas, the type catalog): RFC 3339 and storable. */
export const storableDateTimeFormat = {
  type: 'string',
  validate: (value: string): boolean => rfc3339.validate(value) && isStorableTime(value),
} as const;

/**
 * Times are stored and compared as RFC 3339 UTC text with milliseconds, which sorts like time.
 * Input may carry any offset, so it is normalised here before anything compares it. Schemas let
 * only storable times through; one that got past them is the caller's error, never a 500.
 */
export function toUtc(value: string | null | undefined): string | null {
  if (value === null || value === undefined) return null;
  if (!isStorableTime(value)) throw new LatchkeyError('INVALID_PARAMETER', 'Not a storable RFC 3339 date-time (a leap second, :60, is refused)');
  return new Date(value).toISOString();
}
