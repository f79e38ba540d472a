import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readFileSync, readdirSync, statSync, type WriteStream } from 'node:fs';
import { join, resolve } from 'node:path';
import { once } from 'node:events';
import { makeStoreFixture, type RawSql } from './store.ts';
import { removeAtExit, tempDir } from './temp.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const BIN = join(ROOT, 'bin/latchkey.js');

export interface ApiResponse<T = any> {
  status: number;
  headers: Headers;
  body: T;
  text: string;
}

export interface RequestOptions {
  key?: string | null;
  body?: unknown;
  rawBody?: string | Buffer;
  headers?: Record<string, string>;
}

export interface TestServer {
  url: string;
  ownerKey: string;
  dataDir: string;
  logFile: string;
  env: Record<string, string>;
  proc: ChildProcess;
  request<T = any>(method: string, path: string, opts?: RequestOptions): Promise<ApiResponse<T>>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  /** Every byte the server logged so far. */
  logs(): string;
  /** Direct SQL on this server's store, for fault injection and tamper tests. */
  sql(): Promise<RawSql>;
}

/** Servers still running when the test file's process exits (a failure, the runner's time limit): killed, never left behind. */
const running = new Set<ChildProcess>();
let killsAtExit = false;
function killAtExit(proc: ChildProcess): void {
  if (!killsAtExit) {
    process.on('exit', () => {
      for (const p of running) p.kill('SIGKILL');
    });
    // The runner ends a file that overran its time limit with SIGTERM, which skips 'exit' handlers unless caught.
    process.once('SIGTERM', () => process.exit(143));
  }
  killsAtExit = true;
  running.add(proc);
  proc.once('exit', () => running.delete(proc));
}

/** Starts `latchkey serve` the way a user does: a child process on a free port with its own data dir. */
export async function startServer(opts: { env?: Record<string, string>; dataDir?: string } = {}): Promise<TestServer> {
  // The data dir and the log are removed when the test file's process exits (support/temp.ts);
  // a data dir the caller passed in is the caller's (it was made by an earlier startServer, or by the test).
  const dataDir = opts.dataDir ?? tempDir('latchkey-test-');
  const store = await makeStoreFixture();
  const logFile = removeAtExit(`${dataDir}.log`);
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    LATCHKEY_PORT: '0',
    LATCHKEY_HOST: '127.0.0.1',
    LATCHKEY_DATA_DIR: dataDir,
    LATCHKEY_LOG_LEVEL: 'debug',
    ...store.env,
    ...opts.env,
  };
  const proc = spawn(process.execPath, [BIN, 'serve'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  killAtExit(proc);
  const log: WriteStream = createWriteStream(logFile, { flags: 'a' });
  let output = '';
  const collect = (chunk: Buffer) => {
    output += chunk.toString('utf8');
    log.write(chunk);
  };
  proc.stdout!.on('data', collect);
  proc.stderr!.on('data', collect);

  const url = await new Promise<string>((resolveUrl, reject) => {
    // Generous: on a 2-core box shared with other suites (load 25) a start took more than 15 s.
    // A server that does not make it is killed, or its pipes would keep the test file alive.
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`server did not start in 60 s:\n${output}`));
    }, 60_000);
    const check = () => {
      const m = /listening on (http:\/\/[^\s"]+)/.exec(output);
      if (m) {
        clearTimeout(timer);
        resolveUrl(m[1]!);
      }
    };
    proc.stdout!.on('data', check);
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code} before listening:\n${output}`));
    });
  });
  const ownerKey = /owner access key: (lk_\S+)/.exec(output)?.[1] ?? '';

  const server: TestServer = {
    url,
    ownerKey,
    dataDir,
    logFile,
    env,
    proc,
    async request(method, path, o = {}) {
      const headers: Record<string, string> = { ...o.headers };
      const key = o.key === undefined ? ownerKey : o.key;
      if (key !== null) headers.authorization = `Bearer ${key}`;
      let body: string | Buffer | undefined;
      if (o.rawBody !== undefined) body = o.rawBody;
      else if (o.body !== undefined) {
        body = JSON.stringify(o.body);
        headers['content-type'] ??= 'application/json';
      }
      const res = await fetch(url + path, { method, headers, body });
      const text = await res.text();
      let parsed: unknown;
      try {
        parsed = text === '' ? undefined : JSON.parse(text);
      } catch {
        parsed = text;
      }
      return { status: res.status, headers: res.headers, body: parsed as any, text };
    },
    async stop(signal = 'SIGTERM') {
      let code = proc.exitCode;
      // A process killed by a signal has no exit code but has a signal code: it is gone already.
      if (code === null && proc.signalCode === null) {
        proc.kill(signal);
        [code] = (await once(proc, 'exit')) as [number | null];
      }
      await new Promise<void>((r) => log.end(r));
      await store.drop();
      return code;
    },
    logs: () => output,
    sql: () => store.raw(dataDir),
  };
  return server;
}

/** Every file below a directory, for scanning what the server left on disk. */
export function readTree(dir: string): Buffer[] {
  const out: Buffer[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...readTree(p));
    else out.push(readFileSync(p));
  }
  return out;
}

/** Runs a command of the CLI to completion. */
export async function runCli(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const proc = spawn(process.execPath, [BIN, ...args], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  proc.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const [code] = (await once(proc, 'exit')) as [number | null];
  return { code, stdout, stderr };
}

export const smtpBody = (name: string, password = 'pw-' + Math.random().toString(36).slice(2)) => ({
  name,
  type: 'smtp',
  config: { host: 'smtp.example.com', auth_type: 'login', username: 'mailer' },
  secret: { password },
});

/** The body of an answer that must have `status` (201 by default); fails with the answer's text. */
export async function ok<T = any>(p: Promise<ApiResponse<T>>, status = 201): Promise<T> {
  const r = await p;
  assert.equal(r.status, status, r.text);
  return r.body;
}
