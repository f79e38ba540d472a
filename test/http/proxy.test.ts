import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type RequestListener, type Server } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { runCli, startServer, type TestServer } from '../support/server.ts';
import { assertNoSecret, assertServerHoldsNoSecret, canary } from '../support/canary.ts';
import { tempDir } from '../support/temp.ts';
import { Latchkey } from '../../sdk/src/index.ts';

/*
 * The proxy (issue 27): a caller names a credential and a target and sends an ordinary request;
 * Latchkey puts the credential in. The target here is a real HTTP server on loopback that checks
 * each credential the way the real service would, and records what reached it.
 */

const HEADER_KEY = canary('hdr-key');
const QUERY_KEY = canary('qry-key');
const PASSWORD = canary('basic-pw');
// SendGrid keys have their own shape (SG.<id>.<secret>).
const BEARER = `SG.${randomBytes(8).toString('hex')}.${canary('bearer_tok')}`;
const SIGNING = `whsec_${canary('hook')}`;
const ISSUED = canary('oauth-access');
const CLIENT_SECRET = canary('oauth-client');
const SECRETS = [HEADER_KEY, QUERY_KEY, PASSWORD, BEARER, SIGNING, ISSUED, CLIENT_SECRET];

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: Buffer;
}
const seen: Seen[] = [];
let target: Server;
let port = 0;
/** The same target over TLS, with a certificate the server trusts (NODE_EXTRA_CA_CERTS), and one it does not. */
let tls: Server;
let tlsPort = 0;
let untrusted: Server;
let untrustedPort = 0;

/** A self-signed certificate for localhost: its own test CA. */
function selfSigned(dir: string, name: string): { key: string; cert: string; certFile: string } {
  const keyFile = join(dir, `${name}.key`);
  const certFile = join(dir, `${name}.pem`);
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      keyFile,
      '-out',
      certFile,
      '-days',
      '2',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=DNS:localhost',
    ],
    { stdio: 'ignore' },
  );
  return { key: readFileSync(keyFile, 'utf8'), cert: readFileSync(certFile, 'utf8'), certFile };
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as AddressInfo).port;
}
let s: TestServer;
let tokenCalls = 0;

const same = (a: string | undefined, b: string): boolean => a !== undefined && a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));

/** What the real services do: each route accepts only its credential, placed its way. */
function answer(req: IncomingMessage, body: Buffer): { status: number; headers?: Record<string, string>; body: string } {
  const url = new URL(req.url ?? '/', 'http://target');
  const auth = req.headers.authorization;
  switch (url.pathname) {
    case '/v1/header':
      return same(req.headers['x-api-key'] as string | undefined, HEADER_KEY) ? { status: 200, body: '{"ok":"header"}' } : { status: 401, body: 'no' };
    case '/v1/query':
      return same(url.searchParams.get('api_key') ?? undefined, QUERY_KEY) &&
        url.searchParams.getAll('api_key').length === 1 &&
        url.searchParams.get('page') === '2'
        ? { status: 200, body: '{"ok":"query"}' }
        : { status: 401, body: 'no' };
    case '/v1/basic': {
      const [user, pw] = Buffer.from((auth ?? '').replace(/^Basic /, ''), 'base64')
        .toString()
        .split(':');
      return user === 'acct-7' && same(pw, PASSWORD) ? { status: 200, body: '{"ok":"basic"}' } : { status: 401, body: 'no' };
    }
    case '/v1/bearer':
      return same(auth, `Bearer ${BEARER}`) ? { status: 200, body: '{"ok":"bearer"}' } : { status: 401, body: 'no' };
    case '/v1/oauth-api':
      return same(auth, `Bearer ${ISSUED}`) ? { status: 200, body: '{"ok":"oauth"}' } : { status: 401, body: 'no' };
    case '/token':
      tokenCalls++;
      return same(auth, `Basic ${Buffer.from(`client-1:${CLIENT_SECRET}`).toString('base64')}`)
        ? {
            status: 200,
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ access_token: ISSUED, token_type: 'Bearer', expires_in: 3600 }),
          }
        : { status: 401, body: '{"error":"invalid_client"}' };
    case '/hook': {
      // As a receiver verifies Latchkey's signature: t=<unix>,v1=<hex HMAC(secret, "t.body")>.
      const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(String(req.headers['x-latchkey-signature'] ?? ''));
      const expected = m ? createHmac('sha256', SIGNING).update(`${m[1]}.`).update(body).digest('hex') : '';
      return m && same(m[2], expected) ? { status: 204, body: '' } : { status: 401, body: 'bad signature' };
    }
    case '/echo': {
      const all = JSON.stringify({ url: req.url, headers: req.headers, body: body.toString() });
      // Every way an echo service might hand the request back, headers included.
      return {
        status: 200,
        headers: { 'content-type': 'application/json', 'x-echo-auth': String(auth ?? ''), 'x-echo-key': String(req.headers['x-api-key'] ?? '') },
        body: JSON.stringify({ plain: all, b64: Buffer.from(all).toString('base64'), hex: Buffer.from(all).toString('hex'), url: encodeURIComponent(all) }),
      };
    }
    case '/big':
      return { status: 200, headers: { 'content-type': 'text/plain', 'content-length': '70000' }, body: 'x'.repeat(70_000) };
    case '/moved':
      return { status: 302, headers: { location: 'http://elsewhere.invalid/steal' }, body: '' };
    default:
      return { status: 404, body: 'none' };
  }
}

