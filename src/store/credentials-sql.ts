import type { CredentialWrite } from '../domain/records.js';
import type { CredentialStore } from './port.js';
import { ACCOUNT_CREDENTIAL_TYPES, OTHER_ACCOUNT_CREDENTIALS_SQL } from './queries.js';
import { CREDENTIAL_COLUMNS, VERSION_COLUMNS, credentialToParams, idPair, insertSql, versionFromRecord, versionToParams } from './rows.js';
import type { QueryDialect, SqlRunner } from './sql-runner.js';
import { outcomeOnConflict } from './store-errors.js';
import { TENANT_EXISTS_SQL } from './tenancy-sql.js';
import { one, run, writeAudit, type Script, type WriteRunner } from './transaction-script.js';

/**
 * Credentials and their versions, written once for both stores. The reads of every request
 * (a credential, a version, a list) and usage touches are each adapter's own: SQLite serves them
 * from its row cache, PostgreSQL from named statements.
 */

/** Named columns: PostgreSQL runs the per-request reads as named statements (see ACCESS_KEY_BY_HASH_SQL). */
export const CREDENTIAL_BY_ID_SQL = `SELECT ${CREDENTIAL_COLUMNS.join(', ')} FROM credentials WHERE tenant_id = ? AND id = ?`;
export const VERSION_BY_NUMBER_SQL = `SELECT ${VERSION_COLUMNS.join(', ')} FROM credential_versions WHERE tenant_id = ? AND credential_id = ? AND version = ?`;
const INSERT_CREDENTIAL_SQL = insertSql('credentials', CREDENTIAL_COLUMNS);
const INSERT_VERSION_SQL = insertSql('credential_versions', VERSION_COLUMNS);
const RESTAGE_VERSION_SQL = 'UPDATE credential_versions SET stage = ?, expires_at = ? WHERE tenant_id = ? AND credential_id = ? AND version = ?';

/** Every column but the key, in `credentialToParams` order after its first two. */
const CREDENTIAL_UPDATE_COLUMNS = CREDENTIAL_COLUMNS.filter((c) => c !== 'tenant_id' && c !== 'id');
export const CREDENTIAL_SET_SQL = CREDENTIAL_UPDATE_COLUMNS.map((c) => `${c} = ?`).join(', ');
/** Compare-and-set on revision. */
const UPDATE_CREDENTIAL_SQL = `UPDATE credentials SET ${CREDENTIAL_SET_SQL} WHERE tenant_id = ? AND id = ? AND revision = ?`;
function updateCredentialParams(tenantId: string, expectedRevision: number, w: CredentialWrite): unknown[] {
  return [...credentialToParams(w.credential).slice(2), tenantId, w.credential.id, expectedRevision];
}

/** A write's versions: stage changes of older ones first, then the new one. */
export function* writeVersions(w: CredentialWrite): Script<void> {
  for (const r of w.restage ?? []) yield* run(RESTAGE_VERSION_SQL, [r.stage, r.expiresAt, w.credential.tenantId, w.credential.id, r.version]);
  if (w.version) yield* run(INSERT_VERSION_SQL, versionToParams(w.version));
}

/**
 * Whether no other live account credential (queries.ts) remains, read under a lock on the
 * tenant's row on PostgreSQL: every deleting transaction of the tenant takes it first, so under
 * READ COMMITTED two deletes of the last two are serialized and the second counts what the first
 * left. SQLite's one writer at a time gives the same.
 */
function* lastOfAccount(d: QueryDialect, tenantId: string, id: string): Script<boolean> {
  yield* one(`${TENANT_EXISTS_SQL}${d.forUpdate}`, [tenantId]);
  return Number((yield* one(OTHER_ACCOUNT_CREDENTIALS_SQL, [tenantId, id]))?.n ?? 0) === 0;
}

export function credentialStore(
  db: SqlRunner,
  w: WriteRunner,
  d: QueryDialect,
): Omit<CredentialStore, 'getCredential' | 'getVersion' | 'getCredentialWithVersion' | 'listCredentials' | 'touchCredentials'> {
  return {
    async insertCredential(_tenantId, cw) {
      return outcomeOnConflict(
        () =>
          w.write(function* () {
            yield* run(INSERT_CREDENTIAL_SQL, credentialToParams(cw.credential));
            yield* writeVersions(cw);
            yield* writeAudit(cw.audit);
            return 'inserted' as const;
          }),
        (err) => (w.isUniqueViolation(err, 'credential_slug') ? ('slug_taken' as const) : w.isUniqueViolation(err) ? ('id_taken' as const) : null),
      );
    },
    async updateCredential(tenantId, expectedRevision, cw) {
      const c = cw.credential;
      return outcomeOnConflict(
        () =>
          w.write(function* () {
            if (c.deletedAt !== null && ACCOUNT_CREDENTIAL_TYPES.includes(c.type) && (yield* lastOfAccount(d, tenantId, c.id)))
              return 'last_account_credential' as const;
            if ((yield* run(UPDATE_CREDENTIAL_SQL, updateCredentialParams(tenantId, expectedRevision, cw))) !== 1) return 'stale' as const;
            yield* writeVersions(cw);
            yield* writeAudit(cw.audit);
            return 'updated' as const;
          }),
        (err) => (w.isUniqueViolation(err, 'credential_slug') ? ('slug_taken' as const) : null),
      );
    },
    async purgeCredential(tenantId, id, audit) {
      return w.write(function* () {
        const live = yield* one('SELECT type FROM credentials WHERE tenant_id = ? AND id = ? AND deleted_at IS NULL', [tenantId, id]);
        if (live && ACCOUNT_CREDENTIAL_TYPES.includes(live.type as string) && (yield* lastOfAccount(d, tenantId, id)))
          return 'last_account_credential' as const;
        yield* run('DELETE FROM credential_versions WHERE tenant_id = ? AND credential_id = ?', [tenantId, id]);
        yield* run('DELETE FROM derived_tokens WHERE tenant_id = ? AND credential_id = ?', [tenantId, id]);
        const purged = (yield* run('DELETE FROM credentials WHERE tenant_id = ? AND id = ?', [tenantId, id])) === 1;
        if (purged) yield* writeAudit(audit);
        return purged;
      });
    },

    async listVersions(tenantId, credentialId) {
      return (await db.all('SELECT * FROM credential_versions WHERE tenant_id = ? AND credential_id = ? ORDER BY version DESC', [tenantId, credentialId])).map(
        versionFromRecord,
      );
    },
    // The lifecycle jobs' scans across tenants: ids only; the jobs act through tenant-scoped methods.
    async listDueDeactivations(now, limit) {
      return (
        await db.all(
          `SELECT tenant_id, id FROM credentials WHERE deleted_at IS NULL AND status <> 'deactivated' AND deactivation_time <= ? ORDER BY deactivation_time LIMIT ?`,
          [now, limit],
        )
      ).map(idPair);
    },
    async listDueRotations(now, limit) {
      return (
        await db.all(
          `SELECT tenant_id, id FROM credentials WHERE deleted_at IS NULL AND rotation_due = 0 AND status = 'active' AND next_rotation_at <= ? ORDER BY next_rotation_at LIMIT ?`,
          [now, limit],
        )
      ).map(idPair);
    },
    async listDeletedBefore(before, limit) {
      return (
        await db.all('SELECT tenant_id, id FROM credentials WHERE deleted_at IS NOT NULL AND deleted_at < ? ORDER BY deleted_at LIMIT ?', [before, limit])
      ).map(idPair);
    },
  };
}
