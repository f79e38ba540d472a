// Renders a bench report as Markdown: the tables go to stdout and, with the notes, to RESULTS.md.
import type { BuildInfo } from './build-info.js';
import type { MachineInfo } from './machine-info.js';
import type { DiskSyncRecord } from './disk-sync-probe.js';
import {
  median,
  runRpsPerCpuSecond,
  type DiskSyncSummary,
  type FloodSummary,
  type RunRecord,
  type SeedingRecord,
  type StartupRecord,
  type StartupSummary,
  type SummaryRow,
} from './results-model.js';

export interface BenchReport {
  date: string;
  command: string;
  machine: MachineInfo;
  build: BuildInfo;
  method: {
    rounds: number;
    durationSeconds: number;
    warmupSeconds: number;
    connections: number;
    fixedRate: number;
    serverCpu: number;
    loadCpu: number;
    nice: number;
    quick: boolean;
    latchkeyEnv: Record<string, string>;
    /** Absent from results.json files written before the server ran with `npm start`'s flags. */
    latchkeyNodeFlags?: string[];
    /** The environment bin/latchkey.js's shebang sets; absent from results.json files written before it set any. */
    latchkeyLauncherEnv?: Record<string, string>;
  };
  rows: SummaryRow[];
  floods: FloodSummary[];
  startups: StartupSummary[];
  /** Absent from results.json files written before the probe existed. */
  diskSync?: DiskSyncSummary | null;
  seeding: SeedingRecord[];
  missing: string[];
  /** stealMedian/stealMax: absent from results.json files written before steal was read apart (it was in "other" then). */
  noise: { loadAverageAtStart: number; loadAverageAtEnd: number; otherCpuMedian: number; otherCpuMax: number; stealMedian?: number; stealMax?: number };
  runs: RunRecord[];
  startupRuns: StartupRecord[];
  diskSyncRuns?: DiskSyncRecord[];
}

const fmt = (value: number | null, digits: number): string => (value === null || !Number.isFinite(value) ? '—' : value.toFixed(digits));
const ms = (value: number | null): string => (value === null || !Number.isFinite(value) ? '—' : value < 10 ? value.toFixed(2) : value.toFixed(1));
const int = (value: number | null): string => (value === null || !Number.isFinite(value) ? '—' : Math.round(value).toLocaleString('en-US'));

