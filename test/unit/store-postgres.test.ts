import { after, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import pg from 'pg';
import { MIGRATIONS } from '../../src/store/migrations/migrations.js';
import type { AccessKeyRow, ActorRef, AuditRow, CredentialRow, IdempotencyRow, Store, TenantKeyRow, TenantRow, VersionRow } from '../../src/store/port.js';
import { numberParams } from '../../src/store/postgres/numbered-params.js';
import { openPostgresStore } from '../../src/store/postgres/postgres-store.js';
import { checkChainPage, GENESIS_HASH, sealEvents } from '../../src/services/audit/audit-chain.js';

/*
 * The PostgreSQL adapter against a real server, through the Store port only. Each run works in
 * databases of its own (lk_test_<random>), dropped at the end, so parallel runs do not collide.
 * Without a reachable server every test reports SKIPPED (never passed); CI sets
 * LATCHKEY_TEST_DATABASE_URL and must not see that line.
 */

const URL_VAR = 'LATCHKEY_TEST_DATABASE_URL';
const adminUrl = process.env[URL_VAR];

async function serverProblem(): Promise<string | null> {
  if (!adminUrl) return `${URL_VAR} is not set`;
  const client = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 2000 });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('SELECT 1');
    return null;
  } catch (err) {
    return (err as Error).message;
  } finally {
    await client.end().catch(() => {});
  }
}

function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '<unparseable URL>';
  }
}

const problem = await serverProblem();
const SKIP_MESSAGE = `SKIPPED: PostgreSQL store tests — no server at ${adminUrl ? redact(adminUrl) : `(${URL_VAR} unset)`} (${problem ?? ''})`;
if (problem !== null) console.error(`\n*** ${SKIP_MESSAGE} ***\n`);

/** Returns true (and marks the test skipped) when there is no server. */
function noServer(t: TestContext): boolean {
  if (problem === null) return false;
  t.skip(SKIP_MESSAGE);
  return true;
}

// --- databases and stores made by this run ------------------------------------------------

const runId = randomBytes(4).toString('hex');
const createdDatabases: string[] = [];
const openedStores: Store[] = [];

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 2000 });
  client.on('error', () => {});
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

async function freshDatabaseUrl(): Promise<string> {
  const name = `lk_test_${runId}_${createdDatabases.length}`;
  await admin((c) => c.query(`CREATE DATABASE ${name}`));
  createdDatabases.push(name);
  const u = new URL(adminUrl as string);
  u.pathname = `/${name}`;
  return u.toString();
}

async function open(url: string, opts: { poolSize?: number } = {}): Promise<Store> {
  const store = await openPostgresStore({ url, ...opts });
  openedStores.push(store);
  return store;
}

let shared: { url: string; a: Store; b: Store } | undefined;
/** One migrated database with two stores on it: two pools stand in for two Latchkey processes. */
async function sharedStores(): Promise<{ url: string; a: Store; b: Store }> {
  if (!shared) {
    const url = await freshDatabaseUrl();
    const a = await open(url);
    await a.migrate();
    const b = await open(url);
    shared = { url, a, b };
  }
  return shared;
}

after(async () => {
  for (const s of openedStores) await s.close().catch(() => {});
  if (problem !== null) return;
  await admin(async (c) => {
    for (const name of createdDatabases) await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  });
});

// --- fixtures ------------------------------------------------------------------------------

let counter = 0;
const uid = (prefix: string): string => `${prefix}_${runId}_${String(++counter).padStart(5, '0')}`;
const actor: ActorRef = { type: 'system', id: 'sys_test', name: 'test', email: null };
const iso = (ms: number): string => new Date(Date.UTC(2024, 0, 1) + ms).toISOString();

function tenantFixture(): { tenant: TenantRow; key: TenantKeyRow } {
  const id = uid('ten');
  return {
    tenant: { id, name: `tenant ${id}`, createdAt: iso(0) },
    key: { tenantId: id, version: 1, wrappedKey: randomBytes(60), rootKeyId: 'root-1', createdAt: iso(0) },
  };
}

function accessKeyFixture(tenantId: string, role: string, over: Partial<AccessKeyRow> = {}): AccessKeyRow {
  const id = uid('key');
  return {
    id,
    tenantId,
    name: `key ${id}`,
    type: 'api',
    role,
    teamIds: ['team_a'],
    prefix: 'lk_abc',
    keyHash: createHash('sha256').update(id).digest(),
    platformAdmin: false,
    expiresAt: null,
    lastUsedAt: null,
    createdAt: iso(counter),
    updatedAt: iso(counter),
    revision: 1,
    createdBy: actor,
    ...over,
  };
}

