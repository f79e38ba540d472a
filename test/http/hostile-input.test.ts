/**
 * Hostile input through HTTP: every request below is refused with the error envelope and its
 * documented status, and leaves the store exactly as it was (same credential list, same audit
 * log, the known credential byte-for-byte unchanged, its secret still the one stored).
 * No error body (and no log line) may ever echo the secret value a hostile body carried.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import net from 'node:net';
import { startServer, type ApiResponse, type TestServer } from '../support/server.ts';

let s: TestServer;
let knownId = '';
let baseline: Snapshot;

/** Every hostile body carries this in `secret.password`; no response or log may ever echo it. */
const MARKER = `HOSTILE-SECRET-${randomBytes(12).toString('hex')}`;
const KNOWN_SECRET = `known-secret-${randomBytes(12).toString('hex')}`;
const JSON_CT = { 'content-type': 'application/json' };
const ERROR_CODES = new Set([
  'INVALID_PARAMETER',
  'MALFORMED_REQUEST',
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'CREDENTIAL_NOT_FOUND',
  'PRECONDITION_FAILED',
  'PAYLOAD_TOO_LARGE',
  'UNSUPPORTED_MEDIA_TYPE',
  'VALIDATION_FAILED',
  'CONFLICT',
]);

let seq = 0;
/** A credential body the server accepts (the `before` hook proves it), carrying the marker. */
const good = (name = `hostile-${++seq}`) => ({
  name,
  type: 'smtp',
  config: { host: 'smtp.example.com', port: 587, auth_type: 'login', username: 'mailer' },
  secret: { password: MARKER },
});
/** The good body as raw JSON text with `fragment` spliced in as its first members. */
const rawWith = (fragment: string, name = `hostile-${++seq}`) => {
  const text = JSON.stringify(good(name));
  return `{${fragment},${text.slice(1)}`;
};

interface Snapshot {
  list: string;
  total: number;
  known: string;
  knownEtag: string | null;
  auditCount: number;
  auditNewest: string | null;
}

async function countAudit(): Promise<{ count: number; newest: string | null }> {
  let count = 0;
  let newest: string | null = null;
  let cursor: string | null = null;
  for (let guard = 0; guard < 1000; guard++) {
    const r: ApiResponse = await s.request('GET', `/v1/audit-events?per_page=100${cursor ? `&cursor=${cursor}` : ''}`);
    assert.equal(r.status, 200, r.text);
    if (newest === null) newest = r.body.data[0]?.id ?? null;
    count += r.body.data.length;
    cursor = r.body.next_cursor;
    if (!cursor) break;
  }
  return { count, newest };
}

async function snapshot(): Promise<Snapshot> {
  const list = await s.request('GET', '/v1/credentials?per_page=100');
  assert.equal(list.status, 200, list.text);
  const known = await s.request('GET', `/v1/credentials/${knownId}`);
  assert.equal(known.status, 200, known.text);
  const audit = await countAudit();
  return {
    list: list.text,
    total: list.body.total,
    known: known.text,
    knownEtag: known.headers.get('etag'),
    auditCount: audit.count,
    auditNewest: audit.newest,
  };
}

interface Expect {
  status: number | number[];
  code?: string | string[];
  /** For 422: a `details` entry must name exactly this path. */
  path?: string;
  /** The x-request-id we sent, if we expect it echoed. */
  echoedRequestId?: string;
}

