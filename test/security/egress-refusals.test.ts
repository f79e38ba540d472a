import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startServer, type TestServer } from '../support/server.ts';
import { assertServerHoldsNoSecret, canary } from '../support/canary.ts';

/*
 * Weakness of issue 24: egress refusals said how a name resolved ("… resolves to a loopback
 * address", "does not resolve"), so anyone who may set a URL could map the internal DNS one
 * credential at a time. Every refused destination now gets the same answer, whatever the
 * reason: a name that resolves to loopback, to a private or link-local range, a literal
 * address, plain http, and a name that does not resolve at all.
 */

const SECRET = canary('client-secret');
const PASSWORD = canary('smtp-password');
let s: TestServer;
const unique = (label: string) => `${label} ${randomBytes(4).toString('hex')}`;

before(async () => {
  s = await startServer();
});

after(async () => {
  await s?.stop();
});

const URLS = [
  'https://localhost/token',
  'https://127.0.0.1/token',
  'http://127.0.0.1/token',
  'https://[::1]/token',
  'https://10.0.0.1/token',
  'http://169.254.169.254/latest/meta-data/',
  'https://[::ffff:10.0.0.1]/token',
  'https://nothing-here.invalid/token',
  'http://93.184.216.34/token',
];
const HOSTS = ['localhost', '127.0.0.1', '10.1.2.3', '169.254.169.254', 'nothing-here.invalid', '::1'];

/** The answer without what differs per request by design (the request id). */
function shape(body: { error: { request_id?: string } }): string {
  return JSON.stringify({ ...body.error, request_id: undefined });
}

describe('egress refusals are uniform', () => {
  it('refresh, verify and last_error answer alike for every refused token endpoint', async () => {
    const refreshes = new Set<string>();
    const verifies = new Set<string>();
    const lastErrors = new Set<string>();
    for (const url of URLS) {
      const made = await s.request('POST', '/v1/credentials', {
        body: {
          name: unique('Aimed'),
          type: 'oauth2',
          config: { client_id: 'c', token_endpoint: url, grant_type: 'client_credentials' },
          secret: { client_secret: SECRET },
        },
      });
      assert.equal(made.status, 201, made.text);
      const r = await s.request('POST', `/v1/credentials/${made.body.id}/refresh`);
      assert.equal(r.status, 422, `${url}: ${r.text}`);
      refreshes.add(shape(r.body));
      const v = await s.request('POST', `/v1/credentials/${made.body.id}/verify`);
      verifies.add(JSON.stringify({ ...v.body, checked_at: undefined }));
      lastErrors.add((await s.request('GET', `/v1/credentials/${made.body.id}`)).body.last_error);
    }
    assert.equal(refreshes.size, 1, [...refreshes].join('\n'));
    assert.doesNotMatch([...refreshes][0]!, /loopback|private|link-local|resolve|metadata|mapped/i);
    assert.deepEqual([...verifies], [JSON.stringify({ ok: false, error: 'refused', status: null })]);
    assert.equal(lastErrors.size, 1, [...lastErrors].join('\n'));
  });

  it('connect answers alike for every token endpoint whose URL is refused, and never by how a name resolves', async () => {
    const connect = (url: string) =>
      s.request('POST', '/v1/oauth/connect', {
        body: {
          provider: 'oauth2',
          name: unique('Connect'),
          config: { client_id: 'c', authorization_endpoint: 'https://idp.example.test/auth', token_endpoint: url },
          secret: { client_secret: SECRET },
        },
      });
    const refused = new Set<string>();
    for (const url of [
      'https://127.0.0.1/token',
      'https://[::1]/token',
      'https://10.0.0.1/token',
      'http://169.254.169.254/latest/meta-data/',
      'http://93.184.216.34/token',
      'http://idp.example.test/token',
    ]) {
      const r = await connect(url);
      assert.equal(r.status, 422, `${url}: ${r.text}`);
      refused.add(shape(r.body));
    }
    assert.equal(refused.size, 1, [...refused].join('\n'));
    assert.deepEqual(
      [...refused],
      [
        ...(await (async () => {
          const made = await s.request('POST', '/v1/credentials', {
            body: {
              name: unique('Aimed'),
              type: 'oauth2',
              config: { client_id: 'c', token_endpoint: 'https://localhost/token', grant_type: 'client_credentials' },
              secret: { client_secret: SECRET },
            },
          });
          return new Set([shape((await s.request('POST', `/v1/credentials/${made.body.id}/refresh`)).body)]);
        })()),
      ],
    );
    // Names are resolved when called, not at connect: loopback, unresolvable and public look the same here.
    const statuses = new Set<number>();
    for (const url of ['https://localhost/token', 'https://nothing-here.invalid/token', 'https://idp.example.test/token'])
      statuses.add((await connect(url)).status);
    assert.deepEqual([...statuses], [200]);
  });

  it('SMTP verify answers alike for every refused host, and the audit reason too', async () => {
    const answers = new Set<string>();
    const reasons = new Set<string>();
    for (const host of HOSTS) {
      const made = await s.request('POST', '/v1/credentials', {
        body: { name: unique('Relay'), type: 'smtp', config: { host, port: 2525, auth_type: 'login', username: 'mailer' }, secret: { password: PASSWORD } },
      });
      assert.equal(made.status, 201, made.text);
      const v = await s.request('POST', `/v1/credentials/${made.body.id}/verify`);
      assert.equal(v.status, 200, v.text);
      answers.add(JSON.stringify({ ...v.body, checked_at: undefined }));
      const events = await s.request('GET', `/v1/audit-events?filter[credential_id]=${made.body.id}&filter[action]=credential.verify`);
      reasons.add(events.body.data[0].reason);
    }
    assert.deepEqual([...answers], [JSON.stringify({ ok: false, error: 'refused', status: null })]);
    assert.deepEqual([...reasons], ['refused']);
    await assertServerHoldsNoSecret(s, [SECRET, PASSWORD]);
  });
});
