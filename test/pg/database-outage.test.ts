import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { smtpBody, startServer, type TestServer } from '../support/server.ts';
import { adminUrl, postgresGate, scratchDatabase } from '../support/postgres-gate.ts';

/*
 * Losing the database under load. Latchkey talks to PostgreSQL through a TCP relay this test
 * controls, so the database can be taken away mid-traffic without touching the server:
 *  - cut: every connection is destroyed and new ones are refused (a crash, a failover);
 *  - stall: connections stay open but nothing gets through (a black-holed network path), the
 *    case only timeouts can end.
 * What must hold: every answer is a success or 503 UNAVAILABLE, none takes more than a few
 * seconds, /readyz is 503 meanwhile, no acknowledged write is lost, and service comes back by
 * itself — the same process, no restart.
 *
 * A failover or restart looks different from the server's side: PostgreSQL itself ends every
 * session (pg_terminate_backend, SQLSTATE 57P01), pooled or checked out, idle or mid-statement,
 * the LISTEN session included. An 'error' event nobody listens to at that moment ends the process.
 *
 * Needs PostgreSQL: without LATCHKEY_TEST_STORE=postgres and a reachable
 * LATCHKEY_TEST_DATABASE_URL every test says SKIPPED, loudly, and passes nothing.
 */

const { problem, noPostgres } = await postgresGate('database outage tests');

/** A TCP relay between Latchkey and PostgreSQL that the test can cut or stall. */
class Relay {
  private server: net.Server | null = null;
  private readonly pairs = new Set<[net.Socket, net.Socket]>();
  private mode: 'open' | 'cut' | 'stall' = 'open';
  port = 0;

  constructor(private readonly target: { host: string; port: number }) {}

