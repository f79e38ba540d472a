import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readTree, smtpBody, startServer, type TestServer } from '../support/server.ts';

let s: TestServer;
const stored: string[] = [];
const secretOf = (tag: string) => {
  const v = `SECRET-${tag}-${Math.random().toString(36).slice(2)}${Date.now()}`;
  stored.push(v);
  return v;
};

async function create(name: string, extra: Record<string, unknown> = {}) {
  const body = { ...smtpBody(name, secretOf(name)), ...extra };
  const r = await s.request('POST', '/v1/credentials', { body });
  assert.equal(r.status, 201, r.text);
  return r.body;
}

before(async () => {
  s = await startServer();
});

after(async () => {
  await s.stop();
  // Nothing the suite stored as a secret may appear in the logs or anywhere in the data directory.
  const haystacks = [Buffer.from(s.logs()), ...readTree(s.dataDir)];
  for (const secret of stored) {
    for (const h of haystacks) assert.equal(h.includes(secret), false, `secret ${secret.slice(0, 12)}… leaked`);
  }
});

describe('POST /v1/credentials', () => {
  it('creates with catalog defaults, never returns the secret, and sets ETag', async () => {
    const password = secretOf('create');
    const r = await s.request('POST', '/v1/credentials', { body: smtpBody('Create Me', password) });
    assert.equal(r.status, 201);
    assert.match(r.body.id, /^crd_[0-9A-Z]{26}$/);
    assert.equal(r.body.slug, 'create_me');
    assert.deepEqual(r.body.config, { host: 'smtp.example.com', auth_type: 'login', username: 'mailer', port: 25, encryption: 'none' });
    assert.deepEqual(r.body.secret_fields, ['password']);
    assert.equal(r.body.status, 'active');
    assert.equal(r.body.version, 1);
    assert.equal(r.body.read_access, 'GLOBAL');
    assert.deepEqual(r.body._links, [{ rel: 'self', href: `/v1/credentials/${r.body.id}` }]);
    assert.equal(r.text.includes(password), false);
    assert.equal(r.headers.get('etag'), '"1"');
    assert.match(r.headers.get('x-request-id') ?? '', /^req_/);
  });

  it('generates a secret for a generatable type and shows it only in the create response', async () => {
    const r = await s.request('POST', '/v1/credentials', {
      body: { name: 'Hook', type: 'webhook', config: { url: 'https://hooks.example.com/in', auth_type: 'signing_secret' } },
    });
    assert.equal(r.status, 201, r.text);
    const made = r.body.generated_secret.signing_secret as string;
    assert.match(made, /^whsec_/);
    stored.length; // generated secrets are shown once by design; they are checked against logs below
    const get = await s.request('GET', `/v1/credentials/${r.body.id}`);
    assert.equal(get.text.includes(made), false);
    const rev = await s.request('GET', `/v1/credentials/${r.body.id}/secret`);
    assert.equal(rev.body.secret.signing_secret, made);
    assert.equal(s.logs().includes(made), false);
  });

  it('refuses a duplicate name with 409 CONFLICT', async () => {
    await create('Dup Name');
    const r = await s.request('POST', '/v1/credentials', { body: smtpBody('dup name') });
    assert.equal(r.status, 409);
    assert.equal(r.body.error.code, 'CONFLICT');
  });

  it('replays the first answer for the same Idempotency-Key and body, 409 for another body', async () => {
    const body = smtpBody('Idem One', secretOf('idem'));
    const h = { 'idempotency-key': 'idem-' + Date.now() };
    const a = await s.request('POST', '/v1/credentials', { body, headers: h });
    const b = await s.request('POST', '/v1/credentials', { body, headers: h });
    assert.equal(a.status, 201);
    assert.equal(b.status, 201);
    assert.equal(b.body.id, a.body.id);
    assert.equal(b.headers.get('idempotent-replayed'), 'true');
    const c = await s.request('POST', '/v1/credentials', { body: { ...body, name: 'Idem Two' }, headers: h });
    assert.equal(c.status, 409);
    assert.equal(c.body.error.code, 'IDEMPOTENCY_CONFLICT');
    const list = await s.request('GET', '/v1/credentials?filter[name]=idem');
    assert.equal(list.body.total, 1);
  });

  it('makes one credential from 10 concurrent requests with one Idempotency-Key', async () => {
    const body = smtpBody('Idem Race', secretOf('race'));
    const h = { 'idempotency-key': 'race-' + Date.now() };
    const all = await Promise.all(Array.from({ length: 10 }, () => s.request('POST', '/v1/credentials', { body, headers: h })));
    assert.deepEqual([...new Set(all.map((r) => r.status))], [201]);
    assert.equal(new Set(all.map((r) => r.body.id)).size, 1);
  });
});

