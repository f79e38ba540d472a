import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, smtpBody, startServer, type TestServer } from '../support/server.ts';
import { TEST_STORE } from '../support/store.ts';

// The streaming sink is fed from a durable cursor in the database: kill the server with SIGKILL
// while events are being written and streamed, start it again on the same data, and every event
// the store holds must arrive at least once (duplicates allowed, gaps not).

const MARK = 'SINKSECRET-';
const cleanup: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const c of cleanup.reverse()) await c().catch(() => undefined);
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor<T>(what: string, fn: () => Promise<T | undefined | null | false> | T | undefined | null | false, ms: number): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

interface Delivered {
  id: string;
  tenant_id: string;
  seq: number;
  hash: string;
}

/** Keeps writing events (creates, reveals) through the API until told to stop. */
function writeLoad(server: TestServer, key: string): { stop(): Promise<number> } {
  let stopped = false;
  let written = 0;
  const worker = async () => {
    while (!stopped) {
      try {
        const c = await server.request('POST', '/v1/credentials', {
          key,
          body: smtpBody(`sink ${randomBytes(6).toString('hex')}`, MARK + randomBytes(6).toString('hex')),
        });
        if (c.status === 201) {
          written++;
          await server.request('GET', `/v1/credentials/${c.body.id}/secret`, { key });
        }
      } catch {
        await sleep(20); // the server is gone (killed): keep trying until told to stop
      }
    }
  };
  const workers = [worker(), worker(), worker(), worker()];
  return {
    async stop() {
      stopped = true;
      await Promise.all(workers);
      return written;
    },
  };
}

/** Ids of every sealed event in the store, and how many are not sealed yet. */
async function storedEvents(server: TestServer): Promise<{ ids: Set<string>; unsealed: number }> {
  const conn = await server.sql();
  try {
    const agg = TEST_STORE === 'sqlite' ? `group_concat(id, ',')` : `string_agg(id, ',')`;
    const sealed = await conn.get<{ ids: string | null }>(`SELECT ${agg} AS ids FROM audit_events WHERE seq IS NOT NULL`);
    const unsealed = await conn.get<{ n: number | string }>('SELECT COUNT(*) AS n FROM audit_events WHERE seq IS NULL');
    return { ids: new Set((sealed?.ids ?? '').split(',').filter(Boolean)), unsealed: Number(unsealed?.n ?? 0) };
  } finally {
    await conn.close();
  }
}

/**
 * The scenario both sinks go through. `delivered()` reads what the receiving side has so far.
 * Returns what was delivered when the process was killed, for the "mid-stream" check.
 */
