// `npm run bench`: starts each compared server in its own process on the server core, seeds
// Latchkey through its API, fires load from workers on the load core, alternates the servers
// over several rounds, and reports medians (stdout, bench/RESULTS.md, bench/out/results.json).
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { planTargets } from './bench-plan.js';
import { readBuildInfo } from './build-info.js';
import { parseBenchOptions, USAGE } from './options.js';
import type { BenchOptions } from './options.js';
import { prepareTargets } from './prepare-targets.js';
import { readLoadAverage } from './proc-usage.js';
import { assembleReport } from './report-assembly.js';
import { renderTables } from './report-markdown.js';
import { writeReport } from './results-files.js';
import { runRounds } from './rounds.js';
import { repoRoot } from './targets.js';
import type { TargetContext } from './targets.js';

function log(message: string): void {
  process.stderr.write(`${message}\n`);
}

/** Keep this orchestrator (and the seeding client in it) off the server core. */
function pinSelf(cpu: number): void {
  try {
    execFileSync('taskset', ['-a', '-c', '-p', String(cpu), String(process.pid)], { stdio: 'ignore' });
  } catch {
    log(`bench: could not pin the harness to core ${cpu} (taskset failed)`);
  }
}

async function main(): Promise<number> {
  let options: BenchOptions;
  try {
    options = parseBenchOptions(process.argv.slice(2));
  } catch (err) {
    log(`${err instanceof Error ? err.message : String(err)}\n${USAGE}`);
    return 2;
  }
  pinSelf(options.loadCpu);
  const startedAt = new Date();
  const loadAverageAtStart = readLoadAverage();
  const build = readBuildInfo(repoRoot);
  if (loadAverageAtStart > 0.5) log(`bench: warning: load average is ${loadAverageAtStart.toFixed(2)}; other work on this machine will skew the figures`);

  const ctx: TargetContext = {
    shape: { connections: options.connections, durationSeconds: options.durationSeconds, warmupSeconds: options.warmupSeconds, fixedRate: options.fixedRate },
    serverCpu: options.serverCpu,
    loadCpu: options.loadCpu,
    nice: options.nice,
    keep: options.keep,
    latchkeyEnv: options.serverEnv,
    cpuProfDir: options.cpuProfDir,
  };
  const plan = await planTargets(options, ctx, log);
  try {
    const prepared = await prepareTargets(plan.targets, plan.latchkeyTargets, options.seedConcurrency, log);
    const rounds = await runRounds(
      prepared.ready,
      options.rounds,
      { cpu: options.loadCpu, nice: options.nice },
      { seconds: options.durationSeconds, rate: options.fixedRate },
      log,
      options.only,
    );
    const failures = [...prepared.failures, ...rounds.failures];
    const report = assembleReport({
      options,
      startedAt,
      build,
      loadAverageAtStart,
      measured: prepared.ready,
      seeding: prepared.seeding,
      rounds,
      missing: [...plan.missing, ...prepared.missing],
      failures,
    });
    process.stdout.write(`\n${renderTables(report)}\n\n`);
    const publish = options.write || (!options.quick && !options.ceilingsOnly);
    const files = writeReport(report, join(repoRoot, 'bench'), publish);
    log(`bench: wrote ${files.markdown} and ${files.json}${publish ? '' : ' (a quick/partial run: pass --write to publish to bench/RESULTS.md)'}`);
    return failures.length > 0 ? 1 : 0;
  } finally {
    for (const target of plan.targets) await target.cleanup().catch(() => undefined);
    const scratch = plan.scratch;
    if (scratch !== null) await scratch.drop().catch((err: unknown) => log(`bench: could not drop ${scratch.name}: ${String(err)}`));
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    log(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(1);
  },
);
