// AWS Secrets Manager dialect (/compat/aws-secretsmanager), driven by the official AWS SDK v3
// client with its `endpoint` pointed at a real server. Errors are asserted as the SDK's own
// exceptions (their `name`), so a wire shape the SDK does not understand fails here.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  BatchGetSecretValueCommand,
  CreateSecretCommand,
  DeleteSecretCommand,
  DescribeSecretCommand,
  GetRandomPasswordCommand,
  GetSecretValueCommand,
  ListSecretsCommand,
  ListSecretVersionIdsCommand,
  PutSecretValueCommand,
  ResourceExistsException,
  ResourceNotFoundException,
  RestoreSecretCommand,
  RotateSecretCommand,
  SecretsManagerClient,
  TagResourceCommand,
  UntagResourceCommand,
  UpdateSecretCommand,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import { SignatureV4 } from '@smithy/signature-v4';
import { Hash } from '@smithy/core/serde';
import { runCli, startServer, ok, type TestServer } from '../support/server.ts';
import { tempDir } from '../support/temp.ts';
import { assertNoSecret, assertServerHoldsNoSecret, canary } from '../support/canary.ts';
import { refusalEvents } from '../support/refusals.ts';

const BASE = '/compat/aws-secretsmanager';
let s: TestServer;
const secrets: string[] = [];
interface Pair {
  accessKeyId: string;
  secretAccessKey: string;
}
let owner: Pair;
let admin: Pair;
let viewer: Pair;
let service: Pair;
let other: { pair: Pair; key: string; tenantId: string };
let tenantId: string;

async function pairFor(key: string, role: string, name: string): Promise<Pair> {
  const issued = await ok(s.request('POST', '/v1/access-keys', { key, body: { name, role } }));
  secrets.push(issued.key);
  const p = await ok(s.request('POST', `/v1/access-keys/${issued.id}/aws-key-pair`, { key }));
  assert.match(p.access_key_id, /^LKIA[A-Z2-7]{16}$/);
  secrets.push(p.secret_access_key);
  return { accessKeyId: p.access_key_id, secretAccessKey: p.secret_access_key };
}

function client(pair: Pair, opts: { maxAttempts?: number; systemClockOffset?: number } = {}): SecretsManagerClient {
  return new SecretsManagerClient({
    endpoint: `${s.url}${BASE}`,
    region: 'eu-west-1',
    credentials: pair,
    maxAttempts: opts.maxAttempts ?? 1,
    ...(opts.systemClockOffset !== undefined ? { systemClockOffset: opts.systemClockOffset } : {}),
  });
}

/** The SDK's exception for a call that must fail: its name, and that it is the SDK's own type. */
async function refused(p: Promise<unknown>, name: string): Promise<Error & { $metadata?: { httpStatusCode?: number } }> {
  try {
    await p;
  } catch (err) {
    assert.equal((err as Error).name, name, String(err));
    assert.ok((err as { $fault?: string }).$fault !== undefined, 'an SDK service exception');
    return err as Error;
  }
  assert.fail(`expected ${name}`);
}

before(async () => {
  s = await startServer();
  const me = await ok(s.request('GET', '/v1/tenants'), 200);
  tenantId = me.data[0].id;
  owner = await pairFor(s.ownerKey, 'owner', 'aws owner');
  admin = await pairFor(s.ownerKey, 'admin', 'aws admin');
  viewer = await pairFor(s.ownerKey, 'viewer', 'aws viewer');
  service = await pairFor(s.ownerKey, 'service', 'aws service');
  const t = await ok(s.request('POST', '/v1/tenants', { body: { name: 'AWS other tenant' } }));
  secrets.push(t.owner_access_key.key);
  other = { key: t.owner_access_key.key, tenantId: t.tenant.id, pair: await pairFor(t.owner_access_key.key, 'owner', 'other owner') };
});
after(async () => {
  await assertServerHoldsNoSecret(s, secrets);
  await s.stop();
});

