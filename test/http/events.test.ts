import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { Latchkey, type LatchkeyEvent } from '../../sdk/src/index.ts';
import { assertNoSecret, canary } from '../support/canary.ts';
import { ok, startServer, type TestServer } from '../support/server.ts';

// The event feed through its public surface: GET /v1/events, the SSE stream read by a plain
// `fetch` client, the CLI's `events tail` (the built binary) and the SDK's iterator, against a
// real server process. Every byte any of them received is searched for the canary secrets.

const BIN = resolve(import.meta.dirname, '../../bin/latchkey.js');
let s: TestServer;
const secrets: string[] = [];
/** Everything a consumer of the feed was handed, for the canary search at the end. */
const received: Record<string, string> = {};

const secret = (): string => {
  const v = canary('feed');
  secrets.push(v);
  return v;
};
const apiKeyBody = (name: string) => ({ name, type: 'text', config: {}, secret: { value: secret() } });

async function createCredential(name: string, key = s.ownerKey, extra: Record<string, unknown> = {}): Promise<{ id: string; version: number }> {
  return ok(s.request('POST', '/v1/credentials', { key, body: { ...apiKeyBody(name), ...extra } }));
}

/** Reads GET /v1/events from `after` to the head, following next_cursor. */
async function readFeed(query: string, key = s.ownerKey, from = '0'): Promise<{ events: LatchkeyEvent[]; cursor: string; pages: number }> {
  const events: LatchkeyEvent[] = [];
  let cursor = from;
  let pages = 0;
  for (;;) {
    const r = await s.request('GET', `/v1/events?after=${cursor}&${query}`, { key });
    assert.equal(r.status, 200, r.text);
    received[`GET /v1/events page ${Object.keys(received).length}`] = r.text;
    events.push(...r.body.data);
    cursor = r.body.next_cursor;
    pages += 1;
    if (!r.body.has_more) return { events, cursor, pages };
  }
}

/** Polls the feed until `done` holds (sealing runs every 200 ms): no fixed sleeps. */
async function until<T>(read: () => Promise<T>, done: (v: T) => boolean, what: string): Promise<T> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const v = await read();
    if (done(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const headPosition = async (): Promise<string> => (await readFeed('per_page=100')).cursor;

interface Frame {
  id?: string;
  event?: string;
  data?: string;
  comment?: string;
}

/** A plain SSE client on fetch: the raw frames as the server wrote them. */
async function openStream(query: string, headers: Record<string, string> = {}, key = s.ownerKey) {
  const controller = new AbortController();
  const res = await fetch(`${s.url}/v1/events/stream${query}`, { headers: { authorization: `Bearer ${key}`, ...headers }, signal: controller.signal });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let raw = '';
  const frames: Frame[] = [];
  let consumed = 0;
  const pump = (async () => {
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        raw += decoder.decode(value, { stream: true });
        let end: number;
        while ((end = raw.indexOf('\n\n', consumed)) >= 0) {
          const f: Frame = {};
          for (const line of raw.slice(consumed, end).split('\n')) {
            if (line.startsWith(':')) f.comment = line.slice(1).trim();
            else {
              const [field, ...rest] = line.split(': ');
              (f as Record<string, string>)[field!] = rest.join(': ');
            }
          }
          frames.push(f);
          consumed = end + 2;
        }
      }
    } catch {
      // aborted
    }
  })();
  return {
    frames,
    events: () => frames.filter((f) => f.data !== undefined).map((f) => ({ id: f.id!, event: f.event!, body: JSON.parse(f.data!) as LatchkeyEvent })),
    async waitFor(pred: (fs: Frame[]) => boolean, what: string) {
      await until(
        async () => frames,
        (fs) => pred(fs),
        what,
      );
    },
    async close(label: string) {
      controller.abort();
      await pump;
      received[label] = raw;
    },
  };
}

before(async () => {
  s = await startServer({ env: { LATCHKEY_EVENTS_HEARTBEAT_MS: '300' } });
});

after(async () => {
  assertNoSecret(received, secrets);
  assertNoSecret({ 'server log': s.logs() }, secrets);
  await s.stop();
});

