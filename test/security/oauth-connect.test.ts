import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startServer, type ApiResponse, type TestServer } from '../support/server.ts';
import { CLIENT, startProvider, type TestProvider } from '../support/oauth-provider.ts';
import { assertNoSecret, assertServerHoldsNoSecret, canary } from '../support/canary.ts';
import { auditText } from '../support/refusals.ts';

// Issue 24, weaknesses of the OAuth connect flow, against a real provider (node-oidc-provider on
// loopback): a refused connect (422) left its half-made credential behind, and a callback still
// completed after the key that started the connect was revoked, writing tokens in its name.

let s: TestServer;
let p: TestProvider;
const secrets: string[] = [];
const answers: Record<string, string> = {};
const owners: string[] = [];

before(async () => {
  s = await startServer({ env: { LATCHKEY_EGRESS_ALLOW: '127.0.0.1/32,::1/128', LATCHKEY_LOG_LEVEL: 'info' } });
  p = await startProvider({ redirectUris: [`${s.url}/v1/oauth/callback`] });
});

after(async () => {
  await s?.stop();
  await p?.close();
});

async function ok(r: Promise<ApiResponse>): Promise<any> {
  const res = await r;
  assert.ok(res.status < 300, res.text);
  return res.body;
}

async function newTenant(): Promise<{ id: string; owner: string }> {
  const t = await ok(s.request('POST', '/v1/tenants', { body: { name: `oauth connect ${randomBytes(4).toString('hex')}` } }));
  owners.push(t.owner_access_key.key);
  return { id: t.tenant.id, owner: t.owner_access_key.key };
}

function connectBody(clientSecret: string, config: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) {
  return {
    provider: 'oauth2',
    name: `Connect ${randomBytes(4).toString('hex')}`,
    config: {
      client_id: CLIENT.id,
      authorization_endpoint: `${p.issuer}/auth`,
      token_endpoint: `${p.issuer}/token`,
      scopes: ['openid', 'email'],
      token_endpoint_auth_method: 'client_secret_basic',
      ...config,
    },
    secret: { client_secret: clientSecret },
    ...extra,
  };
}

/** Starts a connect as `key` with the provider's real client secret; returns the flow's start. */
async function startConnect(key: string, extra: Record<string, unknown> = {}): Promise<{ authorization_url: string; credential_id: string }> {
  const r = await s.request('POST', '/v1/oauth/connect', { key, body: connectBody(CLIENT.secret, {}, extra) });
  assert.equal(r.status, 200, r.text);
  return r.body;
}

/** The browser's way back from the provider: login, consent, then our callback. */
async function finish(started: { authorization_url: string }, label: string): Promise<Response> {
  const back = await p.authorize(started.authorization_url);
  const done = await fetch(back, { redirect: 'manual' });
  answers[label] = await done.clone().text();
  return done;
}

async function callbackEvents(owner: string, credentialId: string): Promise<any[]> {
  return (await ok(s.request('GET', `/v1/audit-events?filter[credential_id]=${credentialId}&filter[action]=credential.oauth_callback`, { key: owner }))).data;
}

/** The credential holds no token: its version is the first, and its secret only the client secret. */
async function assertNoTokens(owner: string, credentialId: string): Promise<void> {
  const c = await ok(s.request('GET', `/v1/credentials/${credentialId}`, { key: owner }));
  assert.equal(c.version, 1, JSON.stringify(c));
  assert.deepEqual(c.secret_fields, ['client_secret']);
  const revealed = await ok(s.request('GET', `/v1/credentials/${credentialId}/secret`, { key: owner }));
  assert.deepEqual(Object.keys(revealed.secret), ['client_secret']);
}

