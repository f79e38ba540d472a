// `npm run bench:paired`: the ratios the targets are stated in, from windows seconds apart.
// `npm run bench` measures each server minutes after the others, and on a shared virtual machine
// the core's speed moves more than that in minutes (hello world ran 21,000–37,000 req/s across
// the rounds of one run): a ratio of two medians then mostly measures the host. Here the servers
// are started once, side by side on the server core (an idle one costs nothing), and short
// windows of each endpoint follow each other, in reversed order every other pair; each ratio is
// taken within one pair, and the report is the median and the range of those.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { readBuildInfo } from './build-info.js';
import { runLoad } from './load-runner.js';
import { readMachineInfo } from './machine-info.js';
import { median, rpsPerCpuSecond } from './results-model.js';
import { helloScenarios } from './scenarios.js';
import type { Scenario } from './scenarios.js';
import type { RunningServer } from './server-launch.js';
import { helloTarget, latchkeyTarget, repoRoot, snapshotLatchkeyBuild } from './targets.js';
import type { TargetContext } from './targets.js';

const SERVER_CPU = 0;
const LOAD_CPU = 1;

interface Window {
  id: string;
  rps: number;
  /** Requests per second of server CPU. */
  rpsPerCpu: number;
}

/** One ratio: a numerator window over a denominator window of the same pair. */
interface Ratio {
  title: string;
  of(pair: ReadonlyMap<string, Window>): number;
}

const RATIOS: Ratio[] = [
  { title: 'metadata GET req/s ÷ hello world req/s (target ≥ 0.60)', of: (p) => need(p, 'metadata').rps / need(p, 'hello').rps },
  { title: 'audited reveal req/s ÷ hello world req/s (target ≥ 0.50)', of: (p) => need(p, 'reveal').rps / need(p, 'hello').rps },
  {
    title: 'never-held 401 CPU ÷ metadata GET CPU, one server (target ≤ 1.00)',
    of: (p) => need(p, 'metadata-unheld').rpsPerCpu / need(p, 'bad-key-unheld').rpsPerCpu,
  },
];

function need(pair: ReadonlyMap<string, Window>, id: string): Window {
  const w = pair.get(id);
  if (w === undefined) throw new Error(`no ${id} window in this pair`);
  return w;
}

