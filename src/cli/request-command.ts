import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { CliFailure, UsageError } from './cli-errors.js';
import { act } from './command-kit.js';
import { clientFor, connectionOptions, type ConnectionFlags } from './login-state.js';

/**
 * `latchkey request --credential ID [-X METHOD] [-H 'Name: value'] [-d DATA|@FILE] [-i] URL`
 *
 * curl through the proxy (docs/use.md): the server puts the credential into the request, so this
 * process — and the shell history, and the script — never holds the secret. The answer's body goes
 * to stdout as it is; `-i` puts the status line and headers first. Like `curl --fail`, an answer
 * of 400 or more exits 22 (after printing it); a redirect is printed, not followed.
 */

interface RequestFlags extends ConnectionFlags {
  credential: string;
  request?: string;
  header: string[];
  data?: string;
  include?: boolean;
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

export function addRequestCommand(program: Command): void {
  connectionOptions(program.command('request').description('Send an HTTP request with a credential the server puts in (the secret never reaches this process)'))
    .requiredOption('--credential <id>', 'the credential to use')
    .option('-X, --request <method>', 'HTTP method (default GET, or POST with -d)')
    .option('-H, --header <header>', "a request header, 'Name: value' (repeat)", collect, [])
    .option('-d, --data <data>', 'request body; @FILE reads a file')
    .option('-i, --include', 'print the status line and headers before the body')
    .argument('<url>', "the target URL; its host must be in the credential's allowed_hosts")
    .addHelpText(
      'after',
      "\nExample:\n  latchkey request --credential crd_01J… -H 'content-type: application/json' -d @mail.json https://api.sendgrid.com/v3/mail/send",
    )
    .action(
      act(async (url: string, opts: RequestFlags) => {
        const headers = new Headers();
        for (const h of opts.header) {
          const colon = h.indexOf(':');
          if (colon < 1) throw new UsageError(`-H "${h.slice(0, 40)}" must be 'Name: value'`);
          headers.append(h.slice(0, colon).trim(), h.slice(colon + 1).trim());
        }
        let body: Buffer | undefined;
        if (opts.data !== undefined) body = opts.data.startsWith('@') ? await readFile(opts.data.slice(1)) : Buffer.from(opts.data);
        let target: URL;
        try {
          target = new URL(url);
        } catch {
          throw new UsageError('the URL is not a URL (http(s)://host/path)');
        }
        const res = await clientFor(opts).fetchWith(opts.credential, target, {
          method: (opts.request ?? (body === undefined ? 'GET' : 'POST')).toUpperCase(),
          headers,
          ...(body !== undefined ? { body } : {}),
        });
        if (opts.include) {
          process.stdout.write(`HTTP ${res.status} ${res.statusText}\n`);
          res.headers.forEach((value, name) => {
            process.stdout.write(`${name}: ${value}\n`);
          });
          process.stdout.write('\n');
        }
        process.stdout.write(Buffer.from(await res.arrayBuffer()));
        if (res.status >= 400) throw new CliFailure(`HTTP ${res.status}`, 22);
      }),
    );
}
