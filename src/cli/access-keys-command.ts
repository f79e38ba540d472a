import type { Command } from 'commander';
import type { AccessKeyCreateBody } from '@latchkey/sdk';
import { act, oneOf, resourceId, timestamp } from './command-kit.js';
import { collect } from './field-args.js';
import { clientFor, connectionOptions, type ConnectionFlags } from './login-state.js';
import { out, printJson, printTable, warn } from './output.js';

/** `latchkey access-keys list|create|aws-key-pair|revoke`: keys for calling Latchkey itself (needs access_keys:manage). */

const ROLES = ['owner', 'admin', 'integration_admin', 'member', 'viewer', 'service', 'agent'] as const;

interface Common extends ConnectionFlags {
  json?: boolean;
}

export function addAccessKeysCommands(program: Command): void {
  const keys = program.command('access-keys').description('Access keys for calling Latchkey: list, create, revoke');

  connectionOptions(keys.command('list').description('List access keys (never the keys themselves)'))
    .option('--name <text>', 'name contains')
    .option('--json', 'print a JSON array for scripts')
    .action(
      act(async (opts: Common & { name?: string }) => {
        const items = await clientFor(opts)
          .accessKeys.list({ filter: { name: opts.name }, perPage: 100 })
          .toArray();
        if (opts.json) return printJson(items);
        printTable(
          ['ID', 'NAME', 'ROLE', 'PREFIX', 'LAST USED', 'EXPIRES', 'CREATED'],
          items.map((k) => [k.id, k.name, k.role, k.prefix, k.last_used_at, k.expires_at, k.created_at]),
        );
      }),
    );

  connectionOptions(keys.command('create').description('Issue an access key; the key is printed this once'))
    .requiredOption('--name <name>', 'what the key is for, e.g. "CI deploys"')
    .requiredOption('--role <role>', ROLES.join(', '), oneOf('--role', ROLES))
    .option('--team-id <id>', 'a team the key belongs to (repeat)', collect)
    .option('--expires-at <time>', 'when the key stops working (RFC 3339)', timestamp('--expires-at'))
    .option('--json', 'print JSON for scripts (with the key)')
    .action(
      act(async (opts: Common & { name: string; role: string; teamId?: string[]; expiresAt?: string }) => {
        for (const t of opts.teamId ?? []) resourceId(t);
        const created = await clientFor(opts).accessKeys.create({
          name: opts.name,
          type: 'api',
          role: opts.role as AccessKeyCreateBody['role'],
          ...(opts.teamId ? { team_ids: opts.teamId } : {}),
          ...(opts.expiresAt ? { expires_at: opts.expiresAt } : {}),
        });
        if (opts.json) return printJson(created);
        printTable(['ID', 'NAME', 'ROLE', 'PREFIX', 'EXPIRES'], [[created.id, created.name, created.role, created.prefix, created.expires_at]]);
        out(`key: ${created.key}`);
        warn('the key is shown this once: store it now');
      }),
    );

  connectionOptions(
    keys.command('aws-key-pair').description('Give an access key an AWS-style key pair for AWS SDKs (docs/compat.md); the secret is printed this once'),
  )
    .argument('<id>', 'access key id (key_…)', resourceId)
    .option('--json', 'print JSON for scripts (with the secret)')
    .action(
      act(async (id: string, opts: Common) => {
        const pair = await clientFor(opts).accessKeys.awsKeyPair(id);
        if (opts.json) return printJson(pair);
        out(`aws_access_key_id: ${pair.access_key_id}`);
        out(`aws_secret_access_key: ${pair.secret_access_key}`);
        warn('the secret access key is shown this once: store it now');
      }),
    );

  connectionOptions(keys.command('revoke').description('Revoke an access key at once'))
    .argument('<id>', 'access key id (key_…)', resourceId)
    .option('--json', 'print JSON for scripts')
    .action(
      act(async (id: string, opts: Common) => {
        await clientFor(opts).accessKeys.revoke(id);
        if (opts.json) printJson({ id, revoked: true });
        else out(`revoked ${id}`);
      }),
    );
}
