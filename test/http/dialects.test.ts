// The dialects (docs/dialects.md): every request sample of the five source documents sent as
// written (only the base URL changed), each response checked field by field against the
// document's sample, every error status each document lists, the same credential read natively
// and through each dialect, and tenancy and role checks repeated through each dialect.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readTree, startServer, type ApiResponse, type TestServer } from '../support/server.ts';
import { Latchkey } from '../../sdk/src/index.ts';

let s: TestServer;
let tenantA: { id: string; uuid: string; name: string };
let tenantBKey: string;
let tenantBId: string;
const keys: Record<string, string> = {};
const stored: string[] = [];
const secretOf = (tag: string) => {
  const v = `SECRET-${tag}-${Math.random().toString(36).slice(2)}${Date.now()}`;
  stored.push(v);
  return v;
};

const SC = '/compat/service-credentials';
const UC = '/compat/user-credentials';
const AC = '/compat/account-credentials';
const IC = '/compat/integration-credentials';
const IM = '/compat/integration-metadata';

// ------------------------------------------------------------------------------------------------
// Independent reference for the UUID view of a ULID (bit by bit, not the server's BigInt code):
// RFC 9562 version 8, the ULID's low 122 bits around the version nibble and the variant bits.
const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
function uuidOfUlid(ulid: string): string {
  const all = [...ulid]
    .map((ch) => CROCKFORD.indexOf(ch).toString(2).padStart(5, '0'))
    .join('')
    .slice(8); // 130 → 122 bits
  const bits = `${all.slice(0, 48)}1000${all.slice(48, 60)}10${all.slice(60)}`;
  let hex = '';
  for (let i = 0; i < 128; i += 4) hex += parseInt(bits.slice(i, i + 4), 2).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
const uuidOf = (nativeId: string) => uuidOfUlid(nativeId.replace(/^[a-z]+_/, ''));

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;
const MICROS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/; // document 002: 2024-09-26T08:16:03.000000Z
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const get = (path: string, key?: string | null, headers: Record<string, string> = {}) => s.request('GET', path, { key, headers });
const ic = (path: string, key?: string | null, tenant = tenantA.uuid) => get(`${IC}${path}`, key, { accept: 'application/json', 'x-tenantid': tenant });
const icWrite = (method: string, path: string, body?: unknown, key?: string | null, tenant = tenantA.uuid) =>
  s.request(method, `${IC}${path}`, { key, body, headers: { accept: 'application/json', 'x-tenantid': tenant } });

function noStore(r: ApiResponse) {
  assert.match(r.headers.get('cache-control') ?? '', /no-store/);
}

async function native(method: string, path: string, body?: unknown, key?: string) {
  const r = await s.request(method, path, { body, key });
  assert.ok(r.status < 300, `${method} ${path}: ${r.status} ${r.text}`);
  return r.body;
}

/** Document 003's error body: `{ success: false, error: { code, message, details }, timestamp }`, nothing else. */
function icError(r: ApiResponse, status: number, code: string) {
  assert.equal(r.status, status, r.text);
  assert.deepEqual(Object.keys(r.body).sort(), ['error', 'success', 'timestamp']);
  assert.equal(r.body.success, false);
  assert.equal(r.body.error.code, code);
  assert.equal(typeof r.body.error.message, 'string');
  assert.ok(r.body.error.details !== undefined);
  assert.match(r.body.timestamp, RFC3339);
}

/** Document 004's error body: `{ error: {...}, request_id }`. */
function imError(r: ApiResponse, status: number, code: string) {
  assert.equal(r.status, status, r.text);
  assert.deepEqual(Object.keys(r.body).sort(), ['error', 'request_id']);
  assert.equal(r.body.error.code, code);
  assert.equal(typeof r.body.error.message, 'string');
  assert.equal(r.body.request_id, r.headers.get('x-request-id'));
}

/** The native envelope (documents 000, 001 and 002 show no error bodies). */
function nativeError(r: ApiResponse, status: number, code: string) {
  assert.equal(r.status, status, r.text);
  assert.equal(r.body.error.code, code);
  assert.equal(r.body.error.request_id, r.headers.get('x-request-id'));
}

// ------------------------------------------------------------------------------------------------
// Fixtures, made through the native API

let smtp: any; // smtp, integration mail-relay
let google: any; // oauth2 / google, integration gdrive-1
const SN_ID = '550e8400-e29b-41d4-a716-446655440001';
const SN_TOKEN = 'eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9...';
const SN_REFRESH = 'dGhpcyBpcyBhIHJlZnJlc2ggdG9rZW4...';
let googleSecret: { client_secret: string; access_token: string; refresh_token: string };

before(async () => {
  s = await startServer();
  const tenants = await native('GET', '/v1/tenants');
  tenantA = { id: tenants.data[0].id, uuid: uuidOf(tenants.data[0].id), name: tenants.data[0].name };
  for (const role of ['admin', 'integration_admin', 'member', 'viewer', 'service']) {
    keys[role] = (await native('POST', '/v1/access-keys', { name: `dialects ${role}`, role })).key;
  }
  const b = await native('POST', '/v1/tenants', { name: 'Dialects tenant B' });
  tenantBKey = b.owner_access_key.key;
  tenantBId = b.tenant.id;

  smtp = await native('POST', '/v1/credentials', {
    name: 'Relay Mail',
    type: 'smtp',
    integration_id: 'mail-relay',
    description: 'Outbound relay',
    config: { host: 'smtp.example.com', port: 587, encryption: 'tls', auth_type: 'login', username: 'mailer' },
    secret: { password: secretOf('smtp') },
    metadata: { environment: 'production' },
    allowed_hosts: ['smtp.example.com'],
  });
  googleSecret = { client_secret: secretOf('g-client'), access_token: secretOf('g-access'), refresh_token: secretOf('g-refresh') };
  google = await native('POST', '/v1/credentials', {
    name: 'Drive Sync',
    type: 'oauth2',
    provider: 'google',
    integration_id: 'gdrive-1',
    config: {
      client_id: 'drive-client',
      token_endpoint: 'https://oauth2.googleapis.com/token',
      authorization_endpoint: 'https://accounts.google.com/o/oauth2/v2/auth',
      scopes: ['drive.readonly'],
      account: { email: 'ops@example.com' },
      access_token_expires_at: '2030-01-01T00:00:00.000Z',
    },
    secret: googleSecret,
  });
  // Document 003's sample credential, with a caller-chosen UUID id.
  await native('PUT', `/v1/credentials/${SN_ID}`, {
    name: 'ServiceNow Production',
    type: 'oauth2',
    provider: 'servicenow',
    integration_id: 'servicenow-prod-001',
    description: 'OAuth credentials for ServiceNow ITSM production instance',
    config: {
      client_id: 'sn-client',
      token_endpoint: 'https://instance.service-now.com/oauth_token.do',
      authorization_endpoint: 'https://instance.service-now.com/oauth_auth.do',
      scopes: ['read', 'write'],
      access_token_expires_at: '2025-07-10T14:15:00.000Z',
    },
    secret: { client_secret: secretOf('sn'), access_token: SN_TOKEN, refresh_token: SN_REFRESH },
    metadata: { environment: 'production', instanceUrl: 'https://instance.service-now.com', version: 'tokyo' },
  });
});

after(async () => {
  await s.stop();
  // Nothing stored as a secret may appear in the logs or the data directory in clear.
  const haystacks = [Buffer.from(s.logs()), ...readTree(s.dataDir)];
  for (const secret of stored) {
    for (const h of haystacks) assert.equal(h.includes(secret), false, `secret ${secret.slice(0, 14)}… leaked`);
  }
});

// ================================================================================================
describe('service-credentials (document 000): GET /service-credentials/{type}/{id}', () => {
  it('answers the response sample field by field for an smtp credential', async () => {
    const r = await get(`${SC}/service-credentials/smtp/${smtp.id}`);
    assert.equal(r.status, 200, r.text);
    const b = r.body;
    assert.deepEqual(Object.keys(b), ['id', 'hash', 'status', 'deactivationTime', 'type', 'host', 'port', 'encryption', 'auth', '_links']);
    assert.equal(b.id, smtp.id);
    assert.ok(b.id.length <= 36);
    assert.equal(b.hash, b.id, 'hash (deprecated) mirrors id');
    assert.ok(['active', 'inactive', 'deactivated'].includes(b.status));
    assert.equal(b.deactivationTime, null);
    assert.equal(b.type, 'smtp');
    assert.equal(b.host, 'smtp.example.com');
    assert.equal(b.port, 587);
    assert.ok(Number.isInteger(b.port));
    assert.equal(b.encryption, 'tls');
    assert.deepEqual(b.auth, { type: 'login', username: 'mailer' });
    assert.deepEqual(b._links, [{ href: `${SC}/service-credentials/smtp/${smtp.id}`, rel: 'self' }]);
    assert.equal(r.text.includes('password'), false);
  });

  it('applies the document defaults (port 25, encryption none, auth.type none)', async () => {
    const c = await native('POST', '/v1/credentials', { name: 'Bare relay', type: 'smtp', config: { host: 'mx.example.com' } });
    const r = await get(`${SC}/service-credentials/smtp/${c.id}`);
    assert.equal(r.body.port, 25);
    assert.equal(r.body.encryption, 'none');
    assert.deepEqual(r.body.auth, { type: 'none' });
  });

  it('answers the request sample (webhook, service-credential-1) through the SDK call the document shows', async () => {
    await native('PUT', '/v1/credentials/service-credential-1', {
      name: 'Order hooks',
      type: 'webhook',
      config: { url: 'https://hooks.example.com/orders', auth_type: 'basic', username: 'hooks' },
      secret: { password: secretOf('hook') },
    });
    const api = new Latchkey({ baseUrl: s.url, apiKey: s.ownerKey });
    const credential = await api.serviceCredentials.get({ type: 'webhook', id: 'service-credential-1' });
    assert.equal(credential.fields.status, 'active');
    const f = credential.fields as Record<string, unknown>;
    assert.equal(f['id'], 'service-credential-1');
    assert.equal(f['hash'], 'service-credential-1');
    assert.equal(f['url'], 'https://hooks.example.com/orders');
    assert.deepEqual(f['auth'], { type: 'basic', username: 'hooks' });
    assert.equal(f['deactivationTime'], null);
  });

  it('shows a scheduled or past deactivation as deactivationTime', async () => {
    const c = await native('POST', '/v1/credentials', { name: 'Retiring relay', type: 'smtp', config: { host: 'old.example.com' } });
    await native('PATCH', `/v1/credentials/${c.id}`, { status: 'deactivated' });
    const r = await get(`${SC}/service-credentials/smtp/${c.id}`);
    assert.equal(r.body.status, 'deactivated');
    assert.match(r.body.deactivationTime, RFC3339);
  });

  it('404 when the type in the path is not the credential type, or the id does not exist', async () => {
    nativeError(await get(`${SC}/service-credentials/webhook/${smtp.id}`), 404, 'CREDENTIAL_NOT_FOUND');
    nativeError(await get(`${SC}/service-credentials/smtp/crd_01JD5Z6W9Y706QGCB39FQD380G`), 404, 'CREDENTIAL_NOT_FOUND');
    nativeError(await get(`${SC}/service-credentials/no-such-type/${smtp.id}`), 404, 'CREDENTIAL_NOT_FOUND');
  });

  it("404 (the document lists no 400) for a malformed id, and for a credential whose id is over the document's 36 characters", async () => {
    nativeError(await get(`${SC}/service-credentials/smtp/${'a'.repeat(51)}`), 404, 'CREDENTIAL_NOT_FOUND');
    nativeError(await get(`${SC}/service-credentials/smtp/bad%24id`), 404, 'CREDENTIAL_NOT_FOUND');
    nativeError(await get(`${SC}/service-credentials/${'t'.repeat(80)}/${smtp.id}`), 404, 'CREDENTIAL_NOT_FOUND');
    const body = (name: string) => ({
      name,
      type: 'smtp',
      config: { host: 'smtp.example.com', port: 587, encryption: 'tls', auth_type: 'login', username: 'u' },
      secret: { password: secretOf('sc-long') },
    });
    const long = `svc-${'x'.repeat(36)}`; // 40 characters: a valid native id, over the document's bound
    const fits = `svc-${'y'.repeat(32)}`; // 36 characters
    await native('PUT', `/v1/credentials/${long}`, body('Long Id Relay'));
    await native('PUT', `/v1/credentials/${fits}`, body('Fitting Id Relay'));
    nativeError(await get(`${SC}/service-credentials/smtp/${long}`), 404, 'CREDENTIAL_NOT_FOUND');
    const ok = await get(`${SC}/service-credentials/smtp/${fits}`);
    assert.equal(ok.status, 200, ok.text);
    assert.equal(ok.body.id, fits);
    assert.equal(ok.body.hash, fits);
    assert.ok(ok.body.id.length <= 36);
  });

  it('401 without or with a bad key, 403 for a tenant the key does not belong to', async () => {
    nativeError(await get(`${SC}/service-credentials/smtp/${smtp.id}`, null), 401, 'UNAUTHENTICATED');
    nativeError(await get(`${SC}/service-credentials/smtp/${smtp.id}`, 'lk_test_nope'), 401, 'UNAUTHENTICATED');
    nativeError(await get(`${SC}/service-credentials/smtp/${smtp.id}`, undefined, { 'x-tenant-id': tenantBId }), 403, 'FORBIDDEN');
  });
});

// ================================================================================================
describe('user-credentials (document 001): GET /api/v1/user_credentials/{credential_id}', () => {
  it('says in its OpenAPI document that id, team_id and folder_id are strings, and leaves test_credential out', async () => {
    const spec = await s.request('GET', '/openapi.json', { key: null });
    assert.equal(spec.status, 200);
    const path = Object.keys(spec.body.paths).find((p) => p.startsWith(`${UC}/api/v1/user_credentials/`));
    assert.ok(path, 'the dialect route is in the document');
    const schema = spec.body.paths[path].get.responses['200'].content['application/json'].schema;
    assert.equal(schema.properties.id.type, 'string');
    assert.match(schema.properties.id.description, /string.*not the integer/);
    for (const field of ['team_id', 'folder_id']) {
      assert.deepEqual(schema.properties[field].anyOf.map((t: any) => t.type).sort(), ['null', 'string']);
      assert.match(schema.properties[field].description, /not the integer/);
    }
    assert.equal('test_credential' in schema.properties, false);
    assert.match(schema.properties.test_credential_enabled.description, /secret/);
    const r = await get(`${UC}/api/v1/user_credentials/${smtp.id}`);
    assert.equal('test_credential' in r.body, false);
  });

  it('answers the request sample with the sample response fields', async () => {
    const team = await native('POST', '/v1/teams', { name: 'Tines Team' });
    const folder = await native('POST', '/v1/folders', { name: 'GitHub', team_id: team.id });
    const c = await native('POST', '/v1/credentials', {
      name: 'tines_github_credential',
      type: 'text',
      team_id: team.id,
      folder_id: folder.id,
      read_access: 'TEAM',
      secret: { value: secretOf('tines') },
      metadata: { account_domain: 'https://example.com' },
    });
    // curl -X GET …/api/v1/user_credentials/<<credential_id>> -H 'content-type: application/json' -H 'Authorization: Bearer …'
    const r = await get(`${UC}/api/v1/user_credentials/${c.id}`, undefined, { 'content-type': 'application/json' });
    assert.equal(r.status, 200, r.text);
    const b = r.body;
    assert.deepEqual(Object.keys(b).sort(), [
      'allowed_hosts',
      'aws_assumed_role_external_id',
      'aws_authentication_type',
      'created_at',
      'description',
      'folder_id',
      'id',
      'metadata',
      'mode',
      'name',
      'read_access',
      'shared_team_slugs',
      'slug',
      'team_id',
      'test_credential_enabled',
      'updated_at',
    ]);
    // Ids are Latchkey's string ids (the document's sample shows integers; docs/dialects.md).
    assert.equal(b.id, c.id);
    assert.equal(b.name, 'tines_github_credential');
    assert.equal(b.mode, 'TEXT');
    assert.equal(b.team_id, team.id);
    assert.equal(b.folder_id, folder.id);
    assert.equal(b.read_access, 'TEAM');
    assert.deepEqual(b.shared_team_slugs, []);
    assert.equal(b.slug, 'tines_github_credential');
    assert.match(b.created_at, RFC3339);
    assert.match(b.updated_at, RFC3339);
    assert.equal(b.description, '');
    assert.equal(b.aws_assumed_role_external_id, null);
    assert.equal(b.aws_authentication_type, null);
    assert.deepEqual(b.allowed_hosts, []);
    assert.deepEqual(b.metadata, { account_domain: 'https://example.com' });
    assert.equal(b.test_credential_enabled, false);
    assert.equal('secret' in b || 'test_credential' in b, false);
  });

  it('maps every native type onto a mode, with the AWS fields', async () => {
    const role = await native('POST', '/v1/credentials', {
      name: 'AWS role',
      type: 'aws',
      config: { authentication_type: 'ROLE', role_arn: 'arn:aws:iam::123456789012:role/deployer', external_id: 'ext-123' },
    });
    let r = await get(`${UC}/api/v1/user_credentials/${role.id}`);
    assert.equal(r.body.mode, 'AWS');
    assert.equal(r.body.aws_authentication_type, 'ROLE');
    assert.equal(r.body.aws_assumed_role_external_id, 'ext-123');
    const key = await native('POST', '/v1/credentials', {
      name: 'AWS key',
      type: 'aws',
      config: { access_key_id: 'AKIAABCDEFGHIJKLMNOP' },
      secret: { secret_access_key: secretOf('aws') },
    });
    r = await get(`${UC}/api/v1/user_credentials/${key.id}`);
    assert.equal(r.body.aws_authentication_type, 'KEY');
    assert.equal(r.body.aws_assumed_role_external_id, null);
    r = await get(`${UC}/api/v1/user_credentials/${google.id}`);
    assert.equal(r.body.mode, 'OAUTH');
    const jwt = await native('POST', '/v1/credentials', {
      name: 'Signer',
      type: 'jwt',
      config: { algorithm: 'HS256' },
      secret: { signing_key: secretOf('jwt') },
    });
    assert.equal((await get(`${UC}/api/v1/user_credentials/${jwt.id}`)).body.mode, 'JWT');
    const one = await native('POST', '/v1/credentials', {
      name: 'Token agent',
      type: 'http_request',
      config: { requests: [{ url: 'https://auth.example.com/token' }] },
    });
    assert.equal((await get(`${UC}/api/v1/user_credentials/${one.id}`)).body.mode, 'HTTP_REQUEST_AGENT');
    const chain = await native('POST', '/v1/credentials', {
      name: 'Token chain',
      type: 'http_request',
      config: { requests: [{ url: 'https://auth.example.com/a' }, { url: 'https://auth.example.com/b' }] },
    });
    assert.equal((await get(`${UC}/api/v1/user_credentials/${chain.id}`)).body.mode, 'MULTI_REQUEST');
    assert.equal((await get(`${UC}/api/v1/user_credentials/${smtp.id}`)).body.mode, 'TEXT');
  });

  it('401, 403 (another tenant), 404, 400', async () => {
    nativeError(await get(`${UC}/api/v1/user_credentials/${smtp.id}`, null), 401, 'UNAUTHENTICATED');
    nativeError(await get(`${UC}/api/v1/user_credentials/${smtp.id}`, undefined, { 'x-tenant-id': tenantBId }), 403, 'FORBIDDEN');
    nativeError(await get(`${UC}/api/v1/user_credentials/crd_nothing_here`), 404, 'CREDENTIAL_NOT_FOUND');
    nativeError(await get(`${UC}/api/v1/user_credentials/${'x'.repeat(51)}`), 400, 'INVALID_PARAMETER');
  });
});

// ================================================================================================
describe('account-credentials (document 002): /v1/credentials', () => {
  let made: any;

  it('POST (request sample) creates an smtp credential and shows its key once', async () => {
    const r = await s.request('POST', `${AC}/v1/credentials`, {
      headers: { 'content-type': 'application/json' },
      body: { name: 'My Credential', type: 'smtp' },
    });
    assert.equal(r.status, 201, r.text);
    noStore(r);
    made = r.body;
    assert.deepEqual(Object.keys(made), ['id', 'name', 'type', 'key', 'last_used_at', 'created_at', 'updated_at']);
    assert.equal(typeof made.id, 'string');
    assert.equal(made.name, 'My Credential');
    assert.equal(made.type, 'smtp');
    assert.match(made.key, /^em_[A-Za-z0-9_-]{43}$/);
    stored.push(made.key);
    assert.equal(made.last_used_at, null);
    assert.match(made.created_at, MICROS);
    assert.match(made.updated_at, MICROS);
    // The key is the native secret (revealed natively, audited), and is not shown again here.
    const rev = await native('GET', `/v1/credentials/${made.id}/secret`);
    assert.equal(rev.type, 'smtp');
    assert.equal(rev.secret.password, made.key);
    const again = await get(`${AC}/v1/credentials/${made.id}`);
    assert.equal(again.text.includes(made.key), false);
    assert.equal('key' in again.body, false);
  });

  it('POST type api is a native api_key with the key as its value', async () => {
    const r = await s.request('POST', `${AC}/v1/credentials`, { body: { name: 'Sender API', type: 'api' } });
    assert.equal(r.status, 201, r.text);
    stored.push(r.body.key);
    assert.equal(r.body.type, 'api');
    const n = await native('GET', `/v1/credentials/${r.body.id}/secret`);
    assert.equal(n.type, 'api_key');
    assert.equal(n.secret.value, r.body.key);
  });

  it('GET list (request sample, curl -G with the JSON object as query) filters by name and type', async () => {
    const sample = `{
     "per_page": 25,
     "page": 1,
     "filter[name]": "My Credential",
     "filter[type]": "smtp"
   }`;
    const r = await get(`${AC}/v1/credentials?${encodeURIComponent(sample)}`, undefined, { 'content-type': 'application/json' });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(Object.keys(r.body), ['data']);
    assert.ok(r.body.data.length >= 1);
    for (const item of r.body.data) {
      assert.deepEqual(Object.keys(item), ['id', 'name', 'type', 'last_used_at', 'created_at', 'updated_at']);
      assert.equal(item.type, 'smtp');
      assert.match(item.name.toLowerCase(), /my credential/);
      assert.ok(item.last_used_at === null || MICROS.test(item.last_used_at));
      assert.match(item.created_at, MICROS);
    }
    assert.ok(r.body.data.some((i: any) => i.id === made.id));
    // The same parameters as an ordinary query string.
    const q = await get(`${AC}/v1/credentials?per_page=25&page=1&filter%5Bname%5D=My%20Credential&filter%5Btype%5D=smtp`);
    assert.deepEqual(q.body, r.body);
  });

  it('lists only smtp and api credentials, newest first, 25 per page by default, with paging', async () => {
    for (let i = 0; i < 26; i++) {
      const r = await s.request('POST', `${AC}/v1/credentials`, { body: { name: `Bulk ${String(i).padStart(2, '0')}`, type: i % 2 ? 'smtp' : 'api' } });
      assert.equal(r.status, 201);
      stored.push(r.body.key);
    }
    const first = await get(`${AC}/v1/credentials`);
    assert.equal(first.body.data.length, 25);
    assert.ok(first.body.data.every((i: any) => i.type === 'smtp' || i.type === 'api'));
    assert.equal(first.body.data[0].name, 'Bulk 25');
    const times = first.body.data.map((i: any) => i.created_at);
    assert.deepEqual([...times].sort().reverse(), times);
    const second = await get(`${AC}/v1/credentials?page=2&per_page=25`);
    const ids = new Set(first.body.data.map((i: any) => i.id));
    assert.ok(second.body.data.length > 0);
    assert.ok(second.body.data.every((i: any) => !ids.has(i.id)));
    assert.ok(
      second.body.data.some((i: any) => i.id === smtp.id),
      'a native smtp credential is an account credential too',
    );
    const api = await get(`${AC}/v1/credentials?filter[type]=api&per_page=5`);
    assert.equal(api.body.data.length, 5);
    assert.ok(api.body.data.every((i: any) => i.type === 'api'));
    nativeError(await get(`${AC}/v1/credentials?filter[type]=oauth2`), 400, 'INVALID_PARAMETER');
    nativeError(await get(`${AC}/v1/credentials?per_page=101`), 400, 'INVALID_PARAMETER');
  });

  it('GET /v1/credentials/:id (request sample) answers the sample fields; other types are 404', async () => {
    const r = await get(`${AC}/v1/credentials/${made.id}`, undefined, { 'content-type': 'application/json' });
    assert.equal(r.status, 200);
    // last_used_at: the native reveal in the POST test used it.
    assert.match(r.body.last_used_at, MICROS);
    assert.deepEqual(r.body, {
      id: made.id,
      name: 'My Credential',
      type: 'smtp',
      last_used_at: r.body.last_used_at,
      created_at: made.created_at,
      updated_at: made.updated_at,
    });
    nativeError(await get(`${AC}/v1/credentials/${google.id}`), 404, 'CREDENTIAL_NOT_FOUND');
  });

  it('PUT /v1/credentials/:id (request sample) changes only the name', async () => {
    const same = await s.request('PUT', `${AC}/v1/credentials/${made.id}`, {
      headers: { 'content-type': 'application/json' },
      body: { name: 'My Credential' },
    });
    assert.equal(same.status, 200, same.text);
    assert.deepEqual(Object.keys(same.body), ['id', 'name', 'type', 'last_used_at', 'created_at', 'updated_at']);
    const renamed = await s.request('PUT', `${AC}/v1/credentials/${made.id}`, { body: { name: 'Renamed Credential' } });
    assert.equal(renamed.body.name, 'Renamed Credential');
    assert.equal((await native('GET', `/v1/credentials/${made.id}`)).name, 'Renamed Credential');
    const typeChange = await s.request('PUT', `${AC}/v1/credentials/${made.id}`, { body: { name: 'X', type: 'api' } });
    nativeError(typeChange, 422, 'VALIDATION_FAILED');
    nativeError(await s.request('PUT', `${AC}/v1/credentials/${google.id}`, { body: { name: 'Hijack' } }), 404, 'CREDENTIAL_NOT_FOUND');
  });

  it('POST refuses other types and unknown fields', async () => {
    nativeError(await s.request('POST', `${AC}/v1/credentials`, { body: { name: 'OAuth', type: 'oauth2' } }), 422, 'VALIDATION_FAILED');
    nativeError(await s.request('POST', `${AC}/v1/credentials`, { body: { name: 'Keyed', type: 'api', key: 'em_chosen' } }), 422, 'VALIDATION_FAILED');
  });

  it('DELETE (request sample) soft-deletes, and never the last credential of the account', async () => {
    const c = await native('POST', '/v1/tenants', { name: 'Dialects tenant C' });
    const key = c.owner_access_key.key;
    const one = await s.request('POST', `${AC}/v1/credentials`, { key, body: { name: 'Only one', type: 'api' } });
    stored.push(one.body.key);
    const refused = await s.request('DELETE', `${AC}/v1/credentials/${one.body.id}`, { key, headers: { 'content-type': 'application/json' } });
    nativeError(refused, 409, 'CONFLICT');
    const two = await s.request('POST', `${AC}/v1/credentials`, { key, body: { name: 'Second', type: 'smtp' } });
    stored.push(two.body.key);
    const del = await s.request('DELETE', `${AC}/v1/credentials/${one.body.id}`, { key, headers: { 'content-type': 'application/json' } });
    assert.equal(del.status, 204, del.text);
    nativeError(await get(`${AC}/v1/credentials/${one.body.id}`, key), 404, 'CREDENTIAL_NOT_FOUND');
    nativeError(await get(`/v1/credentials/${one.body.id}`, key), 404, 'CREDENTIAL_NOT_FOUND');
    nativeError(await s.request('DELETE', `${AC}/v1/credentials/${two.body.id}`, { key }), 409, 'CONFLICT');
  });

  it('401 without a key; roles: viewer reads but cannot create, member cannot delete', async () => {
    nativeError(await get(`${AC}/v1/credentials`, null), 401, 'UNAUTHENTICATED');
    assert.equal((await get(`${AC}/v1/credentials`, keys['viewer'])).status, 200);
    nativeError(await s.request('POST', `${AC}/v1/credentials`, { key: keys['viewer'], body: { name: 'Viewer made', type: 'api' } }), 403, 'FORBIDDEN');
    // A member writes only under one of its teams; this dialect names none, and this member has none.
    const loose = await s.request('POST', `${AC}/v1/credentials`, { key: keys['member'], body: { name: 'Member made', type: 'api' } });
    nativeError(loose, 422, 'VALIDATION_FAILED');
    assert.equal(loose.body.error.details[0].path, 'team_id');
    const m = await s.request('POST', `${AC}/v1/credentials`, { body: { name: 'Owner made', type: 'api' } });
    assert.equal(m.status, 201);
    stored.push(m.body.key);
    nativeError(await s.request('DELETE', `${AC}/v1/credentials/${m.body.id}`, { key: keys['member'] }), 403, 'FORBIDDEN');
    nativeError(await s.request('PUT', `${AC}/v1/credentials/${m.body.id}`, { key: keys['viewer'], body: { name: 'Nope' } }), 403, 'FORBIDDEN');
  });
});

// ================================================================================================
describe('integration-credentials (document 003): GET /api/v1/credentials/{integrationId}', () => {
  const SAMPLE_KEYS = [
    'id',
    'integrationId',
    'credentialName',
    'description',
    'authType',
    'scopes',
    'tokenEndpoint',
    'authorizationEndpoint',
    'accessToken',
    'refreshToken',
    'metadata',
    'status',
    'expiresAt',
    'createdAt',
    'createdBy',
    'lastAccessedAt',
    'tenant',
  ];

  function checkSample(r: ApiResponse) {
    assert.equal(r.status, 200, r.text);
    noStore(r);
    assert.deepEqual(Object.keys(r.body), ['success', 'message', 'data', 'timestamp']);
    assert.equal(r.body.success, true);
    assert.equal(r.body.message, 'Credentials retrieved successfully');
    assert.match(r.body.timestamp, RFC3339);
    const d = r.body.data;
    assert.deepEqual(Object.keys(d), SAMPLE_KEYS);
    assert.equal(d.id, `cred-${SN_ID}`);
    assert.equal(d.integrationId, 'servicenow-prod-001');
    assert.equal(d.credentialName, 'ServiceNow Production');
    assert.equal(d.description, 'OAuth credentials for ServiceNow ITSM production instance');
    assert.equal(d.authType, 'oauth2_bearer');
    assert.deepEqual(d.scopes, ['read', 'write']);
    assert.equal(d.tokenEndpoint, 'https://instance.service-now.com/oauth_token.do');
    assert.equal(d.authorizationEndpoint, 'https://instance.service-now.com/oauth_auth.do');
    assert.equal(d.accessToken, SN_TOKEN);
    assert.equal(d.refreshToken, SN_REFRESH);
    assert.deepEqual(d.metadata, { environment: 'production', instanceUrl: 'https://instance.service-now.com', version: 'tokyo' });
    assert.equal(d.status, 'active');
    assert.equal(d.expiresAt, '2025-07-10T14:15:00.000Z');
    assert.match(d.createdAt, RFC3339);
    assert.deepEqual(Object.keys(d.createdBy), ['id', 'name', 'email']);
    assert.equal(typeof d.createdBy.id, 'string');
    assert.equal(typeof d.createdBy.name, 'string');
    assert.ok(d.createdBy.email === null || typeof d.createdBy.email === 'string');
    assert.match(d.lastAccessedAt, RFC3339);
    assert.deepEqual(d.tenant, { id: tenantA.uuid, name: tenantA.name });
    assert.equal('client_secret' in d || 'clientSecret' in d, false);
  }

  it('answers the request sample (no credentialId) as the response sample', async () => {
    // curl --request GET --url '{{base_url}}/api/v1/credentials/servicenow-prod-001' --header 'accept: application/json'
    //   --header 'authorization: Bearer {{access_token}}' --header 'x-tenantid: {{tenant_id}}'
    checkSample(await ic('/api/v1/credentials/servicenow-prod-001'));
  });

  it('answers the request sample with credentialId=cred-550e8400-…', async () => {
    checkSample(await ic('/api/v1/credentials/servicenow-prod-001?credentialId=cred-550e8400-e29b-41d4-a716-446655440001'));
    checkSample(await ic(`/api/v1/credentials/servicenow-prod-001?credentialId=${SN_ID}`));
  });

  it('addresses a server-made crd_<ULID> credential by the UUID view of its ULID', async () => {
    const u = uuidOf(google.id);
    assert.match(u, UUID);
    const r = await ic(`/api/v1/credentials/gdrive-1?credentialId=cred-${u}`);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.data.id, `cred-${u}`);
    assert.equal(r.body.data.accessToken, googleSecret.access_token);
  });

  it('is audited (credential.reveal) and updates lastAccessedAt / last_used_at', async () => {
    const r = await ic('/api/v1/credentials/servicenow-prod-001');
    const events = await native('GET', `/v1/audit-events?filter[credential_id]=${SN_ID}&filter[action]=credential.reveal`);
    assert.ok(events.data.some((e: any) => e.request_id === r.headers.get('x-request-id')));
    const n = await native('GET', `/v1/credentials/${SN_ID}`);
    assert.equal(n.last_used_at, r.body.data.lastAccessedAt);
  });

  it('404 CREDENTIAL_NOT_FOUND as the error sample', async () => {
    const r = await ic('/api/v1/credentials/servicenow-prod-999');
    icError(r, 404, 'CREDENTIAL_NOT_FOUND');
    assert.deepEqual(r.body.error, {
      code: 'CREDENTIAL_NOT_FOUND',
      message: 'Credential not found',
      details: 'No credential exists for integration ID: servicenow-prod-999',
    });
    // A credential of another integration, or an unknown UUID, is the same 404.
    icError(await ic(`/api/v1/credentials/servicenow-prod-001?credentialId=cred-${uuidOf(google.id)}`), 404, 'CREDENTIAL_NOT_FOUND');
    icError(await ic('/api/v1/credentials/servicenow-prod-001?credentialId=00000000-0000-0000-0000-000000000000'), 404, 'CREDENTIAL_NOT_FOUND');
  });

  it('400 INVALID_PARAMETER as the error sample for a credentialId that is not a UUID, and for a bad integrationId', async () => {
    const r = await ic('/api/v1/credentials/servicenow-prod-001?credentialId=cred-not%20a%20uuid');
    icError(r, 400, 'INVALID_PARAMETER');
    assert.deepEqual(r.body.error, { code: 'INVALID_PARAMETER', message: 'Invalid credentialId format', details: 'credentialId must be a valid UUID' });
    icError(await ic(`/api/v1/credentials/servicenow-prod-001?credentialId=${'crd_'}${google.id.slice(4)}`), 400, 'INVALID_PARAMETER');
    const bad = await ic(`/api/v1/credentials/${'i'.repeat(51)}`);
    icError(bad, 400, 'INVALID_PARAMETER');
    assert.equal(bad.body.error.message, 'Invalid integrationId format');
    icError(await ic('/api/v1/credentials/servicenow-prod-001', undefined, ''), 400, 'INVALID_PARAMETER');
  });

  it("401 in this dialect's shape for a missing, malformed or unknown token", async () => {
    for (const key of [null, 'garbage', 'lk_live_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA']) {
      const r = await ic('/api/v1/credentials/servicenow-prod-001', key);
      icError(r, 401, 'UNAUTHENTICATED');
      assert.equal(r.body.error.message, 'Authentication failed');
    }
  });

  it('403 for roles without credentials:reveal, and for an x-tenantid the key does not belong to', async () => {
    for (const role of ['admin', 'member', 'viewer']) {
      const r = await ic('/api/v1/credentials/servicenow-prod-001', keys[role]);
      icError(r, 403, 'FORBIDDEN');
      assert.equal(r.body.error.message, 'Insufficient permissions');
      assert.equal(r.text.includes(SN_TOKEN), false);
    }
    for (const role of ['integration_admin', 'service']) checkSample(await ic('/api/v1/credentials/servicenow-prod-001', keys[role]));
    icError(await ic('/api/v1/credentials/servicenow-prod-001', undefined, uuidOf(tenantBId)), 403, 'FORBIDDEN');
    icError(await ic('/api/v1/credentials/servicenow-prod-001', undefined, tenantBId), 403, 'FORBIDDEN');
    icError(await ic('/api/v1/credentials/servicenow-prod-001', undefined, '11111111-2222-3333-4444-555555555555'), 403, 'FORBIDDEN');
    // The native tenant id is accepted as well as its UUID view.
    assert.equal((await ic('/api/v1/credentials/servicenow-prod-001', undefined, tenantA.id)).status, 200);
  });

  it("another tenant sees none of this tenant's credentials (404), with its own x-tenantid", async () => {
    const r = await ic(`/api/v1/credentials/servicenow-prod-001?credentialId=cred-${SN_ID}`, tenantBKey, uuidOf(tenantBId));
    icError(r, 404, 'CREDENTIAL_NOT_FOUND');
    icError(await ic('/api/v1/credentials/gdrive-1', tenantBKey, uuidOf(tenantBId)), 404, 'CREDENTIAL_NOT_FOUND');
  });

  it('answers an inactive credential with its status, audited like any reveal', async () => {
    const c = await native('POST', '/v1/credentials', {
      name: 'Paused SN',
      type: 'text',
      integration_id: 'paused-int',
      secret: { value: secretOf('paused') },
      status: 'inactive',
    });
    const r = await ic(`/api/v1/credentials/paused-int?credentialId=cred-${uuidOf(c.id)}`);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.data.status, 'inactive');
    const events = await native('GET', `/v1/audit-events?filter[credential_id]=${c.id}&filter[action]=credential.reveal`);
    assert.ok(events.data.some((e: any) => e.request_id === r.headers.get('x-request-id')));
  });

  it("500 in this dialect's shape when a secret cannot be opened, with nothing of it in the body", async () => {
    const victim = await native('POST', '/v1/credentials', {
      name: 'Broken',
      type: 'text',
      integration_id: 'broken-int',
      secret: { value: secretOf('broken') },
    });
    const donor = await native('POST', '/v1/credentials', { name: 'Donor', type: 'text', secret: { value: secretOf('donor') } });
    const conn = await s.sql();
    const blob = (await conn.get<{ secret: Buffer }>('SELECT secret FROM credential_versions WHERE credential_id = ?', donor.id))!.secret;
    await conn.run('UPDATE credential_versions SET secret = ? WHERE credential_id = ?', blob, victim.id);
    await conn.close();
    const r = await ic('/api/v1/credentials/broken-int');
    icError(r, 500, 'INTERNAL');
    assert.equal(r.body.error.message, 'Server error');
    const m = await get(`${IM}/integrations/credentials/${uuidOf(victim.id)}/credentials`, keys['service']);
    // Not an integration-metadata provider type, so it does not exist there; see the metadata suite for its 500.
    imError(m, 404, 'CREDENTIAL_NOT_FOUND');
  });
});

