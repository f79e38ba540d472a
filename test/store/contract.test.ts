import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { AccessKeyRow, CredentialRow, IdempotencyRow, Store } from '../../src/store/port.ts';
import { credentialRow, makeStoreFixture, openStoreUnderTest, STORE_ACTOR, storeInstant, TEST_STORE, versionRow, type StoreFixture } from '../support/store.ts';

/*
 * What every adapter promises through the Store port, below HTTP, on the store under test (the
 * runner runs this folder once per store): compare-and-set on a credential's revision, the
 * last-manager and last-owner-key guards, and idempotency-key reservations. Each rule is also
 * reached through HTTP elsewhere; here a second adapter cannot pass the HTTP suite by luck of
 * timing while breaking the port's contract. Refresh fencing is in refresh-fencing.test.ts.
 */

let fixture: StoreFixture;
let store: Store;
const actor = STORE_ACTOR;
const at = storeInstant;
const credential = credentialRow;
const version = versionRow;
const newTenant = () => `ten_${randomBytes(6).toString('hex')}`;

function accessKey(tenantId: string, role: string, over: Partial<AccessKeyRow> = {}): AccessKeyRow {
  const keyHash = randomBytes(32);
  return {
    id: `key_${randomBytes(8).toString('hex')}`,
    tenantId,
    name: `${role} key`,
    type: 'api',
    role,
    teamIds: [],
    prefix: 'lk_live_xxxx',
    keyHash,
    platformAdmin: false,
    expiresAt: null,
    lastUsedAt: null,
    createdAt: at(0),
    updatedAt: at(0),
    revision: 1,
    createdBy: actor,
    ...over,
  };
}

function reservation(tenantId: string, key: string, over: Partial<IdempotencyRow> = {}): IdempotencyRow {
  return { tenantId, key, principalId: 'key_a', fingerprint: 'f1', state: 'pending', status: null, response: null, createdAt: at(0), ...over };
}

before(async () => {
  fixture = await makeStoreFixture();
  store = await openStoreUnderTest(fixture);
});

after(async () => {
  await store?.close();
  await fixture?.drop();
});

describe(`store contract: compare-and-set on a credential's revision (${TEST_STORE})`, () => {
  it('writes a new version only at the expected revision; a stale write stores nothing', async () => {
    const tenantId = newTenant();
    const c = credential(tenantId);
    assert.equal(await store.insertCredential(tenantId, { credential: c, version: version(c, 1), audit: [] }), 'inserted');
    const v2 = { ...c, version: 2, revision: 2, description: 'second' };
    assert.equal(await store.updateCredential(tenantId, 1, { credential: v2, version: version(v2, 2), audit: [] }), 'updated');
    // A writer that read revision 1 comes back late: refused, neither row nor version stored.
    const late = { ...c, version: 2, revision: 2, description: 'late' };
    assert.equal(await store.updateCredential(tenantId, 1, { credential: late, version: null, audit: [] }), 'stale');
    const stored = await store.getCredential(tenantId, c.id);
    assert.equal(stored?.revision, 2);
    assert.equal(stored?.description, 'second');
    assert.deepEqual((await store.listVersions(tenantId, c.id)).map((v) => v.version).sort(), [1, 2]);
  });

  it('of two concurrent writes at one revision, exactly one lands', async () => {
    const tenantId = newTenant();
    const c = credential(tenantId);
    await store.insertCredential(tenantId, { credential: c, version: version(c, 1), audit: [] });
    const writes = ['a', 'b', 'c', 'd'].map((d) => {
      const next = { ...c, version: 2, revision: 2, description: d };
      return store.updateCredential(tenantId, 1, { credential: next, version: version(next, 2), audit: [] });
    });
    const results = await Promise.all(writes);
    assert.deepEqual(results.filter((r) => r === 'updated').length, 1, results.join());
    assert.deepEqual(results.filter((r) => r === 'stale').length, 3, results.join());
    assert.equal((await store.listVersions(tenantId, c.id)).length, 2);
  });

  it('refuses a taken id and a taken name in the same team, and writes nothing for them', async () => {
    const tenantId = newTenant();
    const c = credential(tenantId);
    await store.insertCredential(tenantId, { credential: c, version: version(c, 1), audit: [] });
    const sameId = credential(tenantId, { id: c.id, slug: 'other_slug' });
    assert.equal(await store.insertCredential(tenantId, { credential: sameId, version: version(sameId, 1), audit: [] }), 'id_taken');
    const sameName = credential(tenantId, { slug: c.slug });
    assert.equal(await store.insertCredential(tenantId, { credential: sameName, version: version(sameName, 1), audit: [] }), 'slug_taken');
    assert.equal(await store.getCredential(tenantId, sameName.id), null);
    assert.equal((await store.getCredential(tenantId, c.id))?.slug, c.slug);
  });

  it("scopes names per integration, and the account's smtp/api_key credentials apart from other types (migration 11)", async () => {
    const tenantId = newTenant();
    const insert = (c: CredentialRow) => store.insertCredential(tenantId, { credential: c, version: version(c, 1), audit: [] });
    const jira = credential(tenantId, { slug: 'production', type: 'oauth2', integrationId: 'jira' });
    assert.equal(await insert(jira), 'inserted');
    assert.equal(await insert(credential(tenantId, { slug: 'production', type: 'oauth2', integrationId: 'github' })), 'inserted');
    assert.equal(await insert(credential(tenantId, { slug: 'production', type: 'api_key', integrationId: 'jira' })), 'slug_taken');
    assert.equal(await insert(credential(tenantId, { slug: 'mine', type: 'smtp' })), 'inserted');
    assert.equal(await insert(credential(tenantId, { slug: 'mine', type: 'text' })), 'inserted');
    assert.equal(await insert(credential(tenantId, { slug: 'mine', type: 'api_key' })), 'slug_taken');
  });
});

