import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ok, smtpBody, startServer, type TestServer } from '../support/server.ts';
import { startReceiver, waitFor, type Receiver } from '../support/webhook-receiver.ts';

// Kill -9 the server while it delivers, start it again on the same store: every event the store
// holds arrives (a duplicate may, with the same webhook-id), none is missing, and the order holds.

const cleanup: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const c of cleanup.reverse()) await c().catch(() => undefined);
});

async function createdEventIds(server: TestServer): Promise<string[]> {
  const conn = await server.sql();
  try {
    const ids: string[] = [];
    // Few rows: read them one at a time by seq rather than aggregate per dialect.
    for (let seq = 1; ; seq++) {
      const r = await conn.get<{ id: string; action: string }>('SELECT id, action FROM audit_events WHERE seq = ? AND tenant_id <> ?', seq, '');
      if (!r) break;
      if (r.action === 'credential.create') ids.push(r.id);
    }
    return ids;
  } finally {
    await conn.close();
  }
}

describe('webhook delivery across a SIGKILL', () => {
  it('every event arrives after a restart on the same store, in order, duplicates with the same webhook-id', async () => {
    const rx: Receiver = await startReceiver();
    cleanup.push(() => rx.close());
    rx.delay(40);
    const dataDir = mkdtempSync(join(tmpdir(), 'latchkey-hooks-crash-'));
    const env = {
      LATCHKEY_EGRESS_ALLOW: '127.0.0.1/32',
      LATCHKEY_EGRESS_TIMEOUT_MS: '2000',
      LATCHKEY_AUDIT_SEAL_INTERVAL_MS: '20',
      LATCHKEY_LOG_LEVEL: 'info',
    };
    const first = await startServer({ dataDir, env });
    cleanup.push(() => first.stop());
    const owner = first.ownerKey;
    const sub = await ok(first.request('POST', '/v1/webhooks', { body: { url: rx.url('/crash'), event_types: ['credential.created'] } }));
    rx.setSecrets('/crash', [sub.secret]);
    for (let i = 0; i < 30; i++) await ok(first.request('POST', '/v1/credentials', { body: smtpBody(`crash ${i}`) }));
    await waitFor('deliveries to start', () => rx.accepted('/crash').length >= 5);
    first.proc.kill('SIGKILL');
    await once(first.proc, 'exit');
    const atKill = rx.accepted('/crash').length;

    const second = await startServer({ dataDir, env: { ...first.env } });
    cleanup.push(() => second.stop());
    for (let i = 0; i < 5; i++) await ok(second.request('POST', '/v1/credentials', { key: owner, body: smtpBody(`after ${i}`) }));
    // The first server's fixture is the store both ran on (the second was started on its settings).
    // Sealing may trail the answer (after a restart a tenant with unsealed events gets its new
    // ones sealed by the sealer, every 20 ms here): wait until all 35 are on the chain.
    let stored: string[] = [];
    await waitFor('35 sealed credential.create events', async () => (stored = await createdEventIds(first)).length === 35, 10_000).catch(() => undefined);
    assert.equal(stored.length, 35);
    // On PostgreSQL the killed process's lease has to lapse first (30 s).
    await waitFor(
      'every stored event',
      () => {
        const got = new Set(rx.accepted('/crash').map((r) => String(r.headers['webhook-id'])));
        return stored.every((id) => got.has(id));
      },
      90_000,
    );
    const got = rx.accepted('/crash');
    assert.ok(atKill < 35, `not mid-delivery: ${atKill} delivered at the kill`);
    // In order: the first arrival of each event follows the chain.
    const firstArrivals: string[] = [];
    for (const r of got) {
      const id = String(r.headers['webhook-id']);
      if (!firstArrivals.includes(id)) firstArrivals.push(id);
    }
    assert.deepEqual(firstArrivals, stored);
    // A duplicate is the same event: same id, same body.
    const bodies = new Map<string, string>();
    for (const r of got) {
      const id = String(r.headers['webhook-id']);
      const prev = bodies.get(id);
      if (prev !== undefined) assert.equal(r.body, prev);
      bodies.set(id, r.body);
    }
  });
});