function table(header: string[], rows: string[][]): string {
  const line = (cells: string[]): string => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

function noteText(r: SummaryRow): string {
  const notes = [r.note, r.sendLagP99Ms === null ? null : `sender lag p99 ${ms(r.sendLagP99Ms)} ms`].filter((n): n is string => n !== null);
  return notes.length === 0 ? '' : ` (${notes.join('; ')})`;
}

/** The server column: a store whose seeding stopped early says how many credentials it really holds. */
function serverCell(report: BenchReport, targetId: string): string {
  const seeding = report.seeding.find((s) => s.targetId === targetId);
  return seeding?.stoppedEarly == null ? targetId : `${targetId} (partial: ${int(seeding.created)} credentials)`;
}

/** Like × hello, but on requests per CPU-second: what other processes on the machine do not skew. */
function ratioPerCpu(report: BenchReport, r: SummaryRow): string {
  const hello = row(report, 'hello', 'hello')?.rpsPerCpuSecond ?? null;
  if (r.kind === 'paced' || r.rpsPerCpuSecond === null || hello === null || hello <= 0) return '—';
  return `${(r.rpsPerCpuSecond / hello).toFixed(2)}×`;
}

export function renderMainTable(report: BenchReport): string {
  return table(
    [
      'server',
      'endpoint',
      'req/s',
      'p50 ms',
      'p99 ms',
      'p99.9 ms',
      'bad answers',
      'RSS MB',
      'server CPU %',
      'req/CPU-s',
      'other CPU %',
      '× hello',
      '× hello per CPU-s',
    ],
    report.rows.map((r) => [
      serverCell(report, r.targetId),
      `${r.label}${noteText(r)}`,
      int(r.rps),
      ms(r.p50),
      ms(r.p99),
      ms(r.p999),
      int(r.badAnswers),
      fmt(r.rssMb, 0),
      r.databaseCpuPercent === null ? fmt(r.cpuPercent, 0) : `${fmt(r.cpuPercent, 0)} (+${fmt(r.databaseCpuPercent, 0)} db)`,
      r.kind === 'paced' ? '—' : int(r.rpsPerCpuSecond),
      fmt(r.otherCpuPercent, 0),
      r.ratioToHello === null ? '—' : `${r.ratioToHello.toFixed(2)}×`,
      ratioPerCpu(report, r),
    ]),
  );
}

export function renderFloodTable(report: BenchReport): string {
  return table(
    ['server', 'metadata alone req/s', 'with flood req/s', 'slowdown', 'slowdown per server CPU-s', 'p99 alone ms', 'p99 with flood ms', 'flood req/s (401s)'],
    report.floods.map((f) => [
      serverCell(report, f.targetId),
      int(f.aloneRps),
      int(f.withFloodRps),
      `${f.slowdownPercent.toFixed(0)} %`,
      f.slowdownPerCpuPercent === null ? '—' : `${f.slowdownPerCpuPercent.toFixed(0)} %`,
      ms(f.aloneP99),
      ms(f.withFloodP99),
      int(f.floodRps),
    ]),
  );
}

export function renderStartupTable(report: BenchReport): string {
  return table(
    ['server', 'credentials in store', 'starts', 'spawn → listening ms', 'spawn → /readyz 200 ms'],
    report.startups.map((s) => [serverCell(report, s.targetId), int(s.credentials), String(s.rounds), int(s.spawnToListeningMs), int(s.spawnToReadyMs)]),
  );
}

/** The disk's fdatasync latency beside each SQLite store's durable reveal at the fixed rate. */
export function renderDiskSyncTable(report: BenchReport): string {
  const d = report.diskSync;
  if (d == null) return '';
  const reveals = report.rows.filter(
    (r) =>
      (r.scenarioId === 'reveal-paced' && r.targetId.startsWith('latchkey-sqlite')) || (r.targetId === 'naive-reveal' && r.scenarioId === 'naive-reveal-paced'),
  );
  return table(
    ['what', 'rounds', 'per second', 'p50 ms', 'p99 ms', 'p99.9 ms', 'max ms'],
    [
      ['fdatasync of a 16 KiB commit (disk alone)', String(d.rounds), int(d.syncsPerSecond), ms(d.p50), ms(d.p99), ms(d.p999), ms(d.max)],
      ...reveals.map((r) => [
        `${r.targetId} ${r.targetId === 'naive-reveal' ? 'durable' : 'reveal'} GET @ ${report.method.fixedRate}/s`,
        String(r.rounds),
        int(r.rps),
        ms(r.p50),
        ms(r.p99),
        ms(r.p999),
        '—',
      ]),
    ],
  );
}

export function renderSeedingTable(report: BenchReport): string {
  return table(
    ['server', 'target', 'created', 'tenants', 'in measured tenant', 'seconds', 'credentials/s', 'concurrency', 'server CPU %', 'note'],
    report.seeding.map((s) => [
      s.targetId,
      int(s.target),
      int(s.created),
      String(s.tenants),
      int(s.hotTenantCredentials),
      fmt(s.seconds, 1),
      int(s.ratePerSecond),
      String(s.concurrency),
      s.databaseCpuPercent === null ? fmt(s.serverCpuPercent, 0) : `${fmt(s.serverCpuPercent, 0)} (+${fmt(s.databaseCpuPercent, 0)} db)`,
      s.stoppedEarly ?? '',
    ]),
  );
}

export function renderTables(report: BenchReport): string {
  const parts = [renderMainTable(report)];
  if (report.floods.length > 0) parts.push(`Bad-key flood\n\n${renderFloodTable(report)}`);
  if (report.startups.length > 0) parts.push(`Start-up on the seeded store\n\n${renderStartupTable(report)}`);
  if (report.diskSync != null) parts.push(`Disk: fdatasync latency, the floor under a durable reveal\n\n${renderDiskSyncTable(report)}`);
  if (report.seeding.length > 0) parts.push(`Seeding through HTTP\n\n${renderSeedingTable(report)}`);
  if (report.missing.length > 0) parts.push(`Not measured:\n${report.missing.map((m) => `- ${m}`).join('\n')}`);
  return parts.join('\n\n');
}

/** Per round: CPU per never-held 401 ÷ CPU per metadata GET, both measured on the same server process. */
function unheldCostRatios(report: BenchReport, store: string): number[] {
  const perRound = (scenarioId: string): Map<number, number | null> =>
    new Map(report.runs.filter((r) => r.targetId === store && r.scenarioId === scenarioId).map((r) => [r.round, runRpsPerCpuSecond(r)]));
  const meta = perRound('metadata-unheld');
  const bad = perRound('bad-key-unheld');
  const out: number[] = [];
  for (const [round, m] of meta) {
    const b = bad.get(round);
    if (m !== null && b !== undefined && b !== null && b > 0) out.push(m / b);
  }
  return out;
}

function row(report: BenchReport, targetId: string, scenarioId: string): SummaryRow | undefined {
  return report.rows.find((r) => r.targetId === targetId && r.scenarioId === scenarioId);
}

const times = (a: number | null | undefined, b: number | null | undefined): string | null =>
  a !== null && a !== undefined && b !== null && b !== undefined && b > 0 ? `${(a / b).toFixed(2)}×` : null;
const addedMs = (a: number | null | undefined, b: number | null | undefined): string | null =>
  a !== null && a !== undefined && b !== null && b !== undefined ? `${(a - b).toFixed(2)} ms` : null;

/** The proxy against the direct request, and the compat reads against the native reveal of the same credentials (issues 27 and 29). */
function proxyAndCompatNotes(report: BenchReport, store: string): string[] {
  const notes: string[] = [];
  const direct = row(report, store, 'proxy-direct');
  const naive = row(report, store, 'proxy-naive');
  const proxied = row(report, store, 'proxy');
  const directPaced = row(report, store, 'proxy-direct-paced');
  const naivePaced = row(report, store, 'proxy-naive-paced');
  const proxiedPaced = row(report, store, 'proxy-paced');
  const rpsRatio = times(proxied?.rps, direct?.rps);
  if (rpsRatio !== null) {
    const added = (r: SummaryRow | undefined): string =>
      r && directPaced
        ? `p50 ${addedMs(r.p50, directPaced.p50) ?? '?'} and p99 ${addedMs(r.p99, directPaced.p99) ?? '?'} (${r.p50?.toFixed(2) ?? '?'}/${r.p99?.toFixed(2) ?? '?'} ms)`
        : '?';
    const paced =
      directPaced && proxiedPaced
        ? `; at a steady rate (${proxiedPaced.label.replace(/^.*@ /, '')}) it adds ${added(proxiedPaced)} to the direct request's ${directPaced.p50?.toFixed(2) ?? '?'}/${directPaced.p99?.toFixed(2) ?? '?'} ms` +
          (naivePaced ? `, where the naive proxy adds ${added(naivePaced)}` : '')
        : '';
    const ceiling = naive
      ? ` The naive proxy (its ceiling: forwarding alone) answers ${times(naive.rps, direct?.rps) ?? '?'} of the direct req/s, and Latchkey's proxy ${times(proxied?.rps, naive.rps) ?? '?'} of the naive proxy's.`
      : '';
    const reveal = row(report, store, 'reveal');
    const againstReveal = reveal
      ? ` A proxied request costs ${times(reveal.rpsPerCpuSecond, proxied?.rpsPerCpuSecond) ?? '?'} the server CPU of a reveal.`
      : '';
    notes.push(
      `On ${store}, a proxied request answers ${rpsRatio} the req/s of the same request sent straight to the target${paced}.${ceiling}${againstReveal}`,
    );
  }
  const native = row(report, store, 'oauth-reveal');
  const parts: string[] = [];
  for (const [id, name] of [
    ['kv-v2-read', 'a Vault KV v2 read'],
    ['aws-get-secret-value', 'an AWS GetSecretValue'],
  ] as const) {
    const r = row(report, store, id);
    const rps = times(r?.rps, native?.rps);
    const cpu = times(r?.rpsPerCpuSecond, native?.rpsPerCpuSecond);
    if (rps !== null) parts.push(`${name} ${rps} (${cpu ?? '?'} per CPU-s)`);
  }
  if (parts.length > 0) notes.push(`On ${store}, by name against the native reveal of the same OAuth2 credentials: ${parts.join(', ')}.`);
  return notes;
}

function meaning(report: BenchReport): string[] {
  const m = report.method;
  const notes: string[] = [
    `Every server runs alone, pinned to core ${m.serverCpu}; the load generator (autocannon, or the paced sender) runs in its own process pinned to core ${m.loadCpu}. ` +
      `Each row is the median of ${m.rounds} round${m.rounds === 1 ? '' : 's'}; each round restarts every server and the order of servers alternates between rounds. ` +
      `A run is ${m.warmupSeconds} s of warm-up (discarded) then ${m.durationSeconds} s measured with ${m.connections} connections.`,
    '**req/s** is answered requests per second at saturation: the server core is the bottleneck, so it is the most the server can do on one core, not a target rate. ' +
      '**× hello** divides it by bare Fastify answering `{"hello":"world"}` in the same run: the share of a do-nothing server\'s capacity that the endpoint keeps.',
    '**p50/p99/p99.9** are exact percentiles of every response time in the measured window. At saturation they are mostly queueing (connections ÷ req/s); ' +
      `the \`@ ${m.fixedRate}/s\` rows are the latency a client sees at a steady ${m.fixedRate} requests per second, sent open-loop by bench/paced-sender.ts and timed from when each request was due (no coordinated omission). ` +
      "autocannon's own `overallRate` was not used for them: it releases each connection's per-second quota at the top of every second, which turns a fixed rate into bursts. " +
      'Their "sender lag" is how late the sender itself got requests out (p99): more than a millisecond or two means the load core was not the sender\'s alone, and that much of the latency is not the server\'s.',
    '**bad answers** counts responses with another status than the endpoint should give (200, 201 for create, 401 for the bad key) plus connection errors, summed over all rounds; it should be 0.',
    "**server CPU %** is the server's utime+stime over the measured window (100 % = the whole pinned core); **RSS** is VmRSS right after the run. " +
      'For the PostgreSQL store, "(+N db)" is what the PostgreSQL backends used meanwhile (they are not pinned and share both cores). ' +
      "At saturation the CPU should be near 100 %; well below means other processes took the core, and then **req/CPU-s** (req/s ÷ CPU share: requests per second of server CPU, PostgreSQL's included) " +
      'and **× hello per CPU-s** (the same ratio to hello world, on that figure) are the steadier figures to compare.',
    'The reveal row writes an audit event and updates `last_used_at` per request, so it is a write path; the create row seals a new secret and writes a credential, a version and an audit event, into a second tenant so the measured tenant stays the same size.',
    'The deep-cursor row follows `next_cursor` from the first page, then requests that one deep page over and over; with keyset paging it should cost the same as the first page.',
    'Seeding goes through `POST /v1/credentials` only (no back door into the store), with the concurrency shown; its **server CPU %** under 100 % means the server was waiting rather than computing ' +
      '(with SQLite, on the fsync of each commit: `LATCHKEY_SQLITE_SYNCHRONOUS` defaults to FULL).',
    '**other CPU %** is what processes other than the server (and its PostgreSQL), the load workers and this harness used during the window (100 % = one core): the noise. Rows where it is high are suspect. ' +
      'On a virtual machine the hypervisor may also keep the cores from us (steal time, from /proc/stat): that is reported apart, under Noise below, and slows every server of the run alike.',
    'The flood table runs the metadata GET (same load as its row) while a second load process sends unknown-but-well-formed keys as fast as it can; the slowdown is how much good traffic the 401 path takes away on a single core ' +
      '(per server CPU-s: good requests answered per second of server CPU, alone vs. flooded, which other processes on the machine do not skew).',
    'The held bad-key row and the flood run with the default `LATCHKEY_AUTH_FAILURE_DELAY_MS` (250): once an address has failed authentication 10 times in a second, its further 401s that second are answered 250 ms late, ' +
      "so a flood mostly waits on timers and that row's req/s is the held rate, not a cost. " +
      'The "never held" row runs on a second server started with `LATCHKEY_AUTH_FAILURE_DELAY_MS=0` (the round\'s server idle meanwhile), so every 401 is answered at once: its req/s and req/CPU-s are what the miss path costs. ' +
      'The row before it measures the metadata GET on that same process, just before, so that the two costs are compared within one process (two processes of one build differ by up to 15 % here).',
  ];
  if (report.diskSync != null) {
    notes.push(
      `The disk table times fdatasync alone, ${report.method.fixedRate} times a second on a preallocated file (as SQLite reuses its WAL), before each round's servers start. ` +
        'With `LATCHKEY_SQLITE_SYNCHRONOUS=FULL` (the default) a reveal is answered only after the fdatasync that follows its audit commit, and a commit that lands while one runs waits for it and then for its own: ' +
        "so no durable reveal is faster than one of these, and one that lands mid-flush pays up to two. Whatever a reveal row's latency has beyond that is the server's (WAL checkpoints in a commit, queueing) and the machine's. " +
        '`--server-env LATCHKEY_SQLITE_SYNCHRONOUS=NORMAL` measures the path without the flush.',
    );
  }
  const hello = row(report, 'hello', 'hello');
  const sqlite = row(report, 'sqlite-read', 'sqlite-read');
  const stores = [...new Set(report.rows.filter((r) => r.targetId.startsWith('latchkey')).map((r) => r.targetId))];
  for (const store of stores) {
    const meta = row(report, store, 'metadata');
    const perCpu = (r: SummaryRow | undefined): number | null => r?.rpsPerCpuSecond ?? null;
    const [m, h, q] = [perCpu(meta), perCpu(hello), perCpu(sqlite)];
    if (m !== null && h !== null && q !== null && h > 0 && q > 0) {
      notes.push(
        `On ${store}, a metadata GET costs ${(h / m).toFixed(1)}× the CPU of bare Fastify's hello world and ${(q / m).toFixed(1)}× that of a bare SQLite primary-key read behind Fastify ` +
          '(per request, from req/CPU-s): the difference is what authentication, tenancy, validation, the store layer and serialisation cost.',
      );
    }
  }
  for (const store of stores) {
    const ratios = unheldCostRatios(report, store);
    if (ratios.length === 0) continue;
    notes.push(
      `On ${store}, a never-held 401 costs ${median(ratios).toFixed(2)}× the CPU of a metadata GET on the same server ` +
        `(per request, from req/CPU-s; the median of ${ratios.length} round${ratios.length === 1 ? '' : 's'}: ${ratios.map((x) => x.toFixed(2)).join(', ')}).`,
    );
  }
  for (const store of stores) notes.push(...proxyAndCompatNotes(report, store));
  const durableRps = row(report, 'naive-reveal', 'naive-reveal')?.rps ?? null;
  const unsyncedRps = row(report, 'naive-reveal', 'naive-reveal-unsynced')?.rps ?? null;
  if (durableRps !== null && unsyncedRps !== null && durableRps > 0 && unsyncedRps > 0) {
    notes.push(
      'The naive-reveal ceiling is the route the benchmark issue first measured a reveal against: a primary-key read, an AES-256-GCM decrypt and one audit INSERT per request in its own commit, ' +
        'with no authentication, tenancy, hash chain or group commit. Its durable route commits with `synchronous=FULL`, so every request waits for its own fsync on the event loop; its unsynced route (`NORMAL`) may lose audit records on power loss, so it is a floor on cost, not a comparable product.',
    );
    for (const store of stores.filter((s) => s.startsWith('latchkey-sqlite'))) {
      const revealRps = row(report, store, 'reveal')?.rps ?? null;
      if (revealRps === null) continue;
      notes.push(
        `On ${store}, an audited reveal answers ${(revealRps / durableRps).toFixed(2)}× the req/s of the naive durable route and ${(revealRps / unsyncedRps).toFixed(2)}× that of the unsynced one.`,
      );
    }
  }
  const n = report.noise;
  notes.push(
    `Noise: load average ${n.loadAverageAtStart.toFixed(2)} at start, ${n.loadAverageAtEnd.toFixed(2)} at end; other processes used a median ${n.otherCpuMedian.toFixed(0)} % ` +
      `(max ${n.otherCpuMax.toFixed(0)} %) of a core during the measured windows` +
      (n.stealMedian === undefined || n.stealMax === undefined
        ? '.'
        : `, and the hypervisor took a median ${n.stealMedian.toFixed(0)} % (max ${n.stealMax.toFixed(0)} %) of a core from the two (steal).`) +
      (n.otherCpuMax > 10 || (n.stealMax ?? 0) > 5
        ? ' **The machine was not quiet: treat the figures as rough, and re-run on an idle machine before comparing small differences.**'
        : ''),
  );
  return notes;
}

export function renderResultsMarkdown(report: BenchReport): string {
  const m = report.method;
  return [
    '# Latchkey benchmark results',
    '',
    `- Date: ${report.date}`,
    `- Machine: ${report.machine.nproc} × ${report.machine.cpuModel}, ${report.machine.memoryGiB} GiB, ${report.machine.kernel}`,
    `- Node: ${report.machine.node}`,
    `- Latchkey build: commit ${report.build.commit ?? 'unknown'}${report.build.uncommittedChanges === true ? ' plus uncommitted changes in src/' : ''}, dist/ built ${report.build.distBuiltAt ?? 'never'}`,
    `- Command: \`${report.command}\``,
    `- Latchkey settings: ${Object.entries(m.latchkeyEnv)
      .map(([k, v]) => `\`${k}=${v}\``)
      .join(
        ', ',
      )}; everything else at its default (see \`latchkey\` config docs); Node flags (as \`npm start\`): ${m.latchkeyNodeFlags === undefined || m.latchkeyNodeFlags.length === 0 ? 'none' : m.latchkeyNodeFlags.map((f) => `\`${f}\``).join(' ')}${
      Object.keys(m.latchkeyLauncherEnv ?? {}).length === 0
        ? ''
        : `, with ${Object.entries(m.latchkeyLauncherEnv ?? {})
            .map(([k, v]) => `\`${k}=${v}\``)
            .join(' ')} in its environment (as \`npm start\`)`
    }`,
    `- Method: server on core ${m.serverCpu}, load on core ${m.loadCpu}${m.nice === 0 ? '' : ` (both at nice ${m.nice})`}; ${m.rounds} round(s), ${m.warmupSeconds} s warm-up + ${m.durationSeconds} s per run, ${m.connections} connections; medians.`,
    '',
    '## Endpoints',
    '',
    renderMainTable(report),
    '',
    ...(report.floods.length > 0 ? ['## Bad-key flood', '', renderFloodTable(report), ''] : []),
    ...(report.startups.length > 0 ? ['## Start-up on the seeded store (spawn → /readyz 200)', '', renderStartupTable(report), ''] : []),
    ...(report.diskSync != null ? ['## Disk: fdatasync latency, the floor under a durable reveal', '', renderDiskSyncTable(report), ''] : []),
    ...(report.seeding.length > 0 ? ['## Seeding through HTTP', '', renderSeedingTable(report), ''] : []),
    ...(report.missing.length > 0 ? ['## Not measured', '', ...report.missing.map((x) => `- ${x}`), ''] : []),
    '## What the numbers mean',
    '',
    ...meaning(report).map((x) => `- ${x}`),
    '',
    'Raw per-round figures stay with the run that measured them, in `bench/out/results.json` (not committed). Re-run with `npm run bench` (add `--large` for the 1M store, `--pg postgres://postgres@127.0.0.1:5432/postgres` for PostgreSQL, `--nice=-10` on a shared machine); `node --import tsx bench/render-results.ts` re-renders this file from it.',
    '',
  ].join('\n');
}
