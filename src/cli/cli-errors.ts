import { InvalidArgumentError } from 'commander';
import { ApiError, ConnectionError, UnsendableRequest } from './api-client.js';

/**
 * The CLI's exit codes: 0 ok, 1 failure, 2 usage. Messages written here are the CLI's own or the
 * server's error envelope; an unknown error's message is never echoed (a JSON parser's message
 * quotes the input it choked on, which may be a secret).
 */

/** The command line (or the login state it needs) is wrong: exit 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** The command ran and failed for a reason the CLI can say plainly: exit 1. */
export class CliFailure extends Error {
  override name = 'CliFailure';
  constructor(message: string, readonly exitCode = 1) {
    super(message);
  }
}

/** Exit code for an error this CLI knows, after writing its one-line message; null for any other error. */
export function reportCliError(err: unknown): number | null {
  if (err instanceof ApiError) {
    process.stderr.write(`latchkey: ${err.code}: ${err.message}${detailsText(err.details)}${err.requestId ? ` (request ${err.requestId})` : ''}\n`);
    return 1;
  }
  if (err instanceof UsageError || err instanceof InvalidArgumentError) {
    process.stderr.write(`latchkey: ${err.message}\n`);
    return 2;
  }
  if (err instanceof ConnectionError || err instanceof CliFailure || err instanceof UnsendableRequest) {
    process.stderr.write(`latchkey: ${err.message}\n`);
    return err instanceof CliFailure ? err.exitCode : 1;
  }
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (typeof code === 'string' && /^E[A-Z]+$/.test(code) && typeof (err as NodeJS.ErrnoException).path === 'string') {
    process.stderr.write(`latchkey: ${code}: ${(err as NodeJS.ErrnoException).path}\n`);
    return 1;
  }
  return null;
}

/** `422` details are `[{ path, message }]`: worth printing, they say what to fix. */
function detailsText(details: unknown): string {
  if (!Array.isArray(details) || details.length === 0) return '';
  const issues = details
    .filter((d): d is { path?: unknown; message?: unknown } => typeof d === 'object' && d !== null)
    .map((d) => `${typeof d.path === 'string' && d.path ? `${d.path} ` : ''}${typeof d.message === 'string' ? d.message : 'is invalid'}`);
  return issues.length > 0 ? ` [${issues.join('; ')}]` : '';
}
