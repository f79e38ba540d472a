// A leap-second timestamp (…T23:59:60Z) passed the date-time format and then broke `new Date`,
// answering 500 from a filter, `expires_at` or `deactivation_time`. RFC 3339 allows second 60,
// but the UTC text Latchkey stores (like POSIX time) has none, and rounding it would move a time
// the caller set: it is refused as invalid input (422 in a body, 400 in a query), nothing stored.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type TestServer } from '../support/server.ts';
import { assertServerHoldsNoSecret, canary } from '../support/canary.ts';

let s: TestServer;
const refusedSecrets: string[] = [];
/** Real leap seconds (end of 2016, mid-2015), in UTC and as local time with an offset. */
const LEAP = ['2016-12-31T23:59:60Z', '2015-06-30T23:59:60.500Z', '2017-01-01T00:59:60+01:00'];

/** The fields the 422 names (a nullable field's union adds an issue per branch, same path). */
function paths(r: { body: any }): string[] {
  return Array.isArray(r.body?.error?.details) ? [...new Set<string>(r.body.error.details.map((i: { path: string }) => i.path))] : [];
}

async function credentialCount(): Promise<number> {
  return (await s.request('GET', '/v1/credentials?per_page=1')).body.total;
}

let tenantId = '';

before(async () => {
  s = await startServer();
  tenantId = (await s.request('GET', '/v1/tenants')).body.data[0].id;
});

after(async () => {
  await s.stop();
});

describe('leap-second timestamps → 400/422 in the envelope, never 500, nothing stored', () => {
  it('expires_at and deactivation_time on create → 422 naming the field', async () => {
    const before = await credentialCount();
    for (const leap of LEAP) {
      for (const field of ['expires_at', 'deactivation_time']) {
        const secret = canary('leap');
        refusedSecrets.push(secret);
        const r = await s.request('POST', '/v1/credentials', { body: { name: `leap ${field}`, type: 'text', secret: { value: secret }, [field]: leap } });
        assert.equal(r.status, 422, `${field}=${leap}: ${r.text}`);
        assert.equal(r.body.error.code, 'VALIDATION_FAILED');
        assert.deepEqual(paths(r), [field]);
        assert.ok(
          r.body.error.details.some((i: { message: string }) => /leap second/.test(i.message)),
          r.text,
        );
      }
    }
    assert.equal(await credentialCount(), before);
  });

  it('expires_at and deactivation_time on PATCH → 422, the credential unchanged', async () => {
    const c = await s.request('POST', '/v1/credentials', {
      body: { name: 'leap patch', type: 'text', secret: { value: canary('leap-kept') }, expires_at: '2031-01-01T01:00:00+01:00' },
    });
    assert.equal(c.status, 201, c.text);
    assert.equal(c.body.expires_at, '2031-01-01T00:00:00.000Z');
    for (const field of ['expires_at', 'deactivation_time']) {
      const r = await s.request('PATCH', `/v1/credentials/${c.body.id}`, { body: { [field]: LEAP[0] } });
      assert.equal(r.status, 422, `${field}: ${r.text}`);
      assert.deepEqual(paths(r), [field]);
    }
    const back = await s.request('GET', `/v1/credentials/${c.body.id}`);
    assert.equal(back.body.expires_at, '2031-01-01T00:00:00.000Z');
    assert.equal(back.body.deactivation_time ?? null, null);
    assert.equal(back.body.version, 1);
  });

  it('a date-time inside a type config (oauth2 access_token_expires_at) → 422 naming it', async () => {
    const secret = canary('leap-oauth');
    refusedSecrets.push(secret);
    const r = await s.request('POST', '/v1/credentials', {
      body: {
        name: 'leap oauth',
        type: 'oauth2',
        config: { client_id: 'c', token_endpoint: 'https://auth.example.com/token', grant_type: 'client_credentials', access_token_expires_at: LEAP[0] },
        secret: { client_secret: secret },
      },
    });
    assert.equal(r.status, 422, r.text);
    assert.deepEqual(paths(r), ['config.access_token_expires_at']);
  });

  it('an access key expires_at → 422, no key made', async () => {
    const before = (await s.request('GET', '/v1/access-keys?per_page=1')).body.total;
    const r = await s.request('POST', '/v1/access-keys', { body: { name: 'leap key', role: 'viewer', expires_at: LEAP[0] } });
    assert.equal(r.status, 422, r.text);
    assert.deepEqual(paths(r), ['expires_at']);
    assert.equal((await s.request('GET', '/v1/access-keys?per_page=1')).body.total, before);
  });

  it('list filters (credentials, audit events) → 400 INVALID_PARAMETER', async () => {
    for (const leap of LEAP) {
      const q = encodeURIComponent(leap);
      for (const path of [`/v1/credentials?filter[expires_before]=${q}`, `/v1/audit-events?filter[since]=${q}`, `/v1/audit-events?filter[until]=${q}`]) {
        const r = await s.request('GET', path);
        assert.equal(r.status, 400, `${path}: ${r.text}`);
        assert.equal(r.body.error.code, 'INVALID_PARAMETER', path);
      }
    }
  });

  it('the integration-credentials dialect refuses expiresAt the same way, in its envelope', async () => {
    const secret = canary('leap-ic');
    refusedSecrets.push(secret);
    const r = await s.request('POST', '/compat/integration-credentials/api/v1/credentials', {
      headers: { 'x-tenantid': tenantId },
      body: { integrationId: 'leap-int', credentialName: 'leap dialect', authType: 'text', accessToken: secret, expiresAt: LEAP[0] },
    });
    assert.ok(r.status === 400 || r.status === 422, `${r.status}: ${r.text}`);
    assert.equal(r.body.success, false);
    assert.match(r.text, /expiresAt/);
    assert.equal((await s.request('GET', '/v1/integrations/leap-int/credentials')).body.data?.length ?? 0, 0);
    // The same request with a time that has a second 00-59 is accepted.
    const ok = await s.request('POST', '/compat/integration-credentials/api/v1/credentials', {
      headers: { 'x-tenantid': tenantId },
      body: {
        integrationId: 'leap-int',
        credentialName: 'leap dialect',
        authType: 'text',
        accessToken: canary('leap-ic-ok'),
        expiresAt: '2031-01-01T00:00:59Z',
      },
    });
    assert.equal(ok.status, 201, ok.text);
  });

  it('no refused secret is anywhere on the server', async () => {
    await assertServerHoldsNoSecret(s, refusedSecrets);
  });
});
