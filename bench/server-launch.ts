// Starts a server under test pinned to its own core, waits for its "listening on" line (and,
// for Latchkey, its /readyz), and times both from the moment of spawn.
import http from 'node:http';
import net from 'node:net';
import type { ChildProcess } from 'node:child_process';
import { pinnedCommand, spawnTracked, stopChild } from './child-processes.js';

const LISTENING = /listening on (http:\/\/[^\s"]+)/;
const OWNER_KEY = /owner access key: (lk_[A-Za-z0-9_-]+)/;

export interface ServerSpec {
  name: string;
  command: string;
  args: string[];
  env: Record<string, string>;
  cwd: string;
  /** Core to pin to with taskset. */
  cpu: number;
  /** Scheduling priority (nice); 0 = normal. */
  nice: number;
  /** Path polled until 200 after the listening line (e.g. /readyz). */
  readyPath?: string;
  /** Wait for the one-time "owner access key:" line (first start on an empty store). */
  expectOwnerKey?: boolean;
  /** The ceilings exit when their stdin closes, so a killed harness leaves none behind. */
  stdin: 'pipe' | 'ignore';
  startTimeoutMs?: number;
  /**
   * Port the server was told to use. Then the server counts as listening as soon as
   * `livenessPath` answers there, even if it never prints its "listening on" line.
   */
  knownPort?: number;
  livenessPath?: string;
}

export interface RunningServer {
  name: string;
  pid: number;
  origin: string;
  ownerKey: string | null;
  spawnToListeningMs: number;
  spawnToReadyMs: number | null;
  recentOutput(): string;
  /** null while it runs; else how it ended (exit code or signal). */
  exitStatus(): string | null;
  stop(): Promise<void>;
}

function getStatus(url: string): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get(url, { agent: false, timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A port that was free a moment ago (for servers that do not say where they listen). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('no free port'))));
    });
  });
}

export async function launchServer(spec: ServerSpec): Promise<RunningServer> {
  const started = performance.now();
  const timeoutMs = spec.startTimeoutMs ?? 120_000;
  const [command, args] = pinnedCommand(spec.cpu, spec.nice, spec.command, spec.args);
  const child: ChildProcess = spawnTracked(command, args, {
    cwd: spec.cwd,
    env: { ...process.env, ...spec.env },
    stdio: [spec.stdin, 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let origin: string | null = null;
  let ownerKey: string | null = null;
  let listeningAt = 0;
  let exitNote: string | null = null;

  const onText = (stream: NodeJS.ReadableStream): void => {
    let pending = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      pending += chunk;
      let nl = pending.indexOf('\n');
      while (nl >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        lines.push(line);
        if (lines.length > 200) lines.shift();
        const listening = origin === null ? LISTENING.exec(line) : null;
        if (listening?.[1] !== undefined) {
          origin = listening[1].replace('localhost', '127.0.0.1');
          listeningAt = performance.now();
        }
        const key = ownerKey === null ? OWNER_KEY.exec(line) : null;
        if (key?.[1] !== undefined) ownerKey = key[1];
        nl = pending.indexOf('\n');
      }
    });
  };
  if (child.stdout) onText(child.stdout);
  if (child.stderr) onText(child.stderr);
  child.once('exit', (code, signal) => {
    exitNote = `exited (code ${String(code)}, signal ${String(signal)})`;
  });

  const recentOutput = (): string => lines.slice(-40).join('\n');
  const fail = async (why: string): Promise<never> => {
    await stopChild(child, 2000);
    throw new Error(`${spec.name}: ${why}\n--- last output ---\n${recentOutput()}`);
  };

  let lastProbe = 0;
  while (origin === null || (spec.expectOwnerKey === true && ownerKey === null)) {
    if (exitNote !== null) return fail(exitNote);
    if (origin === null && spec.knownPort !== undefined && performance.now() - lastProbe > 10) {
      lastProbe = performance.now();
      const candidate = `http://127.0.0.1:${spec.knownPort}`;
      if ((await getStatus(`${candidate}${spec.livenessPath ?? '/'}`)) !== 0 && origin === null) {
        origin = candidate;
        listeningAt = performance.now();
      }
    }
    const waited = performance.now() - started;
    if (waited > timeoutMs) return fail(`no "listening on" line within ${timeoutMs} ms`);
    // The owner key line may come just before or after the listening line; give it 10 s.
    if (origin !== null && waited > listeningAt - started + 10_000) return fail('no "owner access key:" line on first start');
    await sleep(2);
  }
  const listeningOrigin: string = origin;
  const spawnToListeningMs = listeningAt - started;

  let spawnToReadyMs: number | null = null;
  if (spec.readyPath !== undefined) {
    for (;;) {
      if (exitNote !== null) return fail(exitNote);
      if ((await getStatus(`${listeningOrigin}${spec.readyPath}`)) === 200) {
        spawnToReadyMs = performance.now() - started;
        break;
      }
      if (performance.now() - started > timeoutMs) return fail(`${spec.readyPath} not 200 within ${timeoutMs} ms`);
      await sleep(5);
    }
  }

  const pid = child.pid;
  if (pid === undefined) return fail('no pid');
  return {
    name: spec.name,
    pid,
    origin: listeningOrigin,
    ownerKey,
    spawnToListeningMs,
    spawnToReadyMs,
    recentOutput,
    exitStatus: () => exitNote,
    stop: () => stopChild(child),
  };
}
