import type { Command } from 'commander';
import { CliFailure, UsageError } from './cli-errors.js';
import { act } from './command-kit.js';
import { checkUrl, readProfile } from './login-state.js';
import { out, printFields, printJson } from './output.js';

/**
 * `latchkey keys server-status`: what a running server reports on `/readyz` — store and key
 * provider reachable, the root key id and whether a root-key rotation is under way. It needs
 * only the URL (`/readyz` is public), so it works from any machine; `latchkey keys status`
 * (keys-command.ts) is the detailed report that opens the store itself, on the server's host.
 * Exit 1 when the server says it is not ready.
 */
export function addServerStatusCommand(program: Command): void {
  const keys = program.commands.find((c) => c.name() === 'keys') ?? program.command('keys').description('Root and data keys');
  keys
    .command('server-status')
    .description("A running server's /readyz: store, key provider, root key id, rotation under way (needs only the URL)")
    .option('--url <url>', 'server base URL (default: LATCHKEY_URL, else the profile)')
    .option('--json', 'print JSON for scripts')
    .action(
      act(async (opts: { url?: string; json?: boolean }) => {
        const raw = opts.url ?? (process.env.LATCHKEY_URL || readProfile()?.url);
        if (raw === undefined) throw new UsageError('no server: pass --url, set LATCHKEY_URL or run `latchkey login`');
        // No token is sent: /readyz is public, and a token has no business going where it is not needed.
        const { status, body } = await readyz(checkUrl(raw, '--url'));
        if (opts.json) printJson(body);
        else {
          const keys = (body.keys ?? {}) as Record<string, unknown>;
          printFields([
            ['ready', body.ok],
            ['store', body.store],
            ['key_provider', body.key_provider],
            ['root_key_id', keys.root_key_id],
            ['rotation_in_progress', keys.rotation_in_progress],
            ['rotating_to', keys.rotating_to],
          ]);
          if (keys.rotation_in_progress === true) out('a root-key rotation is under way: `latchkey keys rotate-root` on the server host finishes it');
        }
        if (status !== 200 || body.ok !== true) throw new CliFailure(`the server at ${raw} is not ready (HTTP ${status})`);
      }),
    );
}

/**
 * `GET /readyz` once, without the SDK: it needs no token (the SDK always sends one) and its 503
 * carries the same report as its 200, which is what is wanted here rather than a retried error.
 */
async function readyz(baseUrl: string): Promise<{ status: number; body: Record<string, unknown> }> {
  let res: Response;
  let text: string;
  try {
    res = await fetch(`${baseUrl}/readyz`, { headers: { accept: 'application/json' }, redirect: 'error', signal: AbortSignal.timeout(10_000) });
    text = await res.text();
  } catch (err) {
    const inner = (err as { cause?: { code?: unknown } }).cause;
    throw new CliFailure(
      `cannot reach ${baseUrl}: ${(err as Error).name === 'TimeoutError' ? 'timed out' : typeof inner?.code === 'string' ? inner.code : 'network error'}`,
    );
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new CliFailure(`${baseUrl}/readyz answered ${res.status} without a JSON report`);
  }
  return { status: res.status, body: typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {} };
}