/** The envelope `{ error: { code, message, details?, request_id } }` and nothing else. */
function assertEnvelope(res: ApiResponse, want: Expect, label: string): void {
  const statuses = Array.isArray(want.status) ? want.status : [want.status];
  assert.ok(statuses.includes(res.status), `${label}: status ${res.status} not in ${statuses.join('/')}: ${res.text}`);
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/, `${label}: content-type`);
  assert.equal(res.text.includes(MARKER), false, `${label}: the error body echoes the hostile secret`);
  assert.ok(res.body && typeof res.body === 'object' && !Array.isArray(res.body), `${label}: body is not an object: ${res.text}`);
  assert.deepEqual(Object.keys(res.body), ['error'], `${label}: top-level keys`);
  const e = res.body.error;
  for (const k of Object.keys(e)) assert.ok(['code', 'message', 'details', 'request_id'].includes(k), `${label}: stray key ${k} in error`);
  assert.equal(typeof e.code, 'string', `${label}: code`);
  assert.ok(ERROR_CODES.has(e.code), `${label}: unknown code ${e.code}`);
  if (want.code !== undefined) {
    const codes = Array.isArray(want.code) ? want.code : [want.code];
    assert.ok(codes.includes(e.code), `${label}: code ${e.code} not in ${codes.join('/')}`);
  }
  assert.equal(typeof e.message, 'string', `${label}: message`);
  assert.ok(e.message.length > 0, `${label}: empty message`);
  const header = res.headers.get('x-request-id');
  assert.equal(e.request_id, header, `${label}: request_id must equal the x-request-id header`);
  if (want.echoedRequestId !== undefined) assert.equal(header, want.echoedRequestId, `${label}: request id not echoed`);
  else assert.match(header ?? '', /^req_[0-9A-HJKMNP-TV-Z]{26}$/, `${label}: x-request-id is not a fresh req_ id`);
  if (e.details !== undefined) {
    if (Array.isArray(e.details)) {
      for (const d of e.details) {
        assert.deepEqual(Object.keys(d).sort(), ['message', 'path'], `${label}: detail shape ${JSON.stringify(d)}`);
        assert.equal(typeof d.path, 'string');
        assert.equal(typeof d.message, 'string');
      }
    } else assert.equal(typeof e.details, 'string', `${label}: details must be a string or a list`);
  }
  if (res.status === 422) {
    assert.equal(e.code, 'VALIDATION_FAILED', `${label}: a 422 is VALIDATION_FAILED`);
    assert.ok(Array.isArray(e.details) && e.details.length > 0, `${label}: 422 details must be a non-empty list of {path, message}`);
  }
  if (want.path !== undefined) {
    assert.ok(Array.isArray(e.details), `${label}: details must be a list naming ${want.path}: ${res.text}`);
    assert.ok(
      e.details.some((d: { path: string }) => d.path === want.path),
      `${label}: no detail with path ${want.path}: ${JSON.stringify(e.details)}`,
    );
  }
}

/** Sends the request, checks the envelope, and checks the store did not move. */
async function refused(label: string, send: () => Promise<ApiResponse>, want: Expect): Promise<ApiResponse> {
  const before = await snapshot();
  const res = await send();
  assertEnvelope(res, want, label);
  const afterward = await snapshot();
  assert.deepEqual(afterward, before, `${label}: the store changed`);
  return res;
}

const post = (body: unknown) => () => s.request('POST', '/v1/credentials', { body });
const postRaw =
  (rawBody: string | Buffer, headers: Record<string, string> = JSON_CT) =>
  () =>
    s.request('POST', '/v1/credentials', { rawBody, headers });
const patch = (body: unknown) => () => s.request('PATCH', `/v1/credentials/${knownId}`, { body });
const patchRaw = (rawBody: string) => () => s.request('PATCH', `/v1/credentials/${knownId}`, { rawBody, headers: JSON_CT });
const put = (body: unknown) => () => s.request('PUT', '/v1/credentials/crd_hostile_put_target', { body });

/** One raw HTTP/1.1 exchange, for what fetch refuses to send (a newline in a header). */
function rawHttp(payload: string): Promise<{ status: number; headers: Map<string, string>; body: string; raw: string }> {
  const u = new URL(s.url);
  return new Promise((resolve, reject) => {
    const sock = net.connect(Number(u.port), u.hostname, () => sock.write(payload));
    let out = '';
    sock.setEncoding('latin1');
    sock.on('data', (d: string) => (out += d));
    sock.on('error', reject);
    const done = () => {
      const [head = '', ...rest] = out.split('\r\n\r\n');
      const [statusLine = '', ...lines] = head.split('\r\n');
      const headers = new Map<string, string>();
      for (const l of lines) {
        const i = l.indexOf(':');
        if (i > 0) headers.set(l.slice(0, i).trim().toLowerCase(), l.slice(i + 1).trim());
      }
      resolve({ status: Number(statusLine.split(' ')[1] ?? 0), headers, body: rest.join('\r\n\r\n'), raw: out });
    };
    sock.on('end', done);
    setTimeout(() => {
      sock.destroy();
      done();
    }, 3000).unref();
  });
}