describe('integration-credentials: POST, PATCH, DELETE, rotate', () => {
  let created: any;

  it('POST /api/v1/credentials stores an OAuth2 credential and answers without its tokens', async () => {
    const access = secretOf('ic-access');
    const r = await icWrite('POST', '/api/v1/credentials', {
      integrationId: 'jira-prod',
      credentialName: 'Jira Production',
      description: 'Jira OAuth',
      authType: 'oauth2_bearer',
      scopes: ['read:jira-work'],
      tokenEndpoint: 'https://auth.atlassian.com/oauth/token',
      authorizationEndpoint: 'https://auth.atlassian.com/authorize',
      clientId: 'jira-client',
      clientSecret: secretOf('ic-client'),
      accessToken: access,
      refreshToken: secretOf('ic-refresh'),
      metadata: { environment: 'production' },
      expiresAt: '2031-01-01T00:00:00.000Z',
    });
    assert.equal(r.status, 201, r.text);
    assert.equal(r.body.success, true);
    assert.equal(r.body.message, 'Credential created successfully');
    created = r.body.data;
    assert.match(created.id, /^cred-[0-9a-f-]{36}$/);
    assert.equal(created.authType, 'oauth2_bearer');
    assert.equal(created.expiresAt, '2031-01-01T00:00:00.000Z');
    assert.equal('accessToken' in created, false);
    assert.equal(r.text.includes(access), false);
    const back = await ic(`/api/v1/credentials/jira-prod?credentialId=${created.id}`);
    assert.equal(back.body.data.accessToken, access);
    // Natively it is an oauth2 credential whose crd_<ULID> id is the UUID in cred-<uuid>.
    const n = (await native('GET', '/v1/integrations/jira-prod/credentials')).data[0];
    assert.equal(`cred-${uuidOf(n.id)}`, created.id);
    assert.equal(n.type, 'oauth2');
    assert.equal(n.config.grant_type, 'authorization_code');
    assert.equal(n.config.client_id, 'jira-client');
    assert.deepEqual(n.secret_fields.sort(), ['access_token', 'client_secret', 'refresh_token']);
  });

  it('POST an api_key with no token: the server makes one and shows it once, not cached', async () => {
    const r = await icWrite('POST', '/api/v1/credentials', { integrationId: 'maps-api', credentialName: 'Maps key', authType: 'api_key' });
    assert.equal(r.status, 201, r.text);
    noStore(r);
    assert.equal(typeof r.body.data.accessToken, 'string');
    assert.equal(r.body.data.refreshToken, null);
    stored.push(r.body.data.accessToken);
  });

  it('POST validation: missing clientId for oauth2 and fields that do not apply are 422 in the dialect names', async () => {
    const r = await icWrite('POST', '/api/v1/credentials', {
      integrationId: 'x-int',
      credentialName: 'No client',
      authType: 'oauth2_bearer',
      tokenEndpoint: 'https://auth.example.com/token',
    });
    icError(r, 422, 'VALIDATION_FAILED');
    assert.ok(r.body.error.details.some((d: any) => d.path === 'clientId'));
    const wrong = await icWrite('POST', '/api/v1/credentials', {
      integrationId: 'x-int',
      credentialName: 'Key with endpoint',
      authType: 'api_key',
      tokenEndpoint: 'https://a.example.com/t',
    });
    icError(wrong, 422, 'VALIDATION_FAILED');
    assert.deepEqual(
      wrong.body.error.details.map((d: any) => d.path),
      ['tokenEndpoint'],
    );
    icError(
      await icWrite('POST', '/api/v1/credentials', { integrationId: 'x-int', credentialName: 'Extra', authType: 'text', tenant_id: 'ten_x' }),
      422,
      'VALIDATION_FAILED',
    );
    icError(
      await icWrite('POST', '/api/v1/credentials', { integrationId: 'x-int', credentialName: 'Viewer', authType: 'text' }, keys['viewer']),
      403,
      'FORBIDDEN',
    );
  });

  it('PATCH /api/v1/credentials/{credentialId} updates fields and merges new tokens', async () => {
    const access = secretOf('ic-access-2');
    const r = await icWrite('PATCH', `/api/v1/credentials/${created.id}`, {
      description: 'Jira OAuth (rotated by hand)',
      accessToken: access,
      scopes: ['read:jira-work', 'write:jira-work'],
    });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.message, 'Credential updated successfully');
    assert.equal(r.body.data.description, 'Jira OAuth (rotated by hand)');
    assert.deepEqual(r.body.data.scopes, ['read:jira-work', 'write:jira-work']);
    assert.equal(r.text.includes(access), false);
    const back = await ic(`/api/v1/credentials/jira-prod?credentialId=${created.id}`);
    assert.equal(back.body.data.accessToken, access);
    assert.equal(typeof back.body.data.refreshToken, 'string', 'the refresh token was kept');
    icError(await icWrite('PATCH', '/api/v1/credentials/not%20a%20uuid', { description: 'x' }), 400, 'INVALID_PARAMETER');
    icError(
      await icWrite('PATCH', `/api/v1/credentials/cred-${uuidOf(google.id)}`, { description: 'x' }, tenantBKey, uuidOf(tenantBId)),
      404,
      'CREDENTIAL_NOT_FOUND',
    );
  });

  it('POST /api/v1/credentials/{credentialId}/rotate makes a new version with the new tokens', async () => {
    const access = secretOf('ic-rotated');
    const before = await native('GET', `/v1/credentials/${SN_ID}`);
    const r = await icWrite('POST', `/api/v1/credentials/cred-${SN_ID}/rotate`, {
      accessToken: access,
      refreshToken: secretOf('ic-rotated-r'),
      clientSecret: secretOf('ic-rotated-c'),
    });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.message, 'Credential rotated successfully');
    const after = await native('GET', `/v1/credentials/${SN_ID}`);
    assert.equal(after.version, before.version + 1);
    assert.equal((await ic('/api/v1/credentials/servicenow-prod-001')).body.data.accessToken, access);
    const versions = await native('GET', `/v1/credentials/${SN_ID}/versions`);
    assert.equal(versions.data[1].stage, 'previous');
    icError(await icWrite('POST', `/api/v1/credentials/cred-${SN_ID}/rotate`, { accessToken: 'x' }, keys['member']), 403, 'FORBIDDEN');
  });

  it('rotate with an empty body lets a generatable type make its own token (shown once)', async () => {
    const made = await icWrite('POST', '/api/v1/credentials', { integrationId: 'rot-int', credentialName: 'Rotating key', authType: 'api_key' });
    stored.push(made.body.data.accessToken);
    const r = await icWrite('POST', `/api/v1/credentials/${made.body.data.id}/rotate`);
    assert.equal(r.status, 200, r.text);
    noStore(r);
    assert.notEqual(r.body.data.accessToken, made.body.data.accessToken);
    stored.push(r.body.data.accessToken);
  });

  it('DELETE /api/v1/credentials/{credentialId} soft-deletes: it then answers 404 everywhere', async () => {
    const r = await icWrite('DELETE', `/api/v1/credentials/${created.id}`);
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.body.data, { id: created.id });
    icError(await ic(`/api/v1/credentials/jira-prod?credentialId=${created.id}`), 404, 'CREDENTIAL_NOT_FOUND');
    icError(await icWrite('DELETE', `/api/v1/credentials/${created.id}`), 404, 'CREDENTIAL_NOT_FOUND');
    icError(await icWrite('DELETE', `/api/v1/credentials/cred-${SN_ID}`, undefined, keys['member']), 403, 'FORBIDDEN');
  });
});

