import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, decodeJwt, type CryptoKey, type JWK, type JWTPayload } from 'jose';
import { createHmac } from 'node:crypto';
import Provider from 'oidc-provider';
import { startServer, type TestServer } from '../support/server.ts';

const AUDIENCE = 'https://latchkey.test';
let issuer = '';
let httpServer: Server;
let s: TestServer;
let tenantId = '';
let privateKey: CryptoKey;
let publicPem = '';
const claims: { tenants: string[]; lk_role: string; teams: string[] } = { tenants: [], lk_role: 'vault-service', teams: [] };

/** A real token from the real provider: client_credentials with a JWT access token for our audience. */
async function providerToken(): Promise<string> {
  const res = await fetch(`${issuer}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: 'Basic ' + Buffer.from('workload:workload-secret').toString('base64') },
    body: new URLSearchParams({ grant_type: 'client_credentials', resource: AUDIENCE, scope: 'vault' }),
  });
  const body = (await res.json()) as { access_token?: string };
  assert.equal(res.status, 200, JSON.stringify(body));
  return body.access_token!;
}

function b64url(v: object | string): string {
  return Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
}

before(async () => {
  const { publicKey, privateKey: pk } = await generateKeyPair('RS256', { extractable: true });
  privateKey = pk;
  publicPem = await exportSPKI(publicKey);
  const jwk: JWK = { ...(await exportJWK(pk)), kid: 'k1', alg: 'RS256', use: 'sig' };
  httpServer = createServer();
  httpServer.listen(0, '127.0.0.1');
  await once(httpServer, 'listening');
  const port = (httpServer.address() as { port: number }).port;
  issuer = `http://127.0.0.1:${port}`;
  const provider = new Provider(issuer, {
    clients: [{ client_id: 'workload', client_secret: 'workload-secret', grant_types: ['client_credentials'], redirect_uris: [], response_types: [] }],
    jwks: { keys: [jwk] },
    features: {
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => AUDIENCE,
        useGrantedResource: () => true,
        getResourceServerInfo: () => ({ scope: 'vault', audience: AUDIENCE, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'RS256' } } }),
      },
    },
    extraTokenClaims: async () => ({ ...claims }),
  });
  httpServer.on('request', provider.callback());

  s = await startServer({
    env: {
      LATCHKEY_OIDC_ISSUERS: JSON.stringify([
        {
          issuer,
          audience: AUDIENCE,
          tenant_claim: 'tenants',
          role_claim: 'lk_role',
          role_map: { 'vault-service': 'service' },
          teams_claim: 'teams',
          principal_type: 'workload',
        },
      ]),
    },
  });
  tenantId = (await s.request('GET', '/v1/tenants')).body.data[0].id;
  claims.tenants = [tenantId];
  const c = await s.request('POST', '/v1/credentials', { body: { name: 'OIDC Visible', type: 'text', secret: { value: 'oidc-visible-value' } } });
  assert.equal(c.status, 201);
});

after(async () => {
  await s.stop();
  httpServer.close();
});

