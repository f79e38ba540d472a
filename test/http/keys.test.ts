import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { keyVersionOf, open, purposeAad, secretAad } from '../../src/crypto/aead.ts';
import { localKeyId } from '../../src/crypto/key-providers/local.ts';
import { numberParams } from '../../src/store/postgres/numbered-params.ts';
import { readTree, runCli, smtpBody, startServer, type ApiResponse, type TestServer } from '../support/server.ts';
import { TEST_STORE } from '../support/store.ts';

/**
 * Key management, end to end with real processes: `latchkey keys rotate-root` on a store of
 * 10 000 credentials (killed with SIGKILL halfway, then finished), data-key rotation with
 * re-sealing, and crypto-shredding on tenant purge. Every secret is checked twice: through the
 * API, and by opening every stored blob here with the keys on disk.
 */

const BIN = resolve(import.meta.dirname, '../../bin/latchkey.js');
const CREDENTIALS = 10_000;
const TENANTS = 300;
const CONCURRENCY = 20;

type Row = Record<string, any>;

/** Direct reads of a server's store (both adapters), for checks the API must not offer. */
async function allRows(s: TestServer, sql: string, ...params: unknown[]): Promise<Row[]> {
  if (TEST_STORE === 'sqlite') {
    const db = new Database(join(s.dataDir, 'latchkey.db'));
    try {
      return db.prepare(sql).all(...params) as Row[];
    } finally {
      db.close();
    }
  }
  const client = new pg.Client({ connectionString: s.env.LATCHKEY_DATABASE_URL });
  await client.connect();
  try {
    return (await client.query(numberParams(sql).text, params)).rows as Row[];
  } finally {
    await client.end();
  }
}

async function insertRows(s: TestServer, table: string, rows: Row[]): Promise<void> {
  if (rows.length === 0) return;
  const cols = Object.keys(rows[0]!);
  const sql = `INSERT INTO ${table} (${cols.join(', ')}) VALUES (${cols.map(() => '?').join(', ')})`;
  if (TEST_STORE === 'sqlite') {
    const db = new Database(join(s.dataDir, 'latchkey.db'));
    try {
      for (const r of rows) db.prepare(sql).run(...cols.map((c) => r[c]));
    } finally {
      db.close();
    }
    return;
  }
  const client = new pg.Client({ connectionString: s.env.LATCHKEY_DATABASE_URL });
  await client.connect();
  try {
    for (const r of rows)
      await client.query(
        numberParams(sql).text,
        cols.map((c) => r[c]),
      );
  } finally {
    await client.end();
  }
}

async function inPool<T>(items: readonly T[], concurrency: number, fn: (item: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        await fn(items[i]!, i);
      }
    }),
  );
}

const keyFile = (s: TestServer, suffix = '') => join(s.dataDir, `root.key${suffix}`);
const readKey = (file: string) => Buffer.from(readFileSync(file, 'utf8').trim(), 'base64');
const dataKeyAad = (tenantId: string, version: number) => purposeAad('data-key', tenantId, String(version));
const buf = (v: unknown) => (Buffer.isBuffer(v) ? v : Buffer.from(v as Uint8Array));
const cliEnv = (s: TestServer, extra: Record<string, string> = {}) => ({ ...s.env, LATCHKEY_LOG_LEVEL: 'warn', ...extra });