before(async () => {
  s = await startServer();
  assert.ok(s.ownerKey.startsWith('lk_'), 'no owner key printed');
  // Control: the body every hostile case is built from is accepted as is.
  const made = await s.request('POST', '/v1/credentials', { body: { ...good('known credential'), secret: { password: KNOWN_SECRET } } });
  assert.equal(made.status, 201, made.text);
  knownId = made.body.id;
  baseline = await snapshot();
  assert.equal(baseline.total, 1);
  assert.ok(baseline.auditCount >= 1, 'the create left no audit event');
});

after(async () => {
  await s?.stop();
});

describe('ids that break the path pattern → 400 INVALID_PARAMETER before any lookup', () => {
  const badIds: [string, string][] = [
    ['a space', 'bad%20id'],
    ['51 characters', 'a'.repeat(51)],
    ['a traversal', '..%2F..%2Fetc'],
    ['a NUL', '%00'],
    ['an encoded slash', 'a%2Fb'],
    ['a NUL after a real id', `${'crd'}%00x`],
    ['a quote and angle brackets', '%22%3Cscript%3E'],
  ];
  for (const [what, id] of badIds) {
    it(`${what}: GET, PATCH, PUT, DELETE, /secret and /restore`, async () => {
      const calls: [string, () => Promise<ApiResponse>][] = [
        ['GET', () => s.request('GET', `/v1/credentials/${id}`)],
        ['PATCH', () => s.request('PATCH', `/v1/credentials/${id}`, { body: { description: 'x', secret: { password: MARKER } } })],
        ['PUT', () => s.request('PUT', `/v1/credentials/${id}`, { body: good() })],
        ['DELETE', () => s.request('DELETE', `/v1/credentials/${id}`)],
        ['DELETE purge', () => s.request('DELETE', `/v1/credentials/${id}?purge=true`)],
        ['GET secret', () => s.request('GET', `/v1/credentials/${id}/secret`)],
        ['POST restore', () => s.request('POST', `/v1/credentials/${id}/restore`)],
      ];
      for (const [method, send] of calls) {
        await refused(`${method} /v1/credentials/${id}`, send, { status: 400, code: 'INVALID_PARAMETER' });
      }
    });
  }

  it('the 50-character boundary: a 50-char id is looked up (404), not refused as a parameter', async () => {
    const res = await refused('GET 50-char id', () => s.request('GET', `/v1/credentials/${'a'.repeat(50)}`), { status: 404, code: 'CREDENTIAL_NOT_FOUND' });
    assert.equal(res.body.error.code, 'CREDENTIAL_NOT_FOUND');
  });
});

