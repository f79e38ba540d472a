// A token whose groups claim held the literal `owner` became owner although role_map did not
// list it: claim values spelled like a role were taken as that role. A token's role now comes
// only from role_map (or the issuer's default_role); a token that maps to no role is 401.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import Provider from 'oidc-provider';
import { runCli, startServer, type TestServer } from '../support/server.ts';
import { assertServerHoldsNoSecret, canary } from '../support/canary.ts';

const AUDIENCE = 'https://latchkey.test';

/** A real OIDC provider on loopback issuing JWT access tokens whose claims the test sets. */
interface Issuer {
  url: string;
  claims: { tenants: string[]; groups: string[] };
  token(groups: string[]): Promise<string>;
  close(): void;
}

async function startIssuer(): Promise<Issuer> {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk: JWK = { ...(await exportJWK(privateKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
  const server: Server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const claims = { tenants: [] as string[], groups: [] as string[] };
  const provider = new Provider(url, {
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
  server.on('request', provider.callback());
  return {
    url,
    claims,
    async token(groups) {
      claims.groups = groups;
      const res = await fetch(`${url}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: 'Basic ' + Buffer.from('workload:workload-secret').toString('base64') },
        body: new URLSearchParams({ grant_type: 'client_credentials', resource: AUDIENCE, scope: 'vault' }),
      });
      const body = (await res.json()) as { access_token?: string };
      assert.equal(res.status, 200, JSON.stringify(body));
      return body.access_token!;
    },
    close: () => server.close(),
  };
}

let mapped: Issuer;
let withDefault: Issuer;
let s: TestServer;
let credentialId = '';
const secret = canary('oidc-roles');

before(async () => {
  mapped = await startIssuer();
  withDefault = await startIssuer();
  s = await startServer({
    env: {
      LATCHKEY_OIDC_ISSUERS: JSON.stringify([
        {
          issuer: mapped.url,
          audience: AUDIENCE,
          tenant_claim: 'tenants',
          role_claim: 'groups',
          role_map: { 'vault-viewers': 'viewer', 'vault-ci': 'service' },
        },
        {
          issuer: withDefault.url,
          audience: AUDIENCE,
          tenant_claim: 'tenants',
          role_claim: 'groups',
          role_map: { 'vault-ci': 'service' },
          default_role: 'viewer',
        },
      ]),
    },
  });
  const tenantId = (await s.request('GET', '/v1/tenants')).body.data[0].id;
  mapped.claims.tenants = [tenantId];
  withDefault.claims.tenants = [tenantId];
  const c = await s.request('POST', '/v1/credentials', { body: { name: 'OIDC roles', type: 'text', secret: { value: secret } } });
  assert.equal(c.status, 201, c.text);
  credentialId = c.body.id;
});

after(async () => {
  await s.stop();
  mapped.close();
  withDefault.close();
});

describe('OIDC: the role comes only from role_map', () => {
  it('a groups claim holding role names role_map does not list grants nothing: 401', async () => {
    for (const groups of [['owner'], ['admin', 'integration_admin'], ['service'], ['constructor'], ['__proto__', 'toString'], []]) {
      const token = await mapped.token(groups);
      const r = await s.request('GET', '/v1/credentials', { key: token });
      assert.equal(r.status, 401, `${JSON.stringify(groups)}: ${r.text}`);
      assert.equal(r.body.error.code, 'UNAUTHENTICATED');
    }
  });

  it('a listed value gives its mapped role, and `owner` beside it adds nothing', async () => {
    const viewer = await mapped.token(['owner', 'vault-viewers']);
    assert.equal((await s.request('GET', '/v1/credentials', { key: viewer })).status, 200);
    assert.equal((await s.request('GET', `/v1/credentials/${credentialId}/secret`, { key: viewer })).status, 403);
    const ownerKey = await s.request('POST', '/v1/access-keys', { key: viewer, body: { name: 'escalated', role: 'owner' } });
    assert.equal(ownerKey.status, 403, ownerKey.text);
    const service = await mapped.token(['vault-ci']);
    const reveal = await s.request('GET', `/v1/credentials/${credentialId}/secret`, { key: service });
    assert.equal(reveal.status, 200, reveal.text);
    assert.equal(reveal.body.secret.value, secret);
  });

  it('with default_role, an unlisted `owner` gets the default role, not owner', async () => {
    const token = await withDefault.token(['owner']);
    assert.equal((await s.request('GET', '/v1/credentials', { key: token })).status, 200);
    assert.equal((await s.request('GET', `/v1/credentials/${credentialId}/secret`, { key: token })).status, 403);
    assert.equal((await s.request('POST', '/v1/access-keys', { key: token, body: { name: 'escalated', role: 'owner' } })).status, 403);
    const keys = (await s.request('GET', '/v1/access-keys?per_page=100')).body.data.map((k: { name: string }) => k.name);
    assert.equal(keys.includes('escalated'), false);
  });

  it('an issuer setting that would grant roles by accident is refused at start', async () => {
    const base = { issuer: 'https://idp.example.com', audience: AUDIENCE, tenant_id: 'ten_x' };
    const bad: Array<[string, object, RegExp]> = [
      ['role_claim without role_map', { ...base, role_claim: 'groups' }, /role_claim needs a role_map/],
      ['a role_map value that is no role', { ...base, role_claim: 'groups', role_map: { admins: 'superuser' } }, /not one of/],
      ['no way to a role', { ...base }, /grants no role/],
    ];
    for (const [what, issuer, message] of bad) {
      const r = await runCli(['serve'], {
        LATCHKEY_OIDC_ISSUERS: JSON.stringify([issuer]),
        LATCHKEY_PORT: '0',
        LATCHKEY_DATA_DIR: mkdtempSync(join(tmpdir(), 'latchkey-oidc-')),
      });
      assert.equal(r.code, 1, `${what}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, message, what);
    }
  });

  it('the secret appears only in the allowed reveal', async () => {
    // The service reveal above returned it; nothing else may hold it.
    await assertServerHoldsNoSecret(s, [secret]);
  });
});
