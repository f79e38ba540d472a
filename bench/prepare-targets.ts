// Prepares every planned server (for Latchkey: first start on an empty store, then seeding).
// A server that cannot be prepared is left out of the rounds and reported, not fatal.
import { TENANT_COUNT } from './latchkey-seed.js';
import type { SeedingRecord } from './results-model.js';
import type { LatchkeyTarget, Target } from './targets.js';

export interface Prepared {
  ready: Target[];
  seeding: SeedingRecord[];
  missing: string[];
  failures: string[];
}

export async function prepareTargets(
  planned: readonly Target[],
  latchkeyTargets: readonly LatchkeyTarget[],
  seedConcurrency: number,
  log: (message: string) => void,
): Promise<Prepared> {
  const prepared: Prepared = { ready: [], seeding: [], missing: [], failures: [] };
  for (const target of planned) {
    try {
      if (target.kind === 'latchkey') log(`bench: preparing ${target.id} (start on an empty store, seed through HTTP)`);
      await target.prepare();
      prepared.ready.push(target);
      const latchkey = latchkeyTargets.find((t) => t.id === target.id);
      const seeded = latchkey?.seeded() ?? null;
      if (seeded === null) continue;
      const cpu = latchkey?.seedingCpu() ?? null;
      prepared.seeding.push({
        targetId: target.id,
        target: seeded.target,
        created: seeded.created,
        tenants: TENANT_COUNT,
        hotTenantCredentials: seeded.hot.credentialCount,
        seconds: seeded.seconds,
        ratePerSecond: seeded.ratePerSecond,
        concurrency: seedConcurrency,
        stoppedEarly: seeded.stoppedEarly,
        serverCpuPercent: cpu?.processPercent ?? null,
        databaseCpuPercent: target.databaseCommand === null ? null : (cpu?.databasePercent ?? null),
      });
      if (seeded.stoppedEarly !== null) {
        prepared.missing.push(
          `${target.id}: seeded only ${seeded.created} of ${seeded.target} credentials (${seeded.stoppedEarly}); its rows measure that smaller store`,
        );
      }
    } catch (err) {
      const message = `${target.id}: could not be prepared: ${err instanceof Error ? err.message : String(err)}`;
      log(`bench: ${message}`);
      prepared.failures.push(message);
    }
  }
  return prepared;
}