  async listen(): Promise<void> {
    const server = net.createServer((inbound) => {
      if (this.mode === 'stall') {
        // Accepted, then silence: the client's connect timeout has to end it.
        inbound.on('error', () => {});
        this.pairs.add([inbound, inbound]);
        return;
      }
      const outbound = net.connect(this.target);
      const pair: [net.Socket, net.Socket] = [inbound, outbound];
      this.pairs.add(pair);
      const close = () => {
        inbound.destroy();
        outbound.destroy();
        this.pairs.delete(pair);
      };
      inbound.on('error', close).on('close', close);
      outbound.on('error', close).on('close', close);
      inbound.pipe(outbound);
      outbound.pipe(inbound);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as net.AddressInfo).port;
    this.server = server;
  }

  /** The database is gone: every connection dies and new ones are refused. */
  async cut(): Promise<void> {
    this.mode = 'cut';
    this.server?.close();
    this.server = null;
    this.destroyAll();
  }

  /** The path is black-holed: connections stay up but nothing crosses either way. */
  stall(): void {
    this.mode = 'stall';
    for (const [inbound, outbound] of this.pairs) {
      inbound.unpipe(outbound);
      outbound.unpipe(inbound);
      inbound.pause();
      outbound.pause();
    }
  }

  /** Back to normal on the same port; stalled connections are dropped, as a real path would. */
  async restore(): Promise<void> {
    this.destroyAll();
    this.mode = 'open';
    if (!this.server) await this.listen();
  }

  async close(): Promise<void> {
    this.server?.close();
    this.server = null;
    this.destroyAll();
  }

  private destroyAll(): void {
    for (const [inbound, outbound] of this.pairs) {
      inbound.destroy();
      outbound.destroy();
    }
    this.pairs.clear();
  }
}

interface Outcome {
  kind: 'create' | 'read';
  status: number;
  code?: string;
  ms: number;
  endedAt: number;
  id?: string;
}

/** Time the test allows any request; the server's own bound is about 2–3 s. */
const REQUEST_BOUND_MS = 5000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Creates and reads from `workers` concurrent loops until stopped. A request that does not
 * answer within twice the bound is aborted and recorded as status 0 (a hang).
 */
function startTraffic(s: TestServer, workers: number) {
  const outcomes: Outcome[] = [];
  const acknowledged = new Map<string, string>(); // id → name of every 201
  let running = true;
  let n = 0;
  const one = async (): Promise<void> => {
    const ids = [...acknowledged.keys()];
    const read = ids.length > 0 && Math.random() < 0.5;
    const started = performance.now();
    let status = 0;
    let body: any;
    let name = '';
    try {
      let res: Response;
      if (read) {
        res = await fetch(`${s.url}/v1/credentials/${ids[Math.floor(Math.random() * ids.length)]}`, {
          headers: { authorization: `Bearer ${s.ownerKey}` },
          signal: AbortSignal.timeout(REQUEST_BOUND_MS * 2),
        });
      } else {
        name = `outage ${process.pid} ${n++} ${randomBytes(3).toString('hex')}`;
        res = await fetch(`${s.url}/v1/credentials`, {
          method: 'POST',
          headers: { authorization: `Bearer ${s.ownerKey}`, 'content-type': 'application/json' },
          body: JSON.stringify(smtpBody(name)),
          signal: AbortSignal.timeout(REQUEST_BOUND_MS * 2),
        });
      }
      status = res.status;
      const text = await res.text();
      body = text ? JSON.parse(text) : undefined;
    } catch {
      status = 0;
    }
    const endedAt = performance.now();
    const o: Outcome = { kind: read ? 'read' : 'create', status, ms: endedAt - started, endedAt, code: body?.error?.code, id: body?.id };
    outcomes.push(o);
    if (!read && status === 201) acknowledged.set(body.id, name);
  };
  const loops = Array.from({ length: workers }, async () => {
    while (running) {
      await one();
      await sleep(20);
    }
  });
  return {
    outcomes,
    acknowledged,
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
}

async function readyz(s: TestServer): Promise<{ status: number; ms: number }> {
  const started = performance.now();
  try {
    const r = await fetch(`${s.url}/readyz`, { signal: AbortSignal.timeout(REQUEST_BOUND_MS) });
    await r.text();
    return { status: r.status, ms: performance.now() - started };
  } catch {
    return { status: 0, ms: performance.now() - started };
  }
}

/** Waits (up to 30 s) until the traffic has had a successful create. */
async function untilSomeSucceed(outcomes: Outcome[]): Promise<void> {
  const started = performance.now();
  while (!outcomes.some((o) => o.status === 201) && performance.now() - started < 30_000) await sleep(50);
}

/** Polls until a create succeeds; returns how long that took. */
async function waitForService(s: TestServer, limitMs: number): Promise<number> {
  const started = performance.now();
  while (performance.now() - started < limitMs) {
    const r = await s.request('POST', '/v1/credentials', { body: smtpBody(`recovery ${randomBytes(4).toString('hex')}`) }).catch(() => null);
    if (r?.status === 201) return performance.now() - started;
    await sleep(100);
  }
  return -1;
}

function summary(outcomes: Outcome[]): string {
  const by = new Map<string, number>();
  for (const o of outcomes) by.set(`${o.kind} ${o.status}`, (by.get(`${o.kind} ${o.status}`) ?? 0) + 1);
  const max = Math.max(0, ...outcomes.map((o) => o.ms));
  return `${[...by].map(([k, v]) => `${k}: ${v}`).join(', ')}; slowest ${max.toFixed(0)} ms`;
}

/** The invariants that hold for every answer, outage or not. */
function assertOnlySuccessOr503(outcomes: Outcome[]): void {
  for (const o of outcomes) {
    assert.ok(o.status !== 0, `a ${o.kind} got no answer within ${REQUEST_BOUND_MS * 2} ms (a hang)${exitNote()}`);
    assert.ok([200, 201, 503].includes(o.status), `a ${o.kind} answered ${o.status} ${o.code ?? ''}`);
    if (o.status === 503) assert.equal(o.code, 'UNAVAILABLE', `a 503 ${o.kind} carried ${o.code}`);
    // Failing fast is the server's doing; how long a success takes on a loaded machine is not
    // (a fresh process's first creates took 5.9 s at a load average of 27). Hangs are status 0.
    if (o.status === 503) assert.ok(o.ms <= REQUEST_BOUND_MS, `a ${o.kind} took ${o.ms.toFixed(0)} ms to answer 503`);
  }
}

const db = scratchDatabase('lk_outage');
let relay: Relay;
let s: TestServer;
/** Set if the server process ends before the suite stops it: every later failure is explained by it. */
let serverExit: string | null = null;
const exitNote = (): string => (serverExit ? ` — ${serverExit}` : '');

/** Every acknowledged create is there, whole, after recovery: through the API and in the tables. */
async function assertNoLostWrite(acknowledged: Map<string, string>): Promise<void> {
  const ids = [...acknowledged.keys()];
  for (let i = 0; i < ids.length; i += 25) {
    const batch = ids.slice(i, i + 25);
    const got = await Promise.all(batch.map((id) => s.request('GET', `/v1/credentials/${id}`)));
    got.forEach((r, j) => {
      assert.equal(r.status, 200, `acknowledged credential ${batch[j]} is gone: ${r.text}`);
      assert.equal(r.body.name, acknowledged.get(batch[j]!));
    });
  }
  // A sample is revealed too: the secret version row and the data key made it.
  for (const id of ids.filter((_, i) => i % 10 === 0)) {
    const r = await s.request('GET', `/v1/credentials/${id}/secret`);
    assert.equal(r.status, 200, r.text);
    assert.equal(typeof r.body.secret.password, 'string');
  }
  // No partial write anywhere (acknowledged or not): no credential without its version or its audit record.
  const orphans = await db.query<{ n: string }>(`
    SELECT count(*) AS n FROM credentials c
     WHERE NOT EXISTS (SELECT 1 FROM credential_versions v WHERE v.tenant_id = c.tenant_id AND v.credential_id = c.id)
        OR NOT EXISTS (SELECT 1 FROM audit_events a WHERE a.tenant_id = c.tenant_id AND a.target_id = c.id AND a.action = 'credential.create')`);
  assert.equal(Number(orphans[0]?.n), 0, 'a credential was written without its version or its audit record');
}

before(async () => {
  if (problem !== null) return;
  await db.create();
  const pgUrl = new URL(adminUrl as string);
  relay = new Relay({ host: pgUrl.hostname, port: Number(pgUrl.port || 5432) });
  await relay.listen();
  const viaRelay = new URL(adminUrl as string);
  viaRelay.hostname = '127.0.0.1';
  viaRelay.port = String(relay.port);
  viaRelay.pathname = `/${db.name}`;
  s = await startServer({ env: { LATCHKEY_DATABASE_URL: viaRelay.toString(), LATCHKEY_LOG_LEVEL: 'info' } });
  s.proc.on('exit', (code, signal) => {
    serverExit = `Latchkey exited (code ${code}, signal ${signal})`;
  });
});

after(async () => {
  if (problem !== null) return;
  await s?.stop();
  await relay?.close();
  await db.drop();
});

describe('losing the database mid-traffic', () => {
  it('a cut connection: only successes or fast 503s, /readyz red, no lost write, recovery without a restart', async (t) => {
    if (noPostgres(t)) return;
    const pid = s.proc.pid;
    assert.equal((await readyz(s)).status, 200);
    const traffic = startTraffic(s, 6);
    // Until traffic is flowing: on a loaded machine a fresh process's first creates take seconds.
    await untilSomeSucceed(traffic.outcomes);
    await sleep(1000);

    await relay.cut();
    const cutAt = performance.now();
    await sleep(100);
    const duringCut: Array<{ status: number; ms: number }> = [];
    while (performance.now() - cutAt < 3000) {
      duringCut.push(await readyz(s));
      await sleep(150);
    }
    await relay.restore();
    const restoredAt = performance.now();

    const recoveredAfter = await waitForService(s, 15_000);
    await sleep(1500);
    await traffic.stop();
    t.diagnostic(`traffic: ${summary(traffic.outcomes)}`);
    t.diagnostic(`/readyz during the cut: ${duringCut.map((r) => `${r.status} in ${r.ms.toFixed(0)} ms`).join(', ')}`);
    t.diagnostic(`service back ${recoveredAfter.toFixed(0)} ms after the relay was restored; ${traffic.acknowledged.size} creates acknowledged`);

    assertOnlySuccessOr503(traffic.outcomes);
    const cutWindow = traffic.outcomes.filter((o) => o.endedAt > cutAt + 200 && o.endedAt < restoredAt);
    assert.ok(cutWindow.length > 0, 'no traffic ran during the cut');
    assert.ok(
      cutWindow.every((o) => o.status === 503),
      `during the cut: ${summary(cutWindow)}`,
    );
    assert.ok(
      traffic.outcomes.some((o) => o.endedAt < cutAt && o.status === 201),
      'nothing succeeded before the cut',
    );
    assert.ok(
      traffic.outcomes.some((o) => o.endedAt > restoredAt && o.status === 201),
      `nothing succeeded after the restore${exitNote()}`,
    );

    assert.ok(duringCut.length > 0 && duringCut.every((r) => r.status === 503), '/readyz must be 503 while the database is gone');
    assert.ok(
      duringCut.every((r) => r.ms < 1500),
      '/readyz must answer within a probe budget',
    );
    assert.equal((await readyz(s)).status, 200, '/readyz green again');
    assert.ok(recoveredAfter >= 0 && recoveredAfter < 5000, `service came back after ${recoveredAfter.toFixed(0)} ms${exitNote()}`);
    assert.equal(s.proc.pid, pid);
    assert.equal(serverExit, null, 'Latchkey must not have exited');

    await assertNoLostWrite(traffic.acknowledged);

    // The LISTEN session noticed and came back as well (it goes through the relay too).
    assert.match(s.logs(), /cache invalidation feed is down/);
    const started = performance.now();
    while ((s.logs().match(/cache invalidation feed is live/g) ?? []).length < 2 && performance.now() - started < 5000) await sleep(100);
    assert.equal((s.logs().match(/cache invalidation feed is live/g) ?? []).length, 2, 'the invalidation feed did not come back');
  });

  it('a black-holed path: requests still end in 503 within the timeouts, then service resumes', async (t) => {
    if (noPostgres(t)) return;
    assert.equal((await readyz(s)).status, 200);
    const traffic = startTraffic(s, 6);
    await sleep(1000);

    relay.stall();
    const stalledAt = performance.now();
    await sleep(200);
    const duringStall: Array<{ status: number; ms: number }> = [];
    while (performance.now() - stalledAt < 5000) {
      duringStall.push(await readyz(s));
      await sleep(250);
    }
    await relay.restore();
    const restoredAt = performance.now();
    const recoveredAfter = await waitForService(s, 15_000);
    await sleep(1000);
    await traffic.stop();
    t.diagnostic(`traffic: ${summary(traffic.outcomes)}`);
    t.diagnostic(`/readyz during the stall: ${duringStall.map((r) => `${r.status} in ${r.ms.toFixed(0)} ms`).join(', ')}`);
    t.diagnostic(`service back ${recoveredAfter.toFixed(0)} ms after the path was restored`);

    assertOnlySuccessOr503(traffic.outcomes);
    const stallWindow = traffic.outcomes.filter((o) => o.endedAt > stalledAt + 3500 && o.endedAt < restoredAt);
    assert.ok(stallWindow.length > 0, 'no request ended during the stall');
    assert.ok(
      stallWindow.every((o) => o.status === 503),
      `during the stall: ${summary(stallWindow)}`,
    );
    assert.ok(
      traffic.outcomes.some((o) => o.endedAt > restoredAt && o.status === 201),
      `nothing succeeded after the restore${exitNote()}`,
    );
    assert.ok(
      duringStall.every((r) => r.status === 503),
      '/readyz must be 503 while the database does not answer',
    );
    assert.ok(
      duringStall.every((r) => r.ms < 1500),
      '/readyz must answer within a probe budget',
    );
    assert.ok(recoveredAfter >= 0 && recoveredAfter < 5000, `service came back after ${recoveredAfter.toFixed(0)} ms${exitNote()}`);
    assert.equal(serverExit, null, 'Latchkey must not have exited');

    await assertNoLostWrite(traffic.acknowledged);
  });

  it('backends terminated by the database 20 times mid-traffic: the process survives each time and serves correctly after', async (t) => {
    if (noPostgres(t)) return;
    const pid = s.proc.pid;
    assert.equal((await readyz(s)).status, 200);
    const livesBefore = (s.logs().match(/cache invalidation feed is live/g) ?? []).length;
    // Reveals too: they append audit events through the pool's one-statement path.
    const revealed = await s.request('POST', '/v1/credentials', { body: smtpBody(`failover reveal ${randomBytes(3).toString('hex')}`) });
    assert.equal(revealed.status, 201, revealed.text);
    const traffic = startTraffic(s, 8);
    const reveals: number[] = [];
    let revealing = true;
    const revealLoop = (async () => {
      while (revealing) {
        const r = await fetch(`${s.url}/v1/credentials/${revealed.body.id}/secret`, {
          headers: { authorization: `Bearer ${s.ownerKey}` },
          signal: AbortSignal.timeout(REQUEST_BOUND_MS * 2),
        }).then(
          async (res) => {
            await res.text();
            return res.status;
          },
          () => 0,
        );
        reveals.push(r);
      }
    })();
    await sleep(500);
    let terminated = 0;
    for (let round = 0; round < 20; round++) {
      const rows = await db.query<{ ok: boolean }>(
        "SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name LIKE 'latchkey%'",
      );
      terminated += rows.filter((r) => r.ok).length;
      await sleep(150 + Math.floor(Math.random() * 150));
      assert.equal(serverExit, null, `Latchkey exited after termination round ${round + 1}${exitNote()}`);
    }
    const recoveredAfter = await waitForService(s, 15_000);
    await sleep(500);
    revealing = false;
    await revealLoop;
    await traffic.stop();
    t.diagnostic(
      `traffic: ${summary(traffic.outcomes)}; reveals: ${reveals.filter((r) => r === 200).length} ok, ${reveals.filter((r) => r !== 200).length} not; ${terminated} backends terminated`,
    );

    assert.equal(serverExit, null, 'Latchkey must not have exited');
    assert.equal(s.proc.pid, pid);
    assert.ok(terminated >= 20, `only ${terminated} backends were terminated`);
    assertOnlySuccessOr503(traffic.outcomes);
    assert.ok(
      reveals.every((r) => r === 200 || r === 503),
      `a reveal answered ${reveals.find((r) => r !== 200 && r !== 503)}`,
    );
    assert.ok(recoveredAfter >= 0, `service did not come back${exitNote()}`);
    assert.equal((await readyz(s)).status, 200, '/readyz green again');
    await assertNoLostWrite(traffic.acknowledged);
    // The LISTEN session was among the terminated ones and came back: its gap was taken as an invalidation.
    const feedLive = (): boolean => s.logs().lastIndexOf('cache invalidation feed is live') > s.logs().lastIndexOf('cache invalidation feed is down');
    const started = performance.now();
    while (!feedLive() && performance.now() - started < 5000) await sleep(100);
    assert.ok((s.logs().match(/cache invalidation feed is live/g) ?? []).length > livesBefore, 'the LISTEN session was never terminated');
    assert.ok(feedLive(), 'the invalidation feed did not come back');
  });
});
