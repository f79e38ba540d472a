// AWS Secrets Manager dialect (/compat/aws-secretsmanager), driven by the official AWS SDK v3
// client with its `endpoint` pointed at a real server. Errors are asserted as the SDK's own
// exceptions (their `name`), so a wire shape the SDK does not understand fails here.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  BatchGetSecretValueCommand, CreateSecretCommand, DeleteSecretCommand, DescribeSecretCommand, GetRandomPasswordCommand,
  GetSecretValueCommand, ListSecretsCommand, ListSecretVersionIdsCommand, PutSecretValueCommand, ResourceExistsException,
  ResourceNotFoundException, RestoreSecretCommand, SecretsManagerClient, TagResourceCommand, UntagResourceCommand,
  UpdateSecretCommand, UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import { SignatureV4 } from '@smithy/signature-v4';
import { Hash } from '@smithy/core/serde';
import { startServer, ok, type TestServer } from './support/server.ts';
import { assertNoSecret, assertServerHoldsNoSecret, canary } from './support/canary.ts';

const BASE = '/compat/aws-secretsmanager';
let s: TestServer;
const secrets: string[] = [];
interface Pair { accessKeyId: string; secretAccessKey: string }
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
  return new SecretsManagerClient({ endpoint: `${s.url}${BASE}`, region: 'eu-west-1', credentials: pair, maxAttempts: opts.maxAttempts ?? 1, ...(opts.systemClockOffset !== undefined ? { systemClockOffset: opts.systemClockOffset } : {}) });
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
    await ok(s.request('DELETE', `/v1/access-keys/${issued.id}`), 204);
    await refused(c.send(new ListSecretsCommand({})), 'UnrecognizedClientException');
  });

  it('a viewer cannot issue one', async () => {
    const v = await ok(s.request('POST', '/v1/access-keys', { body: { name: 'plain viewer', role: 'viewer' } }));
    secrets.push(v.key);
    const r = await s.request('POST', `/v1/access-keys/${v.id}/aws-key-pair`, { key: v.key });
    assert.equal(r.status, 403, r.text);
  });
});
