// Hole 6 of issue 24, "write scope is not read scope": a credential shared read-only with team B
// was PATCHed (new secret, new config), deleted and moved by B's members and integration admins,
// and any member could take a GLOBAL credential into its own team or replace it whole with PUT.
// The rule now (docs/security.md): only a whole-tenant role (owner, admin) or a member of the
// credential's own team changes it; reading through GLOBAL or a share never does. Refused with 403
// where the caller can see the credential, 404 where it cannot; nothing changes either way.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { startServer, type ApiResponse, type TestServer, ok } from '../support/server.ts';
import { assertNoSecret, assertServerHoldsNoSecret, canary } from '../support/canary.ts';

let s: TestServer;
let tenantId = '';
const secrets: string[] = [];
const teams: Record<string, string> = {};
const keys: Record<string, string> = {};

function secret(label: string): string {
  const v = canary(label);
  secrets.push(v);
  return v;
}

/** A text credential with a UUID id (so the dialects can name it too). */
async function textCredential(name: string, extra: Record<string, unknown>) {
  const id = randomUUID();
  const value = secret(`scope-${name.replace(/\W+/g, '-')}`);
  await ok(s.request('PUT', `/v1/credentials/${id}`, { body: { name, type: 'text', secret: { value }, ...extra } }));
  return { id, value };
}

async function oauthCredential(name: string, extra: Record<string, unknown>) {
  const id = randomUUID();
  const tokens = { client_secret: secret('scope-client'), access_token: secret('scope-access'), refresh_token: secret('scope-refresh') };
  await ok(
    s.request('PUT', `/v1/credentials/${id}`, {
      body: {
        name,
        type: 'oauth2',
        provider: 'google',
        ...extra,
        secret: tokens,
        config: {
          client_id: 'scope-client',
          token_endpoint: 'https://oauth2.googleapis.com/token',
          authorization_endpoint: 'https://accounts.google.com/o/oauth2/v2/auth',
          scopes: ['drive.readonly'],
          access_token_expires_at: '2030-01-01T00:00:00.000Z',
        },
      },
    }),
  );
  return { id, tokens };
}

/** Every request that would change credential `id`, each with a fresh canary where it carries a secret. */
function changes(id: string, name: string): Array<[string, string, string, unknown?]> {
  const ic = '/compat/integration-credentials/api/v1/credentials';
  return [
    ['PATCH metadata', 'PATCH', `/v1/credentials/${id}`, { description: 'taken over' }],
    ['PATCH secret', 'PATCH', `/v1/credentials/${id}`, { secret: { value: secret('scope-patched') } }],
    ['PATCH move into own team', 'PATCH', `/v1/credentials/${id}`, { team_id: teams.analytics, read_access: 'TEAM' }],
    ['PATCH widen the share', 'PATCH', `/v1/credentials/${id}`, { shared_team_slugs: ['analytics', 'sales'] }],
    ['PUT replace', 'PUT', `/v1/credentials/${id}`, { name, type: 'text', secret: { value: secret('scope-put') }, team_id: teams.analytics }],
    ['rotate', 'POST', `/v1/credentials/${id}/rotate`, { secret: { value: secret('scope-rotated') } }],
    ['restore version', 'POST', `/v1/credentials/${id}/versions/1/restore`],
    ['verify', 'POST', `/v1/credentials/${id}/verify`],
    ['DELETE', 'DELETE', `/v1/credentials/${id}`],
    ['dialect PATCH', 'PATCH', `${ic}/cred-${id}`, { description: 'taken over' }],
    ['dialect rotate', 'POST', `${ic}/cred-${id}/rotate`, { accessToken: secret('scope-dialect-rotated') }],
    ['dialect DELETE', 'DELETE', `${ic}/cred-${id}`],
  ];
}

async function attempt(who: string, [, method, path, body]: [string, string, string, unknown?]): Promise<ApiResponse> {
  const headers = path.startsWith('/compat/') ? { accept: 'application/json', 'x-tenantid': tenantId } : undefined;
  return s.request(method, path, { key: keys[who]!, ...(body !== undefined ? { body } : {}), ...(headers ? { headers } : {}) });
}