describe('PUT /v1/credentials/{id}', () => {
  it('creates with a caller-chosen id (201), then replaces it whole (200, new version)', async () => {
    const id = 'my-smtp.prod@1';
    const first = await s.request('PUT', `/v1/credentials/${id}`, { body: smtpBody('Chosen', secretOf('put1')) });
    assert.equal(first.status, 201, first.text);
    assert.equal(first.body.id, id);
    const second = await s.request('PUT', `/v1/credentials/${id}`, {
      body: { ...smtpBody('Chosen Renamed', secretOf('put2')), description: 'replaced' },
      headers: { 'if-match': first.headers.get('etag')! },
    });
    assert.equal(second.status, 200, second.text);
    assert.equal(second.body.version, 2);
    assert.equal(second.body.description, 'replaced');
    assert.equal(second.body.created_at, first.body.created_at);
    const stale = await s.request('PUT', `/v1/credentials/${id}`, { body: smtpBody('Chosen Again'), headers: { 'if-match': first.headers.get('etag')! } });
    assert.equal(stale.status, 412);
    assert.equal(stale.body.error.code, 'PRECONDITION_FAILED');
  });

  it('refuses to change the type of an existing credential', async () => {
    const c = await create('Typed');
    const r = await s.request('PUT', `/v1/credentials/${c.id}`, { body: { name: 'Typed', type: 'text', secret: { value: 'x' } } });
    assert.equal(r.status, 422);
    assert.equal(r.body.error.details[0].path, 'type');
  });
});

describe('GET /v1/credentials', () => {
  it('pages with page/per_page and with a stable cursor, newest first', async () => {
    const names: string[] = [];
    for (let i = 0; i < 7; i++) names.push((await create(`Pager ${i}`, { integration_id: 'pager-int', provider: 'acme' })).name);
    const p1 = await s.request('GET', '/v1/credentials?filter[integration_id]=pager-int&per_page=3');
    assert.equal(p1.status, 200);
    assert.equal(p1.body.total, 7);
    assert.equal(p1.body.per_page, 3);
    assert.deepEqual(
      p1.body.data.map((c: any) => c.name),
      ['Pager 6', 'Pager 5', 'Pager 4'],
    );
    const p3 = await s.request('GET', '/v1/credentials?filter[integration_id]=pager-int&per_page=3&page=3');
    assert.deepEqual(
      p3.body.data.map((c: any) => c.name),
      ['Pager 0'],
    );
    assert.equal(p3.body.next_cursor, null);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const q: string = `/v1/credentials?filter[integration_id]=pager-int&per_page=2${cursor ? `&cursor=${cursor}` : ''}`;
      const r = await s.request('GET', q);
      seen.push(...r.body.data.map((c: any) => c.name));
      cursor = r.body.next_cursor;
    } while (cursor);
    assert.deepEqual(seen, [...names].reverse());
  });

  it('filters by name (contains, case-insensitive), type, status, provider, integration and expiry', async () => {
    const soon = new Date(Date.now() + 86_400_000).toISOString();
    const a = await create('Filter Alpha', { provider: 'filterco', expires_at: soon });
    await create('Filter Beta', { provider: 'filterco' });
    const t = await s.request('POST', '/v1/credentials', { body: { name: 'Filter Text', type: 'text', secret: { value: secretOf('ft') } } });
    assert.equal(t.status, 201);
    const q = async (qs: string) => (await s.request('GET', `/v1/credentials?${qs}`)).body.data.map((c: any) => c.name).sort();
    assert.deepEqual(await q('filter[name]=FILTER%20a'), ['Filter Alpha']);
    assert.deepEqual(await q('filter[name]=filter&filter[type]=text'), ['Filter Text']);
    assert.deepEqual(await q('filter[provider]=filterco'), ['Filter Alpha', 'Filter Beta']);
    assert.deepEqual(await q(`filter[expires_before]=${encodeURIComponent(new Date(Date.now() + 2 * 86_400_000).toISOString())}`), ['Filter Alpha']);
    await s.request('PATCH', `/v1/credentials/${a.id}`, { body: { status: 'inactive' } });
    assert.deepEqual(await q('filter[name]=filter&filter[status]=inactive'), ['Filter Alpha']);
    assert.deepEqual(await q('filter[name]=%25'), []);
  });
});

