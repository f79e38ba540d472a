import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startServer, type TestServer } from '../support/server.ts';
import { assertServerHoldsNoSecret, canary } from '../support/canary.ts';
import { eventually, httpListener, json, secretsIn, smtpListener, type HttpListener, type SmtpListener } from '../support/attackers.ts';
import { ulidToUuid } from '../../src/http/dialects/uuid-view.ts';

/*
 * Holes 1 and 3 of issue 24: whoever can change where a credential is sent can receive it. An
 * admin (no credentials:reveal) retargets an SMTP credential at its own server and asks for a
 * verify; a member retargets an OAuth2 credential's token endpoint and waits for the scheduler.
 * Aiming is revealing now: the change is refused (403, nothing stored, a denial in the audit
 * log) unless the same request replaces every secret value, and the attacker's listeners
 * receive nothing.
 */

const PASSWORD = canary('smtp-password');
const CLIENT_SECRET = canary('client-secret');
const REFRESH_TOKEN = canary('refresh-token');
const ACCESS_TOKEN = canary('access-token');
const SFTP_PASSWORD = canary('sftp-password');

let s: TestServer;
let legitSmtp: SmtpListener;
let attackerSmtp: SmtpListener;
let legitTokens: HttpListener;
let attackerTokens: HttpListener;
let team = '';
const keys: Record<string, string> = {};
const unique = (label: string) => `${label} ${randomBytes(4).toString('hex')}`;
const past = () => new Date(Date.now() - 60_000).toISOString();

before(async () => {
  legitSmtp = await smtpListener((user, password) => user === 'mailer' && password === PASSWORD);
  attackerSmtp = await smtpListener(() => false);
  // The real token endpoint: hands out a new access token for the stored refresh token.
  legitTokens = await httpListener((req, res) => {
    const ok = secretsIn(req).includes(REFRESH_TOKEN);
    if (ok) json(res, 200, { access_token: `at-${randomBytes(6).toString('hex')}`, token_type: 'Bearer', expires_in: 3600 });
    else json(res, 400, { error: 'invalid_grant' });
  });
  // The member's own endpoint: would keep the refresh token and the client secret.
  attackerTokens = await httpListener((_req, res) => json(res, 200, { access_token: 'attacker-chosen', expires_in: 3600 }));
  s = await startServer({ env: { LATCHKEY_EGRESS_ALLOW: '127.0.0.1/32', LATCHKEY_OAUTH_REFRESH_INTERVAL_MS: '200' } });
  team = (await s.request('POST', '/v1/teams', { body: { name: unique('Mail') } })).body.id;
  for (const role of ['admin', 'member', 'integration_admin']) {
    const r = await s.request('POST', '/v1/access-keys', { body: { name: role, role, team_ids: [team] } });
    assert.equal(r.status, 201, r.text);
    keys[role] = r.body.key;
  }
});

after(async () => {
  await s?.stop();
  await Promise.all([legitSmtp?.close(), attackerSmtp?.close(), legitTokens?.close(), attackerTokens?.close()]);
});

async function smtpCredential(password = PASSWORD): Promise<{ id: string; revision: number }> {
  const r = await s.request('POST', '/v1/credentials', {
    body: {
      name: unique('Relay'),
      type: 'smtp',
      team_id: team,
      config: { host: '127.0.0.1', port: legitSmtp.port, encryption: 'none', auth_type: 'plain', username: 'mailer' },
      secret: { password },
    },
  });
  assert.equal(r.status, 201, r.text);
  return { id: r.body.id, revision: r.body.revision };
}

async function denials(id: string): Promise<Array<{ action: string; outcome: string; reason: string }>> {
  const r = await s.request('GET', `/v1/audit-events?filter[credential_id]=${id}`);
  assert.equal(r.status, 200, r.text);
  return r.body.data.filter((e: { outcome: string }) => e.outcome === 'denied');
}

describe('the type catalog marks the fields that aim a secret', () => {
  it('GET /v1/credential-types lists aim_fields per type, and the OpenAPI document describes them', async () => {
    const r = await s.request('GET', '/v1/credential-types');
    assert.equal(r.status, 200, r.text);
    const byId = Object.fromEntries(r.body.data.map((t: { id: string; aim_fields: string[] }) => [t.id, t.aim_fields]));
    assert.deepEqual(byId.smtp, ['host', 'port', 'encryption', 'auth_type']);
    assert.deepEqual(byId.oauth2, ['token_endpoint']);
    assert.deepEqual(byId.webhook, ['url']);
    assert.deepEqual(byId.http_request, ['requests']);
    assert.deepEqual(byId.sftp, ['host', 'port', 'host_key_fingerprint']);
    assert.deepEqual(byId.postgresql, ['host', 'port', 'sslmode', 'ca_certificate']);
    assert.deepEqual(byId.text, []);
    const doc = (await s.request('GET', '/openapi.json', { key: null })).text;
    assert.match(doc, /"aim_fields"/);
    assert.match(doc, /needs credentials:reveal/);
  });
});

