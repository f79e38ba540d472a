import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { smtpBody, startServer, type ApiResponse, type TestServer } from '../support/server.ts';
import { TEST_STORE, makeStoreFixture, type RawSql, type StoreFixture } from '../support/store.ts';
import { eventHash } from '../../src/services/audit/audit-chain.ts';
import { auditFromRecord } from '../../src/store/rows.ts';
import { loadConfig } from '../../src/config.ts';
import { openRuntime, type Runtime } from '../../src/main.ts';
import type { RequestContext } from '../../src/domain/principal.ts';
import type { AuditSink } from '../../src/services/audit/sinks/audit-sink.ts';
import { ownerContext } from '../support/owner-context.ts';

// The audit log through the HTTP API of a real server, with the database edited behind its back
// the way an attacker with write access to the tables would.

let s: TestServer;
const SECRET = 'AUDIT-NEVER-' + randomBytes(8).toString('hex');

before(async () => {
  s = await startServer({ env: { LATCHKEY_AUDIT_SEAL_INTERVAL_MS: '50' } });
});

after(async () => {
  await s.stop();
});

async function tenant(name: string): Promise<{ id: string; key: string }> {
  const r = await s.request('POST', '/v1/tenants', { body: { name: `${name} ${randomBytes(3).toString('hex')}` } });
  assert.equal(r.status, 201, r.text);
  return { id: r.body.tenant.id, key: r.body.owner_access_key.key };
}

