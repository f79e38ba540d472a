// Which servers a bench run compares, from the options: the three ceilings always, then Latchkey
// on SQLite (default size), on a large SQLite store (--large) and on PostgreSQL (--pg).
import { createScratchDatabase } from './pg-scratch.js';
import type { ScratchDatabase } from './pg-scratch.js';
import type { BenchOptions } from './options.js';
import { helloTarget, latchkeyBinaryPresent, latchkeyTarget, naiveRevealTarget, snapshotLatchkeyBuild, sqliteReadTarget } from './targets.js';
import type { LatchkeyTarget, Target, TargetContext } from './targets.js';

export interface Plan {
  targets: Target[];
  latchkeyTargets: LatchkeyTarget[];
  scratch: ScratchDatabase | null;
  missing: string[];
}

function shortCount(n: number): string {
  if (n >= 1_000_000 && n % 1_000_000 === 0) return `${n / 1_000_000}M`;
  if (n >= 1000 && n % 1000 === 0) return `${n / 1000}k`;
  return String(n);
}

export async function planTargets(options: BenchOptions, ctx: TargetContext, log: (message: string) => void): Promise<Plan> {
  const ceilings: Target[] = [helloTarget(ctx), sqliteReadTarget(ctx), naiveRevealTarget(ctx)];
  const latchkeyTargets: LatchkeyTarget[] = [];
  if (options.ceilingsOnly) return { targets: ceilings, latchkeyTargets, scratch: null, missing: ['Latchkey: not run (--ceilings-only)'] };
  if (!latchkeyBinaryPresent()) {
    return {
      targets: ceilings,
      latchkeyTargets,
      scratch: null,
      missing: ['Latchkey: bin/latchkey.js or dist/ is missing (run `npm run build`), so only the ceilings were measured'],
    };
  }
  const common = {
    seedConcurrency: options.seedConcurrency,
    seedBudgetSeconds: options.seedBudgetSeconds,
    deepPages: options.deepPages,
    binPath: snapshotLatchkeyBuild(options.keep),
  };
  const sqliteStore = (credentials: number): LatchkeyTarget =>
    latchkeyTarget(
      { id: `latchkey-sqlite-${shortCount(credentials)}`, title: `Latchkey, SQLite, ${credentials} credentials`, credentials, databaseUrl: null, ...common },
      ctx,
    );
  latchkeyTargets.push(sqliteStore(options.credentials));
  if (options.large) latchkeyTargets.push(sqliteStore(options.largeCredentials));
  let scratch: ScratchDatabase | null = null;
  if (options.pgUrl !== null) {
    scratch = await createScratchDatabase(options.pgUrl);
    log(`bench: PostgreSQL scratch database ${scratch.name}`);
    latchkeyTargets.push(
      latchkeyTarget(
        {
          id: `latchkey-pg-${shortCount(options.credentials)}`,
          title: `Latchkey, PostgreSQL, ${options.credentials} credentials`,
          credentials: options.credentials,
          databaseUrl: scratch.url,
          ...common,
        },
        ctx,
      ),
    );
  }
  return { targets: [...ceilings, ...latchkeyTargets], latchkeyTargets, scratch, missing: [] };
}