/** The credential as an owner sees it: metadata revision and the secret, to prove nothing moved. */
async function snapshot(id: string) {
  const meta = await s.request('GET', `/v1/credentials/${id}`);
  const revealed = await s.request('GET', `/v1/credentials/${id}/secret`);
  return {
    etag: meta.headers.get('etag'),
    team: meta.body.team_id,
    shares: meta.body.shared_team_slugs,
    version: meta.body.version,
    secret: revealed.body.secret,
  };
}

before(async () => {
  s = await startServer();
  tenantId = (await s.request('GET', '/v1/tenants')).body.data[0].id;
  for (const [name, slug] of [
    ['Platform', 'platform'],
    ['Analytics', 'analytics'],
    ['Sales', 'sales'],
  ] as const) {
    teams[slug] = (await ok(s.request('POST', '/v1/teams', { body: { name, slug } }))).id;
  }
  const key = async (name: string, role: string, teamSlugs: string[]) =>
    (keys[name] = (await ok(s.request('POST', '/v1/access-keys', { body: { name, role, team_ids: teamSlugs.map((t) => teams[t]) } }))).key);
  await key('analytics integration admin', 'integration_admin', ['analytics']);
  await key('analytics member', 'member', ['analytics']);
  await key('platform integration admin', 'integration_admin', ['platform']);
  await key('platform member', 'member', ['platform']);
  await key('teamless member', 'member', []);
  await key('teamless integration admin', 'integration_admin', []);
});

after(async () => {
  // Stored ones encrypted, refused ones nowhere: no form of any of them in logs, files or audit.
  await assertServerHoldsNoSecret(s, secrets);
  await s.stop();
});

describe('a read share never grants a change', () => {
  it('team B (integration admin, member) reads and reveals a credential shared with it, and every change is 403 with nothing changed', async () => {
    const c = await textCredential('Shared report key', {
      team_id: teams.platform,
      read_access: 'SPECIFIC_TEAMS',
      shared_team_slugs: ['analytics'],
      integration_id: 'reports',
    });
    const before = await snapshot(c.id);
    const reveal = await s.request('GET', `/v1/credentials/${c.id}/secret`, { key: keys['analytics integration admin']! });
    assert.equal(reveal.status, 200, 'reading through the share still works');
    for (const who of ['analytics integration admin', 'analytics member']) {
      for (const change of changes(c.id, 'Shared report key')) {
        const r = await attempt(who, change);
        assert.equal(r.status, 403, `${who} ${change[0]}: ${r.text}`);
        assertNoSecret({ [`${who} ${change[0]}`]: r.text }, [c.value]);
      }
    }
    assert.deepEqual(await snapshot(c.id), before);
    // Its own team changes it (the refusals above are about scope, not about the requests).
    const own = await s.request('PATCH', `/v1/credentials/${c.id}`, { key: keys['platform member']!, body: { description: 'fixed by its team' } });
    assert.equal(own.status, 200, own.text);
  });

  it('OAuth connect, refresh and verify of a shared credential are changes too', async () => {
    const c = await oauthCredential('Shared drive', { team_id: teams.platform, read_access: 'SPECIFIC_TEAMS', shared_team_slugs: ['analytics'] });
    const before = await snapshot(c.id);
    const who = keys['analytics integration admin']!;
    for (const [label, path, body] of [
      ['connect', '/v1/oauth/connect', { credential_id: c.id }],
      ['refresh', `/v1/credentials/${c.id}/refresh`, undefined],
      ['verify', `/v1/credentials/${c.id}/verify`, undefined],
    ] as const) {
      const r = await s.request('POST', path, { key: who, ...(body ? { body } : {}) });
      assert.equal(r.status, 403, `${label}: ${r.text}`);
    }
    const im = await s.request('PATCH', `/compat/integration-metadata/integrations/credentials/${c.id}`, {
      key: who,
      body: { credentials: { client_id: 'taken-over' } },
    });
    assert.equal(im.status, 403, im.text);
    assert.equal((await s.request('DELETE', `/compat/integration-metadata/integrations/credentials/${c.id}`, { key: who })).status, 403);
    assert.deepEqual(await snapshot(c.id), before);
  });

  it('the account-credentials dialect renames and deletes only within the write scope', async () => {
    const value = secret('scope-account-key');
    const c = await ok(
      s.request('POST', '/v1/credentials', {
        body: {
          name: 'Shared mail key',
          type: 'api_key',
          secret: { value },
          team_id: teams.platform,
          read_access: 'SPECIFIC_TEAMS',
          shared_team_slugs: ['analytics'],
        },
      }),
    );
    const before = await snapshot(c.id);
    const who = keys['analytics integration admin']!;
    assert.equal((await s.request('GET', `/compat/account-credentials/v1/credentials/${c.id}`, { key: who })).status, 200);
    const rename = await s.request('PUT', `/compat/account-credentials/v1/credentials/${c.id}`, { key: who, body: { name: 'Taken over' } });
    assert.equal(rename.status, 403, rename.text);
    const del = await s.request('DELETE', `/compat/account-credentials/v1/credentials/${c.id}`, { key: who });
    assert.equal(del.status, 403, del.text);
    assert.deepEqual(await snapshot(c.id), before);
  });

  it('a credential of team A with GLOBAL visibility is changed by team A only', async () => {
    const c = await textCredential('Global of platform', { team_id: teams.platform, read_access: 'GLOBAL' });
    const before = await snapshot(c.id);
    for (const change of changes(c.id, 'Global of platform')) {
      assert.equal((await attempt('analytics integration admin', change)).status, 403, change[0]);
    }
    assert.deepEqual(await snapshot(c.id), before);
    assert.equal((await s.request('PATCH', `/v1/credentials/${c.id}`, { key: keys['platform integration admin']!, body: { description: 'ok' } })).status, 200);
  });
});

