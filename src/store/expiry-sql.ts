import type { ExpiryStore } from './port.js';
import { accessKeyFromRecord, credentialFromRecord } from './rows.js';
import type { SqlRunner } from './sql-runner.js';
import { all, writeAudit, type WriteRunner } from './transaction-script.js';

/**
 * The expiry scheduler's storage (services/events/expiry-scheduler.ts), written once for both
 * stores. The scans read only the rows whose `expiry_check_at` has come, through the partial
 * indexes of migration 15: a row is looked at when it was written and again at each notice it
 * owes, so a tick costs what is due, never the whole table (docs/events.md has the plans).
 */

const DUE_CREDENTIALS_SQL = 'SELECT * FROM credentials WHERE expiry_check_at IS NOT NULL AND expiry_check_at <= ? ORDER BY expiry_check_at LIMIT ?';
const DUE_ACCESS_KEYS_SQL = 'SELECT * FROM access_keys WHERE expiry_check_at IS NOT NULL AND expiry_check_at <= ? ORDER BY expiry_check_at LIMIT ?';
/** `(?, ?, …), …`: `rows` tuples of `width` placeholders. */
const tuples = (rows: number, width: number): string =>
  Array.from({ length: rows }, () => `(${Array.from({ length: width }, () => '?').join(', ')})`).join(', ');

/**
 * Moves the next look of many rows in one statement, only where the row is still the one read
 * (revision, for credentials) and nobody moved the look since (another process's scheduler, or a
 * write that reset it); returns the ids moved. VALUES columns are column1… on both dialects.
 */
function moveChecksSql(table: 'credentials' | 'access_keys', rows: number): string {
  const revision = table === 'credentials' ? ' AND t.revision = CAST(v.column2 AS INTEGER)' : '';
  return `UPDATE ${table} AS t SET expiry_check_at = v.column4 FROM (VALUES ${tuples(rows, 4)}) AS v
    WHERE t.tenant_id = ? AND t.id = v.column1${revision} AND t.expiry_check_at = v.column3 RETURNING id`;
}

/** The primary key decides: of two processes noticing the same thing, one inserts and the other nothing. */
const insertNoticesSql = (rows: number): string =>
  `INSERT INTO expiry_notices (tenant_id, object_type, object_id, what, expires_at, lead_days, event_id, noticed_at) VALUES ${tuples(rows, 8)}
    ON CONFLICT DO NOTHING RETURNING event_id`;

export function expiryStore(db: SqlRunner, w: WriteRunner): ExpiryStore {
  return {
    async listCredentialExpiryChecks(now, limit) {
      return (await db.all(DUE_CREDENTIALS_SQL, [now, limit])).map((r) => ({ credential: credentialFromRecord(r), checkAt: r.expiry_check_at as string }));
    },
    async listAccessKeyExpiryChecks(now, limit) {
      return (await db.all(DUE_ACCESS_KEYS_SQL, [now, limit])).map((r) => ({ key: accessKeyFromRecord(r), checkAt: r.expiry_check_at as string }));
    },
    async recordExpiryChecks(tenantId, checks) {
      if (checks.length === 0) return 0;
      return w.write(function* () {
        const moved = new Set<string>();
        for (const table of ['credentials', 'access_keys'] as const) {
          const of = checks.filter((c) => (c.objectType === 'credential') === (table === 'credentials'));
          if (of.length === 0) continue;
          const params = [...of.flatMap((c) => [c.id, c.revision ?? 0, c.checkAt, c.nextCheckAt]), tenantId];
          for (const r of yield* all(moveChecksSql(table, of.length), params))
            moved.add(`${table === 'credentials' ? 'credential' : 'access_key'} ${r.id as string}`);
        }
        // Changed since it was read: the change set a new look, which sees the row as it is now.
        const notices = checks.filter((c) => moved.has(`${c.objectType} ${c.id}`)).flatMap((c) => c.notices.map((n) => ({ c, n })));
        if (notices.length === 0) return 0;
        const params = notices.flatMap(({ c, n }) => [tenantId, c.objectType, c.id, n.what, n.expiresAt, n.leadDays, n.event.id, n.event.at]);
        const written = new Set((yield* all(insertNoticesSql(notices.length), params)).map((r) => r.event_id as string));
        yield* writeAudit(notices.filter(({ n }) => written.has(n.event.id)).map(({ n }) => n.event));
        return written.size;
      });
    },
  };
}
