import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { CredentialRow, OAuthStateRow, Store } from '../../src/store/port.ts';
import { credentialRow, makeStoreFixture, openStoreUnderTest, STORE_ACTOR, storeInstant, TEST_STORE, versionRow, type StoreFixture } from '../support/store.ts';

/*
 * The refresh claim and its fence, through the Store port on the store under test: a claim is
 * exclusive while its lease runs; a holder whose lease ran out and was claimed again writes
 * nothing (so it cannot put an older refresh token over a newer one); a concurrent edit makes the
 * write 'stale' (re-read and retry) without losing the claim; the scheduler's claims do not
 * overlap; a state is taken once.
 */

let fixture: StoreFixture;
let store: Store;
const tenantId = `ten_${randomBytes(6).toString('hex')}`;
const _actor = STORE_ACTOR;
const at = storeInstant;
const version = versionRow;

function credential(over: Partial<CredentialRow> = {}): CredentialRow {
  const id = over.id ?? `crd_${randomBytes(8).toString('hex')}`;
  return credentialRow(tenantId, {
    id,
    name: `oauth ${id}`,
    slug: `oauth_${id}`,
    type: 'oauth2',
    config: { client_id: 'c', token_endpoint: 'https://idp.example/token', grant_type: 'client_credentials' },
    secretFields: ['client_secret'],
    expiresAt: at(0),
    ...over,
  });
}

async function insert(c: CredentialRow): Promise<void> {
  assert.equal(await store.insertCredential(tenantId, { credential: c, version: version(c, 1), audit: [] }), 'inserted');
}

const schedule = (revision: number) => ({ revision, nextAt: null, failures: 0, blocked: false });

before(async () => {
  fixture = await makeStoreFixture();
  store = await openStoreUnderTest(fixture);
});

after(async () => {
  await store?.close();
  await fixture?.drop();
});

