// A steady-rate soak: one Latchkey server, a fixed request rate for a bounded time, latency per
// window next to what the server's own /metrics says happened in that window (event-loop delay,
// GC pauses by kind, CPU) and the CPU the rest of the machine took. It answers "is anything of
// ours periodic?": each second's p99 is also folded by its phase against the server's timers
// (the lifecycle jobs every 10 s, the OAuth refresh scheduler every 30 s), so a job that stalls
// requests shows up as one hot phase.
//
//   npm run build && node --import tsx bench/soak.ts [--seconds 120] [--rate 300] [--window 10]
//                    [--pg postgres://postgres@127.0.0.1:5432/postgres] [--credentials 500]
//
// Loopback only; the server is pinned to core 0 and this process to core 1 (taskset) when the
// machine has two cores or more; every child is killed on exit; the run is bounded (at most 15 min).
import http from 'node:http';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execFileSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { LatencyRecorder } from './latency-percentiles.js';
import { readCpuSeconds, readMachineCpuSeconds } from './proc-usage.js';
import { freePort, launchServer } from './server-launch.js';
import { createScratchDatabase } from './pg-scratch.js';

const { values: opts } = parseArgs({
  options: {
    seconds: { type: 'string', default: '120' },
    rate: { type: 'string', default: '300' },
    window: { type: 'string', default: '10' },
    credentials: { type: 'string', default: '500' },
    pg: { type: 'string' },
  },
});
const SECONDS = Math.min(900, Math.max(10, Number(opts.seconds)));
const RATE = Math.min(5000, Math.max(1, Number(opts.rate)));
const WINDOW_S = Math.max(1, Number(opts.window));
const CREDENTIALS = Math.max(10, Number(opts.credentials));
/** The server's own periodic jobs (src/config.ts defaults) whose phase each second is folded by. */
const PERIODS_S = [10, 30];

const ROOT = resolve(import.meta.dirname, '..');
const pinned = availableParallelism() >= 2;
if (pinned) execFileSync('taskset', ['-cp', '1', String(process.pid)], { stdio: 'ignore' });

const dataDir = mkdtempSync(join(tmpdir(), 'latchkey-soak-'));
const scratch = opts.pg ? await createScratchDatabase(opts.pg) : null;
const port = await freePort();
const server = await launchServer({
  name: 'latchkey',
  command: process.execPath,
  args: [join(ROOT, 'bin/latchkey.js'), 'serve'],
  env: {
    LATCHKEY_PORT: String(port),
    LATCHKEY_HOST: '127.0.0.1',
    LATCHKEY_DATA_DIR: dataDir,
    LATCHKEY_LOG_LEVEL: 'info',
    ...(scratch ? { LATCHKEY_DATABASE_URL: scratch.url } : {}),
  },
  cwd: ROOT,
  cpu: 0,
  nice: 0,
  readyPath: '/readyz',
  expectOwnerKey: true,
  stdin: 'ignore',
});
const serverStartedAt = performance.now();
const ownerKey = server.ownerKey ?? '';
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

