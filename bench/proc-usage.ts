// Resource use of a process, read from /proc (Linux): resident memory and CPU time.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

let ticksPerSecond: number | undefined;

function clockTicksPerSecond(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/** VmRSS in MiB, or null when the process is gone. */
export function readRssMb(pid: number): number | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    return match?.[1] === undefined ? null : Number(match[1]) / 1024;
  } catch {
    return null;
  }
}

/** utime + stime of the whole process (all threads), in seconds; null when gone. */
export function readCpuSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[0] is field 3 (state); utime and stime are fields 14 and 15.
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    return (utime + stime) / clockTicksPerSecond();
  } catch {
    return null;
  }
}

/**
 * CPU seconds of the whole machine (all cores), from /proc/stat: busy (without steal), and steal —
 * the time a virtual machine's CPUs were ready to run but the hypervisor ran something else.
 */
export function readMachineCpuSeconds(): { busy: number; steal: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  const values = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal ...
  const idle = (values[3] ?? 0) + (values[4] ?? 0);
  const steal = values[7] ?? 0;
  const total = values.slice(0, 8).reduce((a, b) => a + b, 0);
  return { busy: (total - idle - steal) / clockTicksPerSecond(), steal: steal / clockTicksPerSecond() };
}

/** Pids of processes whose command name is `comm` (e.g. every PostgreSQL backend). */
export function pidsByCommand(comm: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() === comm) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

export function readLoadAverage(): number {
  return Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0] ?? '0');
}

export interface CpuWindow {
  /** CPU use of the process over the window, in % of one core. */
  processPercent: number;
  /** CPU of the database processes (PostgreSQL backends), % of one core; 0 when none are watched. */
  databasePercent: number;
  /** CPU used by everything else on the machine (not the process, its database, the load workers or this harness), % of one core. */
  otherPercent: number;
  /** CPU time the hypervisor kept from this machine's cores (steal), % of one core. */
  stealPercent: number;
  wallSeconds: number;
}

function sumSince(starts: ReadonlyMap<number, number>, pids: readonly number[]): number {
  let used = 0;
  for (const pid of new Set([...starts.keys(), ...pids])) {
    const start = starts.get(pid) ?? 0;
    used += (readCpuSeconds(pid) ?? start) - start;
  }
  return used;
}

export class CpuWindowMeter {
  private readonly startedAt: number;
  private readonly processStart: number;
  private readonly machineStart: { busy: number; steal: number };
  private readonly excludedStart: Map<number, number>;
  private readonly databaseStart: Map<number, number>;

  /**
   * pid: the measured process; excludedPids: the load generators (and this harness) whose CPU
   * is not "other"; databaseCommand: command name of the database's processes, if it has any.
   */
  constructor(
    private readonly pid: number,
    excludedPids: readonly number[],
    private readonly databaseCommand: string | null = null,
  ) {
    this.startedAt = performance.now();
    this.processStart = readCpuSeconds(pid) ?? 0;
    this.machineStart = readMachineCpuSeconds();
    this.excludedStart = new Map([...excludedPids, process.pid].map((p) => [p, readCpuSeconds(p) ?? 0]));
    const dbPids = databaseCommand === null ? [] : pidsByCommand(databaseCommand);
    this.databaseStart = new Map(dbPids.map((p) => [p, readCpuSeconds(p) ?? 0]));
  }

  finish(): CpuWindow {
    const wallSeconds = (performance.now() - this.startedAt) / 1000;
    const processUsed = (readCpuSeconds(this.pid) ?? this.processStart) - this.processStart;
    const machine = readMachineCpuSeconds();
    const machineUsed = machine.busy - this.machineStart.busy;
    const excludedUsed = sumSince(this.excludedStart, []);
    // Backends that appeared during the window count from zero: they are new connections.
    const databaseUsed = this.databaseCommand === null ? 0 : sumSince(this.databaseStart, pidsByCommand(this.databaseCommand));
    const other = Math.max(0, machineUsed - processUsed - excludedUsed - databaseUsed);
    const percent = (seconds: number): number => (wallSeconds > 0 ? (seconds / wallSeconds) * 100 : 0);
    return {
      processPercent: percent(processUsed),
      databasePercent: percent(databaseUsed),
      otherPercent: percent(other),
      stealPercent: percent(machine.steal - this.machineStart.steal),
      wallSeconds,
    };
  }
}