describe(`store contract: console sessions (${TEST_STORE})`, () => {
  it('finds a session by its token hash only, deletes it, and purges expired ones', async () => {
    const tenantId = newTenant();
    const session = (expiresAt: string) => ({
      tokenHash: randomBytes(32),
      tenantId,
      keyHash: randomBytes(32),
      oidcIdentity: null,
      createdAt: at(0),
      expiresAt,
    });
    const live = session(at(3_600_000));
    const old = session(at(-1));
    await store.insertConsoleSession(live);
    await store.insertConsoleSession(old);
    assert.deepEqual(await store.findConsoleSession(live.tokenHash), live);
    assert.equal(await store.findConsoleSession(randomBytes(32)), null);
    assert.ok((await store.deleteExpiredConsoleSessions(at(0))) >= 1);
    assert.equal(await store.findConsoleSession(old.tokenHash), null);
    assert.deepEqual(await store.findConsoleSession(live.tokenHash), live);
    await store.deleteConsoleSession(live.tokenHash);
    assert.equal(await store.findConsoleSession(live.tokenHash), null);
  });

  it('keeps an OIDC session (identity, no key hash), and refuses a row that stands for both or neither (migration 14)', async () => {
    const tenantId = newTenant();
    const identity = JSON.stringify({ iss: 'https://idp.example', claims: { sub: 'alice' } });
    const sso = { tokenHash: randomBytes(32), tenantId, keyHash: null, oidcIdentity: identity, createdAt: at(0), expiresAt: at(3_600_000) };
    await store.insertConsoleSession(sso);
    assert.deepEqual(await store.findConsoleSession(sso.tokenHash), sso);
    await assert.rejects(store.insertConsoleSession({ ...sso, tokenHash: randomBytes(32), keyHash: randomBytes(32) }));
    await assert.rejects(store.insertConsoleSession({ ...sso, tokenHash: randomBytes(32), oidcIdentity: null }));
  });

  it('takes an SSO sign-in state once, and never an expired one', async () => {
    const live = randomBytes(32);
    const old = randomBytes(32);
    await store.insertConsoleOidcLogin({ stateHash: live, createdAt: at(0), expiresAt: at(600_000) });
    await store.insertConsoleOidcLogin({ stateHash: old, createdAt: at(-700_000), expiresAt: at(-100_000) });
    const takes = await Promise.all([1, 2, 3].map(() => store.takeConsoleOidcLogin(live, at(0))));
    assert.deepEqual(takes.sort(), [false, false, true]);
    assert.equal(await store.takeConsoleOidcLogin(old, at(0)), false);
    assert.equal(await store.takeConsoleOidcLogin(randomBytes(32), at(0)), false);
    // A new sign-in clears the ones nobody finished.
    const stale = randomBytes(32);
    await store.insertConsoleOidcLogin({ stateHash: stale, createdAt: at(-700_000), expiresAt: at(-100_000) });
    await store.insertConsoleOidcLogin({ stateHash: randomBytes(32), createdAt: at(0), expiresAt: at(600_000) });
    assert.equal(await store.takeConsoleOidcLogin(stale, at(-200_000)), false);
  });
});