function send(method: string, path: string, body?: unknown): Promise<{ status: number; text: string }> {
  return new Promise((resolvePromise) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(
      `${server.origin}${path}`,
      {
        method,
        agent,
        headers: { authorization: `Bearer ${ownerKey}`, ...(data ? { 'content-type': 'application/json' } : {}) },
        timeout: 10_000,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolvePromise({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolvePromise({ status: 0, text: '' }));
    req.end(data);
  });
}

const smtp = (i: number | string) => ({
  name: `soak ${i}`,
  type: 'smtp',
  config: { host: 'smtp.example.com', auth_type: 'login', username: `mailer${i}` },
  secret: { password: `soak-password-${i}-${Math.random().toString(36).slice(2)}` },
});

process.stderr.write(`soak: seeding ${CREDENTIALS} credentials…\n`);
const ids: string[] = [];
for (let i = 0; i < CREDENTIALS; i += 20) {
  const made = await Promise.all(Array.from({ length: Math.min(20, CREDENTIALS - i) }, (_, j) => send('POST', '/v1/credentials', smtp(i + j))));
  for (const m of made) {
    if (m.status !== 201) throw new Error(`seeding: ${m.status} ${m.text}`);
    ids.push((JSON.parse(m.text) as { id: string }).id);
  }
}

/** The mix of a busy integration host: mostly metadata, a fifth audited reveals, some lists and writes. */
function pick(n: number, phase = 'run'): [string, string, unknown?] {
  const id = ids[n % ids.length] as string;
  const r = n % 100;
  if (r < 70) return ['GET', `/v1/credentials/${id}`];
  if (r < 90) return ['GET', `/v1/credentials/${id}/secret`];
  if (r < 95) return ['GET', '/v1/credentials?per_page=25'];
  return ['POST', '/v1/credentials', smtp(`${phase} ${n}`)];
}

/** What the server's /metrics says: cumulative GC seconds by kind, and event-loop delay since the last scrape. */
async function scrape(): Promise<{ gc: Record<string, number>; loopMaxMs: number }> {
  const r = await send('GET', '/metrics');
  const gc: Record<string, number> = {};
  for (const m of r.text.matchAll(/^latchkey_nodejs_gc_duration_seconds_sum\{kind="(\w+)"\} ([\d.e+-]+)$/gm)) gc[m[1] as string] = Number(m[2]);
  const num = (name: string): number => Number(new RegExp(`^${name} ([\\d.e+-]+)$`, 'm').exec(r.text)?.[1] ?? 0) * 1000;
  return { gc, loopMaxMs: num('latchkey_nodejs_eventloop_lag_max_seconds') };
}

// Warm-up: first-use compilation of every route of the mix, outside the measured part.
for (let n = 0; n < 200; n++) {
  const [m, p, b] = pick(n, 'warm-up');
  await send(m, p, b);
}

/**
 * How long the server's main thread was runnable but not running (ms, cumulative): the kernel's
 * run-queue delay from /proc/<pid>/schedstat. Event-loop delay that this accounts for is the
 * machine's (other processes on the core), not ours.
 */
function runQueueDelayMs(pid: number): number {
  try {
    return Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[1]) / 1e6;
  } catch {
    return 0;
  }
}

/**
 * CPU seconds of the server's threads other than the main one (the checkpoint worker, libuv's
 * pool doing fsyncs): pinned to the same core, they are in the main thread's run queue too.
 */
function helperThreadsCpu(pid: number): number {
  let total = 0;
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      if (tid === String(pid)) continue;
      const fields = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
      total += (Number(fields[11]) + Number(fields[12])) / 100;
    }
  } catch {
    // a thread ended between the listing and the read
  }
  return total;
}

interface Sample {
  loopMax: number;
  runQueueMs: number;
  gcMs: Record<string, number>;
  serverCpu: number;
  othersCpu: number;
  helpersCpu: number;
}
interface Second extends Sample {
  t: number;
  p99: number;
}
interface Row {
  t: number;
  n: number;
  p50: number;
  p99: number;
  max: number;
  errors: number;
  loopMax: number;
  gcMs: number;
  serverCpu: number;
  othersCpu: number;
  runQueueMs: number;
}
/** Latency by the second (and the window) in which each request was due, not when it ended. */
const bySecond: LatencyRecorder[] = [];
const byWindow: LatencyRecorder[] = [];
const errorsByWindow: number[] = [];
const samples: Sample[] = [];
let errorSample = '';
/** How late this process sent requests (ms): when it is starved of CPU itself, the latencies measure it, not the server. */
const sendLag = new LatencyRecorder();
let last = {
  scrape: await scrape(),
  cpu: readCpuSeconds(server.pid) ?? 0,
  machine: readMachineCpuSeconds().busy,
  mine: readCpuSeconds(process.pid) ?? 0,
  runQueue: runQueueDelayMs(server.pid),
  helpers: helperThreadsCpu(server.pid),
};

process.stderr.write(`soak: ${RATE} req/s for ${SECONDS} s, windows of ${WINDOW_S} s${pinned ? ' (server on core 0, load on core 1)' : ''}\n`);
const start = performance.now();
const total = Math.round(RATE * SECONDS);
let sent = 0;
let settled = 0;
let nextSample = 1;

