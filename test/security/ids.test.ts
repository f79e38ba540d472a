// Hole 8 of issue 24: `PUT /v1/credentials/%2e` made a credential whose id is `.`. Every URL parser
// (fetch, browsers, proxies) resolves `.` and `..` segments, and their `%2e` forms, away, so such an
// id cannot be addressed: `latchkey export` aborted on it, and the CLI's `credentials reveal .`
// asked for `/v1/credentials/secret` and printed another credential. Ids of dots alone are now
// refused wherever an id is taken, and the CLI and SDK refuse to build a path from one.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, startServer, type TestServer } from '../support/server.ts';
import { assertNoSecret, assertServerHoldsNoSecret, canary } from '../support/canary.ts';
import { Latchkey, LatchkeyError } from '../../sdk/src/index.ts';

let s: TestServer;
const secrets: string[] = [];
const DOT_IDS = ['%2e', '%2E', '%2e%2e', '.%2e', '...', '%2e%2e%2e'];

/** A request whose path goes on the wire exactly as written (fetch would resolve the dot segments first). */
function rawRequest(method: string, path: string, body?: unknown): Promise<{ status: number; text: string }> {
  const url = new URL(s.url);
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: url.hostname,
        port: url.port,
        method,
        path,
        headers: {
          authorization: `Bearer ${s.ownerKey}`,
          ...(payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}),
        },
      },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

const count = async () => (await s.request('GET', '/v1/credentials?per_page=1')).body.total as number;

before(async () => {
  s = await startServer();
});

after(async () => {
  await assertServerHoldsNoSecret(s, secrets);
  await s.stop();
});

describe('ids of dots alone', () => {
  it('are refused with 400 on PUT, whatever their encoding, and nothing is stored', async () => {
    const before = await count();
    for (const id of DOT_IDS) {
      const value = canary('dot-id');
      secrets.push(value);
      const r = await rawRequest('PUT', `/v1/credentials/${id}`, { name: `Dots ${id}`, type: 'text', secret: { value } });
      assert.equal(r.status, 400, `PUT /v1/credentials/${id}: ${r.text}`);
      assert.equal(JSON.parse(r.text).error.code, 'INVALID_PARAMETER');
      assertNoSecret({ [id]: r.text }, [value]);
    }
    assert.equal(await count(), before);
    const sql = await s.sql();
    const row = await sql.get<{ n: number | string }>(`SELECT COUNT(*) AS n FROM credentials WHERE id IN ('.', '..', '...')`);
    await sql.close();
    assert.equal(Number(row?.n), 0);
  });

  it('are refused as an integration id, which is a path segment of /v1/integrations/{id}/…', async () => {
    for (const integration of ['.', '..']) {
      const r = await s.request('POST', '/v1/credentials', {
        body: { name: `Integration ${integration}`, type: 'text', secret: { value: 'x' }, integration_id: integration },
      });
      assert.equal(r.status, 422, `${integration}: ${r.text}`);
      assert.equal(r.body.error.details[0].path, 'integration_id');
    }
  });

  it('the CLI refuses `credentials reveal .` and `..` as a usage error, and never prints another credential', async () => {
    // The credential `credentials reveal .` used to land on: /v1/credentials/./secret is /v1/credentials/secret.
    const value = canary('dot-target');
    secrets.push(value);
    const target = await s.request('PUT', '/v1/credentials/secret', { body: { name: 'Landing target', type: 'text', secret: { value } } });
    assert.equal(target.status, 201, target.text);
    const home = mkdtempSync(join(tmpdir(), 'latchkey-ids-'));
    const env = { HOME: home, XDG_CONFIG_HOME: join(home, 'config'), LATCHKEY_URL: s.url, LATCHKEY_TOKEN: s.ownerKey };
    for (const id of ['.', '..', '...']) {
      for (const args of [
        ['credentials', 'reveal', id],
        ['credentials', 'get', id],
        ['credentials', 'reveal', id, '--json'],
      ]) {
        const r = await runCli(args, env);
        assert.equal(r.code, 2, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
        assert.match(r.stderr, /not dots alone/);
        assert.equal(r.stdout, '');
        assert.equal(`${r.stdout}${r.stderr}`.includes('Landing target'), false);
        assertNoSecret({ stdout: r.stdout, stderr: r.stderr }, [value]);
      }
    }
  });

  it('the SDK refuses to build a path from one, before any request', async () => {
    let requests = 0;
    const lk = new Latchkey({
      baseUrl: s.url,
      apiKey: s.ownerKey,
      fetch: ((...args: Parameters<typeof fetch>) => {
        requests++;
        return fetch(...args);
      }) as typeof fetch,
    });
    for (const id of ['.', '..']) {
      await assert.rejects(lk.credentials.reveal(id), (err: unknown) => err instanceof LatchkeyError && /cannot be sent as an id/.test((err as Error).message));
      await assert.rejects(lk.credentials.get(id), LatchkeyError);
    }
    assert.equal(requests, 0);
  });
});
