// The floor under a durable write's latency: how long fdatasync takes on the disk the SQLite
// stores live on, measured in the same run. A reveal is answered only after its audit record's
// fdatasync, so no amount of server work gets its latency under this.
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { LatencyRecorder } from './latency-percentiles.js';
import type { LatencySummary } from './load-spec.js';

export interface DiskSyncRecord {
  round: number;
  syncs: number;
  syncsPerSecond: number;
  latencyMs: LatencySummary;
}

/** Like a WAL that SQLite reuses: a preallocated file, overwritten in small commits. */
const FILE_BYTES = 4 << 20;
const COMMIT_BYTES = 16 << 10;

/**
 * Writes one commit's worth of bytes and fdatasyncs it, at `rate` per second (back to back if
 * the disk is slower), for `seconds`; only the fdatasync is timed.
 */
export async function probeDiskSync(round: number, seconds: number, rate: number): Promise<DiskSyncRecord> {
  const dir = await mkdtemp(join(tmpdir(), 'latchkey-bench-fsync-'));
  const file = await open(join(dir, 'wal'), 'w+');
  try {
    await file.truncate(FILE_BYTES);
    await file.datasync();
    const commit = Buffer.alloc(COMMIT_BYTES, 0x5a);
    const recorder = new LatencyRecorder();
    const start = performance.now();
    const end = start + seconds * 1000;
    let offset = 0;
    for (let i = 0; performance.now() < end; i += 1) {
      const due = start + (i * 1000) / rate;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      await file.write(commit, 0, COMMIT_BYTES, offset);
      offset = (offset + COMMIT_BYTES) % FILE_BYTES;
      const t = performance.now();
      await file.datasync();
      recorder.record(performance.now() - t);
    }
    return { round, syncs: recorder.size, syncsPerSecond: recorder.size / ((performance.now() - start) / 1000), latencyMs: recorder.summarize() };
  } finally {
    await file.close();
    await rm(dir, { recursive: true, force: true });
  }
}