describe(`store contract: the last manager and the last owner key (${TEST_STORE})`, () => {
  const MANAGERS = ['owner', 'admin'];

  it('deletes a manager key while another valid one remains, never the last', async () => {
    const tenantId = newTenant();
    const owner = accessKey(tenantId, 'owner');
    const admin = accessKey(tenantId, 'admin');
    // An expired manager key manages nothing: it does not count as the one that remains.
    const expired = accessKey(tenantId, 'owner', { expiresAt: at(-1000) });
    const reader = accessKey(tenantId, 'reader');
    for (const k of [owner, admin, expired, reader]) await store.insertAccessKey(tenantId, k, []);
    assert.equal(await store.deleteAccessKey(tenantId, owner.id, null, MANAGERS, at(0), []), 'deleted');
    assert.equal(await store.deleteAccessKey(tenantId, admin.id, null, MANAGERS, at(0), []), 'last_manager');
    assert.equal((await store.getAccessKey(tenantId, admin.id))?.id, admin.id);
    // Keys outside the guarded roles go whatever remains.
    assert.equal(await store.deleteAccessKey(tenantId, reader.id, null, MANAGERS, at(0), []), 'deleted');
  });

  it('keeps the last owner key when only owners are guarded, whatever admins remain', async () => {
    const tenantId = newTenant();
    const owner = accessKey(tenantId, 'owner');
    const admin = accessKey(tenantId, 'admin');
    for (const k of [owner, admin]) await store.insertAccessKey(tenantId, k, []);
    assert.equal(await store.deleteAccessKey(tenantId, owner.id, null, ['owner'], at(0), []), 'last_manager');
    assert.equal(await store.deleteAccessKey(tenantId, admin.id, null, ['owner'], at(0), []), 'deleted');
    assert.equal((await store.getAccessKey(tenantId, owner.id))?.role, 'owner');
  });

  it("counts only the tenant's own keys: another tenant's manager does not stand in", async () => {
    const tenantId = newTenant();
    const mine = accessKey(tenantId, 'owner');
    await store.insertAccessKey(tenantId, mine, []);
    const other = newTenant();
    await store.insertAccessKey(other, accessKey(other, 'owner'), []);
    assert.equal(await store.deleteAccessKey(tenantId, mine.id, null, MANAGERS, at(0), []), 'last_manager');
  });

  it('refuses a delete at a revision that moved, and a key that is gone', async () => {
    const tenantId = newTenant();
    const a = accessKey(tenantId, 'admin');
    const b = accessKey(tenantId, 'admin');
    for (const k of [a, b]) await store.insertAccessKey(tenantId, k, []);
    assert.equal(await store.updateAccessKey(tenantId, { ...a, name: 'renamed', revision: 2 }, 1, []), true);
    assert.equal(await store.updateAccessKey(tenantId, { ...a, name: 'late', revision: 2 }, 1, []), false);
    assert.equal(await store.deleteAccessKey(tenantId, a.id, 1, MANAGERS, at(0), []), 'stale');
    assert.equal(await store.deleteAccessKey(tenantId, a.id, 2, MANAGERS, at(0), []), 'deleted');
    assert.equal(await store.deleteAccessKey(tenantId, a.id, null, MANAGERS, at(0), []), 'stale');
  });

  it('of two managers deleted at once, one stays', async () => {
    const tenantId = newTenant();
    const a = accessKey(tenantId, 'owner');
    const b = accessKey(tenantId, 'admin');
    for (const k of [a, b]) await store.insertAccessKey(tenantId, k, []);
    const results = await Promise.all([a, b].map((k) => store.deleteAccessKey(tenantId, k.id, null, MANAGERS, at(0), [])));
    assert.deepEqual([...results].sort(), ['deleted', 'last_manager']);
  });
});