describe('GET/PATCH /v1/credentials/{id}', () => {
  it('returns metadata with an ETag; 404 CREDENTIAL_NOT_FOUND for an unknown id', async () => {
    const c = await create('Getter');
    const r = await s.request('GET', `/v1/credentials/${c.id}`);
    assert.equal(r.status, 200);
    assert.equal(r.body.id, c.id);
    assert.equal(r.headers.get('etag'), '"1"');
    const missing = await s.request('GET', '/v1/credentials/crd_DOESNOTEXIST');
    assert.equal(missing.status, 404);
    assert.equal(missing.body.error.code, 'CREDENTIAL_NOT_FOUND');
    assert.equal(missing.body.error.request_id, missing.headers.get('x-request-id'));
  });

  it('patches metadata without a new version and a secret with one (merged with the old secret)', async () => {
    const c = await create('Patchy');
    const meta = await s.request('PATCH', `/v1/credentials/${c.id}`, {
      body: { description: 'now described', metadata: { env: 'prod' }, config: { port: 587 } },
    });
    assert.equal(meta.status, 200, meta.text);
    assert.equal(meta.body.version, 1);
    assert.equal(meta.body.config.port, 587);
    assert.equal(meta.body.config.host, 'smtp.example.com');
    const newPassword = secretOf('patch');
    const sec = await s.request('PATCH', `/v1/credentials/${c.id}`, {
      body: { secret: { password: newPassword } },
      headers: { 'if-match': meta.headers.get('etag')! },
    });
    assert.equal(sec.status, 200, sec.text);
    assert.equal(sec.body.version, 2);
    const rev = await s.request('GET', `/v1/credentials/${c.id}/secret`);
    assert.deepEqual(rev.body.secret, { password: newPassword });
    const stale = await s.request('PATCH', `/v1/credentials/${c.id}`, { body: { description: 'x' }, headers: { 'if-match': meta.headers.get('etag')! } });
    assert.equal(stale.status, 412);
  });

  it('validates a patched config against the type', async () => {
    const c = await create('Patch Invalid');
    const r = await s.request('PATCH', `/v1/credentials/${c.id}`, { body: { config: { port: 70000 } } });
    assert.equal(r.status, 422);
    assert.deepEqual(r.body.error.details, [{ path: 'config.port', message: 'must be <= 65535' }]);
    const after = await s.request('GET', `/v1/credentials/${c.id}`);
    assert.equal(after.body.config.port, 25);
  });

  it('keeps exactly one winner among concurrent PATCHes with the same If-Match', async () => {
    const c = await create('Racer');
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => s.request('PATCH', `/v1/credentials/${c.id}`, { body: { description: `w${i}` }, headers: { 'if-match': '"1"' } })),
    );
    assert.equal(results.filter((r) => r.status === 200).length, 1);
    assert.equal(results.filter((r) => r.status === 412).length, 19);
  });
});

describe('status lifecycle', () => {
  it('active → inactive → active, then deactivated for good', async () => {
    const c = await create('Lifecycle');
    const off = await s.request('PATCH', `/v1/credentials/${c.id}`, { body: { status: 'inactive' } });
    assert.equal(off.body.status, 'inactive');
    const reveal = await s.request('GET', `/v1/credentials/${c.id}/secret`);
    assert.equal(reveal.status, 409);
    assert.equal(reveal.body.error.code, 'CREDENTIAL_INACTIVE');
    const owner = await s.request('GET', `/v1/credentials/${c.id}/secret?allow_inactive=true`);
    assert.equal(owner.status, 200);
    const on = await s.request('PATCH', `/v1/credentials/${c.id}`, { body: { status: 'active' } });
    assert.equal(on.body.status, 'active');
    assert.equal(on.body.deactivation_time, null);
    const dead = await s.request('PATCH', `/v1/credentials/${c.id}`, { body: { status: 'deactivated' } });
    assert.equal(dead.body.status, 'deactivated');
    assert.ok(Date.parse(dead.body.deactivation_time) <= Date.now());
    for (const body of [{ status: 'active' }, { description: 'again' }]) {
      const r = await s.request('PATCH', `/v1/credentials/${c.id}`, { body });
      assert.equal(r.status, 409);
      assert.equal(r.body.error.code, 'CONFLICT');
    }
  });

  it('a deactivation_time in the past deactivates at once; a future one is kept', async () => {
    const future = new Date(Date.now() + 3_600_000).toISOString();
    const c = await create('Scheduled', { deactivation_time: future });
    assert.equal(c.status, 'active');
    assert.equal(c.deactivation_time, future);
    const past = await s.request('PATCH', `/v1/credentials/${c.id}`, { body: { deactivation_time: '2020-01-01T00:00:00.000Z' } });
    assert.equal(past.body.status, 'deactivated');
  });
});

