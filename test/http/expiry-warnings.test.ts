import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { loadConfig } from '../../src/config.ts';
import { openRuntime, type Runtime } from '../../src/main.ts';
import type { RequestContext } from '../../src/domain/principal.ts';
import type { EventType, LatchkeyEvent } from '../../src/services/events/event-types.ts';
import { credentialRow, makeStoreFixture, seedCredentialRows, STORE_ACTOR, type StoreFixture } from '../support/store.ts';
import { ownerContext } from '../support/owner-context.ts';

// Expiry warnings with a clock the test moves, against a real store with a large table: the
// scheduler runs in-process (as lifecycle-jobs.test.ts does) and "forty days later" takes no time.
// The rows are written straight into the table; everything after that goes through the services.

const DAY = 86_400_000;
const HOUR = 3_600_000;
const LEADS = [30, 7, 1];
/** 100 000 credentials, one in twenty with an expiry 1 hour to 41 days away. */
const ROWS = 100_000;
const EXPIRING_EVERY = 20;

let now = Date.parse('2026-03-01T12:00:00.000Z');
const clock = { now: () => new Date(now) };
const iso = (ms: number) => new Date(ms).toISOString();
let fixture: StoreFixture;
let rt: Runtime;
let ctx: RequestContext;
let tenantId: string;
const dataDir = mkdtempSync(join(tmpdir(), 'latchkey-expiry-'));
const rootKey = randomBytes(32).toString('base64');
const open = () =>
  openRuntime(
    loadConfig({
      ...fixture.env,
      LATCHKEY_DATA_DIR: dataDir,
      LATCHKEY_ROOT_KEY: rootKey,
      LATCHKEY_LOG_LEVEL: 'silent',
      LATCHKEY_EXPIRY_WARNING_DAYS: '30,7,1',
    }),
    {
      clock,
    },
  );

before(async () => {
  fixture = await makeStoreFixture();
  rt = await open();
  const boot = await rt.services.tenants.bootstrap();
  assert.ok(boot);
  tenantId = boot.tenant.id;
  ctx = ownerContext(tenantId);
});

after(async () => {
  await rt.close();
  await fixture.drop();
});

/** Every event of these types about `objectId`, through the feed (sealed first). */
async function eventsOf(objectId: string, types: EventType[]): Promise<LatchkeyEvent[]> {
  await rt.services.audit.sealPending(tenantId);
  const out: LatchkeyEvent[] = [];
  for (let after = 0; ; ) {
    const page = await rt.services.events.page(ctx, { types, objectId, after, limit: 100 });
    out.push(...page.events);
    if (!page.hasMore) return out;
    after = page.position;
  }
}
const leadsOf = (events: LatchkeyEvent[]) => events.map((e) => e.data.lead_days);

/** Which lead times a credential first looked at `r0` before its expiry gets (0 = expired): the tightest that applies, the narrower ones, then expired. */
function expectedLeads(r0: number): number[] {
  const tightest = [...LEADS].reverse().find((l) => l * DAY >= r0) ?? LEADS[0]!;
  return [...LEADS.filter((l) => l <= tightest), 0];
}

