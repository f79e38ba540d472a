// Integration credentials (document 003) beyond its samples, sent as its client sends them
// (`accept: application/json`, `authorization: Bearer`, `x-tenantid: <tenant UUID>`): inactive
// credentials answered with their status, "most recently updated active" over every credential
// of the integration, `x-tenantid` choosing the tenant of a principal in several, and a malformed
// `x-tenantid` answering the document's 400.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { startServer, type ApiResponse, type TestServer } from '../support/server.ts';
import { assertServerHoldsNoSecret, canary } from '../support/canary.ts';

const IC = '/compat/integration-credentials';
const AUDIENCE = 'https://latchkey.test';
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

let s: TestServer;
let jwks: Server;
let issuer = '';
let signingKey: CryptoKey;
let tenantA = '';
let tenantB = '';
let tenantBKey = '';
const secrets: string[] = [];
const secret = (label: string) => {
  const v = canary(label);
  secrets.push(v);
  return v;
};

// Independent reference for a tenant's UUID view (RFC 9562 v8 holding the ULID's low 122 bits).
const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
function uuidOf(nativeId: string): string {
  const all = [...nativeId.slice(nativeId.indexOf('_') + 1)]
    .map((ch) => CROCKFORD.indexOf(ch).toString(2).padStart(5, '0'))
    .join('')
    .slice(8);
  const bits = `${all.slice(0, 48)}1000${all.slice(48, 60)}10${all.slice(60)}`;
  let hex = '';
  for (let i = 0; i < 128; i += 4) hex += parseInt(bits.slice(i, i + 4), 2).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

async function native(method: string, path: string, body?: unknown, key?: string) {
  const r = await s.request(method, path, { body, key });
  assert.ok(r.status < 300, `${method} ${path}: ${r.status} ${r.text}`);
  return r.body;
}

/** GET /api/v1/credentials/{integrationId} as document 003's cURL sample sends it. */
const ic = (path: string, opts: { key?: string; tenant?: string; headers?: Record<string, string> } = {}) =>
  s.request('GET', `${IC}${path}`, { key: opts.key, headers: { accept: 'application/json', 'x-tenantid': opts.tenant ?? uuidOf(tenantA), ...opts.headers } });

function icData(r: ApiResponse) {
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(Object.keys(r.body).sort(), ['data', 'message', 'success', 'timestamp']);
  assert.equal(r.body.success, true);
  assert.equal(r.body.message, 'Credentials retrieved successfully');
  assert.match(r.body.timestamp, RFC3339);
  assert.deepEqual(Object.keys(r.body.data), [
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
  ]);
  return r.body.data;
}

function icError(r: ApiResponse, status: number, code: string) {
  assert.equal(r.status, status, r.text);
  assert.deepEqual(Object.keys(r.body).sort(), ['error', 'success', 'timestamp']);
  assert.equal(r.body.success, false);
  assert.equal(r.body.error.code, code);
  return r.body.error;
}

before(async () => {
  // A real JWKS endpoint on loopback for the OIDC principal that belongs to two tenants.
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  signingKey = privateKey;
  const jwk: JWK = { ...(await exportJWK(privateKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
  delete jwk.d;
  delete jwk.p;
  delete jwk.q;
  delete jwk.dp;
  delete jwk.dq;
  delete jwk.qi;
  jwks = createServer((_req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ keys: [jwk] }));
  });
  jwks.listen(0, '127.0.0.1');
  await once(jwks, 'listening');
  issuer = `http://127.0.0.1:${(jwks.address() as { port: number }).port}`;
  s = await startServer({
    env: {
      LATCHKEY_OIDC_ISSUERS: JSON.stringify([
        {
          issuer,
          audience: AUDIENCE,
          jwks_uri: `${issuer}/jwks`,
          tenant_claim: 'tenants',
          role_claim: 'lk_role',
          role_map: { 'vault-ia': 'integration_admin' },
        },
      ]),
    },
  });
  tenantA = (await native('GET', '/v1/tenants')).data[0].id;
  const b = await native('POST', '/v1/tenants', { name: 'Integration credentials tenant B' });
  tenantB = b.tenant.id;
  tenantBKey = b.owner_access_key.key;
});

after(async () => {
  await assertServerHoldsNoSecret(s, secrets);
  await s.stop();
  jwks.close();
});

describe('integration credentials: status, selection and tenant', () => {
  it('answers an inactive credential with its status (the document has clients check it; it lists no 409)', async () => {
    const value = secret('paused');
    const c = await native('POST', '/v1/credentials', {
      name: 'Paused Token',
      type: 'text',
      integration_id: 'paused-int',
      secret: { value },
      status: 'inactive',
    });
    const byId = icData(await ic(`/api/v1/credentials/paused-int?credentialId=cred-${uuidOf(c.id)}`));
    assert.equal(byId.status, 'inactive');
    assert.equal(byId.accessToken, value);
    assert.equal(byId.id, `cred-${uuidOf(c.id)}`);
    // Without credentialId: no active one, so the most recently updated stands in, with its status.
    const any = icData(await ic('/api/v1/credentials/paused-int'));
    assert.equal(any.id, `cred-${uuidOf(c.id)}`);
    assert.equal(any.status, 'inactive');
    // An active credential of the same integration is preferred over a newer inactive one.
    const live = await native('POST', '/v1/credentials', { name: 'Live Token', type: 'text', integration_id: 'paused-int', secret: { value: secret('live') } });
    await native('PATCH', `/v1/credentials/${c.id}`, { description: 'touched after the active one' });
    const picked = icData(await ic('/api/v1/credentials/paused-int'));
    assert.equal(picked.id, `cred-${uuidOf(live.id)}`);
    assert.equal(picked.status, 'active');
  });

  it("picks the most recently updated active credential among all of the integration's, not the 100 newest-created", async () => {
    const first = await native('POST', '/v1/credentials', { name: 'Bulk 0', type: 'text', integration_id: 'bulk-int', secret: { value: secret('bulk0') } });
    for (let i = 1; i <= 110; i++) {
      await native('POST', '/v1/credentials', { name: `Bulk ${i}`, type: 'text', integration_id: 'bulk-int', secret: { value: secret(`bulk${i}`) } });
    }
    await native('PATCH', `/v1/credentials/${first.id}`, { description: 'updated last' });
    const d = icData(await ic('/api/v1/credentials/bulk-int'));
    assert.equal(d.id, `cred-${uuidOf(first.id)}`);
    assert.equal(d.credentialName, 'Bulk 0');
    assert.equal(d.description, 'updated last');
    assert.equal(d.status, 'active');
  });

  it("a malformed x-tenantid is the document's 400 INVALID_PARAMETER; a foreign well-formed one stays 403", async () => {
    for (const bad of ['not-a-tenant', 'ten_', '550e8400-e29b-41d4-a716']) {
      const e = icError(await ic('/api/v1/credentials/paused-int', { tenant: bad }), 400, 'INVALID_PARAMETER');
      assert.equal(e.message, 'Invalid x-tenantid format');
    }
    icError(await ic('/api/v1/credentials/paused-int', { tenant: uuidOf(tenantB) }), 403, 'FORBIDDEN');
  });

  it('x-tenantid chooses the tenant for a principal of several tenants (no native x-tenant-id needed)', async () => {
    const inA = secret('tenant-a');
    const inB = secret('tenant-b');
    await native('POST', '/v1/credentials', { name: 'Shared Int A', type: 'text', integration_id: 'shared-int', secret: { value: inA } });
    await native('POST', '/v1/credentials', { name: 'Shared Int B', type: 'text', integration_id: 'shared-int', secret: { value: inB } }, tenantBKey);
    const now = Math.floor(Date.now() / 1000);
    const token = await new SignJWT({ tenants: [tenantA, tenantB], lk_role: 'vault-ia' })
      .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
      .setIssuer(issuer)
      .setAudience(AUDIENCE)
      .setSubject('ops-engineer')
      .setIssuedAt(now - 10)
      .setExpirationTime(now + 600)
      .sign(signingKey);
    const a = icData(await ic('/api/v1/credentials/shared-int', { key: token, tenant: uuidOf(tenantA) }));
    assert.equal(a.accessToken, inA);
    assert.deepEqual(a.tenant.id, uuidOf(tenantA));
    const b = icData(await ic('/api/v1/credentials/shared-int', { key: token, tenant: uuidOf(tenantB) }));
    assert.equal(b.accessToken, inB);
    assert.equal(b.tenant.id, uuidOf(tenantB));
    assert.equal(b.tenant.name, 'Integration credentials tenant B');
    // The native tenant id is accepted as well; a tenant the token does not name is 403.
    assert.equal(icData(await ic('/api/v1/credentials/shared-int', { key: token, tenant: tenantB })).accessToken, inB);
    icError(await ic('/api/v1/credentials/shared-int', { key: token, tenant: '01234567-89ab-8def-8123-456789abcdef' }), 403, 'FORBIDDEN');
  });

  it('an OAuth2 rotate needs no clientSecret, keeps it, and its expiresAt describes the new token', async () => {
    const clientSecret = secret('oauth-client');
    const refresh = secret('oauth-refresh');
    const made = await s.request('POST', `${IC}/api/v1/credentials`, {
      headers: { accept: 'application/json', 'x-tenantid': uuidOf(tenantA) },
      body: {
        integrationId: 'rotate-int',
        credentialName: 'Rotating OAuth',
        authType: 'oauth2_bearer',
        clientId: 'rot-client',
        clientSecret,
        tokenEndpoint: 'https://auth.example.com/token',
        accessToken: secret('oauth-access-1'),
        refreshToken: refresh,
        expiresAt: '2030-01-01T00:00:00.000Z',
      },
    });
    assert.equal(made.status, 201, made.text);
    const id = made.body.data.id;
    const access2 = secret('oauth-access-2');
    const rotated = await s.request('POST', `${IC}/api/v1/credentials/${id}/rotate`, {
      headers: { accept: 'application/json', 'x-tenantid': uuidOf(tenantA) },
      body: { accessToken: access2, expiresAt: '2031-02-03T04:05:06.000Z' },
    });
    assert.equal(rotated.status, 200, rotated.text);
    assert.equal(rotated.body.message, 'Credential rotated successfully');
    assert.equal(rotated.body.data.id, id);
    assert.equal(rotated.body.data.expiresAt, '2031-02-03T04:05:06.000Z');
    assert.equal(rotated.text.includes(access2), false, 'a write never echoes a secret');
    const d = icData(await ic(`/api/v1/credentials/rotate-int?credentialId=${id}`));
    assert.equal(d.accessToken, access2);
    assert.equal(d.refreshToken, refresh, 'a refresh token not sent is kept');
    assert.equal(d.expiresAt, '2031-02-03T04:05:06.000Z');
    // The client secret stayed in the new version (read natively, audited).
    const nativeId = (await native('GET', '/v1/integrations/rotate-int/credentials')).data[0].id;
    const revealed = await native('GET', `/v1/credentials/${nativeId}/secret`);
    assert.equal(revealed.secret.client_secret, clientSecret);
    assert.equal(revealed.version, 2);
    // A new access token without expiresAt: the old token's expiry is not kept.
    const again = await s.request('POST', `${IC}/api/v1/credentials/${id}/rotate`, {
      headers: { accept: 'application/json', 'x-tenantid': uuidOf(tenantA) },
      body: { accessToken: secret('oauth-access-3') },
    });
    assert.equal(again.status, 200, again.text);
    assert.equal(again.body.data.expiresAt, null);
  });

  it('checks accept as the document requires it: JSON must be acceptable (400 otherwise)', async () => {
    for (const accept of ['text/html', 'application/xml', 'application/jsonp']) {
      assert.equal(
        icError(await ic('/api/v1/credentials/paused-int', { headers: { accept } }), 400, 'INVALID_PARAMETER').message,
        'Invalid accept header',
        accept,
      );
    }
    for (const accept of ['*/*', 'application/json; charset=utf-8', 'text/html, application/*;q=0.8']) {
      assert.equal((await ic('/api/v1/credentials/paused-int', { headers: { accept } })).status, 200, accept);
    }
  });

  it('password-type credentials hand out their decrypted password as accessToken (smtp, basic, sftp, postgresql)', async () => {
    const types: Array<[string, Record<string, unknown>]> = [
      ['smtp', { host: 'smtp.example.com', username: 'mailer' }],
      ['basic', { username: 'svc' }],
      ['sftp', { host: 'sftp.example.com', username: 'partner' }],
      ['postgresql', { host: 'db.example.com', database: 'app', username: 'app' }],
    ];
    for (const [type, config] of types) {
      const password = secret(`pw-${type}`);
      await native('POST', '/v1/credentials', { name: `Password ${type}`, type, integration_id: `pw-${type}`, config, secret: { password } });
      const d = icData(await ic(`/api/v1/credentials/pw-${type}`));
      assert.equal(d.authType, type);
      assert.equal(d.accessToken, password, type);
      assert.equal(d.refreshToken, null);
      assert.equal(d.status, 'active');
      assert.deepEqual(d.scopes, []);
      assert.equal(d.tokenEndpoint, null);
    }
  });
});
