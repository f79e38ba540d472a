// Every process the harness starts goes through here, so that all of them are stopped when
// the harness ends: normally, on an error, or on SIGINT/SIGTERM.
import { spawn } from 'node:child_process';
import type { ChildProcess, SpawnOptions } from 'node:child_process';

const live = new Set<ChildProcess>();
let handlersInstalled = false;
const exitHooks: Array<() => void> = [];

export function spawnTracked(command: string, args: readonly string[], options: SpawnOptions): ChildProcess {
  installCleanupHandlers();
  const child = spawn(command, args, options);
  live.add(child);
  child.once('exit', () => live.delete(child));
  child.once('error', () => live.delete(child));
  return child;
}

/**
 * The command line that runs `command` pinned to one core (taskset) and, if `nice` is not 0, at
 * that scheduling priority. Both exec in place, so the child's pid is the command's own.
 */
export function pinnedCommand(cpu: number, nice: number, command: string, args: readonly string[]): [string, string[]] {
  const pinned = ['taskset', '-c', String(cpu), command, ...args];
  const full = nice === 0 ? pinned : ['nice', '-n', String(nice), ...pinned];
  return [full[0] ?? 'taskset', full.slice(1)];
}

/** Runs (synchronously) when the harness exits for any reason, after children are killed. */
export function onHarnessExit(hook: () => void): void {
  installCleanupHandlers();
  exitHooks.push(hook);
}

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** SIGTERM, then SIGKILL if it has not gone after graceMs. Resolves once it has exited. */
export function stopChild(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (exited(child)) return Promise.resolve();
  return new Promise((resolve) => {
    const killTimer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(killTimer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

function killAllNow(): void {
  for (const child of live) {
    if (!exited(child)) child.kill('SIGKILL');
  }
  live.clear();
}

function runExitHooks(): void {
  for (const hook of exitHooks.splice(0)) {
    try {
      hook();
    } catch {
      // best effort: we are on the way out
    }
  }
}

function installCleanupHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', () => {
    killAllNow();
    runExitHooks();
  });
  const onSignal = (signal: NodeJS.Signals, code: number): void => {
    process.stderr.write(`\nbench: ${signal}, stopping children\n`);
    killAllNow();
    process.exit(code);
  };
  process.once('SIGINT', () => onSignal('SIGINT', 130));
  process.once('SIGTERM', () => onSignal('SIGTERM', 143));
  process.once('SIGHUP', () => onSignal('SIGHUP', 129));
  process.on('uncaughtException', (err) => {
    process.stderr.write(`bench: ${err.stack ?? err.message}\n`);
    killAllNow();
    process.exit(1);
  });
  process.on('unhandledRejection', (reason) => {
    process.stderr.write(`bench: unhandled rejection: ${reason instanceof Error ? (reason.stack ?? reason.message) : String(reason)}\n`);
    killAllNow();
    process.exit(1);
  });
}
