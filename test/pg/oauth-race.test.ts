import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { jwtVerify } from 'jose';
import { startServer, type TestServer } from '../support/server.ts';
import { postgresGate, scratchDatabase } from '../support/postgres-gate.ts';
import { CLIENT, startProvider, type TestProvider } from '../support/oauth-provider.ts';

/*
 * The refresh race: two `latchkey serve` processes on one PostgreSQL database, one OAuth2
 * credential whose access token has just expired, 50 concurrent reveals on each. The provider
 * rotates refresh tokens and treats a reused one as theft (it revokes the grant), so a second
 * refresh would not only be wasteful but fatal. Expected: the provider sees exactly one refresh
 * request, all 100 reveals get the new access token, and what is stored is the newest refresh
 * token (proved by using it).
 *
 * The same holds for a derived token (a minted JWT): one mint across both processes.
 *
 * Needs PostgreSQL: without LATCHKEY_TEST_STORE=postgres and a reachable
 * LATCHKEY_TEST_DATABASE_URL every test says SKIPPED, loudly, and passes nothing.
 */

const { problem, noPostgres } = await postgresGate('OAuth refresh race across processes');

const db = scratchDatabase('lk_race');
let a: TestServer;
let b: TestServer;
let p: TestProvider;

before(async () => {
  if (problem !== null) return;
  await db.create();
  const env = {
    LATCHKEY_DATABASE_URL: db.url(),
    LATCHKEY_ROOT_KEY: randomBytes(32).toString('base64'),
    LATCHKEY_EGRESS_ALLOW: '127.0.0.1/32,::1/128',
    // The scheduler stays out of it: the reveals are what race.
    LATCHKEY_OAUTH_REFRESH_INTERVAL_MS: '3600000',
  };
  a = await startServer({ env });
  b = await startServer({ env });
  assert.ok(a.ownerKey);
  p = await startProvider({ redirectUris: [`${a.url}/v1/oauth/callback`] });
});

after(async () => {
  if (problem !== null) return;
  await Promise.all([a?.stop(), b?.stop()]);
  await p?.close();
  await db.drop();
});

async function connect(): Promise<string> {
  const r = await a.request('POST', '/v1/oauth/connect', {
    body: {
      provider: 'oauth2',
      name: `Race ${randomBytes(4).toString('hex')}`,
      secret: { client_secret: CLIENT.secret },
      config: { client_id: CLIENT.id, authorization_endpoint: `${p.issuer}/auth`, token_endpoint: `${p.issuer}/token`, scopes: ['openid', 'email'] },
    },
  });
  assert.equal(r.status, 200, r.text);
  const back = await p.authorize(r.body.authorization_url);
  const done = await fetch(back, { redirect: 'manual' });
  assert.equal(done.status, 200, await done.clone().text());
  return r.body.credential_id;
}

