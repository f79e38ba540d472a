import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readTree, runCli, smtpBody, startServer, type ApiResponse, type TestServer } from '../support/server.ts';

const rootKey = randomBytes(32).toString('base64');
let s: TestServer;
const secrets = {
  a: 'AAD-SECRET-A-' + randomBytes(8).toString('hex'),
  b: 'AAD-SECRET-B-' + randomBytes(8).toString('hex'),
  t: 'AAD-SECRET-T-' + randomBytes(8).toString('hex'),
};
let tenantBKey = '';

import { TEST_STORE } from '../support/store.ts';

before(async () => {
  s = await startServer({ env: { LATCHKEY_ROOT_KEY: rootKey } });
  const t = await s.request('POST', '/v1/tenants', { body: { name: 'other tenant' } });
  assert.equal(t.status, 201, t.text);
  tenantBKey = t.body.owner_access_key.key;
});

after(async () => {
  await s.stop();
  const haystacks = [Buffer.from(s.logs()), ...readTree(s.dataDir)];
  for (const secret of Object.values(secrets)) for (const h of haystacks) assert.equal(h.includes(secret), false);
});

describe('AAD binds ciphertext to tenant, credential and version', () => {
  it('refuses to decrypt a ciphertext copied onto another credential or into another tenant', async () => {
    const a = (await s.request('POST', '/v1/credentials', { body: smtpBody('AAD A', secrets.a) })).body;
    const b = (await s.request('POST', '/v1/credentials', { body: smtpBody('AAD B', secrets.b) })).body;
    const t = (await s.request('POST', '/v1/credentials', { body: smtpBody('AAD T', secrets.t), key: tenantBKey })).body;
    assert.equal((await s.request('GET', `/v1/credentials/${b.id}/secret`)).body.secret.password, secrets.b);

    const conn = await s.sql();
    const blobA = (await conn.get<{ secret: Buffer }>('SELECT secret FROM credential_versions WHERE credential_id = ?', a.id))!.secret;
    // Same tenant, same data key: only the AAD (credential id) differs.
    await conn.run('UPDATE credential_versions SET secret = ? WHERE credential_id = ?', blobA, b.id);
    // Another tenant's row gets tenant A's ciphertext.
    await conn.run('UPDATE credential_versions SET secret = ? WHERE credential_id = ?', blobA, t.id);
    await conn.close();

    const swapped = await s.request('GET', `/v1/credentials/${b.id}/secret`);
    assert.equal(swapped.status, 500);
    assert.equal(swapped.body.error.code, 'INTERNAL');
    assert.equal(swapped.text.includes(secrets.a), false);
    const crossTenant = await s.request('GET', `/v1/credentials/${t.id}/secret`, { key: tenantBKey });
    assert.equal(crossTenant.status, 500);
    assert.equal(crossTenant.text.includes(secrets.a), false);
    // The untouched credential still opens.
    assert.equal((await s.request('GET', `/v1/credentials/${a.id}/secret`)).body.secret.password, secrets.a);
  });

  it('refuses a ciphertext moved to another version number of the same credential', async () => {
    const c = (await s.request('POST', '/v1/credentials', { body: smtpBody('AAD V', 'v1-' + secrets.a) })).body;
    await s.request('PATCH', `/v1/credentials/${c.id}`, { body: { secret: { password: 'v2-' + secrets.a } } });
    const conn = await s.sql();
    const v1 = (await conn.get<{ secret: Buffer }>('SELECT secret FROM credential_versions WHERE credential_id = ? AND version = 1', c.id))!.secret;
    await conn.run('UPDATE credential_versions SET secret = ? WHERE credential_id = ? AND version = 2', v1, c.id);
    await conn.close();
    const r = await s.request('GET', `/v1/credentials/${c.id}/secret`);
    assert.equal(r.status, 500);
    assert.equal(r.text.includes(secrets.a), false);
  });
});