describe(`store contract: idempotency keys (${TEST_STORE})`, () => {
  it('reserves a key once; a second request sees the reservation, then the stored answer', async () => {
    const tenantId = newTenant();
    assert.deepEqual(await store.reserveIdempotencyKey(reservation(tenantId, 'k1'), at(-60_000)), { reserved: true });
    const again = await store.reserveIdempotencyKey(reservation(tenantId, 'k1', { fingerprint: 'f2' }), at(-60_000));
    assert.equal(again.reserved, false);
    assert.equal(again.reserved === false && again.existing.state, 'pending');
    assert.equal(again.reserved === false && again.existing.fingerprint, 'f1');
    await store.completeIdempotencyKey(tenantId, 'k1', 201, Buffer.from('{"id":"crd_1"}'));
    const done = await store.reserveIdempotencyKey(reservation(tenantId, 'k1'), at(-60_000));
    assert.equal(done.reserved, false);
    if (done.reserved === false) {
      assert.equal(done.existing.state, 'done');
      assert.equal(done.existing.status, 201);
      assert.equal(done.existing.response?.toString(), '{"id":"crd_1"}');
    }
  });

  it('keys are per tenant, a released key is free again, and of concurrent reservations one wins', async () => {
    const tenantId = newTenant();
    const other = newTenant();
    assert.equal((await store.reserveIdempotencyKey(reservation(tenantId, 'k'), at(-60_000))).reserved, true);
    assert.equal((await store.reserveIdempotencyKey(reservation(other, 'k'), at(-60_000))).reserved, true);
    await store.releaseIdempotencyKey(tenantId, 'k');
    assert.equal((await store.reserveIdempotencyKey(reservation(tenantId, 'k'), at(-60_000))).reserved, true);
    const racing = await Promise.all([1, 2, 3].map(() => store.reserveIdempotencyKey(reservation(tenantId, 'race'), at(-60_000))));
    assert.equal(racing.filter((r) => r.reserved).length, 1);
  });

  it('takes over a reservation left pending past the stale mark, never a finished one', async () => {
    const tenantId = newTenant();
    await store.reserveIdempotencyKey(reservation(tenantId, 'crashed', { createdAt: at(-120_000) }), at(-600_000));
    assert.equal((await store.reserveIdempotencyKey(reservation(tenantId, 'crashed', { createdAt: at(0) }), at(-60_000))).reserved, true);
    await store.reserveIdempotencyKey(reservation(tenantId, 'finished', { createdAt: at(-120_000) }), at(-600_000));
    await store.completeIdempotencyKey(tenantId, 'finished', 200, Buffer.from('{}'));
    assert.equal((await store.reserveIdempotencyKey(reservation(tenantId, 'finished', { createdAt: at(0) }), at(-60_000))).reserved, false);
  });

  it('purges keys created before the cut-off only', async () => {
    const tenantId = newTenant();
    await store.reserveIdempotencyKey(reservation(tenantId, 'old', { createdAt: at(-10 * 86_400_000) }), at(-20 * 86_400_000));
    await store.reserveIdempotencyKey(reservation(tenantId, 'new', { createdAt: at(0) }), at(-60_000));
    assert.ok((await store.purgeIdempotencyKeys(at(-86_400_000))) >= 1);
    assert.equal((await store.reserveIdempotencyKey(reservation(tenantId, 'old', { createdAt: at(0) }), at(-60_000))).reserved, true);
    assert.equal((await store.reserveIdempotencyKey(reservation(tenantId, 'new', { createdAt: at(0) }), at(-60_000))).reserved, false);
  });
});
