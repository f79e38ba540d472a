// Staged rotation natively: POST /v1/credentials/{id}/versions/pending, then …/versions/{n}/promote.
// The service behind it is what AWS Secrets Manager's AWSPENDING maps to (test/compat-aws.test.ts).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, ok, type TestServer } from '../support/server.ts';
import { assertServerHoldsNoSecret, canary } from '../support/canary.ts';

let s: TestServer;
const secrets: string[] = [];
const fresh = (label: string) => {
  const v = canary(label);
  secrets.push(v);
  return v;
};

before(async () => {
  s = await startServer();
});
after(async () => {
  await assertServerHoldsNoSecret(s, secrets);
  await s.stop();
});

describe('pending versions', () => {
  it('a pending version is readable by number and used by nothing until promoted', async () => {
    const [v1, v2] = [fresh('pend1'), fresh('pend2')];
    const c = await ok(s.request('POST', '/v1/credentials', { body: { name: 'staged natively', type: 'text', secret: { value: v1 } } }));
    const p = await ok(s.request('POST', `/v1/credentials/${c.id}/versions/pending`, { body: { secret: { value: v2 } } }));
    assert.deepEqual([p.version, p.stage], [2, 'pending']);
    assert.equal((await ok(s.request('GET', `/v1/credentials/${c.id}/secret`), 200)).secret.value, v1);
    assert.equal((await ok(s.request('GET', `/v1/credentials/${c.id}/secret?version=2`), 200)).secret.value, v2);
    const versions = await ok(s.request('GET', `/v1/credentials/${c.id}/versions`), 200);
    assert.deepEqual(
      versions.data.map((v: any) => [v.version, v.stage]),
      [
        [2, 'pending'],
        [1, 'current'],
      ],
    );
    const promoted = await ok(s.request('POST', `/v1/credentials/${c.id}/versions/2/promote`, { body: { grace_period_seconds: 600 } }), 200);
    assert.equal(promoted.version, 2);
    assert.equal((await ok(s.request('GET', `/v1/credentials/${c.id}/secret`), 200)).secret.value, v2);
    assert.equal((await ok(s.request('GET', `/v1/credentials/${c.id}/secret?version=1`), 200)).secret.value, v1);
    const after = await ok(s.request('GET', `/v1/credentials/${c.id}/versions`), 200);
    assert.deepEqual(
      after.data.map((v: any) => [v.version, v.stage]),
      [
        [2, 'current'],
        [1, 'previous'],
      ],
    );
    const events = await ok(s.request('GET', `/v1/audit-events?filter[credential_id]=${c.id}&per_page=100`), 200);
    const actions = events.data.map((e: any) => e.action);
    assert.ok(actions.includes('credential.version_pending') && actions.includes('credential.version_promote'), JSON.stringify(actions));
  });

  it('a new current version written while one is pending is numbered after it, and leaves it pending', async () => {
    const [v1, v2, v3] = [fresh('pendA'), fresh('pendB'), fresh('pendC')];
    const c = await ok(s.request('POST', '/v1/credentials', { body: { name: 'staged then rotated', type: 'text', secret: { value: v1 } } }));
    await ok(s.request('POST', `/v1/credentials/${c.id}/versions/pending`, { body: { secret: { value: v2 } } }));
    const rotated = await ok(s.request('POST', `/v1/credentials/${c.id}/rotate`, { body: { secret: { value: v3 } } }), 200);
    assert.equal(rotated.version, 3);
    const versions = await ok(s.request('GET', `/v1/credentials/${c.id}/versions`), 200);
    assert.deepEqual(
      versions.data.map((v: any) => [v.version, v.stage]),
      [
        [3, 'current'],
        [2, 'pending'],
        [1, 'previous'],
      ],
    );
    // A second pending version retires the first.
    const second = await ok(s.request('POST', `/v1/credentials/${c.id}/versions/pending`, { body: { secret: { value: fresh('pendD') } } }));
    assert.equal(second.version, 4);
    const r = await s.request('POST', `/v1/credentials/${c.id}/versions/2/promote`);
    assert.equal(r.status, 404, r.text);
  });

  it('needs credentials:rotate and a valid secret for the type; only a pending version is promoted', async () => {
    const c = await ok(s.request('POST', '/v1/credentials', { body: { name: 'staged guarded', type: 'text', secret: { value: fresh('pendG') } } }));
    const viewer = await ok(s.request('POST', '/v1/access-keys', { body: { name: 'pend viewer', role: 'viewer' } }));
    secrets.push(viewer.key);
    const denied = await s.request('POST', `/v1/credentials/${c.id}/versions/pending`, { key: viewer.key, body: { secret: { value: fresh('pendX') } } });
    assert.equal(denied.status, 403, denied.text);
    const bad = await s.request('POST', `/v1/credentials/${c.id}/versions/pending`, { body: { secret: { nope: 'x' } } });
    assert.equal(bad.status, 422, bad.text);
    const notPending = await s.request('POST', `/v1/credentials/${c.id}/versions/1/promote`);
    assert.equal(notPending.status, 404, notPending.text);
    const versions = await ok(s.request('GET', `/v1/credentials/${c.id}/versions`), 200);
    assert.deepEqual(
      versions.data.map((v: any) => [v.version, v.stage]),
      [[1, 'current']],
    );
  });
});
