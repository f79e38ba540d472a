import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, type TestServer } from '../support/server.ts';
import { assertServerHoldsNoSecret, canary } from '../support/canary.ts';
import { eventually, httpListener, json, quoted, secretsIn, smtpListener, type HttpListener, type SmtpListener } from '../support/attackers.ts';

/*
 * Hole 2 of issue 24: a remote server's answer carried the secret it was sent back into the
 * verify result, the audit reason (and so the hash chain, the database file and the audit
 * sink), in base64, AUTH PLAIN's \0user\0pass, hex and URL-encoded form. Every outbound call
 * now reports a fixed category and the remote's status code, nothing else. The hostile servers
 * here quote every secret they receive, in every form, in every field they can.
 */

const PASSWORD = canary('smtp-password');
const CLIENT_SECRET = canary('client-secret');
const REFRESH_TOKEN = canary('refresh-token');
const CC_SECRET = canary('cc-secret');
const CATEGORIES = ['auth_failed', 'connect_failed', 'tls_failed', 'timeout', 'refused', 'bad_response'];

let s: TestServer;
let smtp: SmtpListener;
let tokens: HttpListener;
let sinkFile = '';
const unique = (label: string) => `${label} ${randomBytes(4).toString('hex')}`;
const past = () => new Date(Date.now() - 60_000).toISOString();

/** The token endpoint's answer, chosen by the path the credential was aimed at. */
function hostile(path: string, secrets: string[]): { status: number; body: Record<string, unknown> } {
  const all = secrets.map((v) => quoted('client', v)).join(' ');
  const first = secrets[0] ?? 'x';
  switch (path) {
    // The error code itself is a secret: printable, short enough to pass for a code.
    case '/code':
      return { status: 400, body: { error: first, error_description: all } };
    case '/grant':
      return { status: 400, body: { error: 'invalid_grant', error_description: all, error_uri: `https://evil.example/?t=${encodeURIComponent(first)}` } };
    case '/client':
      return { status: 401, body: { error: 'invalid_client', error_description: all } };
    case '/down':
      return { status: 503, body: { error: 'temporarily_unavailable', message: all } };
    // Slack style: 200 with ok false.
    default:
      return { status: 200, body: { ok: false, error: first, detail: all } };
  }
}

before(async () => {
  smtp = await smtpListener(() => false);
  tokens = await httpListener((req, res) => {
    const { status, body } = hostile(new URL(req.path, 'http://x').pathname, secretsIn(req));
    json(res, status, body);
  });
  sinkFile = join(mkdtempSync(join(tmpdir(), 'latchkey-sink-')), 'audit.jsonl');
  s = await startServer({ env: { LATCHKEY_EGRESS_ALLOW: '127.0.0.1/32', LATCHKEY_OAUTH_REFRESH_INTERVAL_MS: '200', LATCHKEY_AUDIT_SINK: `file:${sinkFile}` } });
});

after(async () => {
  await s?.stop();
  await Promise.all([smtp?.close(), tokens?.close()]);
});

function checkReport(body: { ok: boolean; error?: string; status?: number | null }, category: string, status: number | null): void {
  assert.equal(body.ok, false);
  assert.ok(CATEGORIES.includes(body.error ?? ''), JSON.stringify(body));
  assert.deepEqual({ error: body.error, status: body.status }, { error: category, status });
  assert.deepEqual(Object.keys(body).sort(), ['checked_at', 'error', 'ok', 'status']);
}

describe('SMTP verify against a server that quotes the login back in its 535', () => {
  it('reports auth_failed and 535 only, for AUTH PLAIN and LOGIN', async () => {
    for (const auth_type of ['plain', 'login']) {
      const c = await s.request('POST', '/v1/credentials', {
        body: {
          name: unique('Relay'),
          type: 'smtp',
          config: { host: '127.0.0.1', port: smtp.port, encryption: 'none', auth_type, username: 'mailer' },
          secret: { password: PASSWORD },
        },
      });
      assert.equal(c.status, 201, c.text);
      const v = await s.request('POST', `/v1/credentials/${c.body.id}/verify`);
      assert.equal(v.status, 200, v.text);
      checkReport(v.body, 'auth_failed', 535);
      const events = await s.request('GET', `/v1/audit-events?filter[credential_id]=${c.body.id}&filter[action]=credential.verify`);
      assert.equal(events.body.data[0].reason, 'auth_failed (SMTP 535)');
    }
    // The server did receive the password: the quoting was real.
    assert.ok(smtp.logins.includes(`mailer:${PASSWORD}`));
  });
});

