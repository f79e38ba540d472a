import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { smtpBody, startServer, type TestServer } from '../support/server.ts';
import { assertServerHoldsNoSecret, canary } from '../support/canary.ts';
import { WINDOW_SECONDS, attemptsIn, auditText, maxEventsFor, refusalEvents, waitForAttempts } from '../support/refusals.ts';

// Hole 7 of issue 24: denied attempts sent with an X-Request-Id that already had a denial event
// left no event at all, so a caller could hide what it tried. Refusals are now grouped by actor,
// action and target over a window, never by anything the caller sends, and each event says how
// many attempts it stands for (`suppressed`).

let s: TestServer;
const SECRET = canary('steering');
const ATTEMPTS = 200;
/** Owner keys of the tenants made here, to read their audit logs at the end. */
const owners: string[] = [];

before(async () => {
  s = await startServer({ env: { LATCHKEY_AUDIT_REFUSAL_WINDOW_SECONDS: String(WINDOW_SECONDS), LATCHKEY_AUDIT_SEAL_INTERVAL_MS: '50' } });
});

after(async () => {
  await s?.stop();
});

async function tenantWithMember(): Promise<{ owner: string; member: { id: string; key: string }; credentialId: string }> {
  const t = await s.request('POST', '/v1/tenants', { body: { name: `steering ${randomBytes(4).toString('hex')}` } });
  assert.equal(t.status, 201, t.text);
  const owner = t.body.owner_access_key.key as string;
  owners.push(owner);
  const m = await s.request('POST', '/v1/access-keys', { key: owner, body: { name: 'member', role: 'member' } });
  assert.equal(m.status, 201, m.text);
  const c = await s.request('POST', '/v1/credentials', { key: owner, body: smtpBody('Steering target', SECRET) });
  assert.equal(c.status, 201, c.text);
  return { owner, member: { id: m.body.id, key: m.body.key }, credentialId: c.body.id };
}

/** `count` refused attempts to issue an owner key, each with the X-Request-Id `requestId(i)` gives. */
async function tryToIssueOwnerKeys(key: string, count: number, requestId: (i: number) => string): Promise<number> {
  const started = Date.now();
  for (let i = 0; i < count; i++) {
    const r = await s.request('POST', '/v1/access-keys', { key, body: { name: `escalate ${i}`, role: 'owner' }, headers: { 'x-request-id': requestId(i) } });
    assert.equal(r.status, 403, r.text);
  }
  return Date.now() - started;
}

