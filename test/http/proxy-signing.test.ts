import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { execFileSync, spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, Server } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { join, resolve } from 'node:path';
import { jwtVerify, decodeProtectedHeader } from 'jose';
import { runCli, startServer, type TestServer } from '../support/server.ts';
import { assertNoSecret, assertServerHoldsNoSecret, canary } from '../support/canary.ts';
import { waitForAttempts } from '../support/refusals.ts';
import { tempDir } from '../support/temp.ts';

/*
 * The proxy's injections that are computed rather than copied (issue 27): AWS Signature Version
 * 4 (a stored key, and the session of a role assumed through STS), a JWT minted per credential,
 * and a client certificate at the TLS handshake. Each target is a real HTTPS server on loopback
 * that checks the credential as the real service would: SigV4 by botocore (an implementation
 * other than the signer), the STS stand-in likewise before it issues session credentials, JWTs
 * by jose against the public key, client certificates by Node's TLS against the test CA.
 */

const VERIFY = resolve(import.meta.dirname, '../support/sigv4-verify.py');
const akid = (prefix: 'AKIA' | 'ASIA') => `${prefix}${randomBytes(8).toString('hex').toUpperCase()}`;

interface AwsKey {
  id: string;
  secret: string;
  token: string | null;
}
/** Keys the AWS stand-ins accept, by access key id: the stored ones and the sessions STS issued. */
const keys = new Map<string, AwsKey>();
const SOURCE: AwsKey = { id: akid('AKIA'), secret: canary('aws-secret'), token: null };
const TEMP: AwsKey = { id: akid('ASIA'), secret: canary('aws-temp'), token: canary('aws-token') };
keys.set(SOURCE.id, SOURCE).set(TEMP.id, TEMP);
const ROLE_ARN = 'arn:aws:iam::123456789012:role/latchkey-test';
const EXTERNAL_ID = 'ext-7f3a';
const issued: string[] = [];
const CHAIN_PASSWORD = canary('chain-pw');
const chainTokens: string[] = [];
let chainCalls = 0;
let stsCalls = 0;

interface Seen {
  path: string;
  headers: IncomingMessage['headers'];
  verdict: string;
  jti?: string;
  cn?: string;
}
const seen: Seen[] = [];
const jwtKeys = new Map<string, { alg: string; key: KeyObject | Uint8Array }>();

let s: TestServer;
let target: Server;
let sts: Server;
let mtls: Server;
let port = 0;
let stsPort = 0;
let mtlsPort = 0;
let certs: { serverCert: string; clientCert: string; clientKey: string; otherCert: string; otherKey: string };

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((ok) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => ok(Buffer.concat(chunks)));
  });
}

/** One botocore process for the file, answering a line per request in order. */
let verifier: ChildProcessWithoutNullStreams;
const waiting: Array<(verdict: string) => void> = [];
function startVerifier(): void {
  // The python on PATH may be a pyenv one with its own botocore; Debian's python3-botocore (what
  // .ci/run installs when neither has it) is importable only by /usr/bin/python3.
  const python = ['python3', '/usr/bin/python3'].find((p) => spawnSync(p, ['-c', 'import botocore']).status === 0);
  assert.ok(python, 'botocore is needed to check SigV4 signatures: apt-get install python3-botocore');
  verifier = spawn(python, [VERIFY]);
  verifier.stderr.pipe(process.stderr);
  createInterface({ input: verifier.stdout }).on('line', (line) => waiting.shift()?.(line.trim()));
}

/** botocore's verdict on the request's signature, for the key its Authorization names. */
function sigv4Verdict(req: Pick<IncomingMessage, 'method' | 'url' | 'headers'>, body: Buffer, service: string, region: string): Promise<string> {
  const id = /Credential=([A-Z0-9]+)\//.exec(String(req.headers.authorization ?? ''))?.[1] ?? '';
  const key = keys.get(id);
  if (!key) return Promise.resolve('bad: unknown access key');
  return new Promise((ok) => {
    waiting.push(ok);
    verifier.stdin.write(
      `${JSON.stringify({
        method: req.method,
        url: req.url,
        headers: req.headers,
        body_b64: body.toString('base64'),
        access_key_id: key.id,
        secret_access_key: key.secret,
        session_token: key.token,
        service,
        region,
      })}\n`,
    );
  });
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as AddressInfo).port;
}

function openssl(dir: string, ...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
}