describe('hole 1: an admin (no reveal) retargets an SMTP credential, then verifies', () => {
  it('PATCH of config.host/port is 403 in the envelope, nothing changes, a denial is recorded, verify still goes to the real server', async () => {
    const c = await smtpCredential();
    const r = await s.request('PATCH', `/v1/credentials/${c.id}`, { key: keys.admin, body: { config: { host: '127.0.0.1', port: attackerSmtp.port } } });
    assert.equal(r.status, 403, r.text);
    assert.equal(r.body.error.code, 'FORBIDDEN');
    assert.match(r.body.error.message + String(r.body.error.details ?? ''), /config\.port/);
    const now = (await s.request('GET', `/v1/credentials/${c.id}`)).body;
    assert.equal(now.config.port, legitSmtp.port);
    assert.equal(now.revision, c.revision);
    // Recorded with every other refusal (grouped per actor and target), naming the route refused,
    // after the answer: it may land a moment later.
    assert.ok(
      await eventually(async () => (await denials(c.id)).some((e) => e.action === 'access.denied' && /^PATCH \/v1\/credentials\/:id refused$/.test(e.reason))),
    );

    // Each aim field alone is refused too: a plaintext downgrade is as good as a new host.
    for (const config of [{ encryption: 'ssl' }, { auth_type: 'login' }, { host: 'localhost' }]) {
      const one = await s.request('PATCH', `/v1/credentials/${c.id}`, { key: keys.admin, body: { config } });
      assert.equal(one.status, 403, `${JSON.stringify(config)}: ${one.text}`);
    }
    // Fields that do not aim stay writable without reveal.
    const name = await s.request('PATCH', `/v1/credentials/${c.id}`, { key: keys.admin, body: { description: 'relay', config: { username: 'mailer' } } });
    assert.equal(name.status, 200, name.text);

    const before = attackerSmtp.connections;
    const v = await s.request('POST', `/v1/credentials/${c.id}/verify`, { key: keys.admin });
    assert.equal(v.status, 200, v.text);
    assert.equal(v.body.ok, true, v.text);
    assert.equal(attackerSmtp.connections, before, 'the attacker saw no connection');
    assert.ok(legitSmtp.logins.includes(`mailer:${PASSWORD}`));
  });

  it("the same change with a new value for every secret field succeeds: only the caller's own password goes there", async () => {
    const c = await smtpCredential();
    const own = `admin-chosen-${randomBytes(6).toString('hex')}`;
    const r = await s.request('PATCH', `/v1/credentials/${c.id}`, {
      key: keys.admin,
      body: { config: { host: '127.0.0.1', port: attackerSmtp.port }, secret: { password: own } },
    });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.config.port, attackerSmtp.port);
    const v = await s.request('POST', `/v1/credentials/${c.id}/verify`, { key: keys.admin });
    assert.equal(v.body.ok, false);
    assert.deepEqual([v.body.error, v.body.status], ['auth_failed', 535]);
    assert.deepEqual(
      attackerSmtp.logins.filter((l) => l.includes(PASSWORD)),
      [],
    );
    assert.ok(attackerSmtp.logins.includes(`mailer:${own}`));

    // Restoring the old version would send the old password to the new host: reveal only.
    const restore = await s.request('POST', `/v1/credentials/${c.id}/versions/1/restore`, { key: keys.admin });
    assert.equal(restore.status, 403, restore.text);
    assert.equal((await s.request('GET', `/v1/credentials/${c.id}`)).body.version, 2);
  });

  it('PUT replaces the whole secret, so an admin may aim with it; a revealer may PATCH the host alone', async () => {
    const c = await smtpCredential();
    const own = `admin-put-${randomBytes(6).toString('hex')}`;
    const put = await s.request('PUT', `/v1/credentials/${c.id}`, {
      key: keys.admin,
      body: {
        name: unique('Relay put'),
        type: 'smtp',
        team_id: team,
        config: { host: '127.0.0.1', port: attackerSmtp.port, auth_type: 'plain', username: 'mailer' },
        secret: { password: own },
      },
    });
    assert.equal(put.status, 200, put.text);
    const revealer = await smtpCredential();
    const moved = await s.request('PATCH', `/v1/credentials/${revealer.id}`, { key: keys.integration_admin, body: { config: { port: attackerSmtp.port } } });
    assert.equal(moved.status, 200, moved.text);
  });

  it('allowed_hosts: adding a host is aiming, removing one is not', async () => {
    const c = await smtpCredential();
    assert.equal((await s.request('PATCH', `/v1/credentials/${c.id}`, { body: { allowed_hosts: ['smtp.example.com', 'mail.example.com'] } })).status, 200);
    const add = await s.request('PATCH', `/v1/credentials/${c.id}`, {
      key: keys.admin,
      body: { allowed_hosts: ['smtp.example.com', 'mail.example.com', 'evil.example'] },
    });
    assert.equal(add.status, 403, add.text);
    const narrow = await s.request('PATCH', `/v1/credentials/${c.id}`, { key: keys.admin, body: { allowed_hosts: ['smtp.example.com'] } });
    assert.equal(narrow.status, 200, narrow.text);
  });

  it('a dialect route that writes config is held to the same rule (integration-metadata PATCH of an sftp host)', async () => {
    const made = await s.request('POST', '/v1/credentials', {
      body: {
        name: unique('Files'),
        type: 'sftp',
        team_id: team,
        config: { host: 'sftp.example.com', username: 'files' },
        secret: { password: SFTP_PASSWORD },
      },
    });
    assert.equal(made.status, 201, made.text);
    const uuid = ulidToUuid(made.body.id.replace(/^crd_/, ''));
    const r = await s.request('PATCH', `/compat/integration-metadata/integrations/credentials/${uuid}`, {
      key: keys.admin,
      body: { credentials: { host: 'evil.example' } },
    });
    assert.equal(r.status, 403, r.text);
    assert.equal((await s.request('GET', `/v1/credentials/${made.body.id}`)).body.config.host, 'sftp.example.com');
  });
});

