import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { ok, smtpBody, startServer, type TestServer } from '../support/server.ts';
import { postgresGate, scratchDatabase } from '../support/postgres-gate.ts';
import { startReceiver, waitFor, type Receiver } from '../support/webhook-receiver.ts';

// Two `latchkey serve` processes on one PostgreSQL, both running a pump for the same subscription:
// the lease lets one attempt at a time, so each event is attempted once (all answered 200) and
// never two requests are in flight to the subscription together.

const { problem, noPostgres } = await postgresGate('webhook delivery with two processes');
const db = scratchDatabase('lk_whmp');
let a: TestServer;
let b: TestServer;
let rx: Receiver;

before(async () => {
  if (problem !== null) return;
  rx = await startReceiver();
  await db.create();
  const env = {
    LATCHKEY_DATABASE_URL: db.url(),
    LATCHKEY_ROOT_KEY: randomBytes(32).toString('base64'),
    LATCHKEY_EGRESS_ALLOW: '127.0.0.1/32',
    LATCHKEY_AUDIT_SEAL_INTERVAL_MS: '20',
  };
  a = await startServer({ env });
  b = await startServer({ env });
});

after(async () => {
  if (problem !== null) return;
  await Promise.all([a?.stop(), b?.stop()]);
  await rx?.close();
  await db.drop();
});

describe('webhooks with two processes on one PostgreSQL', () => {
  it('each event is attempted once, by one process at a time, in order', async (t) => {
    if (noPostgres(t)) return;
    rx.delay(25);
    const owner = a.ownerKey;
    const sub = await ok(a.request('POST', '/v1/webhooks', { body: { url: rx.url('/mp'), event_types: ['credential.created'] } }));
    rx.setSecrets('/mp', [sub.secret]);
    // Let B see the subscription (NOTIFY) so both run a pump for it.
    await waitFor('B to list it', async () => (await b.request('GET', `/v1/webhooks/${sub.id}`, { key: owner })).status === 200);
    const made: string[] = [];
    for (let i = 0; i < 30; i++) {
      const via = i % 2 === 0 ? a : b;
      made.push((await ok(via.request('POST', '/v1/credentials', { key: owner, body: smtpBody(`mp ${i}`) }))).id);
    }
    await waitFor('all 30', () => rx.accepted('/mp').length >= 30, 60_000);
    await new Promise((r) => setTimeout(r, 1500)); // a double attempt would show up by now
    const got = rx.all('/mp');
    assert.equal(got.length, 30, 'each event attempted exactly once');
    assert.deepEqual(
      got.map((r) => r.event?.data.object_id),
      made,
    );
    assert.equal(rx.maxInFlight('/mp'), 1, 'two attempts were in flight together');
    const log = await ok(a.request('GET', `/v1/webhooks/${sub.id}/deliveries?per_page=100`, { key: owner }), 200);
    assert.equal(log.data.length, 30);
    assert.ok(log.data.every((d: { attempt: number; status: number }) => d.attempt === 1 && d.status === 200));
  });
});