// ================================================================================================
describe('integration-metadata (document 004): /integrations/credentials', () => {
  let sftp: any;
  before(async () => {
    sftp = await native('POST', '/v1/credentials', {
      name: 'Partner SFTP',
      type: 'sftp',
      config: { host: 'sftp.example.com', username: 'partner' },
      secret: { password: secretOf('sftp') },
    });
  });

  function checkMetadata(b: any) {
    // OAuth providers add token_expires_at (the document's notes: token expiration metadata).
    const oauth = ['google', 'microsoft', 'sharepoint'].includes(b.provider);
    assert.deepEqual(Object.keys(b).sort(), [
      'created_at',
      'google_email',
      'id',
      'modified_by',
      'provider',
      ...(oauth ? ['token_expires_at'] : []),
      'updated_at',
      'user_id',
    ]);
    assert.match(b.id, UUID);
    assert.match(b.created_at, RFC3339);
    assert.match(b.updated_at, RFC3339);
    assert.equal(typeof b.modified_by, 'string');
    assert.ok(['microsoft', 'sharepoint', 'sftp', 'aws_ses', 'google', 'postgresql', 'internal_postgresql'].includes(b.provider));
    assert.ok(b.google_email === null || typeof b.google_email === 'string');
    assert.equal(b.user_id, null);
  }

  it('GET /integrations/credentials/{credential_id} answers the response attributes (metadata only)', async () => {
    const r = await get(`${IM}/integrations/credentials/${uuidOf(sftp.id)}`);
    assert.equal(r.status, 200, r.text);
    checkMetadata(r.body);
    assert.equal(r.body.id, uuidOf(sftp.id));
    assert.equal(r.body.provider, 'sftp');
    assert.equal(r.body.google_email, null);
    assert.equal(r.body.modified_by, sftp.modified_by.id);
    const g = await get(`${IM}/integrations/credentials/${uuidOf(google.id).toUpperCase()}`);
    checkMetadata(g.body);
    assert.equal(g.body.provider, 'google');
    assert.equal(g.body.google_email, 'ops@example.com');
    assert.equal(g.text.includes(googleSecret.access_token), false);
  });

  it('GET /integrations/credentials lists only credentials with a provider, newest first', async () => {
    const r = await get(`${IM}/integrations/credentials`);
    assert.equal(r.status, 200);
    assert.ok(Array.isArray(r.body));
    r.body.forEach(checkMetadata);
    const ids = r.body.map((b: any) => b.id);
    assert.ok(ids.includes(uuidOf(sftp.id)) && ids.includes(uuidOf(google.id)));
    assert.equal(ids.includes(SN_ID), false, 'servicenow is not a provider of this document');
    assert.equal(ids.includes(uuidOf(smtp.id)), false);
    assert.equal(ids[0], uuidOf(sftp.id));
  });

  it('400 "Invalid credential ID" for a credential_id that is not a UUID; 404 for unknown and non-provider ones', async () => {
    const r = await get(`${IM}/integrations/credentials/${sftp.id}`);
    imError(r, 400, 'INVALID_PARAMETER');
    assert.equal(r.body.error.message, 'Invalid credential ID');
    imError(await get(`${IM}/integrations/credentials/00000000-0000-0000-0000-000000000000`), 404, 'CREDENTIAL_NOT_FOUND');
    imError(await get(`${IM}/integrations/credentials/${uuidOf(smtp.id)}`), 404, 'CREDENTIAL_NOT_FOUND');
  });

  it("401 and 403 in this dialect's error shape", async () => {
    imError(await get(`${IM}/integrations/credentials/${uuidOf(sftp.id)}`, null), 401, 'UNAUTHENTICATED');
    imError(await get(`${IM}/integrations/credentials`, 'lk_live_nope'), 401, 'UNAUTHENTICATED');
    imError(await get(`${IM}/integrations/credentials/${uuidOf(sftp.id)}`, undefined, { 'x-tenant-id': tenantBId }), 403, 'FORBIDDEN');
  });

  it('422 { detail: [{ loc, msg, type }] } for an invalid PATCH body', async () => {
    const url = `${IM}/integrations/credentials/${uuidOf(sftp.id)}`;
    let r = await s.request('PATCH', url, { body: { credentials: { password: 'x' }, provider: 'google' } });
    assert.equal(r.status, 422, r.text);
    assert.deepEqual(r.body, { detail: [{ loc: ['body', 'provider'], msg: 'Extra inputs are not permitted', type: 'extra_forbidden' }] });
    r = await s.request('PATCH', url, { body: {} });
    assert.deepEqual(r.body.detail, [{ loc: ['body', 'credentials'], msg: 'Field required', type: 'missing' }]);
    r = await s.request('PATCH', url, { body: { credentials: { shell: '/bin/sh' } } });
    assert.deepEqual(r.body.detail, [{ loc: ['body', 'credentials', 'shell'], msg: 'Extra inputs are not permitted', type: 'extra_forbidden' }]);
    r = await s.request('PATCH', url, { body: { credentials: { port: 70000 } } });
    assert.equal(r.status, 422);
    assert.deepEqual(r.body.detail[0].loc, ['body', 'credentials', 'port']);
    r = await s.request('PATCH', url, { rawBody: '{"credentials": ', headers: { 'content-type': 'application/json' } });
    assert.equal(r.status, 422);
    assert.equal(r.body.detail[0].type, 'json_invalid');
  });

  it('PATCH updates config and secret fields (a new secret version) and answers metadata', async () => {
    const password = secretOf('sftp-2');
    const r = await s.request('PATCH', `${IM}/integrations/credentials/${uuidOf(sftp.id)}`, { body: { credentials: { port: 2222, password } } });
    assert.equal(r.status, 200, r.text);
    checkMetadata(r.body);
    assert.equal(r.text.includes(password), false);
    const n = await native('GET', `/v1/credentials/${sftp.id}/secret`);
    assert.equal(n.config.port, 2222);
    assert.equal(n.secret.password, password);
    assert.equal(n.version, 2);
    imError(
      await s.request('PATCH', `${IM}/integrations/credentials/${uuidOf(sftp.id)}`, { key: keys['viewer'], body: { credentials: { port: 22 } } }),
      403,
      'FORBIDDEN',
    );
  });

  it('GET …/{credential_id}/credentials gives secrets to service principals only, audited and not cached', async () => {
    const url = `${IM}/integrations/credentials/${uuidOf(google.id)}/credentials`;
    const r = await get(url, keys['service']);
    assert.equal(r.status, 200, r.text);
    noStore(r);
    assert.equal(r.body.provider, 'google');
    assert.equal(r.body.credentials.access_token, googleSecret.access_token);
    assert.equal(r.body.credentials.client_id, 'drive-client');
    const events = await native('GET', `/v1/audit-events?filter[credential_id]=${google.id}&filter[action]=credential.reveal`);
    assert.ok(events.data.some((e: any) => e.request_id === r.headers.get('x-request-id') && e.outcome === 'success'));
    for (const role of ['owner', 'admin', 'integration_admin', 'member', 'viewer']) {
      const denied = await get(url, role === 'owner' ? undefined : keys[role]);
      imError(denied, 403, 'FORBIDDEN');
      assert.equal(denied.text.includes(googleSecret.access_token), false);
    }
    imError(await get(`${IM}/integrations/credentials/${google.id}/credentials`, keys['service']), 400, 'INVALID_PARAMETER');
  });

  it("500 in this dialect's shape when a secret cannot be opened", async () => {
    const victim = await native('POST', '/v1/credentials', {
      name: 'Broken SFTP',
      type: 'sftp',
      config: { host: 'b.example.com', username: 'u' },
      secret: { password: secretOf('b-sftp') },
    });
    const conn = await s.sql();
    const blob = (await conn.get<{ secret: Buffer }>('SELECT secret FROM credential_versions WHERE credential_id = ?', smtp.id))!.secret;
    await conn.run('UPDATE credential_versions SET secret = ? WHERE credential_id = ?', blob, victim.id);
    await conn.close();
    imError(await get(`${IM}/integrations/credentials/${uuidOf(victim.id)}/credentials`, keys['service']), 500, 'INTERNAL');
  });

  it('DELETE soft-deletes: the credential then answers 404 (and is restorable natively)', async () => {
    const c = await native('POST', '/v1/credentials', {
      name: 'Warehouse',
      type: 'postgresql',
      config: { host: 'db.example.com', database: 'wh', username: 'etl' },
    });
    const r = await s.request('DELETE', `${IM}/integrations/credentials/${uuidOf(c.id)}`);
    assert.equal(r.status, 204, r.text);
    imError(await get(`${IM}/integrations/credentials/${uuidOf(c.id)}`), 404, 'CREDENTIAL_NOT_FOUND');
    assert.equal(
      (await get(`${IM}/integrations/credentials`)).body.some((b: any) => b.id === uuidOf(c.id)),
      false,
    );
    await native('POST', `/v1/credentials/${c.id}/restore`);
    assert.equal((await get(`${IM}/integrations/credentials/${uuidOf(c.id)}`)).body.provider, 'postgresql');
    imError(await s.request('DELETE', `${IM}/integrations/credentials/${uuidOf(c.id)}`, { key: keys['member'] }), 403, 'FORBIDDEN');
  });

  it("another tenant sees none of this tenant's credentials", async () => {
    imError(await get(`${IM}/integrations/credentials/${uuidOf(google.id)}`, tenantBKey), 404, 'CREDENTIAL_NOT_FOUND');
    const list = await get(`${IM}/integrations/credentials`, tenantBKey);
    assert.deepEqual(list.body, []);
  });
});