async function credential(body: Record<string, unknown>): Promise<string> {
  const r = await s.request('POST', '/v1/credentials', { body: { name: `proxy ${randomBytes(4).toString('hex')}`, ...body } });
  assert.equal(r.status, 201, r.text);
  return r.body.id as string;
}

function use(id: string, path: string, opts: { method?: string; key?: string; target?: string; body?: string; headers?: Record<string, string> } = {}) {
  return s.request(opts.method ?? 'GET', `/v1/credentials/${id}/proxy${path}`, {
    ...(opts.key !== undefined ? { key: opts.key } : {}),
    headers: { 'x-latchkey-target': opts.target ?? `http://localhost:${port}`, ...opts.headers },
    ...(opts.body !== undefined ? { rawBody: opts.body } : {}),
  });
}

async function key(role: string): Promise<string> {
  const r = await s.request('POST', '/v1/access-keys', {
    body: { name: `${role} ${randomBytes(3).toString('hex')}`, type: 'api', role, team_ids: [], expires_at: null },
  });
  assert.equal(r.status, 201, r.text);
  return r.body.key as string;
}

before(async () => {
  const handle: RequestListener = (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      // Never answers: the proxy's deadline must.
      if (req.url === '/hang') return;
      if (req.url === '/split') {
        // The key comes back cut in two, in chunks written apart: the scrubber must hold the first part back.
        const key = String(req.headers['x-api-key'] ?? '');
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write(`before ${key.slice(0, 7)}`);
        setTimeout(() => res.end(`${key.slice(7)} after`), 30);
        return;
      }
      if (req.url === '/big-stream') {
        // No declared length: the limit is found only while streaming.
        res.writeHead(200, { 'content-type': 'text/plain' });
        for (let i = 0; i < 10; i++) res.write('y'.repeat(10_000));
        res.end();
        return;
      }
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      const a = answer(req, body);
      res.writeHead(a.status, a.headers).end(a.body);
    });
  };
  target = createServer(handle);
  port = await listen(target);
  const dir = tempDir('latchkey-proxy-tls-');
  const trusted = selfSigned(dir, 'trusted');
  tls = createTlsServer({ key: trusted.key, cert: trusted.cert }, handle);
  tlsPort = await listen(tls);
  const other = selfSigned(dir, 'other');
  untrusted = createTlsServer({ key: other.key, cert: other.cert }, handle);
  untrustedPort = await listen(untrusted);
  s = await startServer({
    env: {
      LATCHKEY_EGRESS_ALLOW: '127.0.0.1/32',
      LATCHKEY_PROXY_TIMEOUT_MS: '5000',
      LATCHKEY_PROXY_MAX_RESPONSE_BYTES: '65536',
      NODE_EXTRA_CA_CERTS: trusted.certFile,
    },
  });
});

after(async () => {
  await s?.stop();
  for (const server of [target, tls, untrusted]) {
    server?.closeAllConnections();
    server?.close();
  }
});