function credentialFixture(tenantId: string, over: Partial<CredentialRow> = {}): CredentialRow {
  const id = over.id ?? uid('crd');
  return {
    tenantId,
    id,
    name: `cred ${id}`,
    slug: `slug-${id}`,
    type: 'api_key',
    provider: null,
    integrationId: null,
    description: '',
    status: 'active',
    deactivationTime: null,
    config: { host: 'api.example.com', port: 443 },
    secretFields: ['apiKey'],
    metadata: { env: 'test' },
    allowedHosts: ['api.example.com'],
    proxyRules: {},
    teamId: null,
    folderId: null,
    readAccess: 'TEAM',
    sharedTeamSlugs: [],
    testCredentialEnabled: false,
    version: 1,
    revision: 1,
    expiresAt: null,
    lastUsedAt: null,
    lastError: null,
    createdAt: iso(0),
    updatedAt: iso(0),
    createdBy: actor,
    modifiedBy: actor,
    deletedAt: null,
    rotationIntervalDays: null,
    nextRotationAt: null,
    rotationDue: false,
    ...over,
  };
}

function versionFixture(c: CredentialRow, version = 1): VersionRow {
  return {
    tenantId: c.tenantId,
    credentialId: c.id,
    version,
    stage: 'current',
    secret: randomBytes(48),
    testSecret: null,
    expiresAt: null,
    createdAt: c.createdAt,
    createdBy: actor,
  };
}

function auditFixture(tenantId: string, at: string, over: Partial<AuditRow> = {}): AuditRow {
  return {
    id: uid('evt'),
    tenantId,
    at,
    actor,
    action: 'credential.reveal',
    targetType: 'credential',
    targetId: null,
    outcome: 'success',
    reason: null,
    requestId: uid('req'),
    ip: '127.0.0.1',
    userAgent: 'test',
    seq: null,
    hash: null,
    prevHash: null,
    ...over,
  };
}

async function newTenant(store: Store, ownerKey = true): Promise<{ tenantId: string; owner: AccessKeyRow | null }> {
  const { tenant, key } = tenantFixture();
  const owner = ownerKey ? accessKeyFixture(tenant.id, 'owner') : null;
  await store.createTenant(tenant, key, owner, [auditFixture(tenant.id, iso(0), { action: 'tenant.create' })]);
  return { tenantId: tenant.id, owner };
}

// --- tests ---------------------------------------------------------------------------------

describe('numbering ? placeholders for PostgreSQL', () => {
  it('numbers placeholders outside literals only', () => {
    const sql = `SELECT * FROM t WHERE a = ? AND lower(n) LIKE ? ESCAPE '\\' AND r = 'GLOBAL' AND b = '?' AND "we?ird" = ? -- why?\nAND c = E'it\\'s ?' AND d = 'it''s ?' AND e = ? /* ? */`;
    const { text, count } = numberParams(sql);
    assert.equal(count, 4);
    assert.equal(
      text,
      `SELECT * FROM t WHERE a = $1 AND lower(n) LIKE $2 ESCAPE '\\' AND r = 'GLOBAL' AND b = '?' AND "we?ird" = $3 -- why?\nAND c = E'it\\'s ?' AND d = 'it''s ?' AND e = $4 /* ? */`,
    );
  });
});

describe('PostgreSQL store: migrations', () => {
  it('three processes migrating one empty database at once all succeed, and migrating again changes nothing', async (t) => {
    if (noServer(t)) return;
    const url = await freshDatabaseUrl();
    const stores = await Promise.all([open(url, { poolSize: 2 }), open(url, { poolSize: 2 }), open(url, { poolSize: 2 })]);
    await Promise.all(stores.map((s) => s.migrate()));
    const s0 = stores[0] as Store;
    await s0.migrate();
    await s0.migrate();
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    const rows = await c.query<{ id: number }>('SELECT id FROM schema_migrations ORDER BY id').finally(() => c.end());
    assert.deepEqual(
      rows.rows.map((r) => r.id),
      MIGRATIONS.map((m) => m.id),
    );
    assert.equal(s0.kind, 'postgres');
    assert.equal(s0.capabilities.multiProcess, true);
    await s0.ping();
    assert.equal(await s0.countTenants(), 0);
  });
});