describe('AWS key pairs', () => {
  it('are shown once, act as their access key and stop working when it is revoked', async () => {
    const issued = await ok(s.request('POST', '/v1/access-keys', { body: { name: 'short lived', role: 'service' } }));
    secrets.push(issued.key);
    const p = await ok(s.request('POST', `/v1/access-keys/${issued.id}/aws-key-pair`));
    secrets.push(p.secret_access_key);
    assert.equal(p.secret_access_key.length, 40);
    const listed = await ok(s.request('GET', `/v1/access-keys/${issued.id}`), 200);
    assertNoSecret({ 'access key': JSON.stringify(listed) }, [p.secret_access_key]);
    const c = client({ accessKeyId: p.access_key_id, secretAccessKey: p.secret_access_key });
    await c.send(new ListSecretsCommand({}));
    await c.send(new ListSecretsCommand({}));
    await ok(s.request('DELETE', `/v1/access-keys/${issued.id}`), 204);
    await refused(c.send(new ListSecretsCommand({})), 'UnrecognizedClientException');
  });

  it('a new pair replaces the old one: the old secret stops working at once, though it was just used', async () => {
    const issued = await ok(s.request('POST', '/v1/access-keys', { body: { name: 'reissued', role: 'service' } }));
    secrets.push(issued.key);
    const first = await ok(s.request('POST', `/v1/access-keys/${issued.id}/aws-key-pair`));
    secrets.push(first.secret_access_key);
    const old = client({ accessKeyId: first.access_key_id, secretAccessKey: first.secret_access_key });
    for (let i = 0; i < 3; i++) await old.send(new ListSecretsCommand({}));
    const second = await ok(s.request('POST', `/v1/access-keys/${issued.id}/aws-key-pair`));
    secrets.push(second.secret_access_key);
    await refused(old.send(new ListSecretsCommand({})), 'UnrecognizedClientException');
    await client({ accessKeyId: second.access_key_id, secretAccessKey: second.secret_access_key }).send(new ListSecretsCommand({}));
  });

  it('the CLI issues one (`latchkey access-keys aws-key-pair`), printed once, and the SDK signs with it', async () => {
    const issued = await ok(s.request('POST', '/v1/access-keys', { body: { name: 'cli pair', role: 'service' } }));
    secrets.push(issued.key);
    const home = tempDir('latchkey-cli-');
    const r = await runCli(['access-keys', 'aws-key-pair', issued.id, '--json'], { HOME: home, LATCHKEY_URL: s.url, LATCHKEY_TOKEN: s.ownerKey });
    assert.equal(r.code, 0, r.stderr);
    const pair = JSON.parse(r.stdout);
    secrets.push(pair.secret_access_key);
    assert.equal(pair.key_id, issued.id);
    await client({ accessKeyId: pair.access_key_id, secretAccessKey: pair.secret_access_key }).send(new ListSecretsCommand({}));
  });

  it('a viewer cannot issue one', async () => {
    const v = await ok(s.request('POST', '/v1/access-keys', { body: { name: 'plain viewer', role: 'viewer' } }));
    secrets.push(v.key);
    const r = await s.request('POST', `/v1/access-keys/${v.id}/aws-key-pair`, { key: v.key });
    assert.equal(r.status, 403, r.text);
  });
});

