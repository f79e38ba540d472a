// The webhook rows (docs/events.md): a credential update with no subscription and the same
// update with one active subscription, in the same run, and the delivery rate from a backlog.
// The outbox is the audit chain, so the write path does no delivery work: the difference of the
// two update rows is what delivering in the background costs the same server core. The receiver
// is a bare node:http server in this harness (pinned to the load core), answering 204 at once.
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { JsonClient, optionalStringAt, stringAt } from './http-json.js';
import { LatencyRecorder } from './latency-percentiles.js';
import type { SeededStore } from './latchkey-seed.js';
import { smtpCredentialBody } from './latchkey-seed.js';
import type { LoadRunOutcome, LoadTarget } from './load-runner.js';
import type { LoadSpec } from './load-spec.js';
import { CpuWindowMeter, readRssMb } from './proc-usage.js';
import type { LoadShape, Scenario } from './scenarios.js';

/** Credentials of the write tenant the update rows PATCH (a random one per request). */
const UPDATE_CREDENTIALS = 100;
/** Events in the delivery-rate backlog per measured second of the other rows. */
const BACKLOG_PER_SECOND = 200;
/** Concurrent PATCHes that build the backlog. */
const BACKLOG_CONCURRENCY = 8;

export interface WebhookReceiver {
  url(path: string): string;
  /** Deliveries received on `path`. */
  count(path: string): number;
  close(): Promise<void>;
}

export interface WebhookBench {
  receiver: WebhookReceiver;
  /** The write tenant's credentials that the update rows change. */
  credentialIds: string[];
  ownerKey: string;
  /** Per subscription made, so every run delivers to a path of its own. */
  nextPath(kind: string): string;
}