/** A server certificate for localhost (trusted by the server through NODE_EXTRA_CA_CERTS), a client CA, a client certificate it signed and one it did not. */
function makeCerts(dir: string) {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(
    dir,
    'req',
    '-x509',
    ...ec,
    '-keyout',
    'server.key',
    '-out',
    'server.pem',
    '-days',
    '2',
    '-subj',
    '/CN=localhost',
    '-addext',
    'subjectAltName=DNS:localhost',
  );
  openssl(dir, 'req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=Latchkey Test Client CA');
  openssl(dir, 'req', ...ec, '-keyout', 'client.key', '-out', 'client.csr', '-subj', '/CN=latchkey-client');
  openssl(dir, 'x509', '-req', '-in', 'client.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'client.pem', '-days', '2');
  openssl(dir, 'req', '-x509', ...ec, '-keyout', 'other.key', '-out', 'other.pem', '-days', '2', '-subj', '/CN=latchkey-client');
  const r = (f: string) => readFileSync(join(dir, f), 'utf8');
  return {
    serverKey: r('server.key'),
    serverCert: r('server.pem'),
    caCert: r('ca.pem'),
    clientCert: r('client.pem'),
    clientKey: r('client.key'),
    otherCert: r('other.pem'),
    otherKey: r('other.key'),
  };
}

const xmlSession = (k: AwsKey, expiration: string) => `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleResult>
    <Credentials><AccessKeyId>${k.id}</AccessKeyId><SecretAccessKey>${k.secret}</SecretAccessKey><SessionToken>${k.token}</SessionToken><Expiration>${expiration}</Expiration></Credentials>
    <AssumedRoleUser><Arn>${ROLE_ARN}/s</Arn><AssumedRoleId>AROA:s</AssumedRoleId></AssumedRoleUser>
  </AssumeRoleResult>
  <ResponseMetadata><RequestId>${randomBytes(8).toString('hex')}</RequestId></ResponseMetadata>
</AssumeRoleResponse>`;

before(async () => {
  startVerifier();
  const dir = tempDir('latchkey-signing-');
  const c = makeCerts(dir);
  certs = c;
  target = createTlsServer({ key: c.serverKey, cert: c.serverCert }, (req, res) => {
    void readBody(req).then(async (body) => {
      const url = new URL(req.url ?? '/', 'https://target');
      let verdict = 'bad: no route';
      let jti: string | undefined;
      if (url.pathname.startsWith('/aws/')) {
        // /aws/<service>/<region>/…: the scope the target expects, as AWS's endpoint would.
        const [, , service = '', region = ''] = url.pathname.split('/');
        verdict = await sigv4Verdict(req, body, service, region);
      } else if (url.pathname === '/jwt') {
        try {
          const token = String(req.headers.authorization ?? '').replace(/^Bearer /, '');
          const k = jwtKeys.get(String(decodeProtectedHeader(token).kid));
          if (!k) throw new Error('unknown kid');
          const { payload } = await jwtVerify(token, k.key, { algorithms: [k.alg], issuer: 'latchkey-test', audience: 'https://api.example.test' });
          if (payload.sub !== 'svc-1' || payload.scope !== 'read write') throw new Error('claims');
          jti = payload.jti;
          verdict = 'ok';
        } catch (err) {
          verdict = `bad: ${(err as Error).message}`;
        }
      } else if (url.pathname === '/chain/login') {
        // A login that wants the stored password in a JSON body, and answers a session.
        chainCalls++;
        const sent = JSON.parse(body.toString() || '{}') as { user?: string; password?: string };
        if (sent.user !== 'u1' || sent.password !== CHAIN_PASSWORD)
          return res.writeHead(401, { 'content-type': 'application/json' }).end(`{"error":"bad password ${sent.password}"}`);
        return res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ session: { 'id/x': `S-${randomBytes(4).toString('hex')}` } }));
      } else if (url.pathname === '/chain/token') {
        const session = url.searchParams.get('session') ?? '';
        if (!session.startsWith('S-') || req.headers['x-session'] !== session) return res.writeHead(401).end('{}');
        const token = canary('chain-token');
        chainTokens.push(token);
        return res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ data: [{ access_token: token }] }));
      } else if (url.pathname === '/chain/api') {
        verdict =
          chainTokens.includes(String(req.headers.authorization ?? '').replace(/^Bearer /, '')) && url.searchParams.get('v') === 'x' ? 'ok' : 'bad: token';
      } else if (url.pathname === '/chain/broken') {
        return res.writeHead(500, { 'content-type': 'text/plain' }).end(`failed for ${body.toString()}`);
      } else if (url.pathname === '/echo') {
        verdict = 'ok';
      }
      seen.push({ path: url.pathname, headers: req.headers, verdict, ...(jti !== undefined ? { jti } : {}) });
      if (url.pathname === '/echo') return res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ headers: req.headers }));
      res.writeHead(verdict === 'ok' ? 200 : 403, { 'content-type': 'text/plain' }).end(verdict);
    });
  });
  port = await listen(target);

  // The STS stand-in: AssumeRole signed by the stored key, for the role and external id, or nothing.
  sts = createTlsServer({ key: c.serverKey, cert: c.serverCert }, (req, res) => {
    void readBody(req).then(async (body) => {
      stsCalls++;
      const verdict = await sigv4Verdict(req, body, 'sts', 'eu-west-1');
      const form = new URLSearchParams(body.toString());
      const ok =
        verdict === 'ok' &&
        form.get('Action') === 'AssumeRole' &&
        form.get('Version') === '2011-06-15' &&
        form.get('RoleArn') === ROLE_ARN &&
        form.get('ExternalId') === EXTERNAL_ID &&
        /^[\w+=,.@-]{2,64}$/.test(form.get('RoleSessionName') ?? '');
      if (!ok) {
        res
          .writeHead(403, { 'content-type': 'text/xml' })
          .end(`<ErrorResponse><Error><Code>AccessDenied</Code><Message>${verdict} ${body.toString()}</Message></Error></ErrorResponse>`);
        return;
      }
      const session: AwsKey = { id: akid('ASIA'), secret: canary('sts-secret'), token: canary('sts-token') };
      keys.set(session.id, session);
      issued.push(session.secret, session.token!);
      res.writeHead(200, { 'content-type': 'text/xml' }).end(xmlSession(session, new Date(Date.now() + 3600_000).toISOString()));
    });
  });
  stsPort = await listen(sts);

  // Requires a client certificate signed by the test CA at the handshake; answers with its CN.
  mtls = createTlsServer({ key: c.serverKey, cert: c.serverCert, ca: c.caCert, requestCert: true, rejectUnauthorized: true }, (req, res) => {
    const peer = (req.socket as TLSSocket).getPeerCertificate();
    seen.push({ path: req.url ?? '', headers: req.headers, verdict: 'ok', cn: String(peer.subject?.CN) });
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ cn: peer.subject?.CN }));
  });
  mtlsPort = await listen(mtls);

  s = await startServer({
    env: {
      LATCHKEY_EGRESS_ALLOW: '127.0.0.1/32',
      NODE_EXTRA_CA_CERTS: join(dir, 'server.pem'),
      LATCHKEY_AWS_STS_ENDPOINT: `https://localhost:${stsPort}/`,
      // The stand-ins check each signature with botocore; a loaded machine must not turn that into a timeout.
      LATCHKEY_EGRESS_TIMEOUT_MS: '60000',
    },
  });
});

