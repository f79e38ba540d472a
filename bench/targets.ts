// The servers being compared: three ceilings and Latchkey on one or more stores. Each is started
// fresh in its own process, pinned to the server core, for every round.
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { onHarnessExit } from './child-processes.js';
import { seedStore } from './latchkey-seed.js';
import type { SeededStore } from './latchkey-seed.js';
import { findDeepCursor, helloScenarios, latchkeyScenarios, naiveRevealScenarios, proxyScenarios, sqliteReadScenarios } from './scenarios.js';
import type { LoadShape, ProxyBench, Scenario } from './scenarios.js';
import { JsonClient, stringAt } from './http-json.js';
import { analyzeDatabase } from './pg-scratch.js';
import { CpuWindowMeter } from './proc-usage.js';
import type { CpuWindow } from './proc-usage.js';
import { freePort, launchServer } from './server-launch.js';
import type { RunningServer } from './server-launch.js';
import { prepareWebhookBench, webhookScenarios, type WebhookBench } from './webhook-bench.js';

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
const latchkeyBin = join(repoRoot, 'bin', 'latchkey.js');

export interface TargetContext {
  shape: LoadShape;
  serverCpu: number;
  /** The load generator's core: the proxy rows' loopback target runs there, in the direct and the proxied run alike. */
  loadCpu: number;
  /** nice for the servers under test (0 = normal). */
  nice: number;
  keep: boolean;
  /** Extra settings for every Latchkey server (from --server-env). */
  latchkeyEnv: Record<string, string>;
  /** Latchkey servers write V8 CPU profiles here (--cpu-prof), or null. */
  cpuProfDir: string | null;
}

/**
 * What every Latchkey server under test runs with, on top of the defaults. Logging at warn as
 * deployed; no rate limit (the default, set explicitly: a per-caller limit would turn a
 * throughput run into a count of 429s); loopback reachable through the proxy.
 */
export const LATCHKEY_BENCH_ENV: Readonly<Record<string, string>> = {
  LATCHKEY_LOG_LEVEL: 'warn',
  LATCHKEY_RATE_LIMIT: '0',
  // The proxy rows' target is on loopback, as an internal API an operator allows. No other row
  // makes an outbound call, so this changes nothing else. (Not a server of its own: a second
  // server cannot open a SQLite store another one holds.)
  LATCHKEY_EGRESS_ALLOW: '127.0.0.1/32',
};

/**
 * How the server runs as deployed: bin/latchkey.js's shebang, which `npm start`
 * (`bin/latchkey.js serve`) and the installed `latchkey` command both go through — the
 * environment it sets (NAME=VALUE words before `node`) and Node's flags.
 */
export function launcher(): { env: Record<string, string>; nodeFlags: string[] } {
  const shebang = readFileSync(latchkeyBin, 'utf8').split('\n', 1)[0] ?? '';
  const words = shebang.trim().split(/\s+/);
  const node = words.indexOf('node');
  const assignments = words.slice(2, node);
  if (words[0] !== '#!/usr/bin/env' || words[1] !== '-S' || node < 0 || !assignments.every((w) => /^[A-Z_][A-Z0-9_]*=/.test(w))) {
    throw new Error('bin/latchkey.js does not start with `#!/usr/bin/env -S [NAME=VALUE ...] node [flags]`');
  }
  const env = Object.fromEntries(assignments.map((w) => [w.slice(0, w.indexOf('=')), w.slice(w.indexOf('=') + 1)]));
  return { env, nodeFlags: words.slice(node + 1) };
}

export interface Target {
  id: string;
  title: string;
  kind: 'ceiling' | 'latchkey';
  /** Command name of a separate database server whose CPU belongs to this target ("postgres"). */
  databaseCommand: string | null;
  prepare(): Promise<void>;
  /** `env`: settings on top of the target's own, for a scenario that needs them. */
  start(env?: Record<string, string>): Promise<RunningServer>;
  scenarios(server: RunningServer): Promise<Scenario[]>;
  cleanup(): Promise<void>;
}