describe(`refresh claims and fencing (${TEST_STORE})`, () => {
  it('a claim is exclusive while its lease runs, and can be taken over once it has run out', async () => {
    const c = credential();
    await insert(c);
    const f1 = await store.claimRefresh(tenantId, c.id, 'A', at(0), at(1000));
    assert.equal(typeof f1, 'number');
    assert.equal(await store.claimRefresh(tenantId, c.id, 'B', at(500), at(1500)), null);
    const f2 = await store.claimRefresh(tenantId, c.id, 'B', at(2000), at(3000));
    assert.equal(f2, (f1 as number) + 1);
    const st = await store.getRefreshState(tenantId, c.id);
    assert.equal(st?.claimedBy, 'B');
    assert.equal(st?.fence, f2);
  });

  it('a holder whose lease was taken over writes nothing (fenced); the new holder writes and releases', async () => {
    const c = credential();
    await insert(c);
    const f1 = (await store.claimRefresh(tenantId, c.id, 'A', at(0), at(1000))) as number;
    const f2 = (await store.claimRefresh(tenantId, c.id, 'B', at(2000), at(3000))) as number;
    const next = { ...c, version: 2, revision: 2 };
    // A comes back late with tokens from an older refresh token: refused, nothing stored.
    assert.equal(await store.completeRefresh(tenantId, 'A', f1, 1, { credential: next, version: version(c, 2), audit: [] }, schedule(2)), 'fenced');
    assert.equal(await store.getVersion(tenantId, c.id, 2), null);
    assert.equal((await store.getCredential(tenantId, c.id))?.version, 1);
    // B's write lands, with its version, and the claim is gone in the same transaction.
    assert.equal(await store.completeRefresh(tenantId, 'B', f2, 1, { credential: next, version: version(c, 2), audit: [] }, schedule(2)), 'updated');
    assert.ok(await store.getVersion(tenantId, c.id, 2));
    const st = await store.getRefreshState(tenantId, c.id);
    assert.equal(st?.claimedBy, null);
    assert.equal(st?.revision, 2);
    // A cannot release B's (already released) claim or write again either.
    assert.equal(await store.releaseRefresh(tenantId, c.id, 'A', f1, null), false);
  });

  it('a concurrent edit makes the write stale without losing the claim', async () => {
    const c = credential();
    await insert(c);
    const f = (await store.claimRefresh(tenantId, c.id, 'A', at(0), at(10_000))) as number;
    assert.equal(await store.updateCredential(tenantId, 1, { credential: { ...c, description: 'edited', revision: 2 }, version: null, audit: [] }), 'updated');
    const write = { credential: { ...c, version: 2, revision: 2 }, version: version(c, 2), audit: [] };
    assert.equal(await store.completeRefresh(tenantId, 'A', f, 1, write, schedule(2)), 'stale');
    assert.equal(await store.getVersion(tenantId, c.id, 2), null);
    assert.equal((await store.getRefreshState(tenantId, c.id))?.claimedBy, 'A');
    const again = { credential: { ...c, description: 'edited', version: 2, revision: 3 }, version: version(c, 2), audit: [] };
    assert.equal(await store.completeRefresh(tenantId, 'A', f, 2, again, schedule(3)), 'updated');
  });

  it('a failure is recorded with the release: last_error, a new revision, the schedule', async () => {
    const c = credential();
    await insert(c);
    const f = (await store.claimRefresh(tenantId, c.id, 'A', at(0), at(10_000))) as number;
    assert.equal(
      await store.releaseRefresh(tenantId, c.id, 'A', f, {
        lastError: 'invalid_grant: reconnect',
        schedule: { nextAt: null, failures: 1, blocked: true },
        audit: [],
      }),
      true,
    );
    const row = await store.getCredential(tenantId, c.id);
    assert.equal(row?.lastError, 'invalid_grant: reconnect');
    assert.equal(row?.revision, 2);
    const st = await store.getRefreshState(tenantId, c.id);
    assert.deepEqual([st?.claimedBy, st?.revision, st?.blocked, st?.failures], [null, 2, true, 1]);
  });

  it('the scheduler claims due credentials once, even when claiming concurrently', async () => {
    const due = await Promise.all(
      Array.from({ length: 6 }, async () => {
        const c = credential({ expiresAt: at(-60_000) });
        await insert(c);
        return c.id;
      }),
    );
    const notDue = credential({ expiresAt: at(3_600_000) });
    await insert(notDue);
    const q = (owner: string) => store.claimDueRefreshes({ type: 'oauth2', now: at(0), horizon: at(300_000), owner, leaseUntil: at(30_000), limit: 100 });
    const [x, y] = await Promise.all([q('X'), q('Y')]);
    const ids = [...x, ...y].map((r) => r.id).filter((id) => due.includes(id) || id === notDue.id);
    assert.equal(new Set(ids).size, ids.length, 'no credential claimed twice');
    assert.deepEqual(ids.filter((id) => due.includes(id)).sort(), [...due].sort());
    assert.equal(ids.includes(notDue.id), false);
    // Claimed: not handed out again while the lease runs.
    assert.equal((await q('Z')).filter((r) => due.includes(r.id)).length, 0);
  });

  it('an OAuth state is taken once', async () => {
    const row: OAuthStateRow = {
      stateHash: randomBytes(32).toString('hex'),
      tenantId,
      credentialId: 'crd_x',
      principal: { type: 'access_key', id: 'key_1', name: 'k', email: null, role: 'owner', teamIds: [] },
      codeVerifier: randomBytes(40),
      nonce: 'n',
      redirectUri: 'https://vault.example/v1/oauth/callback',
      returnTo: null,
      createdAt: at(0),
      expiresAt: at(600_000),
    };
    await store.insertOAuthState(row);
    const [one, two] = await Promise.all([store.takeOAuthState(row.stateHash), store.takeOAuthState(row.stateHash)]);
    assert.equal([one, two].filter((r) => r !== null).length, 1);
    const got = (one ?? two) as OAuthStateRow;
    assert.deepEqual(got.principal, row.principal);
    assert.ok(got.codeVerifier?.equals(row.codeVerifier as Buffer));
    assert.equal(await store.takeOAuthState(row.stateHash), null);
  });
});
