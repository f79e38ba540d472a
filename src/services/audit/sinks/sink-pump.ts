import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { Clock } from '../../../domain/clock.js';
import type { SealedAuditRow, Store } from '../../../store/port.js';
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
  /** One pass over every chain; returns events done with (delivered, or not for this target). */
  runOnce(): Promise<number>;
  stop(): Promise<void>;
}

/** What a target says of a batch it was given: done through `through`; with `retryAt`, it stopped there and wants no call before that time (ms). */
export interface TakeResult {
  through: number;
  retryAt?: number;
}

/**
 * What a pump feeds: the audit sink (every event of every chain, in batches), or one webhook
 * subscription (one tenant's chain, the events its filter takes, one at a time).
 */
export interface PumpTarget {
  /** Names the cursor and the lease in the store: stable, never a secret. */
  readonly id: string;
  /** For logs: the kind and where, without credentials. */
  readonly label: string;
  /**
   * Takes sealed events in seq order. The cursor moves to `through` once this resolves, so a
   * target resolves only for what its receiver acknowledged (or what it does not want). A target
   * that calls out for long renews the lease with `holdLease` first (false: another process has it).
   */
  take(rows: readonly SealedAuditRow[], ctx: { signal: AbortSignal; holdLease(): Promise<boolean> }): Promise<TakeResult>;
  close(): Promise<void>;
}

/** The audit sink as a target: each batch as JSON lines, acknowledged whole (the sink retries until it is). */
function sinkTarget(sink: AuditSink): PumpTarget {
  return {
    id: sink.id,
    label: sink.label,
    async take(rows, { signal }) {
      await sink.deliver(rows.map(eventLine), signal);
      return { through: rows[rows.length - 1]?.seq ?? 0 };
    },
    close: () => sink.close(),
  };
}

export interface PumpOptions {
  store: PumpStore;
  clock: Clock;
  logger: Logger;
  pollMs?: number;
  batch?: number;
  leaseMs?: number;
}

/** Feeds the audit sink from the store (see createChainPump). */
export function createSinkPump(deps: PumpOptions & { sink: AuditSink }): SinkPump {
  return createChainPump({ ...deps, target: sinkTarget(deps.sink) });
}

/**
 * Feeds a target from the store, at least once. The position is durable: one cursor per (target,
 * chain) in `audit_sink_cursors`, moved only after the target acknowledged the batch, so a
 * process killed at any point resumes where the last acknowledgement left it. Only sealed
 * events are streamed, in seq order: seqs are dense and assigned under the chain lock, so a
 * cursor over them cannot step past an event that commits later (a cursor over time could).
 * With several processes on one store, a lease in the store lets one of them deliver at a time.
 * `tenantId` keeps the pump to one chain (a webhook subscription's tenant).
 */
export function createChainPump(deps: PumpOptions & { target: PumpTarget; tenantId?: string }): SinkPump {
  const { store, target, clock, logger } = deps;
  const pollMs = deps.pollMs ?? 1000;
  const batch = deps.batch ?? 200;
  const leaseMs = deps.leaseMs ?? 10_000;
  const owner = `${process.pid}-${randomBytes(6).toString('hex')}`;
  const abort = new AbortController();
  let stopped = false;
  let loop: Promise<void> | null = null;
  let wakeUp: (() => void) | null = null;
  let pending = false;
  /** The target asked for no call before this time (its backoff); wakes meanwhile are ignored. */
  let notBefore = 0;

  const claim = async (): Promise<boolean> => {
    // One process owns a SQLite store, so there is nobody to share with: no lease to wait out
    // after a crash. With PostgreSQL a crashed owner's lease lapses after leaseMs.
    if (!store.capabilities.multiProcess) return true;
    const now = clock.now();
    return store.claimAuditSinkLease(target.id, owner, now.toISOString(), new Date(now.getTime() + leaseMs).toISOString());
  };
  const ctx = { signal: abort.signal, holdLease: claim };

  const runOnce = async (): Promise<number> => {
    if (notBefore > clock.now().getTime()) return 0;
    if (!(await claim())) return 0;
    let delivered = 0;
    const work = deps.tenantId === undefined ? await store.listAuditSinkWork(target.id) : await store.listAuditSinkWork(target.id, deps.tenantId);
    for (const w of work) {
      let at = w.delivered;
      while (!stopped && at < w.head) {
        const rows = await store.readSealedAudit(w.tenantId, at, batch);
        if (rows.length === 0) break;
        const first = rows[0]?.seq ?? 0;
        // Purged before it was delivered (retention holds back for the configured sink, so this
        // means a sink that was down longer than it could wait) or deleted by someone.
        if (first !== at + 1)
          logger.error(
            { sink: target.label, tenant_id: w.tenantId, from_seq: at + 1, to_seq: first - 1 },
            'audit sink: events missing from the store before delivery',
          );
        const r = await target.take(rows, ctx);
        if (r.through > at) {
          await store.advanceAuditSinkCursor(target.id, w.tenantId, r.through);
          delivered += rows.filter((e) => (e.seq ?? 0) <= r.through).length;
          at = r.through;
        }
        if (r.retryAt !== undefined) {
          notBefore = r.retryAt;
          return delivered;
        }
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
      const untilRetry = notBefore - clock.now().getTime();
      const timer = setTimeout(done, untilRetry > 0 ? Math.max(1, Math.min(pollMs, untilRetry)) : pollMs);
      function done(): void {
        clearTimeout(timer);
        wakeUp = null;
        resolve();
      }
      wakeUp = done;
    });

  return {
    sinkId: target.id,
    start() {
      if (loop) return;
      logger.info({ sink: target.label }, 'audit sink started');
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
                { sink: target.label, err: { message: (err as Error).message, code: (err as { code?: string }).code } },
                'audit sink pass failed; will retry',
              );
            pending = false;
            await idle();
          }
        }
      })();
    },
    wake() {
      if (notBefore > clock.now().getTime()) return;
      if (wakeUp) wakeUp();
      else pending = true;
    },
    runOnce,
    async stop() {
      stopped = true;
      abort.abort(new Error('audit sink stopping'));
      wakeUp?.();
      await loop;
      await store.releaseAuditSinkLease(target.id, owner).catch(() => undefined);
      await target.close();
    },
  };
}
