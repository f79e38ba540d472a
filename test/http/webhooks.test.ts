import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { assertNoSecret, canary } from '../support/canary.ts';
import { ok, smtpBody, startServer, type TestServer } from '../support/server.ts';
import { startReceiver, waitFor, type Receiver } from '../support/webhook-receiver.ts';

// Webhook subscriptions against a real receiver on loopback that checks every delivery with the
// standardwebhooks library. Fast retries and a short disable streak so the failure paths run in seconds.

let s: TestServer;
let rx: Receiver;
/** Every signing secret and credential secret the tests made: none may show anywhere but where it was handed out. */
const secrets: string[] = [];
let n = 0;
const unique = (label: string) => `${label} ${++n} ${Date.now().toString(36)}`;

before(async () => {
  rx = await startReceiver();
  s = await startServer({
    env: {
      LATCHKEY_EGRESS_ALLOW: '127.0.0.1/32',
      LATCHKEY_EGRESS_TIMEOUT_MS: '2000',
      LATCHKEY_AUDIT_SEAL_INTERVAL_MS: '20',
      LATCHKEY_WEBHOOK_RETRY_BASE_MS: '50',
      LATCHKEY_WEBHOOK_RETRY_MAX_MS: '300',
      LATCHKEY_WEBHOOK_DISABLE_AFTER_HOURS: '0.0005',
    },
  });
});

after(async () => {
  await s?.stop();
  await rx?.close();
});

/** Subscribes `path` of the receiver; the receiver verifies with the secret handed out. */
async function subscribe(path: string, body: Record<string, unknown> = {}, key?: string): Promise<{ id: string; secret: string }> {
  const r = await ok(s.request('POST', '/v1/webhooks', { key, body: { url: rx.url(path), ...body } }));
  assert.match(r.secret, /^whsec_[A-Za-z0-9+/]{43}=$/);
  secrets.push(r.secret);
  rx.setSecrets(path, [r.secret]);
  return { id: r.id, secret: r.secret };
}

async function deliveries(id: string): Promise<any[]> {
  const r = await ok(s.request('GET', `/v1/webhooks/${id}/deliveries?per_page=100`), 200);
  return r.data;
}