after(async () => {
  verifier?.stdin.end();
  await s?.stop();
  for (const server of [target, sts, mtls]) {
    server?.closeAllConnections();
    server?.close();
  }
});

async function credential(body: Record<string, unknown>): Promise<string> {
  const r = await s.request('POST', '/v1/credentials', {
    body: { name: `signing ${randomBytes(4).toString('hex')}`, allowed_hosts: [`localhost:${port}`, `localhost:${mtlsPort}`], ...body },
  });
  assert.equal(r.status, 201, r.text);
  return r.body.id as string;
}

function use(id: string, path: string, opts: { method?: string; body?: string; headers?: Record<string, string>; to?: number } = {}) {
  return s.request(opts.method ?? 'GET', `/v1/credentials/${id}/proxy${path}`, {
    headers: { 'x-latchkey-target': `https://localhost:${opts.to ?? port}`, ...opts.headers },
    ...(opts.body !== undefined ? { rawBody: opts.body } : {}),
  });
}

describe('proxy: AWS Signature Version 4, checked by botocore', () => {
  it('aws KEY: method, path, query, headers and body are signed as AWS expects', async () => {
    const id = await credential({
      type: 'aws',
      config: { authentication_type: 'KEY', access_key_id: SOURCE.id, region: 'eu-west-1', service: 'execute-api' },
      secret: { secret_access_key: SOURCE.secret },
    });
    const r = await use(id, '/aws/execute-api/eu-west-1/items/a%20b?b=2&a=x%2Fy&empty=', {
      method: 'POST',
      body: '{"item":"ü"}',
      headers: { 'content-type': 'application/json', 'x-amz-target': 'Svc.Op', 'x-amz-date': '20000101T000000Z' },
    });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.text, 'ok');
    // The caller's own x-amz-date was not what went out: the signer's was.
    assert.notEqual(seen.at(-1)!.headers['x-amz-date'], '20000101T000000Z');
    assert.match(String(seen.at(-1)!.headers['authorization']), /SignedHeaders=content-type;host;x-amz-date;x-amz-target,/);
  });

  it('a signature over other bytes fails at the target (the check can fail)', async () => {
    const id = await credential({
      type: 'aws',
      config: { access_key_id: SOURCE.id, region: 'eu-west-1', service: 'execute-api' },
      secret: { secret_access_key: SOURCE.secret },
    });
    assert.equal((await use(id, '/aws/execute-api/eu-west-1/x', { method: 'PUT', body: 'one' })).status, 200);
    const sent = seen.at(-1)!;
    const request = { method: 'PUT', url: '/aws/execute-api/eu-west-1/x', headers: sent.headers };
    assert.equal(await sigv4Verdict(request, Buffer.from('one'), 'execute-api', 'eu-west-1'), 'ok');
    assert.equal(await sigv4Verdict(request, Buffer.from('two'), 'execute-api', 'eu-west-1'), 'bad: bad signature');
    assert.equal(await sigv4Verdict({ ...request, url: '/aws/execute-api/eu-west-1/y' }, Buffer.from('one'), 'execute-api', 'eu-west-1'), 'bad: bad signature');
    const wrongScope = await use(id, '/aws/s3/eu-west-1/x');
    assert.equal(wrongScope.status, 403, 'signed for execute-api, checked as s3');
  });

  it('aws-ses with a session token: signed for ses in the region of config, token sent and signed', async () => {
    const id = await credential({
      type: 'aws-ses',
      config: { access_key_id: TEMP.id, region: 'us-west-2' },
      secret: { secret_access_key: TEMP.secret, session_token: TEMP.token },
    });
    const r = await use(id, '/aws/ses/us-west-2/v2/email/outbound-emails', {
      method: 'POST',
      body: '{"Content":{}}',
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(r.status, 200, r.text);
    assert.equal(seen.at(-1)!.headers['x-amz-security-token'], TEMP.token);
  });

  it('a target whose signing scope cannot be known is 422, and nothing is sent', async () => {
    const id = await credential({ type: 'aws', config: { access_key_id: SOURCE.id }, secret: { secret_access_key: SOURCE.secret } });
    const count = seen.length;
    const r = await use(id, '/aws/x/y/z');
    assert.equal(r.status, 422, r.text);
    assert.match(r.text, /config\.service and config\.region/);
    assert.equal(seen.length, count);
  });

  it('INSTANCE_PROFILE is refused: the server does not lend its own role', async () => {
    const id = await credential({ type: 'aws', config: { authentication_type: 'INSTANCE_PROFILE', region: 'eu-west-1', service: 'execute-api' }, secret: {} });
    const r = await use(id, '/aws/execute-api/eu-west-1/x');
    assert.equal(r.status, 422, r.text);
  });
});

describe('proxy: aws ROLE, assumed through STS with the external id', () => {
  const role = (extra: Record<string, unknown> = {}) =>
    credential({
      type: 'aws',
      config: {
        authentication_type: 'ROLE',
        access_key_id: SOURCE.id,
        role_arn: ROLE_ARN,
        external_id: EXTERNAL_ID,
        region: 'eu-west-1',
        service: 'execute-api',
        ...extra,
      },
      secret: { secret_access_key: SOURCE.secret },
    });

  it('signs with the session credentials STS issued; the stand-in checked the AssumeRole signature and external id', async () => {
    const id = await role();
    const before = stsCalls;
    const r = await use(id, '/aws/execute-api/eu-west-1/role-call');
    assert.equal(r.status, 200, r.text);
    assert.equal(stsCalls, before + 1);
    const sent = seen.at(-1)!;
    const used = /Credential=(ASIA[A-Z0-9]+)\//.exec(String(sent.headers.authorization))?.[1];
    assert.ok(used !== undefined && used !== SOURCE.id, 'signed with the session, not the stored key');
    assert.equal(sent.headers['x-amz-security-token'], keys.get(used)!.token);
    // Cached until shortly before expiry: the next use assumes nothing.
    assert.equal((await use(id, '/aws/execute-api/eu-west-1/role-call')).status, 200);
    assert.equal(stsCalls, before + 1);
  });

  it('concurrent uses of a role not yet assumed: one AssumeRole', async () => {
    const id = await role();
    const before = stsCalls;
    const all = await Promise.all(Array.from({ length: 8 }, () => use(id, '/aws/execute-api/eu-west-1/many')));
    assert.deepEqual(
      all.map((r) => r.status),
      Array(8).fill(200),
    );
    assert.equal(stsCalls, before + 1);
  });

  it('a wrong external id: STS refuses, the caller gets 502 with the category only, nothing reaches the target', async () => {
    const id = await role({ external_id: 'not-the-one' });
    const count = seen.length;
    const r = await use(id, '/aws/execute-api/eu-west-1/x');
    assert.equal(r.status, 502, r.text);
    assert.equal(r.body.error.code, 'UPSTREAM_FAILED');
    assert.match(r.text, /auth_failed \(HTTP 403\)/);
    assert.doesNotMatch(r.text, /AccessDenied|Action=/, 'the remote text reached the caller');
    assert.equal(seen.length, count);
  });

  it('an echo target hands back no form of the stored key, the session key or token', async () => {
    const id = await role();
    const r = await use(id, '/echo', { method: 'POST', body: 'x' });
    assert.equal(r.status, 200, r.text);
    assert.ok(
      issued.some((x) => JSON.stringify(seen.at(-1)!.headers).includes(x)),
      'the echo received a session token',
    );
    assertNoSecret({ body: r.text, headers: JSON.stringify([...r.headers]) }, [SOURCE.secret, ...issued]);
    await assertServerHoldsNoSecret(s, [SOURCE.secret, TEMP.secret, TEMP.token!, ...issued]);
  });
});

describe('proxy: a JWT minted for the request, verified with the public key', () => {
  const claims = { iss: 'latchkey-test', sub: 'svc-1', aud: 'https://api.example.test', scope: 'read write' };
  const pairs: Array<[string, () => { signing: string; verify: KeyObject | Uint8Array }]> = [
    [
      'RS256',
      () => {
        const k = generateKeyPairSync('rsa', { modulusLength: 2048 });
        return { signing: k.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, verify: k.publicKey };
      },
    ],
    [
      'ES256',
      () => {
        const k = generateKeyPairSync('ec', { namedCurve: 'P-256' });
        return { signing: k.privateKey.export({ type: 'sec1', format: 'pem' }) as string, verify: k.publicKey };
      },
    ],
    [
      'EdDSA',
      () => {
        const k = generateKeyPairSync('ed25519');
        return { signing: k.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, verify: createPublicKey(k.privateKey) };
      },
    ],
    [
      'HS256',
      () => {
        const secret = canary('hs256-key-material-32bytes');
        return { signing: secret, verify: new TextEncoder().encode(secret) };
      },
    ],
  ];
  for (const [alg, make] of pairs) {
    it(`${alg}: claims template, kid, iat, exp from ttl_seconds, a jti`, async () => {
      const { signing, verify } = make();
      const kid = `kid-${alg}-${randomBytes(3).toString('hex')}`;
      jwtKeys.set(kid, { alg, key: verify });
      const id = await credential({ type: 'jwt', config: { algorithm: alg, claims, header: { kid }, ttl_seconds: 120 }, secret: { signing_key: signing } });
      const r = await use(id, '/jwt');
      assert.equal(r.status, 200, r.text);
      const token = String(seen.at(-1)!.headers.authorization).replace(/^Bearer /, '');
      const payload = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { iat: number; exp: number; jti: string };
      assert.equal(payload.exp - payload.iat, 120);
      assert.match(payload.jti, /^[0-9a-f-]{36}$/);
    });
  }

  it('concurrent uses of an unminted JWT: one mint (every request carries the same jti)', async () => {
    const k = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const kid = `kid-many-${randomBytes(3).toString('hex')}`;
    jwtKeys.set(kid, { alg: 'ES256', key: k.publicKey });
    const id = await credential({
      type: 'jwt',
      config: { algorithm: 'ES256', claims, header: { kid } },
      secret: { signing_key: k.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string },
    });
    const count = seen.length;
    const all = await Promise.all(Array.from({ length: 8 }, () => use(id, '/jwt')));
    assert.deepEqual(
      all.map((r) => r.status),
      Array(8).fill(200),
    );
    const jtis = new Set(seen.slice(count).map((x) => x.jti));
    assert.equal(jtis.size, 1, `minted ${jtis.size} tokens`);
  });

  it('a signing key that does not fit the algorithm is 409, and nothing is sent', async () => {
    const id = await credential({ type: 'jwt', config: { algorithm: 'RS256', claims }, secret: { signing_key: canary('not-a-pem') } });
    const count = seen.length;
    const r = await use(id, '/jwt');
    assert.equal(r.status, 409, r.text);
    assert.equal(seen.length, count);
  });
});

describe('proxy: a client certificate at the TLS handshake (mtls)', () => {
  it('the target that requires a certificate from its CA accepts the stored one', async () => {
    const id = await credential({
      type: 'mtls',
      config: { certificate: certs.clientCert, ca_certificate: certs.serverCert },
      secret: { private_key: certs.clientKey },
    });
    const r = await use(id, '/who', { to: mtlsPort });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.body, { cn: 'latchkey-client' });
  });

  it("a certificate the target's CA did not sign fails the handshake: 502 tls_failed", async () => {
    const id = await credential({ type: 'mtls', config: { certificate: certs.otherCert }, secret: { private_key: certs.otherKey } });
    const count = seen.length;
    const r = await use(id, '/who', { to: mtlsPort });
    assert.equal(r.status, 502, r.text);
    assert.equal(seen.length, count);
  });

  it('config.server_name is the name the certificate is checked against: the wrong one fails the handshake', async () => {
    const body = (name: string) => ({
      type: 'mtls',
      config: { certificate: certs.clientCert, ca_certificate: certs.serverCert, server_name: name },
      secret: { private_key: certs.clientKey },
    });
    // The target's certificate names localhost only; sent to localhost but told to expect another name, the proxy refuses it.
    const wrong = await credential(body('elsewhere.test'));
    const count = seen.length;
    const refused = await use(wrong, '/who', { to: mtlsPort });
    assert.equal(refused.status, 502, refused.text);
    assert.equal(seen.length, count);
    const right = await credential(body('localhost'));
    const r = await use(right, '/who', { to: mtlsPort });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.body, { cn: 'latchkey-client' });
  });

  it('plain http cannot carry a client certificate: 422', async () => {
    const id = await credential({
      type: 'mtls',
      config: { certificate: certs.clientCert },
      secret: { private_key: certs.clientKey },
      allowed_hosts: [`localhost:${mtlsPort}`],
    });
    const r = await s.request('GET', `/v1/credentials/${id}/proxy/who`, { headers: { 'x-latchkey-target': `http://localhost:${mtlsPort}` } });
    assert.equal(r.status, 422, r.text);
  });
});

