import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { STORE_METHOD_ACCESS } from '../../src/store/method-access.js';
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.js';
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
    assert.deepEqual(
      settled.map((s) => s.status),
      Array(25).fill('fulfilled'),
    );
    await wal.close();

    const missing = createWalSync(join(dir, 'gone-wal'));
    const failed = await Promise.allSettled(Array.from({ length: 5 }, () => missing.sync()));
    assert.deepEqual(
      failed.map((s) => s.status),
      Array(5).fill('rejected'),
    );
    await missing.close();
  });
});

describe('which SQLite store methods wait for the WAL flush', () => {
  it('method-access.ts classifies every method the store has, and nothing else', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'latchkey-walsync-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const store = openSqliteStore({ file: join(dir, 'latchkey.db'), synchronous: 'FULL' });
    t.after(() => store.close());
    const methods = Object.entries(store)
      .filter(([, v]) => typeof v === 'function')
      .map(([k]) => k)
      .sort();
    assert.deepEqual(methods, Object.keys(STORE_METHOD_ACCESS).sort());
  });

  it('with synchronous FULL a write answers only after the WAL flush (and fails with it); a read does not wait', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'latchkey-walsync-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'latchkey.db');
    const store = openSqliteStore({ file, synchronous: 'FULL' });
    t.after(() => store.close());
    // The flush opens the WAL file by name on first use: with a directory in its place (which no
    // other connection can turn back into a file) it cannot flush.
    rmSync(`${file}-wal`);
    mkdirSync(`${file}-wal`);
    await assert.rejects(store.migrate(), { code: 'EISDIR' });
    assert.equal(await store.getMeta('root_key_id'), null);
    await assert.rejects(store.initMeta('probe', 'x'), { code: 'EISDIR' });
    // The write itself committed; only its acknowledgement waited for (and failed with) the flush.
    assert.equal(await store.getMeta('probe'), 'x');
  });
});
