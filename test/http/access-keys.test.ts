/**
 * `/v1/access-keys` per the wire contract, roles and permissions, and tenant isolation, through HTTP on a
 * server started the way a user starts it.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes, randomInt } from 'node:crypto';
import { smtpBody, startServer, type ApiResponse, type TestServer } from '../support/server.ts';

let s: TestServer;
let credA = ''; // a credential of the default tenant (tenant A)
const SECRET_A = `secret-a-${randomBytes(10).toString('hex')}`;

const KEY_RE = /^lk_live_[A-Za-z0-9]{43}$/;
const TIME_RE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
const KEY_FIELDS = ['created_at', 'expires_at', 'id', 'last_used_at', 'name', 'prefix', 'role', 'type', 'updated_at'];
const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

let n = 0;
const unique = (what: string) => `${what}-${++n}-${randomBytes(4).toString('hex')}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Issued {
  id: string;
  key: string;
  prefix: string;
  body: any;
  etag: string | null;
}

async function issue(role: string, opts: { name?: string; expiresAt?: string | null; as?: string } = {}): Promise<Issued> {
  const r = await s.request('POST', '/v1/access-keys', {
    ...(opts.as ? { key: opts.as } : {}),
    body: { name: opts.name ?? unique(role), type: 'api', role, team_ids: [], expires_at: opts.expiresAt ?? null },
  });
  assert.equal(r.status, 201, r.text);
  return { id: r.body.id, key: r.body.key, prefix: r.body.prefix, body: r.body, etag: r.headers.get('etag') };
}

async function newTenant(): Promise<{ id: string; ownerKey: string; ownerKeyId: string }> {
  const r = await s.request('POST', '/v1/tenants', { body: { name: unique('tenant') } });
  assert.equal(r.status, 201, r.text);
  assert.match(r.body.tenant.id, /^ten_/);
  assert.match(r.body.owner_access_key.key, KEY_RE);
  return { id: r.body.tenant.id, ownerKey: r.body.owner_access_key.key, ownerKeyId: r.body.owner_access_key.id };
}

function assertError(res: ApiResponse, status: number, code: string, label = ''): void {
  assert.equal(res.status, status, `${label} ${res.text}`);
  assert.deepEqual(Object.keys(res.body), ['error'], `${label} not the envelope: ${res.text}`);
  assert.equal(res.body.error.code, code, `${label} ${res.text}`);
  assert.equal(res.body.error.request_id, res.headers.get('x-request-id'), `${label} request_id`);
}

/** An error body with its request id and the given ids blanked, for "looks exactly like" comparisons. */
function normalised(res: ApiResponse, ...ids: string[]): string {
  let t = res.text.replace(res.body.error.request_id, '<request_id>');
  for (const id of ids) t = t.split(id).join('<id>');
  return t;
}

/** A credential id that has never existed, of the same shape and length as a server-made one. */
const neverId = () => 'crd_01' + Array.from({ length: 24 }, () => CROCKFORD[randomInt(32)]).join('');

async function allKeys(key?: string): Promise<any[]> {
  const r = await s.request('GET', '/v1/access-keys?per_page=100', key ? { key } : {});
  assert.equal(r.status, 200, r.text);
  return r.body.data;
}

/** Polls until `fn` returns a truthy value or the time runs out; returns the last value. */
async function poll<T>(fn: () => Promise<T>, ms: number, every = 150): Promise<T> {
  const end = Date.now() + ms;
  let v = await fn();
  while (!v && Date.now() < end) {
    await sleep(every);
    v = await fn();
  }
  return v;
}

before(async () => {
  s = await startServer();
  assert.match(s.ownerKey, KEY_RE);
  const c = await s.request('POST', '/v1/credentials', { body: smtpBody('tenant A credential', SECRET_A) });
  assert.equal(c.status, 201, c.text);
  credA = c.body.id;
});

after(async () => {
  await s?.stop();
});

