import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/** How often the worker copies the WAL into the database file. */
const CHECKPOINT_EVERY_MS = 100;
/** A WAL this long (~8 MB) is checkpointed round after round until every frame is copied. */
const CATCH_UP_FRAMES = 2000;
/**
 * The worker starts this long after the store opens: starting a thread with its own V8 isolate
 * and SQLite connection took 80-200 ms of CPU from the server's start to ready on one core
 * (5 alternating starts: medians 730 against 530 ms), and a CLI command that opens the store
 * for a moment needs no checkpointer at all. Until then the auto-checkpoint does the work.
 */
const START_AFTER_MS = 2000;

/**
 * The worker's whole program, as source text rather than a module file: the same text runs from
 * the bundle and from the TypeScript sources (tsx cannot load a .ts file into a worker thread,
 * privatenumber/tsx#354), and it needs nothing but the SQLite driver, whose path it is given.
 *
 * A checkpoint syncs as its connection's `synchronous` says: NORMAL syncs the database file
 * before the WAL frames it copied may be overwritten, which keeps a checkpoint crash-safe.
 * PASSIVE never waits for a lock and never blocks a writer; a round that finds the main
 * connection checkpointing (SQLITE_BUSY) leaves the rest to the next. Once the WAL is
 * CATCH_UP_FRAMES long, rounds follow each other at once for as long as each copies something
 * (a reader holding an old snapshot stops that), until one ends between two commits with every
 * frame copied; the next commit then starts the WAL over.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.file);
db.pragma('synchronous = NORMAL');
let timer;
let copied = 0;
const round = () => {
  let again = false;
  try {
    const r = db.pragma('wal_checkpoint(PASSIVE)')[0];
    again = r.busy === 0 && r.log >= workerData.catchUpFrames && r.checkpointed > copied;
    copied = r.checkpointed;
  } catch {}
  timer = setTimeout(round, again ? 0 : workerData.intervalMs);
};
timer = setTimeout(round, workerData.intervalMs);
parentPort.once('message', () => {
  clearTimeout(timer);
  db.close();
  parentPort.close();
});
`;

export interface BackgroundCheckpoints {
  /** Stops the worker and closes its connection (resolves once it has exited). */
  stop(): Promise<void>;
}

/**
 * Checkpoints the WAL from a worker thread, so that copying pages into the database file and
 * the fsync that ends it run beside the event loop instead of inside a commit. An audited reveal
 * load dirties ~1,500 scattered pages between two checkpoints (three quarters of them leaves of
 * the audit_target index); the auto-checkpoint that wrote them held the event loop 25-66 ms
 * every 1.4 s, 15-25 ms of it the fsync of the database file. SQLite reuses the log from its
 * start only when a write begins with every frame copied, which one checkpoint every 100 ms
 * beside a steady stream of commits never sees: the WAL grew to the auto-checkpoint limit
 * (wal_autocheckpoint), and that checkpoint, on the event loop, was left the tail and its fsync
 * (1,000 reveals/s: 24 fsyncs in 8 s, 115 ms in all, up to 15 ms each). Catching up (above)
 * lets the WAL start over before that (16 fsyncs, 5-7 ms in all, on the event loop, most of
 * them of the restarted WAL's header), and the auto-checkpoint stays on as the backstop.
 *
 * If the worker fails, nothing is lost: the main connection's auto-checkpoint does all of it.
 */
export function startBackgroundCheckpoints(file: string): BackgroundCheckpoints {
  let running: { worker: Worker; exited: Promise<void> } | null = null;
  const start = (): void => {
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { driver, file, intervalMs: CHECKPOINT_EVERY_MS, catchUpFrames: CATCH_UP_FRAMES } });
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    worker.on('error', () => undefined);
    // Not a reason to keep a process alive: a CLI command that opened the store exits when done.
    worker.unref();
    running = { worker, exited };
  };
  const timer = setTimeout(start, START_AFTER_MS);
  timer.unref();
  return {
    async stop() {
      clearTimeout(timer);
      if (running === null) return;
      // Held until it has gone, or a process with nothing else to do would not wait for it.
      running.worker.ref();
      running.worker.postMessage('stop');
      await running.exited;
    },
  };
}