describe('OAuth2 token calls against an endpoint that quotes the refresh token and client secret', () => {
  async function aimed(
    path: string,
    extra: Record<string, unknown> = {},
    secret: Record<string, string> = { client_secret: CLIENT_SECRET, refresh_token: REFRESH_TOKEN },
  ): Promise<string> {
    const r = await s.request('POST', '/v1/credentials', {
      body: {
        name: unique(`Token ${path}`),
        type: 'oauth2',
        config: {
          client_id: 'client',
          token_endpoint: `${tokens.url}${path}`,
          grant_type: 'refresh_token',
          token_endpoint_auth_method: 'client_secret_basic',
          ...extra,
        },
        secret,
      },
    });
    assert.equal(r.status, 201, r.text);
    return r.body.id;
  }

  const cases: Array<[string, number, string, number]> = [
    // path, API status, category, remote status
    ['/code', 409, 'refused', 400],
    ['/grant', 409, 'auth_failed', 400],
    ['/client', 409, 'auth_failed', 401],
    ['/down', 503, 'bad_response', 503],
    ['/slack', 503, 'refused', 200],
  ];
  for (const [path, apiStatus, category, status] of cases) {
    it(`${path}: refresh answers ${apiStatus} naming ${category} and HTTP ${status}; last_error, the audit reason and verify say no more`, async () => {
      const id = await aimed(path);
      const r = await s.request('POST', `/v1/credentials/${id}/refresh`);
      assert.equal(r.status, apiStatus, r.text);
      assert.match(r.body.error.details, new RegExp(`\\(${category} \\(HTTP ${status}\\)\\)`));
      const c = (await s.request('GET', `/v1/credentials/${id}`)).body;
      assert.match(c.last_error, new RegExp(`^${category} \\(HTTP ${status}\\): `));
      const events = await s.request('GET', `/v1/audit-events?filter[credential_id]=${id}&filter[action]=credential.refresh`);
      assert.equal(events.body.data[0].reason, `${category} (HTTP ${status})`);
      const v = await s.request('POST', `/v1/credentials/${id}/verify`);
      assert.equal(v.status, 200, v.text);
      checkReport(v.body, category, status);
    });
  }

  it("client credentials (secret in the form) and the scheduler's own refresh report the same way", async () => {
    const cc = await aimed('/code', { grant_type: 'client_credentials', token_endpoint_auth_method: 'client_secret_post' }, { client_secret: CC_SECRET });
    const r = await s.request('POST', `/v1/credentials/${cc}/refresh`);
    assert.equal(r.status, 409, r.text);
    // Expired: the scheduler calls on its own, and logs what happened.
    const id = await aimed('/grant');
    const e = await s.request('PATCH', `/v1/credentials/${id}`, { body: { expires_at: past(), config: { access_token_expires_at: past() } } });
    assert.equal(e.status, 200, e.text);
    const failed = await eventually(async () => {
      const events = await s.request('GET', `/v1/audit-events?filter[credential_id]=${id}&filter[action]=credential.refresh`);
      return events.body.data.some((ev: { actor: { id: string }; outcome: string }) => ev.actor.id === 'oauth-refresher' && ev.outcome === 'failure');
    });
    assert.ok(failed, 'the scheduler tried and recorded the failure');
    assert.ok(
      tokens.received.some((q) => secretsIn(q).includes(CC_SECRET)),
      'the endpoint did receive the client secret',
    );
  });
});

describe('no form of any secret left the server', () => {
  it('responses, logs, audit events, the audit sink stream and data files hold none of them', async () => {
    const secrets = [PASSWORD, CLIENT_SECRET, REFRESH_TOKEN, CC_SECRET];
    // The sink is written behind the chain: wait until it holds the verify events.
    assert.ok(
      await eventually(() => {
        try {
          return readFileSync(sinkFile, 'utf8').includes('credential.verify');
        } catch {
          return false;
        }
      }),
      'the audit sink stream was written',
    );
    await assertServerHoldsNoSecret(s, secrets, { 'audit sink stream': readFileSync(sinkFile) });
  });
});