describe('webhook deliveries of credential events', () => {
  it('every credential event type produced through the API arrives, signed, in order, with its data and no secret', async () => {
    const path = '/all';
    const sub = await subscribe(path, { description: 'everything' });
    const pw1 = canary('wh-pw1');
    const pw2 = canary('wh-pw2');
    secrets.push(pw1, pw2);

    // A closed port on loopback: verify fails with connect_failed.
    const closed = createServer();
    closed.listen(0, '127.0.0.1');
    await once(closed, 'listening');
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));

    // The account keeps one smtp credential whatever happens to this one (the last one cannot be purged).
    await ok(s.request('POST', '/v1/credentials', { body: smtpBody(unique('keeper')) }));
    const body = smtpBody(unique('events'), pw1);
    const c = await ok(s.request('POST', '/v1/credentials', { body: { ...body, config: { ...body.config, host: '127.0.0.1', port } } }));
    await ok(s.request('PATCH', `/v1/credentials/${c.id}`, { body: { description: 'edited' } }), 200);
    await ok(s.request('POST', `/v1/credentials/${c.id}/rotate`, { body: { secret: { password: pw2 } } }), 200);
    await ok(s.request('PATCH', `/v1/credentials/${c.id}`, { body: { status: 'inactive' } }), 200);
    await ok(s.request('PATCH', `/v1/credentials/${c.id}`, { body: { status: 'active' } }), 200);
    const v = await ok(s.request('POST', `/v1/credentials/${c.id}/verify`), 200);
    assert.equal(v.ok, false);
    await ok(s.request('DELETE', `/v1/credentials/${c.id}`), 204);
    await ok(s.request('POST', `/v1/credentials/${c.id}/restore`), 200);
    await ok(s.request('DELETE', `/v1/credentials/${c.id}?purge=true`), 204);

    const expected = [
      'credential.created',
      'credential.updated',
      'credential.rotated',
      'credential.status_changed',
      'credential.status_changed',
      'credential.verify_failing',
      'credential.deleted',
      'credential.restored',
      'credential.purged',
    ];
    const got = await waitFor('every event', () => {
      const a = rx.accepted(path).filter((r) => r.event?.data.object_id === c.id);
      return a.length >= expected.length ? a : null;
    });
    assert.deepEqual(
      got.map((r) => r.event?.type),
      expected,
    );
    for (const r of got) {
      assert.equal(r.headers['content-type'], 'application/json');
      assert.equal(r.headers['webhook-id'], r.event?.id);
      assert.match(String(r.headers['webhook-id']), /^evt_/);
      assert.match(String(r.headers['webhook-timestamp']), /^\d{10}$/);
      assert.equal(r.event?.data.object, 'credential');
      assert.equal(r.event?.data.type, 'smtp');
      assert.ok(r.event?.data.tenant_id);
    }
    const byType = new Map(got.map((r) => [r.event?.type, r.event?.data]));
    assert.equal(byType.get('credential.created')?.version, 1);
    assert.equal(byType.get('credential.rotated')?.version, 2);
    assert.equal(got[3]?.event?.data.status, 'inactive');
    assert.equal(got[3]?.event?.data.previous_status, 'active');
    assert.equal(byType.get('credential.verify_failing')?.category, 'connect_failed');

    // The log has each delivery once, as a first attempt that got 200 (written once the answer came back).
    const log = await waitFor('the log', async () => {
      const l = await deliveries(sub.id);
      return got.every((r) => l.some((d) => d.event_id === r.event?.id)) ? l : null;
    });
    for (const r of got) {
      const rows = log.filter((d) => d.event_id === r.event?.id);
      assert.equal(rows.length, 1);
      assert.equal(rows[0].status, 200);
      assert.equal(rows[0].failure, null);
      assert.equal(rows[0].attempt, 1);
      assert.equal(rows[0].event_type, r.event?.type);
      assert.ok(Number.isInteger(rows[0].latency_ms));
    }
    // Secrets: not in a body, a header, the log, the subscription's metadata or the server log.
    const meta = await ok(s.request('GET', `/v1/webhooks/${sub.id}`), 200);
    assert.equal('secret' in meta, false);
    const list = await s.request('GET', '/v1/webhooks');
    const audit = await s.request('GET', '/v1/audit-events?per_page=100');
    assertNoSecret(
      {
        bodies: rx
          .all()
          .map((r) => r.body)
          .join('\n'),
        headers: JSON.stringify(rx.all().map((r) => r.headers)),
        'delivery log': JSON.stringify(log),
        metadata: JSON.stringify(meta) + list.text,
        audit: audit.text,
        'server log': s.logs(),
      },
      [pw1, pw2, sub.secret, sub.secret.slice('whsec_'.length)],
    );
  });

  it('the event type filter and the team scope choose what a subscription gets', async () => {
    const team = await ok(s.request('POST', '/v1/teams', { body: { name: unique('hooks team') } }));
    const onlyDeletes = await subscribe('/deletes', { event_types: ['credential.deleted'] });
    const teamOnly = await subscribe('/team', { team_id: team.id });
    const inTeam = await ok(s.request('POST', '/v1/credentials', { body: { ...smtpBody(unique('in team')), team_id: team.id } }));
    const outside = await ok(s.request('POST', '/v1/credentials', { body: smtpBody(unique('outside')) }));
    await ok(s.request('DELETE', `/v1/credentials/${inTeam.id}`), 204);
    await ok(s.request('DELETE', `/v1/credentials/${outside.id}`), 204);
    // A marker after everything: once the team subscription has it, it has had its chance at the rest.
    const marker = await ok(s.request('POST', '/v1/credentials', { body: { ...smtpBody(unique('marker')), team_id: team.id } }));
    await waitFor('the marker', () => rx.accepted('/team').some((r) => r.event?.data.object_id === marker.id));
    await waitFor('both deletes', () => rx.accepted('/deletes').length >= 2);
    assert.deepEqual(
      rx.accepted('/deletes').map((r) => [r.event?.type, r.event?.data.object_id]),
      [
        ['credential.deleted', inTeam.id],
        ['credential.deleted', outside.id],
      ],
    );
    assert.deepEqual(
      rx.accepted('/team').map((r) => [r.event?.type, r.event?.data.object_id]),
      [
        ['credential.created', inTeam.id],
        ['credential.deleted', inTeam.id],
        ['credential.created', marker.id],
      ],
    );
    for (const r of rx.accepted('/team')) assert.equal(r.event?.data.team_id, team.id);
    assert.ok(onlyDeletes.id && teamOnly.id);
  });

  it('a receiver that fails for a while and recovers gets everything in order, the same webhook-id on each retry', async () => {
    const path = '/flaky';
    rx.respond(path, (k) => (k <= 4 ? 503 : 200));
    const sub = await subscribe(path, { event_types: ['credential.created'] });
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await ok(s.request('POST', '/v1/credentials', { body: smtpBody(unique('flaky')) }))).id);
    await waitFor('five accepted', () => rx.accepted(path).length >= 5);
    assert.deepEqual(
      rx.accepted(path).map((r) => r.event?.data.object_id),
      ids,
    );
    const all = rx.all(path);
    // The first four attempts were of the first event, each with its id; nothing after it went out meanwhile.
    assert.deepEqual(
      all.slice(0, 5).map((r) => r.headers['webhook-id']),
      Array(5).fill(all[0]?.headers['webhook-id']),
    );
    const log = (
      await waitFor('five logged', async () => {
        const l = await deliveries(sub.id);
        return l.length >= 9 ? l : null;
      })
    ).reverse();
    assert.deepEqual(
      log.slice(0, 5).map((d) => [d.attempt, d.status, d.failure]),
      [
        [1, 503, 'http_status'],
        [2, 503, 'http_status'],
        [3, 503, 'http_status'],
        [4, 503, 'http_status'],
        [5, 200, null],
      ],
    );
    const meta = await ok(s.request('GET', `/v1/webhooks/${sub.id}`), 200);
    assert.equal(meta.active, true);
    assert.equal(meta.delivery.failures, 0);
    assert.equal(meta.delivery.failing_since, null);
  });

  it('a streak of failures disables the subscription, and webhook.disabled reaches the others', async () => {
    rx.respond('/dead', () => 500);
    const watch = await subscribe('/watch', { event_types: ['webhook.disabled'] });
    const dead = await subscribe('/dead');
    await ok(s.request('POST', '/v1/credentials', { body: smtpBody(unique('dead')) }));
    const note = await waitFor('webhook.disabled', () => rx.accepted('/watch').find((r) => r.event?.data.webhook_id === dead.id), 30_000);
    assert.equal(note.event?.type, 'webhook.disabled');
    assert.equal(note.event?.data.object, 'webhook');
    assert.equal(note.event?.data.reason, 'failure_streak');
    assert.ok(Number(note.event?.data.failures) >= 5);
    const meta = await ok(s.request('GET', `/v1/webhooks/${dead.id}`), 200);
    assert.equal(meta.active, false);
    assert.equal(meta.disabled_reason, 'failure_streak');
    const tried = rx.all('/dead').length;
    await ok(s.request('POST', '/v1/credentials', { body: smtpBody(unique('after')) }));
    await waitFor('a later event at another subscription', () => rx.accepted('/all').length > 0);
    assert.equal(rx.all('/dead').length, tried, 'a disabled subscription is not called');
    assert.ok(watch.id);
  });

  it('redelivery sends one event again with its webhook-id, logged as manual', async () => {
    const path = '/again';
    const sub = await subscribe(path, { event_types: ['credential.created'] });
    const c = await ok(s.request('POST', '/v1/credentials', { body: smtpBody(unique('again')) }));
    const first = await waitFor('the event', () => rx.accepted(path).find((r) => r.event?.data.object_id === c.id));
    const eventId = String(first.headers['webhook-id']);
    // By event: an event committed just before the subscription but sealed after it is delivered too (the cursor is the sealed head).
    await waitFor('the first attempt logged', async () => (await deliveries(sub.id)).some((d) => d.event_id === eventId));
    const r = await ok(s.request('POST', `/v1/webhooks/${sub.id}/deliveries/${eventId}/redeliver`), 200);
    assert.equal(r.manual, true);
    assert.equal(r.status, 200);
    assert.equal(r.attempt, 2);
    // The answer came after the receiver had it: no wait.
    const copies = rx.accepted(path).filter((x) => x.headers['webhook-id'] === eventId);
    assert.equal(copies.length, 2);
    assert.equal(copies[1]?.body, copies[0]?.body);
    const missing = await s.request('POST', `/v1/webhooks/${sub.id}/deliveries/evt_01JD5Z6W9Y706QGCB39FQD380G/redeliver`);
    assert.equal(missing.status, 404);
  });

  it('rotating the secret signs with both during the overlap, each verified by the library', async () => {
    const path = '/rotate';
    const sub = await subscribe(path, { event_types: ['credential.created'] });
    const rotated = await ok(s.request('POST', `/v1/webhooks/${sub.id}/rotate-secret`, { body: { overlap_seconds: 3600 } }), 200);
    assert.notEqual(rotated.secret, sub.secret);
    secrets.push(rotated.secret);
    assert.ok(rotated.previous_secret_expires_at);
    rx.setSecrets(path, [sub.secret, rotated.secret]);
    await ok(s.request('POST', '/v1/credentials', { body: smtpBody(unique('rotated')) }));
    const got = await waitFor('a delivery', () => rx.accepted(path)[0]);
    assert.deepEqual(got.verifiedWith, [0, 1]);
    assert.equal(String(got.headers['webhook-signature']).split(' ').length, 2);
    // Without overlap the old secret stops at once.
    const again = await ok(s.request('POST', `/v1/webhooks/${sub.id}/rotate-secret`, { body: { overlap_seconds: 0 } }), 200);
    secrets.push(again.secret);
    rx.setSecrets(path, [rotated.secret, again.secret]);
    await ok(s.request('POST', '/v1/credentials', { body: smtpBody(unique('rotated twice')) }));
    const second = await waitFor('a second delivery', () => rx.accepted(path)[1]);
    assert.deepEqual(second.verifiedWith, [1]);
    assertNoSecret({ 'server log': s.logs(), 'delivery log': JSON.stringify(await deliveries(sub.id)) }, secrets);
  });
});

