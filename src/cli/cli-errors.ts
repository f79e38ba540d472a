import { InvalidArgumentError } from 'commander';
import { LatchkeyApiError, LatchkeyConnectionError, LatchkeyError, LatchkeyTimeoutError } from '@latchkey/sdk';
import { cell } from './output.js';

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
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

/** Exit code for an error this CLI knows, after writing its one-line message; null for any other error. */
export function reportCliError(err: unknown): number | null {
  if (err instanceof LatchkeyApiError) {
    // The server's text is shown with control characters made visible: a name it quotes must not repaint the terminal.
    process.stderr.write(
      `latchkey: ${cell(err.code)}: ${cell(err.serverMessage)}${detailsText(err.details)}${err.requestId ? ` (request ${cell(err.requestId)})` : ''}\n`,
    );
    return 1;
  }
  if (err instanceof LatchkeyConnectionError) {
    process.stderr.write(`latchkey: cannot reach ${err.baseUrl}: ${err.reason}\n`);
    return 1;
  }
  if (err instanceof LatchkeyTimeoutError) {
    process.stderr.write(`latchkey: ${err.baseUrl} did not answer within ${err.timeoutMs / 1000} s\n`);
    return 1;
  }
  if (err instanceof UsageError || err instanceof InvalidArgumentError) {
    process.stderr.write(`latchkey: ${err.message}\n`);
    return 2;
  }
  // The SDK's own failures (a body that is not JSON, a repeated cursor): its messages never quote a body.
  if (err instanceof LatchkeyError || err instanceof CliFailure) {
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

/**
 * `details` say what to fix: a sentence (`409`: which name is taken) or, for `422`,
 * `[{ path, message }]`.
 */
function detailsText(details: unknown): string {
  if (typeof details === 'string') return details.trim() === '' ? '' : ` (${cell(details)})`;
  if (!Array.isArray(details) || details.length === 0) return '';
  const issues = details
    .filter((d): d is { path?: unknown; message?: unknown } => typeof d === 'object' && d !== null)
    .map((d) => `${typeof d.path === 'string' && d.path ? `${d.path} ` : ''}${typeof d.message === 'string' ? d.message : 'is invalid'}`);
  return issues.length > 0 ? ` [${cell(issues.join('; '))}]` : '';
}