const here = () => [`localhost:${port}`];

describe('proxy: each injection kind is accepted by a target that checks it', () => {
  it("api_key in a header; the caller's own Authorization and Latchkey headers never reach the target", async () => {
    const id = await credential({ type: 'api_key', config: { placement: 'header', name: 'X-Api-Key' }, secret: { value: HEADER_KEY }, allowed_hosts: here() });
    const r = await use(id, '/v1/header', { headers: { 'x-latchkey-note': 'mine', 'x-request-id': 'req-from-caller-1', 'x-forwarded-for': '10.9.8.7' } });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.body, { ok: 'header' });
    const got = seen.at(-1)!;
    assert.equal(got.headers.authorization, undefined);
    assert.equal(got.headers['x-latchkey-note'], undefined);
    assert.equal(got.headers['x-latchkey-target'], undefined);
    assert.equal(got.headers['x-request-id'], undefined);
    assert.equal(got.headers['x-forwarded-for'], undefined);
    assert.equal(got.headers['accept-encoding'], 'identity');
    assert.ok(!JSON.stringify(got.headers).includes(s.ownerKey), "the caller's key went to the target");
  });

  it('api_key in the query, replacing a parameter of that name the caller sent', async () => {
    const id = await credential({ type: 'api_key', config: { placement: 'query', name: 'api_key' }, secret: { value: QUERY_KEY }, allowed_hosts: here() });
    const r = await use(id, '/v1/query?page=2&api_key=forged');
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.body, { ok: 'query' });
  });

  it('basic (user name from config, password from the secret)', async () => {
    const id = await credential({ type: 'basic', config: { username: 'acct-7' }, secret: { password: PASSWORD }, allowed_hosts: here() });
    const r = await use(id, '/v1/basic');
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.body, { ok: 'basic' });
  });

  it('bearer', async () => {
    const id = await credential({ type: 'sendgrid', config: {}, secret: { api_key: BEARER }, allowed_hosts: here() });
    const r = await use(id, '/v1/bearer', { method: 'POST', body: '{"to":"x"}', headers: { 'content-type': 'application/json' } });
    assert.equal(r.status, 200, r.text);
    assert.equal(seen.at(-1)!.body.toString(), '{"to":"x"}');
  });

  it('oauth2 bearer: a token that is due is fetched first (client_credentials), then sent', async () => {
    const id = await credential({
      type: 'oauth2',
      config: { grant_type: 'client_credentials', client_id: 'client-1', token_endpoint: `http://localhost:${port}/token` },
      secret: { client_secret: CLIENT_SECRET },
      allowed_hosts: here(),
    });
    const before = tokenCalls;
    const r = await use(id, '/v1/oauth-api');
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.body, { ok: 'oauth' });
    assert.equal(tokenCalls, before + 1);
    // The token is fresh now: the next use does not fetch again.
    assert.equal((await use(id, '/v1/oauth-api')).status, 200);
    assert.equal(tokenCalls, before + 1);
  });

  it('concurrent uses of a token that is due fetch it once', async () => {
    const id = await credential({
      type: 'oauth2',
      config: { grant_type: 'client_credentials', client_id: 'client-1', token_endpoint: `http://localhost:${port}/token` },
      secret: { client_secret: CLIENT_SECRET },
      allowed_hosts: here(),
    });
    const before = tokenCalls;
    const all = await Promise.all(Array.from({ length: 6 }, () => use(id, '/v1/oauth-api')));
    assert.deepEqual(
      all.map((r) => r.status),
      [200, 200, 200, 200, 200, 200],
    );
    assert.equal(tokenCalls, before + 1);
  });

  it('oauth2 derived token: the access token (fetched first when due), never the client secret', async () => {
    const id = await credential({
      type: 'oauth2',
      config: { grant_type: 'client_credentials', client_id: 'client-1', token_endpoint: `http://localhost:${port}/token` },
      secret: { client_secret: CLIENT_SECRET },
      allowed_hosts: here(),
    });
    const r = await s.request('POST', `/v1/credentials/${id}/token`, { key: await key('service') });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.kind, 'oauth2_access_token');
    assert.deepEqual(r.body.token, { access_token: ISSUED });
    assert.ok(Date.parse(r.body.expires_at) > Date.now());
    assertNoSecret({ 'token answer': r.text }, [CLIENT_SECRET]);
  });

  it('webhook: an HMAC signature over the body as received', async () => {
    const id = await credential({
      type: 'webhook',
      config: { url: `http://localhost:${port}/hook` },
      secret: { signing_secret: SIGNING },
      allowed_hosts: here(),
    });
    const r = await use(id, '/hook', { method: 'POST', body: '{"event":"paid","amount":12}', headers: { 'content-type': 'application/json' } });
    assert.equal(r.status, 204, r.text);
    // Signed over other bytes, the same signature fails at the target: it is the body's.
    const sig = String(seen.at(-1)!.headers['x-latchkey-signature']);
    const forged = await fetch(`http://127.0.0.1:${port}/hook`, {
      method: 'POST',
      headers: { 'x-latchkey-signature': sig },
      body: '{"event":"paid","amount":9999}',
    });
    assert.equal(forged.status, 401);
  });

  it('a type the proxy cannot inject yet is 422, and nothing is sent', async () => {
    const id = await credential({ type: 'text', config: {}, secret: { value: canary('text') }, allowed_hosts: here() });
    const count = seen.length;
    const r = await use(id, '/v1/header');
    assert.equal(r.status, 422, r.text);
    assert.equal(seen.length, count);
  });
});

