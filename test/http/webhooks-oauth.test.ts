import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { assertNoSecret } from '../support/canary.ts';
import { ok, startServer, type TestServer } from '../support/server.ts';
import { CLIENT, startProvider, type TestProvider } from '../support/oauth-provider.ts';
import { startReceiver, waitFor, type Receiver } from '../support/webhook-receiver.ts';

// The OAuth2 refresh events through webhooks, driven by the real provider the OAuth tests use
// (node-oidc-provider on loopback): a refresh that works is `credential.refreshed` with the new
// version; a grant revoked at the provider and refreshed again is `credential.refresh_failing`
// with what failed and how often, and no token in any delivery.

let s: TestServer;
let p: TestProvider;
let rx: Receiver;

before(async () => {
  rx = await startReceiver();
  s = await startServer({
    env: {
      LATCHKEY_EGRESS_ALLOW: '127.0.0.1/32,::1/128',
      LATCHKEY_AUDIT_SEAL_INTERVAL_MS: '20',
      LATCHKEY_LOG_LEVEL: 'debug',
    },
  });
  p = await startProvider({ redirectUris: [`${s.url}/v1/oauth/callback`] });
});

after(async () => {
  await s?.stop();
  await p?.close();
  await rx?.close();
});

/** The connect flow as a browser goes through it; returns the connected credential id. */
async function connect(): Promise<string> {
  const started = await ok(
    s.request('POST', '/v1/oauth/connect', {
      body: {
        provider: 'oauth2',
        name: `OIDC ${randomBytes(4).toString('hex')}`,
        config: {
          client_id: CLIENT.id,
          authorization_endpoint: `${p.issuer}/auth`,
          token_endpoint: `${p.issuer}/token`,
          scopes: ['openid', 'email', 'profile'],
          token_endpoint_auth_method: 'client_secret_basic',
        },
        secret: { client_secret: CLIENT.secret },
      },
    }),
    200,
  );
  const back = await p.authorize(started.authorization_url);
  const done = await fetch(back, { redirect: 'manual' });
  assert.equal(done.status, 200, await done.clone().text());
  return started.credential_id;
}

async function tokens(id: string): Promise<string[]> {
  const r = await ok(s.request('GET', `/v1/credentials/${id}/secret`), 200);
  return [r.secret.access_token, r.secret.refresh_token, r.secret.id_token].filter((t): t is string => typeof t === 'string');
}

describe('credential.refreshed and credential.refresh_failing deliveries', () => {
  it('a refresh is delivered with the new version; a revoked grant with its failure and count, never a token', async () => {
    const path = '/oauth';
    const sub = await ok(
      s.request('POST', '/v1/webhooks', { body: { url: rx.url(path), event_types: ['credential.refreshed', 'credential.refresh_failing'] } }),
    );
    rx.setSecrets(path, [sub.secret]);
    const id = await connect();
    const seen = await tokens(id);

    const refreshed = await ok(s.request('POST', `/v1/credentials/${id}/refresh`), 200);
    assert.equal(p.refreshOutcomes.at(-1), 'success');
    seen.push(...(await tokens(id)));
    const first = await waitFor('credential.refreshed', () => rx.accepted(path).find((r) => r.event?.data.object_id === id));
    assert.equal(first.event?.type, 'credential.refreshed');
    assert.equal(first.event?.data.version, refreshed.version);
    assert.equal(first.event?.data.type, 'oauth2');
    assert.equal(first.event?.data.object, 'credential');

    // Revoked at the provider: the next refresh is invalid_grant.
    const stored = await ok(s.request('GET', `/v1/credentials/${id}/secret`), 200);
    await p.revoke(stored.secret.refresh_token, CLIENT);
    const refused = await s.request('POST', `/v1/credentials/${id}/refresh`);
    assert.equal(refused.status, 409, refused.text);
    const failing = await waitFor('credential.refresh_failing', () =>
      rx.accepted(path).find((r) => r.event?.data.object_id === id && r.event.type === 'credential.refresh_failing'),
    );
    const data = failing.event?.data ?? {};
    assert.equal(data.category, 'auth_failed');
    assert.equal(data.status, 400);
    assert.equal(data.failure, 'invalid_grant');
    assert.equal(data.failures, 1);
    assert.equal(typeof data.blocked, 'boolean');
    assert.deepEqual(
      rx.accepted(path).map((r) => r.event?.type),
      ['credential.refreshed', 'credential.refresh_failing'],
    );

    // No token or client secret in a delivery, a header, the delivery log or the server log (debug level).
    const log = await ok(s.request('GET', `/v1/webhooks/${sub.id}/deliveries`), 200);
    assertNoSecret(
      {
        bodies: rx
          .all(path)
          .map((r) => r.body)
          .join('\n'),
        headers: JSON.stringify(rx.all(path).map((r) => r.headers)),
        'delivery log': JSON.stringify(log),
        'server log': s.logs(),
      },
      [...new Set(seen), CLIENT.secret, sub.secret],
    );
  });
});
