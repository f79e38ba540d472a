import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { startServer, type TestServer } from '../support/server.ts';
import { createEgressGuard, EGRESS_REFUSED_MESSAGE, EgressAllowList, EgressRefused } from '../../src/egress/egress-guard.ts';

/*
 * SSRF: a tenant aims the server's outbound token calls at the inside of the network. The
 * operator here allows exactly one address (127.0.0.2, a stand-in for an internal IdP); every
 * other loopback, link-local, private or mapped destination must be refused through the API —
 * refresh, verify, connect — and the target must receive nothing. A "victim" server on
 * 127.0.0.1 and [::1] counts what reaches it.
 */

interface Counted {
  server: Server;
  port: number;
  hits: string[];
}

async function listen(host: string, handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<Counted> {
  const hits: string[] = [];
  const server = createServer((req, res) => {
    hits.push(`${req.method} ${req.url}`);
    handler(req, res);
  });
  server.listen(0, host);
  await once(server, 'listening');
  return { server, port: (server.address() as { port: number }).port, hits };
}

const token = (res: ServerResponse) => {
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ access_token: `at-${randomBytes(6).toString('hex')}`, token_type: 'Bearer', expires_in: 3600 }));
};

let s: TestServer;
let victim4: Counted;
let victim6: Counted;
let allowed: Counted;
const unique = (label: string) => `${label} ${randomBytes(4).toString('hex')}`;

before(async () => {
  victim4 = await listen('127.0.0.1', (_req, res) => token(res));
  victim6 = await listen('::1', (_req, res) => token(res));
  // The one destination the operator allows: it answers tokens, redirects, oversized and slow bodies.
  allowed = await listen('127.0.0.2', (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/token') return token(res);
    if (url.pathname === '/redirect') {
      res.statusCode = 303;
      res.setHeader('location', url.searchParams.get('to') ?? '/');
      return res.end();
    }
    if (url.pathname === '/huge') {
      res.setHeader('content-type', 'application/json');
      return res.end(Buffer.alloc(2 * 1024 * 1024, 0x20));
    }
    if (url.pathname === '/slow') return; // never answers
    res.statusCode = 404;
    res.end();
  });
  s = await startServer({ env: { LATCHKEY_EGRESS_ALLOW: '127.0.0.2/32', LATCHKEY_EGRESS_TIMEOUT_MS: '1500', LATCHKEY_OAUTH_REFRESH_INTERVAL_MS: '100' } });
});

after(async () => {
  await s?.stop();
  for (const c of [victim4, victim6, allowed]) {
    c?.server.closeAllConnections();
    c?.server.close();
  }
});

/** A client_credentials credential aimed at `endpoint`: the server would call it on refresh, verify and reveal. */
async function aimedAt(endpoint: string): Promise<string> {
  const r = await s.request('POST', '/v1/credentials', {
    body: {
      name: unique('Aimed'),
      type: 'oauth2',
      config: { client_id: 'c', token_endpoint: endpoint, grant_type: 'client_credentials', token_endpoint_auth_method: 'client_secret_post' },
      secret: { client_secret: 'tenant-secret' },
    },
  });
  assert.equal(r.status, 201, r.text);
  return r.body.id;
}

const TARGETS: Array<[string, () => string]> = [
  ['http://127.0.0.1 (loopback)', () => `http://127.0.0.1:${victim4.port}/token`],
  ['https://127.0.0.1 (loopback over https)', () => `https://127.0.0.1:${victim4.port}/token`],
  ['http://[::1] (IPv6 loopback)', () => `http://[::1]:${victim6.port}/token`],
  ['a DNS name resolving to loopback (localhost)', () => `https://localhost:${victim4.port}/token`],
  ['127.0.0.1 written as a decimal integer', () => `http://2130706433:${victim4.port}/token`],
  ['an IPv4-mapped IPv6 address', () => `http://[::ffff:127.0.0.1]:${victim4.port}/token`],
  ['0.0.0.0', () => `http://0.0.0.0:${victim4.port}/token`],
  ['169.254.169.254 (cloud metadata)', () => 'http://169.254.169.254/latest/meta-data/iam/security-credentials/'],
  ['a private address (10/8)', () => 'https://10.0.0.1/token'],
  [
    'a redirect from an allowed host to loopback',
    () => `http://127.0.0.2:${allowed.port}/redirect?to=${encodeURIComponent(`http://127.0.0.1:${victim4.port}/token`)}`,
  ],
];