describe('GET /v1/events', () => {
  it('lists events in chain order, pages with next_cursor, and filters by type, credential and since', async () => {
    const start = await headPosition();
    const a = await createCredential('feed a');
    const b = await createCredential('feed b');
    await ok(s.request('GET', `/v1/credentials/${a.id}/secret`), 200); // a reveal: audited, not an event
    await ok(s.request('POST', `/v1/credentials/${a.id}/rotate`, { body: { secret: { value: secret() } } }), 200);
    const midway = new Date().toISOString();
    const c = await createCredential('feed c');
    await ok(s.request('DELETE', `/v1/credentials/${b.id}`), 204);

    const all = await until(
      () => readFeed('per_page=2', s.ownerKey, start),
      (r) => r.events.length >= 5,
      'five events',
    );
    // Paging from our start, two per page: every event once, in chain order.
    const mine = (await readFeed('per_page=2')).events.filter((e) => [a.id, b.id, c.id].includes(e.data.object_id ?? ''));
    assert.deepEqual(
      mine.map((e) => [e.type, e.data.object_id]),
      [
        ['credential.created', a.id],
        ['credential.created', b.id],
        ['credential.rotated', a.id],
        ['credential.created', c.id],
        ['credential.deleted', b.id],
      ],
    );
    const seqs = mine.map((e) => e.data.seq as number);
    assert.deepEqual(
      seqs,
      [...seqs].sort((x, y) => x - y),
    );
    assert.equal(new Set(mine.map((e) => e.id)).size, mine.length);
    assert.ok(all.pages >= 3, 'two per page takes several pages');
    assert.equal(
      mine.some((e) => (e.type as string) === 'credential.reveal'),
      false,
    );
    assert.deepEqual({ type: mine[2]!.data.type, team_id: mine[2]!.data.team_id, version: mine[2]!.data.version }, { type: 'text', team_id: null, version: 2 });

    // Caught up: the cursor stays, and asking again from it gives nothing new.
    const again = await s.request('GET', `/v1/events?after=${all.cursor}`);
    assert.deepEqual([again.body.data, again.body.has_more, again.body.next_cursor], [[], false, all.cursor]);

    const created = await readFeed('filter[type]=credential.created', s.ownerKey, start);
    assert.deepEqual(
      created.events.map((e) => e.data.object_id),
      [a.id, b.id, c.id],
    );
    const two = await readFeed('filter[type]=credential.rotated&filter[type]=credential.deleted', s.ownerKey, start);
    assert.deepEqual(
      two.events.map((e) => e.type),
      ['credential.rotated', 'credential.deleted'],
    );
    const ofA = await readFeed(`filter[credential_id]=${a.id}`, s.ownerKey, start);
    assert.deepEqual(
      ofA.events.map((e) => e.type),
      ['credential.created', 'credential.rotated'],
    );
    const since = await readFeed(`filter[since]=${encodeURIComponent(midway)}`);
    assert.deepEqual(
      since.events.filter((e) => [a.id, b.id, c.id].includes(e.data.object_id ?? '')).map((e) => [e.type, e.data.object_id]),
      [
        ['credential.created', c.id],
        ['credential.deleted', b.id],
      ],
    );
    assert.equal((await s.request('GET', '/v1/events?filter[type]=credential.revealed')).status, 400);
    assert.equal((await s.request('GET', '/v1/events?after=-1')).status, 400);
  });

  it('needs audit:read: a team-scoped member is refused; another tenant sees none of these events', async () => {
    const team = await ok(s.request('POST', '/v1/teams', { body: { name: `feed team ${Date.now()}` } }));
    const member = await ok(s.request('POST', '/v1/access-keys', { body: { name: 'feed member', type: 'api', role: 'member', team_ids: [team.id] } }));
    const own = await createCredential('feed member own', member.key, { team_id: team.id });
    assert.equal((await s.request('GET', '/v1/events', { key: member.key })).status, 403);
    assert.equal((await s.request('GET', `/v1/events?filter[credential_id]=${own.id}`, { key: member.key })).status, 403);
    assert.equal((await s.request('GET', '/v1/events/stream', { key: member.key })).status, 403);

    const other = (await ok(s.request('POST', '/v1/tenants', { body: { name: `feed other ${Date.now()}` } }))).owner_access_key.key as string;
    await until(
      () => readFeed(`filter[credential_id]=${own.id}`),
      (r) => r.events.length === 1,
      'the team credential event',
    );
    const theirs = await readFeed('per_page=100', other);
    const ours = new Set((await readFeed('per_page=100')).events.map((e) => e.id));
    assert.equal(
      theirs.events.some((e) => ours.has(e.id)),
      false,
    );
    assert.deepEqual((await readFeed(`filter[credential_id]=${own.id}`, other)).events, []);
    const theirStream = await openStream(`?after=0&filter[credential_id]=${own.id}`, {}, other);
    await theirStream.waitFor((fs) => fs.some((f) => f.comment === 'heartbeat'), 'a heartbeat');
    assert.deepEqual(theirStream.events(), []);
    await theirStream.close('other tenant stream');
  });
});

