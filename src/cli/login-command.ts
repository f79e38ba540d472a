import type { Command } from 'commander';
import { UsageError } from './cli-errors.js';
import { act, resourceId } from './command-kit.js';
import { readStdinValue } from './stdin.js';
import { apiClient, checkToken, checkUrl, profilePath, readProfile, removeProfile, resolveConnection, writeProfile } from './login-state.js';
import { out, printJson, printTable } from './output.js';

/** `latchkey login | logout | whoami`: the profile file that saves typing LATCHKEY_URL and LATCHKEY_TOKEN. */
export function addLoginCommands(program: Command): void {
  program
    .command('login')
    .description(`Check a URL and token against the server and save them in ${profilePath().replace(process.env.HOME ?? '\u0000', '~')} (0600)`)
    .requiredOption('--url <url>', 'server base URL, e.g. https://latchkey.example.com')
    .requiredOption('--token <token>', 'access key (lk_…) or OIDC token; - reads it from stdin (keeps it out of ps and history)')
    .option('--tenant-id <id>', 'the tenant to act in, when the key has several', resourceId)
    .option('--no-verify', 'save without asking the server first')
    .action(
      act(async (opts: { url: string; token: string; tenantId?: string; verify: boolean }) => {
        const url = checkUrl(opts.url, '--url');
        const token = checkToken(opts.token === '-' ? await readStdinValue('--token -', 'access key') : opts.token, '--token');
        let tenants: Array<{ id: string; name: string }> = [];
        if (opts.verify) tenants = await apiClient({ url, token, tenantId: opts.tenantId }).tenants.list();
        writeProfile({ url, token, ...(opts.tenantId ? { tenant_id: opts.tenantId } : {}) });
        out(`logged in to ${url}; profile saved to ${profilePath()}`);
        if (tenants.length > 0)
          printTable(
            ['TENANT', 'NAME'],
            tenants.map((t) => [t.id, t.name]),
          );
      }),
    );

  program
    .command('logout')
    .description('Delete the saved profile')
    .action(
      act(async () => {
        out(removeProfile() ? `removed ${profilePath()}` : 'no profile to remove');
      }),
    );

  program
    .command('whoami')
    .description('Where the CLI would connect, from where, and the tenants the token can see')
    .option('--url <url>', 'server base URL')
    .option('--token <token>', 'access key or OIDC token')
    .option('--tenant-id <id>', 'tenant to act in')
    .option('--json', 'print JSON for scripts')
    .action(
      act(async (opts: { url?: string; token?: string; tenantId?: string; json?: boolean }) => {
        const c = resolveConnection(opts);
        const source = opts.url !== undefined ? 'flags' : process.env.LATCHKEY_URL ? 'environment' : readProfile() ? 'profile' : 'none';
        if (source === 'none') throw new UsageError('not logged in');
        const tenants = await apiClient(c).tenants.list();
        // The token itself is never printed; its first characters are enough to recognise it.
        const summary = { url: c.url, source, token_prefix: c.token.slice(0, 16), tenant_id: c.tenantId ?? null, tenants };
        if (opts.json) return printJson(summary);
        out(`url: ${summary.url} (from ${source})`);
        out(`token: ${summary.token_prefix}…`);
        printTable(
          ['TENANT', 'NAME'],
          tenants.map((t) => [t.id, t.name]),
        );
      }),
    );
}
