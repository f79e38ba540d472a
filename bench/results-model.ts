// What a bench run records, and how the per-round runs fold into the reported rows.
import type { DiskSyncRecord } from './disk-sync-probe.js';
import type { LoadSummary } from './load-spec.js';
import type { ScenarioKind } from './scenarios.js';

export interface RunRecord {
  round: number;
  targetId: string;
  scenarioId: string;
  label: string;
  kind: ScenarioKind;
  summary: LoadSummary;
  /** Background workers of the same run (the bad-key flood). */
  background: LoadSummary[];
  serverCpuPercent: number;
  /** CPU of the database's own processes (PostgreSQL), null for in-process SQLite. */
  databaseCpuPercent: number | null;
  otherCpuPercent: number;
  /** Absent from results.json files written before steal was read apart. */
  stealPercent?: number;
  rssMb: number | null;
}

export interface StartupRecord {
  targetId: string;
  round: number;
  spawnToListeningMs: number;
  spawnToReadyMs: number | null;
}

export interface SeedingRecord {
  targetId: string;
  target: number;
  created: number;
  tenants: number;
  hotTenantCredentials: number;
  seconds: number;
  ratePerSecond: number;
  concurrency: number;
  stoppedEarly: string | null;
  /** Server CPU while seeding (% of one core); well under 100 % means it waited on I/O (fsync). */
  serverCpuPercent: number | null;
  databaseCpuPercent: number | null;
}

export interface SummaryRow {
  targetId: string;
  targetTitle: string;
  scenarioId: string;
  label: string;
  kind: ScenarioKind;
  rounds: number;
  rps: number | null;
  p50: number | null;
  p99: number | null;
  p999: number | null;
  /** Wrong status or connection error, summed over all rounds. */
  badAnswers: number | null;
  rssMb: number | null;
  cpuPercent: number | null;
  databaseCpuPercent: number | null;
  /** Requests answered per second of server (+ database) CPU: req/s ÷ (CPU % / 100). Steadier than req/s on a busy machine. */
  rpsPerCpuSecond: number | null;
  otherCpuPercent: number | null;
  /** req/s relative to the hello-world ceiling of the same run (saturation rows only). */
  ratioToHello: number | null;
  /** Paced rows: p99 of how late the sender sent (median over rounds); big = the load core was starved. */
  sendLagP99Ms: number | null;
  note: string | null;
}

export interface FloodSummary {
  targetId: string;
  aloneRps: number;
  withFloodRps: number;
  slowdownPercent: number;
  /** Same, on good requests per second of server CPU: not fooled by other processes taking the core. */
  slowdownPerCpuPercent: number | null;
  aloneP99: number;
  withFloodP99: number;
  floodRps: number;
}

export interface StartupSummary {
  targetId: string;
  credentials: number;
  rounds: number;
  spawnToListeningMs: number;
  spawnToReadyMs: number | null;
}

export interface DiskSyncSummary {
  rounds: number;
  syncsPerSecond: number;
  p50: number;
  p99: number;
  p999: number;
  max: number;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] ?? Number.NaN) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

function medianOrNull(values: ReadonlyArray<number | null>): number | null {
  const present = values.filter((v): v is number => v !== null && Number.isFinite(v));
  return present.length === 0 ? null : median(present);
}

/** Requests per second of CPU, from req/s and the CPU it took (% of one core); null when that hardly ran. */
export function rpsPerCpuSecond(rps: number, cpuPercent: number): number | null {
  return cpuPercent > 1 ? rps / (cpuPercent / 100) : null;
}

/** Requests per second of server CPU (PostgreSQL's included) in one run. */
export function runRpsPerCpuSecond(r: RunRecord): number | null {
  return rpsPerCpuSecond(r.summary.rps, r.serverCpuPercent + (r.databaseCpuPercent ?? 0));
}