describe('refresh across two processes on one PostgreSQL', () => {
  it('2×50 concurrent reveals of a just-expired token: one refresh at the provider, every reveal gets the new token', async (t) => {
    if (noPostgres(t)) return;
    const id = await connect();
    const old = (await b.request('GET', `/v1/credentials/${id}/secret`, { key: a.ownerKey })).body.secret;
    assert.ok(old.refresh_token);
    // The access token has just expired (as far as the vault knows).
    const expired = await a.request('PATCH', `/v1/credentials/${id}`, {
      body: { config: { access_token_expires_at: new Date(Date.now() - 1000).toISOString() } },
    });
    assert.equal(expired.status, 200, expired.text);

    const refreshesBefore = p.tokenRequests.refresh_token ?? 0;
    const reveal = (s: TestServer) => s.request('GET', `/v1/credentials/${id}/secret`, { key: a.ownerKey });
    const results = await Promise.all(Array.from({ length: 100 }, (_, i) => reveal(i % 2 === 0 ? a : b)));

    assert.equal(
      (p.tokenRequests.refresh_token ?? 0) - refreshesBefore,
      1,
      `the provider saw ${(p.tokenRequests.refresh_token ?? 0) - refreshesBefore} refresh requests`,
    );
    assert.deepEqual(p.refreshOutcomes.slice(-1), ['success']);
    for (const r of results) assert.equal(r.status, 200, r.text);
    const tokens = new Set(results.map((r) => r.body.secret.access_token as string));
    assert.equal(tokens.size, 1, `reveals saw ${tokens.size} different access tokens`);
    assert.notEqual([...tokens][0], old.access_token);
    for (const r of results) assert.ok(Date.parse(r.body.expires_at) > Date.now() + 3000_000);

    // What is stored is what the provider issued last (it rotated), readable through both.
    const newest = p.lastIssuedRefreshToken();
    assert.notEqual(newest, old.refresh_token);
    for (const s of [a, b]) assert.equal((await reveal(s)).body.secret.refresh_token, newest);
    // One new version, one refresh event.
    const versions = (await a.request('GET', `/v1/credentials/${id}/versions`)).body.data;
    assert.equal(versions.length, 3, 'connect made v2, the refresh v3');
    const events = (await a.request('GET', `/v1/audit-events?filter[credential_id]=${id}&filter[action]=credential.refresh`)).body.data;
    assert.equal(events.length, 1);
    // And it works: a refresh through the other process uses it (a stale one would be invalid_grant).
    const again = await b.request('POST', `/v1/credentials/${id}/refresh`, { key: a.ownerKey });
    assert.equal(again.status, 200, again.text);
    assert.deepEqual(p.refreshOutcomes.slice(-1), ['success']);
  });

  it('concurrent manual refreshes through both processes never lose the rotated refresh token', async (t) => {
    if (noPostgres(t)) return;
    const id = await connect();
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? a : b).request('POST', `/v1/credentials/${id}/refresh`, { key: a.ownerKey })),
    );
    for (const r of results) assert.ok(r.status === 200 || r.status === 503, r.text);
    // Every refresh the provider saw succeeded: none of them presented a consumed refresh token.
    assert.ok(
      p.refreshOutcomes.every((o) => o === 'success'),
      p.refreshOutcomes.join(','),
    );
    const stored = (await b.request('GET', `/v1/credentials/${id}/secret`, { key: a.ownerKey })).body.secret.refresh_token;
    assert.equal(stored, p.lastIssuedRefreshToken());
  });
});

describe('derived tokens across two processes on one PostgreSQL', () => {
  it('2×25 concurrent token requests for an unminted JWT: one mint, every caller gets the same token', async (t) => {
    if (noPostgres(t)) return;
    const k = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const made = await a.request('POST', '/v1/credentials', {
      body: {
        name: `Mint race ${randomBytes(4).toString('hex')}`,
        type: 'jwt',
        config: { algorithm: 'ES256', claims: { iss: 'latchkey-test', sub: 'svc-1', aud: 'https://api.example.test' } },
        secret: { signing_key: k.privateKey.export({ type: 'pkcs8', format: 'pem' }) },
      },
    });
    assert.equal(made.status, 201, made.text);
    const id = made.body.id as string;
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => (i % 2 === 0 ? a : b).request('POST', `/v1/credentials/${id}/token`, { key: a.ownerKey })),
    );
    for (const r of results) assert.equal(r.status, 200, r.text);
    // Each mint has its own jti: one token means one mint, shared by both processes.
    const tokens = new Set(results.map((r) => r.body.token.token as string));
    assert.equal(tokens.size, 1, `the two processes minted ${tokens.size} tokens`);
    const { payload } = await jwtVerify([...tokens][0] as string, k.publicKey, { algorithms: ['ES256'], issuer: 'latchkey-test' });
    assert.ok(typeof payload.jti === 'string' && payload.jti.length > 0);
  });
});