describe('secrets through the SDK', () => {
  it('CreateSecret, GetSecretValue, DescribeSecret: the value reads identically natively, the ARN names the tenant', async () => {
    const value = canary('aws-create');
    secrets.push(value);
    const c = client(owner);
    const made = await c.send(
      new CreateSecretCommand({ Name: 'apps/billing/db', SecretString: value, Description: 'billing db', Tags: [{ Key: 'env', Value: 'prod' }] }),
    );
    assert.ok(made.ARN?.includes(`:${tenantId}:secret:crd_`), made.ARN);
    const got = await c.send(new GetSecretValueCommand({ SecretId: 'apps/billing/db' }));
    assert.equal(got.SecretString, value);
    assert.deepEqual(got.VersionStages, ['AWSCURRENT']);
    assert.equal(got.VersionId, made.VersionId);
    const byArn = await c.send(new GetSecretValueCommand({ SecretId: made.ARN }));
    assert.equal(byArn.SecretString, value);
    const d = await c.send(new DescribeSecretCommand({ SecretId: made.ARN }));
    assert.equal(d.Name, 'apps/billing/db');
    assert.equal(d.Description, 'billing db');
    assert.deepEqual(d.Tags, [{ Key: 'env', Value: 'prod' }]);
    assert.deepEqual(d.VersionIdsToStages, { [made.VersionId as string]: ['AWSCURRENT'] });
    assert.ok(d.CreatedDate instanceof Date);
    // Natively: a text credential whose value is the SecretString, tags in metadata.
    const id = made.ARN!.split(':secret:')[1];
    const native = await ok(s.request('GET', `/v1/credentials/${id}/secret`), 200);
    assert.equal(native.secret.value, value);
    const meta = await ok(s.request('GET', `/v1/credentials/${id}`), 200);
    assert.equal(meta.type, 'text');
    assert.deepEqual(meta.metadata, { env: 'prod' });
    // Every GetSecretValue is the native reveal's audit event.
    const events = await ok(s.request('GET', `/v1/audit-events?filter[credential_id]=${id}&filter[action]=credential.reveal&per_page=100`), 200);
    assert.equal(events.data.length, 3, JSON.stringify(events.data.map((e: any) => e.action)));
  });

  it('a native credential reads through the SDK: text as its value, other types as JSON of their secret fields', async () => {
    const pw = canary('aws-native-basic');
    secrets.push(pw);
    const basic = await ok(
      s.request('POST', '/v1/credentials', { body: { name: 'legacy basic', type: 'basic', config: { username: 'svc' }, secret: { password: pw } } }),
    );
    const got = await client(service).send(new GetSecretValueCommand({ SecretId: basic.id }));
    assert.deepEqual(JSON.parse(got.SecretString as string), { password: pw });
    // PutSecretValue on it takes the same JSON shape, checked against the type.
    const pw2 = canary('aws-native-basic2');
    secrets.push(pw2);
    await client(owner).send(new PutSecretValueCommand({ SecretId: 'legacy basic', SecretString: JSON.stringify({ password: pw2 }) }));
    assert.equal((await ok(s.request('GET', `/v1/credentials/${basic.id}/secret`), 200)).secret.password, pw2);
    await refused(client(owner).send(new PutSecretValueCommand({ SecretId: 'legacy basic', SecretString: 'not json' })), 'InvalidParameterException');
  });

  it('SecretBinary is a binary credential: bytes in, the same bytes out, base64 natively', async () => {
    const bytes = Buffer.concat([Buffer.from([0, 255, 1, 254]), Buffer.from(canary('aws-binary'))]);
    secrets.push(bytes.subarray(4).toString());
    const c = client(owner);
    const made = await c.send(new CreateSecretCommand({ Name: 'keystore', SecretBinary: new Uint8Array(bytes) }));
    const got = await c.send(new GetSecretValueCommand({ SecretId: made.ARN }));
    assert.equal(got.SecretString, undefined);
    assert.deepEqual(Buffer.from(got.SecretBinary as Uint8Array), bytes);
    const id = made.ARN!.split(':secret:')[1];
    assert.equal((await ok(s.request('GET', `/v1/credentials/${id}`), 200)).type, 'binary');
    assert.equal((await ok(s.request('GET', `/v1/credentials/${id}/secret`), 200)).secret.value_base64, bytes.toString('base64'));
    await refused(c.send(new PutSecretValueCommand({ SecretId: made.ARN, SecretString: 'text for bytes' })), 'InvalidParameterException');
    await c.send(new PutSecretValueCommand({ SecretId: made.ARN, SecretBinary: new Uint8Array([1, 2, 3]) }));
    assert.deepEqual([...((await c.send(new GetSecretValueCommand({ SecretId: made.ARN }))).SecretBinary as Uint8Array)], [1, 2, 3]);
  });

  it('CreateSecret honours ClientRequestToken: a retry gets the first answer, a taken name is ResourceExistsException', async () => {
    const value = canary('aws-idem');
    secrets.push(value);
    const token = '0f8e2c4a-7d61-4c4b-9a6e-3f0b2d9c1e77';
    const c = client(owner);
    const first = await c.send(new CreateSecretCommand({ Name: 'idem/one', SecretString: value, ClientRequestToken: token }));
    const again = await c.send(new CreateSecretCommand({ Name: 'idem/one', SecretString: value, ClientRequestToken: token }));
    assert.equal(again.ARN, first.ARN);
    assert.equal(again.VersionId, first.VersionId);
    const list = await c.send(new ListSecretsCommand({ Filters: [{ Key: 'name', Values: ['idem/'] }] }));
    assert.equal(list.SecretList?.length, 1);
    const e = await refused(c.send(new CreateSecretCommand({ Name: 'idem/one', SecretString: value })), 'ResourceExistsException');
    assert.ok(e instanceof ResourceExistsException);
    await refused(c.send(new CreateSecretCommand({ Name: 'idem/two', SecretString: value, ClientRequestToken: token })), 'ResourceExistsException');
  });

  it('PutSecretValue moves the stages; AWSPREVIOUS, VersionId and ListSecretVersionIds; UpdateSecretVersionStage brings an old value back', async () => {
    const [v1, v2] = [canary('aws-v1'), canary('aws-v2')];
    secrets.push(v1, v2);
    const c = client(owner);
    const made = await c.send(new CreateSecretCommand({ Name: 'staged', SecretString: v1 }));
    const put = await c.send(new PutSecretValueCommand({ SecretId: 'staged', SecretString: v2 }));
    assert.deepEqual(put.VersionStages, ['AWSCURRENT']);
    assert.notEqual(put.VersionId, made.VersionId);
    assert.equal((await c.send(new GetSecretValueCommand({ SecretId: 'staged' }))).SecretString, v2);
    const prev = await c.send(new GetSecretValueCommand({ SecretId: 'staged', VersionStage: 'AWSPREVIOUS' }));
    assert.equal(prev.SecretString, v1);
    assert.equal(prev.VersionId, made.VersionId);
    assert.equal((await c.send(new GetSecretValueCommand({ SecretId: 'staged', VersionId: made.VersionId }))).SecretString, v1);
    await refused(c.send(new GetSecretValueCommand({ SecretId: 'staged', VersionStage: 'AWSPENDING' })), 'ResourceNotFoundException');
    const ids = await c.send(new ListSecretVersionIdsCommand({ SecretId: 'staged' }));
    assert.deepEqual(
      ids.Versions?.map((v) => [v.VersionId, v.VersionStages]).sort(),
      [
        [made.VersionId, ['AWSPREVIOUS']],
        [put.VersionId, ['AWSCURRENT']],
      ].sort(),
    );
    const moved = await c.send(
      new UpdateSecretVersionStageCommand({
        SecretId: 'staged',
        VersionStage: 'AWSCURRENT',
        MoveToVersionId: made.VersionId,
        RemoveFromVersionId: put.VersionId,
      }),
    );
    assert.ok(moved.ARN);
    assert.equal((await c.send(new GetSecretValueCommand({ SecretId: 'staged' }))).SecretString, v1);
    await refused(
      c.send(new UpdateSecretVersionStageCommand({ SecretId: 'staged', VersionStage: 'AWSPENDING', MoveToVersionId: made.VersionId })),
      'InvalidRequestException',
    );
    await refused(c.send(new PutSecretValueCommand({ SecretId: 'staged', SecretString: v2, VersionStages: ['MYLABEL'] })), 'InvalidRequestException');
  });

  it("a rotation in AWS's steps: AWSPENDING beside AWSCURRENT, then the label moves onto it", async () => {
    const [v1, v2] = [canary('aws-rot1'), canary('aws-rot2')];
    secrets.push(v1, v2);
    const c = client(owner);
    const made = await c.send(new CreateSecretCommand({ Name: 'rotated', SecretString: v1 }));
    const token = 'a1b2c3d4-0000-4000-8000-123456789abc';
    const staged = await c.send(new PutSecretValueCommand({ SecretId: made.ARN, SecretString: v2, VersionStages: ['AWSPENDING'], ClientRequestToken: token }));
    assert.deepEqual(staged.VersionStages, ['AWSPENDING']);
    // The SDK's retry of that call gets the same answer, not a second pending version.
    const again = await c.send(new PutSecretValueCommand({ SecretId: made.ARN, SecretString: v2, VersionStages: ['AWSPENDING'], ClientRequestToken: token }));
    assert.equal(again.VersionId, staged.VersionId);
    assert.equal((await c.send(new GetSecretValueCommand({ SecretId: made.ARN }))).SecretString, v1);
    const pending = await c.send(new GetSecretValueCommand({ SecretId: made.ARN, VersionStage: 'AWSPENDING' }));
    assert.equal(pending.SecretString, v2);
    assert.equal(pending.VersionId, staged.VersionId);
    assert.deepEqual((await c.send(new DescribeSecretCommand({ SecretId: made.ARN }))).VersionIdsToStages, {
      [made.VersionId as string]: ['AWSCURRENT'],
      [staged.VersionId as string]: ['AWSPENDING'],
    });
    await c.send(
      new UpdateSecretVersionStageCommand({
        SecretId: made.ARN,
        VersionStage: 'AWSCURRENT',
        MoveToVersionId: staged.VersionId,
        RemoveFromVersionId: made.VersionId,
      }),
    );
    const now = await c.send(new GetSecretValueCommand({ SecretId: made.ARN }));
    assert.equal(now.SecretString, v2);
    assert.equal(now.VersionId, staged.VersionId);
    assert.equal((await c.send(new GetSecretValueCommand({ SecretId: made.ARN, VersionStage: 'AWSPREVIOUS' }))).SecretString, v1);
    await refused(c.send(new GetSecretValueCommand({ SecretId: made.ARN, VersionStage: 'AWSPENDING' })), 'ResourceNotFoundException');
    // A viewer cannot stage a value.
    await refused(
      client(viewer).send(new PutSecretValueCommand({ SecretId: made.ARN, SecretString: v2, VersionStages: ['AWSPENDING'] })),
      'AccessDeniedException',
    );
  });

  it('UpdateSecret changes the description and the value', async () => {
    const [v1, v2] = [canary('aws-upd1'), canary('aws-upd2')];
    secrets.push(v1, v2);
    const c = client(owner);
    await c.send(new CreateSecretCommand({ Name: 'updated', SecretString: v1 }));
    const u = await c.send(new UpdateSecretCommand({ SecretId: 'updated', Description: 'new words', SecretString: v2 }));
    assert.ok(u.VersionId);
    assert.equal((await c.send(new DescribeSecretCommand({ SecretId: 'updated' }))).Description, 'new words');
    assert.equal((await c.send(new GetSecretValueCommand({ SecretId: 'updated' }))).SecretString, v2);
  });

  it('ListSecrets pages with NextToken across pages and filters by name prefix and tags', async () => {
    const c = client(owner);
    for (let i = 0; i < 5; i++) {
      const v = canary(`aws-list${i}`);
      secrets.push(v);
      await c.send(new CreateSecretCommand({ Name: `paged/item-${i}`, SecretString: v, Tags: [{ Key: 'team', Value: i % 2 === 0 ? 'even' : 'odd' }] }));
    }
    const seen: string[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const page = await c.send(
        new ListSecretsCommand({ MaxResults: 2, Filters: [{ Key: 'name', Values: ['paged/'] }], ...(token ? { NextToken: token } : {}) }),
      );
      assert.ok((page.SecretList?.length ?? 0) <= 2);
      seen.push(...(page.SecretList ?? []).map((x) => x.Name as string));
      token = page.NextToken;
      pages++;
    } while (token);
    assert.equal(pages, 3);
    assert.deepEqual(
      seen.sort(),
      [0, 1, 2, 3, 4].map((i) => `paged/item-${i}`),
    );
    const odd = await c.send(new ListSecretsCommand({ Filters: [{ Key: 'tag-value', Values: ['odd'] }] }));
    assert.deepEqual(odd.SecretList?.map((x) => x.Name).sort(), ['paged/item-1', 'paged/item-3']);
    // Metadata only: no value in a list.
    assertNoSecret(
      { list: JSON.stringify(odd) },
      secrets.filter((x) => x.startsWith('aws-list')),
    );
  });

  it('BatchGetSecretValue answers found secrets and lists the others in Errors', async () => {
    const v = canary('aws-batch');
    secrets.push(v);
    const c = client(owner);
    await c.send(new CreateSecretCommand({ Name: 'batch/a', SecretString: v }));
    const r = await c.send(new BatchGetSecretValueCommand({ SecretIdList: ['batch/a', 'batch/missing'] }));
    assert.deepEqual(
      r.SecretValues?.map((x) => [x.Name, x.SecretString]),
      [['batch/a', v]],
    );
    assert.deepEqual(
      r.Errors?.map((e) => [e.SecretId, e.ErrorCode]),
      [['batch/missing', 'ResourceNotFoundException']],
    );
  });

  it('DeleteSecret with a recovery window is the soft delete, RestoreSecret brings it back; ForceDeleteWithoutRecovery purges, owners only', async () => {
    const v = canary('aws-del');
    secrets.push(v);
    const c = client(owner);
    const made = await c.send(new CreateSecretCommand({ Name: 'deleted/soon', SecretString: v }));
    const del = await c.send(new DeleteSecretCommand({ SecretId: 'deleted/soon', RecoveryWindowInDays: 7 }));
    assert.ok(del.DeletionDate instanceof Date && del.DeletionDate.getTime() > Date.now());
    const e = await refused(c.send(new GetSecretValueCommand({ SecretId: 'deleted/soon' })), 'ResourceNotFoundException');
    assert.ok(e instanceof ResourceNotFoundException);
    await c.send(new RestoreSecretCommand({ SecretId: made.ARN }));
    assert.equal((await c.send(new GetSecretValueCommand({ SecretId: 'deleted/soon' }))).SecretString, v);
    await refused(client(admin).send(new DeleteSecretCommand({ SecretId: made.ARN, ForceDeleteWithoutRecovery: true })), 'AccessDeniedException');
    await c.send(new DeleteSecretCommand({ SecretId: made.ARN, ForceDeleteWithoutRecovery: true }));
    await refused(c.send(new RestoreSecretCommand({ SecretId: made.ARN })), 'ResourceNotFoundException');
    const id = made.ARN!.split(':secret:')[1];
    assert.equal((await s.request('GET', `/v1/credentials/${id}`)).status, 404);
  });

  it("TagResource and UntagResource are the credential's metadata", async () => {
    const v = canary('aws-tags');
    secrets.push(v);
    const c = client(owner);
    const made = await c.send(new CreateSecretCommand({ Name: 'tagged', SecretString: v }));
    await c.send(
      new TagResourceCommand({
        SecretId: made.ARN,
        Tags: [
          { Key: 'owner', Value: 'billing' },
          { Key: 'tier', Value: '1' },
        ],
      }),
    );
    await c.send(new UntagResourceCommand({ SecretId: made.ARN, TagKeys: ['tier'] }));
    assert.deepEqual((await c.send(new DescribeSecretCommand({ SecretId: 'tagged' }))).Tags, [{ Key: 'owner', Value: 'billing' }]);
    const id = made.ARN!.split(':secret:')[1];
    assert.deepEqual((await ok(s.request('GET', `/v1/credentials/${id}`), 200)).metadata, { owner: 'billing' });
  });

  it('GetRandomPassword follows its options', async () => {
    const r = await client(viewer).send(new GetRandomPasswordCommand({ PasswordLength: 40, ExcludePunctuation: true }));
    assert.match(r.RandomPassword as string, /^[A-Za-z0-9]{40}$/);
    assert.match(r.RandomPassword as string, /[0-9]/);
    await refused(client(viewer).send(new GetRandomPasswordCommand({ PasswordLength: 2, ExcludeNumbers: true })), 'InvalidParameterException');
  });
});

