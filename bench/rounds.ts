// The measuring loop: for each round, each server in turn (order reversed every other round),
// started fresh, every scenario of it run once. One failed run is recorded and skipped.
import { probeDiskSync } from './disk-sync-probe.js';
import type { DiskSyncRecord } from './disk-sync-probe.js';
import { runLoad } from './load-runner.js';
import type { Placement } from './load-runner.js';
import type { RunRecord, StartupRecord } from './results-model.js';
import type { RunningServer } from './server-launch.js';
import type { Target } from './targets.js';

export interface RoundsOutcome {
  runs: RunRecord[];
  startupRuns: StartupRecord[];
  /** fdatasync latency of the stores' disk, once per round (when a Latchkey server is measured). */
  diskSync: DiskSyncRecord[];
  /** Per-row notes, keyed by `${targetId}\0${scenarioId}`. */
  notes: Map<string, string>;
  failures: string[];
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

async function measureServer(
  target: Target,
  server: RunningServer,
  round: number,
  rounds: number,
  load: Placement,
  out: RoundsOutcome,
  log: (m: string) => void,
  only: ReadonlySet<string> | null,
): Promise<void> {
  const tag = `[round ${round}/${rounds}] ${target.id}`;
  if (target.kind === 'latchkey') {
    out.startupRuns.push({ targetId: target.id, round, spawnToListeningMs: server.spawnToListeningMs, spawnToReadyMs: server.spawnToReadyMs });
    log(`${tag}: ready ${server.spawnToReadyMs?.toFixed(0) ?? '?'} ms after spawn`);
  }
  // A scenario with settings of its own runs on a second server started with them (shared by
  // consecutive scenarios with the same settings); the round's server stays up but idle meanwhile.
  let own: { env: string; server: RunningServer } | null = null;
  const stopOwn = async (): Promise<void> => {
    const running = own;
    own = null;
    await running?.server.stop();
  };
  const scenarios = (await target.scenarios(server)).filter((s) => only === null || only.has(s.id));
  for (const scenario of scenarios) {
    if (scenario.note !== undefined) out.notes.set(`${target.id}\u0000${scenario.id}`, scenario.note);
    try {
      const env = scenario.serverEnv === undefined ? null : JSON.stringify(scenario.serverEnv);
      if (own !== null && own.env !== env) await stopOwn();
      if (scenario.serverEnv !== undefined && env !== null && own === null) own = { env, server: await target.start(scenario.serverEnv) };
      const measured = own?.server ?? server;
      // A direct row measures the proxy's loopback target itself, not the server under test.
      const specs = scenario.specs.map((spec) => (scenario.direct === true ? spec : { ...spec, origin: measured.origin }));
      const loadTarget = { serverPid: scenario.directPid ?? measured.pid, databaseCommand: scenario.direct === true ? null : target.databaseCommand };
      const teardown = scenario.setup === undefined ? null : await scenario.setup(measured.origin);
      const outcome = await (scenario.measure === undefined ? runLoad(specs, loadTarget, load) : scenario.measure(measured.origin, loadTarget)).finally(() =>
        teardown?.(),
      );
      const [summary, ...background] = outcome.summaries;
      if (summary === undefined) continue;
      out.runs.push({
        round,
        targetId: target.id,
        scenarioId: scenario.id,
        label: scenario.label,
        kind: scenario.kind,
        summary,
        background,
        serverCpuPercent: outcome.cpu.processPercent,
        databaseCpuPercent: target.databaseCommand === null ? null : outcome.cpu.databasePercent,
        otherCpuPercent: outcome.cpu.otherPercent,
        stealPercent: outcome.cpu.stealPercent,
        rssMb: outcome.rssMb,
      });
      log(
        `${tag} ${scenario.label}: ${summary.rps.toFixed(0)} req/s, p99 ${summary.latencyMs.p99.toFixed(2)} ms, ` +
          `bad ${summary.unexpected}, cpu ${outcome.cpu.processPercent.toFixed(0)} %` +
          (summary.unexpected > 0 ? `, statuses ${JSON.stringify(summary.statusCounts)}` : ''),
      );
    } catch (err) {
      const message = `round ${round}: ${target.id} ${scenario.label}: ${errorText(err)}`;
      log(`bench: ${message}`);
      out.failures.push(message);
      // A server of its own that saw a failure is not trusted with the next scenario.
      await stopOwn();
    }
    const ended = server.exitStatus();
    if (ended !== null) {
      await stopOwn();
      throw new Error(`server ${ended} during "${scenario.label}"; its other rows are skipped this round`);
    }
  }
  await stopOwn();
}

export interface DiskSyncProbe {
  seconds: number;
  rate: number;
}

export async function runRounds(
  targets: readonly Target[],
  rounds: number,
  load: Placement,
  diskSync: DiskSyncProbe,
  log: (m: string) => void,
  /** Scenario ids to run; null: all. */
  only: ReadonlySet<string> | null = null,
): Promise<RoundsOutcome> {
  const out: RoundsOutcome = { runs: [], startupRuns: [], diskSync: [], notes: new Map(), failures: [] };
  const durable = targets.some((t) => t.kind === 'latchkey');
  for (let round = 1; round <= rounds; round += 1) {
    if (durable) {
      // No server runs meanwhile: this is the disk alone.
      const probe = await probeDiskSync(round, diskSync.seconds, diskSync.rate);
      out.diskSync.push(probe);
      log(
        `[round ${round}/${rounds}] disk: fdatasync p50 ${probe.latencyMs.p50.toFixed(2)} ms, p99 ${probe.latencyMs.p99.toFixed(2)} ms, p99.9 ${probe.latencyMs.p999.toFixed(2)} ms`,
      );
    }
    const order = round % 2 === 1 ? targets : [...targets].reverse();
    for (const target of order) {
      let server: RunningServer;
      try {
        server = await target.start();
      } catch (err) {
        const message = `round ${round}: ${target.id} did not start: ${errorText(err)}`;
        log(`bench: ${message}`);
        out.failures.push(message);
        continue;
      }
      try {
        await measureServer(target, server, round, rounds, load, out, log, only);
      } catch (err) {
        const message = `round ${round}: ${target.id}: ${errorText(err)}\n${server.recentOutput()}`;
        log(`bench: ${message}`);
        out.failures.push(message);
      } finally {
        await server.stop();
      }
    }
  }
  return out;
}
