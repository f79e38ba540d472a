import { InvalidArgumentError } from 'commander';
import { isValidPathId } from '../domain/ids.js';
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

/**
 * Ids in paths (domain/ids.ts): checked here so a typo is a usage error, not a request,
 * and so that `.` or `..` never reaches a URL, where it would name another resource.
 */
export function resourceId(raw: string): string {
  if (!isValidPathId(raw)) throw new InvalidArgumentError('must be an id such as crd_01J… (letters, digits, _ - . @ ~; at most 50; not dots alone)');
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
