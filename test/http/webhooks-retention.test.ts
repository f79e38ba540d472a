import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { makeStoreFixture, type StoreFixture } from '../support/store.ts';
import { startReceiver, type Receiver } from '../support/webhook-receiver.ts';
import { loadConfig } from '../../src/config.ts';
import { openRuntime, type Runtime } from '../../src/main.ts';
import type { RequestContext } from '../../src/domain/principal.ts';
import { ownerContext } from '../support/owner-context.ts';

// What retention does to webhooks, in-process with a clock the test moves (as the audit retention
// test does): the delivery log is pruned by age, and audit retention keeps the events an active
// subscription has not delivered yet. The delivery pumps are not started here (the server starts
// them), so a subscription's cursor stays where the test leaves it.

const DAY = 86_400_000;
let now = Date.parse('2025-01-01T00:00:00.000Z');
const clock = { now: () => new Date(now) };
let fixture: StoreFixture;
let rt: Runtime;
let rx: Receiver;
let ctx: RequestContext;
const dataDir = mkdtempSync(join(tmpdir(), 'latchkey-webhook-retention-'));

before(async () => {
  rx = await startReceiver();
  fixture = await makeStoreFixture();
  rt = await openRuntime(
    loadConfig({
      ...fixture.env,
      LATCHKEY_DATA_DIR: dataDir,
      LATCHKEY_ROOT_KEY: randomBytes(32).toString('base64'),
      LATCHKEY_LOG_LEVEL: 'silent',
      LATCHKEY_EGRESS_ALLOW: '127.0.0.1/32',
      LATCHKEY_WEBHOOK_DELIVERY_LOG_DAYS: '30',
    }),
    { clock },
  );
  const boot = await rt.services.tenants.bootstrap();
  assert.ok(boot);
  ctx = ownerContext(boot.tenant.id, 'webhook retention test');
});

after(async () => {
  await rt?.close();
  await fixture?.drop();
  await rx?.close();
});

const smtp = (name: string) => ({ name, type: 'smtp', config: { host: 'smtp.example.com', auth_type: 'login', username: 'u' }, secret: { password: 'p' } });

async function created(): Promise<string[]> {
  const rows = await rt.services.audit.list(ctx.principal.tenantId, {}, 1000);
  return rows.filter((e) => e.action === 'credential.create').map((e) => e.id);
}

describe('audit retention and webhook subscriptions', () => {
  it('keeps the events an active subscription has not delivered; a paused one holds nothing', async () => {
    const audit = rt.services.audit;
    await audit.sealPending();
    const live = await rt.services.webhooks.create(ctx, { url: rx.url('/held'), description: 'holds retention' });
    // Paused from the start: were it to hold, the last purge below would keep everything.
    await rt.services.webhooks.create(ctx, { url: rx.url('/paused'), active: false });
    for (let i = 0; i < 5; i++) await rt.services.credentials.create(ctx, smtp(`old ${i}`));
    await audit.sealPending();
    const old = await created();
    assert.equal(old.length, 5);

    now += 400 * DAY;
    for (let i = 0; i < 2; i++) await rt.services.credentials.create(ctx, smtp(`young ${i}`));
    await audit.sealPending();

    // The live subscription's cursor is where it was created: only what came before it goes.
    const first = await audit.purgeExpired(365);
    assert.ok(first.purged > 0, 'the events before the subscription existed are purged');
    assert.deepEqual(
      (await created()).filter((id) => old.includes(id)),
      old,
      'purged events the active subscription had not delivered',
    );
    assert.equal((await audit.verify(ctx.principal.tenantId)).ok, true);

    // Paused: it no longer holds retention back (it would hold it forever).
    await rt.services.webhooks.update(ctx, live.row.id, { active: false });
    const second = await audit.purgeExpired(365);
    assert.ok(second.purged >= 5, JSON.stringify(second));
    assert.equal((await created()).length, 2, 'only the young events are left');
    assert.equal((await audit.verify(ctx.principal.tenantId)).ok, true);
  });
});

describe('webhook delivery log retention (LATCHKEY_WEBHOOK_DELIVERY_LOG_DAYS)', () => {
  it('deletes attempts older than the period and keeps the younger ones', async () => {
    const sub = await rt.services.webhooks.create(ctx, { url: rx.url('/log') });
    await rt.services.credentials.create(ctx, smtp('logged'));
    await rt.services.audit.sealPending();
    const [eventId] = await created();
    assert.ok(eventId);

    const older = await rt.services.webhooks.redeliver(ctx, sub.row.id, eventId);
    assert.equal(older.status, 200);
    now += 20 * DAY;
    const younger = await rt.services.webhooks.redeliver(ctx, sub.row.id, eventId);
    assert.deepEqual(
      (await rt.services.webhooks.deliveries(ctx, sub.row.id, null, 10)).map((a) => a.id),
      [younger.id, older.id],
    );

    assert.equal(await rt.services.webhookLogRetention.pruneOnce(), 0, 'nothing is 30 days old yet');
    now += 15 * DAY; // the first attempt is 35 days old, the second 15
    assert.equal(await rt.services.webhookLogRetention.pruneOnce(), 1);
    assert.deepEqual(
      (await rt.services.webhooks.deliveries(ctx, sub.row.id, null, 10)).map((a) => a.id),
      [younger.id],
    );
    assert.equal(await rt.services.webhookLogRetention.pruneOnce(), 0);
    // (Signed at the test's clock, months ago for the receiver's library: it got them, but as stale.)
    assert.equal(rx.all('/log').length, 2, 'the receiver got both attempts');
  });
});