describe('bodies that are not acceptable JSON → 400 MALFORMED_REQUEST (or 422), nothing stored', () => {
  // The contract allows 400 or 422 here; the implementation answers 400 MALFORMED_REQUEST, which is asserted exactly.
  const MALFORMED = { status: 400, code: 'MALFORMED_REQUEST' };

  it('truncated JSON `{"name":`', async () => {
    await refused('truncated', postRaw(`{"secret":{"password":"${MARKER}"},"name":`), { status: 400, code: 'MALFORMED_REQUEST' });
    await refused('truncated PATCH', patchRaw(`{"secret":{"password":"${MARKER}"},"name":`), { status: 400, code: 'MALFORMED_REQUEST' });
  });

  it('trailing garbage after a valid object, and an empty body', async () => {
    await refused('trailing', postRaw(JSON.stringify(good()) + '}'), { status: 400, code: 'MALFORMED_REQUEST' });
    // An empty JSON body is not an object: either refusal is in the contract.
    await refused('empty body', postRaw(''), { status: [400, 422], code: ['MALFORMED_REQUEST', 'VALIDATION_FAILED'] });
  });

  it('duplicate keys (top level, and inside secret)', async () => {
    await refused('duplicate name', postRaw('"name":"first"'), MALFORMED);
    await refused('duplicate secret', postRaw(`"secret":{"password":"${MARKER}"}`), MALFORMED);
    await refused('duplicate password', postRaw(JSON.stringify(good()).replace(`"password":"${MARKER}"`, `"password":"x","password":"${MARKER}"`)), MALFORMED);
    await refused('duplicate in PATCH', patchRaw(`{"description":"a","description":"b","secret":{"password":"${MARKER}"}}`), MALFORMED);
  });

  it('`__proto__` at the top level', async () => {
    await refused('__proto__', postRaw('"__proto__":{"x":1}'), MALFORMED);
    await refused('__proto__ PATCH', patchRaw(`{"__proto__":{"role":"owner"},"secret":{"password":"${MARKER}"}}`), MALFORMED);
  });

  it('`constructor.prototype` nested inside config, and `__proto__` inside secret', async () => {
    const b = good();
    const text = JSON.stringify(b).replace('"config":{', '"config":{"constructor":{"prototype":{}},');
    assert.ok(text.includes('"constructor"'));
    await refused('constructor in config', postRaw(text), MALFORMED);
    const t2 = JSON.stringify(good()).replace('"secret":{', '"secret":{"__proto__":{"polluted":true},');
    await refused('__proto__ in secret', postRaw(t2), MALFORMED);
    // The server still answers normally, and nothing it returns carries the smuggled property.
    const res = await s.request('GET', '/v1/credentials?per_page=100');
    assert.equal(res.status, 200, res.text);
    assert.equal(res.text.includes('polluted'), false);
  });

  it('nesting 33 deep (inside metadata)', async () => {
    // The body object is level 1; 32 more levels of metadata objects make 33.
    let deep = '1';
    for (let i = 0; i < 32; i++) deep = `{"a":${deep}}`;
    const text = rawWith(`"metadata":${deep}`);
    assert.equal(text.match(/\{/g)?.length, 33 + 2, 'the body nests 33 objects deep (plus config and secret)');
    await refused('33 deep', postRaw(text), MALFORMED);
    let deeper = '[]';
    for (let i = 0; i < 200; i++) deeper = `[${deeper}]`;
    await refused('201 deep arrays', postRaw(rawWith(`"metadata":{"x":${deeper}}`)), MALFORMED);
  });

  it('a lone surrogate "\\ud800" in name (escaped) and a lone low surrogate in secret', async () => {
    await refused('lone high surrogate', postRaw(JSON.stringify(good()).replace(/"name":"[^"]*"/, '"name":"\\ud800"')), MALFORMED);
    await refused('lone surrogate in name (JSON.stringify)', post({ ...good(), name: 'x\ud800y' }), MALFORMED);
    await refused(
      'lone low surrogate in secret',
      postRaw(JSON.stringify(good()).replace(`"password":"${MARKER}"`, `"password":"${MARKER}\\udc00"`)),
      MALFORMED,
    );
  });

  it('a body of 2 MiB → 413 PAYLOAD_TOO_LARGE', async () => {
    // Uploaded whole: the server reads and drops the excess before answering, so fetch reads the 413
    // (test/security/body-limit.test.ts repeats this through the SDK and a streamed body).
    const big = JSON.stringify({ ...good(), description: 'x'.repeat(2 * 1024 * 1024) });
    await refused('2 MiB POST', postRaw(big), { status: 413, code: 'PAYLOAD_TOO_LARGE' });
    const bigPatch = JSON.stringify({ metadata: { blob: 'y'.repeat(2 * 1024 * 1024) }, secret: { password: MARKER } });
    await refused('2 MiB PATCH', patchRaw(bigPatch), { status: 413, code: 'PAYLOAD_TOO_LARGE' });
  });

  it('a `text/plain` body → 415', async () => {
    await refused('text/plain', postRaw(JSON.stringify(good()), { 'content-type': 'text/plain' }), { status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' });
    await refused('form', postRaw(`name=x&password=${MARKER}`, { 'content-type': 'application/x-www-form-urlencoded' }), {
      status: 415,
      code: 'UNSUPPORTED_MEDIA_TYPE',
    });
    await refused(
      'text/plain PATCH',
      () =>
        s.request('PATCH', `/v1/credentials/${knownId}`, {
          rawBody: JSON.stringify({ secret: { password: MARKER } }),
          headers: { 'content-type': 'text/plain' },
        }),
      { status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' },
    );
  });
});

describe('bodies that parse but do not validate → 422 VALIDATION_FAILED naming the field', () => {
  it('an unknown top-level field (POST, PUT, PATCH)', async () => {
    await refused('unknown POST', post({ ...good(), bogus_field: 1 }), { status: 422, path: 'bogus_field' });
    await refused('unknown PUT', put({ ...good(), bogus_field: 1 }), { status: 422, path: 'bogus_field' });
    await refused('unknown PATCH', patch({ bogus_field: 1, secret: { password: MARKER } }), { status: 422, path: 'bogus_field' });
  });

  it('an unknown field inside config or secret', async () => {
    await refused('unknown config field', post({ ...good(), config: { ...good().config, bogus: 'x' } }), { status: 422, path: 'config.bogus' });
    await refused('unknown secret field', post({ ...good(), secret: { password: MARKER, bogus: MARKER } }), { status: 422, path: 'secret.bogus' });
  });

  it('wrong types: name 5, config "x", test_credential_enabled "yes"', async () => {
    await refused('name: 5', post({ ...good(), name: 5 }), { status: 422, path: 'name' });
    await refused('config: "x"', post({ ...good(), config: 'x' }), { status: 422, path: 'config' });
    await refused('test_credential_enabled: "yes"', post({ ...good(), test_credential_enabled: 'yes' }), { status: 422, path: 'test_credential_enabled' });
    await refused('secret: []', post({ ...good(), secret: [MARKER] }), { status: 422, path: 'secret' });
    await refused('PATCH name: 5', patch({ name: 5, secret: { password: MARKER } }), { status: 422, path: 'name' });
    await refused('PATCH config: "x"', patch({ config: 'x', secret: { password: MARKER } }), { status: 422, path: 'config' });
    await refused('body is an array', postRaw(JSON.stringify([good()])), { status: [400, 422] });
    await refused('body is a string', postRaw(JSON.stringify(MARKER)), { status: [400, 422] });
  });

  for (const port of [0, 65536, 70000, '25', -1, 25.5]) {
    it(`smtp port ${JSON.stringify(port)} → 422 at config.port`, async () => {
      await refused(`port ${port}`, post({ ...good(), config: { ...good().config, port } }), { status: 422, path: 'config.port' });
      await refused(`PATCH port ${port}`, patch({ config: { port }, secret: { password: MARKER } }), { status: 422, path: 'config.port' });
    });
  }

  it('an unknown type → 422 at type', async () => {
    await refused('unknown type', post({ ...good(), type: 'no-such-type' }), { status: 422, path: 'type' });
    await refused('type with odd chars', post({ ...good(), type: '../smtp' }), { status: 422, path: 'type' });
    await refused('type on PATCH', patch({ type: 'text', secret: { password: MARKER } }), { status: 422, path: 'type' });
  });

  it('a name of 10 000 characters → 422 at name', async () => {
    await refused('10k name', post({ ...good(), name: 'n'.repeat(10_000) }), { status: 422, path: 'name' });
    await refused('10k name PATCH', patch({ name: 'n'.repeat(10_000), secret: { password: MARKER } }), { status: 422, path: 'name' });
  });

  for (const [what, name] of [
    ['BEL', 'a\u0007b'],
    ['newline', 'a\nb'],
    ['NUL', '\u0000'],
    ['DEL', 'a\u007fb'],
    ['C1 (NEL)', 'a\u0085b'],
    ['empty', ''],
  ] as const) {
    it(`a name with a control character (${what}) → 422 or 400`, async () => {
      const res = await refused(`name ${what}`, post({ ...good(), name }), { status: [400, 422] });
      if (res.status === 422)
        assert.ok(
          res.body.error.details.some((d: { path: string }) => d.path === 'name'),
          res.text,
        );
      await refused(`PATCH name ${what}`, patch({ name, secret: { password: MARKER } }), { status: [400, 422] });
    });
  }

  for (const [field, value] of [
    ['tenant_id', 'ten_01JD5Z6W9Y706QGCB39FQD380G'],
    ['role', 'owner'],
    ['version', 99],
    ['ciphertext', 'AAAAAAAAAAAAAAAAAAAAAA=='],
    ['id', 'crd_chosen_by_caller'],
    ['created_by', { id: 'x', name: 'x', email: null }],
    ['revision', 7],
  ] as const) {
    it(`a \`${field}\` field in a body is refused (422), never obeyed`, async () => {
      await refused(`${field} POST`, post({ ...good(), [field]: value }), { status: 422, path: field });
      await refused(`${field} PUT`, put({ ...good(), [field]: value }), { status: 422, path: field });
      await refused(`${field} PATCH`, patch({ [field]: value, secret: { password: MARKER } }), { status: 422, path: field });
    });
  }
});

describe('bad query parameters → 400 INVALID_PARAMETER', () => {
  const garbageCursor = randomBytes(24).toString('base64url');
  // Decodes fine (base64url of a JSON array of two strings) but the server never issued it.
  const forgedCursor = Buffer.from(JSON.stringify(['garbage', 'garbage'])).toString('base64url');
  const cases: [string, string][] = [
    ['per_page=0', 'per_page=0'],
    ['per_page=101', 'per_page=101'],
    ['page=-1', 'page=-1'],
    ['page=0', 'page=0'],
    ['per_page=abc', 'per_page=abc'],
    ['cursor=!!!', 'cursor=!!!'],
    ['cursor=<base64url of random bytes>', `cursor=${garbageCursor}`],
    ['cursor=<base64url of a forged keyset>', `cursor=${forgedCursor}`],
  ];
  for (const base of ['/v1/credentials', '/v1/access-keys']) {
    for (const [what, q] of cases) {
      it(`GET ${base}?${what}`, async () => {
        await refused(`${base}?${q}`, () => s.request('GET', `${base}?${q}`), { status: 400, code: 'INVALID_PARAMETER' });
      });
    }
  }
  it('GET /v1/credentials?filter[status]=bogus (raw and percent-encoded brackets)', async () => {
    await refused('filter[status]=bogus', () => s.request('GET', '/v1/credentials?filter[status]=bogus'), { status: 400, code: 'INVALID_PARAMETER' });
    await refused('filter%5Bstatus%5D=bogus', () => s.request('GET', '/v1/credentials?filter%5Bstatus%5D=bogus'), { status: 400, code: 'INVALID_PARAMETER' });
  });
  it('the good query parameters are accepted (control)', async () => {
    const r = await s.request('GET', '/v1/credentials?per_page=100&page=1&filter[status]=active');
    assert.equal(r.status, 200, r.text);
    assert.ok(r.body.data.some((c: { id: string }) => c.id === knownId));
  });
});

describe('authentication failures → 401 with one body, whatever failed', () => {
  const base62 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  const randomKey = () => 'lk_live_' + Array.from({ length: 43 }, () => base62[randomInt(62)]).join('');

  it('missing, garbage, unknown well-formed key, Basic, wrong scheme, owner key with one char changed', async () => {
    const owner = s.ownerKey;
    const tweaked = owner.slice(0, -1) + (owner.endsWith('A') ? 'B' : 'A');
    const attempts: [string, Record<string, string>][] = [
      ['missing', {}],
      ['garbage', { authorization: 'Bearer garbage' }],
      ['unknown lk_live_ key', { authorization: `Bearer ${randomKey()}` }],
      ['another unknown key', { authorization: `Bearer ${randomKey()}` }],
      ['Basic', { authorization: `Basic ${Buffer.from(`admin:${MARKER}`).toString('base64')}` }],
      ['Token scheme', { authorization: `Token ${owner}` }],
      ['empty bearer', { authorization: 'Bearer ' }],
      ['tweaked owner key', { authorization: `Bearer ${tweaked}` }],
      ['owner key plus junk', { authorization: `Bearer ${owner}x` }],
    ];
    const bodies = new Map<string, string>();
    for (const [what, headers] of attempts) {
      for (const [method, path, body] of [
        ['GET', '/v1/credentials', undefined],
        ['GET', `/v1/credentials/${knownId}/secret`, undefined],
        ['POST', '/v1/credentials', good()],
        ['DELETE', `/v1/credentials/${knownId}`, undefined],
      ] as const) {
        const res = await refused(`${what} ${method} ${path}`, () => s.request(method, path, { key: null, headers, ...(body ? { body } : {}) }), {
          status: 401,
          code: 'UNAUTHENTICATED',
        });
        const normalised = res.text.replace(res.body.error.request_id, '<request_id>');
        bodies.set(`${what} ${method} ${path}`, normalised);
      }
    }
    const distinct = new Set(bodies.values());
    assert.equal(distinct.size, 1, `401 bodies differ:\n${[...bodies].map(([k, v]) => `${k}: ${v}`).join('\n')}`);
  });

  it('the owner key itself is accepted (control)', async () => {
    const r = await s.request('GET', '/v1/credentials');
    assert.equal(r.status, 200);
  });
});

describe('x-request-id', () => {
  it('a sane one is echoed in the header and in error bodies (control)', async () => {
    const res = await refused('sane id', () => s.request('GET', '/v1/credentials/no_such_credential', { headers: { 'x-request-id': 'client-req-42' } }), {
      status: 404,
      code: 'CREDENTIAL_NOT_FOUND',
      echoedRequestId: 'client-req-42',
    });
    assert.equal(res.body.error.request_id, 'client-req-42');
  });

  it('one of 200 characters is not echoed: a fresh req_… is used', async () => {
    const long = 'r'.repeat(200);
    const res = await refused('200-char id', () => s.request('GET', '/v1/credentials/bad%20id', { headers: { 'x-request-id': long } }), {
      status: 400,
      code: 'INVALID_PARAMETER',
    });
    assert.notEqual(res.headers.get('x-request-id'), long);
    assert.equal(res.text.includes(long), false);
    const ok = await s.request('GET', `/v1/credentials/${knownId}`, { headers: { 'x-request-id': long } });
    assert.equal(ok.status, 200);
    assert.match(ok.headers.get('x-request-id') ?? '', /^req_/);
  });

  it('one with a tab, spaces or markup is not echoed', async () => {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a log4shell-style probe, sent as typed
    for (const hostile of ['abc\tdef', 'two words', '<script>alert(1)</script>', '${jndi:ldap://x}', 'id;drop table']) {
      const res = await refused(`id ${JSON.stringify(hostile)}`, () => s.request('GET', '/v1/credentials/bad%20id', { headers: { 'x-request-id': hostile } }), {
        status: 400,
        code: 'INVALID_PARAMETER',
      });
      assert.equal(res.text.includes(hostile), false);
    }
  });

  it('one with a newline (obs-fold or bare LF, sent raw) is answered with the envelope and a fresh req_ id, and not echoed', async () => {
    const before = await snapshot();
    for (const header of [`x-request-id: evil-id\r\n injected-line`, `x-request-id: evil-id\nx-injected: yes`]) {
      const res = await rawHttp(
        `GET /v1/credentials/${knownId} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${s.ownerKey}\r\n${header}\r\nConnection: close\r\n\r\n`,
      );
      assert.equal(res.raw.includes('evil-id'), false, `the hostile id is echoed: ${res.raw}`);
      assert.equal(res.raw.includes('injected'), false, `the injected text is echoed: ${res.raw}`);
      assert.ok(res.status === 400, `status ${res.status}: ${res.raw}`);
      const rid = res.headers.get('x-request-id');
      assert.match(rid ?? '', /^req_/, `no fresh x-request-id on the answer to a bad header: ${res.raw}`);
      let body: any;
      try {
        body = JSON.parse(res.body);
      } catch {
        assert.fail(`not JSON: ${res.raw}`);
      }
      assert.deepEqual(Object.keys(body), ['error'], `not the error envelope: ${res.body}`);
      assert.equal(body.error.request_id, rid);
      assert.equal(typeof body.error.code, 'string');
    }
    assert.deepEqual(await snapshot(), before);
  });
});

describe('after all of the above', () => {
  it('the store is as the before hook left it and the known credential still reveals its own secret', async () => {
    const now = await snapshot();
    assert.deepEqual(now, baseline, 'the hostile requests changed the store');
    const r = await s.request('GET', `/v1/credentials/${knownId}/secret`);
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.body.secret, { password: KNOWN_SECRET });
    assert.equal(r.body.version, 1);
    assert.equal(r.text.includes(MARKER), false);
  });

  it('the server never logged a hostile secret', async () => {
    // Give the logger a moment to flush what it has.
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(s.logs().includes(MARKER), false, 'a hostile secret reached the logs');
    assert.equal(s.logs().includes(KNOWN_SECRET), false, 'the known secret reached the logs');
  });
});
