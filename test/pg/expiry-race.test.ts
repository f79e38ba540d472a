import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { loadConfig } from '../../src/config.ts';
import { openRuntime, type Runtime } from '../../src/main.ts';
import { postgresGate } from '../support/postgres-gate.ts';
import { credentialRow, makeStoreFixture, seedCredentialRows, type StoreFixture } from '../support/store.ts';

// Two processes' expiry schedulers on one PostgreSQL database, racing on every tick with a clock
// the test moves: each warning is written once, by whichever gets there first.

const { problem, noPostgres } = await postgresGate('expiry scheduler race');
const DAY = 86_400_000;
const ROWS = 2_000;
let now = Date.parse('2026-03-01T12:00:00.000Z');
const clock = { now: () => new Date(now) };
let fixture: StoreFixture;
let a: Runtime | undefined;
let b: Runtime | undefined;
const dataDir = mkdtempSync(join(tmpdir(), 'latchkey-expiry-race-'));
const rootKey = randomBytes(32).toString('base64');

before(async () => {
  if (problem) return;
  fixture = await makeStoreFixture();
  const config = loadConfig({ ...fixture.env, LATCHKEY_DATA_DIR: dataDir, LATCHKEY_ROOT_KEY: rootKey, LATCHKEY_LOG_LEVEL: 'silent' });
  a = await openRuntime(config, { clock });
  b = await openRuntime(config, { clock });
});

after(async () => {
  await a?.close();
  await b?.close();
  await fixture?.drop();
});

describe('expiry scheduler on two processes', () => {
  it('writes each warning once when both run every tick', async (t) => {
    if (noPostgres(t) || !a || !b) return;
    const boot = await a.services.tenants.bootstrap();
    assert.ok(boot);
    const t0 = now;
    const rows = Array.from({ length: ROWS }, (_, i) =>
      credentialRow(boot.tenant.id, {
        id: `crd_race_${i}`,
        slug: `crd_race_${i}`,
        expiresAt: new Date(t0 + (i % 35) * DAY + 3_600_000).toISOString(),
        createdAt: new Date(t0).toISOString(),
        updatedAt: new Date(t0).toISOString(),
      }),
    );
    const sql = await fixture.raw(dataDir);
    await seedCredentialRows(sql, rows);
    let noticed = 0;
    for (let day = 0; day <= 36; day++) {
      now = t0 + day * DAY;
      const [x, y] = await Promise.all([a.services.expiry.runOnce(), b.services.expiry.runOnce()]);
      noticed += x.noticed + y.noticed;
    }
    const counts = await sql.get<{ n: string; distinct_n: string }>(
      `SELECT COUNT(*) AS n, COUNT(DISTINCT target_id || '|' || detail) AS distinct_n FROM audit_events WHERE action IN ('credential.expiring', 'credential.expired')`,
    );
    const notices = await sql.get<{ n: string }>('SELECT COUNT(*) AS n FROM expiry_notices');
    await sql.close();
    // Each credential: its tightest lead time at day 0, the narrower ones, then expired.
    const expected = rows.reduce((n, _, i) => n + ((i % 35) * DAY + 3_600_000 <= DAY ? 2 : (i % 35) * DAY + 3_600_000 <= 7 * DAY ? 3 : 4), 0);
    assert.equal(noticed, expected);
    assert.equal(Number(counts?.n), expected);
    assert.equal(Number(counts?.distinct_n), expected);
    assert.equal(Number(notices?.n), expected);
  });
});