describe('DELETE and restore', () => {
  it('soft-deletes (404 everywhere), restores, and purges for owners', async () => {
    const c = await create('Deletable');
    const del = await s.request('DELETE', `/v1/credentials/${c.id}`);
    assert.equal(del.status, 204);
    assert.equal(del.text, '');
    for (const [m, p] of [
      ['GET', ''],
      ['GET', '/secret'],
      ['PATCH', ''],
      ['DELETE', ''],
    ] as const) {
      const r = await s.request(m, `/v1/credentials/${c.id}${p}`, m === 'PATCH' ? { body: { description: 'x' } } : {});
      assert.equal(r.status, 404, `${m} ${p}`);
      assert.equal(r.body.error.code, 'CREDENTIAL_NOT_FOUND');
    }
    const listed = await s.request('GET', '/v1/credentials?filter[name]=deletable');
    assert.equal(listed.body.total, 0);
    const restored = await s.request('POST', `/v1/credentials/${c.id}/restore`);
    assert.equal(restored.status, 200);
    assert.equal((await s.request('GET', `/v1/credentials/${c.id}`)).status, 200);
    const again = await s.request('POST', `/v1/credentials/${c.id}/restore`);
    assert.equal(again.status, 409);
    const purge = await s.request('DELETE', `/v1/credentials/${c.id}?purge=true`);
    assert.equal(purge.status, 204);
    assert.equal((await s.request('POST', `/v1/credentials/${c.id}/restore`)).status, 404);
  });

  it('a stale If-Match on DELETE is 412 and deletes nothing', async () => {
    const c = await create('Guarded Delete');
    await s.request('PATCH', `/v1/credentials/${c.id}`, { body: { description: 'moved on' } });
    const r = await s.request('DELETE', `/v1/credentials/${c.id}`, { headers: { 'if-match': '"1"' } });
    assert.equal(r.status, 412);
    assert.equal((await s.request('GET', `/v1/credentials/${c.id}`)).status, 200);
  });
});

describe('GET /v1/credentials/{id}/secret', () => {
  it('reveals with no-store, records last_used_at and an audit event', async () => {
    const password = secretOf('reveal');
    const c = (await s.request('POST', '/v1/credentials', { body: smtpBody('Revealer', password) })).body;
    const r = await s.request('GET', `/v1/credentials/${c.id}/secret`);
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('cache-control'), 'no-store');
    assert.deepEqual(r.body.secret, { password });
    assert.ok(r.body.last_used_at);
    const meta = await s.request('GET', `/v1/credentials/${c.id}`);
    assert.equal(meta.body.last_used_at, r.body.last_used_at);
    const events = await s.request('GET', `/v1/audit-events?filter[credential_id]=${c.id}&filter[action]=credential.reveal`);
    assert.equal(events.body.data.length, 1);
    assert.equal(events.body.data[0].request_id, r.headers.get('x-request-id'));
    assert.equal(events.text.includes(password), false);
  });

  it('reveals the test secret, and only it, with ?variant=test', async () => {
    const live = secretOf('live');
    const test = secretOf('test');
    const c = await s.request('POST', '/v1/credentials', {
      body: { ...smtpBody('Two Faced', live), test_credential_enabled: true, test_secret: { password: test } },
    });
    assert.equal(c.status, 201, c.text);
    const r = await s.request('GET', `/v1/credentials/${c.body.id}/secret?variant=test`);
    assert.deepEqual(r.body.test_secret, { password: test });
    assert.deepEqual(r.body.secret, { password: test });
    assert.equal(r.text.includes(live), false);
    const plain = await s.request('GET', `/v1/credentials/${c.body.id}/secret`);
    assert.equal(plain.body.test_secret, undefined);
  });
});