function log(message: string): void {
  process.stderr.write(`${message}\n`);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      pairs: { type: 'string', default: '6' },
      seconds: { type: 'string', default: '6' },
      credentials: { type: 'string', default: '10000' },
      write: { type: 'boolean', default: false },
    },
  });
  const pairs = Number(values.pairs);
  const seconds = Number(values.seconds);
  const credentials = Number(values.credentials);
  if (![pairs, seconds, credentials].every((n) => Number.isInteger(n) && n > 0)) throw new Error('--pairs, --seconds and --credentials take positive integers');
  execFileSync('taskset', ['-a', '-c', '-p', String(LOAD_CPU), String(process.pid)], { stdio: 'ignore' });
  const startedAt = new Date();
  const build = readBuildInfo(repoRoot);

  const ctx: TargetContext = {
    shape: { connections: 50, durationSeconds: seconds, warmupSeconds: 1, fixedRate: 1000 },
    serverCpu: SERVER_CPU,
    loadCpu: LOAD_CPU,
    nice: 0,
    keep: false,
    latchkeyEnv: {},
    cpuProfDir: null,
  };
  const hello = helloTarget(ctx);
  const latchkey = latchkeyTarget(
    {
      id: 'latchkey-sqlite',
      title: 'Latchkey, SQLite',
      credentials,
      databaseUrl: null,
      seedConcurrency: 32,
      seedBudgetSeconds: 600,
      deepPages: 1,
      binPath: snapshotLatchkeyBuild(false),
    },
    ctx,
  );
  const servers: RunningServer[] = [];
  try {
    await hello.prepare();
    await latchkey.prepare();
    const helloServer = await hello.start();
    servers.push(helloServer);
    const held = await latchkey.start();
    servers.push(held);
    const scenarios = (await latchkey.scenarios(held)).filter(
      (s) => s.id === 'metadata' || s.id === 'reveal' || s.id === 'metadata-unheld' || s.id === 'bad-key-unheld',
    );
    const unheldEnv = scenarios.find((s) => s.serverEnv !== undefined)?.serverEnv;
    const unheld = await latchkey.start(unheldEnv);
    servers.push(unheld);
    const windows: Array<{ scenario: Scenario; server: RunningServer }> = [
      ...helloScenarios(helloServer.origin, ctx.shape)
        .filter((s) => s.id === 'hello')
        .map((scenario) => ({ scenario, server: helloServer })),
      ...scenarios.map((scenario) => ({ scenario, server: scenario.serverEnv === undefined ? held : unheld })),
    ];
    if (windows.length !== 5) throw new Error(`expected 5 endpoints, found ${windows.map((w) => w.scenario.id).join(', ')}`);

    const measured: Array<Map<string, Window>> = [];
    for (let n = 1; n <= pairs; n += 1) {
      const pair = new Map<string, Window>();
      for (const { scenario, server } of n % 2 === 1 ? windows : [...windows].reverse()) {
        const specs = scenario.specs.map((spec) => ({ ...spec, origin: server.origin }));
        const outcome = await runLoad(specs, { serverPid: server.pid, databaseCommand: null }, { cpu: LOAD_CPU, nice: 0 });
        const summary = outcome.summaries[0];
        if (summary === undefined || summary.unexpected > 0) throw new Error(`${scenario.id}: ${summary?.unexpected ?? '?'} unexpected answers`);
        const rpsPerCpu = rpsPerCpuSecond(summary.rps, outcome.cpu.processPercent);
        if (rpsPerCpu === null) throw new Error(`${scenario.id}: the server hardly ran (${outcome.cpu.processPercent.toFixed(1)} % CPU)`);
        pair.set(scenario.id, { id: scenario.id, rps: summary.rps, rpsPerCpu });
      }
      measured.push(pair);
      log(`[pair ${n}/${pairs}] ${[...pair.values()].map((w) => `${w.id} ${w.rps.toFixed(0)}`).join(', ')}`);
    }

    const machine = readMachineInfo();
    const rows = RATIOS.map((r) => {
      const each = measured.map((p) => r.of(p));
      return `| ${r.title} | ${median(each).toFixed(2)}× | ${Math.min(...each).toFixed(2)}–${Math.max(...each).toFixed(2)}× | ${each.map((v) => v.toFixed(2)).join(', ')} |`;
    });
    const rates = windows
      .map((w) => w.scenario.id)
      .map((id) => {
        const each = measured.map((p) => need(p, id));
        return `| ${id} | ${median(each.map((w) => w.rps)).toFixed(0)} | ${median(each.map((w) => w.rpsPerCpu)).toFixed(0)} |`;
      });
    const markdown = [
      '# Latchkey: paired ratios',
      '',
      `- Date: ${startedAt.toISOString()}`,
      `- Machine: ${machine.nproc} × ${machine.cpuModel}, ${machine.kernel}; Node ${machine.node}`,
      `- Latchkey build: commit ${build.commit ?? 'unknown'}${build.uncommittedChanges === true ? ' + uncommitted changes' : ''}, dist/ built ${build.distBuiltAt ?? 'unknown'}`,
      `- Command: \`npm run bench:paired -- --pairs ${pairs} --seconds ${seconds} --credentials ${credentials}\``,
      `- Method: hello world, Latchkey (SQLite, ${credentials} credentials, as \`npm run bench\` seeds it) and a second Latchkey process on that store with \`LATCHKEY_AUTH_FAILURE_DELAY_MS=0\` run side by side on core ${SERVER_CPU}; load from core ${LOAD_CPU}, 50 connections, 1 s warm-up + ${seconds} s per window; the five windows of a pair in reversed order every other pair. Each ratio is taken within a pair.`,
      '',
      '| ratio | median | range | per pair |',
      '| --- | --- | --- | --- |',
      ...rows,
      '',
      '| window | req/s (median) | req/CPU-s (median) |',
      '| --- | --- | --- |',
      ...rates,
      '',
    ].join('\n');
    process.stdout.write(`\n${markdown}\n`);
    const file = values.write ? join(repoRoot, 'bench', 'PAIRED.md') : join(repoRoot, 'bench', 'out', 'PAIRED-draft.md');
    mkdirSync(join(repoRoot, 'bench', 'out'), { recursive: true });
    writeFileSync(file, markdown);
    log(`bench: wrote ${file}`);
  } finally {
    for (const s of servers) await s.stop();
    await latchkey.cleanup();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    log(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(1);
  },
);
