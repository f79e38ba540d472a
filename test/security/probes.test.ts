import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startServer, type ApiResponse, type TestServer } from '../support/server.ts';
import { assertNoSecret, assertServerHoldsNoSecret, canary } from '../support/canary.ts';
import { WINDOW_SECONDS, attemptsIn, auditText, maxEventsFor, waitForAttempts } from '../support/refusals.ts';

// Issue 24, "Audit you cannot steer": reveal probes of other tenants' or other teams' ids left no
// audit event at all, and denied reveals by one actor were not grouped (200 tries, 200 events).
// A probe now leaves an event with outcome `not_found` in the prober's tenant, grouped like
// denials, while the caller still gets the 404 of an id that never existed.

let s: TestServer;
const SECRET_B = canary('probe-b');
const SECRET_TEAM = canary('probe-team');
const SECRET_OPEN = canary('probe-open');
const ATTEMPTS = 200;

let ownerA = '';
let service: { id: string; key: string };
let member: { id: string; key: string };
let foreignId = ''; // tenant B's credential
let otherTeamId = ''; // tenant A's credential of a team the service key is not in
let openId = ''; // tenant A's credential everyone in A sees
const responses: string[] = [];

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
/** The UUID view the integration-metadata dialect gives a native id. */
function uuidOf(nativeId: string): string {
  const bits = [...nativeId.replace(/^[a-z]+_/, '')]
    .map((ch) => CROCKFORD.indexOf(ch).toString(2).padStart(5, '0'))
    .join('')
    .slice(2);
  let hex = '';
  for (let i = 0; i < 128; i += 4) hex += parseInt(bits.slice(i, i + 4), 2).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

async function ok(p: Promise<ApiResponse>): Promise<any> {
  const r = await p;
  assert.ok(r.status < 300, r.text);
  return r.body;
}

async function get(path: string, key: string, headers: Record<string, string> = {}): Promise<ApiResponse> {
  const r = await s.request('GET', path, { key, headers });
  responses.push(r.text);
  return r;
}

/** An error body with its request id and the asked id blanked: a probe must look like a miss. */
function shape(r: ApiResponse, id: string): string {
  return `${r.status} ${r.text
    .split(r.headers.get('x-request-id') ?? '\u0000')
    .join('<rid>')
    .split(id)
    .join('<id>')}`;
}

before(async () => {
  s = await startServer({ env: { LATCHKEY_AUDIT_REFUSAL_WINDOW_SECONDS: String(WINDOW_SECONDS) } });
  const a = await ok(s.request('POST', '/v1/tenants', { body: { name: `probes A ${randomBytes(3).toString('hex')}` } }));
  ownerA = a.owner_access_key.key;
  const b = await ok(s.request('POST', '/v1/tenants', { body: { name: `probes B ${randomBytes(3).toString('hex')}` } }));
  const ownerB = b.owner_access_key.key as string;
  const blue = await ok(s.request('POST', '/v1/teams', { key: ownerA, body: { name: 'probe blue' } }));
  const red = await ok(s.request('POST', '/v1/teams', { key: ownerA, body: { name: 'probe red' } }));
  service = await ok(s.request('POST', '/v1/access-keys', { key: ownerA, body: { name: 'prober', role: 'service', team_ids: [blue.id] } }));
  member = await ok(s.request('POST', '/v1/access-keys', { key: ownerA, body: { name: 'member', role: 'member' } }));
  const text = (name: string, value: string, extra: Record<string, unknown> = {}) => ({ name, type: 'text', secret: { value }, ...extra });
  foreignId = (await ok(s.request('POST', '/v1/credentials', { key: ownerB, body: text('B secret', SECRET_B, { integration_id: 'probe-int-b' }) }))).id;
  otherTeamId = (
    await ok(
      s.request('POST', '/v1/credentials', {
        key: ownerA,
        body: text('Red secret', SECRET_TEAM, { integration_id: 'probe-int-red', team_id: red.id, read_access: 'TEAM' }),
      }),
    )
  ).id;
  openId = (await ok(s.request('POST', '/v1/credentials', { key: ownerA, body: text('Open secret', SECRET_OPEN) }))).id;
});

after(async () => {
  await s?.stop();
});

describe('probes of ids the caller cannot see', () => {
  it("answer the 404 of an id that never existed on every reveal path, and leave a not_found event in the prober's tenant", async () => {
    const never = 'crd_01JZZZZZZZZZZZZZZZZZZZZZZZ';
    const miss = await get(`/v1/credentials/${never}/secret`, service.key);
    assert.equal(miss.status, 404, miss.text);
    for (const id of [foreignId, otherTeamId]) {
      const r = await get(`/v1/credentials/${id}/secret`, service.key);
      assert.equal(shape(r, id), shape(miss, never), `reveal of ${id}`);
    }
    const intMiss = await get('/v1/integrations/probe-int-none/secret', service.key);
    assert.equal(intMiss.status, 404, intMiss.text);
    for (const integration of ['probe-int-b', 'probe-int-red']) {
      assert.equal(shape(await get(`/v1/integrations/${integration}/secret`, service.key), integration), shape(intMiss, 'probe-int-none'));
    }
    const icHeaders = { accept: 'application/json', 'x-tenantid': (await ok(s.request('GET', '/v1/tenants', { key: ownerA }))).data[0].id };
    const ic = await get('/compat/integration-credentials/api/v1/credentials/probe-int-red', service.key, icHeaders);
    assert.equal(ic.status, 404, ic.text);
    const im = await get(`/compat/integration-metadata/integrations/credentials/${uuidOf(foreignId)}/credentials`, service.key);
    assert.equal(im.status, 404, im.text);

    const expected = [
      ['credential', never],
      ['credential', foreignId],
      ['credential', otherTeamId],
      ['integration', 'probe-int-none'],
      ['integration', 'probe-int-b'],
      ['integration', 'probe-int-red'],
      ['credential', uuidOf(foreignId)],
    ];
    const events = await waitForAttempts(s, ownerA, { actorId: service.id, outcome: 'not_found', action: 'credential.reveal' }, expected.length + 1);
    const targets = events.map((e) => `${e.target.type} ${e.target.id}`);
    for (const [type, id] of expected) assert.ok(targets.includes(`${type} ${id}`), `no not_found event for ${type} ${id}: ${targets.join(', ')}`);
    // The dialect probe of probe-int-red is a second attempt on that target.
    assert.equal(attemptsIn(events.filter((e) => e.target.id === 'probe-int-red')), 2);
    for (const e of events) assert.match(e.reason, / not found$/);
  });

  it('200 probes of one foreign id: bounded events whose counts add up to 200', async () => {
    const started = Date.now();
    for (let i = 0; i < ATTEMPTS; i++) {
      const r = await s.request('GET', `/v1/credentials/${foreignId}/secret`, { key: service.key, headers: { 'x-request-id': `req_probe_${i % 3}` } });
      assert.equal(r.status, 404);
    }
    const elapsed = Date.now() - started;
    // Earlier tests probed this id once already (in another window, or counted in it).
    const events = (await waitForAttempts(s, ownerA, { actorId: service.id, outcome: 'not_found', action: 'credential.reveal' }, ATTEMPTS + 8)).filter(
      (e) => e.target.id === foreignId && e.request_id.startsWith('req_probe_'),
    );
    assert.equal(attemptsIn(events), ATTEMPTS);
    // The window the earlier probe opened may still be open: it adds its count, one event more.
    assert.ok(events.length <= maxEventsFor(elapsed) + 1, `${events.length} events for ${ATTEMPTS} probes in ${elapsed} ms`);
  });

  it('a sweep of many ids is bounded too: past 20 targets in a window they are counted together', async () => {
    const sweeper = await ok(s.request('POST', '/v1/access-keys', { key: ownerA, body: { name: 'sweeper', role: 'service' } }));
    const ids = Array.from({ length: 40 }, (_, i) => `crd_01JSWEEP${String(i).padStart(18, '0')}`);
    const started = Date.now();
    for (const id of ids) assert.equal((await s.request('GET', `/v1/credentials/${id}/secret`, { key: sweeper.key })).status, 404);
    const elapsed = Date.now() - started;
    const events = await waitForAttempts(s, ownerA, { actorId: sweeper.id, outcome: 'not_found' }, ids.length);
    const summary = JSON.stringify(events.map((e) => [e.target.id, e.suppressed]));
    // Per window: 20 ids of their own, one event for the rest, and its count.
    assert.ok(
      events.length <= 22 * (Math.floor(elapsed / (WINDOW_SECONDS * 1000)) + 1),
      `${events.length} events for a sweep of ${ids.length} ids in ${elapsed} ms: ${summary}`,
    );
    if (elapsed < WINDOW_SECONDS * 1000) {
      assert.equal(events.length, 22, summary);
      assert.equal(events.filter((e) => e.target.id === null).length, 2, summary);
    }
  });
});

describe('denied reveals', () => {
  it('200 denied reveals by one actor: bounded events whose counts add up to 200', async () => {
    const started = Date.now();
    for (let i = 0; i < ATTEMPTS; i++) {
      const r = await s.request('GET', `/v1/credentials/${openId}/secret`, { key: member.key, headers: { 'x-request-id': `req_denied_reveal_${i}` } });
      assert.equal(r.status, 403);
      if (i === 0) responses.push(r.text);
    }
    const elapsed = Date.now() - started;
    const events = await waitForAttempts(s, ownerA, { actorId: member.id, outcome: 'denied', action: 'credential.reveal' }, ATTEMPTS);
    assert.ok(events.length <= maxEventsFor(elapsed), `${events.length} events for ${ATTEMPTS} denied reveals in ${elapsed} ms`);
    for (const e of events) assert.deepEqual(e.target, { type: 'credential', id: openId });
  });
});

describe('what the probes got', () => {
  it('no secret in any answer, log line, data file or audit event', async () => {
    assertNoSecret(Object.fromEntries(responses.map((r, i) => [`response #${i}`, r])), [SECRET_B, SECRET_TEAM, SECRET_OPEN]);
    await assertServerHoldsNoSecret(s, [SECRET_B, SECRET_TEAM, SECRET_OPEN], { "tenant A's audit events": await auditText(s, ownerA) });
  });
});