/** Runs a `latchkey keys …` command that must succeed and print JSON. */
async function cliJson(args: string[], env: Record<string, string>): Promise<any> {
  const r = await runCli(args, env);
  assert.equal(r.code, 0, `latchkey ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

function opens(key: Buffer, blob: Buffer, aad: Buffer): boolean {
  try {
    open(key, blob, aad);
    return true;
  } catch {
    return false;
  }
}

/** Runs a CLI command and kills it (SIGKILL) once its progress line shows at least `fraction` done. */
async function killPartWay(
  args: string[],
  env: Record<string, string>,
  fraction: number,
): Promise<{ at: number; signal: string | null; code: number | null; stderr: string }> {
  const proc = spawn(process.execPath, [BIN, ...args], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  let at = 0;
  proc.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
    if (at > 0) return;
    for (const m of stderr.matchAll(/(\d+)\/(\d+) tenants/g)) {
      const f = Number(m[1]) / Number(m[2]);
      if (f >= fraction && f < 1) {
        at = f;
        proc.kill('SIGKILL');
        break;
      }
    }
  });
  proc.stdout.resume();
  const [code, signal] = (await once(proc, 'exit')) as [number | null, string | null];
  return { at, signal, code, stderr };
}

/** Starts a process that must refuse to start; kills it if it does not exit on its own. */
async function mustRefuseToStart(args: string[], env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  const proc = spawn(process.execPath, [BIN, ...args], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  proc.stdout.resume();
  const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000);
  const [code] = (await once(proc, 'exit')) as [number | null];
  clearTimeout(timer);
  return { code, stderr };
}

/** Keeps revealing random secrets until stopped; every reveal must succeed with the right value. */
function revealLoad(servers: TestServer[], creds: Array<{ id: string; key: string; password: string }>) {
  let stop = false;
  const failures: string[] = [];
  let done = 0;
  const workers = Array.from({ length: 4 }, async (_, w) => {
    while (!stop) {
      const c = creds[randomInt(creds.length)]!;
      const server = servers[(done + w) % servers.length]!;
      const r = await server.request('GET', `/v1/credentials/${c.id}/secret`, { key: c.key });
      if (r.status !== 200 || r.body.secret.password !== c.password) failures.push(`${r.status} ${c.id}`);
      done++;
    }
  });
  return {
    async end() {
      stop = true;
      await Promise.all(workers);
      return { done, failures };
    },
  };
}

describe('latchkey keys rotate-root on a store of 10 000 credentials', () => {
  let s: TestServer;
  /** A second server on the same store, started before the rotation with nothing cached. */
  let cold: TestServer | undefined;
  /** A third one, started on the store while the rotation is half done. */
  let midway: TestServer | undefined;
  const tenants: Array<{ id: string; key: string }> = [];
  const creds: Array<{ id: string; tenant: number; key: string; password: string }> = [];
  let oldKey: Buffer;
  let oldId = '';
  let newId = '';

  // SQLite: NORMAL instead of FULL (an fsync per commit, ~4 ms on the test machines) only so that
  // seeding 10 000 credentials is quick; key rotation writes are the same either way.
  const storeEnv = (): Record<string, string> => ({
    LATCHKEY_SQLITE_SYNCHRONOUS: 'NORMAL',
    ...(TEST_STORE === 'postgres' ? { LATCHKEY_DATABASE_URL: s.env.LATCHKEY_DATABASE_URL! } : {}),
  });

  /**
   * Another server on the same store. PostgreSQL only: a SQLite data directory belongs to one
   * server (a second is refused), so there `s` stands in for it.
   */
  const peer = async (): Promise<TestServer> => (TEST_STORE === 'postgres' ? startServer({ dataDir: s.dataDir, env: storeEnv() }) : s);

  before(async () => {
    s = await startServer({ env: { LATCHKEY_SQLITE_SYNCHRONOUS: 'NORMAL' } });
  });
  after(async () => {
    if (cold !== s) await cold?.stop();
    if (midway !== s) await midway?.stop();
    await s.stop();
    // No secret in any log or in any file left behind (the store holds ciphertext only).
    const sample = creds.slice(0, 50).map((c) => c.password);
    for (const h of [Buffer.from(s.logs()), ...readTree(s.dataDir)]) for (const pw of sample) assert.equal(h.includes(pw), false);
  });

  it(`seeds ${TENANTS} tenants and ${CREDENTIALS} credentials through the API (measured)`, async (t) => {
    const t0 = Date.now();
    const me = await s.request('GET', '/v1/tenants');
    tenants.push({ id: me.body.data[0].id, key: s.ownerKey });
    await inPool(
      Array.from({ length: TENANTS - 1 }, (_, i) => i),
      CONCURRENCY,
      async (i) => {
        const r = await s.request('POST', '/v1/tenants', { body: { name: `tenant ${i}` } });
        assert.equal(r.status, 201, r.text);
        tenants.push({ id: r.body.tenant.id, key: r.body.owner_access_key.key });
      },
    );
    const t1 = Date.now();
    await inPool(
      Array.from({ length: CREDENTIALS }, (_, i) => i),
      CONCURRENCY,
      async (i) => {
        const tenant = i % TENANTS;
        const password = `pw-${i}-${randomBytes(6).toString('hex')}`;
        const r = await s.request('POST', '/v1/credentials', { key: tenants[tenant]!.key, body: smtpBody(`cred ${i}`, password) });
        assert.equal(r.status, 201, r.text);
        creds.push({ id: r.body.id, tenant, key: tenants[tenant]!.key, password });
      },
    );
    const t2 = Date.now();
    t.diagnostic(
      `${TEST_STORE}: ${TENANTS - 1} tenants in ${t1 - t0} ms; ${CREDENTIALS} credentials at concurrency ${CONCURRENCY} in ${t2 - t1} ms (${Math.round((CREDENTIALS * 1000) / (t2 - t1))}/s)`,
    );
    assert.equal(creds.length, CREDENTIALS);
    oldKey = readKey(keyFile(s));
    oldId = localKeyId(oldKey);
    const ready = await s.request('GET', '/readyz', { key: null });
    assert.deepEqual(ready.body.keys, { root_key_id: oldId, rotation_in_progress: false, rotating_to: null });
  });

  it('a kill -9 part-way leaves a store that running and new servers open, and refuses new data keys under the old root key', async (t) => {
    cold = await peer();
    const load = revealLoad([s, cold], creds);
    const t0 = Date.now();
    const killed = await killPartWay(['keys', 'rotate-root', '--pause-ms', '10'], cliEnv(s), 0.2);
    const { done, failures } = await load.end();
    t.diagnostic(`rotate-root killed at ${Math.round(killed.at * 100)}% after ${Date.now() - t0} ms; ${done} reveals meanwhile`);
    assert.equal(killed.signal, 'SIGKILL', killed.stderr);
    assert.ok(killed.at >= 0.2 && killed.at < 1);
    assert.deepEqual(failures, []);

    // The next key is staged (0600); the old one is still the key file; the keyrings are mixed.
    assert.equal(statSync(keyFile(s, '.next')).mode & 0o777, 0o600);
    assert.deepEqual(readKey(keyFile(s)), oldKey);
    newId = localKeyId(readKey(keyFile(s, '.next')));
    const byRoot = await allRows(s, 'SELECT root_key_id, COUNT(*) AS n FROM tenant_keys GROUP BY root_key_id');
    const count = (id: string) => Number(byRoot.find((r) => r.root_key_id === id)?.n ?? 0);
    assert.ok(count(newId) > 0 && count(oldId) > 0, JSON.stringify(byRoot));
    assert.equal(count(newId) + count(oldId), TENANTS);
    const ready = await s.request('GET', '/readyz', { key: null });
    assert.deepEqual(ready.body.keys, { root_key_id: newId, rotation_in_progress: true, rotating_to: newId });

    // The server started before the rotation, with nothing cached, meets rows wrapped by a key it
    // did not hold: it re-reads the key files and opens them.
    const movedTenants = new Set((await allRows(s, 'SELECT tenant_id FROM tenant_keys WHERE root_key_id = ?', newId)).map((r) => r.tenant_id));
    const onNew = creds.filter((c) => movedTenants.has(tenants[c.tenant]!.id)).slice(0, 20);
    const onOld = creds.filter((c) => !movedTenants.has(tenants[c.tenant]!.id)).slice(0, 20);
    for (const c of [...onNew, ...onOld]) {
      const r: ApiResponse = await cold.request('GET', `/v1/credentials/${c.id}/secret`, { key: c.key });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.body.secret.password, c.password);
    }

    // A server started now opens the store.
    midway = await peer();
    for (const c of [...onNew.slice(0, 5), ...onOld.slice(0, 5)]) {
      assert.equal((await midway.request('GET', `/v1/credentials/${c.id}/secret`, { key: c.key })).body.secret.password, c.password);
    }

    // New tenants made meanwhile, by a server that still thought the old key wrapped the store
    // (s) and by one that knew better: both are wrapped by the new key, or they would be left behind.
    for (const [i, server] of [s, cold, midway].entries()) {
      const r = await server.request('POST', '/v1/tenants', { key: s.ownerKey, body: { name: `made mid-rotation ${i} ${server.url}` } });
      assert.equal(r.status, 201, r.text);
      const rows = await allRows(s, 'SELECT root_key_id FROM tenant_keys WHERE tenant_id = ?', r.body.tenant.id);
      assert.deepEqual(
        rows.map((x) => x.root_key_id),
        [newId],
      );
      const c = await server.request('POST', '/v1/credentials', { key: r.body.owner_access_key.key, body: smtpBody('late', `pw-late-${i}-${server.url}`) });
      assert.equal(c.status, 201, c.text);
      tenants.push({ id: r.body.tenant.id, key: r.body.owner_access_key.key });
      creds.push({ id: c.body.id, tenant: tenants.length - 1, key: r.body.owner_access_key.key, password: `pw-late-${i}-${server.url}` });
    }
  });

  it('the next run finishes it: every secret opens, the old root key opens nothing', async (t) => {
    const load = revealLoad([s, cold!], creds);
    const t0 = Date.now();
    const r = await runCli(['keys', 'rotate-root'], cliEnv(s));
    const ms = Date.now() - t0;
    const { done, failures } = await load.end();
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`root key rotated: ${oldId} -> ${newId} \\(finished an interrupted rotation\\)`));
    assert.match(r.stderr, new RegExp(`rotate-root \\[#+\\] ${TENANTS + 3}/${TENANTS + 3} tenants`));
    t.diagnostic(`rotate-root (resumed) finished in ${ms} ms; ${done} reveals meanwhile`);
    assert.deepEqual(failures, []);

    // Files: the new key is the key file (0600); no next, and no previous kept by default.
    const newKey = readKey(keyFile(s));
    assert.equal(localKeyId(newKey), newId);
    assert.equal(statSync(keyFile(s)).mode & 0o777, 0o600);
    assert.equal(existsSync(keyFile(s, '.next')), false);
    assert.equal(existsSync(keyFile(s, '.previous')), false);
    const ready = await s.request('GET', '/readyz', { key: null });
    assert.deepEqual(ready.body.keys, { root_key_id: newId, rotation_in_progress: false, rotating_to: null });

    // Every keyring is wrapped by the new key only: it opens each, the old key none.
    const keyRows = await allRows(s, 'SELECT tenant_id, version, wrapped_key, root_key_id FROM tenant_keys');
    assert.equal(keyRows.length, tenants.length);
    const dataKeys = new Map<string, Buffer>();
    for (const k of keyRows) {
      assert.equal(k.root_key_id, newId);
      const aad = dataKeyAad(k.tenant_id, Number(k.version));
      assert.equal(opens(oldKey, buf(k.wrapped_key), aad), false);
      dataKeys.set(`${k.tenant_id}/${k.version}`, open(newKey, buf(k.wrapped_key), aad));
    }
    const check = JSON.parse((await allRows(s, `SELECT value FROM meta WHERE key = 'root_key_check'`))[0]!.value);
    assert.equal(check.key_id, newId);
    assert.equal(opens(oldKey, Buffer.from(check.wrapped, 'base64'), purposeAad('root-check')), false);
    assert.equal(opens(newKey, Buffer.from(check.wrapped, 'base64'), purposeAad('root-check')), true);

    // Every one of the 10 000 sealed secrets opens with its tenant's data key under its AAD.
    const expected = new Map(creds.map((c) => [c.id, c.password]));
    const sealed = await allRows(s, 'SELECT tenant_id, credential_id, version, secret FROM credential_versions');
    assert.equal(sealed.length, creds.length);
    for (const v of sealed) {
      const blob = buf(v.secret);
      const dk = dataKeys.get(`${v.tenant_id}/${keyVersionOf(blob)}`)!;
      const plain = JSON.parse(open(dk, blob, secretAad(v.tenant_id, v.credential_id, Number(v.version), 'secret')).toString('utf8'));
      assert.equal(plain.password, expected.get(v.credential_id));
    }

    // Through the API: a sample of 200, and every secret of one tenant, on a server that ran
    // through the rotation and on one started now.
    const fresh = await peer();
    try {
      const sample = Array.from({ length: 200 }, () => creds[randomInt(creds.length)]!);
      const oneTenant = creds.filter((c) => c.tenant === 7);
      assert.ok(oneTenant.length >= 30);
      await inPool([...sample, ...oneTenant], CONCURRENCY, async (c, i) => {
        const server = [s, fresh, cold!][i % 3]!;
        const got = await server.request('GET', `/v1/credentials/${c.id}/secret`, { key: c.key });
        assert.equal(got.status, 200, got.text);
        assert.equal(got.body.secret.password, c.password);
      });
    } finally {
      if (fresh !== s) await fresh.stop();
    }

    // The old root key no longer opens the store: a server refuses to start with it, plainly.
    const oldEnv = cliEnv(s, { LATCHKEY_ROOT_KEY: oldKey.toString('base64') });
    const serve = await mustRefuseToStart(['serve'], oldEnv);
    assert.equal(serve.code, 1);
    // On SQLite `s` holds the data directory, and a second server is refused for that first.
    assert.match(
      serve.stderr,
      TEST_STORE === 'postgres' ? new RegExp(`latchkey: the root key \\(${oldId}\\) does not open this store`) : /is in use by another latchkey server/,
    );
    const migrate = await runCli(['migrate'], oldEnv);
    assert.equal(migrate.code, 1);
    assert.match(migrate.stderr, /does not open this store/);
  });

  it('keys status reports the root key, tenants by root key and data-key versions', async () => {
    const json = await runCli(['keys', 'status', '--json'], cliEnv(s));
    assert.equal(json.code, 0, json.stderr);
    const st = JSON.parse(json.stdout);
    assert.equal(st.root_key_id, newId);
    assert.equal(st.rotation, null);
    assert.ok(st.last_root_rotation_at);
    assert.deepEqual(st.tenants_by_root_key, [{ root_key_id: newId, tenants: tenants.length, data_keys: tenants.length }]);
    assert.deepEqual(st.tenants_by_data_key_version, [{ version: 1, tenants: tenants.length }]);
    assert.equal(st.sealed_under_old_versions, 0);
    const text = await runCli(['keys', 'status'], cliEnv(s));
    assert.match(text.stdout, new RegExp(`root key: ${newId}\\nroot-key rotation: none in progress`));
    assert.equal(/[A-Za-z0-9+/]{43}=/.test(text.stdout + json.stdout), false, 'no key material in the report');
  });

  it('a rotation with nothing interrupted runs start to finish, and --keep-previous keeps the old key file', async (t) => {
    const before = readKey(keyFile(s));
    const t0 = Date.now();
    const r = await runCli(['keys', 'rotate-root', '--keep-previous', '--json'], cliEnv(s));
    t.diagnostic(`rotate-root of ${tenants.length} keyrings (${CREDENTIALS}+ credentials), start to finish: ${Date.now() - t0} ms including process start`);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.from, newId);
    assert.equal(out.resumed, false);
    assert.equal(out.data_keys_rewrapped, tenants.length);
    assert.deepEqual(readKey(keyFile(s, '.previous')), before);
    assert.equal(statSync(keyFile(s, '.previous')).mode & 0o777, 0o600);
    const c = creds[randomInt(creds.length)]!;
    assert.equal((await s.request('GET', `/v1/credentials/${c.id}/secret`, { key: c.key })).body.secret.password, c.password);
  });
});