describe('derived tokens: POST /v1/credentials/{id}/token', () => {
  const claims = { iss: 'latchkey-test', sub: 'svc-1', aud: 'https://api.example.test', scope: 'read write' };
  async function key(role: string): Promise<string> {
    const r = await s.request('POST', '/v1/access-keys', {
      body: { name: `${role} ${randomBytes(3).toString('hex')}`, type: 'api', role, team_ids: [], expires_at: null },
    });
    assert.equal(r.status, 201, r.text);
    return r.body.key as string;
  }

  it('jwt: a minted token the target accepts, never the signing key; the same one the proxy uses meanwhile', async () => {
    const k = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const kid = `kid-derived-${randomBytes(3).toString('hex')}`;
    jwtKeys.set(kid, { alg: 'ES256', key: k.publicKey });
    const pem = k.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    const id = await credential({ type: 'jwt', config: { algorithm: 'ES256', claims, header: { kid } }, secret: { signing_key: pem }, read_access: 'GLOBAL' });
    const service = await key('service');
    const r = await s.request('POST', `/v1/credentials/${id}/token`, { key: service });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.kind, 'jwt');
    assert.equal(r.headers.get('cache-control'), 'no-store');
    const { payload } = await jwtVerify(r.body.token.token, k.publicKey, {
      algorithms: ['ES256'],
      issuer: 'latchkey-test',
      audience: 'https://api.example.test',
    });
    assert.equal(new Date(payload.exp! * 1000).toISOString(), r.body.expires_at);
    assert.ok(!r.text.includes('PRIVATE KEY'));
    assert.equal((await use(id, '/jwt')).status, 200);
    assert.equal(seen.at(-1)!.jti, payload.jti, 'the proxy minted again instead of using the cached token');

    const member = await s.request('POST', '/v1/access-keys', {
      body: { name: `member ${randomBytes(3).toString('hex')}`, type: 'api', role: 'member', team_ids: [], expires_at: null },
    });
    assert.equal(member.status, 201, member.text);
    assert.equal((await s.request('POST', `/v1/credentials/${id}/token`, { key: member.body.key })).status, 403);
    const events = await s.request('GET', `/v1/audit-events?per_page=100&filter[credential_id]=${id}`);
    const actions = events.body.data.map((e: { action: string; outcome: string; reason: string | null }) => `${e.action} ${e.outcome} ${e.reason ?? ''}`);
    assert.ok(actions.includes('credential.use success token jwt'), actions.join('\n'));
    // A refusal is audited after the answer, grouped per caller (support/refusals.ts).
    await waitForAttempts(s, s.ownerKey, { actorId: member.body.id, outcome: 'denied', action: 'credential.use' }, 1);
  });

  it('aws ROLE: the session credentials of the assumed role, never the stored key', async () => {
    const id = await credential({
      type: 'aws',
      config: { authentication_type: 'ROLE', access_key_id: SOURCE.id, role_arn: ROLE_ARN, external_id: EXTERNAL_ID, region: 'eu-west-1' },
      secret: { secret_access_key: SOURCE.secret },
    });
    const r = await s.request('POST', `/v1/credentials/${id}/token`);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.kind, 'aws_session');
    const issuedKey = keys.get(r.body.token.access_key_id);
    assert.ok(issuedKey, 'not a session STS issued');
    assert.ok(issuedKey.id.startsWith('ASIA'), 'not a session STS issued');
    assert.equal(r.body.token.secret_access_key, issuedKey.secret);
    assert.equal(r.body.token.session_token, issuedKey.token);
    assertNoSecret({ 'token answer': r.text }, [SOURCE.secret]);
  });

  it('a type with nothing short-lived to derive is 422, and nothing is audited as used', async () => {
    const plain = await credential({ type: 'aws', config: { access_key_id: SOURCE.id, region: 'eu-west-1' }, secret: { secret_access_key: SOURCE.secret } });
    const r = await s.request('POST', `/v1/credentials/${plain}/token`);
    assert.equal(r.status, 422, r.text);
    assertNoSecret({ answer: r.text }, [SOURCE.secret]);
    const apiKey = await credential({ type: 'api_key', config: {}, secret: { value: canary('long-lived') } });
    assert.equal((await s.request('POST', `/v1/credentials/${apiKey}/token`)).status, 422);
    const events = await s.request('GET', `/v1/audit-events?per_page=100&filter[credential_id]=${plain}`);
    assert.equal(
      events.body.data.filter((e: { action: string; outcome: string }) => e.action === 'credential.use' && e.outcome === 'success').length,
      0,
      events.text,
    );
  });

  it("another tenant's credential is 404, like one that does not exist", async () => {
    const id = await credential({ type: 'jwt', config: { algorithm: 'HS256', claims }, secret: { signing_key: canary('hs-key-for-tenant-test') } });
    const t = await s.request('POST', '/v1/tenants', { body: { name: `other ${randomBytes(3).toString('hex')}` } });
    assert.equal(t.status, 201, t.text);
    const other = await s.request('POST', `/v1/credentials/${id}/token`, { key: t.body.owner_access_key.key });
    const missing = await s.request('POST', '/v1/credentials/crd_00000000000000000000000000/token', { key: t.body.owner_access_key.key });
    assert.equal(other.status, 404, other.text);
    assert.equal(missing.status, 404, missing.text);
    assert.equal(other.body.error.code, missing.body.error.code);
  });

  it('the CLI: latchkey run --derived hands the child the token, not the signing key', async () => {
    const secret = canary('hs256-cli-signing-key');
    const id = await credential({ type: 'jwt', config: { algorithm: 'HS256', claims }, secret: { signing_key: secret } });
    const env = { LATCHKEY_URL: s.url, LATCHKEY_TOKEN: await key('service'), HOME: tempDir('latchkey-run-derived-') };
    const r = await runCli(
      ['run', '--derived', '--credential', `${id}=TOK`, '--', process.execPath, '-e', 'process.stdout.write(JSON.stringify(process.env))'],
      env,
    );
    assert.equal(r.code, 0, r.stderr);
    const childEnv = JSON.parse(r.stdout) as Record<string, string>;
    const { payload } = await jwtVerify(childEnv.TOK_TOKEN!, new TextEncoder().encode(secret), { algorithms: ['HS256'] });
    assert.equal(payload.sub, 'svc-1');
    assert.match(childEnv.TOK_EXPIRES_AT!, /^\d{4}-\d\d-\d\dT/);
    assertNoSecret({ 'child env': r.stdout, stderr: r.stderr }, [secret]);
  });
});

