// Runs one or more load workers (bench/load.ts) pinned to the load core against a server, and
// measures the server over the primary worker's measured window: CPU from /proc/<pid>/stat,
// RSS from /proc/<pid>/status right after, and the CPU that other processes took meanwhile.
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { pinnedCommand, spawnTracked, stopChild } from './child-processes.js';
import type { LoadSpec, LoadSummary, LoadWorkerEvent } from './load-spec.js';
import { CpuWindowMeter, readRssMb } from './proc-usage.js';
import type { CpuWindow } from './proc-usage.js';

const benchDir = dirname(fileURLToPath(import.meta.url));
const loadScript = join(benchDir, 'load.ts');

export interface LoadRunOutcome {
  /** One summary per spec, in the order given; index 0 is the primary. */
  summaries: LoadSummary[];
  cpu: CpuWindow;
  rssMb: number | null;
}

function parseEvent(line: string): LoadWorkerEvent | null {
  if (!line.startsWith('{')) return null;
  try {
    const parsed = JSON.parse(line) as unknown;
    if (typeof parsed === 'object' && parsed !== null && 'event' in parsed) return parsed as LoadWorkerEvent;
  } catch {
    // not one of ours
  }
  return null;
}

interface Worker {
  child: ChildProcess;
  result: Promise<LoadSummary>;
}

function startWorker(spec: LoadSpec, placement: Placement, onMeasureStart: () => void): Worker {
  const [command, args] = pinnedCommand(placement.cpu, placement.nice, process.execPath, ['--import', 'tsx', loadScript, JSON.stringify(spec)]);
  const child = spawnTracked(command, args, {
    cwd: join(benchDir, '..'),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const result = new Promise<LoadSummary>((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    let summary: LoadSummary | null = null;
    let failure: string | null = null;
    child.stdout?.setEncoding('utf8');
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-4000);
    });
    child.stdout?.on('data', (chunk: string) => {
      stdout += chunk;
      let nl = stdout.indexOf('\n');
      while (nl >= 0) {
        const event = parseEvent(stdout.slice(0, nl));
        stdout = stdout.slice(nl + 1);
        if (event?.event === 'measure-start') onMeasureStart();
        else if (event?.event === 'result') summary = event.summary;
        else if (event?.event === 'error') failure = event.message;
        nl = stdout.indexOf('\n');
      }
    });
    const limit = setTimeout(
      () => {
        failure = `load worker "${spec.label}" did not finish in time`;
        child.kill('SIGKILL');
      },
      (spec.warmupSeconds + spec.durationSeconds + 60) * 1000,
    );
    child.once('exit', (code) => {
      clearTimeout(limit);
      if (summary !== null) resolve(summary);
      else reject(new Error(`load worker "${spec.label}" failed (exit ${String(code)}): ${failure ?? stderr.trim()}`));
    });
  });
  // Marked handled here; whoever awaits it still sees the failure.
  result.catch(() => undefined);
  return { child, result };
}

export interface LoadTarget {
  serverPid: number;
  /** Command name of the server's database processes ("postgres"), whose CPU is counted apart. */
  databaseCommand: string | null;
}

/** Where load workers run: the load core, at a scheduling priority (nice; 0 = normal). */
export interface Placement {
  cpu: number;
  nice: number;
}

export async function runLoad(specs: readonly LoadSpec[], target: LoadTarget, placement: Placement): Promise<LoadRunOutcome> {
  const { serverPid } = target;
  let meter: CpuWindowMeter | null = null;
  let cpu: CpuWindow | null = null;
  let rssMb: number | null = null;
  const workers: Worker[] = [];
  specs.forEach((spec, index) => {
    workers.push(
      startWorker(spec, placement, () => {
        if (index !== 0) return;
        const pids = workers.map((w) => w.child.pid).filter((p): p is number => p !== undefined);
        meter = new CpuWindowMeter(serverPid, pids, target.databaseCommand);
      }),
    );
  });
  const primary = workers[0];
  if (primary === undefined) throw new Error('runLoad needs at least one spec');
  try {
    // Close the window as soon as the primary reports, before anything else disturbs the server.
    const primarySummary = await primary.result.then((summary) => {
      const activeMeter: CpuWindowMeter | null = meter;
      cpu = activeMeter === null ? null : activeMeter.finish();
      rssMb = readRssMb(serverPid);
      return summary;
    });
    const others = await Promise.all(workers.slice(1).map((w) => w.result));
    const window: CpuWindow = cpu ?? { processPercent: 0, databasePercent: 0, otherPercent: 0, stealPercent: 0, wallSeconds: 0 };
    return { summaries: [primarySummary, ...others], cpu: window, rssMb };
  } finally {
    await Promise.all(workers.map((w) => stopChild(w.child, 1000)));
  }
}