/** Once a second: the server's metrics (its event-loop histogram restarts at each scrape) and the kernel's counters. */
async function sample(t: number): Promise<void> {
  const now = {
    scrape: await scrape(),
    cpu: readCpuSeconds(server.pid) ?? last.cpu,
    machine: readMachineCpuSeconds().busy,
    mine: readCpuSeconds(process.pid) ?? last.mine,
    runQueue: runQueueDelayMs(server.pid),
    helpers: helperThreadsCpu(server.pid),
  };
  const gcMs: Record<string, number> = {};
  for (const [k, v] of Object.entries(now.scrape.gc)) gcMs[k] = (v - (last.scrape.gc[k] ?? 0)) * 1000;
  const serverCpu = now.cpu - last.cpu;
  samples.push({
    loopMax: now.scrape.loopMaxMs,
    runQueueMs: now.runQueue - last.runQueue,
    gcMs,
    serverCpu,
    othersCpu: Math.max(0, now.machine - last.machine - serverCpu - (now.mine - last.mine)),
    helpersCpu: now.helpers - last.helpers,
  });
  last = now;
  if (t % WINDOW_S === 0) process.stderr.write(`  ${t} s\n`);
}

await new Promise<void>((done) => {
  let sampling: Promise<void> = Promise.resolve();
  const tick = (): void => {
    const elapsed = (performance.now() - start) / 1000;
    while (elapsed >= nextSample && nextSample <= SECONDS) {
      const t = nextSample++;
      sampling = sampling.then(() => sample(t));
    }
    const due = Math.min(total, Math.floor(elapsed * RATE));
    while (sent < due) {
      const dueAt = start + (sent / RATE) * 1000;
      const second = Math.floor(sent / RATE);
      const window = Math.floor(second / WINDOW_S);
      const [m, p, b] = pick(sent);
      sent++;
      sendLag.record(performance.now() - dueAt);
      void send(m, p, b).then((res) => {
        // Latency from when the request was due: a stalled server is charged for its queue.
        const ms = performance.now() - dueAt;
        (bySecond[second] ??= new LatencyRecorder()).record(ms);
        (byWindow[window] ??= new LatencyRecorder()).record(ms);
        if (res.status !== 200 && res.status !== 201) {
          errorsByWindow[window] = (errorsByWindow[window] ?? 0) + 1;
          errorSample ||= `${m} ${p}: ${res.status} ${res.text.slice(0, 200)}`;
        }
        settled++;
        if (settled === total) void sampling.then(done);
      });
    }
    if (sent < total) setTimeout(tick, 1);
  };
  tick();
});
const uptimeAtStart = (start - serverStartedAt) / 1000;

const seconds: Second[] = samples.map((x, i) => ({ ...x, t: i + 1, p99: bySecond[i]?.summarize().p99 ?? 0 }));
const rows: Row[] = byWindow.map((rec, w) => {
  const lat = rec.summarize();
  const mine = seconds.slice(w * WINDOW_S, (w + 1) * WINDOW_S);
  const sum = (f: (x: Second) => number): number => mine.reduce((a, x) => a + f(x), 0);
  return {
    t: (w + 1) * WINDOW_S,
    n: rec.size,
    p50: lat.p50,
    p99: lat.p99,
    max: lat.max,
    errors: errorsByWindow[w] ?? 0,
    loopMax: Math.max(0, ...mine.map((x) => x.loopMax)),
    gcMs: sum((x) => Object.values(x.gcMs).reduce((a, v) => a + v, 0)),
    serverCpu: sum((x) => x.serverCpu),
    othersCpu: sum((x) => x.othersCpu),
    runQueueMs: sum((x) => x.runQueueMs),
  };
});