describe('fail closed when the audit record cannot be written', () => {
  it('answers 503 with no secret while audit inserts fail in the database, and keeps other reads working', async () => {
    const password = 'FAILCLOSED-' + randomBytes(8).toString('hex');
    const c = (await s.request('POST', '/v1/credentials', { body: smtpBody('Fail Closed', password) })).body;
    const conn = await s.sql();
    // A real fault in the database itself: every audit insert is refused.
    if (TEST_STORE === 'sqlite') {
      await conn.exec(`CREATE TRIGGER audit_refuses BEFORE INSERT ON audit_events BEGIN SELECT RAISE(ABORT, 'audit disabled by test'); END`);
    } else {
      await conn.exec(`CREATE FUNCTION audit_refuses() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'audit disabled by test'; END $$`);
      await conn.exec(`CREATE TRIGGER audit_refuses BEFORE INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION audit_refuses()`);
    }
    try {
      const r = await s.request('GET', `/v1/credentials/${c.id}/secret`);
      assert.equal(r.status, 503);
      assert.equal(r.body.error.code, 'UNAVAILABLE');
      assert.equal(r.text.includes(password), false);
      assert.ok(r.headers.get('retry-after'));
      const meta = await s.request('GET', `/v1/credentials/${c.id}`);
      assert.equal(meta.status, 200);
      assert.equal(meta.body.last_used_at, null);
    } finally {
      await conn.exec(TEST_STORE === 'sqlite' ? 'DROP TRIGGER audit_refuses' : 'DROP TRIGGER audit_refuses ON audit_events');
      await conn.close();
    }
    const back = await s.request('GET', `/v1/credentials/${c.id}/secret`);
    assert.equal(back.status, 200);
    assert.equal(back.body.secret.password, password);
  });
});

describe('audit hash chain', () => {
  it('verifies, and names the event whose row was edited', async () => {
    const ok = await s.request('GET', '/v1/audit-events/verify');
    assert.equal(ok.body.ok, true, ok.text);
    assert.ok(ok.body.events_checked > 3);
    const conn = await s.sql();
    const victim = (await conn.get<{ id: string }>(
      `SELECT id FROM audit_events WHERE tenant_id = (SELECT tenant_id FROM access_keys WHERE name = 'owner' AND platform_admin = 1) AND seq = 3`,
    ))!;
    await conn.run(`UPDATE audit_events SET ip = '10.9.9.9' WHERE id = ?`, victim.id);
    await conn.close();
    const bad = await s.request('GET', '/v1/audit-events/verify');
    assert.equal(bad.body.ok, false);
    assert.equal(bad.body.first_bad_event_id, victim.id);
  });
});

describe('root key', () => {
  it('refuses to start with a root key that does not open the store, and says so plainly', async () => {
    const wrong = randomBytes(32).toString('base64');
    const other = await runCli(['migrate'], { ...s.env, LATCHKEY_ROOT_KEY: wrong, LATCHKEY_LOG_LEVEL: 'silent' });
    assert.equal(other.code, 1);
    assert.match(other.stderr, /root key .* does not open this store/);
    const bad = await runCli(['migrate'], { ...s.env, LATCHKEY_ROOT_KEY: 'too-short', LATCHKEY_LOG_LEVEL: 'silent' });
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /LATCHKEY_ROOT_KEY must be 32 bytes/);
  });

  it('refuses bad configuration with a plain message and exit code 1', async () => {
    const r = await runCli(['migrate'], { LATCHKEY_PORT: 'eighty', LATCHKEY_DATA_DIR: s.dataDir });
    assert.equal(r.code, 1);
    assert.equal(r.stderr.trim(), 'latchkey: LATCHKEY_PORT must be a whole number, got "eighty"');
    const usage = await runCli(['no-such-command'], {});
    assert.equal(usage.code, 2);
  });
});

describe('rate limiting', () => {
  it('answers 429 RATE_LIMITED with Retry-After past the configured limit', async () => {
    const limited = await startServer({ env: { LATCHKEY_RATE_LIMIT: '3' } });
    try {
      const codes: number[] = [];
      let last: ApiResponse | undefined;
      for (let i = 0; i < 5; i++) {
        last = await limited.request('GET', '/v1/credentials');
        codes.push(last.status);
      }
      assert.deepEqual(codes, [200, 200, 200, 429, 429]);
      assert.equal(last!.body.error.code, 'RATE_LIMITED');
      assert.ok(Number(last!.headers.get('retry-after')) > 0);
    } finally {
      await limited.stop();
    }
  });
});