describe('PostgreSQL store: tenants and access keys', () => {
  it('writes a tenant with its keyring and owner key, and reads them back as written', async (t) => {
    if (noServer(t)) return;
    const { a, b } = await sharedStores();
    const before = await a.countTenants();
    const { tenant, key } = tenantFixture();
    const owner = accessKeyFixture(tenant.id, 'owner', { teamIds: ['team_x', 'team_y'], platformAdmin: true, expiresAt: iso(999_999) });
    await a.createTenant(tenant, key, owner, [auditFixture(tenant.id, iso(1), { action: 'tenant.create' })]);

    assert.deepEqual(await b.getTenant(tenant.id), tenant);
    assert.equal(await b.getTenant('ten_missing'), null);
    assert.deepEqual(await b.listTenantKeys(tenant.id), [key]);
    assert.deepEqual(await b.getAccessKey(tenant.id, owner.id), owner);
    assert.deepEqual(await b.findAccessKeyByHash(owner.keyHash), owner);
    assert.equal(await b.getAccessKey('ten_other', owner.id), null, 'tenant-scoped');

    const count = await b.countTenants();
    assert.equal(typeof count, 'number');
    assert.equal(count, before + 1);
    assert.deepEqual(await b.listTenants([tenant.id, 'ten_missing']), [tenant]);
    assert.deepEqual(await b.listTenants([]), []);
    assert.ok((await b.listTenants('all')).some((x) => x.id === tenant.id));

    const reader = accessKeyFixture(tenant.id, 'viewer', { name: 'ci_reader 100%' });
    await a.insertAccessKey(tenant.id, reader, []);
    const all = await b.listAccessKeys(tenant.id, {}, { limit: 10 });
    assert.equal(all.total, 2);
    assert.equal(typeof all.total, 'number');
    const byName = await b.listAccessKeys(tenant.id, { name: '100%' }, { limit: 10 });
    assert.deepEqual(
      byName.rows.map((r) => r.id),
      [reader.id],
    );
    assert.equal((await b.listAccessKeys(tenant.id, { name: '_reader 1000' }, { limit: 10 })).total, 0, 'LIKE metacharacters are escaped');

    assert.equal(await a.updateAccessKey(tenant.id, { ...reader, name: 'renamed', revision: 2 }, 1, []), true);
    assert.equal(await b.updateAccessKey(tenant.id, { ...reader, name: 'again', revision: 2 }, 1, []), false, 'stale revision');
    assert.equal((await b.getAccessKey(tenant.id, reader.id))?.name, 'renamed');

    await a.touchAccessKeys([
      { tenantId: tenant.id, id: reader.id, at: iso(5000) },
      { tenantId: tenant.id, id: reader.id, at: iso(7000) },
    ]);
    assert.equal((await b.getAccessKey(tenant.id, reader.id))?.lastUsedAt, iso(7000));
  });

  it('deleteAccessKey: of two concurrent deletes of the last two managers exactly one succeeds', async (t) => {
    if (noServer(t)) return;
    const { a, b } = await sharedStores();
    const guard = ['owner', 'admin'] as const;
    for (let round = 0; round < 5; round++) {
      const { tenantId, owner } = await newTenant(a);
      const admin2 = accessKeyFixture(tenantId, 'admin');
      const viewer = accessKeyFixture(tenantId, 'viewer');
      await a.insertAccessKey(tenantId, admin2, []);
      await a.insertAccessKey(tenantId, viewer, []);
      const ownerId = (owner as AccessKeyRow).id;

      const results = await Promise.all([
        a.deleteAccessKey(tenantId, ownerId, null, guard, new Date().toISOString(), [auditFixture(tenantId, iso(10))]),
        b.deleteAccessKey(tenantId, admin2.id, null, guard, new Date().toISOString(), [auditFixture(tenantId, iso(10))]),
      ]);
      assert.deepEqual([...results].sort(), ['deleted', 'last_manager'], `round ${round}`);
      const left = await a.listAccessKeys(tenantId, {}, { limit: 10 });
      assert.equal(left.rows.filter((k) => guard.includes(k.role as (typeof guard)[number])).length, 1);

      const survivor = left.rows.find((k) => k.role !== 'viewer') as AccessKeyRow;
      assert.equal(await a.deleteAccessKey(tenantId, survivor.id, survivor.revision, guard, new Date().toISOString(), []), 'last_manager');
      assert.equal(await a.deleteAccessKey(tenantId, viewer.id, viewer.revision + 1, guard, new Date().toISOString(), []), 'stale');
      assert.equal(await a.deleteAccessKey(tenantId, 'key_missing', null, guard, new Date().toISOString(), []), 'stale');
      assert.equal(await a.deleteAccessKey(tenantId, viewer.id, viewer.revision, guard, new Date().toISOString(), []), 'deleted');
      assert.equal(await a.getAccessKey(tenantId, viewer.id), null);
    }
  });
});

