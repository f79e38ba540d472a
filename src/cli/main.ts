import { Command, CommanderError } from 'commander';
import { addAccessKeysCommands } from './access-keys-command.js';
import { addAuditCommands } from './audit-command.js';
import { addBackupCommands } from './backup-command.js';
import { reportCliError } from './cli-errors.js';
import { addCompletionCommand } from './completion-command.js';
import { addCredentialsCommands } from './credentials-command.js';
import { addEventsCommands } from './events-command.js';
import { addLoginCommands } from './login-command.js';
import { addRequestCommand } from './request-command.js';
import { addRunCommand } from './run-command.js';
import { addServerStatusCommand } from './server-status-command.js';
import { addWebhooksCommands } from './webhooks-command.js';

/** Exit codes: 0 ok, 1 failure, 2 usage. */

const program = new Command()
  .name('latchkey')
  .description('Credential vault for integrations')
  .exitOverride()
  .configureOutput({ writeErr: (s) => process.stderr.write(s) });

// serve, migrate, init and keys load the whole server (about a second of imports); the client
// commands do not need it, so `latchkey run` and `credentials reveal` in scripts start fast.
// The full help and the completion script list every command, so they load it too.
const SERVER_SIDE = new Set(['serve', 'migrate', 'init', 'keys', 'help', 'completion']);
const first = process.argv.slice(2).find((a) => !a.startsWith('-'));
const server = first === undefined || SERVER_SIDE.has(first) ? await import('./server-commands.js') : null;
server?.addServerCommands(program);

// Client commands: they talk to a running server over HTTP (docs/cli.md).
addLoginCommands(program);
addCredentialsCommands(program);
addAccessKeysCommands(program);
addAuditCommands(program);
addEventsCommands(program);
addWebhooksCommands(program);
addRunCommand(program);
addRequestCommand(program);
addBackupCommands(program);
addServerStatusCommand(program);
addCompletionCommand(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? 0 : 2);
  // serve/migrate/init/keys keep their own handler; client commands report through act() and this.
  if (server) server.fail(err);
  const code = reportCliError(err);
  if (code !== null) process.exit(code);
  process.stderr.write(`latchkey: ${(err as Error)?.name ?? 'Error'}: ${(err as { code?: string }).code ?? 'failed'}\n`);
  if (process.env.LATCHKEY_DEBUG === '1') process.stderr.write(`${(err as Error)?.stack ?? ''}\n`);
  process.exit(1);
}
