// Name uniqueness, the way the documents' clients meet it: a name is unique only among the
// credentials it is a reference among — a team's credentials of one integration (document 003's
// "Production" per integration), the account's smtp/api_key credentials (document 002), and a
// team's other credentials (document 001's slugs) — never across integrations, and never between
// the account's credentials and unrelated types.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type TestServer } from '../support/server.ts';
import { assertServerHoldsNoSecret, canary } from '../support/canary.ts';

const IC = '/compat/integration-credentials';
const AC = '/compat/account-credentials';
let s: TestServer;
let tenantId = '';
const secrets: string[] = [];
const secret = (label: string) => {
  const v = canary(label);
  secrets.push(v);
  return v;
};
const icHeaders = () => ({ accept: 'application/json', 'x-tenantid': tenantId });

/** POST /api/v1/credentials as document 003's client sends it. */
const icCreate = (integrationId: string, credentialName: string) =>
  s.request('POST', `${IC}/api/v1/credentials`, {
    headers: icHeaders(),
    body: { integrationId, credentialName, authType: 'api_key', accessToken: secret('ic') },
  });

before(async () => {
  s = await startServer();
  tenantId = (await s.request('GET', '/v1/tenants')).body.data[0].id;
});
after(async () => {
  await assertServerHoldsNoSecret(s, secrets);
  await s.stop();
});

describe('credential names are unique per team and per integration, not per tenant', () => {
  it('"Production" for a second integration is created (document 003); a second one for the same integration is 409', async () => {
    const jira = await icCreate('jira', 'Production');
    assert.equal(jira.status, 201, jira.text);
    const github = await icCreate('github', 'Production');
    assert.equal(github.status, 201, github.text);
    assert.notEqual(github.body.data.id, jira.body.data.id);
    assert.equal(github.body.data.credentialName, 'Production');
    const again = await icCreate('jira', 'production');
    assert.equal(again.status, 409, again.text);
    assert.equal(again.body.success, false);
    assert.equal(again.body.error.code, 'CONFLICT');
    assert.match(JSON.stringify(again.body.error), /for integration jira/);
    // Each is read back for its own integration.
    for (const [integration, made] of [
      ['jira', jira],
      ['github', github],
    ] as const) {
      const r = await s.request('GET', `${IC}/api/v1/credentials/${integration}`, { headers: icHeaders() });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.body.data.id, made.body.data.id);
    }
  });

  it('an account credential (document 002) and an unrelated type may share a name; two account credentials may not', async () => {
    const jwt = await s.request('POST', '/v1/credentials', {
      body: { name: 'My Credential', type: 'text', secret: { value: secret('text') } },
    });
    assert.equal(jwt.status, 201, jwt.text);
    const account = await s.request('POST', `${AC}/v1/credentials`, {
      headers: { 'content-type': 'application/json' },
      body: { name: 'My Credential', type: 'smtp' },
    });
    assert.equal(account.status, 201, account.text);
    secrets.push(account.body.key);
    const second = await s.request('POST', `${AC}/v1/credentials`, {
      headers: { 'content-type': 'application/json' },
      body: { name: 'My Credential', type: 'api' },
    });
    assert.equal(second.status, 409, second.text);
    assert.equal(second.body.error.code, 'CONFLICT');
    assert.match(JSON.stringify(second.body.error), /smtp and api_key credentials/);
  });

  it("a rename into a name taken in the same scope is 409, into another integration's name is fine", async () => {
    const a = await icCreate('zendesk', 'Sandbox');
    const b = await icCreate('zendesk', 'Staging');
    const c = await icCreate('hubspot', 'Staging two');
    for (const r of [a, b, c]) assert.equal(r.status, 201, r.text);
    const clash = await s.request('PATCH', `${IC}/api/v1/credentials/${b.body.data.id}`, { headers: icHeaders(), body: { credentialName: 'Sandbox' } });
    assert.equal(clash.status, 409, clash.text);
    const fine = await s.request('PATCH', `${IC}/api/v1/credentials/${c.body.data.id}`, { headers: icHeaders(), body: { credentialName: 'Sandbox' } });
    assert.equal(fine.status, 200, fine.text);
    assert.equal(fine.body.data.credentialName, 'Sandbox');
  });
});