describe('egress guard: destinations a tenant may not aim the server at', () => {
  for (const [label, target] of TARGETS) {
    it(`refuses ${label} on refresh, verify and reveal; the target receives nothing`, async () => {
      const before4 = victim4.hits.length;
      const before6 = victim6.hits.length;
      const id = await aimedAt(target());
      const refresh = await s.request('POST', `/v1/credentials/${id}/refresh`);
      assert.equal(refresh.status, 422, refresh.text);
      assert.equal(refresh.body.error.code, 'VALIDATION_FAILED');
      assert.equal(refresh.body.error.details[0].path, 'config.token_endpoint');
      // One message for every refused destination: nothing says how the name resolved.
      assert.equal(refresh.body.error.details[0].message, EGRESS_REFUSED_MESSAGE);
      const verify = await s.request('POST', `/v1/credentials/${id}/verify`);
      assert.equal(verify.status, 200, verify.text);
      assert.equal(verify.body.ok, false);
      assert.equal(verify.body.error, 'refused');
      assert.equal(verify.body.status, null);
      // A reveal still answers (with no token to give) and records why in last_error.
      const reveal = await s.request('GET', `/v1/credentials/${id}/secret`);
      assert.equal(reveal.status, 200, reveal.text);
      assert.equal(reveal.body.secret.access_token, undefined);
      assert.equal((await s.request('GET', `/v1/credentials/${id}`)).body.last_error, 'refused: the token endpoint is not an allowed egress target');
      assert.equal(victim4.hits.length, before4, 'nothing reached 127.0.0.1');
      assert.equal(victim6.hits.length, before6, 'nothing reached [::1]');
    });
  }

  it('refuses connect to a loopback token endpoint and creates nothing', async () => {
    const before = (await s.request('GET', '/v1/credentials?per_page=100')).body.total;
    const r = await s.request('POST', '/v1/oauth/connect', {
      body: {
        provider: 'oauth2',
        name: unique('Connect SSRF'),
        secret: { client_secret: 'x' },
        config: { client_id: 'c', authorization_endpoint: 'https://idp.example.test/auth', token_endpoint: `http://127.0.0.1:${victim4.port}/token` },
      },
    });
    assert.equal(r.status, 422, r.text);
    assert.equal(r.body.error.details[0].path, 'config.token_endpoint');
    assert.equal((await s.request('GET', '/v1/credentials?per_page=100')).body.total, before);
    // An existing credential aimed at the metadata service cannot be connected either.
    const made = await s.request('POST', '/v1/credentials', {
      body: {
        name: unique('Meta'),
        type: 'oauth2',
        config: { client_id: 'c', authorization_endpoint: 'https://idp.example.test/auth', token_endpoint: 'http://169.254.169.254/token' },
        secret: { client_secret: 'x' },
      },
    });
    const c = await s.request('POST', '/v1/oauth/connect', { body: { credential_id: made.body.id } });
    assert.equal(c.status, 422, c.text);
    assert.equal(victim4.hits.length, 0);
  });

  it('refuses plain http to the world and non-http schemes', async () => {
    const bad = await s.request('POST', '/v1/credentials', {
      body: {
        name: unique('File'),
        type: 'oauth2',
        config: { client_id: 'c', token_endpoint: 'file:///etc/passwd', grant_type: 'client_credentials' },
        secret: { client_secret: 'x' },
      },
    });
    assert.equal(bad.status, 422);
    // The guard itself: http is for allowed destinations only, even when public.
    const guard = createEgressGuard({
      allow: new EgressAllowList([]),
      timeoutMs: 1000,
      maxResponseBytes: 1024,
      maxRedirects: 3,
      lookupAll: async () => [{ address: '93.184.216.34', family: 4 }],
    });
    await assert.rejects(guard.check('http://example.com/token'), (e: unknown) => e instanceof EgressRefused && e.category === 'refused');
    await guard.check('https://example.com/token');
    await assert.rejects(guard.check('gopher://example.com/'), EgressRefused);
    await assert.rejects(guard.check('https://user:pw@example.com/'), EgressRefused);
  });
});