describe('hole 3: a member retargets an OAuth2 token endpoint, then waits for the scheduler', () => {
  it('PATCH of config.token_endpoint is 403; a legitimate early expiry is refreshed at the real endpoint only', async () => {
    const made = await s.request('POST', '/v1/credentials', {
      body: {
        name: unique('CRM'),
        type: 'oauth2',
        team_id: team,
        expires_at: new Date(Date.now() + 3_600_000).toISOString(),
        config: {
          client_id: 'crm',
          token_endpoint: `${legitTokens.url}/token`,
          grant_type: 'refresh_token',
          token_endpoint_auth_method: 'client_secret_basic',
          access_token_expires_at: new Date(Date.now() + 3_600_000).toISOString(),
        },
        secret: { client_secret: CLIENT_SECRET, refresh_token: REFRESH_TOKEN, access_token: ACCESS_TOKEN },
      },
    });
    assert.equal(made.status, 201, made.text);
    const id = made.body.id;

    const aimed = await s.request('PATCH', `/v1/credentials/${id}`, {
      key: keys.member,
      body: { expires_at: past(), config: { token_endpoint: `${attackerTokens.url}/token`, access_token_expires_at: past() } },
    });
    assert.equal(aimed.status, 403, aimed.text);
    assert.equal(aimed.body.error.code, 'FORBIDDEN');
    assert.equal((await s.request('GET', `/v1/credentials/${id}`)).body.config.token_endpoint, `${legitTokens.url}/token`);
    // The HTTP layer records the refusal after answering it: it may land a moment later.
    assert.ok(await eventually(async () => (await denials(id)).some((e) => e.action === 'access.denied' && e.reason.startsWith('PATCH '))));
    // Nor through another name for the same thing.
    for (const body of [
      { config: { token_endpoint: `${attackerTokens.url}/token` }, secret: { client_secret: 'known-to-member' } },
      { provider: 'github', config: { token_endpoint: null } },
    ]) {
      const r = await s.request('PATCH', `/v1/credentials/${id}`, { key: keys.member, body });
      assert.ok(r.status === 403 || r.status === 422, `${JSON.stringify(body)}: ${r.text}`);
    }

    // The member may still say the token expired: harmless, the refresh goes where it always went.
    const expired = await s.request('PATCH', `/v1/credentials/${id}`, {
      key: keys.member,
      body: { expires_at: past(), config: { access_token_expires_at: past() } },
    });
    assert.equal(expired.status, 200, expired.text);
    const refreshed = await eventually(() => legitTokens.received.some((r) => secretsIn(r).includes(REFRESH_TOKEN)));
    assert.ok(refreshed, 'the scheduler refreshed at the real endpoint');
    assert.deepEqual(attackerTokens.received, [], 'the attacker endpoint received nothing');
    assert.notEqual((await s.request('GET', `/v1/credentials/${id}/secret`)).body.secret.access_token, 'attacker-chosen');
  });
});

describe('no form of any secret left the server', () => {
  it('responses, logs, audit events and data files hold none of them', async () => {
    await assertServerHoldsNoSecret(s, [PASSWORD, CLIENT_SECRET, REFRESH_TOKEN, ACCESS_TOKEN, SFTP_PASSWORD]);
  });
});
