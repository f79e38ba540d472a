// The weaknesses of issue 24 that told a caller about credentials it cannot see, and the test
// reveal that also returned the live secret:
//  - PUT on an id the caller cannot see answered 409 "taken" where GET answered 404;
//  - a name clash with an invisible credential answered 409 naming it;
//  - purging a soft-deleted credential answered 403 where a missing one answers 404;
//  - `?variant=test` returned the live secret beside the test one.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { startServer, type ApiResponse, type TestServer, ok } from '../support/server.ts';
import { assertNoSecret, assertServerHoldsNoSecret, canary } from '../support/canary.ts';

let s: TestServer;
const secrets: string[] = [];
const teams: Record<string, string> = {};
const keys: Record<string, string> = {};

function secret(label: string): string {
  const v = canary(label);
  secrets.push(v);
  return v;
}

/** An error answer with what differs between any two requests (request id, the id asked for) taken out. */
function shape(r: ApiResponse, id: string): string {
  return JSON.stringify({ status: r.status, ...r.body.error, request_id: 'x', details: String(r.body.error.details ?? '').replace(id, 'ID') });
}

before(async () => {
  s = await startServer();
  for (const [name, slug] of [
    ['Platform', 'platform'],
    ['Analytics', 'analytics'],
  ] as const) {
    teams[slug] = (await ok(s.request('POST', '/v1/teams', { body: { name, slug } }))).id;
  }
  const key = async (name: string, role: string, teamSlugs: string[]) =>
    (keys[name] = (await ok(s.request('POST', '/v1/access-keys', { body: { name, role, team_ids: teamSlugs.map((t) => teams[t]) } }))).key);
  await key('analytics member', 'member', ['analytics']);
  await key('analytics integration admin', 'integration_admin', ['analytics']);
  await key('admin', 'admin', []);
});

after(async () => {
  await assertServerHoldsNoSecret(s, secrets);
  await s.stop();
});