describe('GET /v1/events/stream', () => {
  it('sends events as they are sealed and resumes after Last-Event-ID without gaps or duplicates', async () => {
    const live = await openStream('?filter[type]=credential.created');
    await live.waitFor((fs) => fs.some((f) => f.comment === 'connected'), 'the stream to open');
    const first = await createCredential('stream one');
    await live.waitFor((fs) => fs.some((f) => f.data?.includes(first.id)), 'the first event');
    await live.waitFor((fs) => fs.some((f) => f.comment === 'heartbeat'), 'a heartbeat');
    const seen = live.events();
    assert.equal(seen.length, 1, 'the stream starts at now');
    assert.deepEqual([seen[0]!.event, seen[0]!.body.type, seen[0]!.body.data.object_id], ['credential.created', 'credential.created', first.id]);
    assert.equal(seen[0]!.id, String(seen[0]!.body.data.seq));
    await live.close('live stream');

    // While nobody listens: two more, and a rotation the filter leaves out.
    const second = await createCredential('stream two');
    await ok(s.request('POST', `/v1/credentials/${second.id}/rotate`, { body: { secret: { value: secret() } } }), 200);
    const third = await createCredential('stream three');
    const resumed = await openStream('?filter[type]=credential.created', { 'last-event-id': seen[0]!.id });
    await resumed.waitFor((fs) => fs.some((f) => f.data?.includes(third.id)), 'the missed events');
    const fourth = await createCredential('stream four');
    await resumed.waitFor((fs) => fs.some((f) => f.data?.includes(fourth.id)), 'a live event after resuming');
    assert.deepEqual(
      resumed.events().map((e) => e.body.data.object_id),
      [second.id, third.id, fourth.id],
    );
    await resumed.close('resumed stream');
    // `?after=` is the same position.
    const byQuery = await openStream(`?after=${seen[0]!.id}&filter[credential_id]=${second.id}`);
    await byQuery.waitFor((fs) => fs.filter((f) => f.data).length >= 2, 'the second credential events');
    assert.deepEqual(
      byQuery.events().map((e) => e.event),
      ['credential.created', 'credential.rotated'],
    );
    await byQuery.close('stream by query');
    assert.equal((await s.request('GET', '/v1/events/stream', { headers: { 'last-event-id': 'x1' } })).status, 400);
  });
});

describe('latchkey events tail', () => {
  it('prints one line per event as it happens, and JSON lines with --json', async () => {
    const from = await headPosition();
    const env = { PATH: process.env.PATH ?? '', HOME: '/nonexistent', LATCHKEY_URL: s.url, LATCHKEY_TOKEN: s.ownerKey };
    const tail = (args: string[]) => {
      const proc = spawn(process.execPath, [BIN, 'events', 'tail', '--after', from, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      proc.stdout.on('data', (c: Buffer) => (out += c.toString()));
      proc.stderr.on('data', (c: Buffer) => (err += c.toString()));
      const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
      return { proc, out: () => out, err: () => err, exited };
    };
    const lines = tail(['--type', 'credential.created', '--type', 'credential.rotated']);
    const json = tail(['--json', '--credential', 'crd_none_yet']);
    const c = await createCredential('tailed');
    await ok(s.request('POST', `/v1/credentials/${c.id}/rotate`, { body: { secret: { value: secret() } } }), 200);
    await until(
      async () => lines.out(),
      (o) => o.includes('credential.rotated'),
      'the tail to print both events',
    );
    lines.proc.kill('SIGTERM');
    assert.equal(await lines.exited, 0, lines.err());
    const printed = lines
      .out()
      .trim()
      .split('\n')
      .filter((l) => l.includes(c.id));
    assert.equal(printed.length, 2);
    assert.match(printed[0]!, /credential\.created {2}credential:crd_\S+ {2}by owner \(key_\S+\) {2}type=text {2}team_id=null {2}version=1 {2}#\d+$/);
    assert.match(printed[1]!, /credential\.rotated .*version=2/);
    json.proc.kill('SIGTERM');
    assert.equal(await json.exited, 0, json.err());
    assert.equal(json.out(), '', 'no event is about that credential');

    const jsonTail = tail(['--json', '--credential', c.id]);
    await until(
      async () => jsonTail.out(),
      (o) => o.trim().split('\n').length >= 2,
      'two JSON lines',
    );
    jsonTail.proc.kill('SIGTERM');
    await jsonTail.exited;
    const parsed = jsonTail
      .out()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as LatchkeyEvent);
    assert.deepEqual(
      parsed.map((e) => e.type),
      ['credential.created', 'credential.rotated'],
    );
    received['cli tail'] = lines.out() + jsonTail.out() + lines.err() + jsonTail.err();
  });
});

describe('SDK: lk.events', () => {
  it('stream() yields events as they happen and listPage() pages the same feed', async () => {
    const lk = new Latchkey({ baseUrl: s.url, apiKey: s.ownerKey });
    const from = (await lk.events.listPage({ after: await headPosition() })).next_cursor;
    const controller = new AbortController();
    const got: LatchkeyEvent[] = [];
    const consuming = (async () => {
      for await (const e of lk.events.stream({ after: from, filter: { type: ['credential.created', 'credential.deleted'] }, signal: controller.signal })) {
        got.push(e);
        if (got.length === 2) break;
      }
    })();
    const c = await createCredential('sdk streamed');
    await ok(s.request('DELETE', `/v1/credentials/${c.id}`), 204);
    await consuming;
    controller.abort();
    assert.deepEqual(
      got.map((e) => [e.type, e.data.object_id]),
      [
        ['credential.created', c.id],
        ['credential.deleted', c.id],
      ],
    );
    const page = await lk.events.listPage({ after: from, filter: { credential_id: c.id } });
    assert.deepEqual(
      page.data.map((e) => e.id),
      got.map((e) => e.id),
    );
    received['sdk stream'] = JSON.stringify(got) + JSON.stringify(page);
  });
});
