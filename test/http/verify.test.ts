import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { SMTPServer } from 'smtp-server';
import { startServer, type TestServer } from '../support/server.ts';

// A real SMTP server on loopback that accepts one login.
const GOOD = 'smtp-good-' + Math.random().toString(36).slice(2);
const BAD = 'smtp-bad-' + Math.random().toString(36).slice(2);
let smtp: SMTPServer;
let port = 0;
let connections = 0;
let allowed: TestServer;
let guarded: TestServer;

before(async () => {
  smtp = new SMTPServer({
    authMethods: ['PLAIN', 'LOGIN'],
    allowInsecureAuth: true,
    disabledCommands: ['STARTTLS'],
    onConnect: (_session, cb) => {
      connections += 1;
      cb();
    },
    onAuth: (auth, _session, cb) => {
      if (auth.username === 'mailer' && auth.password === GOOD) cb(null, { user: 'mailer' });
      else cb(new Error('Invalid username or password'));
    },
    logger: false,
  });
  smtp.listen(0, '127.0.0.1');
  await once(smtp.server, 'listening');
  port = (smtp.server.address() as { port: number }).port;
  allowed = await startServer({ env: { LATCHKEY_EGRESS_ALLOW: '127.0.0.1/32' } });
  guarded = await startServer();
});

after(async () => {
  await allowed.stop();
  await guarded.stop();
  smtp.close();
  for (const secret of [GOOD, BAD]) {
    assert.equal(allowed.logs().includes(secret), false);
    assert.equal(guarded.logs().includes(secret), false);
  }
});

const body = (password: string, authType = 'login') => ({
  name: `SMTP ${authType} ${password.slice(0, 8)} ${Math.random()}`,
  type: 'smtp',
  config: { host: '127.0.0.1', port, encryption: 'none', auth_type: authType, username: 'mailer' },
  secret: { password },
});

describe('POST /v1/credentials/{id}/verify against a real SMTP server', () => {
  it('reports ok for the right password (LOGIN and PLAIN)', async () => {
    for (const authType of ['login', 'plain']) {
      const c = (await allowed.request('POST', '/v1/credentials', { body: body(GOOD, authType) })).body;
      const r = await allowed.request('POST', `/v1/credentials/${c.id}/verify`);
      assert.equal(r.status, 200, r.text);
      assert.equal(r.body.ok, true, r.text);
      assert.ok(Date.parse(r.body.checked_at) > 0);
    }
  });

  it('reports a bad password as not ok, without the secret, and audits the outcome', async () => {
    const c = (await allowed.request('POST', '/v1/credentials', { body: body(BAD) })).body;
    const r = await allowed.request('POST', `/v1/credentials/${c.id}/verify`);
    assert.equal(r.status, 200);
    assert.equal(r.body.ok, false);
    // A category and the server's reply code: the server's own text is never repeated.
    assert.equal(r.body.error, 'auth_failed');
    assert.equal(r.body.status, 535);
    assert.equal(r.text.includes('Invalid'), false);
    assert.equal(r.text.includes(BAD), false);
    const events = await allowed.request('GET', `/v1/audit-events?filter[credential_id]=${c.id}&filter[action]=credential.verify`);
    assert.equal(events.body.data[0].outcome, 'failure');
    assert.equal(events.body.data[0].reason, 'auth_failed (SMTP 535)');
    assert.equal(events.text.includes(BAD), false);
  });

  it('refuses a loopback SMTP host when the operator has not allowed it; the server sees nothing', async () => {
    const before = connections;
    const c = (await guarded.request('POST', '/v1/credentials', { body: body(GOOD) })).body;
    const r = await guarded.request('POST', `/v1/credentials/${c.id}/verify`);
    assert.equal(r.body.ok, false);
    assert.equal(r.body.error, 'refused');
    assert.equal(r.body.status, null);
    assert.equal(connections, before);
  });

  it('needs credentials:rotate, and answers 422 for types without a live check', async () => {
    const viewer = (await allowed.request('POST', '/v1/access-keys', { body: { name: 'v', role: 'viewer' } })).body.key;
    const c = (await allowed.request('POST', '/v1/credentials', { body: body(GOOD) })).body;
    assert.equal((await allowed.request('POST', `/v1/credentials/${c.id}/verify`, { key: viewer })).status, 403);
    const t = (await allowed.request('POST', '/v1/credentials', { body: { name: 'plain text', type: 'text', secret: { value: 'x' } } })).body;
    assert.equal((await allowed.request('POST', `/v1/credentials/${t.id}/verify`)).status, 422);
  });
});