describe('proxy: destinations', () => {
  let id = '';
  before(async () => {
    id = await credential({ type: 'api_key', config: { placement: 'header', name: 'X-Api-Key' }, secret: { value: HEADER_KEY }, allowed_hosts: here() });
  });

  for (const [what, t] of [
    ['a host not listed', () => `http://other.invalid:${port}`],
    ['a listed name with more labels behind it', () => `http://localhost.evil.invalid:${port}`],
    ['the address a listed name resolves to', () => `http://127.0.0.1:${port}`],
    ['the listed name on another port', () => `http://localhost:${port + 1 === 65536 ? 1 : port + 1}`],
  ] as const) {
    it(`refuses ${what} (403, nothing sent)`, async () => {
      const count = seen.length;
      const r = await use(id, '/v1/header', { target: t() });
      assert.equal(r.status, 403, r.text);
      assert.equal(r.body.error.code, 'FORBIDDEN');
      assert.equal(seen.length, count);
    });
  }

  it('proxy_rules: only the methods and path prefixes listed, checked before anything is sent', async () => {
    const ruled = await credential({
      type: 'api_key',
      config: { placement: 'header', name: 'X-Api-Key' },
      secret: { value: HEADER_KEY },
      allowed_hosts: here(),
      proxy_rules: { methods: ['GET'], path_prefixes: ['/v1/header'] },
    });
    assert.equal((await use(ruled, '/v1/header')).status, 200);
    const count = seen.length;
    for (const [method, path] of [
      ['POST', '/v1/header'],
      ['GET', '/v1/headerx'],
      ['GET', '/v1/header/../query'],
      ['GET', '/v1/header/..%2Fquery'],
      ['GET', '/echo'],
    ] as const) {
      const r = await use(ruled, path, { method, ...(method === 'POST' ? { body: 'x' } : {}) });
      assert.equal(r.status, 403, `${method} ${path}: ${r.text}`);
      assert.match(r.body.error.details ?? r.body.error.message, /proxy_rules/);
    }
    assert.equal(seen.length, count, 'a request outside the rules reached the target');
    // Shown with the credential, and changed like any other field.
    const patched = await s.request('PATCH', `/v1/credentials/${ruled}`, { body: { proxy_rules: { methods: ['GET', 'POST'] } } });
    assert.equal(patched.status, 200, patched.text);
    assert.deepEqual(patched.body.proxy_rules, { methods: ['GET', 'POST'] });
    assert.equal((await use(ruled, '/echo', { method: 'POST', body: 'x' })).status, 200);
    const bad = await s.request('PATCH', `/v1/credentials/${ruled}`, { body: { proxy_rules: { methods: ['get'], paths: ['/'] } } });
    assert.equal(bad.status, 422, bad.text);
  });

  it('an empty allowed_hosts allows nothing', async () => {
    const none = await credential({ type: 'api_key', config: {}, secret: { value: HEADER_KEY } });
    const r = await use(none, '/v1/header');
    assert.equal(r.status, 403, r.text);
  });

  it('a redirect is handed to the caller, not followed', async () => {
    const r = await fetch(`${s.url}/v1/credentials/${id}/proxy/moved`, {
      redirect: 'manual',
      headers: { authorization: `Bearer ${s.ownerKey}`, 'x-latchkey-target': `http://localhost:${port}` },
    });
    assert.equal(r.status, 302);
    assert.equal(r.headers.get('location'), 'http://elsewhere.invalid/steal');
  });

  it('a target that never answers is 504, an answer over the size limit 502, both in the envelope', async () => {
    const hung = await use(id, '/hang');
    assert.equal(hung.status, 504, hung.text);
    assert.equal(hung.body.error.code, 'UPSTREAM_TIMEOUT');
    const big = await use(id, '/big');
    assert.equal(big.status, 502, big.text);
    assert.equal(big.body.error.code, 'UPSTREAM_FAILED');
    // Past the limit mid-stream the answer is cut off: never a complete 200.
    const streamed = await use(id, '/big-stream').then(
      (r) => `${r.status} ${r.text.length}`,
      () => 'cut off',
    );
    assert.notEqual(streamed, '200 100000');
    // The result is written after the answer went out: it may be a moment behind it.
    let reasons: string[] = [];
    for (let tries = 0; tries < 200 && !reasons.some((r) => r.includes('/big-stream -> 200 too_large')); tries++) {
      await new Promise((r) => setTimeout(r, 50));
      const results = await s.request('GET', `/v1/audit-events?per_page=100&filter[credential_id]=${id}`);
      reasons = results.body.data.filter((e: { action: string }) => e.action === 'credential.use_result').map((e: { reason: string }) => e.reason);
    }
    assert.ok(
      reasons.some((r) => r.includes('/big-stream -> 200 too_large')),
      reasons.join('\n'),
    );
  });

  it('a credential that names a header the connection owns is refused, and nothing is sent', async () => {
    const bad = await credential({
      type: 'api_key',
      config: { placement: 'header', name: 'Content-Length' },
      secret: { value: HEADER_KEY },
      allowed_hosts: here(),
    });
    const count = seen.length;
    const r = await use(bad, '/v1/header');
    assert.equal(r.status, 409, r.text);
    assert.equal(seen.length, count);
    // Refused before the secret was opened: no use was recorded as made.
    const events = await s.request('GET', `/v1/audit-events?per_page=100&filter[credential_id]=${bad}`);
    assert.equal(events.body.data.filter((e: { action: string }) => e.action === 'credential.use').length, 0, events.text);
  });

  it('https: a target whose certificate checks out is reached; one that does not is 502 tls_failed', async () => {
    const good = await credential({ type: 'sendgrid', config: {}, secret: { api_key: BEARER }, allowed_hosts: [`localhost:${tlsPort}`] });
    const r = await use(good, '/v1/bearer', { target: `https://localhost:${tlsPort}` });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.body, { ok: 'bearer' });
    const bad = await credential({ type: 'sendgrid', config: {}, secret: { api_key: BEARER }, allowed_hosts: [`localhost:${untrustedPort}`] });
    const count = seen.length;
    const refused = await use(bad, '/v1/bearer', { target: `https://localhost:${untrustedPort}` });
    assert.equal(refused.status, 502, refused.text);
    assert.equal(refused.body.error.code, 'UPSTREAM_FAILED');
    assert.match(refused.body.error.details, /tls_failed/);
    assert.equal(seen.length, count, 'the request went out over a connection whose certificate did not check');
  });

  it('a target that does not answer is 502 in the envelope', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const p = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const other = await credential({ type: 'api_key', config: {}, secret: { value: HEADER_KEY }, allowed_hosts: [`localhost:${p}`] });
    const r = await use(other, '/x', { target: `http://localhost:${p}` });
    assert.equal(r.status, 502, r.text);
    assert.equal(r.body.error.code, 'UPSTREAM_FAILED');
  });
});