describe('POST /v1/access-keys', () => {
  it('201 with the key (lk_live_…) shown once, its prefix, and the documented fields', async () => {
    const name = unique('CI deploys');
    const r = await s.request('POST', '/v1/access-keys', { body: { name, type: 'api', role: 'service', team_ids: [], expires_at: null } });
    assert.equal(r.status, 201, r.text);
    const b = r.body;
    assert.match(b.key, KEY_RE);
    assert.match(b.id, /^key_[0-9A-HJKMNP-TV-Z]{26}$/);
    assert.equal(b.name, name);
    assert.equal(b.type, 'api');
    assert.equal(b.role, 'service');
    assert.equal(typeof b.prefix, 'string');
    assert.ok(b.prefix.length >= 8 && b.prefix.length < b.key.length, `prefix ${b.prefix}`);
    assert.ok(b.key.startsWith(b.prefix), 'prefix must be the first characters of the key');
    assert.ok(b.prefix.length > 'lk_live_'.length, 'a prefix of only the lk_live_ marker recognises nothing');
    assert.equal(b.last_used_at, null);
    assert.equal(b.expires_at, null);
    assert.match(b.created_at, TIME_RE);
    assert.match(b.updated_at, TIME_RE);
    for (const f of KEY_FIELDS) assert.ok(f in b, `missing ${f}`);
    for (const f of ['hash', 'key_hash', 'secret', 'tenant_id']) assert.equal(f in b, false, `${f} must not be shown`);
    assert.ok(r.headers.get('etag'), 'no ETag');
    // The key works at once.
    const use = await s.request('GET', '/v1/credentials', { key: b.key });
    assert.equal(use.status, 200, use.text);
  });

  it('two keys never share a key or a prefix', async () => {
    const a = await issue('viewer');
    const b = await issue('viewer');
    assert.notEqual(a.key, b.key);
    assert.notEqual(a.prefix, b.prefix);
  });

  it('refuses unknown roles, unknown fields and an expiry in the past (422), storing nothing', async () => {
    const before = (await allKeys()).length;
    for (const [body, path] of [
      [{ name: unique('x'), role: 'superuser' }, 'role'],
      [{ name: unique('x'), role: 'viewer', tenant_id: 'ten_x' }, 'tenant_id'],
      [{ name: unique('x'), role: 'viewer', platform_admin: true }, 'platform_admin'],
      [{ name: unique('x'), role: 'viewer', key: 'lk_live_' + 'A'.repeat(43) }, 'key'],
      [{ name: unique('x'), role: 'viewer', expires_at: new Date(Date.now() - 60_000).toISOString() }, 'expires_at'],
      [{ role: 'viewer' }, 'name'],
    ] as const) {
      const r = await s.request('POST', '/v1/access-keys', { body });
      assertError(r, 422, 'VALIDATION_FAILED', JSON.stringify(body));
      assert.ok(
        r.body.error.details.some((d: { path: string }) => d.path === path),
        `no detail at ${path}: ${r.text}`,
      );
    }
    assert.equal((await allKeys()).length, before);
  });
});

