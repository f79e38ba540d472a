import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startServer, type ApiResponse, type TestServer } from '../support/server.ts';
import { assertServerHoldsNoSecret } from '../support/canary.ts';

// Hole 4 of issue 24: an admin renamed and revoked the tenant's owner key (204), after which
// nobody in the tenant could issue owner, integration_admin or service keys again. Keys are now
// managed downwards only, and the last active owner key of a tenant stays.

let s: TestServer;
/** Every access key this file was handed: none may sit in a log, a data file or the audit log. */
const issuedKeys: string[] = [];
const unique = (what: string) => `${what}-${randomBytes(4).toString('hex')}`;

before(async () => {
  s = await startServer();
});

after(async () => {
  await s?.stop();
});

interface Key {
  id: string;
  key: string;
}

async function newTenant(): Promise<{ id: string; owner: Key }> {
  const r = await s.request('POST', '/v1/tenants', { body: { name: unique('owner-keys') } });
  assert.equal(r.status, 201, r.text);
  issuedKeys.push(r.body.owner_access_key.key);
  return { id: r.body.tenant.id, owner: { id: r.body.owner_access_key.id, key: r.body.owner_access_key.key } };
}

async function issue(as: string, role: string): Promise<Key> {
  const r = await s.request('POST', '/v1/access-keys', { key: as, body: { name: unique(role), role } });
  assert.equal(r.status, 201, r.text);
  issuedKeys.push(r.body.key);
  return { id: r.body.id, key: r.body.key };
}

function assertError(r: ApiResponse, status: number, code: string, label: string): void {
  assert.equal(r.status, status, `${label}: ${r.text}`);
  assert.equal(r.body?.error?.code, code, `${label}: ${r.text}`);
}

async function works(key: string): Promise<boolean> {
  return (await s.request('GET', '/v1/credentials', { key })).status === 200;
}

describe('keys are managed downwards only', () => {
  it('an admin can neither rename nor revoke the owner key (403: the admin can list it, so it is no secret that it exists)', async () => {
    const t = await newTenant();
    const admin = await issue(t.owner.key, 'admin');
    const before = await s.request('GET', `/v1/access-keys/${t.owner.id}`, { key: admin.key });
    assert.equal(before.status, 200, before.text);

    assertError(
      await s.request('PUT', `/v1/access-keys/${t.owner.id}`, { key: admin.key, body: { name: 'not the owner any more' } }),
      403,
      'FORBIDDEN',
      'admin renames the owner key',
    );
    assertError(await s.request('DELETE', `/v1/access-keys/${t.owner.id}`, { key: admin.key }), 403, 'FORBIDDEN', 'admin revokes the owner key');
    const afterwards = await s.request('GET', `/v1/access-keys/${t.owner.id}`, { key: admin.key });
    assert.equal(afterwards.body.name, before.body.name);
    assert.equal(afterwards.headers.get('etag'), before.headers.get('etag'), 'a refused rename changed the key');
    assert.ok(await works(t.owner.key), 'a refused revoke revoked the owner key');
    // The owner can still issue what only an owner can.
    for (const role of ['owner', 'integration_admin', 'service']) await issue(t.owner.key, role);
  });

  it('an admin renames and revokes only keys of a role it could issue itself, and changes teams only of those', async () => {
    const t = await newTenant();
    const admin = await issue(t.owner.key, 'admin');
    for (const role of ['owner', 'integration_admin', 'service']) {
      const k = await issue(t.owner.key, role);
      assertError(
        await s.request('PUT', `/v1/access-keys/${k.id}`, { key: admin.key, body: { name: 'renamed' } }),
        403,
        'FORBIDDEN',
        `admin renames a ${role} key`,
      );
      assertError(await s.request('DELETE', `/v1/access-keys/${k.id}`, { key: admin.key }), 403, 'FORBIDDEN', `admin revokes a ${role} key`);
      assert.ok(await works(k.key), `the ${role} key was revoked by a refused request`);
    }
    for (const role of ['admin', 'member', 'viewer']) {
      const k = await issue(admin.key, role);
      const renamed = await s.request('PUT', `/v1/access-keys/${k.id}`, { key: admin.key, body: { name: unique('renamed') } });
      assert.equal(renamed.status, 200, `admin renames a ${role} key: ${renamed.text}`);
      assert.equal((await s.request('DELETE', `/v1/access-keys/${k.id}`, { key: admin.key })).status, 204, `admin revokes a ${role} key`);
    }
    // Team membership decides what a key may reveal: managing it is managing the key.
    const team = await s.request('POST', '/v1/teams', { key: t.owner.key, body: { name: unique('team') } });
    assert.equal(team.status, 201, team.text);
    const svc = await issue(t.owner.key, 'service');
    assertError(
      await s.request('PUT', `/v1/teams/${team.body.id}/members/${svc.id}`, { key: admin.key }),
      403,
      'FORBIDDEN',
      'admin adds a service key to a team',
    );
    assert.deepEqual((await s.request('GET', `/v1/access-keys/${svc.id}`, { key: t.owner.key })).body.team_ids, []);
    const member = await issue(admin.key, 'member');
    const added = await s.request('PUT', `/v1/teams/${team.body.id}/members/${member.id}`, { key: admin.key });
    assert.ok(added.status < 300, added.text);
  });
});

