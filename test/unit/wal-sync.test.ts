import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createWalSync } from '../../src/store/sqlite/wal-sync.js';

describe('WAL sync (audit appends made durable off the event loop)', () => {
  it('fails while the file cannot be opened, then syncs once it can (no stale failed handle)', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'latchkey-walsync-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const path = join(dir, 'latchkey.db-wal');
    const wal = createWalSync(path);
    await assert.rejects(wal.sync(), { code: 'ENOENT' });
    writeFileSync(path, 'frames');
    await wal.sync();
    await wal.close();
  });

  it('callers that arrive during a sync all resolve, and a failure reaches every one of them', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'latchkey-walsync-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const path = join(dir, 'latchkey.db-wal');
    writeFileSync(path, 'frames');
    const wal = createWalSync(path);
    const settled = await Promise.allSettled(Array.from({ length: 25 }, () => wal.sync()));
    assert.deepEqual(settled.map((s) => s.status), Array(25).fill('fulfilled'));
    await wal.close();

    const missing = createWalSync(join(dir, 'gone-wal'));
    const failed = await Promise.allSettled(Array.from({ length: 5 }, () => missing.sync()));
    assert.deepEqual(failed.map((s) => s.status), Array(5).fill('rejected'));
    await missing.close();
  });
});
