// Account credentials (document 002): "There always have to be at least one credential in your
// account." The rule is the account's (every live smtp/api_key credential of the tenant, seen or
// not by the caller), held by the store inside the deleting transaction, whatever route deletes:
// this dialect's DELETE, the native DELETE (soft or purge), integration-credentials' DELETE.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type ApiResponse, type TestServer } from '../support/server.ts';
import { assertServerHoldsNoSecret, canary } from '../support/canary.ts';

const AC = '/compat/account-credentials';
const IC = '/compat/integration-credentials';
let s: TestServer;
const secrets: string[] = [];

async function native(method: string, path: string, body?: unknown, key?: string) {
  const r = await s.request(method, path, { body, key });
  assert.ok(r.status < 300, `${method} ${path}: ${r.status} ${r.text}`);
  return r.body;
}

/** A fresh tenant (its own account) and its owner key. */
async function account(name: string): Promise<{ id: string; key: string }> {
  const t = await native('POST', '/v1/tenants', { name });
  return { id: t.tenant.id, key: t.owner_access_key.key };
}

/** Document 002's POST request sample; the key is shown once and kept for the leak check. */
async function create(key: string, name: string, type: 'smtp' | 'api', extra: Record<string, unknown> = {}) {
  const r = await s.request('POST', `${AC}/v1/credentials`, { key, body: { name, type, ...extra } });
  assert.equal(r.status, 201, r.text);
  secrets.push(r.body.key);
  return r.body;
}

function conflict(r: ApiResponse) {
  assert.equal(r.status, 409, r.text);
  assert.equal(r.body.error.code, 'CONFLICT');
}

/** How many live account credentials the tenant holds, read by its owner through the dialect. */
async function live(key: string): Promise<number> {
  const r = await s.request('GET', `${AC}/v1/credentials?per_page=100`, { key });
  assert.equal(r.status, 200, r.text);
  return r.body.data.length;
}

before(async () => {
  s = await startServer();
});
after(async () => {
  await assertServerHoldsNoSecret(s, secrets);
  await s.stop();
});

describe('account credentials: at least one remains, for the account, whatever route deletes', () => {
  it('counts the whole account, not what a team-scoped key sees (no false 409)', async () => {
    const a = await account('Account team scope');
    const t1 = await native('POST', '/v1/teams', { name: 'Mail team' }, a.key);
    const t2 = await native('POST', '/v1/teams', { name: 'Other team' }, a.key);
    const mine = await native(
      'POST',
      '/v1/credentials',
      { name: 'Team relay', type: 'smtp', team_id: t1.id, read_access: 'TEAM', config: { host: 'smtp.example.com' }, secret: { password: canary('p1') } },
      a.key,
    );
    await native(
      'POST',
      '/v1/credentials',
      { name: 'Other relay', type: 'smtp', team_id: t2.id, read_access: 'TEAM', config: { host: 'smtp.example.com' }, secret: { password: canary('p2') } },
      a.key,
    );
    const scoped = (await native('POST', '/v1/access-keys', { name: 'mail team admin', role: 'integration_admin', team_ids: [t1.id] }, a.key)).key;
    // The scoped key sees one account credential; the account has two, so the delete goes through.
    const seen = await s.request('GET', `${AC}/v1/credentials`, { key: scoped });
    assert.deepEqual(
      seen.body.data.map((c: any) => c.id),
      [mine.id],
    );
    const del = await s.request('DELETE', `${AC}/v1/credentials/${mine.id}`, { key: scoped });
    assert.equal(del.status, 204, del.text);
    assert.equal(await live(a.key), 1);
  });

  it("holds on the native DELETE (soft and purge) and on integration-credentials' DELETE", async () => {
    const a = await account('Account every route');
    const only = await create(a.key, 'My Credential', 'smtp');
    conflict(await s.request('DELETE', `/v1/credentials/${only.id}`, { key: a.key }));
    conflict(await s.request('DELETE', `/v1/credentials/${only.id}?purge=true`, { key: a.key }));
    conflict(await s.request('DELETE', `${AC}/v1/credentials/${only.id}`, { key: a.key }));
    assert.equal(await live(a.key), 1);
    // An api_key credential made through integration-credentials is part of the account too.
    const made = await s.request('POST', `${IC}/api/v1/credentials`, {
      key: a.key,
      headers: { accept: 'application/json', 'x-tenantid': a.id },
      body: { integrationId: 'mail-int', credentialName: 'Mail API', authType: 'api_key' },
    });
    assert.equal(made.status, 201, made.text);
    secrets.push(made.body.data.accessToken);
    assert.equal((await s.request('DELETE', `/v1/credentials/${only.id}`, { key: a.key })).status, 204);
    const last = await s.request('DELETE', `${IC}/api/v1/credentials/${made.body.data.id}`, {
      key: a.key,
      headers: { accept: 'application/json', 'x-tenantid': a.id },
    });
    assert.equal(last.status, 409, last.text);
    assert.equal(last.body.success, false);
    assert.equal(last.body.error.code, 'CONFLICT');
    assert.equal(await live(a.key), 1);
    // Other types are not part of the account: deleting them is never refused by this rule.
    const text = await native('POST', '/v1/credentials', { name: 'Unrelated', type: 'text', secret: { value: canary('t') } }, a.key);
    assert.equal((await s.request('DELETE', `/v1/credentials/${text.id}`, { key: a.key })).status, 204);
  });

  it('two concurrent deletes of the last two: exactly one succeeds, one credential remains', async () => {
    for (let round = 0; round < 5; round++) {
      const a = await account(`Account race ${round}`);
      const x = await create(a.key, 'Race one', 'smtp');
      const y = await create(a.key, 'Race two', 'api');
      const [rx, ry] = await Promise.all([
        s.request('DELETE', `/v1/credentials/${x.id}`, { key: a.key }),
        s.request('DELETE', `${AC}/v1/credentials/${y.id}`, { key: a.key }),
      ]);
      assert.deepEqual([rx.status, ry.status].sort(), [204, 409], `${rx.text} ${ry.text}`);
      assert.equal(await live(a.key), 1);
    }
  });

  it('pages unfiltered lists (both types) to any depth: every credential once, newest first', async () => {
    const a = await account('Account paging');
    const made: string[] = [];
    for (let i = 0; i < 23; i++) made.push((await create(a.key, `Paged ${i}`, i % 3 === 0 ? 'api' : 'smtp')).id);
    const seen: any[] = [];
    for (let page = 1; page <= 4; page++) {
      const r = await s.request('GET', `${AC}/v1/credentials?per_page=7&page=${page}`, { key: a.key });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.body.data.length, page < 4 ? 7 : 2);
      seen.push(...r.body.data);
    }
    assert.deepEqual(
      seen.map((c) => c.id),
      [...made].reverse(),
    );
    assert.deepEqual(new Set(seen.map((c) => c.type)), new Set(['smtp', 'api']));
    // Past 10,000 rows deep (page × per_page) is an ordinary page, not a 400.
    const deep = await s.request('GET', `${AC}/v1/credentials?per_page=100&page=101`, { key: a.key });
    assert.equal(deep.status, 200, deep.text);
    assert.deepEqual(deep.body, { data: [] });
    // The document's request sample (curl -G with the JSON object) with both filters still works.
    const both = await s.request('GET', `${AC}/v1/credentials?per_page=25&page=1&filter[name]=Paged%201&filter[type]=smtp`, { key: a.key });
    assert.equal(both.status, 200, both.text);
    assert.ok(both.body.data.length > 0 && both.body.data.every((c: any) => c.type === 'smtp' && c.name.startsWith('Paged 1')));
  });
});
