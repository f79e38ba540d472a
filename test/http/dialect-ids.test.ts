// Ids in the two dialects whose documents speak in UUIDs (integration credentials, document 003;
// integration metadata, document 004): every id they show is an RFC 9562 UUID that a common
// validator accepts, or (a caller-chosen id that is not a UUID) the id itself, and every id they
// show is accepted back by every route of the same dialect. Requests are sent as each
// document's client sends them (document 003's `accept` and `x-tenantid` headers).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { validate, version } from 'uuid';
import { startServer, type ApiResponse, type TestServer } from '../support/server.ts';
import { assertNoSecret, assertServerHoldsNoSecret, canary } from '../support/canary.ts';

let s: TestServer;
let serviceKey: string;
const secrets: string[] = [];
const secret = (label: string) => {
  const v = canary(label);
  secrets.push(v);
  return v;
};

const IC = '/compat/integration-credentials';
const IM = '/compat/integration-metadata';
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

async function native(method: string, path: string, body?: unknown) {
  const r = await s.request(method, path, { body });
  assert.ok(r.status < 300, `${method} ${path}: ${r.status} ${r.text}`);
  return r.body;
}

/** An RFC 9562 UUID of version 8 by the `uuid` package, not by the server's own code. */
function assertV8(id: string) {
  assert.ok(validate(id), `${id} is not a valid UUID`);
  assert.equal(version(id), 8, id);
}

/** Document 004's response attributes, field by field. */
function checkMetadata(b: any, id: string, provider: string) {
  assert.deepEqual(Object.keys(b).sort(), ['created_at', 'google_email', 'id', 'modified_by', 'provider', 'updated_at', 'user_id']);
  assert.equal(b.id, id);
  assert.equal(b.provider, provider);
  assert.match(b.created_at, RFC3339);
  assert.match(b.updated_at, RFC3339);
  assert.equal(typeof b.modified_by, 'string');
  assert.equal(b.google_email, null);
  assert.equal(b.user_id, null);
}

let tenantUuid = '';
const icHeaders = () => ({ accept: 'application/json', 'x-tenantid': tenantUuid });
const ic = (method: string, path: string, body?: unknown) => s.request(method, `${IC}${path}`, { body, headers: icHeaders() });

function icOk(r: ApiResponse, message: string) {
  assert.ok(r.status === 200 || r.status === 201, r.text);
  assert.deepEqual(Object.keys(r.body).sort(), ['data', 'message', 'success', 'timestamp']);
  assert.equal(r.body.success, true);
  assert.equal(r.body.message, message);
}

before(async () => {
  s = await startServer();
  serviceKey = (await native('POST', '/v1/access-keys', { name: 'ids service', role: 'service' })).key;
});
after(async () => {
  await assertServerHoldsNoSecret(s, secrets);
  await s.stop();
});

describe('UUID views are RFC 9562 UUIDs (version 8) and are accepted back', () => {
  it('integration metadata: every listed id validates as a version 8 UUID and reads back as itself', async () => {
    for (let i = 0; i < 40; i++) {
      await native('POST', '/v1/credentials', {
        name: `Partner SFTP ${i}`,
        type: 'sftp',
        config: { host: `sftp${i}.example.com`, username: 'partner' },
        secret: { password: secret('sftp') },
      });
    }
    const list = await s.request('GET', `${IM}/integrations/credentials`);
    assert.equal(list.status, 200, list.text);
    assert.equal(list.body.length, 40);
    for (const b of list.body) {
      assertV8(b.id);
      const one = await s.request('GET', `${IM}/integrations/credentials/${b.id}`);
      assert.equal(one.status, 200, one.text);
      checkMetadata(one.body, b.id, 'sftp');
      assert.deepEqual(one.body, b);
    }
    // The secrets route of the same dialect takes the same id.
    const first = list.body[0];
    const r = await s.request('GET', `${IM}/integrations/credentials/${first.id}/credentials`, { key: serviceKey });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.id, first.id);
    assert.ok(secrets.includes(r.body.credentials.password));
    assertNoSecret({ list: list.text }, secrets);
  });

  it('integration credentials: the ids it hands out (credential and tenant) validate as version 8 UUIDs and work on every route', async () => {
    // The tenant's UUID comes from the dialect itself: bootstrap with the native tenant id, which
    // the dialect also accepts, then use only what the dialect showed.
    tenantUuid = (await native('GET', '/v1/tenants')).data[0].id;
    const created = await ic('POST', '/api/v1/credentials', {
      integrationId: 'ids-int',
      credentialName: 'Ids Token',
      authType: 'text',
      accessToken: secret('ic'),
    });
    icOk(created, 'Credential created successfully');
    const id: string = created.body.data.id;
    assert.match(id, /^cred-/);
    assertV8(id.slice(5));
    assertV8(created.body.data.tenant.id);
    tenantUuid = created.body.data.tenant.id;

    const got = await ic('GET', `/api/v1/credentials/ids-int?credentialId=${id}`);
    icOk(got, 'Credentials retrieved successfully');
    assert.equal(got.body.data.id, id);
    assert.equal(got.body.data.tenant.id, tenantUuid);
    const patched = await ic('PATCH', `/api/v1/credentials/${id}`, { description: 'patched by id' });
    icOk(patched, 'Credential updated successfully');
    assert.equal(patched.body.data.id, id);
    assert.equal(patched.body.data.description, 'patched by id');
    const rotated = await ic('POST', `/api/v1/credentials/${id}/rotate`, { accessToken: secret('ic-rotated') });
    icOk(rotated, 'Credential rotated successfully');
    assert.equal(rotated.body.data.id, id);
    const deleted = await ic('DELETE', `/api/v1/credentials/${id}`);
    icOk(deleted, 'Credential deleted successfully');
    assert.deepEqual(deleted.body.data, { id });
    assert.equal((await ic('GET', `/api/v1/credentials/ids-int?credentialId=${id}`)).status, 404);
  });

  it('a UUID an earlier release showed (the ULID bytes as they are) is still accepted', async () => {
    const c = await native('POST', '/v1/credentials', {
      name: 'Legacy SFTP',
      type: 'sftp',
      config: { host: 'legacy.example.com', username: 'l' },
      secret: { password: secret('legacy') },
    });
    const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
    const bits = [...c.id.slice(4)]
      .map((ch: string) => CROCKFORD.indexOf(ch).toString(2).padStart(5, '0'))
      .join('')
      .slice(2);
    let hex = '';
    for (let i = 0; i < 128; i += 4) hex += parseInt(bits.slice(i, i + 4), 2).toString(16);
    const legacy = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
    const r = await s.request('GET', `${IM}/integrations/credentials/${legacy}`);
    assert.equal(r.status, 200, r.text);
    assertV8(r.body.id);
    assert.notEqual(r.body.id, legacy);
  });
});