async function startReceiver(): Promise<WebhookReceiver> {
  const counts = new Map<string, number>();
  const server: Server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const path = (req.url ?? '/').split('?')[0] ?? '/';
      counts.set(path, (counts.get(path) ?? 0) + 1);
      res.statusCode = 204;
      res.end();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: (path) => `http://127.0.0.1:${port}${path}`,
    count: (path) => counts.get(path) ?? 0,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Starts the receiver and makes the write tenant's credentials to update (once per store; they stay across rounds). */
export async function prepareWebhookBench(origin: string, seeded: SeededStore): Promise<WebhookBench> {
  const receiver = await startReceiver();
  const client = new JsonClient(origin, 8);
  const credentialIds: string[] = [];
  try {
    const tag = Date.now().toString(36);
    for (let n = 0; n < UPDATE_CREDENTIALS; n += 1) {
      const body = await client.expect(201, {
        method: 'POST',
        path: '/v1/credentials',
        token: seeded.write.ownerKey,
        body: smtpCredentialBody(`bench-webhook-${tag}-${n}`, n),
      });
      credentialIds.push(stringAt(body, 'id'));
    }
  } finally {
    client.close();
  }
  let made = 0;
  return {
    receiver,
    credentialIds,
    ownerKey: seeded.write.ownerKey,
    nextPath: (kind) => `/${kind}/${(made += 1)}`,
  };
}

async function subscribe(client: JsonClient, bench: WebhookBench, path: string, active: boolean): Promise<string> {
  const body = await client.expect(201, {
    method: 'POST',
    path: '/v1/webhooks',
    token: bench.ownerKey,
    body: { url: bench.receiver.url(path), event_types: ['credential.updated'], active, description: 'bench' },
  });
  return stringAt(body, 'id');
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Builds a backlog of `events` updates for a paused subscription, then turns it on and times
 * until the receiver has them all: events delivered per second, one process, in order (one
 * attempt in flight per subscription, as deliveries go). Latency columns: each attempt's
 * round trip as the delivery log recorded it.
 */
async function measureDeliveryRate(origin: string, target: LoadTarget, bench: WebhookBench, events: number): Promise<LoadRunOutcome> {
  const client = new JsonClient(origin, BACKLOG_CONCURRENCY + 1);
  const path = bench.nextPath('backlog');
  try {
    // The previous row's updates sealed after the subscription exists would be delivered to it too
    // (a subscription gets what is sealed from its creation on): they are sealed first.
    await sleep(1000);
    const id = await subscribe(client, bench, path, false);
    let sent = 0;
    const worker = async (): Promise<void> => {
      while (sent < events) {
        const n = (sent += 1);
        const credentialId = bench.credentialIds[n % bench.credentialIds.length] ?? '';
        await client.expect(200, { method: 'PATCH', path: `/v1/credentials/${credentialId}`, token: bench.ownerKey, body: { description: `backlog ${n}` } });
      }
    };
    await Promise.all(Array.from({ length: BACKLOG_CONCURRENCY }, worker));
    await sleep(1000); // sealed (every 200 ms by default) before the clock starts
    const meter = new CpuWindowMeter(target.serverPid, [], target.databaseCommand);
    const started = performance.now();
    await client.expect(200, { method: 'PATCH', path: `/v1/webhooks/${id}`, token: bench.ownerKey, body: { active: true } });
    const deadline = started + 120_000;
    while (bench.receiver.count(path) < events && performance.now() < deadline) await sleep(5);
    const seconds = (performance.now() - started) / 1000;
    const cpu = meter.finish();
    const rssMb = readRssMb(target.serverPid);
    const delivered = bench.receiver.count(path);
    const latencies = new LatencyRecorder();
    let cursor: string | null = null;
    for (let page = 0; page < 1000; page += 1) {
      const query: string = cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`;
      const body = await client.expect(200, { method: 'GET', path: `/v1/webhooks/${id}/deliveries?per_page=100${query}`, token: bench.ownerKey });
      for (const row of (body as { data: Array<{ latency_ms: number }> }).data) latencies.record(row.latency_ms);
      cursor = optionalStringAt(body, 'next_cursor');
      if (cursor === null) break;
    }
    await client.expect(204, { method: 'DELETE', path: `/v1/webhooks/${id}`, token: bench.ownerKey });
    const label = `webhook deliveries from a backlog of ${events}`;
    return {
      summaries: [
        {
          label,
          responses: delivered,
          durationSeconds: seconds,
          rps: delivered / seconds,
          latencyMs: latencies.summarize(),
          statusCounts: { '204': delivered },
          errors: 0,
          timeouts: 0,
          // Missing and extra deliveries alike.
          unexpected: Math.abs(events - delivered),
          autocannon: null,
          sender: 'autocannon',
          sendLagMs: null,
        },
      ],
      cpu,
      rssMb,
    };
  } finally {
    client.close();
  }
}

export function webhookScenarios(shape: LoadShape, bench: WebhookBench): Scenario[] {
  const update: LoadSpec = {
    origin: '',
    connections: shape.connections,
    durationSeconds: shape.durationSeconds,
    warmupSeconds: shape.warmupSeconds,
    label: 'update PATCH /v1/credentials/{id}, no webhook subscription',
    method: 'PATCH',
    paths: bench.credentialIds.map((id) => `/v1/credentials/${id}`),
    headers: { authorization: `Bearer ${bench.ownerKey}` },
    body: { description: 'bench update' },
    expectStatus: 200,
  };
  const events = BACKLOG_PER_SECOND * shape.durationSeconds;
  let live: string | null = null;
  return [
    { id: 'update', label: update.label, kind: 'saturate', specs: [update], note: 'metadata change; writes a credential.updated audit event' },
    {
      id: 'update-webhook',
      label: 'the same update, one active webhook subscription delivering',
      kind: 'saturate',
      specs: [{ ...update, label: 'update PATCH, one webhook subscription' }],
      note: 'receiver on the load core answering 204; deliveries run on the server core meanwhile',
      setup: async (origin) => {
        const client = new JsonClient(origin, 1);
        const path = bench.nextPath('live');
        try {
          const id = await subscribe(client, bench, path, true);
          live = path;
          return async () => {
            const teardown = new JsonClient(origin, 1);
            try {
              await teardown.expect(204, { method: 'DELETE', path: `/v1/webhooks/${id}`, token: bench.ownerKey });
              process.stderr.write(`bench: webhook subscription delivered ${bench.receiver.count(live ?? '')} events during the update row\n`);
            } finally {
              teardown.close();
            }
          };
        } finally {
          client.close();
        }
      },
    },
    {
      id: 'webhook-delivery',
      label: `webhook delivery rate, backlog of ${events} events (events/s)`,
      kind: 'saturate',
      specs: [{ ...update, label: 'webhook delivery rate' }],
      note: 'one subscription, in order, one attempt in flight; p50/p99: attempt round trip from the delivery log',
      measure: (origin, target) => measureDeliveryRate(origin, target, bench, events),
    },
  ];
}
