import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { openSqliteStore } from '../src/store/sqlite/sqlite-store.js';

describe('SQLite background checkpoints (the WAL copied into the database beside the event loop)', () => {
  it('copies committed pages into the database file well before the auto-checkpoint limit, and closes cleanly', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'latchkey-ckpt-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'latchkey.db');
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
});