describe(`expiry warnings on a store of ${ROWS} credentials`, () => {
  it('warns once per credential, lead time and expiry value, across a restart, reading only what is due', async () => {
    const t0 = now;
    const expiring: Array<{ id: string; r0: number }> = [];
    const rows = Array.from({ length: ROWS }, (_, i) => {
      const id = `crd_seed_${String(i).padStart(6, '0')}`;
      let expiresAt: string | null = null;
      if (i % EXPIRING_EVERY === 0) {
        const k = i / EXPIRING_EVERY;
        const r0 = (k % 41) * DAY + (1 + (k % 23)) * HOUR;
        expiring.push({ id, r0 });
        expiresAt = iso(t0 + r0);
      }
      return credentialRow(tenantId, {
        id,
        slug: id,
        name: id,
        expiresAt,
        createdAt: iso(t0),
        updatedAt: iso(t0),
        createdBy: STORE_ACTOR,
        modifiedBy: STORE_ACTOR,
      });
    });
    const sql = await fixture.raw(dataDir);
    try {
      await seedCredentialRows(sql, rows);
    } finally {
      await sql.close();
    }

    // The first pass looks at the rows with an expiry only, and owes each its tightest warning.
    const first = await rt.services.expiry.runOnce();
    assert.equal(first.checked, expiring.length);
    assert.equal(first.noticed, expiring.filter((e) => e.r0 <= LEADS[0]! * DAY).length);
    // Nothing is due again at the same instant: a second pass reads nothing.
    assert.deepEqual(await rt.services.expiry.runOnce(), { checked: 0, noticed: 0 });

    let noticed = first.noticed;
    for (let day = 1; day <= 42; day++) {
      now = t0 + day * DAY;
      if (day === 15) {
        // A restart: what was noticed is in the store, not in the process.
        await rt.close();
        rt = await open();
      }
      const r = await rt.services.expiry.runOnce();
      // Only rows with a notice due are read: never the table.
      assert.ok(r.checked <= expiring.length, `day ${day} read ${r.checked} rows`);
      noticed += r.noticed;
    }
    const expectedTotal = expiring.reduce((n, e) => n + expectedLeads(e.r0).length, 0);
    assert.equal(noticed, expectedTotal);

    const check = await fixture.raw(dataDir);
    try {
      const counts = await check.get<{ n: number | string; distinct_n: number | string }>(
        `SELECT COUNT(*) AS n, COUNT(DISTINCT target_id || '|' || detail) AS distinct_n FROM audit_events
          WHERE action IN ('credential.expiring', 'credential.expired') AND target_id LIKE 'crd_seed_%'`,
      );
      assert.equal(Number(counts?.n), expectedTotal, 'one event per notice');
      assert.equal(Number(counts?.distinct_n), expectedTotal, 'no notice twice');
      const recorded = await check.get<{ n: number | string }>(`SELECT COUNT(*) AS n FROM expiry_notices WHERE object_id LIKE 'crd_seed_%'`);
      assert.equal(Number(recorded?.n), expectedTotal);
      // Every row has had its last notice: none is due for a look any more.
      const pending = await check.get<{ n: number | string }>('SELECT COUNT(*) AS n FROM credentials WHERE expiry_check_at IS NOT NULL');
      assert.equal(Number(pending?.n), 0);
    } finally {
      await check.close();
    }

    // A sample, through the feed: the lead times in order, each with its facts.
    for (const e of expiring.filter((_, k) => k % 250 === 0)) {
      const events = await eventsOf(e.id, ['credential.expiring', 'credential.expired']);
      assert.deepEqual(leadsOf(events), expectedLeads(e.r0), e.id);
      for (const ev of events) {
        assert.equal(ev.data.expires_at, iso(t0 + e.r0));
        assert.equal(ev.data.what, 'credential');
        assert.equal(ev.data.type, 'smtp');
        assert.equal(ev.data.team_id, null);
        assert.equal(ev.data.actor.id, 'scheduler');
        assert.equal(ev.type, ev.data.lead_days === 0 ? 'credential.expired' : 'credential.expiring');
      }
    }
  });
});