describe('existence oracles inside a tenant', () => {
  it('PUT on an id held by a credential the caller cannot see answers as GET does (404), and overwrites nothing', async () => {
    const id = randomUUID();
    const value = secret('oracle-hidden');
    await ok(
      s.request('PUT', `/v1/credentials/${id}`, {
        body: { name: 'Platform only', type: 'text', secret: { value }, team_id: teams.platform, read_access: 'TEAM' },
      }),
    );
    const never = randomUUID();
    for (const who of ['analytics member', 'analytics integration admin']) {
      const body = { name: `Claimed by ${who}`, type: 'text', secret: { value: secret('oracle-claim') }, team_id: teams.analytics };
      const put = await s.request('PUT', `/v1/credentials/${id}`, { key: keys[who]!, body });
      const get = await s.request('GET', `/v1/credentials/${id}`, { key: keys[who]! });
      const getNever = await s.request('GET', `/v1/credentials/${never}`, { key: keys[who]! });
      assert.equal(put.status, 404, `${who}: ${put.text}`);
      assert.equal(shape(put, id), shape(get, id), 'PUT and GET must answer alike');
      assert.equal(shape(get, id), shape(getNever, never), 'and like an id that never existed');
      assert.equal(put.text.includes('taken'), false);
    }
    const still = await s.request('GET', `/v1/credentials/${id}/secret`);
    assert.equal(still.body.name, 'Platform only');
    assert.equal(still.body.secret.value, value);
    assert.equal(still.body.version, 1);
  });

  it("a name used by an invisible credential is free in the caller's own team; a clash it can see names nobody", async () => {
    const hidden = await ok(
      s.request('POST', '/v1/credentials', {
        body: { name: 'Stripe live', type: 'text', secret: { value: secret('oracle-stripe') }, team_id: teams.platform, read_access: 'TEAM' },
      }),
    );
    const member = keys['analytics member']!;
    const mine = await s.request('POST', '/v1/credentials', {
      key: member,
      body: { name: 'Stripe live', type: 'text', secret: { value: secret('oracle-mine') }, team_id: teams.analytics },
    });
    assert.equal(mine.status, 201, `a name taken in a team the caller cannot see must not be refused: ${mine.text}`);
    const renamed = await ok(
      s.request('POST', '/v1/credentials', {
        key: member,
        body: { name: 'Stripe test', type: 'text', secret: { value: secret('oracle-test') }, team_id: teams.analytics },
      }),
    );
    const rename = await s.request('PATCH', `/v1/credentials/${renamed.id}`, { key: member, body: { name: 'STRIPE LIVE!' } });
    assert.equal(rename.status, 409, "a clash with its own team's credential, which it sees");
    for (const text of [rename.text]) {
      assert.equal(text.includes(hidden.id), false);
      assert.equal(text.includes(mine.body.id), false);
    }
    // Names stay unique where one team's members look: within the team, and among team-less ones.
    const dup = await s.request('POST', '/v1/credentials', {
      body: { name: 'stripe-live', type: 'text', secret: { value: secret('oracle-dup') }, team_id: teams.platform },
    });
    assert.equal(dup.status, 409, dup.text);
  });

  it('purging (or, through a share, restoring) a soft-deleted credential as a non-owner answers 404, like an id that never existed', async () => {
    const c = await ok(
      s.request('POST', '/v1/credentials', {
        body: {
          name: 'Retired key',
          type: 'text',
          secret: { value: secret('oracle-retired') },
          team_id: teams.platform,
          read_access: 'SPECIFIC_TEAMS',
          shared_team_slugs: ['analytics'],
        },
      }),
    );
    await ok(s.request('DELETE', `/v1/credentials/${c.id}`), 204);
    const never = 'crd_01JD5Z6W9Y706QGCB39FQD380G';
    for (const who of ['admin', 'analytics integration admin']) {
      const purge = await s.request('DELETE', `/v1/credentials/${c.id}?purge=true`, { key: keys[who]! });
      const purgeNever = await s.request('DELETE', `/v1/credentials/${never}?purge=true`, { key: keys[who]! });
      assert.equal(purge.status, 404, `${who}: ${purge.text}`);
      assert.equal(shape(purge, c.id), shape(purgeNever, never), who);
    }
    // Restoring it is a change: through the share it was only read, so it is not there to restore.
    const restore = await s.request('POST', `/v1/credentials/${c.id}/restore`, { key: keys['analytics integration admin']! });
    const restoreNever = await s.request('POST', `/v1/credentials/${never}/restore`, { key: keys['analytics integration admin']! });
    assert.equal(restore.status, 404, restore.text);
    assert.equal(shape(restore, c.id), shape(restoreNever, never));
    // A live credential it sees but may not purge is a 403, as before.
    const live = await ok(s.request('POST', '/v1/credentials', { body: { name: 'Live key', type: 'text', secret: { value: secret('oracle-live') } } }));
    assert.equal((await s.request('DELETE', `/v1/credentials/${live.id}?purge=true`, { key: keys.admin! })).status, 403);
    // The owner still purges the deleted one.
    await ok(s.request('DELETE', `/v1/credentials/${c.id}?purge=true`), 204);
  });
});

describe('?variant=test', () => {
  it('reveals the test secret only, never the live one, audited as credential.reveal_test', async () => {
    const live = secret('variant-live');
    const test = secret('variant-test');
    const c = await ok(
      s.request('POST', '/v1/credentials', {
        body: {
          name: 'Two faced',
          type: 'smtp',
          config: { host: 'smtp.example.com', auth_type: 'login', username: 'mailer' },
          secret: { password: live },
          test_credential_enabled: true,
          test_secret: { password: test },
        },
      }),
    );
    const r = await s.request('GET', `/v1/credentials/${c.id}/secret?variant=test`);
    assert.equal(r.status, 200, r.text);
    assertNoSecret({ 'test reveal': r.text }, [live]);
    assert.deepEqual(r.body.secret, { password: test });
    assert.deepEqual(r.body.test_secret, { password: test });
    const events = await s.request('GET', `/v1/audit-events?filter[credential_id]=${c.id}`);
    const mine = events.body.data.filter((e: any) => e.request_id === r.headers.get('x-request-id'));
    assert.deepEqual(
      mine.map((e: any) => e.action),
      ['credential.reveal_test'],
    );
    // The live one by the ordinary reveal, without the test one.
    const main = await s.request('GET', `/v1/credentials/${c.id}/secret`);
    assert.deepEqual(main.body.secret, { password: live });
    assertNoSecret({ 'live reveal': main.text }, [test]);
  });
});
