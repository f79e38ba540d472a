#!/usr/bin/env node
// Runs every shell example of README.md and docs/*.md as a reader would paste it, and fails on
// any non-zero exit: `node scripts/check-docs.mjs` (after `npm run build`; .ci/run runs it after
// `npm test`).
//
// Conventions for examples:
//   - A block fenced ```sh or ```bash is run; one fenced ```console is shown and never run (a
//     command synopsis, a remote host, `npm start`). Nothing else is executed.
//   - Each block runs on its own: `bash -eo pipefail` in a fresh directory (its HOME too), against
//     a server of its own (`latchkey serve` on loopback, fresh data directory, a free port). The
//     directory holds `bin/latchkey.js` (so `alias latchkey="$PWD/bin/latchkey.js"` works as in
//     the repository), and `latchkey` is on PATH as after `npm link`.
//   - The reader's own values are substituted: `http://127.0.0.1:8080` and `localhost:8080` become
//     the server's address, `lk_live_…` its owner key (printed at first start); stdin carries that
//     key too, as typed at the prompt of `latchkey login --token -`.
//   - A leading `# server: NAME=value` line says how the server must be started for the block
//     (a reader needs to know as well); the server of that block is started so.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '..');
const BIN = join(ROOT, 'bin/latchkey.js');
// Generous: on a loaded 2-core box one CLI command took up to 9 s; unloaded, a block takes 1-5 s.
const BLOCK_LIMIT_MS = 180_000;
const RUN = new Set(['sh', 'bash']);

/** Every fenced block of a Markdown file with its language and first line number. */
function blocksOf(file) {
  const lines = readFileSync(file, 'utf8').split('\n');
  const blocks = [];
  let open = null;
  lines.forEach((line, i) => {
    const fence = /^(\s*)```(\S*)/.exec(line);
    if (!fence) {
      open?.body.push(line.slice(open.indent));
      return;
    }
    if (open) {
      blocks.push(open);
      open = null;
    } else {
      open = { file, line: i + 1, lang: fence[2], indent: fence[1].length, body: [] };
    }
  });
  return blocks;
}

function startServer(dir, env) {
  return new Promise((resolveStart, reject) => {
    const proc = spawn(process.execPath, [BIN, 'serve'], {
      cwd: dir,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: join(dir, 'home'),
        LATCHKEY_DATA_DIR: join(dir, 'data'),
        LATCHKEY_PORT: '0',
        LATCHKEY_HOST: '127.0.0.1',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`the server did not start in 20 s:\n${output}`));
    }, 20_000);
    const onData = (chunk) => {
      output += chunk;
      const url = /listening on (http:\/\/[^\s"]+)/.exec(output)?.[1];
      const key = /owner access key: (lk_\S+)/.exec(output)?.[1];
      if (url && key) {
        clearTimeout(timer);
        resolveStart({ proc, url, key, output: () => output });
      }
    };
    proc.stdout.on('data', onData);
    proc.stderr.on('data', onData);
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the server exited with ${code} before listening:\n${output}`));
    });
  });
}

function runBlock(script, dir, stdin) {
  return new Promise((done) => {
    const pathDir = join(dir, '.path');
    const proc = spawn('bash', ['-eo', 'pipefail', '-c', `shopt -s expand_aliases\n${script}`], {
      cwd: dir,
      env: {
        PATH: `${pathDir}:${process.env.PATH ?? ''}`,
        HOME: join(dir, 'home'),
        XDG_CONFIG_HOME: join(dir, 'home', '.config'),
        TMPDIR: join(dir, 'tmp'),
        TERM: 'dumb',
      },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let output = '';
    proc.stdout.on('data', (c) => (output += c));
    proc.stderr.on('data', (c) => (output += c));
    proc.stdin.on('error', () => undefined); // a block that never reads stdin
    proc.stdin.end(stdin);
    const timer = setTimeout(() => proc.kill('SIGKILL'), BLOCK_LIMIT_MS);
    proc.on('exit', (code, signal) => {
      clearTimeout(timer);
      done({ code: code ?? (signal ? `signal ${signal}` : 1), output });
    });
  });
}

async function check(block) {
  const dir = mkdtempSync(join(tmpdir(), 'latchkey-docs-'));
  let server = null;
  try {
    for (const d of ['home', 'tmp', '.path', 'bin']) mkdirSync(join(dir, d));
    symlinkSync(BIN, join(dir, 'bin', 'latchkey.js'));
    symlinkSync(BIN, join(dir, '.path', 'latchkey'));
    const env = {};
    for (const line of block.body) {
      const m = /^# server: (LATCHKEY_[A-Z0-9_]+)=(.*)$/.exec(line);
      if (m) env[m[1]] = m[2];
    }
    server = await startServer(dir, env);
    const hostPort = new URL(server.url).host;
    const script = block.body.join('\n').replaceAll('127.0.0.1:8080', hostPort).replaceAll('localhost:8080', hostPort).replaceAll('lk_live_…', server.key);
    const r = await runBlock(script, dir, `${server.key}\n`);
    return r.code === 0 ? null : `exit ${r.code}\n${r.output}`;
  } catch (err) {
    return err.message;
  } finally {
    if (server && server.proc.exitCode === null) {
      server.proc.kill('SIGTERM');
      await new Promise((r) => server.proc.once('exit', r));
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

// `node scripts/check-docs.mjs cli.md` checks only the files whose path contains that text.
const only = process.argv[2];
const files = [
  join(ROOT, 'README.md'),
  ...readdirSync(join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .sort()
    .map((f) => join(ROOT, 'docs', f)),
].filter((f) => only === undefined || f.includes(only));
let failed = 0;
let ran = 0;
const started = Date.now();
for (const file of files) {
  for (const block of blocksOf(file)) {
    if (!RUN.has(block.lang)) continue;
    const where = `${relative(ROOT, file)}:${block.line}`;
    const problem = await check(block);
    ran++;
    if (problem === null) process.stdout.write(`ok   ${where}\n`);
    else {
      failed++;
      process.stdout.write(`FAIL ${where}\n${problem.replace(/^/gm, '     ')}\n`);
    }
  }
}
process.stdout.write(`\n${ran - failed} of ${ran} shell examples ran clean in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
process.exit(failed === 0 ? 0 : 1);
