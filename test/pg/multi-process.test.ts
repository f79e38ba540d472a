import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { ListSecretsCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { smtpBody, startServer, type TestServer } from '../support/server.ts';
import { postgresGate, scratchDatabase } from '../support/postgres-gate.ts';

/*
 * Two `latchkey serve` processes on one PostgreSQL database, the way users scale out behind a
 * load balancer. The database is the only thing they share, so everything here — reads,
 * revocation, ETags, Idempotency-Key — must hold through it alone.
 *
 * Needs PostgreSQL (SQLite is one process by design): without LATCHKEY_TEST_STORE=postgres and a
 * reachable LATCHKEY_TEST_DATABASE_URL every test says SKIPPED, loudly, and passes nothing.
 */

const { problem, noPostgres } = await postgresGate('multi-process tests');

const db = scratchDatabase('lk_mp');
let a: TestServer;
let b: TestServer;
let owner: string;

const unique = (label: string) => `${label} ${randomBytes(4).toString('hex')}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

before(async () => {
  if (problem !== null) return;
  await db.create();
  // One root key for both, as every process of one deployment has; a long auth cache TTL so a
  // refusal within a second can only come from the invalidation, not from the entry expiring.
  const env = { LATCHKEY_DATABASE_URL: db.url(), LATCHKEY_ROOT_KEY: randomBytes(32).toString('base64'), LATCHKEY_AUTH_CACHE_TTL_MS: '600000' };
  // One after the other: the first start creates the tenant and prints the owner key.
  a = await startServer({ env });
  owner = a.ownerKey;
  assert.ok(owner, 'the first process printed no owner key');
  b = await startServer({ env });
  assert.equal(b.ownerKey, '', 'the second process must find the tenant the first one made');
});

after(async () => {
  if (problem !== null) return;
  await Promise.all([a?.stop(), b?.stop()]);
  await db.drop();
});

describe('two processes on one PostgreSQL database', () => {
  it('a credential written through one is read and revealed through the other, and back', async (t) => {
    if (noPostgres(t)) return;
    const password = `pw-${randomBytes(8).toString('hex')}`;
    const made = await a.request('POST', '/v1/credentials', { body: smtpBody(unique('mp read'), password) });
    assert.equal(made.status, 201, made.text);
    const id = made.body.id as string;

    const meta = await b.request('GET', `/v1/credentials/${id}`, { key: owner });
    assert.equal(meta.status, 200, meta.text);
    assert.equal(meta.body.name, made.body.name);
    assert.equal(meta.headers.get('etag'), made.headers.get('etag'));
    const revealed = await b.request('GET', `/v1/credentials/${id}/secret`, { key: owner });
    assert.equal(revealed.status, 200, revealed.text);
    assert.equal(revealed.body.secret.password, password);

    const patched = await b.request('PATCH', `/v1/credentials/${id}`, { key: owner, body: { description: 'written on B' } });
    assert.equal(patched.status, 200, patched.text);
    const back = await a.request('GET', `/v1/credentials/${id}`);
    assert.equal(back.body.description, 'written on B');
    assert.equal(back.headers.get('etag'), patched.headers.get('etag'));
  });

  it('both processes have a live invalidation feed', async (t) => {
    if (noPostgres(t)) return;
    for (const s of [a, b]) assert.match(s.logs(), /cache invalidation feed is live/);
    const listeners = await db.query<{ n: string }>(`SELECT count(*) AS n FROM pg_stat_activity WHERE datname = $1 AND application_name = 'latchkey-listen'`, [
      db.name,
    ]);
    assert.equal(Number(listeners[0]?.n), 2, 'one LISTEN session per process');
  });

  for (const [from, to] of [
    ['A', 'B'],
    ['B', 'A'],
  ] as const) {
    it(`a key revoked on ${from} is refused (401) by ${to} within 1 s`, async (t) => {
      if (noPostgres(t)) return;
      const revoker = from === 'A' ? a : b;
      const other = from === 'A' ? b : a;
      const issued = await a.request('POST', '/v1/access-keys', {
        body: { name: unique('mp revoke'), type: 'api', role: 'service', team_ids: [], expires_at: null },
      });
      assert.equal(issued.status, 201, issued.text);
      const key = issued.body.key as string;
      // Used on both, so both hold it in their (ten-minute) cache.
      for (let i = 0; i < 3; i++) {
        assert.equal((await a.request('GET', '/v1/credentials', { key })).status, 200);
        assert.equal((await b.request('GET', '/v1/credentials', { key })).status, 200);
      }

      const revoked = await revoker.request('DELETE', `/v1/access-keys/${issued.body.id}`, { key: owner });
      assert.equal(revoked.status, 204, revoked.text);
      const start = performance.now();
      let refusedAfter = -1;
      while (performance.now() - start < 5000) {
        const r = await other.request('GET', '/v1/credentials', { key });
        if (r.status === 401) {
          refusedAfter = performance.now() - start;
          assert.equal(r.body.error.code, 'UNAUTHENTICATED');
          break;
        }
        assert.equal(r.status, 200, r.text);
        await sleep(50);
      }
      t.diagnostic(`revoked on ${from}, refused by ${to} after ${refusedAfter.toFixed(1)} ms`);
      assert.ok(refusedAfter >= 0, `${to} still accepted the key 5 s after it was revoked on ${from}`);
      assert.ok(refusedAfter < 1000, `${to} refused the key only after ${refusedAfter.toFixed(0)} ms`);
      // And it stays refused on both.
      assert.equal((await a.request('GET', '/v1/credentials', { key })).status, 401);
      assert.equal((await b.request('GET', '/v1/credentials', { key })).status, 401);
    });
  }

  for (const change of ['revoked', 'given a new pair'] as const) {
    it(`an AWS key pair whose key is ${change} on A is refused by B within 1 s`, async (t) => {
      if (noPostgres(t)) return;
      const issued = await a.request('POST', '/v1/access-keys', {
        body: { name: unique('mp aws'), type: 'api', role: 'service', team_ids: [], expires_at: null },
      });
      assert.equal(issued.status, 201, issued.text);
      const made = await a.request('POST', `/v1/access-keys/${issued.body.id}/aws-key-pair`, { key: owner });
      assert.equal(made.status, 201, made.text);
      const credentials = { accessKeyId: made.body.access_key_id as string, secretAccessKey: made.body.secret_access_key as string };
      const sdk = (s: TestServer) =>
        new SecretsManagerClient({ endpoint: `${s.url}/compat/aws-secretsmanager`, region: 'eu-west-1', credentials, maxAttempts: 1 });
      // Used on both, so both hold the pair in their (ten-minute) cache.
      for (let i = 0; i < 3; i++) for (const s of [a, b]) await sdk(s).send(new ListSecretsCommand({}));

      const r =
        change === 'revoked'
          ? await a.request('DELETE', `/v1/access-keys/${issued.body.id}`, { key: owner })
          : await a.request('POST', `/v1/access-keys/${issued.body.id}/aws-key-pair`, { key: owner });
      assert.ok(r.status === 204 || r.status === 201, r.text);
      const start = performance.now();
      let refusedAfter = -1;
      while (performance.now() - start < 5000) {
        try {
          await sdk(b).send(new ListSecretsCommand({}));
        } catch (err) {
          assert.equal((err as Error).name, 'UnrecognizedClientException', String(err));
          refusedAfter = performance.now() - start;
          break;
        }
        await sleep(50);
      }
      t.diagnostic(`${change} on A, refused by B after ${refusedAfter.toFixed(1)} ms`);
      assert.ok(refusedAfter >= 0, `B still accepted the pair 5 s after its key was ${change} on A`);
      assert.ok(refusedAfter < 1000, `B refused the pair only after ${refusedAfter.toFixed(0)} ms`);
      await assert.rejects(sdk(a).send(new ListSecretsCommand({})), { name: 'UnrecognizedClientException' });
    });
  }

  it('LISTEN sessions killed by the database come back by themselves, and a revocation sent meanwhile still holds', async (t) => {
    if (noPostgres(t)) return;
    const issued = await a.request('POST', '/v1/access-keys', {
      body: { name: unique('mp gap'), type: 'api', role: 'service', team_ids: [], expires_at: null },
    });
    const key = issued.body.key as string;
    for (const s of [a, b]) assert.equal((await s.request('GET', '/v1/credentials', { key })).status, 200);
    const liveBefore = [a, b].map((s) => (s.logs().match(/cache invalidation feed is live/g) ?? []).length);

    // What a failover or an administrator does to sessions: both processes lose their LISTEN.
    const killed = await db.query<{ ok: boolean }>(
      `SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE datname = $1 AND application_name = 'latchkey-listen'`,
      [db.name],
    );
    assert.equal(killed.length, 2);
    // Revoked while the feeds are down or reconnecting: the notification may reach nobody.
    assert.equal((await a.request('DELETE', `/v1/access-keys/${issued.body.id}`)).status, 204);
    const start = performance.now();
    let refusedAfter = -1;
    while (performance.now() - start < 5000) {
      if ((await b.request('GET', '/v1/credentials', { key })).status === 401) {
        refusedAfter = performance.now() - start;
        break;
      }
      await sleep(50);
    }
    t.diagnostic(`refused by B ${refusedAfter.toFixed(1)} ms after a revocation sent while the feeds were cut`);
    assert.ok(refusedAfter >= 0 && refusedAfter < 1000, `B refused the key only after ${refusedAfter.toFixed(0)} ms`);

    for (const [i, s] of [a, b].entries()) {
      const until = performance.now() + 5000;
      while ((s.logs().match(/cache invalidation feed is live/g) ?? []).length <= liveBefore[i]! && performance.now() < until) await sleep(50);
      assert.match(s.logs(), /cache invalidation feed is down/);
      assert.ok((s.logs().match(/cache invalidation feed is live/g) ?? []).length > liveBefore[i]!, 'the feed did not come back');
    }
    const listeners = await db.query<{ n: string }>(`SELECT count(*) AS n FROM pg_stat_activity WHERE datname = $1 AND application_name = 'latchkey-listen'`, [
      db.name,
    ]);
    assert.equal(Number(listeners[0]?.n), 2);
  });

  it('a key renamed on one process shows its new name in audit records written by the other', async (t) => {
    if (noPostgres(t)) return;
    const issued = await a.request('POST', '/v1/access-keys', {
      body: { name: unique('mp before'), type: 'api', role: 'service', team_ids: [], expires_at: null },
    });
    assert.equal(issued.status, 201, issued.text);
    const key = issued.body.key as string;
    const cred = await a.request('POST', '/v1/credentials', { body: smtpBody(unique('mp rename')) });
    assert.equal((await b.request('GET', `/v1/credentials/${cred.body.id}/secret`, { key })).status, 200);
    const newName = unique('mp after');
    const renamed = await a.request('PUT', `/v1/access-keys/${issued.body.id}`, { body: { name: newName } });
    assert.equal(renamed.status, 200, renamed.text);
    await sleep(300);
    assert.equal((await b.request('GET', `/v1/credentials/${cred.body.id}/secret`, { key })).status, 200);
    const rows = await db.query<{ actor: string }>(
      `SELECT actor FROM audit_events WHERE target_id = $1 AND action = 'credential.reveal' ORDER BY at DESC, id DESC LIMIT 1`,
      [cred.body.id],
    );
    assert.ok(rows[0], 'no reveal audit record');
    const actor = typeof rows[0].actor === 'string' ? JSON.parse(rows[0].actor) : rows[0].actor;
    assert.equal(actor.name, newName);
  });

  it('2×20 concurrent PATCHes with the same If-Match across both processes leave exactly one 200', async (t) => {
    if (noPostgres(t)) return;
    const made = await a.request('POST', '/v1/credentials', { body: smtpBody(unique('mp etag')) });
    assert.equal(made.status, 201, made.text);
    const id = made.body.id as string;
    const etag = made.headers.get('etag') as string;
    const patch = (s: TestServer, i: number) =>
      s.request('PATCH', `/v1/credentials/${id}`, { key: owner, body: { description: `w${i}` }, headers: { 'if-match': etag } });
    const all = await Promise.all(Array.from({ length: 40 }, (_, i) => patch(i % 2 === 0 ? a : b, i)));
    const winners = all.filter((r) => r.status === 200);
    assert.equal(winners.length, 1, `statuses: ${all.map((r) => r.status).join(',')}`);
    for (const r of all.filter((x) => x.status !== 200)) {
      assert.equal(r.status, 412, r.text);
      assert.equal(r.body.error.code, 'PRECONDITION_FAILED');
    }
    const winner = winners[0]!;
    for (const s of [a, b]) {
      const now = await s.request('GET', `/v1/credentials/${id}`, { key: owner });
      assert.equal(now.headers.get('etag'), winner.headers.get('etag'));
      assert.equal(now.body.description, winner.body.description);
    }
    const updates = await db.query<{ n: string }>(`SELECT count(*) AS n FROM audit_events WHERE target_id = $1 AND action = 'credential.update'`, [id]);
    assert.equal(Number(updates[0]?.n), 1, 'one winner, one audit record');
  });

  it('the same Idempotency-Key sent concurrently to both processes creates exactly one credential', async (t) => {
    if (noPostgres(t)) return;
    const name = unique('mp idem');
    const body = smtpBody(name);
    const headers = { 'idempotency-key': `mp-${randomBytes(8).toString('hex')}` };
    const all = await Promise.all(
      Array.from({ length: 16 }, (_, i) => (i % 2 === 0 ? a : b).request('POST', '/v1/credentials', { key: owner, body, headers })),
    );
    assert.deepEqual([...new Set(all.map((r) => r.status))], [201], all.map((r) => r.text).join('\n'));
    assert.equal(new Set(all.map((r) => r.body.id)).size, 1, 'every answer names the same credential');
    assert.equal(all.filter((r) => r.headers.get('idempotent-replayed') !== 'true').length, 1, 'one original answer, the rest replays');
    const rows = await db.query<{ n: string }>('SELECT count(*) AS n FROM credentials WHERE name = $1', [name]);
    assert.equal(Number(rows[0]?.n), 1);
    for (const s of [a, b]) {
      const list = await s.request('GET', `/v1/credentials?filter[name]=${encodeURIComponent(name)}`, { key: owner });
      assert.equal(list.body.total, 1);
    }
  });

  it('a console session made on A works on B, ends on B when its key is revoked on A, and a logout on B ends it on A', async (t) => {
    if (noPostgres(t)) return;
    const signIn = async (key: string) => {
      const r = await fetch(`${a.url}/ui/session`, {
        method: 'POST',
        headers: { origin: a.url, 'content-type': 'application/json' },
        body: JSON.stringify({ key }),
      });
      const text = await r.text();
      assert.equal(r.status, 201, text);
      const cookie = (r.headers.get('set-cookie') ?? '').split(';')[0]!;
      return { cookie, csrf: JSON.parse(text).csrf_token as string };
    };
    const viaSession = (s: TestServer, method: string, path: string, session: { cookie: string; csrf: string }) =>
      fetch(`${s.url}${path}`, { method, headers: { cookie: session.cookie, 'x-csrf-token': session.csrf } });
    const issued = await a.request('POST', '/v1/access-keys', {
      body: { name: unique('mp console'), type: 'api', role: 'admin', team_ids: [], expires_at: null },
      key: owner,
    });
    assert.equal(issued.status, 201, issued.text);
    const session = await signIn(issued.body.key);
    assert.equal((await viaSession(b, 'GET', '/v1/credentials', session)).status, 200, 'B finds the session A made');
    assert.equal((await b.request('DELETE', `/v1/access-keys/${issued.body.id}`, { key: owner })).status, 204);
    let status = 200;
    for (let i = 0; i < 100 && status === 200; i++) {
      status = (await viaSession(a, 'GET', '/v1/credentials', session)).status;
      if (status === 200) await sleep(50);
    }
    assert.equal(status, 401, 'A ended the session of the key revoked on B');
    assert.equal((await viaSession(b, 'GET', '/v1/credentials', session)).status, 401);
    assert.equal((await db.query('SELECT 1 FROM console_sessions')).length, 0, 'the ended session is gone from the store');

    const second = await signIn(owner);
    assert.equal((await viaSession(a, 'GET', '/v1/credentials', second)).status, 200);
    assert.equal((await viaSession(b, 'DELETE', '/ui/session', second)).status, 204);
    assert.equal((await viaSession(a, 'GET', '/v1/credentials', second)).status, 401, 'signed out on B, over on A');
  });
});