describe('a refused connect leaves nothing behind', () => {
  it('422 for a config that cannot connect, and no credential, version or credential event in the tenant', async () => {
    const t = await newTenant();
    const refusals: Array<[string, Record<string, unknown>, string]> = [
      ['client_credentials grant', { grant_type: 'client_credentials' }, 'config.grant_type'],
      ['no authorization endpoint', { authorization_endpoint: undefined }, 'config.authorization_endpoint'],
      ['authorization endpoint over plain http to a private address', { authorization_endpoint: 'http://10.255.0.1/auth' }, 'config.authorization_endpoint'],
      ['token endpoint to a private address', { token_endpoint: 'https://10.255.0.1/token' }, 'config.token_endpoint'],
    ];
    for (const [label, config, path] of refusals) {
      const secret = canary('client-secret');
      secrets.push(secret);
      const r = await s.request('POST', '/v1/oauth/connect', { key: t.owner, body: connectBody(secret, config) });
      answers[label] = r.text;
      assert.equal(r.status, 422, `${label}: ${r.text}`);
      assert.ok(JSON.stringify(r.body.error.details).includes(path), `${label}: ${r.text}`);
    }
    assert.equal((await ok(s.request('GET', '/v1/credentials', { key: t.owner }))).data.length, 0);
    const sql = await s.sql();
    try {
      for (const table of ['credentials', 'credential_versions', 'oauth_states']) {
        const n = await sql.get<{ n: number | string }>(`SELECT COUNT(*) AS n FROM ${table} WHERE tenant_id = ?`, t.id);
        assert.equal(Number(n?.n), 0, `${table} holds a row of a refused connect`);
      }
    } finally {
      await sql.close();
    }
    const events = (await ok(s.request('GET', '/v1/audit-events?per_page=100', { key: t.owner }))).data as Array<{ action: string }>;
    assert.deepEqual(
      events.filter((e) => e.action.startsWith('credential.')),
      [],
    );
  });
});

describe('the callback acts only for a starter that is still there and still allowed', () => {
  it('completes for a live starter (the control)', async () => {
    const t = await newTenant();
    const admin = await ok(s.request('POST', '/v1/access-keys', { key: t.owner, body: { name: 'starter', role: 'admin' } }));
    const started = await startConnect(admin.key);
    const done = await finish(started, 'live starter');
    assert.equal(done.status, 200, answers['live starter']);
    const c = await ok(s.request('GET', `/v1/credentials/${started.credential_id}`, { key: t.owner }));
    assert.equal(c.version, 2);
  });

  it('after the starter key is revoked: no code exchange, nothing written, a failure event, a clean error', async () => {
    const t = await newTenant();
    const admin = await ok(s.request('POST', '/v1/access-keys', { key: t.owner, body: { name: 'starter', role: 'admin' } }));
    const started = await startConnect(admin.key);
    assert.equal((await s.request('DELETE', `/v1/access-keys/${admin.id}`, { key: t.owner })).status, 204);
    const exchanges = p.tokenRequests.authorization_code ?? 0;

    const done = await finish(started, 'revoked starter');
    assert.equal(done.status, 409, answers['revoked starter']);
    assert.equal(JSON.parse(answers['revoked starter']!).error.code, 'CONFLICT');
    assert.equal(p.tokenRequests.authorization_code ?? 0, exchanges, 'the code was exchanged for a revoked starter');
    await assertNoTokens(t.owner, started.credential_id);
    const events = await callbackEvents(t.owner, started.credential_id);
    assert.equal(events.length, 1, JSON.stringify(events));
    assert.deepEqual(
      { outcome: events[0].outcome, reason: events[0].reason, actor: events[0].actor.id },
      { outcome: 'failure', reason: 'starter_revoked', actor: admin.id },
    );
  });

  it('after the starter lost sight of the credential (taken out of its team): nothing written', async () => {
    const t = await newTenant();
    const team = await ok(s.request('POST', '/v1/teams', { key: t.owner, body: { name: `connect team ${randomBytes(3).toString('hex')}` } }));
    const member = await ok(s.request('POST', '/v1/access-keys', { key: t.owner, body: { name: 'team starter', role: 'member', team_ids: [team.id] } }));
    const started = await startConnect(member.key, { team_id: team.id, read_access: 'TEAM' });
    assert.equal((await s.request('DELETE', `/v1/teams/${team.id}/members/${member.id}`, { key: t.owner })).status, 204);

    const done = await finish(started, 'starter out of team');
    assert.equal(done.status, 404, answers['starter out of team']);
    await assertNoTokens(t.owner, started.credential_id);
    const events = await callbackEvents(t.owner, started.credential_id);
    assert.deepEqual(
      events.map((e) => e.outcome),
      ['failure'],
    );
  });
});

describe('what the connects left', () => {
  it('no client secret or token in any answer, log line, data file or audit event', async () => {
    assertNoSecret(answers, [...secrets, CLIENT.secret]);
    const audits: Record<string, string> = {};
    for (const [i, owner] of owners.entries()) audits[`tenant #${i} audit events`] = await auditText(s, owner);
    await assertServerHoldsNoSecret(s, [...secrets, CLIENT.secret], audits);
  });
});
