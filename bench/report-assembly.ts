// Folds everything a run measured into one BenchReport (the source of the tables, RESULTS.md
// and results.json).
import type { BuildInfo } from './build-info.js';
import { readMachineInfo } from './machine-info.js';
import type { BenchOptions } from './options.js';
import { readLoadAverage } from './proc-usage.js';
import type { BenchReport } from './report-markdown.js';
import { median, summarizeDiskSync, summarizeFloods, summarizeRuns, summarizeStartups } from './results-model.js';
import type { SeedingRecord } from './results-model.js';
import type { RoundsOutcome } from './rounds.js';
import { LATCHKEY_BENCH_ENV, launcher } from './targets.js';
import type { Target } from './targets.js';

/** The command as typed, with any database password masked. */
export function displayCommand(argv: readonly string[]): string {
  const shown = argv.map((arg) => {
    if (!/^postgres(ql)?:\/\//.test(arg)) return arg;
    const url = new URL(arg);
    if (url.password !== '') url.password = '***';
    return url.toString();
  });
  return `npm run bench${shown.length > 0 ? ` -- ${shown.join(' ')}` : ''}`;
}

export interface ReportInputs {
  options: BenchOptions;
  startedAt: Date;
  build: BuildInfo;
  loadAverageAtStart: number;
  measured: readonly Target[];
  seeding: SeedingRecord[];
  rounds: RoundsOutcome;
  missing: string[];
  failures: string[];
}

export function assembleReport(inputs: ReportInputs): BenchReport {
  const { options, rounds } = inputs;
  const titles = new Map(inputs.measured.map((t) => [t.id, t.title]));
  const rows = [...summarizeRuns(rounds.runs, titles, rounds.notes)];
  const others = rounds.runs.map((r) => r.otherCpuPercent);
  const steals = rounds.runs.map((r) => r.stealPercent ?? 0);
  const launched = launcher();
  return {
    date: inputs.startedAt.toISOString(),
    command: displayCommand(options.argv),
    machine: readMachineInfo(),
    build: inputs.build,
    method: {
      rounds: options.rounds,
      durationSeconds: options.durationSeconds,
      warmupSeconds: options.warmupSeconds,
      connections: options.connections,
      fixedRate: options.fixedRate,
      serverCpu: options.serverCpu,
      loadCpu: options.loadCpu,
      nice: options.nice,
      quick: options.quick,
      latchkeyEnv: { ...LATCHKEY_BENCH_ENV, ...options.serverEnv },
      latchkeyNodeFlags: launched.nodeFlags,
      latchkeyLauncherEnv: launched.env,
    },
    rows,
    floods: summarizeFloods(rows, rounds.runs),
    startups: summarizeStartups(rounds.startupRuns, inputs.seeding),
    diskSync: summarizeDiskSync(rounds.diskSync),
    seeding: inputs.seeding,
    missing: [...inputs.missing, ...inputs.failures.map((f) => `failed: ${f.split('\n')[0] ?? f}`)],
    noise: {
      loadAverageAtStart: inputs.loadAverageAtStart,
      loadAverageAtEnd: readLoadAverage(),
      otherCpuMedian: others.length > 0 ? median(others) : 0,
      otherCpuMax: others.length > 0 ? Math.max(...others) : 0,
      stealMedian: steals.length > 0 ? median(steals) : 0,
      stealMax: steals.length > 0 ? Math.max(...steals) : 0,
    },
    runs: rounds.runs,
    startupRuns: rounds.startupRuns,
    diskSyncRuns: rounds.diskSync,
  };
}
