import { InvalidArgumentError } from 'commander';
import { reportCliError } from './cli-errors.js';

/**
 * Runs a command's body and turns the errors the CLI knows into their message and exit code
 * (see cli-errors.ts); anything else goes on to the program's generic handler.
 */
export function act<A extends unknown[]>(fn: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (err) {
      const code = reportCliError(err);
      if (code === null) throw err;
      process.exitCode = code;
    }
  };
}

export function wholeNumber(name: string, min: number, max: number) {
  return (raw: string): number => {
    if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) throw new InvalidArgumentError(`${name} must be a whole number from ${min} to ${max}`);
    return Number(raw);
  };
}

/** Ids in paths are `^[@~\-.\w]+$`, at most 50 characters (src/domain/ids.ts); checked here so a typo is a usage error, not a request. */
export function resourceId(raw: string): string {
  if (!/^[@~\-.\w]{1,50}$/.test(raw)) throw new InvalidArgumentError('must be an id such as crd_01J… (letters, digits, _ - . @ ~; at most 50)');
  return raw;
}

export function oneOf(name: string, allowed: readonly string[]) {
  return (raw: string): string => {
    if (!allowed.includes(raw)) throw new InvalidArgumentError(`${name} must be one of ${allowed.join(', ')}`);
    return raw;
  };
}

export function timestamp(name: string) {
  return (raw: string): string => {
    if (Number.isNaN(Date.parse(raw))) throw new InvalidArgumentError(`${name} must be an RFC 3339 time, e.g. 2026-01-31T08:16:03Z`);
    return new Date(raw).toISOString();
  };
}