describe('managing webhooks', () => {
  it('owners and admins only; another tenant’s webhook is a 404 like a missing one', async () => {
    const key = async (role: string) => (await ok(s.request('POST', '/v1/access-keys', { body: { name: unique(role), role } }))).key as string;
    const admin = await key('admin');
    const member = await key('member');
    const viewer = await key('viewer');
    const mine = await subscribe('/rbac', {}, admin);
    for (const k of [member, viewer]) {
      assert.equal((await s.request('POST', '/v1/webhooks', { key: k, body: { url: rx.url('/x') } })).status, 403);
      assert.equal((await s.request('GET', '/v1/webhooks', { key: k })).status, 403);
      assert.equal((await s.request('GET', `/v1/webhooks/${mine.id}`, { key: k })).status, 403);
      assert.equal((await s.request('DELETE', `/v1/webhooks/${mine.id}`, { key: k })).status, 403);
    }
    const other = await ok(s.request('POST', '/v1/tenants', { body: { name: unique('other tenant') } }));
    const otherKey = other.owner_access_key.key as string;
    const theirs = await s.request('GET', `/v1/webhooks/${mine.id}`, { key: otherKey });
    const none = await s.request('GET', '/v1/webhooks/whk_01JD5Z6W9Y706QGCB39FQD380G', { key: otherKey });
    assert.equal(theirs.status, 404);
    assert.equal(theirs.body.error.code, 'WEBHOOK_NOT_FOUND');
    assert.deepEqual({ ...theirs.body.error, details: '', request_id: '' }, { ...none.body.error, details: '', request_id: '' });
    assert.equal((await s.request('PATCH', `/v1/webhooks/${mine.id}`, { key: otherKey, body: { active: false } })).status, 404);
    assert.equal((await s.request('POST', `/v1/webhooks/${mine.id}/rotate-secret`, { key: otherKey })).status, 404);
    assert.equal((await ok(s.request('GET', '/v1/webhooks', { key: otherKey }), 200)).data.length, 0);

    // Validation: the URL goes through the egress policy; event types are the known ones.
    assert.equal((await s.request('POST', '/v1/webhooks', { body: { url: 'http://10.0.0.1/hook' } })).status, 422);
    assert.equal((await s.request('POST', '/v1/webhooks', { body: { url: 'https://user:pw@example.com/hook' } })).status, 422);
    assert.equal((await s.request('POST', '/v1/webhooks', { body: { url: rx.url('/x'), event_types: ['credential.exploded'] } })).status, 422);
    assert.equal((await s.request('POST', '/v1/webhooks', { body: { url: rx.url('/x'), secret: 'mine' } })).status, 422);

    // Change and delete.
    const patched = await ok(s.request('PATCH', `/v1/webhooks/${mine.id}`, { key: admin, body: { active: false, description: 'paused' } }), 200);
    assert.equal(patched.active, false);
    assert.equal(patched.description, 'paused');
    assert.equal((await s.request('DELETE', `/v1/webhooks/${mine.id}`, { key: admin })).status, 204);
    assert.equal((await s.request('GET', `/v1/webhooks/${mine.id}`)).status, 404);
  });
});
