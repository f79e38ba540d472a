import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { loadConfig } from '../../src/config.ts';
import { openRuntime, type Runtime } from '../../src/main.ts';
import type { RequestContext } from '../../src/domain/principal.ts';
import { makeStoreFixture, type StoreFixture } from '../support/store.ts';
import { ownerContext } from '../support/owner-context.ts';

// The schedulers run against a real store and real crypto, in-process, with a clock the test
// moves: no sleeps, and "days later" takes no time.
let now = Date.parse('2026-03-01T12:00:00.000Z');
const clock = { now: () => new Date(now) };
const DAY = 86_400_000;
let fixture: StoreFixture;
let rt: Runtime;
let rt2: Runtime;
let ctx: RequestContext;

function config() {
  return loadConfig({ ...fixture.env, LATCHKEY_DATA_DIR: dataDir, LATCHKEY_ROOT_KEY: rootKey, LATCHKEY_LOG_LEVEL: 'silent' });
}
const dataDir = mkdtempSync(join(tmpdir(), 'latchkey-jobs-'));
const rootKey = randomBytes(32).toString('base64');

before(async () => {
  fixture = await makeStoreFixture();
  rt = await openRuntime(config(), { clock });
  const boot = await rt.services.tenants.bootstrap();
  assert.ok(boot);
  rt2 = await openRuntime(config(), { clock });
  ctx = ownerContext(boot.tenant.id);
});

after(async () => {
  await rt.close();
  await rt2.close();
  await fixture.drop();
});

const smtp = (name: string, extra: Record<string, unknown> = {}) => ({
  name,
  type: 'smtp',
  config: { host: 'smtp.example.com', auth_type: 'login', username: 'u' },
  secret: { password: 'p' },
  ...extra,
});

describe('scheduled deactivation', () => {
  it('deactivates when deactivation_time passes, once, even with two processes racing', async () => {
    const at = new Date(now + 3_600_000).toISOString();
    const { credential } = await rt.services.credentials.create(ctx, smtp('Sched Deact', { deactivation_time: at }));
    assert.deepEqual(await rt.services.lifecycle.runOnce(), { deactivated: 0, rotated: 0, markedDue: 0, purged: 0 });
    now += 2 * 3_600_000;
    const [a, b] = await Promise.all([rt.services.lifecycle.runOnce(), rt2.services.lifecycle.runOnce()]);
    assert.equal(a.deactivated + b.deactivated, 1);
    const after = await rt.services.credentials.get(ctx, credential.id);
    assert.equal(after.status, 'deactivated');
    assert.equal(after.deactivationTime, at);
    const events = await rt.services.audit.list(ctx.principal.tenantId, { credentialId: credential.id, action: 'credential.deactivate' }, 10);
    assert.equal(events.length, 1);
    assert.equal(events[0]!.actor.id, 'scheduler');
    assert.equal((await rt.services.lifecycle.runOnce()).deactivated, 0);
  });
});

describe('rotation policy', () => {
  it('rotates types that make their own secret and marks the others rotation_due', async () => {
    const key = await rt.services.credentials.create(ctx, { name: 'Policy Key', type: 'api_key', rotation_interval_days: 30 });
    const mail = await rt.services.credentials.create(ctx, smtp('Policy Mail', { rotation_interval_days: 30 }));
    assert.equal(key.credential.nextRotationAt, new Date(now + 30 * DAY).toISOString());
    now += 29 * DAY;
    assert.deepEqual(await rt.services.lifecycle.runOnce(), { deactivated: 0, rotated: 0, markedDue: 0, purged: 0 });
    now += 2 * DAY;
    const [a, b] = await Promise.all([rt.services.lifecycle.runOnce(), rt2.services.lifecycle.runOnce()]);
    assert.equal(a.rotated + b.rotated, 1);
    assert.equal(a.markedDue + b.markedDue, 1);
    const rotated = await rt.services.credentials.get(ctx, key.credential.id);
    assert.equal(rotated.version, 2);
    assert.equal(rotated.nextRotationAt, new Date(now + 30 * DAY).toISOString());
    const revealed = await rt.services.credentials.reveal(ctx, key.credential.id, { variant: 'main', allowInactive: false });
    assert.notEqual(revealed.secret.value, key.generated?.value);
    const due = await rt.services.credentials.list(ctx, { rotationDue: true }, { limit: 10 });
    assert.deepEqual(
      due.rows.map((r) => r.id),
      [mail.credential.id],
    );
    // A person rotating it clears the flag and restarts the clock.
    await rt.services.credentials.rotate(ctx, mail.credential.id, { secret: { password: 'new' }, gracePeriodSeconds: 0 });
    const cleared = await rt.services.credentials.get(ctx, mail.credential.id);
    assert.equal(cleared.rotationDue, false);
    assert.equal(cleared.nextRotationAt, new Date(now + 30 * DAY).toISOString());
  });
});

describe('soft-delete retention', () => {
  it('purges deleted credentials after the retention period, and survives a restart', async () => {
    const { credential } = await rt.services.credentials.create(ctx, smtp('Retained'));
    await rt.services.credentials.remove(ctx, credential.id, { purge: false });
    now += 29 * DAY;
    assert.equal((await rt.services.lifecycle.runOnce()).purged, 0);
    // A restart in between loses nothing: the due state is in the store.
    await rt.close();
    rt = await openRuntime(config(), { clock });
    now += 2 * DAY;
    assert.equal((await rt.services.lifecycle.runOnce()).purged, 1);
    assert.equal(await rt.store.getCredential(ctx.principal.tenantId, credential.id), null);
    assert.deepEqual(await rt.store.listVersions(ctx.principal.tenantId, credential.id), []);
  });
});
