import type { Command } from 'commander';
import { ConfigError, loadConfig } from '../config.js';
import { RootKeyError } from '../crypto/key-providers/local.js';
import { WrongRootKey } from '../crypto/keyring.js';
import { NoStoreError, openRuntime, startServer } from '../main.js';
import { DataDirInUse, lockDataDir } from '../store/sqlite/data-dir-lock.js';
import { addKeysCommands } from './keys-command.js';
import { describeStartupError } from './startup-errors.js';
import { sayIfServerHoldsStore } from './store-holder-notice.js';

/**
 * The commands that run the server or open its store: `serve`, `migrate`, `init`, `keys …`.
 * They import the whole composition root (about a second of module loading), so main.ts loads
 * this file only when one of them (or the full help) is asked for.
 */

/** Exit codes: 0 ok, 1 failure, 2 usage. */
export function fail(err: unknown): never {
  const described = err instanceof ConfigError ? null : describeStartupError(err, configOrNull());
  if (err instanceof ConfigError || err instanceof WrongRootKey || err instanceof RootKeyError || err instanceof NoStoreError || err instanceof DataDirInUse) {
    process.stderr.write(`latchkey: ${err.message}\n`);
  } else if (described !== null) {
    process.stderr.write(`latchkey: ${described}\n`);
    if (process.env.LATCHKEY_DEBUG === '1') process.stderr.write(`${(err as Error)?.stack ?? ''}\n`);
  } else {
    process.stderr.write(`latchkey: ${(err as Error)?.name ?? 'Error'}: ${(err as { code?: string }).code ?? 'failed'}\n`);
    if (process.env.LATCHKEY_DEBUG === '1') process.stderr.write(`${(err as Error)?.stack ?? ''}\n`);
  }
  process.exit(1);
}

/** The settings, for naming the one behind a failure; null when they are what failed. */
function configOrNull() {
  try {
    return loadConfig();
  } catch {
    return null;
  }
}

export function addServerCommands(program: Command): void {
  program
    .command('serve')
    .description('Run the HTTP server (creates the store, root key, first tenant and owner key on first start)')
    .action(async () => {
      const config = loadConfig();
      // A SQLite store belongs to one server (see data-dir-lock.ts); held until the process ends.
      const lock = config.databaseUrl === null ? lockDataDir(config.dataDir) : null;
      const rt = await openRuntime(config);
      const boot = await rt.services.tenants.bootstrap();
      if (boot) process.stdout.write(`owner access key: ${boot.key}\n`);
      const app = await startServer(rt);
      let stopping = false;
      const stop = async (signal: string) => {
        if (stopping) return;
        stopping = true;
        rt.logger.info({ signal }, 'shutting down');
        await app.close();
        await rt.close();
        lock?.release();
        process.exit(0);
      };
      process.on('SIGTERM', () => void stop('SIGTERM'));
      process.on('SIGINT', () => void stop('SIGINT'));
    });

  program
    .command('migrate')
    .description('Apply database migrations to an existing store and exit')
    .action(async () => {
      const config = loadConfig();
      sayIfServerHoldsStore(config);
      const rt = await openRuntime(config, { mustExist: true });
      rt.logger.info({ store: rt.store.kind }, 'migrations applied');
      await rt.close();
    });

  program
    .command('init')
    .description('Create the first tenant and owner key on an empty store and print the key once')
    .option('--json', 'print JSON for scripts')
    .action(async (opts: { json?: boolean }) => {
      const config = loadConfig();
      sayIfServerHoldsStore(config);
      const rt = await openRuntime(config);
      const boot = await rt.services.tenants.bootstrap();
      await rt.close();
      if (!boot) {
        process.stderr.write('latchkey: the store already has a tenant; nothing to do (a lost owner key: `latchkey keys issue-owner`)\n');
        process.exit(1);
      }
      if (opts.json) process.stdout.write(JSON.stringify({ tenant_id: boot.tenant.id, owner_access_key: boot.key }) + '\n');
      else process.stdout.write(`owner access key: ${boot.key}\n`);
    });

  addKeysCommands(program);
}