describe('security through the SDK', () => {
  let arn: string;
  let value: string;
  before(async () => {
    value = canary('aws-sec');
    secrets.push(value);
    arn = (await client(owner).send(new CreateSecretCommand({ Name: 'guarded', SecretString: value }))).ARN as string;
  });

  it('a viewer key reads metadata but not the value (AccessDeniedException, audited)', async () => {
    const d = await client(viewer).send(new DescribeSecretCommand({ SecretId: arn }));
    assert.equal(d.Name, 'guarded');
    const e = await refused(client(viewer).send(new GetSecretValueCommand({ SecretId: arn })), 'AccessDeniedException');
    assert.equal(e.$metadata?.httpStatusCode, 400);
    // The refusal is in the audit log as a refused reveal by the viewer's key, as a native one is.
    const keys = await ok(s.request('GET', '/v1/access-keys?filter[name]=aws viewer'), 200);
    const actorId = keys.data[0].id;
    let events: any[] = [];
    for (let i = 0; i < 100 && events.length === 0; i++) {
      events = await refusalEvents(s, s.ownerKey, { actorId, outcome: 'denied', action: 'credential.reveal' });
      if (events.length === 0) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(events.length >= 1, 'a denied credential.reveal event for the viewer');
    await refused(client(viewer).send(new PutSecretValueCommand({ SecretId: arn, SecretString: 'x'.repeat(20) })), 'AccessDeniedException');
  });

  it("another tenant's secret by ARN is ResourceNotFoundException, exactly like a missing one", async () => {
    const theirs = await refused(client(other.pair).send(new GetSecretValueCommand({ SecretId: arn })), 'ResourceNotFoundException');
    const missing = await refused(
      client(other.pair).send(new GetSecretValueCommand({ SecretId: arn.replace(/crd_\w+$/, 'crd_01JZZZZZZZZZZZZZZZZZZZZZZZ') })),
      'ResourceNotFoundException',
    );
    assert.equal(theirs.message, missing.message);
    const mine = arn.replace(`:${tenantId}:`, `:${other.tenantId}:`);
    await refused(client(other.pair).send(new DescribeSecretCommand({ SecretId: mine })), 'ResourceNotFoundException');
    await refused(client(other.pair).send(new GetSecretValueCommand({ SecretId: 'guarded' })), 'ResourceNotFoundException');
  });

  it('a wrong secret access key is InvalidSignatureException; an unknown key id UnrecognizedClientException', async () => {
    await refused(
      client({ accessKeyId: owner.accessKeyId, secretAccessKey: owner.secretAccessKey.replace(/^./, (ch) => (ch === 'A' ? 'B' : 'A')) }).send(
        new GetSecretValueCommand({ SecretId: arn }),
      ),
      'InvalidSignatureException',
    );
    await refused(
      client({ accessKeyId: 'LKIAAAAAAAAAAAAAAAAA', secretAccessKey: owner.secretAccessKey }).send(new GetSecretValueCommand({ SecretId: arn })),
      'UnrecognizedClientException',
    );
    await refused(
      client({ accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' }).send(new ListSecretsCommand({})),
      'UnrecognizedClientException',
    );
  });

  it('a signature from 20 minutes ago is refused; the SDK corrects its clock from the answer and signs again', async () => {
    await refused(client(owner, { systemClockOffset: -20 * 60_000 }).send(new GetSecretValueCommand({ SecretId: arn })), 'InvalidSignatureException');
    const c = client(owner, { systemClockOffset: -20 * 60_000, maxAttempts: 3 });
    const got = await c.send(new GetSecretValueCommand({ SecretId: arn }));
    assert.equal(got.SecretString, value);
    assert.equal(got.$metadata.attempts, 2);
  });

  it('the same signed request sent twice is refused the second time (replay within the skew window)', async () => {
    const url = new URL(`${s.url}${BASE}/`);
    const signer = new SignatureV4({ credentials: owner, region: 'eu-west-1', service: 'secretsmanager', sha256: Hash.bind(null, 'sha256') });
    const body = JSON.stringify({ SecretId: arn });
    const signed = await signer.sign({
      method: 'POST',
      protocol: 'http:',
      hostname: url.hostname,
      port: Number(url.port),
      path: url.pathname,
      query: {},
      headers: { host: url.host, 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'secretsmanager.GetSecretValue' },
      body,
    });
    const send = () => fetch(url, { method: 'POST', headers: signed.headers as Record<string, string>, body });
    const first = await send();
    assert.equal(first.status, 200, await first.clone().text());
    assert.equal(((await first.json()) as any).SecretString, value);
    const second = await send();
    assert.equal(second.status, 400);
    const err = (await second.json()) as any;
    assert.equal(err.__type, 'InvalidSignatureException');
    // A body changed under the same signature is refused too.
    const tampered = await fetch(url, { method: 'POST', headers: signed.headers as Record<string, string>, body: JSON.stringify({ SecretId: 'other' }) });
    assert.equal(((await tampered.json()) as any).__type, 'InvalidSignatureException');
  });

  it('an unsigned request, a request without X-Amz-Target and an unknown operation get AWS error shapes', async () => {
    const r = await fetch(`${s.url}${BASE}/`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'secretsmanager.ListSecrets' },
      body: '{}',
    });
    assert.equal(r.status, 400);
    assert.equal(((await r.json()) as any).__type, 'MissingAuthenticationTokenException');
    const noTarget = await fetch(`${s.url}${BASE}/`, { method: 'POST', headers: { 'content-type': 'application/x-amz-json-1.1' }, body: '{}' });
    assert.equal(noTarget.status, 400);
    assert.equal(((await noTarget.json()) as any).__type, 'InvalidParameterException');
    // An operation Latchkey does not serve, signed and sent by the SDK.
    await refused(client(owner).send(new RotateSecretCommand({ SecretId: 'guarded' })), 'UnknownOperationException');
  });
});

describe('throttling', () => {
  it('the SDK retries a ThrottlingException on its own and succeeds', async () => {
    const limited = await startServer({ env: { LATCHKEY_RATE_LIMIT: '2', LATCHKEY_RATE_LIMIT_WINDOW_SECONDS: '1' } });
    try {
      const issued = await ok(limited.request('POST', '/v1/access-keys', { body: { name: 'throttled', role: 'owner' } }));
      const p = await ok(limited.request('POST', `/v1/access-keys/${issued.id}/aws-key-pair`));
      const c = new SecretsManagerClient({
        endpoint: `${limited.url}${BASE}`,
        region: 'eu-west-1',
        credentials: { accessKeyId: p.access_key_id, secretAccessKey: p.secret_access_key },
        maxAttempts: 8,
      });
      const results = await Promise.all([1, 2, 3, 4].map(() => c.send(new ListSecretsCommand({}))));
      assert.ok(
        results.some((r) => (r.$metadata.attempts ?? 1) > 1),
        'at least one call was throttled and retried',
      );
      const once = new SecretsManagerClient({
        endpoint: `${limited.url}${BASE}`,
        region: 'eu-west-1',
        credentials: { accessKeyId: p.access_key_id, secretAccessKey: p.secret_access_key },
        maxAttempts: 1,
      });
      const burst = await Promise.allSettled([1, 2, 3, 4].map(() => once.send(new ListSecretsCommand({}))));
      assert.ok(burst.some((r) => r.status === 'rejected' && (r.reason as Error).name === 'ThrottlingException'));
    } finally {
      await limited.stop();
    }
  });
});