export function summarizeRuns(runs: readonly RunRecord[], titles: ReadonlyMap<string, string>, notes: ReadonlyMap<string, string>): SummaryRow[] {
  const groups = new Map<string, RunRecord[]>();
  for (const run of runs) {
    const key = `${run.targetId}\u0000${run.scenarioId}`;
    const group = groups.get(key) ?? [];
    group.push(run);
    groups.set(key, group);
  }
  const helloRps = medianOrNull(runs.filter((r) => r.targetId === 'hello' && r.scenarioId === 'hello').map((r) => r.summary.rps));
  const rows: SummaryRow[] = [];
  for (const group of groups.values()) {
    const first = group[0];
    if (first === undefined) continue;
    const rps = median(group.map((r) => r.summary.rps));
    rows.push({
      targetId: first.targetId,
      targetTitle: titles.get(first.targetId) ?? first.targetId,
      scenarioId: first.scenarioId,
      label: first.label,
      kind: first.kind,
      rounds: group.length,
      rps,
      p50: median(group.map((r) => r.summary.latencyMs.p50)),
      p99: median(group.map((r) => r.summary.latencyMs.p99)),
      p999: median(group.map((r) => r.summary.latencyMs.p999)),
      badAnswers: group.reduce((sum, r) => sum + r.summary.unexpected, 0),
      rssMb: medianOrNull(group.map((r) => r.rssMb)),
      cpuPercent: median(group.map((r) => r.serverCpuPercent)),
      databaseCpuPercent: medianOrNull(group.map((r) => r.databaseCpuPercent)),
      rpsPerCpuSecond: medianOrNull(group.map(runRpsPerCpuSecond)),
      otherCpuPercent: median(group.map((r) => r.otherCpuPercent)),
      ratioToHello: first.kind === 'paced' || helloRps === null || helloRps === 0 ? null : rps / helloRps,
      sendLagP99Ms: medianOrNull(group.map((r) => r.summary.sendLagMs?.p99 ?? null)),
      note: notes.get(`${first.targetId}\u0000${first.scenarioId}`) ?? null,
    });
  }
  return rows;
}

export function summarizeFloods(rows: readonly SummaryRow[], runs: readonly RunRecord[]): FloodSummary[] {
  const out: FloodSummary[] = [];
  for (const flooded of rows.filter((r) => r.kind === 'flood')) {
    const alone = rows.find((r) => r.targetId === flooded.targetId && r.scenarioId === 'metadata');
    if (alone?.rps == null || flooded.rps === null) continue;
    const floodRuns = runs.filter((r) => r.targetId === flooded.targetId && r.scenarioId === flooded.scenarioId);
    const floodRps = median(floodRuns.map((r) => r.background[0]?.rps ?? 0));
    out.push({
      targetId: flooded.targetId,
      aloneRps: alone.rps,
      withFloodRps: flooded.rps,
      slowdownPercent: alone.rps > 0 ? (1 - flooded.rps / alone.rps) * 100 : 0,
      slowdownPerCpuPercent:
        alone.rpsPerCpuSecond !== null && flooded.rpsPerCpuSecond !== null && alone.rpsPerCpuSecond > 0
          ? (1 - flooded.rpsPerCpuSecond / alone.rpsPerCpuSecond) * 100
          : null,
      aloneP99: alone.p99 ?? Number.NaN,
      withFloodP99: flooded.p99 ?? Number.NaN,
      floodRps,
    });
  }
  return out;
}

export function summarizeStartups(startups: readonly StartupRecord[], seeding: readonly SeedingRecord[]): StartupSummary[] {
  const ids = [...new Set(startups.map((s) => s.targetId))];
  return ids.map((targetId) => {
    const group = startups.filter((s) => s.targetId === targetId);
    return {
      targetId,
      credentials: seeding.find((s) => s.targetId === targetId)?.created ?? 0,
      rounds: group.length,
      spawnToListeningMs: median(group.map((s) => s.spawnToListeningMs)),
      spawnToReadyMs: medianOrNull(group.map((s) => s.spawnToReadyMs)),
    };
  });
}

export function summarizeDiskSync(records: readonly DiskSyncRecord[]): DiskSyncSummary | null {
  if (records.length === 0) return null;
  return {
    rounds: records.length,
    syncsPerSecond: median(records.map((r) => r.syncsPerSecond)),
    p50: median(records.map((r) => r.latencyMs.p50)),
    p99: median(records.map((r) => r.latencyMs.p99)),
    p999: median(records.map((r) => r.latencyMs.p999)),
    max: Math.max(...records.map((r) => r.latencyMs.max)),
  };
}
