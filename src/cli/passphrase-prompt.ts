import { CliFailure, UsageError } from './cli-errors.js';

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

function promptHidden(question: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const stdin = process.stdin;
    process.stderr.write(question);
    stdin.setRawMode(true);
    stdin.setEncoding('utf8');
    stdin.resume();
    let buf = '';
    const finish = () => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') {
          finish();
          return resolve(buf);
        }
        if (ch === '\u0003' || ch === '\u0004') {
          finish();
          return reject(new CliFailure('cancelled', 130));
        }
        if (ch === '\u007f' || ch === '\b') buf = [...buf].slice(0, -1).join('');
        else buf += ch;
      }
    };
    stdin.on('data', onData);
  });
}
