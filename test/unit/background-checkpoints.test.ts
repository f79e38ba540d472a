import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.js';

function tempDatabaseFile(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'latchkey-ckpt-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'latchkey.db');
}

describe('SQLite background checkpoints (the WAL copied into the database beside the event loop)', () => {
  it('copies committed pages into the database file well before the auto-checkpoint limit, and closes cleanly', async (t) => {
    const file = tempDatabaseFile(t);
    const store = openSqliteStore({ file, synchronous: 'FULL' });
    await store.migrate();
    const before = statSync(file).size;
    // ~400 pages of rows: the WAL holds them, far below the main connection's 10 000-page limit,
    // so only the worker can have put them into the database file.
    const value = 'x'.repeat(3000);
    for (let i = 0; i < 400; i++) await store.initMeta(`filler-${i}`, value);
    let grown = statSync(file).size;
    // The worker starts 2 s after the store opens, then copies every 100 ms.
    for (let waited = 0; grown - before < 400 * 3000 && waited < 8000; waited += 50) {
      await sleep(50);
      grown = statSync(file).size;
    }
    assert.ok(grown - before >= 400 * 3000, `database file grew ${grown - before} bytes, want >= ${400 * 3000}`);

    await store.close();
    assert.equal(existsSync(`${file}-wal`), false, 'a clean close removes the WAL');
    const reopened = openSqliteStore({ file, synchronous: 'FULL' });
    t.after(() => reopened.close());
    assert.equal(await reopened.getMeta('filler-399'), value);
  });

  it('lets the WAL start over under a steady stream of commits, long before the auto-checkpoint limit', async (t) => {
    const file = tempDatabaseFile(t);
    const store = openSqliteStore({ file, synchronous: 'FULL' });
    await store.migrate();
    // 2 000 rows of a page each, then commits that each rewrite ten of them at random, a
    // millisecond apart: about 5 000 scattered WAL frames. A checkpoint every 100 ms has ~800
    // scattered pages to copy and sync, and commits land while it does, so it never ends with
    // every frame copied: the WAL would grow to the main connection's limit (10 000 frames).
    // Caught up with at 2 000 frames, SQLite starts it over and the file stays near that length
    // (it reuses the file, and does not shrink it).
    const value = (n: number): string => `${n}`.padEnd(3000, 'y');
    for (let i = 0; i < 2000; i += 100) {
      await store.compareAndSetMeta({}, Object.fromEntries(Array.from({ length: 100 }, (_, j) => [`row-${i + j}`, value(0)])), []);
    }
    await store.close();
    const reopened = openSqliteStore({ file, synchronous: 'FULL' });
    t.after(() => reopened.close());
    await sleep(2500); // the worker is running, and the WAL of the filling was checkpointed away on close
    let keys: string[] = [];
    for (let n = 1; n <= 500; n++) {
      keys = Array.from({ length: 10 }, () => `row-${Math.floor(Math.random() * 2000)}`);
      await reopened.compareAndSetMeta({}, Object.fromEntries(keys.map((k) => [k, value(n)])), []);
      await sleep(1);
    }
    const frames = Math.round(statSync(`${file}-wal`).size / (4096 + 24));
    assert.ok(frames < 4000, `the WAL reached ${frames} frames`);
    assert.equal(await reopened.getMeta(keys[0]!), value(500));
  });
});
