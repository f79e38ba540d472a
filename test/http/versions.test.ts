import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { smtpBody, startServer, type TestServer } from '../support/server.ts';

let s: TestServer;
before(async () => {
  s = await startServer();
});
after(async () => {
  await s.stop();
});

const reveal = (id: string, qs = '') => s.request('GET', `/v1/credentials/${id}/secret${qs}`);

describe('POST /v1/credentials/{id}/rotate and versions', () => {
  it('moves current → previous (readable for the grace period) → deprecated', async () => {
    const c = (await s.request('POST', '/v1/credentials', { body: smtpBody('Rotor', 'pw-one') })).body;
    const r1 = await s.request('POST', `/v1/credentials/${c.id}/rotate`, { body: { secret: { password: 'pw-two' }, grace_period_seconds: 600 } });
    assert.equal(r1.status, 200, r1.text);
    assert.equal(r1.body.version, 2);
    assert.equal((await reveal(c.id)).body.secret.password, 'pw-two');
    assert.equal((await reveal(c.id, '?version=1')).body.secret.password, 'pw-one');
    const versions = await s.request('GET', `/v1/credentials/${c.id}/versions`);
    assert.deepEqual(
      versions.body.data.map((v: any) => [v.version, v.stage]),
      [
        [2, 'current'],
        [1, 'previous'],
      ],
    );
    assert.ok(Date.parse(versions.body.data[1].expires_at) > Date.now() + 500_000);

    await s.request('POST', `/v1/credentials/${c.id}/rotate`, { body: { secret: { password: 'pw-three' }, grace_period_seconds: 0 } });
    const after3 = await s.request('GET', `/v1/credentials/${c.id}/versions`);
    assert.deepEqual(
      after3.body.data.map((v: any) => [v.version, v.stage]),
      [
        [3, 'current'],
        [2, 'previous'],
        [1, 'deprecated'],
      ],
    );
    const gone = await reveal(c.id, '?version=2');
    assert.equal(gone.status, 404);
    assert.equal(gone.body.error.code, 'VERSION_NOT_FOUND');
    assert.equal((await reveal(c.id, '?version=1')).status, 404);
    const one = await s.request('GET', `/v1/credentials/${c.id}/versions/1`);
    assert.equal(one.body.stage, 'deprecated');
    assert.equal(one.text.includes('pw-one'), false);
    assert.equal((await s.request('GET', `/v1/credentials/${c.id}/versions/9`)).status, 404);
  });

  it('restores an old version as a new current one', async () => {
    const c = (await s.request('POST', '/v1/credentials', { body: smtpBody('Restorer', 'pw-a') })).body;
    await s.request('PATCH', `/v1/credentials/${c.id}`, { body: { secret: { password: 'pw-b' } } });
    const r = await s.request('POST', `/v1/credentials/${c.id}/versions/1/restore`);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.version, 3);
    assert.equal((await reveal(c.id)).body.secret.password, 'pw-a');
    assert.equal((await s.request('POST', `/v1/credentials/${c.id}/versions/3/restore`)).status, 409);
  });

  it('rotates a generatable type with an empty body, and refuses that for a type that cannot', async () => {
    const k = await s.request('POST', '/v1/credentials', { body: { name: 'Gen Key', type: 'api_key' } });
    assert.equal(k.status, 201, k.text);
    const first = k.body.generated_secret.value;
    const r = await s.request('POST', `/v1/credentials/${k.body.id}/rotate`);
    assert.equal(r.status, 200, r.text);
    assert.notEqual(r.body.generated_secret.value, first);
    assert.equal((await reveal(k.body.id)).body.secret.value, r.body.generated_secret.value);
    const smtp = (await s.request('POST', '/v1/credentials', { body: smtpBody('No Gen') })).body;
    const refused = await s.request('POST', `/v1/credentials/${smtp.id}/rotate`, { body: {} });
    assert.equal(refused.status, 422);
    assert.equal(refused.body.error.details[0].path, 'secret');
  });

  it('gives 100 concurrent readers whole versions while rotating', async () => {
    const c = (
      await s.request('POST', '/v1/credentials', { body: { ...smtpBody('Busy', 'v1'), test_credential_enabled: true, test_secret: { password: 't1' } } })
    ).body;
    const rotations = (async () => {
      for (let i = 2; i <= 6; i++) {
        const r = await s.request('POST', `/v1/credentials/${c.id}/rotate`, { body: { secret: { password: `v${i}` } } });
        assert.equal(r.status, 200);
      }
    })();
    const reads = Array.from({ length: 100 }, (_, i) => reveal(c.id, i % 2 === 0 ? '' : '?variant=test'));
    const results = await Promise.all(reads);
    await rotations;
    for (const [i, r] of results.entries()) {
      assert.equal(r.status, 200);
      if (i % 2 === 1) {
        // A test reveal carries the test secret only (rotation keeps it).
        assert.deepEqual([r.body.secret.password, r.body.test_secret.password], ['t1', 't1']);
        continue;
      }
      const v = Number(String(r.body.secret.password).slice(1));
      // Metadata and secret come from one version: never a mix.
      assert.equal(r.body.version, v);
    }
  });
});
