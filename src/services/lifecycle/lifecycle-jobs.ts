import type { Logger } from 'pino';
import type { Clock } from '../../domain/clock.js';
import { LatchkeyError } from '../../domain/errors.js';
import { systemContext, type RequestContext } from '../../domain/principal.js';
import type { CredentialStore } from '../../store/port.js';
import type { Catalog } from '../../catalog/catalog.js';
import { periodic } from './periodic.js';
import type { CredentialsService } from '../credentials/credentials-service.js';

export interface LifecycleJobs {
  /** One pass of every job at the clock's now; returns what it did. */
  runOnce(): Promise<{ deactivated: number; rotated: number; markedDue: number; purged: number }>;
  start(intervalMs: number): void;
  stop(): Promise<void>;
}

/** The scheduler's principal; its events name it. */
const SCHEDULER = { id: 'scheduler', name: 'latchkey scheduler' };

/** A lost race with another process (or a person) is not a failure: someone else acted first. */
function lostRace(err: unknown): boolean {
  return err instanceof LatchkeyError && ['PRECONDITION_FAILED', 'CONFLICT', 'CREDENTIAL_NOT_FOUND'].includes(err.code);
}

/**
 * Time-driven lifecycle: scheduled deactivation, rotation policy, and purge of soft-deleted
 * credentials past retention. All state is in the store (it survives restarts) and every action
 * is a compare-and-set through the credentials service, so with several processes each due
 * credential is acted on once and the others see a stale revision and move on.
 */
export function createLifecycleJobs(deps: {
  store: Pick<CredentialStore, 'listDueDeactivations' | 'listDueRotations' | 'listDeletedBefore'>;
  clock: Clock;
  credentials: CredentialsService;
  catalog: Catalog;
  logger: Logger;
  deletedRetentionDays: number;
}): LifecycleJobs {
  const { store, clock, credentials, catalog, logger } = deps;

  const each = async (rows: Array<{ tenantId: string; id: string }>, act: (ctx: RequestContext, id: string) => Promise<boolean>): Promise<number> => {
    let n = 0;
    for (const r of rows) {
      try {
        if (await act(systemContext(r.tenantId, SCHEDULER), r.id)) n += 1;
      } catch (err) {
        if (!lostRace(err))
          logger.warn({ tenant_id: r.tenantId, credential_id: r.id, code: (err as { code?: string }).code }, 'lifecycle job step failed; will retry');
      }
    }
    return n;
  };

  const runOnce: LifecycleJobs['runOnce'] = async () => {
    const now = clock.now().toISOString();
    const deactivated = await each(await store.listDueDeactivations(now, 500), async (ctx, id) => {
      const c = await credentials.get(ctx, id);
      await credentials.update(ctx, id, { status: 'deactivated', deactivation_time: c.deactivationTime }, c.revision);
      return true;
    });
    let rotated = 0;
    const markedDue = await each(await store.listDueRotations(now, 500), async (ctx, id) => {
      const c = await credentials.get(ctx, id);
      // Re-check after reading: another process may have acted since the list was taken.
      if (c.rotationDue || c.nextRotationAt === null || c.nextRotationAt > now || c.status !== 'active') return false;
      if (catalog.get(c.type)?.generate) {
        await credentials.rotate(ctx, id, { gracePeriodSeconds: 3600 });
        rotated += 1;
        return false;
      }
      await credentials.markRotationDue(ctx, id, c.revision);
      return true;
    });
    const cutoff = new Date(clock.now().getTime() - deps.deletedRetentionDays * 86_400_000).toISOString();
    const purged = await each(await store.listDeletedBefore(cutoff, 500), async (ctx, id) => {
      await credentials.remove(ctx, id, { purge: true });
      return true;
    });
    return { deactivated, rotated, markedDue, purged };
  };

  return { runOnce, ...periodic(runOnce, logger, 'lifecycle jobs failed; will retry') };
}
