// A body over the 1 MiB limit was refused on its Content-Length (or at the first byte past the
// limit) and the connection closed while the client was still sending: the close met unread
// bytes and reset the connection, so fetch clients (our SDK among them) got EPIPE or "fetch
// failed" instead of the 413 about half the time. The server now reads and drops a bounded
// amount before it answers, and every attempt below must read its 413.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type TestServer } from '../support/server.ts';
import { assertServerHoldsNoSecret, canary } from '../support/canary.ts';
import { Latchkey, LatchkeyApiError } from '../../sdk/src/index.ts';

let s: TestServer;
const secrets: string[] = [];
const ATTEMPTS = 12;
const OVER = 2 * 1024 * 1024;
/** Larger than loopback's socket buffers take at once, so the client is still writing at the refusal. */
const SDK_OVER = 6 * 1024 * 1024;

/** A JSON body of `bytes` bytes (a long description) with a canary secret in it, sent in 64 KiB pieces. */
function streamedBody(bytes: number): ReadableStream<Uint8Array> {
  const secret = canary('limit');
  secrets.push(secret);
  const head = Buffer.from(`{"name":"over the limit","type":"text","secret":{"value":"${secret}"},"description":"`);
  const tail = Buffer.from('"}');
  let left = bytes - head.length - tail.length;
  let sent = 0;
  return new ReadableStream({
    pull(controller) {
      if (sent === 0) controller.enqueue(head);
      if (left <= 0) {
        controller.enqueue(tail);
        controller.close();
      } else {
        const n = Math.min(left, 64 * 1024);
        controller.enqueue(Buffer.alloc(n, 0x78));
        left -= n;
      }
      sent++;
    },
  });
}

before(async () => {
  s = await startServer();
});

after(async () => {
  await s.stop();
});

describe('a body over the limit → a 413 the client reads, every time', () => {
  it('through the SDK (a JSON body with Content-Length), with no retries to hide a reset', async () => {
    const lk = new Latchkey({ baseUrl: s.url, apiKey: s.ownerKey, maxRetries: 0 });
    for (let i = 0; i < ATTEMPTS; i++) {
      const secret = canary('limit-sdk');
      secrets.push(secret);
      const err = await lk.credentials.create({ name: `sdk over ${i}`, type: 'text', secret: { value: secret }, description: 'x'.repeat(SDK_OVER) }).then(
        () => assert.fail('an oversized create was accepted'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof LatchkeyApiError, `attempt ${i}: ${String(err)} ${String((err as { cause?: unknown })?.cause ?? '')}`);
      assert.equal(err.status, 413, `attempt ${i}`);
      assert.equal(err.code, 'PAYLOAD_TOO_LARGE', `attempt ${i}`);
    }
  });

  it('through fetch with a streamed (chunked) body', async () => {
    for (let i = 0; i < ATTEMPTS; i++) {
      let res: Response;
      try {
        res = await fetch(`${s.url}/v1/credentials`, {
          method: 'POST',
          headers: { authorization: `Bearer ${s.ownerKey}`, 'content-type': 'application/json' },
          body: streamedBody(OVER),
          duplex: 'half',
        } as RequestInit);
      } catch (err) {
        assert.fail(`attempt ${i}: ${String(err)} ${String((err as { cause?: unknown }).cause ?? '')}`);
      }
      assert.equal(res.status, 413, `attempt ${i}`);
      const body = (await res.json()) as { error: { code: string; request_id: string } };
      assert.equal(body.error.code, 'PAYLOAD_TOO_LARGE');
      assert.equal(typeof body.error.request_id, 'string');
    }
  });

  it('a body within the limit is still accepted, and nothing over it was stored', async () => {
    const under = await s.request('POST', '/v1/credentials', {
      body: { name: 'within the limit', type: 'text', secret: { value: 'v' }, description: 'x'.repeat(1900) },
    });
    assert.equal(under.status, 201, under.text);
    const names = (await s.request('GET', '/v1/credentials?per_page=100')).body.data.map((c: { name: string }) => c.name);
    assert.deepEqual(names, ['within the limit']);
    await assertServerHoldsNoSecret(s, secrets);
  });
});