describe('latchkey keys rotate-root with the root key in the environment', () => {
  const a = randomBytes(32).toString('base64');
  const b = randomBytes(32).toString('base64');
  let s: TestServer;
  before(async () => {
    // The documented procedure: servers run with both keys while the rotation runs.
    s = await startServer({ env: { LATCHKEY_ROOT_KEY: a, LATCHKEY_NEW_ROOT_KEY: b } });
  });
  after(async () => {
    await s.stop();
  });

  it('needs LATCHKEY_NEW_ROOT_KEY, re-wraps under it, and then only it opens the store', async () => {
    const c = await s.request('POST', '/v1/credentials', { body: smtpBody('env rotated', 'pw-env') });
    assert.equal(c.status, 201, c.text);
    const missing = await runCli(['keys', 'rotate-root'], cliEnv(s, { LATCHKEY_NEW_ROOT_KEY: '' }));
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /set LATCHKEY_NEW_ROOT_KEY to the new key/);

    const r = await runCli(['keys', 'rotate-root'], cliEnv(s));
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /to do: set LATCHKEY_ROOT_KEY to the new key/);
    assert.equal((await s.request('GET', `/v1/credentials/${c.body.id}/secret`)).body.secret.password, 'pw-env');

    const oldOnly = await runCli(['migrate'], cliEnv(s, { LATCHKEY_ROOT_KEY: a, LATCHKEY_NEW_ROOT_KEY: '' }));
    assert.equal(oldOnly.code, 1);
    assert.match(oldOnly.stderr, /does not open this store/);
    const newOnly = await runCli(['migrate'], cliEnv(s, { LATCHKEY_ROOT_KEY: b, LATCHKEY_NEW_ROOT_KEY: '' }));
    assert.equal(newOnly.code, 0, newOnly.stderr);
  });
});