describe('GET /v1/access-keys and /v1/access-keys/{id}', () => {
  it('never show the key or its hash, only the prefix', async () => {
    const k = await issue('member');
    const sha = createHash('sha256').update(k.key).digest();
    const needles = [k.key, k.key.slice(k.prefix.length), sha.toString('hex'), sha.toString('base64'), sha.toString('base64url')];
    const one = await s.request('GET', `/v1/access-keys/${k.id}`);
    assert.equal(one.status, 200, one.text);
    assert.deepEqual(
      Object.keys(one.body)
        .filter((f) => f !== 'team_ids')
        .sort(),
      KEY_FIELDS,
    );
    assert.equal(one.body.prefix, k.prefix);
    assert.equal(one.body.id, k.id);
    const list = await s.request('GET', '/v1/access-keys?per_page=100');
    assert.equal(list.status, 200);
    assert.ok(
      list.body.data.some((x: { id: string }) => x.id === k.id),
      'the new key is not listed',
    );
    const filtered = await s.request('GET', `/v1/access-keys?filter[name]=${encodeURIComponent(k.body.name)}`);
    for (const res of [one, list, filtered]) {
      for (const needle of needles) assert.equal(res.text.includes(needle), false, `a key or its hash leaked: ${res.text.slice(0, 200)}`);
      const items = Array.isArray(res.body.data) ? res.body.data : [res.body];
      for (const item of items) {
        for (const f of ['key', 'hash', 'key_hash', 'secret']) assert.equal(f in item, false, `${f} shown in ${JSON.stringify(item)}`);
      }
    }
  });

  it('filter[name] and filter[type]', async () => {
    const tag = randomBytes(4).toString('hex');
    const alpha = await issue('viewer', { name: `alpha ${tag}` });
    const beta = await issue('viewer', { name: `beta ${tag}` });
    const byName = await s.request('GET', `/v1/access-keys?filter[name]=${encodeURIComponent(`alpha ${tag}`)}`);
    assert.equal(byName.status, 200, byName.text);
    const ids = byName.body.data.map((x: { id: string }) => x.id);
    assert.ok(ids.includes(alpha.id), 'the matching key is missing');
    assert.equal(ids.includes(beta.id), false, 'a key whose name does not match is listed');
    for (const x of byName.body.data) assert.ok(x.name.toLowerCase().includes(`alpha ${tag}`), `non-matching name ${x.name}`);
    assert.equal(byName.body.total, byName.body.data.length);

    const all = await s.request('GET', '/v1/access-keys?per_page=100');
    const byType = await s.request('GET', '/v1/access-keys?per_page=100&filter[type]=api');
    assert.equal(byType.status, 200, byType.text);
    assert.ok(byType.body.total >= 2);
    assert.equal(byType.body.total, all.body.total);
    for (const x of byType.body.data) assert.equal(x.type, 'api');
    const other = await s.request('GET', '/v1/access-keys?filter[type]=no-such-type');
    if (other.status === 200) assert.equal(other.body.total, 0, 'filter[type] did not filter');
    else assertError(other, 400, 'INVALID_PARAMETER');
  });

  it('pages with page/per_page and with next_cursor, newest first, no row twice', async () => {
    for (let i = 0; i < 4; i++) await issue('viewer');
    const all = await s.request('GET', '/v1/access-keys?per_page=100');
    const total = all.body.total as number;
    assert.ok(total >= 5);
    assert.equal(all.body.data.length, total);
    const order = all.body.data.map((x: { id: string }) => x.id);
    for (let i = 1; i < all.body.data.length; i++) {
      const [a, b] = [all.body.data[i - 1], all.body.data[i]];
      assert.ok(a.created_at > b.created_at || (a.created_at === b.created_at && a.id > b.id), 'not newest first with id as tie-breaker');
    }
    const p1 = await s.request('GET', '/v1/access-keys?per_page=2&page=1');
    const p2 = await s.request('GET', '/v1/access-keys?per_page=2&page=2');
    assert.equal(p1.status, 200);
    assert.equal(p1.body.page, 1);
    assert.equal(p1.body.per_page, 2);
    assert.equal(p2.body.page, 2);
    assert.equal(p1.body.total, total);
    assert.deepEqual(
      p1.body.data.map((x: { id: string }) => x.id),
      order.slice(0, 2),
    );
    assert.deepEqual(
      p2.body.data.map((x: { id: string }) => x.id),
      order.slice(2, 4),
    );
    assert.equal(typeof p1.body.next_cursor, 'string');
    const seen: string[] = [];
    let cursor: string | null = null;
    for (let guard = 0; guard < 100; guard++) {
      const r: ApiResponse = await s.request('GET', `/v1/access-keys?per_page=2${cursor ? `&cursor=${cursor}` : ''}`);
      assert.equal(r.status, 200, r.text);
      seen.push(...r.body.data.map((x: { id: string }) => x.id));
      cursor = r.body.next_cursor;
      if (!cursor) break;
    }
    assert.deepEqual(seen, order, 'cursor paging must visit every key once, in order');
  });

  it('an unknown id → 404 ACCESS_KEY_NOT_FOUND; a bad id → 400', async () => {
    assertError(await s.request('GET', '/v1/access-keys/key_01JD5Z6W9Y706QGCB39FQD380G'), 404, 'ACCESS_KEY_NOT_FOUND');
    assertError(await s.request('PUT', '/v1/access-keys/key_01JD5Z6W9Y706QGCB39FQD380G', { body: { name: 'x' } }), 404, 'ACCESS_KEY_NOT_FOUND');
    assertError(await s.request('DELETE', '/v1/access-keys/key_01JD5Z6W9Y706QGCB39FQD380G'), 404, 'ACCESS_KEY_NOT_FOUND');
    assertError(await s.request('GET', '/v1/access-keys/bad%20id'), 400, 'INVALID_PARAMETER');
  });

  it("another tenant's key id looks exactly like one that never existed", async () => {
    const b = await newTenant();
    const bKey = await issue('viewer', { as: b.ownerKey });
    const other = await s.request('GET', `/v1/access-keys/${bKey.id}`);
    const neverKeyId = 'key_01' + Array.from({ length: 24 }, () => CROCKFORD[randomInt(32)]).join('');
    const never = await s.request('GET', `/v1/access-keys/${neverKeyId}`);
    assertError(other, 404, 'ACCESS_KEY_NOT_FOUND');
    assertError(never, 404, 'ACCESS_KEY_NOT_FOUND');
    assert.equal(normalised(other, bKey.id), normalised(never, neverKeyId));
    assertError(await s.request('DELETE', `/v1/access-keys/${bKey.id}`), 404, 'ACCESS_KEY_NOT_FOUND');
    assert.equal((await s.request('GET', '/v1/credentials', { key: bKey.key })).status, 200, "tenant A revoked tenant B's key");
    assert.equal(
      (await allKeys()).some((x) => x.id === bKey.id),
      false,
      "tenant B's key is listed in tenant A",
    );
  });
});

