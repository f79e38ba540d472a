import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { Clock } from '../../../domain/clock.js';
import type { Store } from '../../../store/port.js';
import { eventLine, type AuditSink } from './audit-sink.js';

type PumpStore = Pick<
  Store,
  'capabilities' | 'listAuditSinkWork' | 'readSealedAudit' | 'advanceAuditSinkCursor' | 'claimAuditSinkLease' | 'releaseAuditSinkLease'
>;

export interface SinkPump {
  readonly sinkId: string;
  start(): void;
  /** New events were sealed: look now rather than at the next poll. */
  wake(): void;
  /** One pass over every chain; returns events delivered. */
  runOnce(): Promise<number>;
  stop(): Promise<void>;
}

/**
 * Feeds a sink from the store, at least once. The position is durable: one cursor per (sink,
 * chain) in `audit_sink_cursors`, moved only after the sink acknowledged the batch, so a
 * process killed at any point resumes where the last acknowledgement left it. Only sealed
 * events are streamed, in seq order: seqs are dense and assigned under the chain lock, so a
 * cursor over them cannot step past an event that commits later (a cursor over time could).
 * With several processes on one store, a lease in the store lets one of them deliver at a time.
 */
export function createSinkPump(deps: {
  store: PumpStore;
  sink: AuditSink;
  clock: Clock;
  logger: Logger;
  pollMs?: number;
  batch?: number;
  leaseMs?: number;
}): SinkPump {
  const { store, sink, clock, logger } = deps;
  const pollMs = deps.pollMs ?? 1000;
  const batch = deps.batch ?? 200;
  const leaseMs = deps.leaseMs ?? 10_000;
  const owner = `${process.pid}-${randomBytes(6).toString('hex')}`;
  const abort = new AbortController();
  let stopped = false;
  let loop: Promise<void> | null = null;
  let wakeUp: (() => void) | null = null;
  let pending = false;

  const claim = async (): Promise<boolean> => {
    // One process owns a SQLite store, so there is nobody to share with: no lease to wait out
    // after a crash. With PostgreSQL a crashed owner's lease lapses after leaseMs.
    if (!store.capabilities.multiProcess) return true;
    const now = clock.now();
    return store.claimAuditSinkLease(sink.id, owner, now.toISOString(), new Date(now.getTime() + leaseMs).toISOString());
  };

  const runOnce = async (): Promise<number> => {
    if (!(await claim())) return 0;
    let delivered = 0;
    for (const w of await store.listAuditSinkWork(sink.id)) {
      let at = w.delivered;
      while (!stopped && at < w.head) {
        const rows = await store.readSealedAudit(w.tenantId, at, batch);
        if (rows.length === 0) break;
        const first = rows[0]?.seq ?? 0;
        // Purged before it was delivered (retention holds back for the configured sink, so this
        // means a sink that was down longer than it could wait) or deleted by someone.
        if (first !== at + 1)
          logger.error(
            { sink: sink.label, tenant_id: w.tenantId, from_seq: at + 1, to_seq: first - 1 },
            'audit sink: events missing from the store before delivery',
          );
        await sink.deliver(rows.map(eventLine), abort.signal);
        const last = rows[rows.length - 1]?.seq ?? at;
        await store.advanceAuditSinkCursor(sink.id, w.tenantId, last);
        delivered += rows.length;
        at = last;
        if (!(await claim())) return delivered;
      }
    }
    return delivered;
  };

  const idle = (): Promise<void> =>
    new Promise((resolve) => {
      if (pending || stopped) {
        pending = false;
        return resolve();
      }
      const timer = setTimeout(done, pollMs);
      function done(): void {
        clearTimeout(timer);
        wakeUp = null;
        resolve();
      }
      wakeUp = done;
    });

  return {
    sinkId: sink.id,
    start() {
      if (loop) return;
      logger.info({ sink: sink.label }, 'audit sink started');
      let failures = 0;
      loop = (async () => {
        while (!stopped) {
          try {
            const n = await runOnce();
            failures = 0;
            if (n === 0) await idle();
          } catch (err) {
            if (stopped) break;
            failures += 1;
            if (failures === 1 || failures % 30 === 0)
              logger.warn(
                { sink: sink.label, err: { message: (err as Error).message, code: (err as { code?: string }).code } },
                'audit sink pass failed; will retry',
              );
            pending = false;
            await idle();
          }
        }
      })();
    },
    wake() {
      if (wakeUp) wakeUp();
      else pending = true;
    },
    runOnce,
    async stop() {
      stopped = true;
      abort.abort(new Error('audit sink stopping'));
      wakeUp?.();
      await loop;
      await store.releaseAuditSinkLease(sink.id, owner).catch(() => undefined);
      await sink.close();
    },
  };
}
