// Command-line options of `npm run bench`.
import { parseArgs } from 'node:util';

export interface BenchOptions {
  quick: boolean;
  write: boolean;
  ceilingsOnly: boolean;
  large: boolean;
  pgUrl: string | null;
  credentials: number;
  largeCredentials: number;
  rounds: number;
  durationSeconds: number;
  warmupSeconds: number;
  connections: number;
  fixedRate: number;
  seedConcurrency: number;
  seedBudgetSeconds: number;
  deepPages: number;
  keep: boolean;
  /** Extra LATCHKEY_* variables for the Latchkey servers (--server-env NAME=VALUE, repeatable). */
  serverEnv: Record<string, string>;
  serverCpu: number;
  loadCpu: number;
  /** Scheduling priority of the servers and load workers (nice, -20..19; 0 = normal). */
  nice: number;
  /** Scenario ids to run (--only); null runs every row. */
  only: ReadonlySet<string> | null;
  /** Latchkey servers write a V8 CPU profile here when they stop (--cpu-prof <dir>). */
  cpuProfDir: string | null;
  argv: string[];
}

export const USAGE = `usage: npm run bench -- [options]
  --quick                 1 round, 3 s per run, 1 s warm-up (about a minute); results go to bench/out/
  --write                 with --quick or --ceilings-only: also overwrite bench/RESULTS.md (raw figures: bench/out/results.json)
  --ceilings-only         only the ceilings (hello, SQLite read, naive reveal)
  --large                 also seed and measure a 1M-credential SQLite store
  --pg <url>              also measure the PostgreSQL store (a scratch database is made and dropped)
  --credentials <n>       credentials in the default store (10000)
  --large-credentials <n> credentials in the --large store (1000000)
  --rounds <n>            rounds, alternating server order (3; quick 1)
  --duration <s>          measured seconds per run (10; quick 3)
  --warmup <s>            warm-up seconds per run (3; quick 1)
  --connections <n>       autocannon connections (50)
  --rate <n>              fixed rate for the paced rows, req/s (1000)
  --seed-concurrency <n>  concurrent seeding requests (32)
  --seed-budget <s>       stop seeding a store after this many seconds, or after 2 min if the
                          rate so far projects past 1.5 × that (3600)
  --deep-pages <n>        cursor pages to follow before hammering the deep one (20)
  --keep                  keep the temporary data directories
  --nice=<n>              run the servers and load workers at this priority (e.g. --nice=-10 as root on a
                          machine others are using, so their processes take less of the pinned cores)
  --only <ids>            only these rows, by scenario id, comma-separated (e.g. hello,reveal,oauth-reveal,proxy-direct,proxy);
                          every server still starts and Latchkey is still seeded. Ids: bench/scenarios.ts
  --cpu-prof <dir>        the Latchkey servers run with --cpu-prof and write their profiles into <dir> when they stop
  --server-env NAME=VALUE extra LATCHKEY_* setting for the Latchkey servers (repeatable),
                          e.g. --server-env LATCHKEY_SQLITE_SYNCHRONOUS=NORMAL
`;

function intOption(value: string | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} must be a non-negative number`);
  return n;
}

function parseNice(value: string | undefined): number {
  if (value === undefined) return 0;
  const n = Number(value);
  if (!Number.isInteger(n) || n < -20 || n > 19) throw new Error('--nice must be a whole number from -20 to 19');
  return n;
}

function parseServerEnv(pairs: readonly string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const pair of pairs) {
    const match = /^(LATCHKEY_[A-Z0-9_]+)=(.*)$/.exec(pair);
    if (match?.[1] === undefined || match[2] === undefined) throw new Error(`--server-env takes LATCHKEY_NAME=value, got "${pair}"`);
    env[match[1]] = match[2];
  }
  return env;
}

export function parseBenchOptions(argv: string[]): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      quick: { type: 'boolean', default: false },
      write: { type: 'boolean', default: false },
      'ceilings-only': { type: 'boolean', default: false },
      large: { type: 'boolean', default: false },
      pg: { type: 'string' },
      credentials: { type: 'string' },
      'large-credentials': { type: 'string' },
      rounds: { type: 'string' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      connections: { type: 'string' },
      rate: { type: 'string' },
      'seed-concurrency': { type: 'string' },
      'seed-budget': { type: 'string' },
      'deep-pages': { type: 'string' },
      keep: { type: 'boolean', default: false },
      'server-env': { type: 'string', multiple: true },
      nice: { type: 'string' },
      only: { type: 'string' },
      'cpu-prof': { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help === true) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  const quick = values.quick === true;
  const options: BenchOptions = {
    quick,
    write: values.write === true,
    ceilingsOnly: values['ceilings-only'] === true,
    large: values.large === true,
    pgUrl: values.pg ?? null,
    credentials: intOption(values.credentials, 10_000, 'credentials'),
    largeCredentials: intOption(values['large-credentials'], 1_000_000, 'large-credentials'),
    rounds: Math.max(1, intOption(values.rounds, quick ? 1 : 3, 'rounds')),
    durationSeconds: intOption(values.duration, quick ? 3 : 10, 'duration'),
    warmupSeconds: intOption(values.warmup, quick ? 1 : 3, 'warmup'),
    connections: Math.max(1, intOption(values.connections, 50, 'connections')),
    fixedRate: intOption(values.rate, 1000, 'rate'),
    seedConcurrency: Math.max(1, intOption(values['seed-concurrency'], 32, 'seed-concurrency')),
    seedBudgetSeconds: intOption(values['seed-budget'], 3600, 'seed-budget'),
    deepPages: intOption(values['deep-pages'], 20, 'deep-pages'),
    keep: values.keep === true,
    serverEnv: parseServerEnv(values['server-env'] ?? []),
    serverCpu: 0,
    loadCpu: 1,
    nice: parseNice(values.nice),
    only:
      values.only === undefined
        ? null
        : new Set(
            values.only
              .split(',')
              .map((id) => id.trim())
              .filter((id) => id !== ''),
          ),
    cpuProfDir: values['cpu-prof'] ?? null,
    argv,
  };
  if (options.durationSeconds <= 0 || options.durationSeconds > 600) throw new Error('--duration must be in (0, 600]');
  if (options.warmupSeconds > 120) throw new Error('--warmup must be at most 120');
  if (options.pgUrl !== null) {
    const host = new URL(options.pgUrl).hostname;
    if (!['127.0.0.1', 'localhost', '[::1]', ''].includes(host)) throw new Error('--pg must point at a local PostgreSQL (127.0.0.1)');
  }
  return options;
}