describe('a credential without a team belongs to the whole tenant', () => {
  it('no member or integration admin takes it into its team, replaces it with PUT, or changes it otherwise', async () => {
    const c = await textCredential('Tenant SMTP relay', {});
    const before = await snapshot(c.id);
    assert.equal(before.team, null);
    for (const who of ['platform member', 'platform integration admin', 'teamless member', 'teamless integration admin']) {
      for (const change of changes(c.id, 'Tenant SMTP relay')) {
        const r = await attempt(who, change);
        assert.equal(r.status, 403, `${who} ${change[0]}: ${r.text}`);
      }
      const grab = await s.request('PATCH', `/v1/credentials/${c.id}`, { key: keys[who]!, body: { team_id: teams.platform } });
      assert.equal(grab.status, 403, `${who} move into platform: ${grab.text}`);
    }
    assert.deepEqual(await snapshot(c.id), before);
    // Everyone still sees it: nobody hid it from the tenant.
    assert.equal((await s.request('GET', `/v1/credentials/${c.id}`, { key: keys['analytics member']! })).status, 200);
    const admin = (await ok(s.request('POST', '/v1/access-keys', { body: { name: 'scope admin', role: 'admin' } }))).key;
    assert.equal((await s.request('PATCH', `/v1/credentials/${c.id}`, { key: admin, body: { description: 'kept by an admin' } })).status, 200);
  });

  it('a team-scoped role creates only under one of its own teams, and cannot move its credential out of them', async () => {
    const loose = await s.request('POST', '/v1/credentials', {
      key: keys['platform member']!,
      body: { name: 'Loose', type: 'text', secret: { value: secret('scope-loose') } },
    });
    assert.equal(loose.status, 422, loose.text);
    assert.deepEqual(
      loose.body.error.details.map((d: any) => d.path),
      ['team_id'],
    );
    const elsewhere = await s.request('POST', '/v1/credentials', {
      key: keys['platform member']!,
      body: { name: 'Planted', type: 'text', secret: { value: secret('scope-planted') }, team_id: teams.analytics },
    });
    assert.equal(elsewhere.status, 422, elsewhere.text);
    const value = secret('scope-own');
    const own = await ok(
      s.request('POST', '/v1/credentials', { key: keys['platform member']!, body: { name: 'Own', type: 'text', secret: { value }, team_id: teams.platform } }),
    );
    for (const body of [{ team_id: null }, { team_id: teams.analytics }]) {
      const r = await s.request('PATCH', `/v1/credentials/${own.id}`, { key: keys['platform member']!, body });
      assert.equal(r.status, 422, `${JSON.stringify(body)}: ${r.text}`);
    }
    assert.equal((await s.request('GET', `/v1/credentials/${own.id}`)).body.team_id, teams.platform);
  });
});