describe('a caller-chosen id that is not a UUID is shown as it is and accepted back', () => {
  it('integration metadata lists my-custom-id and answers it on GET, secrets, PATCH and DELETE', async () => {
    await native('PUT', '/v1/credentials/my-custom-id', {
      name: 'Custom SFTP',
      type: 'sftp',
      config: { host: 'custom.example.com', username: 'c' },
      secret: { password: secret('custom') },
    });
    const list = await s.request('GET', `${IM}/integrations/credentials`);
    assert.ok(
      list.body.some((b: any) => b.id === 'my-custom-id'),
      list.text,
    );
    const one = await s.request('GET', `${IM}/integrations/credentials/my-custom-id`);
    assert.equal(one.status, 200, one.text);
    checkMetadata(one.body, 'my-custom-id', 'sftp');
    const revealed = await s.request('GET', `${IM}/integrations/credentials/my-custom-id/credentials`, { key: serviceKey });
    assert.equal(revealed.status, 200, revealed.text);
    assert.equal(revealed.body.id, 'my-custom-id');
    const patched = await s.request('PATCH', `${IM}/integrations/credentials/my-custom-id`, { body: { credentials: { host: 'custom2.example.com' } } });
    assert.equal(patched.status, 200, patched.text);
    checkMetadata(patched.body, 'my-custom-id', 'sftp');
    assert.equal((await s.request('DELETE', `${IM}/integrations/credentials/my-custom-id`)).status, 204);
    assert.equal((await s.request('GET', `${IM}/integrations/credentials/my-custom-id`)).status, 404);
  });

  it('integration credentials shows my-custom-token and takes it back as credentialId and in every path', async () => {
    await native('PUT', '/v1/credentials/my-custom-token', {
      name: 'Custom Token',
      type: 'text',
      integration_id: 'custom-int',
      secret: { value: secret('custom-token') },
    });
    const got = await ic('GET', '/api/v1/credentials/custom-int');
    icOk(got, 'Credentials retrieved successfully');
    assert.equal(got.body.data.id, 'my-custom-token');
    icOk(await ic('GET', '/api/v1/credentials/custom-int?credentialId=my-custom-token'), 'Credentials retrieved successfully');
    const patched = await ic('PATCH', '/api/v1/credentials/my-custom-token', { description: 'by custom id' });
    icOk(patched, 'Credential updated successfully');
    assert.equal(patched.body.data.id, 'my-custom-token');
    icOk(await ic('POST', '/api/v1/credentials/my-custom-token/rotate', { accessToken: secret('custom-rotated') }), 'Credential rotated successfully');
    const deleted = await ic('DELETE', '/api/v1/credentials/my-custom-token');
    icOk(deleted, 'Credential deleted successfully');
    assert.deepEqual(deleted.body.data, { id: 'my-custom-token' });
  });

  it("a native crd_ id, which these dialects never show, and a malformed id stay the documents' 400", async () => {
    const c = await native('POST', '/v1/credentials', {
      name: 'Native Only',
      type: 'sftp',
      config: { host: 'n.example.com', username: 'n' },
      secret: { password: secret('native') },
    });
    const m = await s.request('GET', `${IM}/integrations/credentials/${c.id}`);
    assert.equal(m.status, 400, m.text);
    assert.equal(m.body.error.message, 'Invalid credential ID');
    assert.equal((await s.request('GET', `${IM}/integrations/credentials/bad%20id`)).status, 400);
    const r = await ic('GET', `/api/v1/credentials/ids-int?credentialId=${c.id}`);
    assert.equal(r.status, 400, r.text);
    assert.deepEqual(r.body.error, { code: 'INVALID_PARAMETER', message: 'Invalid credentialId format', details: 'credentialId must be a valid UUID' });
  });
});
