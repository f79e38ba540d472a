import { UsageError } from './cli-errors.js';
import { promptHidden } from './stdin.js';

/**
 * The backup passphrase: `LATCHKEY_EXPORT_PASSPHRASE`, else asked on the terminal without echo
 * (twice when it makes a new backup). Never a flag: it would sit in `ps` and the shell history.
 */
export async function backupPassphrase(opts: { confirm: boolean; stdinBusy?: boolean }): Promise<string> {
  const env = process.env.LATCHKEY_EXPORT_PASSPHRASE;
  let value: string;
  if (env !== undefined && env !== '') value = env;
  else {
    if (!process.stdin.isTTY || opts.stdinBusy) throw new UsageError('no passphrase: set LATCHKEY_EXPORT_PASSPHRASE or run this on a terminal');
    value = await promptHidden('backup passphrase: ');
    if (opts.confirm && (await promptHidden('again: ')) !== value) throw new UsageError('the passphrases differ');
  }
  if (opts.confirm && [...value].length < 12) throw new UsageError('the backup passphrase must be at least 12 characters');
  return value;
}