describe('PostgreSQL store: credentials', () => {
  it('inserts, reads back and lists with filters, visibility and keyset paging over 60 rows', async (t) => {
    if (noServer(t)) return;
    const { a, b } = await sharedStores();
    const { tenantId } = await newTenant(a);
    const { tenantId: otherTenant } = await newTenant(a);
    await a.insertCredential(otherTenant, { credential: credentialFixture(otherTenant), version: null, audit: [] });

    const rows: CredentialRow[] = [];
    for (let i = 0; i < 60; i++) {
      const c = credentialFixture(tenantId, {
        // Three rows share each created_at, so paging has to break ties on id.
        createdAt: iso(Math.floor(i / 3) * 1000),
        type: i % 2 === 0 ? 'api_key' : 'basic',
        status: i % 5 === 0 ? 'inactive' : 'active',
        name: i === 7 ? 'Stripe 50%_off' : i === 8 ? 'Stripe 50Xoff' : `cred ${i}`,
        teamId: i % 3 === 0 ? 'team_a' : i % 3 === 1 ? 'team_b' : null,
        readAccess: i % 10 === 0 ? 'GLOBAL' : i % 4 === 1 ? 'SPECIFIC_TEAMS' : 'TEAM',
        sharedTeamSlugs: i % 4 === 1 ? ['ops'] : i % 4 === 3 ? ['ops-eu'] : [],
        expiresAt: i < 6 ? iso(50_000) : null,
        deletedAt: i === 59 ? iso(1) : null,
      });
      rows.push(c);
      const v = versionFixture(c);
      assert.equal(await (i % 2 ? a : b).insertCredential(tenantId, { credential: c, version: v, audit: [auditFixture(tenantId, iso(i))] }), 'inserted');
    }
    const first = rows[0] as CredentialRow;
    assert.deepEqual(await b.getCredential(tenantId, first.id), first);
    assert.equal(await b.getCredential(otherTenant, first.id), null, 'tenant-scoped');
    const v = await b.getVersion(tenantId, first.id, 1);
    assert.ok(v && Buffer.isBuffer(v.secret) && v.secret.length === 48);
    assert.equal((await b.listVersions(tenantId, first.id)).length, 1);

    const live = rows.filter((r) => r.deletedAt === null);
    const order = (x: CredentialRow[]): string[] =>
      [...x].sort((p, q) => (p.createdAt === q.createdAt ? (p.id < q.id ? 1 : -1) : p.createdAt < q.createdAt ? 1 : -1)).map((r) => r.id);

    // Keyset paging: every live row exactly once, in (created_at desc, id desc) order.
    const seen: string[] = [];
    let after: { createdAt: string; id: string } | undefined;
    for (let pageNo = 0; pageNo < 10; pageNo++) {
      const page = await b.listCredentials(tenantId, { all: true }, {}, { limit: 25, ...(after ? { after } : {}) });
      assert.equal(page.total, 59);
      assert.equal(typeof page.total, 'number');
      seen.push(...page.rows.map((r) => r.id));
      const last = page.rows.at(-1);
      if (page.rows.length < 25 || !last) break;
      after = { createdAt: last.createdAt, id: last.id };
    }
    assert.deepEqual(seen, order(live));

    const offsetPage = await b.listCredentials(tenantId, { all: true }, {}, { limit: 10, offset: 20 });
    assert.deepEqual(
      offsetPage.rows.map((r) => r.id),
      order(live).slice(20, 30),
    );

    const byType = await b.listCredentials(tenantId, { all: true }, { type: 'basic', status: 'active' }, { limit: 100 });
    assert.deepEqual(
      byType.rows.map((r) => r.id),
      order(live.filter((r) => r.type === 'basic' && r.status === 'active')),
    );
    assert.equal(byType.total, byType.rows.length);

    const byName = await b.listCredentials(tenantId, { all: true }, { name: 'STRIPE 50%_' }, { limit: 100 });
    assert.deepEqual(
      byName.rows.map((r) => r.name),
      ['Stripe 50%_off'],
      'name filter is case-insensitive and escapes % and _',
    );

    const expiring = await b.listCredentials(tenantId, { all: true }, { expiresBefore: iso(60_000) }, { limit: 100 });
    assert.equal(expiring.total, 6);

    const teamA = await b.listCredentials(tenantId, { all: true }, { teamId: 'team_a' }, { limit: 100 });
    assert.deepEqual(
      teamA.rows.map((r) => r.id),
      order(live.filter((r) => r.teamId === 'team_a')),
    );

    // Visibility: team_a's own, GLOBAL ones, and SPECIFIC_TEAMS shared with slug "ops" (not "ops-eu").
    const visible = await b.listCredentials(tenantId, { all: false, teamIds: ['team_a'], teamSlugs: ['ops'] }, {}, { limit: 100 });
    const expected = live.filter(
      (r) => r.teamId === 'team_a' || r.readAccess === 'GLOBAL' || (r.readAccess === 'SPECIFIC_TEAMS' && r.sharedTeamSlugs.includes('ops')),
    );
    assert.deepEqual(
      visible.rows.map((r) => r.id),
      order(expected),
    );
    assert.equal(visible.total, expected.length);
    const none = await b.listCredentials(tenantId, { all: false, teamIds: [], teamSlugs: [] }, {}, { limit: 100 });
    assert.deepEqual(
      none.rows.map((r) => r.id),
      order(live.filter((r) => r.readAccess === 'GLOBAL')),
    );

    // Usage touches keep the latest time, even when the batch holds an older one after it.
    await a.touchCredentials([
      { tenantId, id: first.id, at: iso(9000) },
      { tenantId, id: first.id, at: iso(8000) },
    ]);
    await a.appendAudit([auditFixture(tenantId, iso(9500))], [{ tenantId, id: first.id, at: iso(7000) }]);
    assert.equal((await b.getCredential(tenantId, first.id))?.lastUsedAt, iso(9000));

    assert.equal(await a.purgeCredential(tenantId, first.id, [auditFixture(tenantId, iso(10))]), true);
    assert.equal(await a.purgeCredential(tenantId, first.id, []), false);
    assert.equal(await b.getVersion(tenantId, first.id, 1), null);
  });

  it('update is a compare-and-set on revision: one winner among concurrent writers, the rest stale', async (t) => {
    if (noServer(t)) return;
    const { a, b } = await sharedStores();
    const { tenantId } = await newTenant(a);
    const c = credentialFixture(tenantId);
    await a.insertCredential(tenantId, { credential: c, version: versionFixture(c), audit: [] });

    const next = { ...c, description: 'v2', version: 2, revision: 2 };
    const v2 = versionFixture(next, 2);
    assert.equal(
      await b.updateCredential(tenantId, 1, {
        credential: next,
        version: v2,
        restage: [{ version: 1, stage: 'previous', expiresAt: iso(86_400_000) }],
        audit: [auditFixture(tenantId, iso(1))],
      }),
      'updated',
    );
    assert.equal(await a.updateCredential(tenantId, 1, { credential: { ...next, description: 'lost' }, version: null, audit: [] }), 'stale');
    assert.deepEqual(await a.getCredential(tenantId, c.id), next);
    assert.deepEqual(
      (await a.listVersions(tenantId, c.id)).map((v) => [v.version, v.stage, v.expiresAt]),
      [
        [2, 'current', null],
        [1, 'previous', iso(86_400_000)],
      ],
    );
    assert.deepEqual(await a.getVersion(tenantId, c.id, 2), v2);

    const racers = Array.from({ length: 20 }, (_, i) =>
      (i % 2 ? a : b).updateCredential(tenantId, 2, {
        credential: { ...next, description: `racer ${i}`, revision: 3 },
        version: null,
        audit: [auditFixture(tenantId, iso(2))],
      }),
    );
    const results = await Promise.all(racers);
    assert.equal(results.filter((r) => r === 'updated').length, 1);
    assert.equal(results.filter((r) => r === 'stale').length, 19);
    const after = await a.getCredential(tenantId, c.id);
    assert.equal(after?.revision, 3);
    assert.equal(await a.updateCredential(tenantId, 2, { credential: next, version: null, audit: [] }), 'stale');
    assert.equal(await a.updateCredential(tenantId, 1, { credential: credentialFixture(tenantId), version: null, audit: [] }), 'stale', 'missing row');
  });

  it('a slug clash is slug_taken, an id clash is id_taken, and neither writes anything', async (t) => {
    if (noServer(t)) return;
    const { a, b } = await sharedStores();
    const { tenantId } = await newTenant(a);
    const c = credentialFixture(tenantId, { slug: 'stripe' });
    assert.equal(await a.insertCredential(tenantId, { credential: c, version: versionFixture(c), audit: [] }), 'inserted');

    const sameSlug = credentialFixture(tenantId, { slug: 'stripe' });
    const clashAudit = auditFixture(tenantId, iso(3), { action: 'credential.create.clash' });
    assert.equal(await b.insertCredential(tenantId, { credential: sameSlug, version: versionFixture(sameSlug), audit: [clashAudit] }), 'slug_taken');
    assert.equal(await b.getCredential(tenantId, sameSlug.id), null);

    const sameId = credentialFixture(tenantId, { id: c.id, slug: 'other' });
    assert.equal(await b.insertCredential(tenantId, { credential: sameId, version: null, audit: [clashAudit] }), 'id_taken');
    assert.deepEqual(await b.listAudit(tenantId, { action: 'credential.create.clash' }, { limit: 10 }), [], 'rolled back with the clash');

    // The same slug in another tenant, or after the first was soft-deleted, is free.
    const { tenantId: t2 } = await newTenant(a);
    assert.equal(await a.insertCredential(t2, { credential: credentialFixture(t2, { slug: 'stripe' }), version: null, audit: [] }), 'inserted');

    const second = credentialFixture(tenantId, { slug: 'paypal' });
    await a.insertCredential(tenantId, { credential: second, version: null, audit: [] });
    assert.equal(await a.updateCredential(tenantId, 1, { credential: { ...second, slug: 'stripe', revision: 2 }, version: null, audit: [] }), 'slug_taken');
    assert.equal((await a.getCredential(tenantId, second.id))?.slug, 'paypal');

    assert.equal(await a.updateCredential(tenantId, 1, { credential: { ...c, deletedAt: iso(4), revision: 2 }, version: null, audit: [] }), 'updated');
    assert.equal(await a.updateCredential(tenantId, 1, { credential: { ...second, slug: 'stripe', revision: 2 }, version: null, audit: [] }), 'updated');
  });
});