describe('PUT /v1/access-keys/{id} renames, and only renames', () => {
  it('changes the name, nothing else, and the ETag', async () => {
    const k = await issue('viewer');
    const before = await s.request('GET', `/v1/access-keys/${k.id}`);
    const newName = unique('renamed');
    await sleep(5);
    const r = await s.request('PUT', `/v1/access-keys/${k.id}`, { body: { name: newName } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.name, newName);
    for (const f of ['id', 'type', 'role', 'prefix', 'expires_at', 'created_at']) assert.deepEqual(r.body[f], before.body[f], f);
    assert.ok(r.body.updated_at > before.body.updated_at, 'updated_at did not move');
    assert.equal('key' in r.body, false);
    assert.notEqual(r.headers.get('etag'), before.headers.get('etag'));
    const again = await s.request('GET', `/v1/access-keys/${k.id}`);
    assert.equal(again.body.name, newName);
    assert.equal((await s.request('GET', '/v1/credentials', { key: k.key })).status, 200, 'a rename must not break the key');
  });

  it('any other field → 422 naming it, and the key is unchanged', async () => {
    const k = await issue('viewer');
    const before = await s.request('GET', `/v1/access-keys/${k.id}`);
    for (const [body, path] of [
      [{ name: 'x', role: 'owner' }, 'role'],
      [{ name: 'x', expires_at: null }, 'expires_at'],
      [{ name: 'x', type: 'api' }, 'type'],
      [{ name: 'x', team_ids: [] }, 'team_ids'],
      [{ name: 'x', prefix: 'lk_live_AAAAAAAA' }, 'prefix'],
      [{ role: 'owner' }, 'role'],
      [{ name: 'a\nb' }, 'name'],
    ] as const) {
      const r = await s.request('PUT', `/v1/access-keys/${k.id}`, { body });
      assertError(r, 422, 'VALIDATION_FAILED', JSON.stringify(body));
      assert.ok(
        r.body.error.details.some((d: { path: string }) => d.path === path),
        `no detail at ${path}: ${r.text}`,
      );
    }
    const afterward = await s.request('GET', `/v1/access-keys/${k.id}`);
    assert.equal(afterward.text, before.text);
    assert.equal(afterward.body.role, 'viewer');
  });

  it('If-Match: the current ETag succeeds, a stale one → 412 and no change', async () => {
    const k = await issue('viewer');
    const cur = await s.request('GET', `/v1/access-keys/${k.id}`);
    const etag1 = cur.headers.get('etag');
    assert.ok(etag1);
    assert.equal(etag1, k.etag, 'the ETag of the create and of the GET differ');
    const first = await s.request('PUT', `/v1/access-keys/${k.id}`, { body: { name: unique('first') }, headers: { 'if-match': etag1 } });
    assert.equal(first.status, 200, first.text);
    const etag2 = first.headers.get('etag');
    assert.ok(etag2 && etag2 !== etag1);
    const stale = await s.request('PUT', `/v1/access-keys/${k.id}`, { body: { name: 'lost update' }, headers: { 'if-match': etag1 } });
    assertError(stale, 412, 'PRECONDITION_FAILED');
    const now = await s.request('GET', `/v1/access-keys/${k.id}`);
    assert.equal(now.body.name, first.body.name);
    assert.equal(now.headers.get('etag'), etag2);
    const staleDelete = await s.request('DELETE', `/v1/access-keys/${k.id}`, { headers: { 'if-match': etag1 } });
    assertError(staleDelete, 412, 'PRECONDITION_FAILED');
    assert.equal((await s.request('GET', '/v1/credentials', { key: k.key })).status, 200, 'a refused DELETE revoked the key');
    const okDelete = await s.request('DELETE', `/v1/access-keys/${k.id}`, { headers: { 'if-match': etag2 } });
    assert.equal(okDelete.status, 204, okDelete.text);
  });
});

describe('DELETE /v1/access-keys/{id}', () => {
  it('revokes at once: the very next request with that key → 401, same body as an unknown key', async () => {
    const k = await issue('admin');
    assert.equal((await s.request('GET', '/v1/credentials', { key: k.key })).status, 200);
    const del = await s.request('DELETE', `/v1/access-keys/${k.id}`);
    assert.equal(del.status, 204, del.text);
    assert.equal(del.text, '');
    const after = await s.request('GET', '/v1/credentials', { key: k.key });
    assertError(after, 401, 'UNAUTHENTICATED');
    const unknown = await s.request('GET', '/v1/credentials', { key: 'lk_live_' + 'Q'.repeat(43) });
    assertError(unknown, 401, 'UNAUTHENTICATED');
    assert.equal(normalised(after), normalised(unknown));
    assertError(await s.request('GET', `/v1/access-keys/${k.id}`), 404, 'ACCESS_KEY_NOT_FOUND');
    assertError(await s.request('DELETE', `/v1/access-keys/${k.id}`), 404, 'ACCESS_KEY_NOT_FOUND');
    assert.equal(
      (await allKeys()).some((x) => x.id === k.id),
      false,
      'a revoked key is still listed',
    );
  });

  it("deleting the tenant's last owner key → 409 CONFLICT, even with other keys (an admin too) left", async () => {
    const t = await newTenant();
    const viewer = await issue('viewer', { as: t.ownerKey });
    const svc = await issue('service', { as: t.ownerKey });
    const admin = await issue('admin', { as: t.ownerKey });
    const last = await s.request('DELETE', `/v1/access-keys/${t.ownerKeyId}`, { key: t.ownerKey });
    assertError(last, 409, 'CONFLICT');
    assert.equal((await s.request('GET', '/v1/credentials', { key: t.ownerKey })).status, 200, 'the refused delete revoked the key');
    // An admin cannot touch the owner key at all (keys are managed downwards only).
    assertError(await s.request('DELETE', `/v1/access-keys/${t.ownerKeyId}`, { key: admin.key }), 403, 'FORBIDDEN');
    // With a second owner key, the first can go; then the second is the last one.
    const owner2 = await issue('owner', { as: t.ownerKey });
    const ok = await s.request('DELETE', `/v1/access-keys/${t.ownerKeyId}`, { key: owner2.key });
    assert.equal(ok.status, 204, ok.text);
    assertError(await s.request('GET', '/v1/credentials', { key: t.ownerKey }), 401, 'UNAUTHENTICATED');
    assertError(await s.request('DELETE', `/v1/access-keys/${owner2.id}`, { key: owner2.key }), 409, 'CONFLICT');
    // Every other key can still be revoked, the last admin too: the owner key manages keys.
    assert.equal((await s.request('DELETE', `/v1/access-keys/${viewer.id}`, { key: admin.key })).status, 204);
    assert.equal((await s.request('DELETE', `/v1/access-keys/${svc.id}`, { key: owner2.key })).status, 204);
    assert.equal((await s.request('DELETE', `/v1/access-keys/${admin.id}`, { key: owner2.key })).status, 204);
    const left = await allKeys(owner2.key);
    assert.deepEqual(
      left.map((x) => x.id),
      [owner2.id],
    );
  });

  it('an expired owner key does not count as one the tenant keeps', async () => {
    const t = await newTenant();
    const expiring = await issue('owner', { as: t.ownerKey, expiresAt: new Date(Date.now() + 1500).toISOString() });
    const gone = await poll(async () => (await s.request('GET', '/v1/credentials', { key: expiring.key })).status === 401, 5000);
    assert.ok(gone, 'the expiring admin key never expired');
    const last = await s.request('DELETE', `/v1/access-keys/${t.ownerKeyId}`, { key: t.ownerKey });
    assertError(last, 409, 'CONFLICT', 'deleting the only working owner key (the other owner key has expired):');
  });
});

describe('unknown keys', () => {
  const guess = () => 'lk_live_' + Array.from({ length: 43 }, () => 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'[randomInt(62)]).join('');

  it('a key works from the first request after it is issued, however many unknown keys came before', async () => {
    for (let i = 0; i < 30; i++) assertError(await s.request('GET', '/v1/credentials', { key: guess() }), 401, 'UNAUTHENTICATED');
    const k = await issue('viewer');
    assert.equal((await s.request('GET', '/v1/credentials', { key: k.key })).status, 200);
    const t = await newTenant();
    assert.equal((await s.request('GET', '/v1/credentials', { key: t.ownerKey })).status, 200, "a new tenant's owner key");
  });

  it('a key that another process wrote into the store is accepted from 1 ms after its commit', async () => {
    const key = guess();
    const viewer = await issue('viewer');
    const db = await s.sql();
    try {
      // An unknown key just before the write: on SQLite the server's "no" is fresh now.
      assertError(await s.request('GET', '/v1/credentials', { key: guess() }), 401, 'UNAUTHENTICATED');
      await db.run(
        `INSERT INTO access_keys (tenant_id, id, name, type, role, team_ids, prefix, key_hash, platform_admin, expires_at, last_used_at, created_at, updated_at, revision, created_by)
         SELECT tenant_id, ?, ?, type, role, team_ids, ?, ?, platform_admin, NULL, NULL, created_at, updated_at, 1, created_by FROM access_keys WHERE id = ?`,
        'key_01' + Array.from({ length: 24 }, () => CROCKFORD[randomInt(32)]).join(''),
        unique('written elsewhere'),
        key.slice(0, 16),
        createHash('sha256').update(key).digest(),
        viewer.id,
      );
    } finally {
      await db.close();
    }
    await sleep(5);
    const r = await s.request('GET', '/v1/credentials', { key });
    assert.equal(r.status, 200, r.text);
  });
});

describe('last_used_at and expiry', () => {
  it('last_used_at is set after the key is used (batched: within 3 s)', async () => {
    const k = await issue('viewer');
    const before = await s.request('GET', `/v1/access-keys/${k.id}`);
    assert.equal(before.body.last_used_at, null);
    const t0 = new Date(Date.now() - 1000).toISOString();
    assert.equal((await s.request('GET', '/v1/credentials', { key: k.key })).status, 200);
    const seen = await poll(async () => (await s.request('GET', `/v1/access-keys/${k.id}`)).body.last_used_at as string | null, 3000);
    assert.ok(seen, 'last_used_at still null 3 s after use');
    assert.match(seen, TIME_RE);
    assert.ok(seen >= t0 && seen <= new Date(Date.now() + 1000).toISOString(), `last_used_at ${seen} is not the time of use`);
  });

  it('an expired key → 401 with the same body as an unknown key', async () => {
    const expiresAt = new Date(Date.now() + 2000).toISOString();
    const k = await issue('viewer', { expiresAt });
    assert.equal(k.body.expires_at, expiresAt);
    assert.equal((await s.request('GET', '/v1/credentials', { key: k.key })).status, 200, 'the key does not work before it expires');
    await sleep(Math.max(0, Date.parse(expiresAt) - Date.now()) + 300);
    const r = await s.request('GET', '/v1/credentials', { key: k.key });
    assertError(r, 401, 'UNAUTHENTICATED');
    const unknown = await s.request('GET', '/v1/credentials', { key: 'lk_live_' + 'Z'.repeat(43) });
    assert.equal(normalised(r), normalised(unknown));
  });

  it('an expires_at given with a UTC offset expires at that instant', async () => {
    const instant = Date.now() + 2000;
    // The same instant written as local time in UTC+05:00.
    const local = new Date(instant + 5 * 3600_000).toISOString().replace('Z', '+05:00');
    assert.equal(Date.parse(local), instant);
    const k = await issue('viewer', { expiresAt: local });
    assert.equal(Date.parse(k.body.expires_at), instant, 'expires_at names another instant');
    assert.equal((await s.request('GET', '/v1/credentials', { key: k.key })).status, 200);
    await sleep(Math.max(0, instant - Date.now()) + 300);
    const r = await s.request('GET', '/v1/credentials', { key: k.key });
    assertError(r, 401, 'UNAUTHENTICATED', `key with expires_at ${local} still works after that instant:`);
  });

  it('times are shown in UTC with milliseconds, whatever offset the caller wrote', async () => {
    const instant = Date.now() + 3_600_000;
    const local = new Date(instant - 3 * 3600_000).toISOString().replace('Z', '-03:00');
    const k = await issue('viewer', { expiresAt: local });
    assert.equal(k.body.expires_at, new Date(instant).toISOString(), 'in the create response');
    const got = await s.request('GET', `/v1/access-keys/${k.id}`);
    assert.equal(got.body.expires_at, new Date(instant).toISOString(), 'in GET');
  });
});

describe('roles', () => {
  it('a viewer key cannot create keys (403 FORBIDDEN), and nothing is created', async () => {
    const v = await issue('viewer');
    const before = (await allKeys()).length;
    for (const role of ['viewer', 'owner']) {
      const r = await s.request('POST', '/v1/access-keys', { key: v.key, body: { name: unique('by viewer'), role } });
      assertError(r, 403, 'FORBIDDEN');
    }
    assert.equal((await allKeys()).length, before);
  });

  it('an admin key cannot issue an owner or a service key (403), but can issue what it holds', async () => {
    const a = await issue('admin');
    const before = (await allKeys()).length;
    for (const role of ['owner', 'service', 'integration_admin']) {
      const r = await s.request('POST', '/v1/access-keys', { key: a.key, body: { name: unique(`admin issues ${role}`), role } });
      assertError(r, 403, 'FORBIDDEN', `admin issuing ${role}:`);
    }
    assert.equal((await allKeys()).length, before, 'a refused issue created a key');
    for (const role of ['admin', 'member', 'viewer']) {
      const r = await s.request('POST', '/v1/access-keys', { key: a.key, body: { name: unique(`admin issues ${role}`), role } });
      assert.equal(r.status, 201, `admin issuing ${role}: ${r.text}`);
    }
  });

  it('a member reads metadata but cannot reveal (403)', async () => {
    const m = await issue('member');
    const meta = await s.request('GET', `/v1/credentials/${credA}`, { key: m.key });
    assert.equal(meta.status, 200, meta.text);
    assert.equal(meta.body.id, credA);
    assert.equal(meta.text.includes(SECRET_A), false);
    assert.equal((await s.request('GET', '/v1/credentials', { key: m.key })).status, 200);
    const reveal = await s.request('GET', `/v1/credentials/${credA}/secret`, { key: m.key });
    assertError(reveal, 403, 'FORBIDDEN');
    assert.equal(reveal.text.includes(SECRET_A), false);
  });

  it('a service key reveals but cannot write (403)', async () => {
    const k = await issue('service');
    const reveal = await s.request('GET', `/v1/credentials/${credA}/secret`, { key: k.key });
    assert.equal(reveal.status, 200, reveal.text);
    assert.deepEqual(reveal.body.secret, { password: SECRET_A });
    const before = await s.request('GET', `/v1/credentials/${credA}`);
    const count = (await s.request('GET', '/v1/credentials')).body.total;
    assertError(await s.request('POST', '/v1/credentials', { key: k.key, body: smtpBody(unique('by service')) }), 403, 'FORBIDDEN', 'POST');
    assertError(await s.request('PUT', '/v1/credentials/crd_by_service', { key: k.key, body: smtpBody(unique('by service')) }), 403, 'FORBIDDEN', 'PUT');
    assertError(await s.request('PATCH', `/v1/credentials/${credA}`, { key: k.key, body: { description: 'by service' } }), 403, 'FORBIDDEN', 'PATCH');
    assertError(await s.request('DELETE', `/v1/credentials/${credA}`, { key: k.key }), 403, 'FORBIDDEN', 'DELETE');
    assertError(
      await s.request('POST', '/v1/access-keys', { key: k.key, body: { name: unique('by service'), role: 'service' } }),
      403,
      'FORBIDDEN',
      'issue key',
    );
    const afterward = await s.request('GET', `/v1/credentials/${credA}`);
    assert.equal(afterward.headers.get('etag'), before.headers.get('etag'));
    assert.equal(afterward.body.description, before.body.description);
    assert.equal((await s.request('GET', '/v1/credentials')).body.total, count);
  });
});

describe('tenants', () => {
  it('x-tenant-id of another tenant → 403; of its own → 200', async () => {
    const b = await newTenant();
    assertError(await s.request('GET', '/v1/credentials', { headers: { 'x-tenant-id': b.id } }), 403, 'FORBIDDEN', 'A key naming tenant B:');
    assertError(
      await s.request('GET', `/v1/credentials/${credA}`, { key: b.ownerKey, headers: { 'x-tenant-id': b.id.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A')) } }),
      403,
      'FORBIDDEN',
    );
    const own = await s.request('GET', '/v1/tenants', { key: b.ownerKey });
    assert.equal(own.status, 200, own.text);
    assert.deepEqual(
      own.body.data.map((t: { id: string }) => t.id),
      [b.id],
    );
    assert.equal((await s.request('GET', '/v1/credentials', { key: b.ownerKey, headers: { 'x-tenant-id': b.id } })).status, 200);
    // Tenant A's default tenant id, from its own listing.
    const mine = await s.request('GET', '/v1/tenants');
    const aId = mine.body.data[0].id as string;
    assertError(await s.request('GET', '/v1/credentials', { key: b.ownerKey, headers: { 'x-tenant-id': aId } }), 403, 'FORBIDDEN', 'B key naming tenant A:');
  });

  it("a key of tenant B gets 404 CREDENTIAL_NOT_FOUND for tenant A's credential on every endpoint, exactly like an id that never existed", async () => {
    const b = await newTenant();
    const beforeA = await s.request('GET', `/v1/credentials/${credA}`);
    const calls: [string, (id: string) => Promise<ApiResponse>][] = [
      ['GET', (id) => s.request('GET', `/v1/credentials/${id}`, { key: b.ownerKey })],
      ['PATCH', (id) => s.request('PATCH', `/v1/credentials/${id}`, { key: b.ownerKey, body: { description: 'written by tenant B' } })],
      ['DELETE', (id) => s.request('DELETE', `/v1/credentials/${id}`, { key: b.ownerKey })],
      ['DELETE purge', (id) => s.request('DELETE', `/v1/credentials/${id}?purge=true`, { key: b.ownerKey })],
      ['GET secret', (id) => s.request('GET', `/v1/credentials/${id}/secret`, { key: b.ownerKey })],
      ['POST restore', (id) => s.request('POST', `/v1/credentials/${id}/restore`, { key: b.ownerKey })],
    ];
    for (const [what, call] of calls) {
      const other = await call(credA);
      const never = neverId();
      const none = await call(never);
      assertError(other, 404, 'CREDENTIAL_NOT_FOUND', `${what} A's id as B:`);
      assertError(none, 404, 'CREDENTIAL_NOT_FOUND', `${what} unknown id:`);
      assert.equal(normalised(other, credA), normalised(none, never), `${what}: the two 404s differ`);
      assert.equal(other.headers.get('content-type'), none.headers.get('content-type'));
      assert.equal(other.headers.get('etag'), none.headers.get('etag'));
      assert.equal(other.text.includes(SECRET_A), false);
    }
    const list = await s.request('GET', '/v1/credentials?per_page=100', { key: b.ownerKey });
    assert.equal(
      list.body.data.some((c: { id: string }) => c.id === credA),
      false,
      "B lists A's credential",
    );
    // Tenant A's credential is untouched.
    const afterA = await s.request('GET', `/v1/credentials/${credA}`);
    assert.equal(afterA.status, 200, "B's requests deleted A's credential");
    assert.equal(afterA.text, beforeA.text);
    const reveal = await s.request('GET', `/v1/credentials/${credA}/secret`);
    assert.deepEqual(reveal.body.secret, { password: SECRET_A });
  });

  it("tenant B cannot restore tenant A's soft-deleted credential (404, as for an id that never existed)", async () => {
    const b = await newTenant();
    const c = await s.request('POST', '/v1/credentials', { body: smtpBody(unique('deleted in A')) });
    assert.equal(c.status, 201);
    assert.equal((await s.request('DELETE', `/v1/credentials/${c.body.id}`)).status, 204);
    const other = await s.request('POST', `/v1/credentials/${c.body.id}/restore`, { key: b.ownerKey });
    const never = neverId();
    const none = await s.request('POST', `/v1/credentials/${never}/restore`, { key: b.ownerKey });
    assertError(other, 404, 'CREDENTIAL_NOT_FOUND');
    assert.equal(normalised(other, c.body.id), normalised(none, never));
    assertError(await s.request('GET', `/v1/credentials/${c.body.id}`), 404, 'CREDENTIAL_NOT_FOUND', 'still deleted in A:');
    assert.equal((await s.request('POST', `/v1/credentials/${c.body.id}/restore`)).status, 200, 'A can restore its own');
  });

  it("PUT with tenant A's credential id, as tenant B, answers as for a never-used id and leaves A's alone", async () => {
    const b = await newTenant();
    const beforeA = await s.request('GET', `/v1/credentials/${credA}`);
    const never = neverId();
    const fresh = await s.request('PUT', `/v1/credentials/${never}`, { key: b.ownerKey, body: smtpBody(unique('b fresh')) });
    const clash = await s.request('PUT', `/v1/credentials/${credA}`, { key: b.ownerKey, body: smtpBody(unique('b clash'), 'b-secret') });
    assert.equal(clash.status, fresh.status, `PUT on A's id as B: ${clash.text}`);
    const afterA = await s.request('GET', `/v1/credentials/${credA}`);
    assert.equal(afterA.text, beforeA.text, "B's PUT changed A's credential");
    const reveal = await s.request('GET', `/v1/credentials/${credA}/secret`);
    assert.deepEqual(reveal.body.secret, { password: SECRET_A });
  });
});

describe('a source that keeps failing authentication is held back', () => {
  let t: TestServer;
  // Assertions here are about order (what was answered before what), never about speed: a held
  // failure waits HOLD_MS by a timer, longer than any stall of a loaded test machine, so "answered
  // before the held ones" means "not held". How fast good requests are during a flood is measured
  // by the bench (bench/soak.ts), not here: with a 300 ms bound this test failed on PostgreSQL
  // whenever the flood met a process that had not served a request yet.
  const HOLD_MS = 5000;
  before(async () => {
    t = await startServer({ env: { LATCHKEY_AUTH_FAILURE_DELAY_MS: String(HOLD_MS), LATCHKEY_AUTH_FAILURE_WINDOW_MS: '600000' } });
  });
  after(async () => {
    await t?.stop();
  });

  const timed = async (key: string, answered?: string[], label = ''): Promise<{ ms: number; res: ApiResponse }> => {
    const started = performance.now();
    const res = await t.request('GET', '/v1/credentials', { key });
    answered?.push(label);
    return { ms: performance.now() - started, res };
  };

  it('the first 10 failures of a window are answered at once, the rest held; a good request meanwhile is not held', async () => {
    const badKey = () => `lk_live_${randomBytes(32).toString('base64url').slice(0, 43)}`;
    const answered: string[] = [];
    const flood = Array.from({ length: 40 }, () => timed(badKey(), answered, 'bad'));
    // A good request from the same address once the free failures are answered, while the rest wait.
    while (answered.length < 10) await sleep(10);
    const good = await timed(t.ownerKey, answered, 'good');
    const bad = await Promise.all(flood);
    assert.equal(good.res.status, 200, good.res.text);
    const badBeforeGood = answered.indexOf('good');
    assert.ok(badBeforeGood >= 10 && badBeforeGood <= 20, `the good request was answered after ${badBeforeGood} failures: it waited for held ones`);
    for (const b of bad) assertError(b.res, 401, 'UNAUTHENTICATED');
    const bodies = new Set(bad.map((b) => normalised(b.res)));
    assert.equal(bodies.size, 1, 'held and prompt 401s must look the same');
    // The window is ten minutes long here, so all 40 fall in one however slow the machine is.
    const held = bad.filter((b) => b.ms >= HOLD_MS).length;
    assert.equal(held, 30, `${held} of 40 failures were held, expected all but the first 10`);
  });
});
