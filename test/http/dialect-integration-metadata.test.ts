// Integration metadata (document 004) beyond its samples, sent as its FastAPI client sends them:
// the whole list (no silent cap), OAuth credentials' token-expiration metadata (the document's
// notes), and an inactive credential's secrets refused with a status the document lists.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type TestServer } from '../support/server.ts';
import { assertServerHoldsNoSecret, canary } from '../support/canary.ts';

const IM = '/compat/integration-metadata';
let s: TestServer;
let serviceKey = '';
const secrets: string[] = [];
const secret = (label: string) => {
  const v = canary(label);
  secrets.push(v);
  return v;
};

async function native(method: string, path: string, body?: unknown) {
  const r = await s.request(method, path, { body });
  assert.ok(r.status < 300, `${method} ${path}: ${r.status} ${r.text}`);
  return r.body;
}

before(async () => {
  s = await startServer();
  serviceKey = (await native('POST', '/v1/access-keys', { name: 'im service', role: 'service' })).key;
});
after(async () => {
  await assertServerHoldsNoSecret(s, secrets);
  await s.stop();
});

describe('integration metadata: list, token expiry, inactive secrets', () => {
  it('lists every credential with a provider, past 1,000, newest first, each once', async () => {
    const made: string[] = [];
    for (let batch = 0; batch < 1010; batch += 10) {
      const rows = await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          native('POST', '/v1/credentials', {
            name: `Bulk SFTP ${batch + i}`,
            type: 'sftp',
            config: { host: 'bulk.example.com', username: `u${batch + i}` },
            secret: { password: `bulk-password-${batch + i}` },
          }),
        ),
      );
      made.push(...rows.map((r: any) => r.id));
    }
    const r = await s.request('GET', `${IM}/integrations/credentials`);
    assert.equal(r.status, 200);
    assert.equal(r.body.length, 1010);
    assert.equal(new Set(r.body.map((b: any) => b.id)).size, 1010);
    for (let i = 1; i < r.body.length; i++) assert.ok(r.body[i - 1].created_at >= r.body[i].created_at, `not newest first at ${i}`);
    // Each listed id answers as itself.
    const last = r.body[r.body.length - 1];
    const one = await s.request('GET', `${IM}/integrations/credentials/${last.id}`);
    assert.deepEqual(one.body, last);
  });

  it("OAuth credentials carry token_expires_at (the access token's expiry); other providers do not", async () => {
    await native('POST', '/v1/credentials', {
      name: 'Drive Tokens',
      type: 'oauth2',
      provider: 'google',
      config: {
        client_id: 'c',
        token_endpoint: 'https://oauth2.googleapis.com/token',
        authorization_endpoint: 'https://accounts.google.com/o/oauth2/v2/auth',
        scopes: ['drive'],
        account: { email: 'ops@example.com' },
        access_token_expires_at: '2030-05-06T07:08:09.000Z',
      },
      secret: { client_secret: secret('g-cs'), access_token: secret('g-at'), refresh_token: secret('g-rt') },
    });
    const list = (await s.request('GET', `${IM}/integrations/credentials`)).body;
    const g = list.find((b: any) => b.provider === 'google');
    assert.deepEqual(Object.keys(g).sort(), ['created_at', 'google_email', 'id', 'modified_by', 'provider', 'token_expires_at', 'updated_at', 'user_id']);
    assert.equal(g.token_expires_at, '2030-05-06T07:08:09.000Z');
    assert.equal(g.google_email, 'ops@example.com');
    const one = await s.request('GET', `${IM}/integrations/credentials/${g.id}`);
    assert.equal(one.body.token_expires_at, '2030-05-06T07:08:09.000Z');
    const sftp = list.find((b: any) => b.provider === 'sftp');
    assert.equal('token_expires_at' in sftp, false);
  });

  it("an inactive credential's secrets answer 403 CREDENTIAL_INACTIVE naming the dialect's id, never the secret", async () => {
    const password = secret('inactive');
    const c = await native('POST', '/v1/credentials', {
      name: 'Paused SFTP',
      type: 'sftp',
      config: { host: 'p.example.com', username: 'p' },
      secret: { password },
      status: 'inactive',
    });
    const list = (await s.request('GET', `${IM}/integrations/credentials`)).body;
    const shown = list.find((b: any) => b.created_at === c.created_at && b.modified_by === c.modified_by.id && b.provider === 'sftp');
    assert.ok(shown);
    const r = await s.request('GET', `${IM}/integrations/credentials/${shown.id}/credentials`, { key: serviceKey });
    assert.equal(r.status, 403, r.text);
    assert.deepEqual(Object.keys(r.body).sort(), ['error', 'request_id']);
    assert.equal(r.body.error.code, 'CREDENTIAL_INACTIVE');
    assert.equal(r.body.error.message, 'Credential is not active');
    assert.equal(r.body.error.details, `Credential ${shown.id} is inactive`);
    assert.equal(r.text.includes(c.id), false, 'no native crd_ id');
    assert.equal(r.text.includes(password), false);
    assert.equal(r.body.request_id, r.headers.get('x-request-id'));
  });
});