describe('proxy: an http_request chain, its results in the header and query the credential names', () => {
  const chain = (extra: Record<string, unknown> = {}, firstUrl = `https://localhost:${port}/chain/login`) =>
    credential({
      type: 'http_request',
      config: {
        requests: [
          {
            method: 'POST',
            url: firstUrl,
            headers: { 'content-type': 'application/json' },
            body: '{"user":"u1","password":"{{secret.password}}"}',
            extract: { field: 'session', json_pointer: '/session/id~1x' },
          },
          {
            method: 'GET',
            url: `https://localhost:${port}/chain/token?session={{results.session}}`,
            headers: { 'x-session': '{{results.session}}' },
            extract: { field: 'access_token', json_pointer: '/data/0/access_token' },
          },
        ],
        inject: { headers: { Authorization: 'Bearer {{results.access_token}}' }, query: { v: 'x' } },
        ...extra,
      },
      secret: { values: { password: CHAIN_PASSWORD } },
    });

  it('runs the chain once (templates from the secret and earlier extracts, JSON Pointer) and the target accepts the result', async () => {
    const id = await chain();
    const before = chainCalls;
    const r = await use(id, '/chain/api?v=forged');
    assert.equal(r.status, 200, r.text);
    assert.equal(r.text, 'ok');
    assert.equal((await use(id, '/chain/api')).status, 200);
    assert.equal(chainCalls, before + 1, 'the results were not kept until they expire');
  });

  it('concurrent uses before the first run: one chain run', async () => {
    const id = await chain();
    const before = chainCalls;
    const all = await Promise.all(Array.from({ length: 6 }, () => use(id, '/chain/api')));
    assert.deepEqual(
      all.map((r) => r.status),
      Array(6).fill(200),
    );
    assert.equal(chainCalls, before + 1);
  });

  it('the derived-token endpoint answers the results, not secret.values', async () => {
    const id = await chain();
    const r = await s.request('POST', `/v1/credentials/${id}/token`);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.kind, 'http_request_results');
    assert.ok(chainTokens.includes(r.body.token.access_token));
    assertNoSecret({ answer: r.text }, [CHAIN_PASSWORD]);
  });

  it('results stored with the credential are used while results_expire_at is ahead, and the chain is not run', async () => {
    const stored = canary('stored-token');
    chainTokens.push(stored);
    const id = await credential({
      type: 'http_request',
      config: {
        requests: [{ url: `https://localhost:${port}/chain/login` }],
        inject: { headers: { Authorization: 'Bearer {{results.access_token}}' }, query: { v: 'x' } },
        results_expire_at: new Date(Date.now() + 3600_000).toISOString(),
      },
      secret: { values: {}, results: { access_token: stored } },
    });
    const before = chainCalls;
    assert.equal((await use(id, '/chain/api')).status, 200);
    assert.equal(chainCalls, before);
  });

  it('a step that fails is 502 with its category only; a refused password is auth_failed; nothing reaches the target', async () => {
    const broken = await chain({}, `https://localhost:${port}/chain/broken`);
    const count = seen.length;
    const r = await use(broken, '/chain/api');
    assert.equal(r.status, 502, r.text);
    assert.match(r.text, /bad_response \(HTTP 500\)/);
    assertNoSecret({ answer: r.text }, [CHAIN_PASSWORD]);
    const wrong = await credential({
      type: 'http_request',
      config: {
        requests: [
          { url: `https://localhost:${port}/chain/login`, body: '{"user":"u1","password":"nope"}', extract: { field: 'access_token', json_pointer: '/x' } },
        ],
        inject: { headers: { Authorization: 'Bearer {{results.access_token}}' } },
      },
      secret: { values: {} },
    });
    const refused = await s.request('POST', `/v1/credentials/${wrong}/token`);
    assert.equal(refused.status, 502, refused.text);
    assert.match(refused.text, /auth_failed \(HTTP 401\)/);
    assert.doesNotMatch(refused.text, /bad password/);
    assert.equal(seen.length, count);
  });

  it('a step aimed at a destination the egress guard refuses is 403, and a template naming nothing is 409', async () => {
    const outside = await chain({}, 'https://10.255.255.1/login');
    assert.equal((await use(outside, '/chain/api')).status, 403);
    const hole = await credential({
      type: 'http_request',
      config: {
        requests: [{ url: `https://localhost:${port}/chain/login?x={{secret.nothing}}` }],
        inject: { headers: { Authorization: 'Bearer {{results.access_token}}' } },
      },
      secret: { values: {} },
    });
    assert.equal((await use(hole, '/chain/api')).status, 409);
  });

  it('without config.inject it cannot be proxied (422), though its token can be derived', async () => {
    const id = await credential({ type: 'http_request', config: { requests: [{ url: `https://localhost:${port}/chain/login` }] }, secret: { values: {} } });
    assert.equal((await use(id, '/chain/api')).status, 422);
  });
});