describe('proxy: a target that echoes the request', () => {
  it('hands back no form of any injected secret, in the body or the headers', async () => {
    const ids = [
      await credential({ type: 'api_key', config: { placement: 'header', name: 'X-Api-Key' }, secret: { value: HEADER_KEY }, allowed_hosts: here() }),
      await credential({ type: 'api_key', config: { placement: 'query', name: 'api_key' }, secret: { value: QUERY_KEY }, allowed_hosts: here() }),
      await credential({ type: 'basic', config: { username: 'acct-7' }, secret: { password: PASSWORD }, allowed_hosts: here() }),
      await credential({ type: 'sendgrid', config: {}, secret: { api_key: BEARER }, allowed_hosts: here() }),
    ];
    for (const id of ids) {
      const r = await use(id, '/echo?x=1', { method: 'POST', body: 'hello' });
      assert.equal(r.status, 200, r.text);
      // The echo did receive the secret (so the test can fail) ...
      const received = JSON.stringify(seen.at(-1)!.headers) + seen.at(-1)!.url;
      assert.ok(
        SECRETS.some((x) => received.includes(x) || received.includes(Buffer.from(`acct-7:${x}`).toString('base64'))),
        'the echo target got no credential',
      );
      // ... and the caller got none of it back.
      assertNoSecret({ 'echo body': r.text, 'echo headers': JSON.stringify([...r.headers]) }, SECRETS);
      assert.match(r.text, /\[REDACTED\]/);
    }
    await assertServerHoldsNoSecret(s, SECRETS);
  });

  it('catches a key split across two chunks of the answer', async () => {
    const id = await credential({ type: 'api_key', config: { placement: 'header', name: 'X-Api-Key' }, secret: { value: HEADER_KEY }, allowed_hosts: here() });
    const r = await use(id, '/split');
    assert.equal(r.status, 200, r.text);
    assert.equal(r.text, 'before [REDACTED] after');
  });

  it('catches a key of spaces, quotes, brackets and non-ASCII letters in each URL encoding', async () => {
    const odd = `p w!'()~*é€ ${canary('odd')}`;
    const id = await credential({ type: 'api_key', config: { placement: 'query', name: 'k' }, secret: { value: odd }, allowed_hosts: here() });
    const r = await use(id, '/echo', { method: 'POST', body: 'hello' });
    assert.equal(r.status, 200, r.text);
    // The target got it form-encoded (`+`, `%21`), as URLSearchParams writes a query.
    const sent = new URLSearchParams({ k: odd }).toString().slice(2);
    assert.ok(seen.at(-1)!.url.includes(sent), seen.at(-1)!.url);
    for (const form of [odd, sent, encodeURIComponent(odd), Buffer.from(odd).toString('hex'), Buffer.from(odd).toString('base64')]) {
      assert.ok(!r.text.includes(form), `the answer holds ${form}`);
    }
    assertNoSecret({ 'echo body': r.text }, [odd]);
    // In a header Node writes each character as one byte (latin1); the echo sends it back so.
    const accented = `clé-ñü ${canary('latin1')}`;
    const inHeader = await credential({
      type: 'api_key',
      config: { placement: 'header', name: 'X-Api-Key' },
      secret: { value: accented },
      allowed_hosts: here(),
    });
    const h = await use(inHeader, '/echo', { method: 'POST', body: 'hello' });
    assert.equal(h.status, 200, h.text);
    assert.equal(seen.at(-1)!.headers['x-api-key'], accented, 'the target got the key as sent');
    assert.equal(h.headers.get('x-echo-key'), '[REDACTED]');
    assert.ok(!h.text.includes(accented), h.text);
    await assertServerHoldsNoSecret(s, [odd, accented]);
  });
});