describe('the last owner key stays', () => {
  it("the owner cannot revoke the tenant's last owner key (409), although an admin key is left", async () => {
    const t = await newTenant();
    const admin = await issue(t.owner.key, 'admin');
    assertError(await s.request('DELETE', `/v1/access-keys/${t.owner.id}`, { key: t.owner.key }), 409, 'CONFLICT', 'owner revokes the last owner key');
    assert.ok(await works(t.owner.key));
    // With a second owner key the first can go; then the second is the last.
    const second = await issue(t.owner.key, 'owner');
    assert.equal((await s.request('DELETE', `/v1/access-keys/${t.owner.id}`, { key: second.key })).status, 204);
    assertError(await s.request('DELETE', `/v1/access-keys/${second.id}`, { key: second.key }), 409, 'CONFLICT', 'owner revokes itself, the last owner key');
    assertError(await s.request('DELETE', `/v1/access-keys/${second.id}`, { key: admin.key }), 403, 'FORBIDDEN', 'admin revokes the last owner key');
    assert.ok(await works(second.key));
    await issue(second.key, 'service');
  });

  it('an expired owner key does not count: the only working one stays', async () => {
    const t = await newTenant();
    const r = await s.request('POST', '/v1/access-keys', {
      key: t.owner.key,
      body: { name: unique('expiring'), role: 'owner', expires_at: new Date(Date.now() + 1500).toISOString() },
    });
    assert.equal(r.status, 201, r.text);
    issuedKeys.push(r.body.key);
    const until = Date.now() + 10_000;
    while (await works(r.body.key)) {
      assert.ok(Date.now() < until, 'the expiring owner key never expired');
      await new Promise((done) => setTimeout(done, 200));
    }
    assertError(await s.request('DELETE', `/v1/access-keys/${t.owner.id}`, { key: t.owner.key }), 409, 'CONFLICT', 'revoking the only working owner key');
  });

  it('of two concurrent revocations of the last two owner keys exactly one goes through, every time', async () => {
    for (let round = 0; round < 6; round++) {
      const t = await newTenant();
      const second = await issue(t.owner.key, 'owner');
      // Each key revokes the other, or itself, at the same moment.
      const [a, b] =
        round % 2 === 0
          ? await Promise.all([
              s.request('DELETE', `/v1/access-keys/${second.id}`, { key: t.owner.key }),
              s.request('DELETE', `/v1/access-keys/${t.owner.id}`, { key: second.key }),
            ])
          : await Promise.all([
              s.request('DELETE', `/v1/access-keys/${t.owner.id}`, { key: t.owner.key }),
              s.request('DELETE', `/v1/access-keys/${second.id}`, { key: second.key }),
            ]);
      const statuses = [a.status, b.status].sort();
      // 204 + 409, or 204 + 401 when the winner revoked the loser's own key before it was checked.
      assert.ok(statuses[0] === 204 && (statuses[1] === 409 || statuses[1] === 401), `round ${round}: ${a.status} ${a.text} / ${b.status} ${b.text}`);
      const alive = [(await works(t.owner.key)) ? t.owner : null, (await works(second.key)) ? second : null].filter((k) => k !== null);
      assert.equal(alive.length, 1, `round ${round}: ${alive.length} owner keys left`);
      const keys = (await s.request('GET', '/v1/access-keys?per_page=100', { key: alive[0]!.key })).body.data as Array<{ id: string; role: string }>;
      assert.deepEqual(
        keys.filter((k) => k.role === 'owner').map((k) => k.id),
        [alive[0]!.id],
      );
    }
  });

  it('no access key reached a log line, a data file or the audit log', async () => {
    await assertServerHoldsNoSecret(s, issuedKeys);
  });
});