// ================================================================================================
describe('the same credential through the native API and every dialect that can see it', () => {
  it('smtp: native, service-credentials, user-credentials, account-credentials, integration-credentials', async () => {
    const n = await native('GET', `/v1/credentials/${smtp.id}`);
    const sc = (await get(`${SC}/service-credentials/smtp/${smtp.id}`)).body;
    assert.deepEqual(
      {
        id: sc.id,
        status: sc.status,
        deactivationTime: sc.deactivationTime,
        type: sc.type,
        host: sc.host,
        port: sc.port,
        encryption: sc.encryption,
        auth: sc.auth,
      },
      {
        id: n.id,
        status: n.status,
        deactivationTime: n.deactivation_time,
        type: n.type,
        host: n.config.host,
        port: n.config.port,
        encryption: n.config.encryption,
        auth: { type: n.config.auth_type, username: n.config.username },
      },
    );
    const uc = (await get(`${UC}/api/v1/user_credentials/${smtp.id}`)).body;
    for (const f of [
      'id',
      'name',
      'slug',
      'team_id',
      'folder_id',
      'read_access',
      'shared_team_slugs',
      'description',
      'allowed_hosts',
      'metadata',
      'test_credential_enabled',
      'created_at',
      'updated_at',
    ]) {
      assert.deepEqual(uc[f], n[f], f);
    }
    const ac = (await get(`${AC}/v1/credentials/${smtp.id}`)).body;
    assert.deepEqual(ac, {
      id: n.id,
      name: n.name,
      type: 'smtp',
      last_used_at: n.last_used_at === null ? null : n.last_used_at.replace('Z', '000Z'),
      created_at: n.created_at.replace('Z', '000Z'),
      updated_at: n.updated_at.replace('Z', '000Z'),
    });
    const icr = (await ic(`/api/v1/credentials/mail-relay?credentialId=cred-${uuidOf(smtp.id)}`)).body.data;
    const after = await native('GET', `/v1/credentials/${smtp.id}`);
    assert.deepEqual(
      {
        integrationId: icr.integrationId,
        credentialName: icr.credentialName,
        description: icr.description,
        metadata: icr.metadata,
        status: icr.status,
        createdAt: icr.createdAt,
        lastAccessedAt: icr.lastAccessedAt,
        createdBy: icr.createdBy,
      },
      {
        integrationId: after.integration_id,
        credentialName: after.name,
        description: after.description,
        metadata: after.metadata,
        status: after.status,
        createdAt: after.created_at,
        lastAccessedAt: after.last_used_at,
        createdBy: after.created_by,
      },
    );
  });

  it('oauth2/google: native (with reveal), service-credentials, user-credentials, integration-credentials, integration-metadata', async () => {
    const n = await native('GET', `/v1/credentials/${google.id}/secret`);
    const sc = (await get(`${SC}/service-credentials/oauth2/${google.id}`)).body;
    assert.equal(sc.clientId, n.config.client_id);
    assert.equal(sc.tokenEndpoint, n.config.token_endpoint);
    assert.deepEqual(sc.scopes, n.config.scopes);
    assert.deepEqual(sc.account, n.config.account);
    assert.equal(JSON.stringify(sc).includes(googleSecret.access_token), false);
    const uc = (await get(`${UC}/api/v1/user_credentials/${google.id}`)).body;
    assert.equal(uc.name, n.name);
    assert.equal(uc.mode, 'OAUTH');
    const icr = (await ic(`/api/v1/credentials/gdrive-1`)).body.data;
    assert.deepEqual(
      {
        scopes: icr.scopes,
        tokenEndpoint: icr.tokenEndpoint,
        authorizationEndpoint: icr.authorizationEndpoint,
        accessToken: icr.accessToken,
        refreshToken: icr.refreshToken,
        expiresAt: icr.expiresAt,
      },
      {
        scopes: n.config.scopes,
        tokenEndpoint: n.config.token_endpoint,
        authorizationEndpoint: n.config.authorization_endpoint,
        accessToken: n.secret.access_token,
        refreshToken: n.secret.refresh_token,
        expiresAt: n.config.access_token_expires_at,
      },
    );
    const latest = await native('GET', `/v1/credentials/${google.id}`);
    const im = (await get(`${IM}/integrations/credentials/${uuidOf(google.id)}`)).body;
    assert.deepEqual(im, {
      created_at: latest.created_at,
      google_email: latest.config.account.email,
      id: uuidOf(latest.id),
      modified_by: latest.modified_by.id,
      provider: latest.provider,
      updated_at: latest.updated_at,
      user_id: null,
      token_expires_at: latest.config.access_token_expires_at,
    });
    const secrets = (await get(`${IM}/integrations/credentials/${uuidOf(google.id)}/credentials`, keys['service'])).body.credentials;
    assert.deepEqual(secrets, { ...n.config, ...n.secret });
  });
});

