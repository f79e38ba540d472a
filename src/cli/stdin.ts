import { CliFailure, UsageError } from './cli-errors.js';

/**
 * Standard input for `--token -`, `key=@-`, `--from-file -` and `import -`, and the hidden prompt.
 *
 * A pipe or a file is read to its end, asynchronously: `readFileSync(0)` fails with EAGAIN on a
 * descriptor that is non-blocking (a terminal, or a pipe whose other end set it so), which is
 * how `latchkey login --token -` typed at a terminal used to die with "cannot read stdin".
 * At a terminal, a single value (a token, a secret field) is asked for without echo; a whole
 * document (a JSON body, a backup) is refused there, as typing one blind is no way to enter it.
 */

let stdinTaken = false;

function take(what: string): void {
  if (stdinTaken) throw new UsageError(`stdin is already used; ${what} cannot read it too`);
  stdinTaken = true;
}

async function readToEnd(what: string): Promise<string> {
  const chunks: Buffer[] = [];
  try {
    for await (const chunk of process.stdin) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  } catch {
    throw new UsageError(`cannot read stdin for ${what}`);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** One value from stdin (one trailing newline dropped): asked for without echo at a terminal, else all of stdin. */
export async function readStdinValue(what: string, label: string): Promise<string> {
  take(what);
  if (process.stdin.isTTY) return promptHidden(`${label}: `);
  return (await readToEnd(what)).replace(/\r?\n$/, '');
}

/** A whole document from stdin; refused at a terminal. */
export async function readStdinDocument(what: string): Promise<string> {
  take(what);
  if (process.stdin.isTTY) throw new UsageError(`${what} reads stdin, which is a terminal: pipe the content in (… | latchkey …) or give a file`);
  return readToEnd(what);
}

/** Reads one line from the terminal without echoing it; Ctrl-C or Ctrl-D cancels (exit 130). */
export function promptHidden(question: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const stdin = process.stdin;
    // Raw mode before the question: whatever is typed once it shows must never be echoed.
    stdin.setRawMode(true);
    process.stderr.write(question);
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