describe('denials cannot be steered by the caller', () => {
  it('200 denied attempts reusing an X-Request-Id that already has a denial event: bounded events that still say 200', async () => {
    const t = await tenantWithMember();
    // A denied reveal first, under the request id the attempts below reuse.
    const reveal = await s.request('GET', `/v1/credentials/${t.credentialId}/secret`, { key: t.member.key, headers: { 'x-request-id': 'req_reused' } });
    assert.equal(reveal.status, 403);
    const elapsed = await tryToIssueOwnerKeys(t.member.key, ATTEMPTS, () => 'req_reused');

    const events = await waitForAttempts(s, t.owner, { actorId: t.member.id, outcome: 'denied', action: 'access.denied' }, ATTEMPTS);
    assert.equal(attemptsIn(events), ATTEMPTS);
    assert.ok(events.length <= maxEventsFor(elapsed), `${events.length} events for ${ATTEMPTS} attempts in ${elapsed} ms`);
    for (const e of events) {
      assert.deepEqual(
        { target: e.target, outcome: e.outcome, request_id: e.request_id },
        { target: { type: 'api', id: null }, outcome: 'denied', request_id: 'req_reused' },
      );
      assert.match(e.reason, /^POST \/v1\/access-keys refused$/);
    }
    // The reveal was recorded too, on its own.
    const reveals = await refusalEvents(s, t.owner, { actorId: t.member.id, outcome: 'denied', action: 'credential.reveal' });
    assert.equal(attemptsIn(reveals), 1);
    assert.deepEqual(reveals[0].target, { type: 'credential', id: t.credentialId });
  });

  it('200 denied attempts each with its own X-Request-Id: the same bounded events, and counts that add up to 200', async () => {
    const t = await tenantWithMember();
    const elapsed = await tryToIssueOwnerKeys(t.member.key, ATTEMPTS, (i) => `req_varied_${i}`);
    const events = await waitForAttempts(s, t.owner, { actorId: t.member.id, outcome: 'denied', action: 'access.denied' }, ATTEMPTS);
    assert.equal(attemptsIn(events), ATTEMPTS);
    assert.ok(events.length <= maxEventsFor(elapsed), `${events.length} events for ${ATTEMPTS} attempts in ${elapsed} ms`);
    // The first attempt is written as it happened; the count comes with the last one of the window.
    const oldest = events[events.length - 1];
    assert.equal(oldest.request_id, 'req_varied_0');
    assert.equal(oldest.suppressed, 0);
    assert.ok(
      events.some((e) => e.request_id === `req_varied_${ATTEMPTS - 1}` && e.suppressed > 0),
      JSON.stringify(events.map((e) => [e.request_id, e.suppressed])),
    );
  });

  it('another refusal in the middle of a flood gets its own event: the flood hides nothing else', async () => {
    const t = await tenantWithMember();
    await tryToIssueOwnerKeys(t.member.key, 20, (i) => `req_flood_${i}`);
    const other = await s.request('DELETE', `/v1/credentials/${t.credentialId}`, { key: t.member.key, headers: { 'x-request-id': 'req_flood_other' } });
    assert.equal(other.status, 403);
    // Written at once, not when the flood's window closes (the wait only covers a slow machine).
    const until = Date.now() + 20_000;
    for (;;) {
      const e = await refusalEvents(s, t.owner, { actorId: t.member.id, outcome: 'denied' });
      const found = e.find((x) => x.request_id === 'req_flood_other');
      if (found) {
        assert.deepEqual(found.target, { type: 'credential', id: t.credentialId });
        break;
      }
      assert.ok(Date.now() < until, 'the other refusal was not written');
      await new Promise((r) => setTimeout(r, 50));
    }
  });

  it('the counts are in the hash chain: editing one is reported by verify', async () => {
    const t = await tenantWithMember();
    await tryToIssueOwnerKeys(t.member.key, 5, (i) => `req_chain_${i}`);
    const events = await waitForAttempts(s, t.owner, { actorId: t.member.id, outcome: 'denied', action: 'access.denied' }, 5);
    const counted = events.find((e) => e.suppressed > 0);
    assert.ok(counted, JSON.stringify(events));
    const verify = async () => (await s.request('GET', '/v1/audit-events/verify', { key: t.owner })).body;
    assert.equal((await verify()).ok, true);
    const sql = await s.sql();
    try {
      await sql.run('UPDATE audit_events SET suppressed = 0 WHERE id = ?', counted.id);
      const bad = await verify();
      assert.equal(bad.ok, false);
      assert.equal(bad.first_bad_event_id, counted.id);
      await sql.run('UPDATE audit_events SET suppressed = ? WHERE id = ?', counted.suppressed, counted.id);
    } finally {
      await sql.close();
    }
    assert.equal((await verify()).ok, true);
  });

  it('filter[outcome] takes every outcome and nothing else', async () => {
    const t = await tenantWithMember();
    for (const outcome of ['success', 'denied', 'not_found', 'failure']) {
      assert.equal((await s.request('GET', `/v1/audit-events?filter[outcome]=${outcome}`, { key: t.owner })).status, 200, outcome);
    }
    const bad = await s.request('GET', '/v1/audit-events?filter[outcome]=allowed', { key: t.owner });
    assert.equal(bad.status, 400, bad.text);
  });

  it('the secret of the credential the attempts aimed at is nowhere', async () => {
    const audits: Record<string, string> = {};
    for (const [i, owner] of owners.entries()) audits[`tenant #${i} audit events`] = await auditText(s, owner);
    await assertServerHoldsNoSecret(s, [SECRET], audits);
  });
});