describe('OIDC sign-in with tokens from a real provider', () => {
  it('accepts a valid token: role, tenant and identity come from its claims', async () => {
    const token = await providerToken();
    const list = await s.request('GET', '/v1/credentials', { key: token });
    assert.equal(list.status, 200, list.text);
    const id = list.body.data[0].id;
    const reveal = await s.request('GET', `/v1/credentials/${id}/secret`, { key: token });
    assert.equal(reveal.status, 200);
    assert.equal(reveal.body.secret.value, 'oidc-visible-value');
    // A service principal may not write.
    const write = await s.request('POST', '/v1/credentials', { key: token, body: { name: 'x', type: 'text', secret: { value: 'v' } } });
    assert.equal(write.status, 403);
    const events = await s.request('GET', `/v1/audit-events?filter[credential_id]=${id}&filter[action]=credential.reveal`);
    assert.equal(events.body.data[0].actor.type, 'workload');
    assert.match(events.body.data[0].actor.id, /^usr_[0-9a-f]{26}$/);
  });

  it('answers every bad token with the same 401 body', async () => {
    const good = await providerToken();
    const now = Math.floor(Date.now() / 1000);
    const sign = (payload: Record<string, unknown>, opts: { kid?: string; key?: CryptoKey } = {}) =>
      new SignJWT({ tenants: [tenantId], lk_role: 'owner', ...payload })
        .setProtectedHeader({ alg: 'RS256', kid: opts.kid ?? 'k1' })
        .setIssuer((payload.iss as string) ?? issuer)
        .setAudience((payload.aud as string) ?? AUDIENCE)
        .setSubject('attacker')
        .setIssuedAt(now - 10)
        .setExpirationTime((payload.exp as number) ?? now + 300)
        .sign(opts.key ?? privateKey);
    const otherKey = (await generateKeyPair('RS256')).privateKey;
    const [h, p] = good.split('.');
    const payload = decodeJwt(good);
    const hsHeader = b64url({ alg: 'HS256', typ: 'JWT', kid: 'k1' });
    const hsBody = b64url({ ...payload, lk_role: 'owner' });
    const hsSig = createHmac('sha256', publicPem).update(`${hsHeader}.${hsBody}`).digest('base64url');
    const bad: Record<string, string> = {
      expired: await sign({ exp: now - 3600 }),
      notYetValid: await sign({ nbf: now + 3600 }),
      wrongAudience: await sign({ aud: 'https://someone-else.test' }),
      wrongIssuer: await sign({ iss: 'http://127.0.0.1:1/evil' }),
      algNone: `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url({ ...payload, lk_role: 'owner' })}.`,
      hs256WithPublicKey: `${hsHeader}.${hsBody}.${hsSig}`,
      unknownKid: await sign({}, { kid: 'k-unknown', key: otherKey }),
      tamperedPayload: `${h}.${b64url({ ...decodeJwt<JWTPayload>(`${h}.${p}.x`), lk_role: 'owner' })}.${good.split('.')[2]}`,
      signedByAnotherKeyWithKnownKid: await sign({}, { key: otherKey }),
    };
    const bodies = new Set<string>();
    for (const [name, token] of Object.entries(bad)) {
      const r = await s.request('GET', '/v1/credentials', { key: token });
      assert.equal(r.status, 401, name);
      bodies.add(JSON.stringify({ ...r.body.error, request_id: undefined }));
    }
    const garbage = await s.request('GET', '/v1/credentials', { key: 'not-a-token' });
    bodies.add(JSON.stringify({ ...garbage.body.error, request_id: undefined }));
    assert.equal(bodies.size, 1, [...bodies].join('\n'));
    // The valid token still works afterwards.
    assert.equal((await s.request('GET', '/v1/credentials', { key: good })).status, 200);
  });

  it('a token for a tenant the principal does not name is 403 via x-tenant-id', async () => {
    const token = await providerToken();
    const r = await s.request('GET', '/v1/credentials', { key: token, headers: { 'x-tenant-id': 'ten_01J0000000000000000000000' } });
    assert.equal(r.status, 403);
  });

  it('maps the teams claim to team visibility', async () => {
    const blue = await s.request('POST', '/v1/teams', { body: { name: 'Blue' } });
    assert.equal(blue.status, 201, blue.text);
    const red = await s.request('POST', '/v1/teams', { body: { name: 'Red' } });
    const mk = (name: string, team: string) =>
      s.request('POST', '/v1/credentials', { body: { name, type: 'text', secret: { value: name }, team_id: team, read_access: 'TEAM' } });
    assert.equal((await mk('Blue Only', blue.body.id)).status, 201);
    assert.equal((await mk('Red Only', red.body.id)).status, 201);
    claims.teams = ['blue'];
    const token = await providerToken();
    const names = (await s.request('GET', '/v1/credentials?per_page=100', { key: token })).body.data.map((c: any) => c.name);
    assert.ok(names.includes('Blue Only'));
    assert.ok(!names.includes('Red Only'));
    assert.ok(names.includes('OIDC Visible'));
  });
});
