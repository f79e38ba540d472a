// In a data directory that already existed with mode 0755, the database files were created 0644
// (SQLite's default, less the umask) without a word. Every file the server writes there is now
// 0600, files left more open are put back at start, and an open directory is warned about.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, type TestServer } from '../support/server.ts';
import { TEST_STORE } from '../support/store.ts';
import { assertServerHoldsNoSecret, canary } from '../support/canary.ts';

let dataDir = '';
let s: TestServer;
/** The first start's owner key: a restart on the same store prints none. */
let ownerKey = '';
const secret = canary('modes');

/** name → permission bits of every file in the data directory. */
function modes(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of readdirSync(dir)) {
    const st = statSync(join(dir, name));
    if (st.isFile()) out[name] = (st.mode & 0o777).toString(8);
  }
  return out;
}

function assertPrivate(dir: string): void {
  const found = modes(dir);
  assert.ok(Object.keys(found).length > 0, 'no file in the data directory');
  for (const [name, mode] of Object.entries(found)) assert.equal(mode, '600', `${name} is ${mode}`);
}

before(async () => {
  // As an operator's existing directory would be: made by hand, world-readable.
  dataDir = mkdtempSync(join(tmpdir(), 'latchkey-modes-'));
  chmodSync(dataDir, 0o755);
  s = await startServer({ dataDir });
  ownerKey = s.ownerKey;
});

after(async () => {
  await s?.stop();
});

describe('files in the data directory are 0600; an open directory is warned about', () => {
  it('a start in an existing 0755 directory makes only 0600 files (database, WAL, SHM, root key)', async () => {
    const c = await s.request('POST', '/v1/credentials', { body: { name: 'modes', type: 'text', secret: { value: secret } } });
    assert.equal(c.status, 201, c.text);
    if (TEST_STORE === 'sqlite') {
      for (const f of ['latchkey.db', 'latchkey.db-wal', 'latchkey.db-shm']) assert.ok(existsSync(join(dataDir, f)), `${f} missing`);
    }
    assert.ok(existsSync(join(dataDir, 'root.key')));
    assertPrivate(dataDir);
  });

  it('the start-up log warns that the directory is open, naming it and the fix', () => {
    const warning = s
      .logs()
      .split('\n')
      .find((line) => line.includes('data directory') && line.includes(dataDir));
    assert.ok(warning, 'no warning about the data directory');
    assert.match(warning, /"level":40/);
    assert.match(warning, /mode 755/);
    assert.match(warning, /chmod 700/);
  });

  it('database files left 0644 (an older version, a copied file) are 0600 again after a restart', async () => {
    await s.stop();
    // SQLite keeps its files here; on PostgreSQL only the root key is, and it must stay 0600.
    for (const f of ['latchkey.db', 'latchkey.db-wal', 'latchkey.db-shm']) if (existsSync(join(dataDir, f))) chmodSync(join(dataDir, f), 0o644);
    s = await startServer({ dataDir });
    if (TEST_STORE === 'sqlite') {
      const list = await s.request('GET', '/v1/credentials', { key: ownerKey });
      assert.equal(list.body.data[0].name, 'modes', list.text);
    }
    assertPrivate(dataDir);
  });

  it('a 0700 directory starts without the warning', async () => {
    const closed = await startServer();
    try {
      assert.equal((statSync(closed.dataDir).mode & 0o777).toString(8), '700');
      assert.equal(closed.logs().includes('data directory'), false);
      assertPrivate(closed.dataDir);
    } finally {
      await closed.stop();
    }
  });

  it('the secret is in no data file, log or audit event', async () => {
    // On PostgreSQL a restart here gets a store of its own, and prints its own owner key.
    await assertServerHoldsNoSecret(s, [secret], {}, s.ownerKey || ownerKey);
  });
});