/** Every event of the caller's tenant, newest first, through cursor paging. */
async function allEvents(key: string, filter = ''): Promise<any[]> {
  const out: any[] = [];
  let cursor: string | null = null;
  for (let i = 0; i < 100; i++) {
    const r: ApiResponse = await s.request('GET', `/v1/audit-events?per_page=100${filter}${cursor ? `&cursor=${cursor}` : ''}`, { key });
    assert.equal(r.status, 200, r.text);
    out.push(...r.body.data);
    cursor = r.body.next_cursor;
    if (!cursor) return out;
  }
  throw new Error('too many pages');
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined | null | false>, ms = 5000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function verify(key: string): Promise<any> {
  const r = await s.request('GET', '/v1/audit-events/verify', { key });
  assert.equal(r.status, 200, r.text);
  return r.body;
}

async function idAt(conn: RawSql, tenantId: string, seq: number): Promise<string> {
  const r = await conn.get<{ id: string }>('SELECT id FROM audit_events WHERE tenant_id = ? AND seq = ?', tenantId, seq);
  assert.ok(r, `no event at seq ${seq}`);
  return r.id;
}

/** A tenant with `n` credential events after its two bootstrap events, all sealed. */
async function chainOf(name: string, n: number): Promise<{ id: string; key: string }> {
  const t = await tenant(name);
  for (let i = 0; i < n; i++) assert.equal((await s.request('POST', '/v1/credentials', { key: t.key, body: smtpBody(`${name} ${i}`) })).status, 201);
  const v = await verify(t.key);
  assert.equal(v.ok, true, JSON.stringify(v));
  assert.equal(v.events_checked, n + 2);
  return t;
}

describe('GET /v1/audit-events', () => {
  let t: { id: string; key: string };
  const ids: string[] = [];

  before(async () => {
    t = await tenant('paging');
    for (let i = 0; i < 40; i++) {
      const c = await s.request('POST', '/v1/credentials', { key: t.key, body: smtpBody(`Paging ${i}`) });
      assert.equal(c.status, 201);
      ids.push(c.body.id);
      assert.equal((await s.request('GET', `/v1/credentials/${c.body.id}/secret`, { key: t.key })).status, 200);
      assert.equal((await s.request('PATCH', `/v1/credentials/${c.body.id}`, { key: t.key, body: { description: `d${i}` } })).status, 200);
    }
  });

  it('pages 122 events with a cursor: each exactly once, newest first, no gaps', async () => {
    const seen: any[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const r: ApiResponse = await s.request('GET', `/v1/audit-events?per_page=25${cursor ? `&cursor=${cursor}` : ''}`, { key: t.key });
      assert.equal(r.status, 200);
      assert.equal(r.body.per_page, 25);
      seen.push(...r.body.data);
      cursor = r.body.next_cursor;
      pages++;
    } while (cursor);
    assert.equal(seen.length, 122); // 2 bootstrap + 40 × (create, reveal, update)
    assert.equal(pages, 5);
    assert.equal(new Set(seen.map((e) => e.id)).size, 122);
    for (let i = 1; i < seen.length; i++) {
      const [a, b] = [seen[i - 1], seen[i]];
      assert.ok(a.at > b.at || (a.at === b.at && a.id > b.id), 'newest first, id as tie-breaker');
    }
    for (const e of seen) {
      assert.equal(e.tenant_id, t.id);
      assert.deepEqual(
        Object.keys(e).sort(),
        [
          'action',
          'actor',
          'at',
          'detail',
          'hash',
          'id',
          'ip',
          'outcome',
          'prev_hash',
          'reason',
          'request_id',
          'seq',
          'suppressed',
          'target',
          'tenant_id',
          'user_agent',
        ].sort(),
      );
      assert.equal(e.suppressed, 0);
    }
  });

  it('filters by credential, action, actor and time, and pages filtered results', async () => {
    const one = await allEvents(t.key, `&filter[credential_id]=${ids[7]}`);
    assert.deepEqual(one.map((e) => e.action).sort(), ['credential.create', 'credential.reveal', 'credential.update']);
    const reveals = await allEvents(t.key, '&filter[action]=credential.reveal');
    assert.equal(reveals.length, 40);
    assert.ok(reveals.every((e) => e.action === 'credential.reveal' && e.outcome === 'success'));
    const filteredPage = await s.request('GET', '/v1/audit-events?per_page=30&filter[action]=credential.update', { key: t.key });
    assert.equal(filteredPage.body.data.length, 30);
    const rest = await s.request('GET', `/v1/audit-events?per_page=30&filter[action]=credential.update&cursor=${filteredPage.body.next_cursor}`, {
      key: t.key,
    });
    assert.equal(rest.body.data.length, 10);
    assert.equal(rest.body.next_cursor, null);

    const actor = reveals[0].actor.id;
    assert.equal((await allEvents(t.key, `&filter[actor_id]=${actor}`)).length, 120);
    assert.equal((await allEvents(t.key, '&filter[actor_id]=key_nobody')).length, 0);

    const all = await allEvents(t.key);
    const middle = all[60].at;
    const since = await allEvents(t.key, `&filter[since]=${encodeURIComponent(middle)}`);
    const until = await allEvents(t.key, `&filter[until]=${encodeURIComponent(middle)}`);
    assert.ok(since.every((e) => e.at >= middle) && until.every((e) => e.at < middle));
    assert.equal(since.length + until.length, 122);
    const window = await allEvents(
      t.key,
      `&filter[since]=${encodeURIComponent(all[80].at)}&filter[until]=${encodeURIComponent(all[20].at)}&filter[action]=credential.reveal`,
    );
    assert.ok(window.length > 0 && window.every((e) => e.action === 'credential.reveal' && e.at >= all[80].at && e.at < all[20].at));
  });

  it('refuses a cursor it did not issue and a malformed filter', async () => {
    assert.equal((await s.request('GET', '/v1/audit-events?cursor=bm9wZQ', { key: t.key })).status, 400);
    assert.equal((await s.request('GET', '/v1/audit-events?filter[since]=yesterday', { key: t.key })).status, 400);
    assert.equal((await s.request('GET', '/v1/audit-events?filter[credential_id]=a%20b', { key: t.key })).status, 400);
  });

  it('shows one tenant only its own events', async () => {
    const other = await tenant('other');
    const theirs = await allEvents(other.key);
    assert.ok(theirs.length >= 2);
    assert.ok(theirs.every((e) => e.tenant_id === other.id));
    assert.equal((await allEvents(other.key, `&filter[credential_id]=${ids[0]}`)).length, 0);
  });
});

describe('every action is an event', () => {
  it('records each lifecycle action with actor, target, outcome, request id, ip and user agent — and no secret', async () => {
    const t = await tenant('actions');
    const did: Array<[string, string, string | null]> = []; // [request id, action, target id]
    let n = 0;
    const call = async (method: string, path: string, action: string, target: (body: any) => string | null, body?: unknown, expect = [200, 201, 204]) => {
      const rid = `req_audit_${++n}_${randomBytes(4).toString('hex')}`;
      const r = await s.request(method, path, { key: t.key, body, headers: { 'x-request-id': rid, 'user-agent': 'audit-test/1.0' } });
      assert.ok(expect.includes(r.status), `${method} ${path}: ${r.status} ${r.text}`);
      did.push([rid, action, target(r.body)]);
      return r.body;
    };
    const c = await call('POST', '/v1/credentials', 'credential.create', (b) => b.id, smtpBody('Lifecycle', SECRET));
    const id = c.id;
    await call('PATCH', `/v1/credentials/${id}`, 'credential.update', () => id, { description: 'changed' });
    await call('PATCH', `/v1/credentials/${id}`, 'credential.deactivate_temporarily', () => id, { status: 'inactive' });
    await call('PATCH', `/v1/credentials/${id}`, 'credential.activate', () => id, { status: 'active' });
    await call('GET', `/v1/credentials/${id}/secret`, 'credential.reveal', () => id);
    await call('POST', `/v1/credentials/${id}/rotate`, 'credential.rotate', () => id, { secret: { password: SECRET + '-2' } });
    await call('POST', `/v1/credentials/${id}/versions/1/restore`, 'credential.version_restore', () => id);
    // The account keeps one smtp/api_key credential whatever deletes (docs/dialects.md): a second one, so this one may go.
    await call('POST', '/v1/credentials', 'credential.create', (b) => b.id, smtpBody('Lifecycle keeper', SECRET + '-keeper'));
    await call('DELETE', `/v1/credentials/${id}`, 'credential.delete', () => id);
    await call('POST', `/v1/credentials/${id}/restore`, 'credential.restore', () => id);
    await call('DELETE', `/v1/credentials/${id}?purge=true`, 'credential.purge', () => id);
    const k = await call('POST', '/v1/access-keys', 'access_key.issue', (b) => b.id, { name: 'ci', role: 'service' });
    await call('PUT', `/v1/access-keys/${k.id}`, 'access_key.update', () => k.id, { name: 'ci 2' });
    const team = await call('POST', '/v1/teams', 'team.create', (b) => b.id, { name: 'Payments' });
    await call('PATCH', `/v1/teams/${team.id}`, 'team.update', () => team.id, { name: 'Payments EU' });
    await call('PUT', `/v1/teams/${team.id}/members/${k.id}`, 'team.member_add', () => team.id);
    await call('DELETE', `/v1/teams/${team.id}/members/${k.id}`, 'team.member_remove', () => team.id);
    const folder = await call('POST', '/v1/folders', 'folder.create', (b) => b.id, { name: 'eu', team_id: team.id });
    await call('DELETE', `/v1/folders/${folder.id}`, 'folder.delete', () => folder.id);
    await call('DELETE', `/v1/teams/${team.id}`, 'team.delete', () => team.id);
    await call('DELETE', `/v1/access-keys/${k.id}`, 'access_key.revoke', () => k.id);

    const events = await allEvents(t.key);
    const byRequest = new Map(events.map((e) => [e.request_id, e]));
    for (const [rid, action, target] of did) {
      const e = byRequest.get(rid);
      assert.ok(e, `no event for ${action} (${rid})`);
      assert.equal(e.action, action, rid);
      assert.equal(e.target.id, target, action);
      assert.equal(e.outcome, 'success');
      assert.equal(e.user_agent, 'audit-test/1.0');
      assert.equal(e.ip, '127.0.0.1');
      assert.equal(e.actor.type, 'access_key');
      assert.ok(e.actor.id.startsWith('key_') && e.actor.name);
    }
    assert.equal(JSON.stringify(events).includes(SECRET), false, 'an event holds a secret');
    // The facts a consumer of the change needs ride on the event (hashed into the chain with it).
    const detail = (action: string) => byRequest.get(did.find(([, a]) => a === action)?.[0] ?? '')?.detail;
    assert.deepEqual(detail('credential.create'), { type: 'smtp', team_id: null, version: 1 });
    assert.deepEqual(detail('credential.deactivate_temporarily'), { type: 'smtp', team_id: null, version: 1, status: 'inactive', previous_status: 'active' });
    assert.deepEqual(detail('credential.rotate'), { type: 'smtp', team_id: null, version: 2 });
    assert.deepEqual(detail('credential.version_restore'), { type: 'smtp', team_id: null, version: 3 });
    assert.deepEqual(detail('credential.purge'), { type: 'smtp', team_id: null });
    assert.equal(detail('credential.reveal'), null);
    assert.equal((await verify(t.key)).ok, true);
    const conn = await s.sql();
    const dump = await conn.get<{ all: string }>(
      TEST_STORE === 'sqlite'
        ? `SELECT group_concat(actor || action || target_type || COALESCE(target_id, '') || COALESCE(reason, '') || user_agent, '|') AS "all" FROM audit_events`
        : `SELECT string_agg(actor || action || target_type || COALESCE(target_id, '') || COALESCE(reason, '') || user_agent, '|') AS "all" FROM audit_events`,
    );
    await conn.close();
    assert.equal(dump!.all.includes(SECRET), false);
    assert.equal((await verify(t.key)).ok, true);
  });

  it('records denied access on every route once, grouped per actor, action and target, and failed authentication', async () => {
    const t = await tenant('denials');
    const viewer = (await s.request('POST', '/v1/access-keys', { key: t.key, body: { name: 'viewer', role: 'viewer' } })).body;
    const c = (await s.request('POST', '/v1/credentials', { key: t.key, body: smtpBody('Denied', SECRET) })).body;

    // A write the role lacks: recorded centrally from the 403, with the credential as target.
    const r1 = await s.request('PATCH', `/v1/credentials/${c.id}`, {
      key: viewer.key,
      body: { description: 'x' },
      headers: { 'x-request-id': 'req_denied_patch' },
    });
    assert.equal(r1.status, 403);
    // A reveal: recorded as what the route does (credential.reveal), once.
    const r2 = await s.request('GET', `/v1/credentials/${c.id}/secret`, { key: viewer.key, headers: { 'x-request-id': 'req_denied_reveal' } });
    assert.equal(r2.status, 403);
    assert.equal(r2.text.includes(SECRET), false);
    // A route outside the credentials service (audit:read is checked in the route).
    const r3 = await s.request('GET', '/v1/audit-events', { key: viewer.key, headers: { 'x-request-id': 'req_denied_audit' } });
    assert.equal(r3.status, 403);

    const events = await waitFor('denial events', async () => {
      const e = await allEvents(t.key);
      return e.some((x) => x.request_id === 'req_denied_audit') ? e : null;
    });
    const of = (rid: string) => events.filter((e) => e.request_id === rid);
    assert.equal(of('req_denied_patch').length, 1);
    assert.deepEqual(
      {
        action: of('req_denied_patch')[0].action,
        outcome: of('req_denied_patch')[0].outcome,
        target: of('req_denied_patch')[0].target,
        actor: of('req_denied_patch')[0].actor.id,
      },
      { action: 'access.denied', outcome: 'denied', target: { type: 'credential', id: c.id }, actor: viewer.id },
    );
    assert.match(of('req_denied_patch')[0].reason, /^PATCH \/v1\/credentials\/:id refused/);
    assert.equal(of('req_denied_reveal').length, 1);
    assert.equal(of('req_denied_reveal')[0].action, 'credential.reveal');
    assert.equal(of('req_denied_reveal')[0].outcome, 'denied');
    assert.equal(of('req_denied_audit').length, 1);
    assert.equal(of('req_denied_audit')[0].action, 'access.denied');

    // A burst for one target: the first is written at once; the rest are counted and written
    // when the window closes (on shutdown at the latest; test/security/audit-steering.test.ts).
    for (let i = 0; i < 6; i++)
      assert.equal(
        (await s.request('POST', '/v1/credentials', { key: viewer.key, body: smtpBody(`nope ${i}`), headers: { 'x-request-id': `req_burst_${i}` } })).status,
        403,
      );
    const burst = await waitFor('burst events', async () => {
      const e = (await allEvents(t.key, '&filter[action]=access.denied')).filter((x) => x.request_id.startsWith('req_burst'));
      return e.length > 0 ? e : null;
    });
    assert.deepEqual(
      burst.map((e) => [e.request_id, e.suppressed]),
      [['req_burst_0', 0]],
    );

    // Failed authentication and a foreign x-tenant-id belong to no tenant: the platform chain.
    assert.equal((await s.request('GET', '/v1/credentials', { key: 'lk_live_' + 'x'.repeat(43), headers: { 'x-request-id': 'req_bad_key' } })).status, 401);
    const other = await tenant('foreign');
    assert.equal(
      (await s.request('GET', '/v1/credentials', { key: t.key, headers: { 'x-tenant-id': other.id, 'x-request-id': 'req_foreign_tenant' } })).status,
      403,
    );
    const conn = await s.sql();
    try {
      const failed = await waitFor('platform events', async () => {
        const a = await conn.get<{ action: string; outcome: string }>(
          `SELECT action, outcome FROM audit_events WHERE tenant_id = '' AND request_id = 'req_bad_key'`,
        );
        const b = await conn.get<{ action: string; outcome: string }>(
          `SELECT action, outcome FROM audit_events WHERE tenant_id = '' AND request_id = 'req_foreign_tenant'`,
        );
        return a && b ? { a, b } : null;
      });
      assert.deepEqual(failed.a, { action: 'auth.failed', outcome: 'failure' });
      assert.deepEqual(failed.b, { action: 'access.denied', outcome: 'denied' });
    } finally {
      await conn.close();
    }
    assert.equal((await verify(t.key)).ok, true);
  });
});

describe('tamper evidence: verify names the event', () => {
  it('reports an edit of any column of a sealed event, and is whole again once it is undone', async () => {
    const t = await chainOf('edits', 8);
    const conn = await s.sql();
    try {
      const victim = await idAt(conn, t.id, 5);
      const row = (await conn.get<Record<string, any>>('SELECT * FROM audit_events WHERE id = ?', victim))!;
      const actor = JSON.parse(row.actor);
      const edits: Array<[string, unknown]> = [
        ['at', '2020-01-01T00:00:00.000Z'],
        ['actor', JSON.stringify({ ...actor, name: 'someone else' })],
        ['actor', JSON.stringify({ ...actor, email: 'mallory@example.com' })],
        ['actor', JSON.stringify({ ...actor, id: 'key_mallory' })],
        ['actor_id', 'key_mallory'],
        ['action', 'credential.update'],
        ['target_type', 'team'],
        ['target_id', 'crd_somethingelse'],
        ['outcome', 'failure'],
        ['reason', 'nothing to see'],
        ['request_id', 'req_forged'],
        ['ip', '10.9.9.9'],
        ['user_agent', 'forged/1.0'],
        ['hash', 'f'.repeat(64)],
        ['prev_hash', 'e'.repeat(64)],
        ['detail', JSON.stringify({ type: 'smtp', team_id: null, version: 7 })],
        ['detail', null],
      ];
      for (const [column, value] of edits) {
        await conn.run(`UPDATE audit_events SET ${column} = ? WHERE id = ?`, value, victim);
        const bad = await verify(t.key);
        assert.equal(bad.ok, false, `edit of ${column} went unnoticed`);
        assert.equal(bad.first_bad_event_id, victim, column);
        assert.match(bad.problem, /edited, moved or reordered/);
        await conn.run(`UPDATE audit_events SET ${column} = ? WHERE id = ?`, row[column], victim);
        assert.equal((await verify(t.key)).ok, true, `undoing ${column}`);
      }
      // Moving the row to another tenant is a deletion from this chain: the gap is reported.
      await conn.run('UPDATE audit_events SET tenant_id = ? WHERE id = ?', 'ten_elsewhere', victim);
      const moved = await verify(t.key);
      assert.equal(moved.first_bad_event_id, await idAt(conn, t.id, 6));
      await conn.run('UPDATE audit_events SET tenant_id = ? WHERE id = ?', t.id, victim);
      assert.equal((await verify(t.key)).ok, true);
    } finally {
      await conn.close();
    }
  });

  it('reports a deleted event in the middle at the event after the gap', async () => {
    const t = await chainOf('delete middle', 8);
    const conn = await s.sql();
    try {
      const victim = await idAt(conn, t.id, 4);
      const next = await idAt(conn, t.id, 5);
      await conn.run('DELETE FROM audit_events WHERE id = ?', victim);
      const bad = await verify(t.key);
      assert.equal(bad.ok, false);
      assert.equal(bad.first_bad_event_id, next);
      assert.match(bad.problem, /missing before .* expected seq 4, found seq 5/);
      assert.equal(bad.events_checked, 3);
    } finally {
      await conn.close();
    }
  });

  it('reports a deleted last event (truncation) by the id of the event that is gone, also after new events are sealed', async () => {
    const t = await chainOf('truncate', 8);
    const conn = await s.sql();
    try {
      const last = await idAt(conn, t.id, 10);
      await conn.run('DELETE FROM audit_events WHERE id = ?', last);
      const bad = await verify(t.key);
      assert.equal(bad.ok, false, 'a cut-off end went unnoticed');
      assert.equal(bad.first_bad_event_id, last);
      assert.match(bad.problem, /cut: it ends at seq 9, but its sealed head was .* at seq 10/);
      // Life goes on: new events are sealed after the cut, and the cut is still reported.
      assert.equal((await s.request('POST', '/v1/credentials', { key: t.key, body: smtpBody('after the cut') })).status, 201);
      const still = await verify(t.key);
      assert.equal(still.ok, false);
      assert.equal(still.first_bad_event_id, last);
      assert.equal(still.unsealed, 0);
      // Cutting the end AND the checkpoint row together: the chain then has no checkpoint, which is reported too.
      await conn.run('DELETE FROM audit_chain_heads WHERE tenant_id = ?', t.id);
      const gone = await verify(t.key);
      assert.equal(gone.ok, false);
      assert.match(gone.problem, /no checkpoint/);
    } finally {
      await conn.close();
    }
  });

  it('reports two events whose places were swapped at the first one out of place', async () => {
    const t = await chainOf('reorder', 8);
    const conn = await s.sql();
    try {
      const a = await idAt(conn, t.id, 4);
      const b = await idAt(conn, t.id, 7);
      await conn.run('UPDATE audit_events SET seq = -1 WHERE id = ?', a);
      await conn.run('UPDATE audit_events SET seq = 4 WHERE id = ?', b);
      await conn.run('UPDATE audit_events SET seq = 7 WHERE id = ?', a);
      const bad = await verify(t.key);
      assert.equal(bad.ok, false);
      assert.equal(bad.first_bad_event_id, b);
      // Swapping back makes it whole: order, not only content, is what was checked.
      await conn.run('UPDATE audit_events SET seq = -1 WHERE id = ?', a);
      await conn.run('UPDATE audit_events SET seq = 7 WHERE id = ?', b);
      await conn.run('UPDATE audit_events SET seq = 4 WHERE id = ?', a);
      assert.equal((await verify(t.key)).ok, true);
      // Adjacent events swapped with their chain columns too (seq, hash, prev_hash stay in place).
      const c = await idAt(conn, t.id, 8);
      const d = await idAt(conn, t.id, 9);
      const rc = (await conn.get<Record<string, any>>('SELECT seq, hash, prev_hash FROM audit_events WHERE id = ?', c))!;
      const rd = (await conn.get<Record<string, any>>('SELECT seq, hash, prev_hash FROM audit_events WHERE id = ?', d))!;
      await conn.run('UPDATE audit_events SET seq = -1 WHERE id = ?', c);
      await conn.run('UPDATE audit_events SET seq = ?, hash = ?, prev_hash = ? WHERE id = ?', rc.seq, rc.hash, rc.prev_hash, d);
      await conn.run('UPDATE audit_events SET seq = ?, hash = ?, prev_hash = ? WHERE id = ?', rd.seq, rd.hash, rd.prev_hash, c);
      const swapped = await verify(t.key);
      assert.equal(swapped.first_bad_event_id, d);
    } finally {
      await conn.close();
    }
  });

  it('catches a tail rewritten with correct hashes (which a plain hash chain cannot), and a forged checkpoint', async () => {
    const t = await chainOf('rewrite', 6);
    const conn = await s.sql();
    try {
      // The attacker knows the hash algorithm (it is public): edit the newest event and re-hash it.
      const head = await idAt(conn, t.id, 8);
      const row = (await conn.get<Record<string, any>>('SELECT * FROM audit_events WHERE id = ?', head))!;
      const edited = auditFromRecord({ ...row, ip: '10.6.6.6' });
      await conn.run('UPDATE audit_events SET ip = ?, hash = ? WHERE id = ?', '10.6.6.6', eventHash(edited, 8, row.prev_hash), head);
      const bad = await verify(t.key);
      assert.equal(bad.ok, false, 'a consistently re-hashed tail went unnoticed');
      assert.equal(bad.first_bad_event_id, head);
      assert.match(bad.problem, /replaced/);
      await conn.run('UPDATE audit_events SET ip = ?, hash = ? WHERE id = ?', row.ip, row.hash, head);
      assert.equal((await verify(t.key)).ok, true);

      // The checkpoint itself cannot be moved back without the tenant key.
      const state = (await conn.get<{ checkpoint: string }>('SELECT checkpoint FROM audit_chain_heads WHERE tenant_id = ?', t.id))!;
      const cp = JSON.parse(state.checkpoint);
      const prev = (await conn.get<{ id: string; hash: string }>('SELECT id, hash FROM audit_events WHERE tenant_id = ? AND seq = 7', t.id))!;
      await conn.run('DELETE FROM audit_events WHERE id = ?', head);
      await conn.run(
        'UPDATE audit_chain_heads SET checkpoint = ? WHERE tenant_id = ?',
        JSON.stringify({ ...cp, seq: 7, event_id: prev.id, hash: prev.hash }),
        t.id,
      );
      const forged = await verify(t.key);
      assert.equal(forged.ok, false);
      assert.match(forged.problem, /checkpoint does not verify/);
    } finally {
      await conn.close();
    }
  });
});

describe('audit writes fail closed in the database', () => {
  it('refuses a write whose audit insert fails, leaves nothing behind, and keeps reads of the log working', async () => {
    const t = await chainOf('fault', 2);
    const conn = await s.sql();
    if (TEST_STORE === 'sqlite') {
      await conn.exec(`CREATE TRIGGER audit_refuses_w BEFORE INSERT ON audit_events BEGIN SELECT RAISE(ABORT, 'audit disabled by test'); END`);
    } else {
      await conn.exec(`CREATE FUNCTION audit_refuses_w() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'audit disabled by test'; END $$`);
      await conn.exec(`CREATE TRIGGER audit_refuses_w BEFORE INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION audit_refuses_w()`);
    }
    try {
      const r = await s.request('POST', '/v1/credentials', { key: t.key, body: smtpBody('Never Written', SECRET) });
      assert.ok(r.status >= 500, `${r.status}`);
      assert.equal(r.text.includes(SECRET), false);
      const listed = await s.request('GET', '/v1/credentials?filter[name]=Never', { key: t.key });
      assert.equal(listed.status, 200);
      assert.equal(listed.body.total, 0, 'the credential was written without its audit event');
      assert.equal((await s.request('GET', '/v1/audit-events', { key: t.key })).status, 200);
      const v = await verify(t.key);
      assert.equal(v.ok, true);
    } finally {
      await conn.exec(TEST_STORE === 'sqlite' ? 'DROP TRIGGER audit_refuses_w' : 'DROP TRIGGER audit_refuses_w ON audit_events');
      await conn.close();
    }
  });
});

describe('retention', () => {
  // In-process with a clock the test moves: "400 days later" takes no time, and the events are
  // old because they were written then, not because their rows were edited (which would break them).
  let now = Date.parse('2025-01-01T00:00:00.000Z');
  const clock = { now: () => new Date(now) };
  const DAY = 86_400_000;
  let fixture: StoreFixture;
  let rt: Runtime;
  let ctx: RequestContext;
  const dataDir = mkdtempSync(join(tmpdir(), 'latchkey-retention-'));

  before(async () => {
    fixture = await makeStoreFixture();
    rt = await openRuntime(
      loadConfig({ ...fixture.env, LATCHKEY_DATA_DIR: dataDir, LATCHKEY_ROOT_KEY: randomBytes(32).toString('base64'), LATCHKEY_LOG_LEVEL: 'silent' }),
      { clock },
    );
    const boot = await rt.services.tenants.bootstrap();
    assert.ok(boot);
    ctx = ownerContext(boot.tenant.id, 'retention test');
  });

  after(async () => {
    await rt.close();
    await fixture.drop();
  });

  const smtp = (name: string) => ({ name, type: 'smtp', config: { host: 'smtp.example.com', auth_type: 'login', username: 'u' }, secret: { password: 'p' } });

  it('purges events past retention behind an anchor, and the chain still verifies from it', async () => {
    const audit = rt.services.audit;
    for (let i = 0; i < 30; i++) await rt.services.credentials.create(ctx, smtp(`old ${i}`));
    now += 200 * DAY;
    for (let i = 0; i < 10; i++) await rt.services.credentials.create(ctx, smtp(`young ${i}`));
    const before = await audit.verify(ctx.principal.tenantId);
    assert.equal(before.ok, true);
    assert.equal(before.events_checked, 42);

    now += 200 * DAY; // the first 32 events (2 bootstrap + 30) are now 400 days old, the rest 200
    assert.deepEqual(await audit.purgeExpired(0), { purged: 0, anchors: 0 }, '0 keeps everything');
    const r = await audit.purgeExpired(365);
    assert.deepEqual(r, { purged: 32, anchors: 1 });
    const v = await audit.verify(ctx.principal.tenantId);
    assert.equal(v.ok, true, JSON.stringify(v));
    assert.equal(v.events_checked, 11); // 10 young ones and the anchor
    assert.ok(v.anchor, 'the purge leaves an anchor');
    assert.equal(v.anchor.through_seq, 32);
    const listed = await audit.list(ctx.principal.tenantId, {}, 100);
    assert.equal(listed.length, 11);
    const anchor = listed.find((e) => e.action === 'audit.anchor');
    assert.ok(anchor);
    assert.equal(anchor.actor.type, 'system');
    assert.deepEqual(JSON.parse(anchor.reason ?? ''), {
      from_seq: 1,
      through_seq: 32,
      through_hash: v.anchor.through_hash,
      older_than: new Date(now - 365 * DAY).toISOString(),
    });
    assert.equal(await audit.purgeExpired(365).then((x) => x.purged), 0, 'nothing more is old enough');

    // The anchor is in the chain like any event: editing its claim is reported at the anchor.
    const conn = await fixture.raw(dataDir);
    try {
      await conn.run('UPDATE audit_events SET reason = ? WHERE id = ?', (anchor.reason ?? '').replace('"from_seq":1', '"from_seq":2'), anchor.id);
      const bad = await audit.verify(ctx.principal.tenantId);
      assert.equal(bad.first_bad_event_id, anchor.id);
      await conn.run('UPDATE audit_events SET reason = ? WHERE id = ?', anchor.reason, anchor.id);
      // Deleting the anchor makes the purged stretch a gap.
      const row = (await conn.get<Record<string, unknown>>('SELECT * FROM audit_events WHERE id = ?', anchor.id))!;
      await conn.run('DELETE FROM audit_events WHERE id = ?', anchor.id);
      const noAnchor = await audit.verify(ctx.principal.tenantId);
      assert.equal(noAnchor.ok, false);
      assert.match(noAnchor.problem ?? '', /missing/);
      const cols = Object.keys(row);
      await conn.run(`INSERT INTO audit_events (${cols.join(', ')}) VALUES (${cols.map(() => '?').join(', ')})`, ...cols.map((c) => row[c]));
      assert.equal((await audit.verify(ctx.principal.tenantId)).ok, true);
    } finally {
      await conn.close();
    }
  });

  it('keeps a stretch that does not verify, and what the sink has not acknowledged', async () => {
    const audit = rt.services.audit;
    for (let i = 0; i < 5; i++) await rt.services.credentials.create(ctx, smtp(`second ${i}`));
    now += 400 * DAY;
    for (let i = 0; i < 3; i++) await rt.services.credentials.create(ctx, smtp(`third ${i}`));
    assert.equal((await audit.verify(ctx.principal.tenantId)).ok, true);

    const conn = await fixture.raw(dataDir);
    const victim = (await conn.get<{ id: string; ip: string }>(
      `SELECT id, ip FROM audit_events WHERE tenant_id = ? AND action = 'credential.create' ORDER BY seq LIMIT 1`,
      ctx.principal.tenantId,
    ))!;
    await conn.run('UPDATE audit_events SET ip = ? WHERE id = ?', '10.1.1.1', victim.id);
    assert.equal((await audit.purgeExpired(365)).purged, 0, 'tampered evidence was purged');
    await conn.run('UPDATE audit_events SET ip = ? WHERE id = ?', victim.ip, victim.id);
    await conn.close();

    // A sink that never acknowledges: retention waits for it.
    const stuck: AuditSink = {
      id: 'test:stuck',
      label: 'stuck',
      deliver: (_l, signal) => new Promise((_r, reject) => signal.addEventListener('abort', () => reject(signal.reason))),
      close: async () => undefined,
    };
    audit.startSink(stuck, { pollMs: 50 });
    assert.equal((await audit.purgeExpired(365)).purged, 0, 'purged what the sink had not delivered');
  });
});