async function killMidStream(sink: string, delivered: () => Delivered[], extraEnv: Record<string, string> = {}): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'latchkey-sink-'));
  const env = { LATCHKEY_AUDIT_SINK: sink, LATCHKEY_AUDIT_SEAL_INTERVAL_MS: '20', LATCHKEY_LOG_LEVEL: 'info', ...extraEnv };
  const first = await startServer({ dataDir, env });
  cleanup.push(() => first.stop());
  const key = first.ownerKey;

  let load = writeLoad(first, key);
  await waitFor('the stream to start', () => delivered().length >= 60, 20_000);
  const atKill = new Set(delivered().map((e) => e.id));
  first.proc.kill('SIGKILL');
  await once(first.proc, 'exit');
  const beforeKill = await load.stop();
  assert.ok(beforeKill > 0);

  const second = await startServer({ dataDir, env: { ...first.env } });
  cleanup.push(() => second.stop());
  load = writeLoad(second, key);
  await sleep(800);
  assert.ok((await load.stop()) > 0, 'the restarted server wrote nothing');

  // Everything the store holds must arrive: the events before the kill that were not yet
  // acknowledged, and the ones written after the restart.
  const stored = await waitFor(
    'every event to be sealed',
    async () => {
      const s = await storedEvents(first);
      return s.unsealed === 0 ? s : null;
    },
    20_000,
  );
  await waitFor(
    'every stored event to be delivered',
    () => {
      const got = new Set(delivered().map((e) => e.id));
      return [...stored.ids].every((id) => got.has(id));
    },
    40_000,
  );
  const got = delivered();
  assert.ok(atKill.size > 0 && atKill.size < stored.ids.size, `not mid-stream: ${atKill.size} of ${stored.ids.size} delivered at the kill`);
  assert.ok(
    [...stored.ids].some((id) => !atKill.has(id)),
    'nothing was delivered after the restart',
  );

  // No gaps per chain: seqs 1..n each arrived (the restart may have sent some twice).
  const byTenant = new Map<string, Set<number>>();
  for (const e of got) {
    if (!byTenant.has(e.tenant_id)) byTenant.set(e.tenant_id, new Set());
    byTenant.get(e.tenant_id)!.add(e.seq);
  }
  for (const [tenant, seqs] of byTenant) {
    const max = Math.max(...seqs);
    for (let q = 1; q <= max; q++) assert.ok(seqs.has(q), `chain ${tenant || '(platform)'} is missing seq ${q}`);
  }
  // Duplicates carry the same content.
  const seen = new Map<string, string>();
  for (const e of got) {
    const prev = seen.get(e.id);
    if (prev !== undefined) assert.equal(prev, e.hash);
    seen.set(e.id, e.hash);
  }
  // Nothing in the stream is a secret.
  assert.equal(JSON.stringify(got).includes(MARK), false);
  // And the chain the sink carried still verifies on the server.
  const v = await second.request('GET', '/v1/audit-events/verify', { key });
  assert.equal(v.body.ok, true, v.text);
}

describe('audit sink: delivered at least once from a durable cursor', () => {
  it('file sink: every event reaches the file across a SIGKILL mid-stream', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'latchkey-sink-file-')), 'audit.jsonl');
    const delivered = (): Delivered[] => {
      if (!existsSync(file)) return [];
      const out: Delivered[] = [];
      for (const line of readFileSync(file, 'utf8').split('\n')) {
        if (line === '') continue;
        try {
          out.push(JSON.parse(line) as Delivered);
        } catch {
          // a line cut short by the kill; the event is sent again after the restart
        }
      }
      return out;
    };
    await killMidStream(`file:${file}`, delivered);
  });

  it('webhook sink: every event is acknowledged across a SIGKILL, through failures and retries, signed', async () => {
    const secret = randomBytes(16).toString('hex');
    const received: Delivered[] = [];
    let requests = 0;
    let refused = 0;
    let badSignatures = 0;
    const server: Server = createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (c: string) => (body += c));
      req.on('end', () => {
        requests++;
        const sig = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(String(req.headers['x-latchkey-signature'] ?? ''));
        if (!sig || createHmac('sha256', secret).update(`${sig[1]}.${body}`).digest('hex') !== sig[2]) badSignatures++;
        // Every fourth delivery fails: the sink must retry it rather than move on.
        if (requests % 4 === 0) {
          refused++;
          res.statusCode = 503;
          res.end();
          return;
        }
        setTimeout(() => {
          for (const line of body.split('\n')) if (line !== '') received.push(JSON.parse(line) as Delivered);
          res.end('ok');
        }, 15);
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    cleanup.push(() => new Promise((r) => server.close(r)));
    const { port } = server.address() as AddressInfo;
    await killMidStream(`http://127.0.0.1:${port}/audit`, () => received, { LATCHKEY_AUDIT_SINK_SECRET: secret });
    assert.ok(refused > 0, 'the receiver never refused a delivery');
    assert.equal(badSignatures, 0);
  });

  it('refuses a sink that would send the stream in clear over a network, with a plain message', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'latchkey-sink-cfg-'));
    const r = await runCli(['migrate'], { LATCHKEY_DATA_DIR: dataDir, LATCHKEY_AUDIT_SINK: 'http://collector.example.com/audit' });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /LATCHKEY_AUDIT_SINK must use https:\/\//);
    const bad = await runCli(['migrate'], { LATCHKEY_DATA_DIR: dataDir, LATCHKEY_AUDIT_SINK: 'ftp://x' });
    assert.equal(bad.code, 1);
  });
});