describe('data-key rotation and re-sealing', () => {
  let s: TestServer;
  let tenantId = '';
  let ownerKey = '';
  const creds: Array<{ id: string; password: string; test: string | null; previous: string | null }> = [];
  const sealedVersions = async () =>
    (await allRows(s, 'SELECT secret, test_secret FROM credential_versions WHERE tenant_id = ?', tenantId)).flatMap((r) =>
      [r.secret, r.test_secret].filter((x) => x !== null).map((x) => keyVersionOf(buf(x))),
    );
  const headerOf = async (credentialId: string, version: number) =>
    keyVersionOf(buf((await allRows(s, 'SELECT secret FROM credential_versions WHERE credential_id = ? AND version = ?', credentialId, version))[0]!.secret));

  before(async () => {
    s = await startServer();
    const t = await s.request('POST', '/v1/tenants', { body: { name: 'rotating data keys' } });
    tenantId = t.body.tenant.id;
    ownerKey = t.body.owner_access_key.key;
    await inPool(
      Array.from({ length: 40 }, (_, i) => i),
      10,
      async (i) => {
        const password = `dk-${i}-${randomBytes(4).toString('hex')}`;
        const test = i % 2 === 0 ? `dk-test-${i}-${randomBytes(4).toString('hex')}` : null;
        const body = { ...smtpBody(`dk ${i}`, password), ...(test ? { test_credential_enabled: true, test_secret: { password: test } } : {}) };
        const r = await s.request('POST', '/v1/credentials', { key: ownerKey, body });
        assert.equal(r.status, 201, r.text);
        let current = password;
        let previous: string | null = null;
        if (i % 4 === 1) {
          previous = password;
          current = `dk-rotated-${i}`;
          const rot = await s.request('POST', `/v1/credentials/${r.body.id}/rotate`, {
            key: ownerKey,
            body: { secret: { password: current }, grace_period_seconds: 3600 },
          });
          assert.equal(rot.status, 200, rot.text);
        }
        creds.push({ id: r.body.id, password: current, test, previous });
      },
    );
  });
  after(async () => {
    await s.stop();
  });

  it('rotate-data adds a version that the running server seals new secrets under at once', async () => {
    const r = await runCli(['keys', 'rotate-data', '--tenant', tenantId], cliEnv(s));
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`data key of ${tenantId} rotated: v1 -> v2`));
    // Made by another process (no invalidation reaches a SQLite server): the next seal still uses v2.
    const c = await s.request('POST', '/v1/credentials', { key: ownerKey, body: smtpBody('after rotation', 'pw-after') });
    assert.equal(await headerOf(c.body.id, 1), 2);
    creds.push({ id: c.body.id, password: 'pw-after', test: null, previous: null });
    // Lazy re-sealing: a secret written now goes under v2; its older version stays on v1 until the job.
    const lazy = creds.find((c) => c.previous === null && c.test === null)!;
    const p = await s.request('PATCH', `/v1/credentials/${lazy.id}`, { key: ownerKey, body: { secret: { password: 'pw-lazy' } } });
    assert.equal(p.status, 200, p.text);
    lazy.password = 'pw-lazy';
    assert.equal(await headerOf(lazy.id, 2), 2);
    assert.equal(await headerOf(lazy.id, 1), 1);

    const st = await cliJson(['keys', 'status', '--tenant', tenantId, '--json'], cliEnv(s));
    assert.deepEqual(st.tenants[0].versions, [1, 2]);
    assert.equal(st.tenants[0].data_key_version, 2);
    const onV1 = (await sealedVersions()).filter((v) => v === 1).length;
    assert.equal(st.sealed_under_old_versions, onV1);
    assert.ok(onV1 > 40);
  });

  it('POST /v1/tenants/{id}/keys/rotate: owners of the tenant and platform admins; nobody else learns the tenant exists', async () => {
    const own = await s.request('POST', `/v1/tenants/${tenantId}/keys/rotate`, { key: ownerKey });
    assert.equal(own.status, 201, own.text);
    assert.deepEqual(own.body, { tenant_id: tenantId, data_key_version: 3, previous_version: 2 });
    const other = await s.request('POST', '/v1/tenants', { body: { name: 'bystander' } });
    const stranger = await s.request('POST', `/v1/tenants/${tenantId}/keys/rotate`, { key: other.body.owner_access_key.key });
    assert.equal(stranger.status, 404);
    assert.equal(stranger.body.error.code, 'TENANT_NOT_FOUND');
    const reader = await s.request('POST', '/v1/access-keys', { key: ownerKey, body: { name: 'reader', role: 'viewer' } });
    assert.equal(reader.status, 201, reader.text);
    assert.equal((await s.request('POST', `/v1/tenants/${tenantId}/keys/rotate`, { key: reader.body.key })).status, 403);
    const admin = await s.request('POST', `/v1/tenants/${tenantId}/keys/rotate`);
    assert.equal(admin.status, 201, admin.text);
    assert.equal(admin.body.data_key_version, 4);
    assert.equal((await s.request('POST', '/v1/tenants/ten_NOSUCHTENANT/keys/rotate')).status, 404);
    const c = await s.request('POST', '/v1/credentials', { key: ownerKey, body: smtpBody('after v4', 'pw-v4') });
    assert.equal(await headerOf(c.body.id, 1), 4);
    creds.push({ id: c.body.id, password: 'pw-v4', test: null, previous: null });
    const events = await s.request('GET', '/v1/audit-events?filter[action]=tenant.data_key_rotate', { key: ownerKey });
    assert.equal(events.body.data.length, 3);
  });

  it('keys reseal moves every version row (secret and test secret) to the current key, online, and all still open', async (t) => {
    const load = revealLoad(
      [s],
      creds.map((c) => ({ id: c.id, key: ownerKey, password: c.password })),
    );
    const t0 = Date.now();
    const r = await runCli(['keys', 'reseal', '--tenant', tenantId, '--batch-size', '7'], cliEnv(s));
    const ms = Date.now() - t0;
    const { done, failures } = await load.end();
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /reseal \[#+\] (\d+)\/\1 rows/);
    t.diagnostic(`reseal of one tenant in ${ms} ms (${r.stdout.trim()}); ${done} reveals meanwhile`);
    assert.deepEqual(failures, []);

    const versions = await sealedVersions();
    assert.ok(versions.length > 70);
    assert.deepEqual([...new Set(versions)], [4]);
    const st = await cliJson(['keys', 'status', '--json'], cliEnv(s));
    assert.equal(st.sealed_under_old_versions, 0);

    for (const c of creds) {
      const main = await s.request('GET', `/v1/credentials/${c.id}/secret`, { key: ownerKey });
      assert.equal(main.body.secret.password, c.password, main.text);
      if (c.test) assert.equal((await s.request('GET', `/v1/credentials/${c.id}/secret?variant=test`, { key: ownerKey })).body.test_secret.password, c.test);
      if (c.previous) assert.equal((await s.request('GET', `/v1/credentials/${c.id}/secret?version=1`, { key: ownerKey })).body.secret.password, c.previous);
    }
    // Run again: nothing left to do.
    assert.deepEqual(await cliJson(['keys', 'reseal', '--json'], cliEnv(s)), { tenants: 0, rows: 0, values: 0 });
  });
});

