/** Time comes from a port so schedulers and expiry can be tested with a controlled clock. */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

/**
 * Times are stored and compared as RFC 3339 UTC text with milliseconds, which sorts like time.
 * Input may carry any offset, so it is normalised here before anything compares it.
 */
export function toUtc(value: string | null | undefined): string | null {
  if (value === null || value === undefined) return null;
  return new Date(value).toISOString();
}
