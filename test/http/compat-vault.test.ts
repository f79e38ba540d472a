// Vault / OpenBao KV v2 dialect (/compat/vault), driven by the node-vault client (npm) pointed at a
// real server: its own calls, its own errors (ApiResponseError with Vault's status and errors).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import nodeVault from 'node-vault';
import { CreateSecretCommand, GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { startServer, ok, type TestServer } from '../support/server.ts';
import { assertNoSecret, assertServerHoldsNoSecret, canary } from '../support/canary.ts';

let s: TestServer;
const secrets: string[] = [];
let keys: { admin: string; viewer: string; service: string; other: string };

function vault(token: string) {
  // Node's HTTP parser refuses the LIST method, so the client lists with GET ?list=1 (as Vault's Go client does).
  return nodeVault({ apiVersion: 'v1', endpoint: `${s.url}/compat/vault`, token, noCustomHTTPVerbs: true });
}

async function issue(role: string, key = s.ownerKey): Promise<string> {
  const k = await ok(s.request('POST', '/v1/access-keys', { key, body: { name: `vault ${role} ${Math.random()}`, role } }));
  secrets.push(k.key);
  return k.key;
}

/** node-vault's error for a call that must fail: Vault's status code. */
async function refused(p: Promise<unknown>, status: number): Promise<{ message: string; response: { statusCode: number; body: any } }> {
  try {
    await p;
  } catch (err) {
    const e = err as { message: string; response?: { statusCode: number; body: any } };
    assert.ok(e.response, `an ApiResponseError, got ${String(err)}`);
    assert.equal(e.response.statusCode, status, JSON.stringify(e.response.body));
    assert.ok(Array.isArray(e.response.body.errors), 'Vault error shape');
    return e as never;
  }
  assert.fail(`expected ${status}`);
}

async function reveals(id: string): Promise<number> {
  const events = await ok(s.request('GET', `/v1/audit-events?filter[credential_id]=${id}&filter[action]=credential.reveal&per_page=100`), 200);
  return events.data.length;
}

before(async () => {
  s = await startServer();
  const t = await ok(s.request('POST', '/v1/tenants', { body: { name: 'Vault other tenant' } }));
  secrets.push(t.owner_access_key.key);
  keys = { admin: await issue('admin'), viewer: await issue('viewer'), service: await issue('service'), other: t.owner_access_key.key };
});
after(async () => {
  await assertServerHoldsNoSecret(s, secrets);
  await s.stop();
});

describe('what clients call first', () => {
  it('sys/health, sys/mounts, sys/internal/ui/mounts, auth/token/lookup-self', async () => {
    const v = vault(s.ownerKey);
    const health = await v.health();
    assert.equal(health.initialized, true);
    assert.equal(health.sealed, false);
    const mounts = await v.mounts();
    assert.deepEqual(mounts.data['secret/'].options, { version: '2' });
    assert.equal(mounts.data['secret/'].type, 'kv');
    const ui = await v.read('sys/internal/ui/mounts/secret/app/db');
    assert.equal(ui.data.path, 'secret/');
    const self = await v.tokenLookupSelf();
    assert.deepEqual(self.data.policies, ['owner']);
    // The token is never echoed back.
    assertNoSecret({ 'lookup-self': JSON.stringify(self) }, [s.ownerKey]);
    await refused(vault('lk_live_' + 'x'.repeat(43)).tokenLookupSelf(), 403);
  });
});

describe('KV v2 through node-vault', () => {
  it('write, read, read a version, CAS conflict, metadata', async () => {
    const [p1, p2] = [canary('vault-p1'), canary('vault-p2')];
    secrets.push(p1, p2);
    const v = vault(s.ownerKey);
    const w1 = await v.write('secret/data/apps/api/db', { data: { username: 'app', password: p1 }, options: { cas: 0 } });
    assert.equal(w1.data.version, 1);
    const r1 = await v.read('secret/data/apps/api/db');
    assert.deepEqual(r1.data.data, { username: 'app', password: p1 });
    assert.equal(r1.data.metadata.version, 1);
    const conflict = await refused(v.write('secret/data/apps/api/db', { data: { username: 'app', password: p2 }, options: { cas: 0 } }), 400);
    assert.match(conflict.message, /check-and-set/);
    await refused(v.write('secret/data/apps/api/db', { data: { password: p2 }, options: { cas: 7 } }), 400);
    const w2 = await v.write('secret/data/apps/api/db', { data: { username: 'app', password: p2 }, options: { cas: 1 } });
    assert.equal(w2.data.version, 2);
    assert.deepEqual((await v.read('secret/data/apps/api/db')).data.data, { username: 'app', password: p2 });
    const old = await v.read('secret/data/apps/api/db?version=1');
    assert.deepEqual(old.data.data, { username: 'app', password: p1 });
    assert.equal(old.data.metadata.version, 1);
    await refused(v.read('secret/data/apps/api/db?version=9'), 404);
    await v.write('secret/metadata/apps/api/db', { custom_metadata: { owner: 'payments' } });
    const meta = await v.read('secret/metadata/apps/api/db');
    assert.equal(meta.data.current_version, 2);
    assert.equal(meta.data.oldest_version, 1);
    assert.deepEqual(Object.keys(meta.data.versions).sort(), ['1', '2']);
    assert.deepEqual(meta.data.custom_metadata, { owner: 'payments' });
    assertNoSecret({ metadata: JSON.stringify(meta) }, [p1, p2]);
    await refused(v.write('secret/metadata/apps/api/db', { max_versions: 5 }), 400);
    const sub = await v.read('secret/subkeys/apps/api/db');
    assert.deepEqual(sub.data.subkeys, { username: null, password: null });
    // Natively: a text credential named by the path, holding the JSON of the data.
    const list = await ok(s.request('GET', '/v1/credentials?filter[name]=apps/api/db'), 200);
    const c = list.data.find((x: any) => x.name === 'apps/api/db');
    assert.equal(c.type, 'text');
    assert.deepEqual(c.metadata, { owner: 'payments' });
    const native = await ok(s.request('GET', `/v1/credentials/${c.id}/secret`), 200);
    assert.deepEqual(JSON.parse(native.secret.value), { username: 'app', password: p2 });
  });

  it('list keys under a path, folders with a trailing slash', async () => {
    const v = vault(s.ownerKey);
    for (const path of ['team/a', 'team/b', 'team/deep/c']) {
      const x = canary('vault-list');
      secrets.push(x);
      await v.write(`secret/data/${path}`, { data: { value: x } });
    }
    const listed = await v.list('secret/metadata/team');
    assert.deepEqual(listed.data.keys, ['a', 'b', 'deep/']);
    assert.deepEqual((await v.list('secret/metadata/team/deep/')).data.keys, ['c']);
    await refused(v.list('secret/metadata/nothing-here'), 404);
  });

  it('soft delete, undelete, destroy', async () => {
    const x = canary('vault-del');
    secrets.push(x);
    const v = vault(s.ownerKey);
    await v.write('secret/data/lifecycle/one', { data: { value: x } });
    await v.delete('secret/data/lifecycle/one');
    await refused(v.read('secret/data/lifecycle/one'), 404);
    await v.write('secret/undelete/lifecycle/one', { versions: [1] });
    assert.deepEqual((await v.read('secret/data/lifecycle/one')).data.data, { value: x });
    await v.write('secret/delete/lifecycle/one', { versions: [1] });
    await refused(v.read('secret/data/lifecycle/one'), 404);
    await v.write('secret/undelete/lifecycle/one', { versions: [1] });
    // An admin may not destroy (the native purge is for owners), an owner may.
    await refused(vault(keys.admin).write('secret/destroy/lifecycle/one', { versions: [1] }), 403);
    await v.write('secret/destroy/lifecycle/one', { versions: [1] });
    await refused(v.read('secret/data/lifecycle/one'), 404);
    await refused(v.write('secret/undelete/lifecycle/one', { versions: [1] }), 404);
    const y = canary('vault-del2');
    secrets.push(y);
    await v.write('secret/data/lifecycle/two', { data: { value: y } });
    await v.delete('secret/metadata/lifecycle/two');
    await refused(v.read('secret/metadata/lifecycle/two'), 404);
  });

  it('a token of another tenant sees nothing; a viewer token reads metadata but not data', async () => {
    const x = canary('vault-guarded');
    secrets.push(x);
    await vault(s.ownerKey).write('secret/data/guarded/one', { data: { value: x } });
    const theirs = await refused(vault(keys.other).read('secret/data/guarded/one'), 404);
    const missing = await refused(vault(keys.other).read('secret/data/guarded/none'), 404);
    assert.deepEqual(theirs.response.body, missing.response.body);
    await refused(vault(keys.other).list('secret/metadata/guarded'), 404);
    const viewer = vault(keys.viewer);
    assert.equal((await viewer.read('secret/metadata/guarded/one')).data.current_version, 1);
    const denied = await refused(viewer.read('secret/data/guarded/one'), 403);
    assert.equal(denied.message, 'permission denied');
    await refused(viewer.write('secret/data/guarded/one', { data: { value: 'y'.repeat(20) } }), 403);
    assertNoSecret({ denied: JSON.stringify(denied.response.body) }, [x]);
  });
  it('a name read again finds what is there now: after a native rename, delete and restore', async () => {
    const v = vault(keys.service);
    const x = canary('vault-moving');
    secrets.push(x);
    // Read before it exists, then again once it does: a remembered miss would hide it.
    await refused(v.read('secret/data/moving/a'), 404);
    const c = await ok(s.request('POST', '/v1/credentials', { body: { name: 'moving/a', type: 'text', secret: { value: x } } }), 201);
    assert.deepEqual((await v.read('secret/data/moving/a')).data.data, { value: x });
    await ok(s.request('PATCH', `/v1/credentials/${c.id}`, { body: { name: 'moving/b' } }), 200);
    await refused(v.read('secret/data/moving/a'), 404);
    assert.deepEqual((await v.read('secret/data/moving/b')).data.data, { value: x });
    await ok(s.request('DELETE', `/v1/credentials/${c.id}`), 204);
    await refused(v.read('secret/data/moving/b'), 404);
    await ok(s.request('POST', `/v1/credentials/${c.id}/restore`), 200);
    assert.deepEqual((await v.read('secret/data/moving/b')).data.data, { value: x });
  });
});

describe('one credential, three APIs', () => {
  it('written through Vault reads identically through AWS and natively, and the other way round, each read audited as a reveal', async () => {
    const issued = await ok(s.request('POST', '/v1/access-keys', { body: { name: 'vault-aws owner', role: 'owner' } }));
    secrets.push(issued.key);
    const pair = await ok(s.request('POST', `/v1/access-keys/${issued.id}/aws-key-pair`));
    secrets.push(pair.secret_access_key);
    const aws = new SecretsManagerClient({
      endpoint: `${s.url}/compat/aws-secretsmanager`,
      region: 'us-east-1',
      credentials: { accessKeyId: pair.access_key_id, secretAccessKey: pair.secret_access_key },
      maxAttempts: 1,
    });
    const v = vault(s.ownerKey);

    const x = canary('cross-vault');
    secrets.push(x);
    await v.write('secret/data/shared/from-vault', { data: { token: x } });
    const viaAws = await aws.send(new GetSecretValueCommand({ SecretId: 'shared/from-vault' }));
    assert.deepEqual(JSON.parse(viaAws.SecretString as string), { token: x });
    const id = viaAws.ARN!.split(':secret:')[1] as string;
    const native = await ok(s.request('GET', `/v1/credentials/${id}/secret`), 200);
    assert.equal(native.secret.value, viaAws.SecretString);

    const y = canary('cross-aws');
    secrets.push(y);
    const made = await aws.send(new CreateSecretCommand({ Name: 'shared/from-aws', SecretString: y }));
    assert.deepEqual((await v.read('secret/data/shared/from-aws')).data.data, { value: y });
    const z = canary('cross-native');
    secrets.push(z);
    const n = await ok(s.request('POST', '/v1/credentials', { body: { name: 'shared/from-native', type: 'text', secret: { value: z } } }));
    assert.deepEqual((await v.read('secret/data/shared/from-native')).data.data, { value: z });
    assert.equal((await aws.send(new GetSecretValueCommand({ SecretId: n.id }))).SecretString, z);

    // One reveal event per read, whichever API read it.
    const awsId = made.ARN!.split(':secret:')[1] as string;
    assert.equal(await reveals(id), 2);
    assert.equal(await reveals(awsId), 1);
    assert.equal(await reveals(n.id), 2);
  });
});