describe('DELETE /v1/tenants/{id}: purge destroys the keyring (crypto-shredding)', () => {
  let s: TestServer;
  let stopped = false;
  before(async () => {
    s = await startServer();
  });
  after(async () => {
    if (!stopped) await s.stop();
  });

  it("refuses callers other than platform admins, and a platform admin's own tenant", async () => {
    const t = await s.request('POST', '/v1/tenants', { body: { name: 'not yours' } });
    const byOwner = await s.request('DELETE', `/v1/tenants/${t.body.tenant.id}`, { key: t.body.owner_access_key.key });
    assert.equal(byOwner.status, 403);
    const mine = (await s.request('GET', '/v1/tenants')).body.data[0].id;
    const own = await s.request('DELETE', `/v1/tenants/${mine}`);
    assert.equal(own.status, 409);
    assert.equal((await s.request('DELETE', '/v1/tenants/ten_NOSUCHTENANT')).status, 404);
  });

  it('leaves nothing of the tenant, and its ciphertexts copied aside beforehand open under nothing', async () => {
    const t = await s.request('POST', '/v1/tenants', { body: { name: 'victim' } });
    const victim = t.body.tenant.id;
    const victimKey = t.body.owner_access_key.key;
    const witness = await s.request('POST', '/v1/tenants', { body: { name: 'witness' } });
    const secrets: string[] = [];
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const pw = `shred-me-${i}-${randomBytes(8).toString('hex')}`;
      const body = { ...smtpBody(`victim ${i}`, pw), test_credential_enabled: true, test_secret: { password: pw + '-test' } };
      const c = await s.request('POST', '/v1/credentials', { key: victimKey, body });
      assert.equal(c.status, 201, c.text);
      secrets.push(pw);
      ids.push(c.body.id);
    }
    await s.request('POST', `/v1/tenants/${victim}/keys/rotate`, { key: victimKey });
    await s.request('PATCH', `/v1/credentials/${ids[0]}`, { key: victimKey, body: { secret: { password: secrets[0] + '-v2' } } });
    await s.request('POST', '/v1/credentials', { key: witness.body.owner_access_key.key, body: smtpBody('witness', 'pw-witness') });
    assert.equal((await s.request('GET', `/v1/credentials/${ids[1]}/secret`, { key: victimKey })).body.secret.password, secrets[1]);

    // A "backup" of the tenant's rows, taken by SQL before the purge.
    const backup = {
      tenants: await allRows(s, 'SELECT * FROM tenants WHERE id = ?', victim),
      access_keys: await allRows(s, 'SELECT * FROM access_keys WHERE tenant_id = ?', victim),
      credentials: await allRows(s, 'SELECT * FROM credentials WHERE tenant_id = ?', victim),
      credential_versions: await allRows(s, 'SELECT * FROM credential_versions WHERE tenant_id = ?', victim),
    };
    const wrappedKeys = (await allRows(s, 'SELECT wrapped_key FROM tenant_keys WHERE tenant_id = ?', victim)).map((r) => buf(r.wrapped_key));
    assert.equal(wrappedKeys.length, 2);
    assert.equal(backup.credential_versions.length, 6);
    const blobs = backup.credential_versions.flatMap((v) =>
      (['secret', 'test_secret'] as const)
        .filter((slot) => v[slot] !== null)
        .map((slot) => ({ blob: buf(v[slot]), aad: secretAad(victim, v.credential_id, Number(v.version), slot) })),
    );
    // Before the purge the root key and the victim's keyring open them all.
    const root = readKey(keyFile(s));
    const victimDataKeys = (await allRows(s, 'SELECT version, wrapped_key FROM tenant_keys WHERE tenant_id = ?', victim)).map((k) =>
      open(root, buf(k.wrapped_key), dataKeyAad(victim, Number(k.version))),
    );
    for (const b of blobs) assert.ok(victimDataKeys.some((dk) => opens(dk, b.blob, b.aad)));

    const purge = await s.request('DELETE', `/v1/tenants/${victim}`);
    assert.equal(purge.status, 204, purge.text);

    // Nothing of the tenant is left, in any table; its key no longer authenticates.
    for (const table of ['tenant_keys', 'access_keys', 'credentials', 'credential_versions', 'audit_events', 'idempotency_keys', 'teams', 'folders']) {
      assert.equal((await allRows(s, `SELECT COUNT(*) AS n FROM ${table} WHERE tenant_id = ?`, victim)).map((r) => Number(r.n))[0], 0, table);
    }
    assert.equal((await allRows(s, 'SELECT COUNT(*) AS n FROM tenants WHERE id = ?', victim)).map((r) => Number(r.n))[0], 0);
    assert.equal((await s.request('GET', '/v1/credentials', { key: victimKey })).status, 401);
    const audit = await s.request('GET', '/v1/audit-events?filter[action]=tenant.purge');
    assert.equal(audit.body.data.length, 1);
    assert.equal(audit.body.data[0].target.id, victim);
    // The witness tenant is untouched.
    assert.equal((await s.request('GET', '/v1/credentials', { key: witness.body.owner_access_key.key })).body.data.length, 1);

    // No data key left in the store, unwrapped with the root key, opens any copied ciphertext.
    const remaining = await allRows(s, 'SELECT tenant_id, version, wrapped_key FROM tenant_keys');
    assert.ok(remaining.length >= 2);
    for (const k of remaining) {
      const dk = open(root, buf(k.wrapped_key), dataKeyAad(k.tenant_id, Number(k.version)));
      for (const b of blobs) assert.equal(opens(dk, b.blob, b.aad), false);
    }
    // Restoring every row from the "backup" does not bring the secrets back: the keyring is gone.
    for (const [table, rows] of Object.entries(backup)) await insertRows(s, table, rows);
    const restored = await s.request('GET', `/v1/credentials/${ids[1]}/secret`, { key: victimKey });
    assert.notEqual(restored.status, 200);
    for (const pw of secrets) assert.equal(restored.text.includes(pw), false);
    const reseal = await runCli(['keys', 'reseal', '--tenant', victim], cliEnv(s));
    assert.equal(reseal.code, 1);

    if (TEST_STORE === 'sqlite') {
      // SQLite: the wrapped keys' bytes are zeroed in the file and gone from the WAL (secure_delete
      // and a checkpoint), so even the root key and a copy of the data dir cannot get them back.
      await s.stop('SIGTERM');
      stopped = true;
      for (const file of readTree(s.dataDir)) for (const w of wrappedKeys) assert.equal(file.includes(w), false);
    }
  });
});
