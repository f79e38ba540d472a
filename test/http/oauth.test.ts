import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startServer, type TestServer } from '../support/server.ts';
import { CLIENT, KEEP_CLIENT, MACHINE_CLIENT, SHORT_CLIENT, startProvider, type TestProvider } from '../support/oauth-provider.ts';

/*
 * OAuth2 against a real provider (node-oidc-provider on loopback): the connect flow with PKCE,
 * refresh and refresh-token rotation, invalid_grant, client credentials, refused states, the
 * scheduler. The server allows loopback egress explicitly, as an operator would for a local IdP.
 */

let s: TestServer;
let p: TestProvider;

const unique = (label: string) => `${label} ${randomBytes(4).toString('hex')}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const past = () => new Date(Date.now() - 60_000).toISOString();

before(async () => {
  s = await startServer({
    env: {
      LATCHKEY_EGRESS_ALLOW: '127.0.0.1/32,::1/128',
      LATCHKEY_OAUTH_REFRESH_INTERVAL_MS: '200',
      LATCHKEY_LOG_LEVEL: 'info',
      LATCHKEY_OAUTH_RETURN_ORIGINS: 'https://app.example.test',
    },
  });
  p = await startProvider({ redirectUris: [`${s.url}/v1/oauth/callback`] });
});

after(async () => {
  await s?.stop();
  await p?.close();
});

function oauthConfig(client: { id: string }, extra: Record<string, unknown> = {}) {
  return {
    client_id: client.id,
    authorization_endpoint: `${p.issuer}/auth`,
    token_endpoint: `${p.issuer}/token`,
    scopes: ['openid', 'email', 'profile'],
    token_endpoint_auth_method: 'client_secret_basic',
    ...extra,
  };
}

async function startConnect(client = CLIENT, extra: Record<string, unknown> = {}) {
  const r = await s.request('POST', '/v1/oauth/connect', {
    body: { provider: 'oauth2', name: unique('OIDC'), config: oauthConfig(client), secret: { client_secret: client.secret }, ...extra },
  });
  assert.equal(r.status, 200, r.text);
  return r.body as { authorization_url: string; credential_id: string; redirect_uri: string; state_expires_at: string };
}

/** The whole flow, as a user's browser goes through it; returns the connected credential id. */
async function connect(client = CLIENT): Promise<string> {
  const started = await startConnect(client);
  const back = await p.authorize(started.authorization_url);
  const done = await fetch(back, { redirect: 'manual' });
  assert.equal(done.status, 200, await done.clone().text());
  assert.deepEqual(await done.json(), { status: 'connected', credential_id: started.credential_id });
  return started.credential_id;
}

async function reveal(id: string) {
  const r = await s.request('GET', `/v1/credentials/${id}/secret`);
  assert.equal(r.status, 200, r.text);
  return r.body;
}

async function expire(id: string) {
  const r = await s.request('PATCH', `/v1/credentials/${id}`, { body: { config: { access_token_expires_at: past() } } });
  assert.equal(r.status, 200, r.text);
}

async function events(id: string, action: string) {
  const r = await s.request('GET', `/v1/audit-events?filter[credential_id]=${id}&filter[action]=${action}`);
  assert.equal(r.status, 200, r.text);
  return r.body.data as Array<{ outcome: string; reason?: string | null; actor: { id: string } }>;
}

describe('POST /v1/oauth/connect and GET /v1/oauth/callback', () => {
  it('runs the authorization code flow with PKCE S256 and stores the tokens, identity and expiry', async () => {
    const started = await startConnect();
    const url = new URL(started.authorization_url);
    assert.equal(url.origin + url.pathname, `${p.issuer}/auth`);
    assert.equal(url.searchParams.get('response_type'), 'code');
    assert.equal(url.searchParams.get('client_id'), CLIENT.id);
    assert.equal(url.searchParams.get('code_challenge_method'), 'S256');
    assert.match(url.searchParams.get('code_challenge') ?? '', /^[A-Za-z0-9_-]{43}$/);
    assert.match(url.searchParams.get('state') ?? '', /^[A-Za-z0-9_-]{43}$/);
    assert.ok(url.searchParams.get('nonce'));
    assert.equal(url.searchParams.get('redirect_uri'), `${s.url}/v1/oauth/callback`);
    assert.ok(Date.parse(started.state_expires_at) - Date.now() <= 10 * 60_000);
    // The state is stored only as a hash, and the PKCE verifier only sealed.
    const db = await s.sql();
    const row = await db.get<Record<string, unknown>>('SELECT * FROM oauth_states WHERE credential_id = ?', started.credential_id);
    await db.close();
    assert.ok(row);
    assert.notEqual(row.state_hash, url.searchParams.get('state'));
    assert.equal(JSON.stringify(row).includes(url.searchParams.get('state')!), false);

    const before = await s.request('GET', `/v1/credentials/${started.credential_id}`);
    assert.equal(before.body.version, 1);
    const back = await p.authorize(started.authorization_url);
    assert.equal(back.origin + back.pathname, `${s.url}/v1/oauth/callback`);
    const done = await fetch(back, { redirect: 'manual' });
    assert.equal(done.status, 200);
    assert.equal(done.headers.get('cache-control'), 'no-store');

    const c = (await s.request('GET', `/v1/credentials/${started.credential_id}`)).body;
    assert.equal(c.version, 2);
    assert.equal(c.last_error, null);
    assert.deepEqual(c.config.account, { sub: 'alice', email: 'alice@example.test', name: 'User alice' });
    assert.ok(Math.abs(Date.parse(c.expires_at) - (Date.now() + 3600_000)) < 60_000, c.expires_at);
    assert.equal(c.config.access_token_expires_at, c.expires_at);
    assert.deepEqual([...c.secret_fields].sort(), ['access_token', 'client_secret', 'id_token', 'refresh_token']);
    // Metadata never shows a token.
    assert.equal(JSON.stringify(c).includes('eyJ'), false);
    const secret = (await reveal(started.credential_id)).secret;
    assert.equal(secret.client_secret, CLIENT.secret);
    assert.ok(secret.access_token);
    assert.equal(secret.refresh_token, p.lastIssuedRefreshToken());
    assert.equal((await events(started.credential_id, 'credential.oauth_connect')).length, 1);
    const cb = await events(started.credential_id, 'credential.oauth_callback');
    assert.equal(cb.length, 1);
    assert.equal(cb[0]!.outcome, 'success');
  });

  it('redirects to return_to with status=connected, or status=error when the provider refuses', async () => {
    const started = await startConnect(CLIENT, { return_to: 'https://app.example.test/done?x=1' });
    const back = await p.authorize(started.authorization_url);
    const done = await fetch(back, { redirect: 'manual' });
    assert.equal(done.status, 303);
    const to = new URL(done.headers.get('location')!);
    assert.equal(to.origin + to.pathname, 'https://app.example.test/done');
    assert.equal(to.searchParams.get('x'), '1');
    assert.equal(to.searchParams.get('status'), 'connected');
    assert.equal(to.searchParams.get('credential_id'), started.credential_id);

    // The user says no at the provider: it comes back with error=access_denied and our state.
    const denied = await startConnect(CLIENT, { return_to: 'https://app.example.test/done' });
    const state = new URL(denied.authorization_url).searchParams.get('state')!;
    const r = await fetch(`${s.url}/v1/oauth/callback?error=access_denied&state=${state}`, { redirect: 'manual' });
    assert.equal(r.status, 303);
    const loc = new URL(r.headers.get('location')!);
    assert.equal(loc.searchParams.get('status'), 'error');
    assert.equal(loc.searchParams.get('error'), 'access_denied');
    assert.equal((await s.request('GET', `/v1/credentials/${denied.credential_id}`)).body.version, 1);
    assert.equal((await events(denied.credential_id, 'credential.oauth_callback'))[0]!.outcome, 'failure');
  });

  it('refuses a return_to whose origin the operator has not listed (no open redirect), and creates nothing', async () => {
    const name = unique('Elsewhere');
    for (const to of ['https://evil.example/phish', 'https://app.example.test.evil.example/done', 'http://app.example.test/done']) {
      const r = await s.request('POST', '/v1/oauth/connect', {
        body: { provider: 'oauth2', name, config: oauthConfig(CLIENT), secret: { client_secret: CLIENT.secret }, return_to: to },
      });
      assert.equal(r.status, 422, `${to}: ${r.text}`);
      assert.equal(r.body.error.details[0].path, 'return_to');
    }
    const listed = await s.request('GET', `/v1/credentials?filter[name]=${encodeURIComponent(name)}`);
    assert.equal(listed.body.total, 0);
  });

  it('refuses a replayed state: the code is not exchanged a second time', async () => {
    const started = await startConnect();
    const back = await p.authorize(started.authorization_url);
    assert.equal((await fetch(back, { redirect: 'manual' })).status, 200);
    const exchanges = p.tokenRequests.authorization_code ?? 0;
    const again = await fetch(back, { redirect: 'manual' });
    assert.equal(again.status, 400);
    const body = (await again.json()) as { error: { code: string } };
    assert.equal(body.error.code, 'INVALID_PARAMETER');
    assert.equal(p.tokenRequests.authorization_code ?? 0, exchanges);
    assert.equal((await s.request('GET', `/v1/credentials/${started.credential_id}`)).body.version, 2);
  });

  it('refuses a foreign state: one never issued, and one whose PKCE verifier does not match the code', async () => {
    const forged = await fetch(`${s.url}/v1/oauth/callback?code=abc&state=${randomBytes(32).toString('base64url')}`, { redirect: 'manual' });
    assert.equal(forged.status, 400);
    const missing = await fetch(`${s.url}/v1/oauth/callback?code=abc`, { redirect: 'manual' });
    assert.equal(missing.status, 400);

    // A code obtained in flow A presented with the state of flow B: B's verifier does not match
    // A's challenge, so the provider refuses and B stores nothing.
    const a = await startConnect();
    const b = await startConnect();
    const backA = await p.authorize(a.authorization_url);
    const stateB = new URL(b.authorization_url).searchParams.get('state')!;
    const mixed = new URL(backA);
    mixed.searchParams.set('state', stateB);
    const r = await fetch(mixed, { redirect: 'manual' });
    assert.equal(r.status, 409, await r.clone().text());
    assert.equal((await s.request('GET', `/v1/credentials/${b.credential_id}`)).body.version, 1);
    assert.equal((await s.request('GET', `/v1/credentials/${a.credential_id}`)).body.version, 1);
  });

  it('validates the request: credential_id or provider, a known provider, preset template values', async () => {
    const none = await s.request('POST', '/v1/oauth/connect', { body: { scopes: ['openid'] } });
    assert.equal(none.status, 422);
    const unknown = await s.request('POST', '/v1/oauth/connect', { body: { provider: 'nope', config: {} } });
    assert.equal(unknown.status, 422);
    assert.equal(unknown.body.error.details[0].path, 'provider');
    // {instance} must be a host label: it cannot move the token endpoint to another host.
    const evil = await s.request('POST', '/v1/oauth/connect', {
      body: { provider: 'servicenow', config: { client_id: 'c', instance: 'evil.example/#' }, secret: { client_secret: 'x' } },
    });
    assert.equal(evil.status, 422);
    assert.equal(evil.body.error.details[0].path, 'config.instance');
    const providers = await s.request('GET', '/v1/oauth/providers');
    assert.deepEqual(providers.body.data.map((x: { id: string }) => x.id).sort(), [
      'github',
      'google',
      'hubspot',
      'microsoft',
      'oauth2',
      'salesforce',
      'servicenow',
      'sharepoint',
      'slack',
    ]);
    const sn = providers.body.data.find((x: { id: string }) => x.id === 'servicenow');
    assert.equal(sn.token_endpoint, 'https://{instance}.service-now.com/oauth_token.do');
  });
});

describe('token refresh', () => {
  it('POST /v1/credentials/{id}/refresh stores the new access token and the rotated refresh token', async () => {
    const id = await connect();
    const first = (await reveal(id)).secret;
    const v = (await s.request('GET', `/v1/credentials/${id}`)).body.version;
    for (let i = 1; i <= 3; i++) {
      const r = await s.request('POST', `/v1/credentials/${id}/refresh`);
      assert.equal(r.status, 200, r.text);
      assert.equal(r.body.version, v + i);
      assert.equal(p.refreshOutcomes.at(-1), 'success');
      const now = (await reveal(id)).secret;
      assert.notEqual(now.access_token, first.access_token);
      assert.notEqual(now.refresh_token, first.refresh_token);
      // Rotation: what is stored is exactly what the provider issued last.
      assert.equal(now.refresh_token, p.lastIssuedRefreshToken());
      assert.equal(now.client_secret, CLIENT.secret);
    }
    const versions = (await s.request('GET', `/v1/credentials/${id}/versions`)).body.data;
    assert.equal(versions[0].stage, 'current');
    assert.equal(versions[1].stage, 'previous');
    const refreshes = await events(id, 'credential.refresh');
    assert.equal(refreshes.length, 3);
    assert.ok(refreshes.every((e) => e.outcome === 'success'));
    // No token ever reaches the logs (debug level), the audit trail or the metadata.
    const last = (await reveal(id)).secret;
    for (const t of [first.access_token, first.refresh_token, last.access_token, last.refresh_token, CLIENT.secret]) {
      assert.equal(s.logs().includes(t), false, 'a token in the server log');
      assert.equal(JSON.stringify(refreshes).includes(t), false);
    }
  });

  it('a refresh answer without a refresh token keeps the stored one', async () => {
    const id = await connect(KEEP_CLIENT);
    const first = (await reveal(id)).secret;
    const r = await s.request('POST', `/v1/credentials/${id}/refresh`);
    assert.equal(r.status, 200, r.text);
    const now = (await reveal(id)).secret;
    assert.notEqual(now.access_token, first.access_token);
    assert.equal(now.refresh_token, first.refresh_token);
    // And it still works.
    assert.equal((await s.request('POST', `/v1/credentials/${id}/refresh`)).status, 200);
  });

  it('a reveal of an expired access token refreshes it first, once for concurrent reveals', async () => {
    const id = await connect();
    const old = (await reveal(id)).secret;
    await expire(id);
    const before = p.tokenRequests.refresh_token ?? 0;
    const all = await Promise.all(Array.from({ length: 20 }, () => reveal(id)));
    assert.equal((p.tokenRequests.refresh_token ?? 0) - before, 1, 'one refresh for 20 concurrent reveals');
    const tokens = new Set(all.map((r) => r.secret.access_token));
    assert.equal(tokens.size, 1);
    assert.notEqual([...tokens][0], old.access_token);
    assert.ok(Date.parse(all[0].expires_at) > Date.now() + 3000_000);
    // Fresh now: the next reveal does not call the provider.
    await reveal(id);
    assert.equal((p.tokenRequests.refresh_token ?? 0) - before, 1);
  });

  it('rotate with an empty body refreshes an OAuth2 credential', async () => {
    const id = await connect();
    const old = (await reveal(id)).secret;
    const r = await s.request('POST', `/v1/credentials/${id}/rotate`);
    assert.equal(r.status, 200, r.text);
    assert.notEqual((await reveal(id)).secret.access_token, old.access_token);
  });

  it('invalid_grant (grant revoked at the provider): 409, last_error, audit failure, stays readable, no retry loop', async () => {
    const id = await connect();
    const stored = (await reveal(id)).secret;
    await p.revoke(stored.refresh_token, CLIENT);
    const r = await s.request('POST', `/v1/credentials/${id}/refresh`);
    assert.equal(r.status, 409, r.text);
    // invalid_grant is read to decide (reconnect, no retry) and reported as a category and status.
    assert.equal(r.body.error.details, 'The provider refused the grant (auth_failed (HTTP 400)): reconnect the credential');
    assert.equal(r.text.includes(stored.refresh_token), false);
    const c = (await s.request('GET', `/v1/credentials/${id}`)).body;
    assert.equal(c.last_error, 'auth_failed (HTTP 400): the provider refused the grant; reconnect the credential');
    const failures = (await events(id, 'credential.refresh')).filter((e) => e.outcome === 'failure');
    assert.equal(failures.length, 1);
    assert.equal(failures[0]!.reason, 'auth_failed (HTTP 400)');

    // Expired and refused. A person's edit (here: the expiry) earns the grant one more try; after
    // that, reveals answer with what is stored and neither they nor the scheduler call again.
    const calls = p.tokenRequests.refresh_token ?? 0;
    await expire(id);
    assert.equal((await reveal(id)).secret.access_token, stored.access_token);
    assert.equal((p.tokenRequests.refresh_token ?? 0) - calls, 1);
    await sleep(600); // a few scheduler ticks
    for (let i = 0; i < 3; i++) assert.equal((await reveal(id)).secret.access_token, stored.access_token);
    assert.equal((p.tokenRequests.refresh_token ?? 0) - calls, 1);

    const verify = await s.request('POST', `/v1/credentials/${id}/verify`);
    assert.equal(verify.status, 200);
    assert.equal(verify.body.ok, false);
    assert.equal(verify.body.error, 'auth_failed');
    assert.equal(verify.body.status, 400);
  });

  it('verify answers ok for a working grant', async () => {
    const id = await connect();
    const r = await s.request('POST', `/v1/credentials/${id}/verify`);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.ok, true);
    assert.match(r.body.checked_at, /Z$/);
  });

  it('the scheduler refreshes a token before it expires, without any reveal', async () => {
    // 4-second access tokens: due half-way through their life (the lead is capped at half).
    const id = await connect(SHORT_CLIENT);
    const v = (await s.request('GET', `/v1/credentials/${id}`)).body.version;
    let now = v;
    for (let i = 0; i < 50 && now === v; i++) {
      await sleep(200);
      now = (await s.request('GET', `/v1/credentials/${id}`)).body.version;
    }
    assert.ok(now > v, 'the scheduler refreshed the credential');
    const refreshes = await events(id, 'credential.refresh');
    assert.ok(refreshes.some((e) => e.actor.id === 'oauth-refresher' && e.outcome === 'success'));
    // Out of the scheduler's way for the rest of the suite.
    assert.equal((await s.request('DELETE', `/v1/credentials/${id}`)).status, 204);
  });
});

describe('client credentials', () => {
  it('fetches a token on first use, caches it, and fetches a new one on refresh', async () => {
    const made = await s.request('POST', '/v1/credentials', {
      body: {
        name: unique('Machine'),
        type: 'oauth2',
        config: {
          client_id: MACHINE_CLIENT.id,
          token_endpoint: `${p.issuer}/token`,
          grant_type: 'client_credentials',
          token_endpoint_auth_method: 'client_secret_post',
        },
        secret: { client_secret: MACHINE_CLIENT.secret },
      },
    });
    assert.equal(made.status, 201, made.text);
    const id = made.body.id;
    const before = p.tokenRequests.client_credentials ?? 0;
    const first = await reveal(id);
    assert.ok(first.secret.access_token);
    assert.equal(first.secret.client_secret, MACHINE_CLIENT.secret);
    assert.ok(Math.abs(Date.parse(first.expires_at) - (Date.now() + 120_000)) < 30_000, first.expires_at);
    assert.equal((p.tokenRequests.client_credentials ?? 0) - before, 1);
    const second = await reveal(id);
    assert.equal(second.secret.access_token, first.secret.access_token);
    assert.equal((p.tokenRequests.client_credentials ?? 0) - before, 1, 'cached');
    const r = await s.request('POST', `/v1/credentials/${id}/refresh`);
    assert.equal(r.status, 200, r.text);
    const third = await reveal(id);
    assert.notEqual(third.secret.access_token, first.secret.access_token);
    assert.equal((p.tokenRequests.client_credentials ?? 0) - before, 2);
    await expire(id);
    assert.notEqual((await reveal(id)).secret.access_token, third.secret.access_token);
    assert.equal((p.tokenRequests.client_credentials ?? 0) - before, 3);
  });

  it('a wrong client secret is refused (409) and recorded, not retried', async () => {
    const made = await s.request('POST', '/v1/credentials', {
      body: {
        name: unique('Machine bad'),
        type: 'oauth2',
        config: {
          client_id: MACHINE_CLIENT.id,
          token_endpoint: `${p.issuer}/token`,
          grant_type: 'client_credentials',
          token_endpoint_auth_method: 'client_secret_post',
        },
        secret: { client_secret: 'wrong' },
      },
    });
    const r = await s.request('POST', `/v1/credentials/${made.body.id}/refresh`);
    assert.equal(r.status, 409, r.text);
    assert.match(r.body.error.details, /^The provider refused the request \(auth_failed \(HTTP 401\)\)$/);
    assert.equal((await s.request('GET', `/v1/credentials/${made.body.id}`)).body.last_error, 'auth_failed (HTTP 401): the provider refused the request');
  });
});

describe('refresh of other types', () => {
  it('is refused for a credential that is not oauth2', async () => {
    const t = await s.request('POST', '/v1/credentials', { body: { name: unique('Text'), type: 'text', secret: { value: 'v' } } });
    const r = await s.request('POST', `/v1/credentials/${t.body.id}/refresh`);
    assert.equal(r.status, 422);
    assert.equal((await s.request('POST', `/v1/credentials/${t.body.id}/verify`)).status, 422);
  });
});