describe('PostgreSQL store: audit chain', () => {
  it('two concurrent sealers, with appends still arriving, leave one gap-free chain 1..N', async (t) => {
    if (noServer(t)) return;
    const { a, b } = await sharedStores();
    const { tenantId } = await newTenant(a); // its tenant.create event is unsealed too
    const appended: AuditRow[] = [];
    const append = async (store: Store, n: number, base: number): Promise<void> => {
      const events = Array.from({ length: n }, (_, i) => auditFixture(tenantId, iso(base + i), { targetId: `crd_${i}` }));
      appended.push(...events);
      await store.appendAudit(events, []);
    };
    await append(a, 600, 1000); // more than one INSERT chunk
    assert.equal(await b.countUnsealedAudit(tenantId), 601);
    assert.equal(typeof (await b.countUnsealedAudit(tenantId)), 'number');
    assert.ok((await b.tenantsWithUnsealedAudit()).includes(tenantId));

    const sealer = async (store: Store): Promise<number> => {
      let total = 0;
      for (;;) {
        const n = await store.sealAuditChain(tenantId, 37, (round) => ({ seals: sealEvents(round.head, round.events), checkpoint: null }));
        total += n;
        if (n === 0) return total;
      }
    };
    const [sealedA, sealedB] = await Promise.all([
      sealer(a),
      sealer(b),
      (async () => {
        for (let i = 0; i < 10; i++) await append(i % 2 ? a : b, 5, 100_000 + i * 10);
      })(),
    ]);
    const drained = await sealer(a);
    const total = 601 + 50;
    assert.equal(sealedA + sealedB + drained, total, 'every event sealed exactly once');
    assert.equal(await a.countUnsealedAudit(tenantId), 0);
    assert.ok(!(await a.tenantsWithUnsealedAudit()).includes(tenantId));

    const chain: AuditRow[] = [];
    for (let afterSeq = 0; ; ) {
      const page = await b.readSealedAudit(tenantId, afterSeq, 200);
      if (page.length === 0) break;
      chain.push(...page);
      afterSeq = page.at(-1)?.seq as number;
    }
    assert.deepEqual(
      chain.map((e) => e.seq),
      Array.from({ length: total }, (_, i) => i + 1),
    );
    assert.equal(chain[0]?.prevHash, GENESIS_HASH);
    assert.deepEqual(checkChainPage({ seq: 0, hash: GENESIS_HASH }, chain).bad, null);
    const creates = await b.listAudit(tenantId, { action: 'tenant.create' }, { limit: 10 });
    assert.deepEqual(new Set(chain.map((e) => e.id)), new Set([...creates, ...appended].map((e) => e.id)));

    const listed = await b.listAudit(tenantId, { action: 'credential.reveal', since: iso(1000), until: iso(1010) }, { limit: 5 });
    assert.deepEqual(
      listed.map((e) => e.at),
      [iso(1009), iso(1008), iso(1007), iso(1006), iso(1005)],
    );
    const more = await b.listAudit(
      tenantId,
      { action: 'credential.reveal', since: iso(1000), until: iso(1010) },
      { limit: 5, after: { createdAt: iso(1005), id: listed[4]?.id as string } },
    );
    assert.deepEqual(
      more.map((e) => e.at),
      [iso(1004), iso(1003), iso(1002), iso(1001), iso(1000)],
    );
    assert.equal((await b.listAudit(tenantId, { credentialId: 'crd_3' }, { limit: 100 })).length, 11);
  });
});

