import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { smtpBody, startServer, type TestServer } from '../support/server.ts';
import {
  BadRequestError,
  ConflictError,
  ForbiddenError,
  InternalServerError,
  Latchkey,
  LatchkeyApiError,
  LatchkeyConnectionError,
  LatchkeyError,
  LatchkeyTimeoutError,
  NotFoundError,
  PreconditionFailedError,
  RateLimitedError,
  UnauthenticatedError,
  ValidationError,
  parseRetryAfter,
  retryDelayMs,
} from '../../sdk/src/index.ts';

let s: TestServer;
let lk: Latchkey;

before(async () => {
  s = await startServer();
  lk = new Latchkey({ baseUrl: s.url, apiKey: s.ownerKey });
});
after(async () => {
  await s.stop();
});

const unique = (tag: string) => `${tag} ${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;

/** Resolves to the error a promise rejects with (fails the test if it resolves). */
async function caught<E>(p: Promise<unknown>, Class: abstract new (...args: any[]) => E): Promise<E> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof Class, `expected ${Class.name}, got ${(err as Error)?.constructor?.name}: ${(err as Error)?.message}`);
    return err;
  }
  assert.fail(`expected ${Class.name}, but the call succeeded`);
}

// ----------------------------------------------------------------------------------------------
// A tiny HTTP peer for what a real Latchkey will not do on demand (429 twice, never answer, reset).

interface Peer {
  url: string;
  hits: Array<{ method: string; url: string; headers: IncomingMessage['headers']; body: string }>;
  close(): Promise<void>;
}

async function peer(handle: (req: IncomingMessage, res: ServerResponse, n: number) => void): Promise<Peer> {
  const hits: Peer['hits'] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      hits.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      handle(req, res, hits.length);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    hits,
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
}

const envelope = (code: string, message: string) => ({ error: { code, message, request_id: 'req_peer' } });

// ----------------------------------------------------------------------------------------------

describe('lk.credentials against a real server', () => {
  it('creates, gets, updates, deletes, restores and reveals', async () => {
    const name = unique('SDK Mailer');
    const created = await lk.credentials.create({ ...smtpBody(name, 'pw-first'), metadata: { env: 'test' } });
    assert.match(created.id, /^crd_/);
    assert.equal(created.name, name);
    assert.equal(created.type, 'smtp');
    assert.deepEqual(created.secret_fields, ['password']);
    assert.equal(created.etag, '"1"');
    // The etag rides along without becoming part of the wire object, and metadata never holds the secret.
    assert.equal(Object.keys(created).includes('etag'), false);
    assert.equal(JSON.stringify(created).includes('pw-first'), false);

    const got = await lk.credentials.get(created.id);
    assert.deepEqual(got, { ...created });
    assert.equal(got.etag, created.etag);

    const updated = await lk.credentials.update(created.id, { description: 'outbound mail', secret: { password: 'pw-second' } }, { ifMatch: got.etag });
    assert.equal(updated.description, 'outbound mail');
    assert.equal(updated.version, 2);
    assert.notEqual(updated.etag, got.etag);

    // The old etag is stale now: a lost update is refused, not applied.
    const stale = await caught(lk.credentials.update(created.id, { description: 'lost' }, { ifMatch: got.etag }), PreconditionFailedError);
    assert.equal(stale.status, 412);
    assert.equal(stale.code, 'PRECONDITION_FAILED');

    const revealed = await lk.credentials.reveal(created.id);
    assert.deepEqual(revealed.secret, { password: 'pw-second' });
    assert.equal(revealed.id, created.id);

    // The account keeps one smtp/api_key credential whatever deletes (docs/dialects.md): a second one, so this one may go.
    await lk.credentials.create(smtpBody(unique('SDK keeper'), 'pw-keeper'));
    await lk.credentials.delete(created.id, { ifMatch: updated.etag });
    const gone = await caught(lk.credentials.get(created.id), NotFoundError);
    assert.equal(gone.code, 'CREDENTIAL_NOT_FOUND');

    const restored = await lk.credentials.restore(created.id);
    assert.equal(restored.id, created.id);
    assert.equal((await lk.credentials.reveal(created.id)).secret.password, 'pw-second');

    await lk.credentials.delete(created.id, { purge: true });
    await caught(lk.credentials.restore(created.id), NotFoundError);
  });

  it('puts a credential under a chosen id, then replaces it whole', async () => {
    const id = `sdk-put-${Date.now()}`;
    const first = await lk.credentials.put(id, smtpBody('Put One', 'pw-1'));
    assert.equal(first.id, id);
    const second = await lk.credentials.put(id, { ...smtpBody('Put Two', 'pw-2'), description: 'replaced' }, { ifMatch: first.etag });
    assert.equal(second.name, 'Put Two');
    assert.equal(second.description, 'replaced');
    assert.equal((await lk.credentials.reveal(id)).secret.password, 'pw-2');
    await caught(lk.credentials.put(id, smtpBody('Put Three'), { ifMatch: first.etag }), PreconditionFailedError);
  });

  it('reveals the test secret and refuses an inactive credential unless allowed', async () => {
    const c = await lk.credentials.create({ ...smtpBody(unique('Variant'), 'main-pw'), test_credential_enabled: true, test_secret: { password: 'test-pw' } });
    const r = await lk.credentials.reveal(c.id, { variant: 'test' });
    assert.equal(r.secret.password, 'test-pw', 'a test reveal carries the test secret only');
    assert.equal(r.test_secret?.password, 'test-pw');
    assert.equal((await lk.credentials.reveal(c.id)).secret.password, 'main-pw');

    await lk.credentials.update(c.id, { status: 'inactive' });
    const inactive = await caught(lk.credentials.reveal(c.id), ConflictError);
    assert.equal(inactive.code, 'CREDENTIAL_INACTIVE');
    assert.equal((await lk.credentials.reveal(c.id, { allowInactive: true })).secret.password, 'main-pw');
  });

  it('makes a create safe to retry: the same idempotency key returns the first credential', async () => {
    const key = `sdk-idem-${Date.now()}`;
    const body = smtpBody(unique('Idempotent'), 'pw');
    const a = await lk.credentials.create(body, { idempotencyKey: key });
    const b = await lk.credentials.create(body, { idempotencyKey: key });
    assert.equal(b.id, a.id);
    const clash = await caught(lk.credentials.create({ ...body, name: 'Other' }, { idempotencyKey: key }), ConflictError);
    assert.equal(clash.code, 'IDEMPOTENCY_CONFLICT');
  });

  it('lists one page with filters, and the type catalog', async () => {
    const tag = unique('PageFilter');
    await lk.credentials.create(smtpBody(`${tag} a`));
    await lk.credentials.create({ name: `${tag} b`, type: 'text', secret: { value: 'x' } });
    const page = await lk.credentials.listPage({ filter: { name: tag.toLowerCase(), type: 'smtp' }, perPage: 10 });
    assert.equal(page.total, 1);
    assert.equal(page.page, 1);
    assert.equal(page.per_page, 10);
    assert.equal(page.data[0]?.name, `${tag} a`);
    assert.equal(page.next_cursor, null);

    const types = await lk.credentials.types();
    const smtp = types.find((t) => t.id === 'smtp');
    assert.ok(smtp, 'smtp is in the catalog');
    assert.deepEqual(smtp.secret_fields, ['password']);
    assert.equal(typeof smtp.capabilities.rotatable, 'boolean');
  });

  it('rotates, lists versions and restores an old one', async () => {
    const c = await lk.credentials.create(smtpBody(unique('Rotor'), 'pw-one'));
    const rotated = await lk.credentials.rotate(c.id, { secret: { password: 'pw-two' }, gracePeriodSeconds: 600 });
    assert.equal(rotated.version, 2);
    assert.equal((await lk.credentials.reveal(c.id)).secret.password, 'pw-two');
    assert.equal((await lk.credentials.reveal(c.id, { version: 1 })).secret.password, 'pw-one');
    const versions = await lk.credentials.versions(c.id);
    assert.deepEqual(
      versions.map((v) => [v.version, v.stage]),
      [
        [2, 'current'],
        [1, 'previous'],
      ],
    );
    assert.equal((await lk.credentials.version(c.id, 1)).stage, 'previous');
    await caught(lk.credentials.version(c.id, 9), NotFoundError);
    const back = await lk.credentials.restoreVersion(c.id, 1);
    assert.equal(back.version, 3);
    assert.equal((await lk.credentials.reveal(c.id)).secret.password, 'pw-one');
  });
});

describe('pagination', () => {
  it('walks 250 credentials with the async iterator, each exactly once', async () => {
    const tag = unique('Paged');
    const made = new Set<string>();
    for (let batch = 0; batch < 10; batch++) {
      const ids = await Promise.all(
        Array.from({ length: 25 }, (_, i) =>
          lk.credentials.create({ name: `${tag} ${batch * 25 + i}`, type: 'text', secret: { value: `v${i}` } }).then((c) => c.id),
        ),
      );
      for (const id of ids) made.add(id);
    }
    assert.equal(made.size, 250);

    const seen: string[] = [];
    for await (const c of lk.credentials.list({ filter: { name: tag }, perPage: 100 })) seen.push(c.id);
    assert.equal(seen.length, 250);
    assert.equal(new Set(seen).size, 250);
    assert.deepEqual(new Set(seen), made);
    // Default order: newest first.
    const listed = await lk.credentials.list({ filter: { name: tag }, perPage: 100 }).toArray();
    const times = listed.map((c) => c.created_at);
    assert.deepEqual(times, [...times].sort().reverse());

    const sizes: number[] = [];
    for await (const page of lk.credentials.list({ filter: { name: tag }, perPage: 100 }).pages()) sizes.push(page.data.length);
    assert.deepEqual(sizes, [100, 100, 50]);

    const first30 = await lk.credentials.list({ filter: { name: tag }, perPage: 7 }).toArray({ limit: 30 });
    assert.equal(first30.length, 30);
    assert.deepEqual(
      first30.map((c) => c.id),
      seen.slice(0, 30),
    );
  });
});

describe('typed errors', () => {
  it('404 is a NotFoundError with code and request id', async () => {
    const e = await caught(lk.credentials.get('crd_01JD5Z6W9Y706QGCB39FQD380G'), NotFoundError);
    assert.ok(e instanceof LatchkeyApiError);
    assert.ok(e instanceof LatchkeyError);
    assert.equal(e.status, 404);
    assert.equal(e.code, 'CREDENTIAL_NOT_FOUND');
    assert.match(e.requestId ?? '', /^req_/);
    assert.match(e.message, /CREDENTIAL_NOT_FOUND/);
  });

  it('403 for a viewer key is a ForbiddenError', async () => {
    const c = await lk.credentials.create(smtpBody(unique('Viewer target'), 'pw-hidden'));
    const key = await lk.accessKeys.create({ name: unique('viewer'), role: 'viewer' });
    const viewer = new Latchkey({ baseUrl: s.url, apiKey: key.key });
    assert.equal((await viewer.credentials.get(c.id)).id, c.id);
    const e = await caught(viewer.credentials.reveal(c.id), ForbiddenError);
    assert.equal(e.status, 403);
    assert.equal(e.code, 'FORBIDDEN');
    assert.match(e.requestId ?? '', /^req_/);
    await caught(viewer.credentials.create(smtpBody('Not allowed')), ForbiddenError);
    await caught(viewer.auditEvents.verify(), ForbiddenError);
  });

  it('422 is a ValidationError listing every issue by path', async () => {
    const e = await caught(
      lk.credentials.create({ name: 'Bad', type: 'smtp', config: { host: 'smtp.example.com', port: 70000 }, secret: {}, ...({ role: 'owner' } as object) }),
      ValidationError,
    );
    assert.equal(e.status, 422);
    assert.equal(e.code, 'VALIDATION_FAILED');
    assert.ok(Array.isArray(e.details));
    assert.ok(
      e.details.some((d) => d.path === 'role'),
      JSON.stringify(e.details),
    );
    const e2 = await caught(
      lk.credentials.create({ name: 'Bad port', type: 'smtp', config: { host: 'smtp.example.com', port: 70000 }, secret: {} }),
      ValidationError,
    );
    assert.ok(
      e2.details.some((d) => d.path === 'config.port'),
      JSON.stringify(e2.details),
    );
  });

  it('401 is an UnauthenticatedError that never quotes the key', async () => {
    const badKey = 'lk_live_' + 'Z'.repeat(43);
    const stranger = new Latchkey({ baseUrl: s.url, apiKey: badKey });
    const e = await caught(stranger.credentials.list().toArray(), UnauthenticatedError);
    assert.equal(e.code, 'UNAUTHENTICATED');
    for (const text of [e.message, e.stack ?? '', JSON.stringify(e), String(e.details)]) assert.equal(text.includes(badKey), false);
  });

  it('400 for an id the API refuses is a BadRequestError', async () => {
    const e = await caught(lk.credentials.get('not a valid id!'), BadRequestError);
    assert.equal(e.code, 'INVALID_PARAMETER');
  });

  it('refuses bad client options without echoing the key', () => {
    assert.throws(() => new Latchkey({ baseUrl: s.url }), LatchkeyError);
    assert.throws(() => new Latchkey({ baseUrl: s.url, apiKey: 'a', token: 'b' }), LatchkeyError);
    assert.throws(() => new Latchkey({ baseUrl: 'ftp://x', apiKey: 'a' }), LatchkeyError);
    assert.throws(
      () => new Latchkey({ baseUrl: s.url, apiKey: 'secret-key\r\nx-evil: 1' }),
      (e: Error) => !e.message.includes('secret-key'),
    );
  });
});

describe('lk.accessKeys', () => {
  it('creates, lists, gets, renames and revokes', async () => {
    const name = unique('ci deploys');
    const made = await lk.accessKeys.create({ name, role: 'service' });
    assert.match(made.key, /^lk_/);
    assert.equal(made.key.startsWith(made.prefix), true);
    const all = await lk.accessKeys.list({ filter: { name } }).toArray();
    assert.deepEqual(
      all.map((k) => k.id),
      [made.id],
    );
    assert.equal(JSON.stringify(all).includes(made.key), false);
    const got = await lk.accessKeys.get(made.id);
    assert.equal(got.role, 'service');
    const renamed = await lk.accessKeys.rename(made.id, `${name} (renamed)`, { ifMatch: got.etag });
    assert.equal(renamed.name, `${name} (renamed)`);

    const service = new Latchkey({ baseUrl: s.url, apiKey: made.key });
    assert.ok(Array.isArray((await service.credentials.listPage()).data));
    await lk.accessKeys.revoke(made.id);
    await caught(lk.accessKeys.get(made.id), NotFoundError);
    await caught(service.credentials.listPage(), UnauthenticatedError);
  });
});

describe('lk.integrations', () => {
  it("lists an integration's credentials and reveals the chosen or the newest one", async () => {
    const integration = `int-${Date.now()}`;
    const a = await lk.credentials.create({ ...smtpBody(unique('Int A'), 'pw-a'), integration_id: integration });
    const b = await lk.credentials.create({ ...smtpBody(unique('Int B'), 'pw-b'), integration_id: integration });
    const listed = await lk.integrations.list(integration).toArray();
    assert.deepEqual(new Set(listed.map((c) => c.id)), new Set([a.id, b.id]));
    assert.equal((await lk.integrations.reveal(integration, { credentialId: a.id })).secret.password, 'pw-a');
    assert.equal((await lk.integrations.reveal(integration)).secret.password, 'pw-b');
  });
});

describe('lk.auditEvents', () => {
  it('lists events by cursor and verifies the chain', async () => {
    const c = await lk.credentials.create(smtpBody(unique('Audited'), 'pw-audit'));
    await lk.credentials.reveal(c.id);
    const events = await lk.auditEvents.list({ filter: { credential_id: c.id }, perPage: 1 }).toArray();
    assert.deepEqual(events.map((e) => e.action).sort(), ['credential.create', 'credential.reveal']);
    assert.equal(JSON.stringify(events).includes('pw-audit'), false);
    const since = await lk.auditEvents.list({ filter: { since: new Date(Date.now() - 60_000), action: 'credential.reveal' } }).toArray({ limit: 5 });
    assert.ok(since.some((e) => e.target.id === c.id));
    const v = await lk.auditEvents.verify();
    assert.equal(v.ok, true);
    assert.ok(v.events_checked >= 0);
  });
});

describe('lk.tenants', () => {
  it('creates a tenant whose owner key works in it, and lists tenants', async () => {
    const name = unique('Tenant');
    const made = await lk.tenants.create({ name });
    assert.match(made.tenant.id, /^ten_/);
    const owner = new Latchkey({ baseUrl: s.url, apiKey: made.owner_access_key.key });
    assert.deepEqual(
      (await owner.tenants.list()).map((t) => t.id),
      [made.tenant.id],
    );
    assert.equal((await owner.credentials.listPage()).total, 0);
    assert.ok((await lk.tenants.list()).length >= 1);
    // Choosing a tenant the principal is not in is refused.
    await caught(lk.withTenant(made.tenant.id).credentials.listPage(), ForbiddenError);
  });
});

describe('lk.serviceCredentials (dialect of source document 000)', () => {
  it('sends the request of document 000: path under /compat, bearer key, x-tenant-id', async () => {
    const calls: Array<{ url: URL; init: RequestInit }> = [];
    const body = { id: 'service-credential-1', hash: 'service-credential-1', status: 'active', deactivationTime: null, type: 'webhook', _links: [] };
    const fetchFn = (async (input: string | URL | Request, init: RequestInit = {}) => {
      calls.push({ url: new URL(String(input)), init });
      return new Response(JSON.stringify(body), { status: 200, headers: { 'content-type': 'application/json' } });
    }) as typeof fetch;
    const api = new Latchkey({ baseUrl: 'http://vault.test/base/', apiKey: 'lk_test_x', tenantId: 'ten_1', fetch: fetchFn });
    const credential = await api.serviceCredentials.get({ type: 'webhook', id: 'service-credential-1' });
    assert.deepEqual(credential.fields, body);
    assert.equal(calls[0]?.url.href, 'http://vault.test/base/compat/service-credentials/service-credentials/webhook/service-credential-1');
    const headers = calls[0]?.init.headers as Record<string, string>;
    assert.equal(headers.authorization, 'Bearer lk_test_x');
    assert.equal(headers['x-tenant-id'], 'ten_1');
  });

  it('api.serviceCredentials.get({ type, id }) against the real server: credential.fields.status', async () => {
    const c = await lk.credentials.create(smtpBody(unique('Dialect'), 'pw-dialect'));
    const api = new Latchkey({ baseUrl: s.url, apiKey: s.ownerKey });
    const credential = await api.serviceCredentials.get({ type: 'smtp', id: c.id });
    assert.equal(credential.fields.status, 'active');
    assert.equal(credential.fields.id, c.id);
    await caught(api.serviceCredentials.get({ type: 'smtp', id: 'crd_never' }), NotFoundError);
  });
});

describe('lk.teams', () => {
  it('creates, lists, gets, updates with If-Match, and deletes a team', async () => {
    const slug = `ops-${Date.now().toString(36)}`;
    const team = await lk.teams.create({ name: 'Ops', slug });
    assert.equal(team.slug, slug);
    assert.match(team.etag ?? '', /^"\d+"$/);
    const listed: string[] = [];
    for await (const t of lk.teams.list()) listed.push(t.id);
    assert.ok(listed.includes(team.id));
    const got = await lk.teams.get(team.id);
    assert.equal(got.name, 'Ops');
    const updated = await lk.teams.update(team.id, { name: 'Ops 2' }, { ifMatch: got.etag });
    assert.equal(updated.name, 'Ops 2');
    await caught(lk.teams.update(team.id, { name: 'Ops 3' }, { ifMatch: got.etag }), PreconditionFailedError);
    await lk.teams.delete(team.id);
    await caught(lk.teams.get(team.id), NotFoundError);
  });
});

describe('lk.oauth', () => {
  it('connect makes an OAuth2 credential from a preset and answers the provider authorization URL with PKCE', async () => {
    const r = await lk.oauth.connect({
      provider: 'github',
      config: { client_id: 'sdk-client' },
      secret: { client_secret: 'sdk-client-secret' },
      scopes: ['repo'],
    });
    const url = new URL(r.authorization_url);
    assert.equal(url.origin, 'https://github.com');
    assert.equal(url.searchParams.get('client_id'), 'sdk-client');
    assert.equal(url.searchParams.get('code_challenge_method'), 'S256');
    assert.ok(url.searchParams.get('state'));
    const made = await lk.credentials.get(r.credential_id);
    assert.equal(made.type, 'oauth2');
    assert.equal(JSON.stringify(made).includes('sdk-client-secret'), false);
    const again = await lk.oauth.connect({ credential_id: r.credential_id });
    assert.notEqual(new URL(again.authorization_url).searchParams.get('state'), url.searchParams.get('state'));
    const bad = await caught(lk.oauth.connect({ provider: 'github', config: { client_id: 'x' } }), ValidationError);
    assert.match(JSON.stringify(bad.details), /client_secret/);
  });
});

describe('lk.credentials.rotate and verify', () => {
  it('rotate with no secret makes a new one for a type that can, with an Idempotency-Key', async () => {
    const c = await lk.credentials.create({
      name: unique('Generated'),
      type: 'webhook',
      config: { url: 'https://hooks.example.com/in' },
      secret: { signing_secret: 'whsec-original-0123456789' },
    });
    const rotated = await lk.credentials.rotate(c.id);
    assert.equal(rotated.version, 2);
    const now = (await lk.credentials.reveal(c.id)).secret;
    assert.notEqual(now.signing_secret, 'whsec-original-0123456789');
  });

  it('verify answers a typed 422 for a type without a live check', async () => {
    const c = await lk.credentials.create({ name: unique('Text'), type: 'text', secret: { value: 'plain' } });
    const err = await caught(lk.credentials.verify(c.id), ValidationError);
    assert.equal(err.status, 422);
    assert.match(err.requestId ?? '', /^req_/);
  });
});

describe('retries', () => {
  it('a real 429 from a rate-limited server is a RateLimitedError with retryAfterSeconds', async () => {
    const limited = await startServer({ env: { LATCHKEY_RATE_LIMIT: '5' } });
    try {
      const client = new Latchkey({ baseUrl: limited.url, apiKey: limited.ownerKey, maxRetries: 0 });
      let error: RateLimitedError | undefined;
      for (let i = 0; i < 10 && !error; i++) {
        try {
          await client.credentials.listPage();
        } catch (err) {
          assert.ok(err instanceof RateLimitedError, String(err));
          error = err;
        }
      }
      assert.ok(error, 'the limit was reached within 10 requests');
      assert.equal(error.status, 429);
      assert.equal(error.code, 'RATE_LIMITED');
      assert.ok(error.retryAfterSeconds !== undefined && error.retryAfterSeconds >= 1 && error.retryAfterSeconds <= 60, String(error.retryAfterSeconds));
      assert.match(error.requestId ?? '', /^req_/);

      // With retries on, a Retry-After beyond maxRetryDelayMs is not slept through: the caller hears at once.
      const patient = new Latchkey({
        baseUrl: limited.url,
        apiKey: limited.ownerKey,
        maxRetries: 3,
        maxRetryDelayMs: Math.max(1, (error.retryAfterSeconds - 2) * 1000),
      });
      const started = Date.now();
      await caught(patient.credentials.listPage(), RateLimitedError);
      assert.ok(Date.now() - started < 2000);
    } finally {
      await limited.stop();
    }
  });

  it('waits out a real Retry-After and then succeeds', async () => {
    const limited = await startServer({ env: { LATCHKEY_RATE_LIMIT: '5', LATCHKEY_RATE_LIMIT_WINDOW_SECONDS: '2' } });
    try {
      const client = new Latchkey({ baseUrl: limited.url, apiKey: limited.ownerKey, maxRetryDelayMs: 5_000 });
      for (let i = 0; i < 5; i++) await client.credentials.listPage({ maxRetries: 0 });
      const started = Date.now();
      const page = await client.credentials.listPage();
      assert.ok(Array.isArray(page.data));
      assert.ok(Date.now() - started >= 1000, 'it waited');
    } finally {
      await limited.stop();
    }
  });

  it('retries 429 with Retry-After: 1 twice, waiting each time, then resolves', async () => {
    const p = await peer((_req, res, n) => {
      if (n <= 2) return json(res, 429, envelope('RATE_LIMITED', 'slow down'), { 'retry-after': '1' });
      return json(res, 200, { data: [], page: 1, per_page: 25, total: 0, next_cursor: null });
    });
    try {
      const client = new Latchkey({ baseUrl: p.url, apiKey: 'lk_test_peer' });
      const started = Date.now();
      const page = await client.credentials.listPage();
      const elapsed = Date.now() - started;
      assert.equal(page.total, 0);
      assert.equal(p.hits.length, 3);
      assert.ok(elapsed >= 2000 && elapsed < 5000, `waited ${elapsed} ms`);
    } finally {
      await p.close();
    }
  });

  it('retries 503 with an HTTP-date Retry-After, and 429 without one by jittered backoff', async () => {
    const p = await peer((_req, res, n) => {
      if (n === 1) return json(res, 503, envelope('UNAVAILABLE', 'store down'), { 'retry-after': new Date(Date.now() + 2000).toUTCString() });
      if (n === 2) return json(res, 429, envelope('RATE_LIMITED', 'slow down'));
      return json(res, 200, { data: [] });
    });
    try {
      const client = new Latchkey({ baseUrl: p.url, apiKey: 'lk_test_peer', retryBaseDelayMs: 20 });
      // 429 and 503 mean "not carried out", so even a POST is sent again, with the same Idempotency-Key.
      const started = Date.now();
      await client.tenants.create({ name: 'Retried' });
      assert.ok(Date.now() - started >= 900, 'waited for the date');
      assert.equal(p.hits.length, 3);
      assert.equal(new Set(p.hits.map((h) => h.headers['idempotency-key'])).size, 1);
    } finally {
      await p.close();
    }
  });

  it('gives up after maxRetries, never retries other 4xx, and honours a Retry-After beyond the cap by throwing', async () => {
    const p = await peer((req, res) => {
      if (req.url?.startsWith('/v1/credentials/bad')) return json(res, 400, envelope('INVALID_PARAMETER', 'bad'));
      if (req.url?.startsWith('/v1/credentials/long')) return json(res, 429, envelope('RATE_LIMITED', 'later'), { 'retry-after': '120' });
      return json(res, 429, envelope('RATE_LIMITED', 'slow down'), { 'retry-after': '0' });
    });
    try {
      const client = new Latchkey({ baseUrl: p.url, apiKey: 'lk_test_peer', maxRetries: 2, retryBaseDelayMs: 10 });
      const e = await caught(client.credentials.get('x'), RateLimitedError);
      assert.equal(e.requestId, 'req_peer');
      assert.equal(p.hits.length, 3);

      await caught(client.credentials.get('bad'), BadRequestError);
      assert.equal(p.hits.length, 4);

      const started = Date.now();
      const long = await caught(client.credentials.get('long'), RateLimitedError);
      assert.equal(long.retryAfterSeconds, 120);
      assert.equal(p.hits.length, 5);
      assert.ok(Date.now() - started < 1000);
    } finally {
      await p.close();
    }
  });

  it('resends after a reset connection only when that is safe', async () => {
    const p = await peer((req, res, n) => {
      if (n % 2 === 1) return req.socket.destroy();
      return json(res, req.method === 'POST' ? 201 : 200, { id: 'crd_1', data: [] });
    });
    try {
      const client = new Latchkey({ baseUrl: p.url, apiKey: 'lk_test_peer', retryBaseDelayMs: 10 });
      await client.credentials.get('crd_1'); // GET: resent
      assert.equal(p.hits.length, 2);

      await client.credentials.create(smtpBody('Retried')); // POST with the SDK's Idempotency-Key: resent with the same key
      assert.equal(p.hits.length, 4);
      const [first, second] = [p.hits[2], p.hits[3]];
      assert.match(String(first?.headers['idempotency-key']), /^sdk_/);
      assert.equal(first?.headers['idempotency-key'], second?.headers['idempotency-key']);
      assert.equal(first?.body, second?.body);

      const e = await caught(client.credentials.update('crd_1', { name: 'x' }), LatchkeyConnectionError); // PATCH: never resent
      assert.equal(p.hits.length, 5);
      assert.equal(e.message.includes('lk_test_peer'), false);
    } finally {
      await p.close();
    }
  });

  it('retry policy: Retry-After parsing and full-jitter bounds', () => {
    assert.equal(parseRetryAfter('3'), 3000);
    assert.equal(parseRetryAfter(' 0 '), 0);
    assert.equal(parseRetryAfter(new Date(10_000 + 5000).toUTCString(), 10_000), 5000);
    assert.equal(parseRetryAfter(new Date(0).toUTCString(), 10_000), 0);
    assert.equal(parseRetryAfter('soon'), undefined);
    assert.equal(parseRetryAfter(null), undefined);
    const policy = { maxRetries: 3, baseDelayMs: 100, maxDelayMs: 1000 };
    assert.equal(
      retryDelayMs(0, policy, undefined, () => 0),
      0,
    );
    assert.equal(
      retryDelayMs(0, policy, undefined, () => 0.999999),
      99,
    );
    assert.equal(
      retryDelayMs(2, policy, undefined, () => 0.999999),
      399,
    );
    assert.equal(
      retryDelayMs(2, { ...policy, maxDelayMs: 250 }, undefined, () => 0.999999),
      249,
    );
    assert.equal(
      retryDelayMs(3, policy, undefined, () => 0.5),
      null,
    );
    assert.equal(
      retryDelayMs(0, policy, 800, () => 0),
      800,
    );
    assert.ok((retryDelayMs(0, policy, 800, () => 1) ?? 0) <= 1000);
    assert.equal(
      retryDelayMs(0, policy, 1500, () => 0),
      null,
    );
  });

  it('maps a non-JSON error page to a typed error without its body', async () => {
    const p = await peer((_req, res) =>
      res.writeHead(502, { 'content-type': 'text/html', 'x-request-id': 'req_proxy' }).end('<html>Bearer lk_test_peer</html>'),
    );
    try {
      const client = new Latchkey({ baseUrl: p.url, apiKey: 'lk_test_peer', maxRetries: 0 });
      const e = await caught(client.credentials.get('x'), InternalServerError);
      assert.equal(e.status, 502);
      assert.equal(e.requestId, 'req_proxy');
      assert.equal(e.message.includes('lk_test_peer'), false);
    } finally {
      await p.close();
    }
  });

  it('scrubs the key from an error body that echoes it', async () => {
    const p = await peer((req, res) => json(res, 401, envelope('UNAUTHENTICATED', `bad key ${req.headers.authorization}`)));
    try {
      const client = new Latchkey({ baseUrl: p.url, apiKey: 'lk_test_echoed_key' });
      const e = await caught(client.credentials.get('x'), UnauthenticatedError);
      assert.equal(e.message.includes('lk_test_echoed_key'), false);
      assert.match(e.message, /\[redacted\]/);
      assert.equal(p.hits.length, 1);
    } finally {
      await p.close();
    }
  });
});

describe('timeouts', () => {
  it('a server that never answers is a LatchkeyTimeoutError after timeoutMs', async () => {
    const p = await peer(() => {
      /* never answer */
    });
    try {
      const client = new Latchkey({ baseUrl: p.url, apiKey: 'lk_test_peer', timeoutMs: 200, maxRetries: 0 });
      const started = Date.now();
      const e = await caught(client.credentials.get('crd_1'), LatchkeyTimeoutError);
      const elapsed = Date.now() - started;
      assert.equal(e.timeoutMs, 200);
      assert.ok(elapsed >= 180 && elapsed < 1500, `took ${elapsed} ms`);
      assert.equal(p.hits.length, 1);

      // A GET may be resent after a timeout; each attempt gets its own deadline.
      const again = new Latchkey({ baseUrl: p.url, apiKey: 'lk_test_peer', timeoutMs: 200, maxRetries: 1, retryBaseDelayMs: 10 });
      await caught(again.credentials.get('crd_1'), LatchkeyTimeoutError);
      assert.equal(p.hits.length, 3);

      // A PATCH is not resent: it might have been applied.
      await caught(again.credentials.update('crd_1', { name: 'x' }), LatchkeyTimeoutError);
      assert.equal(p.hits.length, 4);
    } finally {
      await p.close();
    }
  });

  it("the caller's AbortSignal wins over the timeout and the retries", async () => {
    const p = await peer(() => {
      /* never answer */
    });
    try {
      const client = new Latchkey({ baseUrl: p.url, apiKey: 'lk_test_peer', timeoutMs: 5000 });
      const controller = new AbortController();
      const call = client.credentials.get('crd_1', { signal: controller.signal });
      // Given up once the request is at the peer (not after a fixed 100 ms, which a loaded box may not reach it in).
      while (p.hits.length === 0) await new Promise((r) => setTimeout(r, 5));
      controller.abort(new Error('caller gave up'));
      await assert.rejects(call, /caller gave up/);
      assert.equal(p.hits.length, 1);
    } finally {
      await p.close();
    }
  });
});