describe('egress guard: what the operator allows, and the limits that still apply', () => {
  it('reaches the allowed destination, over plain http, and follows a redirect within it', async () => {
    const before = allowed.hits.length;
    const id = await aimedAt(`http://127.0.0.2:${allowed.port}/token`);
    const r = await s.request('POST', `/v1/credentials/${id}/refresh`);
    assert.equal(r.status, 200, r.text);
    assert.match((await s.request('GET', `/v1/credentials/${id}/secret`)).body.secret.access_token, /^at-/);
    // A 303 to /token on the same allowed host: POST becomes GET, which this endpoint also answers.
    const viaRedirect = await aimedAt(`http://127.0.0.2:${allowed.port}/redirect?to=/token`);
    assert.equal((await s.request('POST', `/v1/credentials/${viaRedirect}/refresh`)).status, 200);
    assert.ok(allowed.hits.length >= before + 3);
  });

  it('caps the response size and the time a call may take (503, retried with backoff)', async () => {
    const huge = await aimedAt(`http://127.0.0.2:${allowed.port}/huge`);
    const r1 = await s.request('POST', `/v1/credentials/${huge}/refresh`);
    assert.equal(r1.status, 503, r1.text);
    assert.match(r1.body.error.details, /bad_response/);
    const slow = await aimedAt(`http://127.0.0.2:${allowed.port}/slow`);
    const t0 = Date.now();
    const r2 = await s.request('POST', `/v1/credentials/${slow}/refresh`);
    assert.equal(r2.status, 503, r2.text);
    assert.match(r2.body.error.details, /timeout/);
    assert.ok(Date.now() - t0 < 5000);
    assert.match((await s.request('GET', `/v1/credentials/${slow}`)).body.last_error, /^timeout: the token endpoint could not be reached/);
  });

  it('stops after three redirects', async () => {
    const self = (to: string) => `http://127.0.0.2:${allowed.port}/redirect?to=${encodeURIComponent(to)}`;
    const chain = self(self(self(self(`http://127.0.0.2:${allowed.port}/token`))));
    const id = await aimedAt(chain);
    const r = await s.request('POST', `/v1/credentials/${id}/refresh`);
    assert.equal(r.status, 503, r.text);
    assert.match(r.body.error.details, /bad_response/);
  });

  it('checks every address a name resolves to, and connects only to the checked one (no rebinding)', async () => {
    const allow = new EgressAllowList(['127.0.0.2/32']);
    // A rebinding answer mixes a public and a private address: refused as a whole.
    const mixed = createEgressGuard({
      allow,
      timeoutMs: 1000,
      maxResponseBytes: 4096,
      maxRedirects: 0,
      lookupAll: async () => [
        { address: '93.184.216.34', family: 4 },
        { address: '10.1.2.3', family: 4 },
      ],
    });
    await assert.rejects(mixed.request({ method: 'GET', url: 'https://rebind.test/' }), EgressRefused);
    // The resolver is asked once; the second answer (loopback) is never used: the socket goes
    // to the address that was checked. The name does not exist in real DNS, so a second lookup
    // by the socket itself would fail.
    let asked = 0;
    const pinned = createEgressGuard({
      allow,
      timeoutMs: 2000,
      maxResponseBytes: 4096,
      maxRedirects: 0,
      lookupAll: async () => (asked++ === 0 ? [{ address: '127.0.0.2', family: 4 }] : [{ address: '127.0.0.1', family: 4 }]),
    });
    const before = victim4.hits.length;
    const res = await pinned.request({ method: 'POST', url: `http://rebind.invalid:${allowed.port}/token`, body: '' });
    assert.equal(res.status, 200);
    assert.equal(asked, 1);
    assert.equal(victim4.hits.length, before);
  });

  it('proxied requests keep their connection alive, but each is checked again and a changed answer gets no pooled socket', async () => {
    // The target counts TCP connections: kept alive, three requests share one.
    const connections: string[] = [];
    const target = await listen('127.0.0.2', (_req, res) => res.end('ok'));
    target.server.on('connection', (socket) => connections.push(socket.remoteAddress ?? ''));
    const answers = [[{ address: '127.0.0.2', family: 4 }]];
    let asked = 0;
    const guard = createEgressGuard({
      allow: new EgressAllowList(['127.0.0.2/32']),
      timeoutMs: 2000,
      maxResponseBytes: 4096,
      maxRedirects: 0,
      lookupAll: async () => {
        asked++;
        return answers[answers.length - 1] ?? [];
      },
    });
    const get = async (): Promise<string> => {
      const res = await guard.open({
        method: 'GET',
        url: `http://pooled.invalid:${target.port}/x`,
        headers: {},
        body: null,
        signal: AbortSignal.timeout(2000),
      });
      const chunks: Buffer[] = [];
      for await (const c of res) chunks.push(c as Buffer);
      return Buffer.concat(chunks).toString();
    };
    for (let i = 0; i < 3; i++) assert.equal(await get(), 'ok');
    assert.equal(asked, 3, 'the name is resolved and checked for every request');
    assert.equal(target.hits.length, 3);
    assert.equal(connections.length, 1, 'one kept-alive connection for the three');
    // The name now answers loopback (not allowed): refused before any pooled socket is used,
    // and nothing reaches either address.
    answers.push([{ address: '127.0.0.1', family: 4 }]);
    const victimBefore = victim4.hits.length;
    await assert.rejects(get(), EgressRefused);
    assert.equal(target.hits.length, 3);
    assert.equal(victim4.hits.length, victimBefore);
    target.server.closeAllConnections();
    target.server.close();
  });
});