describe('PostgreSQL store: idempotency keys', () => {
  it('of two processes reserving the same key at once exactly one reserves it', async (t) => {
    if (noServer(t)) return;
    const { a, b } = await sharedStores();
    const { tenantId } = await newTenant(a);
    const row = (key: string, fingerprint: string, createdAt = iso(100_000)): IdempotencyRow => ({
      tenantId,
      key,
      principalId: 'key_1',
      fingerprint,
      state: 'pending',
      status: null,
      response: null,
      createdAt,
    });
    for (let i = 0; i < 20; i++) {
      const key = `idem-${i}`;
      const results = await Promise.all([a.reserveIdempotencyKey(row(key, 'fp-a'), iso(0)), b.reserveIdempotencyKey(row(key, 'fp-b'), iso(0))]);
      const winners = results.filter((r) => r.reserved);
      assert.equal(winners.length, 1, key);
      const loser = results.find((r) => !r.reserved);
      assert.ok(loser && !loser.reserved);
      assert.equal(loser.existing.fingerprint, results[0]?.reserved ? 'fp-a' : 'fp-b');
      assert.equal(loser.existing.state, 'pending');
    }

    await a.completeIdempotencyKey(tenantId, 'idem-0', 201, Buffer.from('{"id":"crd_1"}'));
    const done = await b.reserveIdempotencyKey(row('idem-0', 'fp-c'), iso(200_000));
    assert.ok(!done.reserved && done.existing.state === 'done' && done.existing.status === 201);
    assert.equal(done.existing.response?.toString(), '{"id":"crd_1"}');

    // A pending reservation older than staleBefore is taken over, once, even when two try at once.
    const takeovers = await Promise.all([
      a.reserveIdempotencyKey(row('idem-1', 'fp-x', iso(300_000)), iso(200_000)),
      b.reserveIdempotencyKey(row('idem-1', 'fp-y', iso(300_000)), iso(200_000)),
    ]);
    assert.equal(takeovers.filter((r) => r.reserved).length, 1);

    await a.releaseIdempotencyKey(tenantId, 'idem-2');
    assert.deepEqual(await b.reserveIdempotencyKey(row('idem-2', 'fp-z'), iso(0)), { reserved: true });

    const purged = await a.purgeIdempotencyKeys(iso(250_000));
    assert.equal(typeof purged, 'number');
    assert.equal(purged, 19, 'all but the taken-over idem-1');
  });
});

describe('PostgreSQL store: meta', () => {
  it('initMeta keeps the first value, also when two processes race', async (t) => {
    if (noServer(t)) return;
    const { a, b } = await sharedStores();
    const key = uid('meta');
    assert.equal(await a.getMeta(key), null);
    const [x, y] = await Promise.all([a.initMeta(key, 'one'), b.initMeta(key, 'two')]);
    assert.equal(x, y);
    assert.equal(await a.initMeta(key, 'three'), x);
    assert.equal(await b.getMeta(key), x);
  });
});