describe('expiry warnings of single objects', () => {
  const smtp = (name: string, extra: Record<string, unknown> = {}) => ({
    name,
    type: 'smtp',
    config: { host: 'smtp.example.com', auth_type: 'login', username: 'u' },
    secret: { password: 'p' },
    ...extra,
  });

  it('moving expires_at later arms the warnings again for the new date', async () => {
    const t0 = now;
    const { credential } = await rt.services.credentials.create(ctx, smtp(`Moved ${t0}`, { expires_at: iso(t0 + 5 * DAY) }));
    await rt.services.expiry.runOnce();
    assert.deepEqual(leadsOf(await eventsOf(credential.id, ['credential.expiring'])), [7]);
    await rt.services.expiry.runOnce();
    const moved = iso(t0 + 20 * DAY);
    const c = await rt.services.credentials.get(ctx, credential.id);
    await rt.services.credentials.update(ctx, credential.id, { expires_at: moved }, c.revision);
    await rt.services.expiry.runOnce();
    now = t0 + 14 * DAY;
    await rt.services.expiry.runOnce();
    now = t0 + 19.5 * DAY;
    await rt.services.expiry.runOnce();
    now = t0 + 21 * DAY;
    await rt.services.expiry.runOnce();
    await rt.services.expiry.runOnce();
    const events = await eventsOf(credential.id, ['credential.expiring', 'credential.expired']);
    assert.deepEqual(
      events.map((e) => [e.data.lead_days, e.data.expires_at]),
      [
        [7, iso(t0 + 5 * DAY)],
        [30, moved],
        [7, moved],
        [1, moved],
        [0, moved],
      ],
    );
  });

  it("warns of an access key's expiry, then that it expired", async () => {
    const t0 = now;
    const created = await rt.services.accessKeys.create(ctx, {
      name: `expiring ${t0}`,
      type: 'api',
      role: 'viewer',
      team_ids: [],
      expires_at: iso(t0 + 3 * DAY),
    });
    await rt.services.expiry.runOnce();
    now = t0 + 4 * DAY;
    await rt.services.expiry.runOnce();
    await rt.services.expiry.runOnce();
    const events = await eventsOf(created.row.id, ['access_key.expiring', 'access_key.expired']);
    assert.deepEqual(
      events.map((e) => [e.type, e.data.lead_days, e.data.what, e.data.object]),
      [
        ['access_key.expiring', 7, 'access_key', 'access_key'],
        ['access_key.expired', 0, 'access_key', 'access_key'],
      ],
    );
    assert.equal(JSON.stringify(events).includes(created.key), false, 'the key is in an event');
  });

  it("warns of an OAuth2 refresh token's expiry, not of the access token Latchkey renews", async () => {
    const t0 = now;
    const { credential } = await rt.services.credentials.create(ctx, {
      name: `oauth ${t0}`,
      type: 'oauth2',
      config: {
        client_id: 'cid',
        authorization_endpoint: 'https://idp.example.com/authorize',
        token_endpoint: 'https://idp.example.com/token',
        refresh_token_expires_at: iso(t0 + 2 * DAY),
      },
      secret: { client_secret: 'cs', access_token: 'at', refresh_token: 'rt' },
      expires_at: iso(t0 + HOUR),
    });
    now = t0 + 2 * HOUR;
    await rt.services.expiry.runOnce();
    const events = await eventsOf(credential.id, ['credential.expiring', 'credential.expired']);
    assert.deepEqual(
      events.map((e) => [e.data.what, e.data.lead_days, e.data.expires_at]),
      [['refresh_token', 7, iso(t0 + 2 * DAY)]],
    );
  });
});

describe('rotation reminders', () => {
  it('a rotation interval on a type that cannot rotate itself sends credential.rotation_due once', async () => {
    const t0 = now;
    const { credential } = await rt.services.credentials.create(ctx, {
      name: `reminder ${t0}`,
      type: 'smtp',
      config: { host: 'smtp.example.com', auth_type: 'login', username: 'u' },
      secret: { password: 'p' },
      rotation_interval_days: 30,
    });
    now = t0 + 31 * DAY;
    const first = await rt.services.lifecycle.runOnce();
    assert.equal(first.markedDue >= 1, true);
    await rt.services.lifecycle.runOnce();
    const events = await eventsOf(credential.id, ['credential.rotation_due']);
    assert.equal(events.length, 1);
    assert.equal(events[0]!.data.type, 'smtp');
    assert.equal(events[0]!.data.actor.id, 'scheduler');
  });
});