describe('integration views', () => {
  it('lists an integration and reveals its newest active credential or the one asked for', async () => {
    const a = await create('Int A', { integration_id: 'servicenow-prod-001' });
    const b = await create('Int B', { integration_id: 'servicenow-prod-001' });
    await s.request('PATCH', `/v1/credentials/${a.id}`, { body: { description: 'touched last' } });
    const list = await s.request('GET', '/v1/integrations/servicenow-prod-001/credentials');
    assert.equal(list.body.total, 2);
    const newest = await s.request('GET', '/v1/integrations/servicenow-prod-001/secret');
    assert.equal(newest.body.id, a.id);
    const picked = await s.request('GET', `/v1/integrations/servicenow-prod-001/secret?credential_id=${b.id}`);
    assert.equal(picked.body.id, b.id);
    assert.equal(picked.headers.get('cache-control'), 'no-store');
    const foreign = await create('Other Int', { integration_id: 'other' });
    const wrong = await s.request('GET', `/v1/integrations/servicenow-prod-001/secret?credential_id=${foreign.id}`);
    assert.equal(wrong.status, 404);
    const none = await s.request('GET', '/v1/integrations/servicenow-prod-999/secret');
    assert.equal(none.status, 404);
    assert.equal(none.body.error.code, 'CREDENTIAL_NOT_FOUND');
  });
});

describe('catalog, operations and docs', () => {
  it('GET /v1/credential-types lists every type of the catalog', async () => {
    const r = await s.request('GET', '/v1/credential-types');
    const ids = r.body.data.map((t: any) => t.id);
    for (const t of [
      'smtp',
      'webhook',
      'mailgun',
      'sendgrid',
      'aws-ses',
      'postmark',
      'experian',
      'taxjar',
      'avalara',
      'oauth2',
      'text',
      'api_key',
      'basic',
      'jwt',
      'aws',
      'mtls',
      'http_request',
      'postgresql',
      'sftp',
    ]) {
      assert.ok(ids.includes(t), t);
    }
    const smtp = r.body.data.find((t: any) => t.id === 'smtp');
    assert.equal(smtp.config_schema.properties.port.default, 25);
    assert.deepEqual(smtp.secret_fields, ['password']);
    // Requirements spanning config and secret, for forms: the smtp password unless auth_type is none.
    assert.deepEqual(smtp.rules, [{ when: { 'config.auth_type': { not: 'none' } }, require: ['secret.password'] }]);
    assert.deepEqual(r.body.data.find((t: any) => t.id === 'text').rules, []);
  });

  it('/healthz, /readyz, /metrics and /openapi.json answer without a key; /v1 needs one', async () => {
    assert.equal((await s.request('GET', '/healthz', { key: null })).status, 200);
    const ready = await s.request('GET', '/readyz', { key: null });
    const { keys, ...health } = ready.body;
    assert.deepEqual(health, { ok: true, store: 'ok', key_provider: 'ok' });
    // Key status: ids only, never key material (test/http/keys.test.ts covers a rotation in progress).
    assert.deepEqual(Object.keys(keys).sort(), ['root_key_id', 'rotating_to', 'rotation_in_progress']);
    assert.match(keys.root_key_id, /^local:[0-9a-f]{16}$/);
    assert.equal(keys.rotation_in_progress, false);
    const metrics = await s.request('GET', '/metrics', { key: null });
    assert.match(metrics.text, /latchkey_http_requests_total/);
    const spec = await s.request('GET', '/openapi.json', { key: null });
    assert.equal(spec.body.openapi, '3.1.0');
    assert.ok(spec.body.paths['/v1/credentials/{id}/secret']);
    const docs = await s.request('GET', '/docs/', { key: null });
    assert.equal(docs.status, 200);
    assert.match(docs.text, /swagger/i);
    const denied = await s.request('GET', '/v1/credentials', { key: null });
    assert.equal(denied.status, 401);
    assert.equal(denied.body.error.code, 'UNAUTHENTICATED');
  });

  it('unknown routes answer the envelope with 404 NOT_FOUND', async () => {
    const r = await s.request('GET', '/v1/nothing-here');
    assert.equal(r.status, 404);
    assert.equal(r.body.error.code, 'NOT_FOUND');
  });
});
