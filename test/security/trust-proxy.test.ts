// LATCHKEY_TRUST_PROXY=true believed the left-most X-Forwarded-For entry, which is whatever the
// client wrote: a client chose the address the audit log records and the failed-sign-in hold
// counts. The setting now names the proxies (addresses, CIDRs, loopback …); the client address
// is the right-most entry that is not one of them, and `true` is refused at start.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { runCli, startServer, type TestServer } from '../support/server.ts';
import { canary } from '../support/canary.ts';

let behindProxy: TestServer;
let notFromProxy: TestServer;

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
  for (let i = 0; i < 100; i++) {
    const v = await probe();
    if (v !== undefined) return v;
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** The ip of the audit event a credential's creation left. */
async function createdFrom(s: TestServer, forwardedFor: string): Promise<string> {
  const c = await s.request('POST', '/v1/credentials', {
    body: { name: `xff ${canary('n')}`, type: 'text', secret: { value: canary('xff') } },
    headers: { 'x-forwarded-for': forwardedFor },
  });
  assert.equal(c.status, 201, c.text);
  const events = await s.request('GET', `/v1/audit-events?filter[credential_id]=${c.body.id}`);
  assert.equal(events.status, 200, events.text);
  return events.body.data[0].ip;
}

/** The ip of the platform's auth.failed event for a request id (it belongs to no tenant). */
async function failedFrom(s: TestServer, requestId: string): Promise<string> {
  const conn = await s.sql();
  try {
    const row = await waitFor(`auth.failed ${requestId}`, () =>
      conn.get<{ ip: string }>(`SELECT ip FROM audit_events WHERE action = 'auth.failed' AND request_id = ?`, requestId),
    );
    return row.ip;
  } finally {
    await conn.close();
  }
}

before(async () => {
  behindProxy = await startServer({ env: { LATCHKEY_TRUST_PROXY: 'loopback' } });
  notFromProxy = await startServer({ env: { LATCHKEY_TRUST_PROXY: '10.0.0.0/8, fd00::/8' } });
});

after(async () => {
  await behindProxy?.stop();
  await notFromProxy?.stop();
});

describe('trusted proxies are named; the client address is the right-most untrusted one', () => {
  it('LATCHKEY_TRUST_PROXY=true is refused at start, telling the operator what to set', async () => {
    for (const value of ['true', '10.0.0.0/33', 'proxy.example.com']) {
      const r = await runCli(['serve'], { LATCHKEY_TRUST_PROXY: value, LATCHKEY_PORT: '0', LATCHKEY_DATA_DIR: mkdtempSync(join(tmpdir(), 'latchkey-xff-')) });
      assert.equal(r.code, 1, `${value}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, /LATCHKEY_TRUST_PROXY/, value);
      assert.match(r.stderr, /CIDR/, value);
    }
  });

  it('behind a trusted proxy, a spoofed left-most entry does not become the audited address', async () => {
    assert.equal(await createdFrom(behindProxy, '6.6.6.6, 203.0.113.9'), '203.0.113.9');
    // A chain of trusted hops is walked from the right.
    assert.equal(await createdFrom(behindProxy, '6.6.6.6, 203.0.113.9, 127.0.0.1'), '203.0.113.9');
    assert.equal(await createdFrom(behindProxy, '2001:db8::7'), '2001:db8::7');
  });

  it('failed sign-ins are counted and audited under the real address, whatever the client writes', async () => {
    for (let i = 1; i <= 5; i++) {
      const r = await behindProxy.request('GET', '/v1/credentials', {
        key: 'lk_live_' + 'x'.repeat(43),
        headers: { 'x-forwarded-for': `6.6.6.${i}, 203.0.113.77`, 'x-request-id': `req_xff_fail_${i}` },
      });
      assert.equal(r.status, 401);
    }
    // The first failure of a window is the audited one; it carries the proxy-seen address.
    assert.equal(await failedFrom(behindProxy, 'req_xff_fail_1'), '203.0.113.77');
    const conn = await behindProxy.sql();
    try {
      const spoofed = await conn.get<{ n: number | string }>(`SELECT COUNT(*) AS n FROM audit_events WHERE ip LIKE '6.6.6.%'`);
      assert.equal(Number(spoofed?.n), 0, 'an event records an address the client made up');
    } finally {
      await conn.close();
    }
  });

  it('a connection that does not come from a named proxy: X-Forwarded-For is ignored', async () => {
    assert.equal(await createdFrom(notFromProxy, '6.6.6.6, 203.0.113.9'), '127.0.0.1');
  });
});