const fmt = (v: number): string => v.toFixed(1);
const median = (xs: number[]): number => (xs.length === 0 ? 0 : ([...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number));
console.log(
  `\n## soak: ${RATE} req/s for ${SECONDS} s on ${scratch ? 'PostgreSQL' : 'SQLite'} (${CREDENTIALS} credentials; 70 % metadata, 20 % reveals, 5 % lists, 5 % creates)\n`,
);
console.log("| t (s) | requests | p50 ms | p99 ms | max ms | non-2xx | loop delay max ms | GC ms | server CPU s | others' CPU s | server run-queue wait ms |");
console.log('|---|---|---|---|---|---|---|---|---|---|---|');
for (const r of rows) {
  console.log(
    `| ${r.t} | ${r.n} | ${fmt(r.p50)} | ${fmt(r.p99)} | ${fmt(r.max)} | ${r.errors} | ${r.loopMax.toFixed(0)} | ${r.gcMs.toFixed(0)} | ${r.serverCpu.toFixed(2)} | ${r.othersCpu.toFixed(2)} | ${r.runQueueMs.toFixed(0)} |`,
  );
}
if (errorSample) console.log(`\nfirst non-2xx: ${errorSample}`);
const lag = sendLag.summarize();
console.log(
  `\nthe load generator sent requests late by p99 ${fmt(lag.p99)} ms, max ${fmt(lag.max)} ms${lag.p99 > 50 ? " — IT WAS STARVED ITSELF: these latencies are not the server's" : ''}`,
);
console.log(`\nper-second p99: median ${fmt(median(seconds.map((x) => x.p99)))} ms, worst ${fmt(Math.max(...seconds.map((x) => x.p99)))} ms`);
// The first window holds the start of the run (JIT, caches filling): left out of the comparison.
const steady = seconds.filter((x) => x.t > WINDOW_S);
const quiet = steady.filter((x) => x.runQueueMs < 50);
const contended = steady.filter((x) => x.runQueueMs >= 100);
const worst = (xs: Second[]): number => Math.max(0, ...xs.map((x) => x.p99));
console.log(
  `after the first window, seconds in which the server's thread waited for a CPU (run queue) < 50 ms: ${quiet.length}, per-second p99 median ${fmt(median(quiet.map((x) => x.p99)))} ms, worst ${fmt(worst(quiet))} ms`,
);
console.log(
  `                                                                                 >= 100 ms: ${contended.length}, per-second p99 median ${fmt(median(contended.map((x) => x.p99)))} ms, worst ${fmt(worst(contended))} ms`,
);
const corr = (xs: number[], ys: number[]): number => {
  const mx = xs.reduce((a, v) => a + v, 0) / xs.length;
  const my = ys.reduce((a, v) => a + v, 0) / ys.length;
  let sxy = 0,
    sxx = 0,
    syy = 0;
  xs.forEach((x, i) => {
    const dy = (ys[i] as number) - my;
    sxy += (x - mx) * dy;
    sxx += (x - mx) ** 2;
    syy += dy ** 2;
  });
  return sxy / Math.sqrt(sxx * syy || 1);
};
console.log(
  `the server's helper threads (checkpoint worker, libuv pool) used ${((steady.reduce((a, x) => a + x.helpersCpu, 0) * 1000) / Math.max(1, steady.length)).toFixed(0)} ms of CPU per second; the rest of the machine ${((steady.reduce((a, x) => a + x.othersCpu, 0) * 1000) / Math.max(1, steady.length)).toFixed(0)} ms`,
);
console.log(
  `correlation of per-second p99 with run-queue wait: ${corr(
    steady.map((x) => x.runQueueMs),
    steady.map((x) => x.p99),
  ).toFixed(2)}; with GC time: ${corr(
    steady.map((x) => Object.values(x.gcMs).reduce((a, v) => a + v, 0)),
    steady.map((x) => x.p99),
  ).toFixed(2)}`,
);
// A stall of ours: the event loop held for 50 ms or more while the kernel kept the thread waiting
// for less than half of that.
const ours = seconds.filter((x) => x.loopMax >= 50 && x.runQueueMs < x.loopMax / 2);
console.log(
  `event-loop stalls >= 50 ms not explained by run-queue wait: ${ours.length}${
    ours.length
      ? ': ' +
        ours
          .map(
            (x) =>
              `t=${x.t} s loop ${x.loopMax.toFixed(0)} ms, run-queue ${x.runQueueMs.toFixed(0)} ms, gc ${
                Object.entries(x.gcMs)
                  .filter(([, v]) => v >= 1)
                  .map(([k, v]) => `${k} ${v.toFixed(0)}`)
                  .join('/') || 'none'
              }`,
          )
          .join('; ')
      : ''
  }`,
);
for (const period of PERIODS_S) {
  // Phase of each second against a timer started with the server (up to its start-up jitter).
  const phases = Array.from({ length: period }, () => [] as Second[]);
  for (const x of seconds) phases[Math.floor(x.t + uptimeAtStart) % period]?.push(x);
  const p99 = phases.map((xs) => median(xs.map((x) => x.p99)));
  const loop = phases.map((xs) => median(xs.map((x) => x.loopMax)));
  const hot = p99.indexOf(Math.max(...p99));
  console.log(
    `folded by ${period} s: median p99 per phase ${p99.map((v) => v.toFixed(0)).join(' ')} ms; loop max ${loop.map((v) => v.toFixed(0)).join(' ')} ms; hottest phase ${hot} (${fmt(p99[hot] ?? 0)} ms against ${fmt(median(p99))} ms)`,
  );
}

agent.destroy();
await server.stop();
await scratch?.drop();
rmSync(dataDir, { recursive: true, force: true });
