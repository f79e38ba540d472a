import type { ExpiryStore } from './port.js';
import { accessKeyFromRecord, credentialFromRecord } from './rows.js';
import type { SqlRunner } from './sql-runner.js';
import { run, writeAudit, type WriteRunner } from './transaction-script.js';

/**
 * The expiry scheduler's storage (services/events/expiry-scheduler.ts), written once for both
 * stores. The scans read only the rows whose `expiry_check_at` has come, through the partial
 * indexes of migration 14: a row is looked at when it was written and again at each notice it
 * owes, so a tick costs what is due, never the whole table (docs/events.md has the plans).
 */

const DUE_CREDENTIALS_SQL = 'SELECT * FROM credentials WHERE expiry_check_at IS NOT NULL AND expiry_check_at <= ? ORDER BY expiry_check_at LIMIT ?';
const DUE_ACCESS_KEYS_SQL = 'SELECT * FROM access_keys WHERE expiry_check_at IS NOT NULL AND expiry_check_at <= ? ORDER BY expiry_check_at LIMIT ?';
/**
 * Moves a credential's next look, only while it is the row that was read (revision) and nobody
 * moved the look since (another process's scheduler, or a write that reset it).
 */
const MOVE_CREDENTIAL_CHECK_SQL = 'UPDATE credentials SET expiry_check_at = ? WHERE tenant_id = ? AND id = ? AND revision = ? AND expiry_check_at = ?';
const MOVE_ACCESS_KEY_CHECK_SQL = 'UPDATE access_keys SET expiry_check_at = ? WHERE tenant_id = ? AND id = ? AND expiry_check_at = ?';
/** The primary key decides: of two processes noticing the same thing, one inserts and the other nothing. */
const INSERT_NOTICE_SQL = `INSERT INTO expiry_notices (tenant_id, object_type, object_id, what, expires_at, lead_days, event_id, noticed_at)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`;

export function expiryStore(db: SqlRunner, w: WriteRunner): ExpiryStore {
  return {
    async listCredentialExpiryChecks(now, limit) {
      return (await db.all(DUE_CREDENTIALS_SQL, [now, limit])).map((r) => ({ credential: credentialFromRecord(r), checkAt: r.expiry_check_at as string }));
    },
    async listAccessKeyExpiryChecks(now, limit) {
      return (await db.all(DUE_ACCESS_KEYS_SQL, [now, limit])).map((r) => ({ key: accessKeyFromRecord(r), checkAt: r.expiry_check_at as string }));
    },
    async recordExpiryChecks(tenantId, checks) {
      return w.write(function* () {
        let noticed = 0;
        for (const c of checks) {
          const moved =
            c.objectType === 'credential'
              ? yield* run(MOVE_CREDENTIAL_CHECK_SQL, [c.nextCheckAt, tenantId, c.id, c.revision, c.checkAt])
              : yield* run(MOVE_ACCESS_KEY_CHECK_SQL, [c.nextCheckAt, tenantId, c.id, c.checkAt]);
          // Changed since it was read: the change set a new look, which sees the row as it is now.
          if (moved !== 1) continue;
          for (const n of c.notices) {
            const params = [tenantId, c.objectType, c.id, n.what, n.expiresAt, n.leadDays, n.event.id, n.event.at];
            if ((yield* run(INSERT_NOTICE_SQL, params)) !== 1) continue;
            yield* writeAudit([n.event]);
            noticed += 1;
          }
        }
        return noticed;
      });
    },
  };
}