function tempDir(prefix: string, keep: boolean): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  if (!keep) onHarnessExit(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function ceilingTarget(id: string, title: string, script: string, ctx: TargetContext, makeScenarios: (origin: string) => Scenario[]): Target {
  let dataDir: string | null = null;
  return {
    id,
    title,
    kind: 'ceiling',
    databaseCommand: null,
    prepare: async () => {
      dataDir = tempDir(`bench-${id}-`, ctx.keep);
    },
    start: () =>
      launchServer({
        name: id,
        command: process.execPath,
        args: ['--import', 'tsx', join(repoRoot, 'bench', 'ceilings', script)],
        env: { BENCH_HOST: '127.0.0.1', BENCH_PORT: '0', BENCH_DATA_DIR: dataDir ?? tmpdir(), NODE_ENV: 'production' },
        cwd: repoRoot,
        cpu: ctx.serverCpu,
        nice: ctx.nice,
        stdin: 'pipe',
      }),
    scenarios: async (server) => makeScenarios(server.origin),
    cleanup: async () => {
      if (dataDir !== null && !ctx.keep) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export function helloTarget(ctx: TargetContext): Target {
  return ceilingTarget('hello', 'bare Fastify 5 hello world', 'hello.ts', ctx, (origin) => helloScenarios(origin, ctx.shape));
}

export function sqliteReadTarget(ctx: TargetContext): Target {
  return ceilingTarget('sqlite-read', 'bare Fastify + better-sqlite3 PK read (10k rows, WAL)', 'sqlite-read.ts', ctx, (origin) =>
    sqliteReadScenarios(origin, ctx.shape),
  );
}

export function naiveRevealTarget(ctx: TargetContext): Target {
  return ceilingTarget('naive-reveal', 'bare Fastify + PK read + AES-256-GCM decrypt + audit INSERT (10k rows, WAL)', 'naive-reveal.ts', ctx, (origin) =>
    naiveRevealScenarios(origin, ctx.shape),
  );
}

export interface LatchkeyStoreSpec {
  id: string;
  title: string;
  credentials: number;
  /** postgres://… for the PostgreSQL store; null for SQLite in the data dir. */
  databaseUrl: string | null;
  seedConcurrency: number;
  seedBudgetSeconds: number;
  deepPages: number;
  /** bin/latchkey.js to run (a snapshot of the build). */
  binPath: string;
}

export interface LatchkeyTarget extends Target {
  seeded(): SeededStore | null;
  /** Server (and database) CPU while seeding: near 100 % = CPU-bound, lower = waiting on fsync. */
  seedingCpu(): CpuWindow | null;
}

export function latchkeyBinaryPresent(): boolean {
  return existsSync(latchkeyBin) && existsSync(join(repoRoot, 'dist'));
}

/**
 * Copies bin/ and dist/ aside (under bench/out/, so node_modules still resolves) and returns the
 * copied bin/latchkey.js: every round then runs the same build even if dist/ is rebuilt meanwhile.
 */
export function snapshotLatchkeyBuild(keep: boolean): string {
  mkdirSync(join(repoRoot, 'bench', 'out'), { recursive: true });
  const dir = mkdtempSync(join(repoRoot, 'bench', 'out', 'server-build-'));
  cpSync(join(repoRoot, 'bin'), join(dir, 'bin'), { recursive: true });
  cpSync(join(repoRoot, 'dist'), join(dir, 'dist'), { recursive: true });
  if (!keep) onHarnessExit(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'bin', 'latchkey.js');
}

export function latchkeyTarget(store: LatchkeyStoreSpec, ctx: TargetContext): LatchkeyTarget {
  let dataDir: string | null = null;
  /**
   * SQLite: a copy of the seeded data dir for a second server started beside the round's (a
   * scenario with settings of its own): a SQLite store belongs to one server process (the
   * data-dir lock), so the second one opens its own copy, seeded the same way. PostgreSQL
   * servers share the database and the data dir (key file) and take no lock.
   */
  let ownDataDir: string | null = null;
  let seeded: SeededStore | null = null;
  let seedingCpu: CpuWindow | null = null;
  let proxy: ProxyBench | null = null;
  let webhooks: WebhookBench | null = null;
  const databaseCommand = store.databaseUrl === null ? null : 'postgres';
  const { env: launcherEnv, nodeFlags } = launcher();
  const launch = async (firstStart: boolean, extraEnv: Record<string, string> = {}): Promise<RunningServer> => {
    if (dataDir === null) throw new Error(`${store.id}: not prepared`);
    const second = Object.keys(extraEnv).length > 0 && store.databaseUrl === null;
    if (second && ownDataDir === null) throw new Error(`${store.id}: no copy of the data dir for a second server`);
    const dir = second && ownDataDir !== null ? ownDataDir : dataDir;
    // Latchkey logs "listening on" at info level only, and we run it at warn (as deployed);
    // so give it a port we know and also accept /healthz answering there as "listening".
    const port = await freePort();
    const env: Record<string, string> = {
      ...launcherEnv,
      LATCHKEY_HOST: '127.0.0.1',
      LATCHKEY_PORT: String(port),
      LATCHKEY_DATA_DIR: dir,
      ...LATCHKEY_BENCH_ENV,
      ...ctx.latchkeyEnv,
      ...extraEnv,
      NODE_ENV: 'production',
    };
    if (store.databaseUrl !== null) env.LATCHKEY_DATABASE_URL = store.databaseUrl;
    return launchServer({
      name: `latchkey (${store.id})`,
      command: process.execPath,
      args: [...nodeFlags, ...(ctx.cpuProfDir === null ? [] : ['--cpu-prof', `--cpu-prof-dir=${ctx.cpuProfDir}`]), store.binPath, 'serve'],
      env,
      cwd: repoRoot,
      cpu: ctx.serverCpu,
      nice: ctx.nice,
      readyPath: '/readyz',
      knownPort: port,
      livenessPath: '/healthz',
      expectOwnerKey: firstStart,
      stdin: 'ignore',
      startTimeoutMs: 300_000,
    });
  };
  return {
    id: store.id,
    title: store.title,
    kind: 'latchkey',
    databaseCommand,
    seeded: () => seeded,
    seedingCpu: () => seedingCpu,
    prepare: async () => {
      dataDir = tempDir(`bench-latchkey-${store.id}-`, ctx.keep);
      const server = await launch(true);
      try {
        if (server.ownerKey === null) throw new Error('no owner key');
        const meter = new CpuWindowMeter(server.pid, [], databaseCommand);
        seeded = await seedStore(server.origin, server.ownerKey, {
          label: store.id,
          credentials: store.credentials,
          concurrency: store.seedConcurrency,
          budgetSeconds: store.seedBudgetSeconds,
        });
        seedingCpu = meter.finish();
        if (store.databaseUrl !== null) await analyzeDatabase(store.databaseUrl);
      } catch (err) {
        const output = server.recentOutput().split('\n').slice(-15).join('\n');
        const status = server.exitStatus() ?? 'still running';
        throw new Error(`${err instanceof Error ? err.message : String(err)} (server: ${status})\n--- server output ---\n${output}`);
      } finally {
        await server.stop();
      }
      if (store.databaseUrl === null) {
        ownDataDir = tempDir(`bench-latchkey-${store.id}-own-`, ctx.keep);
        cpSync(dataDir, ownDataDir, { recursive: true });
      }
    },
    start: (env) => launch(false, env),
    scenarios: async (server) => {
      if (seeded === null) throw new Error(`${store.id}: not seeded`);
      const deep = await findDeepCursor(server.origin, seeded.hot.ownerKey, store.deepPages);
      proxy ??= await startProxyTarget(server.origin, seeded, ctx);
      webhooks ??= await prepareWebhookBench(server.origin, seeded);
      return [...latchkeyScenarios(server.origin, ctx.shape, seeded, deep), ...proxyScenarios(ctx.shape, proxy), ...webhookScenarios(ctx.shape, webhooks)];
    },
    cleanup: async () => {
      await webhooks?.receiver.close();
      for (const dir of [dataDir, ownDataDir]) if (dir !== null && !ctx.keep) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * The proxy rows' target: the hello ceiling, started once per store and kept up for the whole
 * bench (killed at exit), on the load core; the naive proxy in front of it (bench/ceilings/
 * naive-proxy.ts); and an api_key credential allowed to reach the target.
 */
async function startProxyTarget(origin: string, seeded: SeededStore, ctx: TargetContext): Promise<ProxyBench> {
  const target = await launchServer({
    name: 'proxy target (hello)',
    command: process.execPath,
    args: ['--import', 'tsx', join(repoRoot, 'bench', 'ceilings', 'hello.ts')],
    env: { BENCH_HOST: '127.0.0.1', BENCH_PORT: '0', BENCH_DATA_DIR: tmpdir(), NODE_ENV: 'production' },
    cwd: repoRoot,
    cpu: ctx.loadCpu,
    nice: ctx.nice,
    stdin: 'pipe',
  });
  onHarnessExit(() => void target.stop());
  // The forwarding ceiling: on the server core, idle while Latchkey is measured, as Latchkey is while it is.
  const naive = await launchServer({
    name: 'naive proxy',
    command: process.execPath,
    args: ['--import', 'tsx', join(repoRoot, 'bench', 'ceilings', 'naive-proxy.ts')],
    env: { BENCH_HOST: '127.0.0.1', BENCH_PORT: '0', BENCH_PROXY_TARGET: target.origin, NODE_ENV: 'production' },
    cwd: repoRoot,
    cpu: ctx.serverCpu,
    nice: ctx.nice,
    stdin: 'pipe',
  });
  onHarnessExit(() => void naive.stop());
  const client = new JsonClient(origin, 1);
  try {
    const body = await client.expect(201, {
      method: 'POST',
      path: '/v1/credentials',
      token: seeded.hot.ownerKey,
      body: { name: `bench proxy ${Date.now()}`, type: 'api_key', read_access: 'GLOBAL', allowed_hosts: [new URL(target.origin).host] },
    });
    return {
      targetOrigin: target.origin,
      naiveProxy: { origin: naive.origin, pid: naive.pid },
      credentialId: stringAt(body, 'id'),
      serviceKey: seeded.hot.serviceKey,
    };
  } finally {
    client.close();
  }
}