describe('proxy: who may use', () => {
  it('service and agent can use, agent cannot reveal; member can neither; every use is audited', async () => {
    const id = await credential({
      type: 'api_key',
      config: { placement: 'header', name: 'X-Api-Key' },
      secret: { value: HEADER_KEY },
      allowed_hosts: here(),
      read_access: 'GLOBAL',
    });
    const service = await key('service');
    const member = await key('member');
    const ok = await use(id, '/v1/header', { key: service });
    assert.equal(ok.status, 200, ok.text);
    // `agent` may use and not reveal; `service` may do both (the source documents give it reveal).
    const agent = await key('agent');
    assert.equal((await use(id, '/v1/header', { key: agent })).status, 200);
    const reveal = await s.request('GET', `/v1/credentials/${id}/secret`, { key: agent });
    assert.equal(reveal.status, 403, reveal.text);
    assertNoSecret({ 'agent reveal': reveal.text }, [HEADER_KEY]);
    const count = seen.length;
    const refused = await use(id, '/v1/header', { key: member });
    assert.equal(refused.status, 403, refused.text);
    assert.equal(seen.length, count);
    assert.equal((await s.request('GET', `/v1/credentials/${id}/secret`, { key: member })).status, 403);
    const admin = await key('admin');
    assert.equal((await use(id, '/v1/header', { key: admin })).status, 403, 'admin lacks credentials:use');

    const events = await s.request('GET', `/v1/audit-events?per_page=100&filter[credential_id]=${id}`);
    assert.equal(events.status, 200, events.text);
    const actions = events.body.data.map((e: { action: string; outcome: string; reason: string | null }) => `${e.action} ${e.outcome} ${e.reason ?? ''}`);
    assert.ok(
      actions.some((a: string) => a.startsWith(`credential.use success GET localhost:${port}/v1/header`)),
      actions.join('\n'),
    );
    assert.ok(
      actions.some((a: string) => /^credential\.use_result success GET localhost:\d+\/v1\/header -> 200 ok, \d+ bytes, \d+ ms$/.test(a)),
      actions.join('\n'),
    );
    assert.ok(
      actions.some((a: string) => a.startsWith('credential.use denied')),
      actions.join('\n'),
    );
  });

  it('the SDK: fetchWith(credential, url, init) is fetch through the proxy', async () => {
    const id = await credential({
      type: 'webhook',
      config: { url: `http://localhost:${port}/hook` },
      secret: { signing_secret: SIGNING },
      allowed_hosts: here(),
    });
    const lk = new Latchkey({ baseUrl: s.url, apiKey: await key('service') });
    const res = await lk.fetchWith(id, `http://localhost:${port}/hook`, {
      method: 'POST',
      body: '{"event":"sdk"}',
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(res.status, 204, await res.text());
    const moved = await lk.fetchWith(id, `http://localhost:${port}/moved`);
    assert.equal(moved.status, 302);
    const refused = await lk.fetchWith(id, `http://elsewhere.invalid/hook`);
    assert.equal(refused.status, 403);
    assert.equal(((await refused.json()) as { error: { code: string } }).error.code, 'FORBIDDEN');
  });

  it('the CLI: latchkey request is curl through the proxy', async () => {
    const id = await credential({ type: 'basic', config: { username: 'acct-7' }, secret: { password: PASSWORD }, allowed_hosts: here() });
    const env = { LATCHKEY_URL: s.url, LATCHKEY_TOKEN: await key('service'), HOME: tempDir('latchkey-proxy-cli-') };
    const ok = await runCli(['request', '--credential', id, '-i', `http://localhost:${port}/v1/basic`], env);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /^HTTP 200 /);
    assert.match(ok.stdout, /\{"ok":"basic"\}$/);
    const echoed = await runCli(['request', '--credential', id, '-X', 'PUT', '-H', 'x-extra: 1', '-d', 'payload', `http://localhost:${port}/echo`], env);
    assert.equal(echoed.code, 0, echoed.stderr);
    assert.equal(seen.at(-1)!.method, 'PUT');
    assert.equal(seen.at(-1)!.body.toString(), 'payload');
    assertNoSecret({ 'cli stdout': echoed.stdout, 'cli stderr': echoed.stderr }, [PASSWORD]);
    const refused = await runCli(['request', '--credential', id, `http://localhost:${port}/nothing`], env);
    assert.equal(refused.code, 22, refused.stderr);
  });

  it('counts uses in /metrics', async () => {
    const m = await s.request('GET', '/metrics', { key: null });
    assert.match(m.text, /latchkey_proxy_requests_total\{injection="from_config",outcome="ok"\} \d+/);
  });
});