// ================================================================================================
describe('tenancy and teams through every dialect', () => {
  it("another tenant's key finds nothing of this tenant through any dialect", async () => {
    nativeError(await get(`${SC}/service-credentials/smtp/${smtp.id}`, tenantBKey), 404, 'CREDENTIAL_NOT_FOUND');
    nativeError(await get(`${UC}/api/v1/user_credentials/${smtp.id}`, tenantBKey), 404, 'CREDENTIAL_NOT_FOUND');
    nativeError(await get(`${AC}/v1/credentials/${smtp.id}`, tenantBKey), 404, 'CREDENTIAL_NOT_FOUND');
    nativeError(await s.request('PUT', `${AC}/v1/credentials/${smtp.id}`, { key: tenantBKey, body: { name: 'Mine now' } }), 404, 'CREDENTIAL_NOT_FOUND');
    nativeError(await s.request('DELETE', `${AC}/v1/credentials/${smtp.id}`, { key: tenantBKey }), 404, 'CREDENTIAL_NOT_FOUND');
    const list = await get(`${AC}/v1/credentials`, tenantBKey);
    assert.equal(
      list.body.data.some((c: any) => c.id === smtp.id),
      false,
    );
    icError(await ic(`/api/v1/credentials/mail-relay`, tenantBKey, uuidOf(tenantBId)), 404, 'CREDENTIAL_NOT_FOUND');
    imError(await s.request('DELETE', `${IM}/integrations/credentials/${uuidOf(google.id)}`, { key: tenantBKey }), 404, 'CREDENTIAL_NOT_FOUND');
    assert.equal((await native('GET', `/v1/credentials/${smtp.id}`)).name, 'Relay Mail');
  });

  it('a team-scoped credential is invisible to a key outside its team, through every dialect', async () => {
    const team = await native('POST', '/v1/teams', { name: 'Secret Ops' });
    const c = await native('POST', '/v1/credentials', {
      name: 'Ops relay',
      type: 'smtp',
      team_id: team.id,
      read_access: 'TEAM',
      integration_id: 'ops-mail',
      config: { host: 'ops.example.com' },
    });
    const g = await native('POST', '/v1/credentials', {
      name: 'Ops drive',
      type: 'oauth2',
      provider: 'google',
      team_id: team.id,
      read_access: 'TEAM',
      integration_id: 'ops-drive',
      config: { client_id: 'c', token_endpoint: 'https://oauth2.googleapis.com/token', grant_type: 'refresh_token', token_endpoint_auth_method: 'none' },
      secret: { access_token: secretOf('ops-token') },
    });
    const outsider = keys['service']!; // a service key in no team
    const insider = (await native('POST', '/v1/access-keys', { name: 'ops service', role: 'service', team_ids: [team.id] })).key;
    nativeError(await get(`${SC}/service-credentials/smtp/${c.id}`, outsider), 404, 'CREDENTIAL_NOT_FOUND');
    nativeError(await get(`${UC}/api/v1/user_credentials/${c.id}`, outsider), 404, 'CREDENTIAL_NOT_FOUND');
    nativeError(await get(`${AC}/v1/credentials/${c.id}`, outsider), 404, 'CREDENTIAL_NOT_FOUND');
    icError(await ic('/api/v1/credentials/ops-mail', outsider), 404, 'CREDENTIAL_NOT_FOUND');
    imError(await get(`${IM}/integrations/credentials/${uuidOf(g.id)}/credentials`, outsider), 404, 'CREDENTIAL_NOT_FOUND');
    assert.equal((await get(`${SC}/service-credentials/smtp/${c.id}`, insider)).status, 200);
    assert.equal((await get(`${UC}/api/v1/user_credentials/${c.id}`, insider)).status, 200);
    assert.equal((await ic('/api/v1/credentials/ops-mail', insider)).status, 200);
    assert.equal((await get(`${IM}/integrations/credentials/${uuidOf(g.id)}/credentials`, insider)).status, 200);
  });

  it("routes under a dialect that do not exist answer 404 in that dialect's shape", async () => {
    icError(await ic('/api/v2/nothing'), 404, 'NOT_FOUND');
    imError(await get(`${IM}/nothing`), 404, 'NOT_FOUND');
  });
});
