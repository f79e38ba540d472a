import type { CredentialWrite } from '../domain/records.js';
import type { CredentialStore } from './port.js';
import { CREDENTIAL_COLUMNS, VERSION_COLUMNS, credentialToParams, idPair, insertSql, versionFromRecord, versionToParams } from './rows.js';
import type { SqlRunner } from './sql-runner.js';

/** SQL of credentials and their versions, written once with `?` placeholders, and the methods the same on both stores. */

/** Named columns: PostgreSQL runs the per-request reads as named statements (see ACCESS_KEY_BY_HASH_SQL). */
export const CREDENTIAL_BY_ID_SQL = `SELECT ${CREDENTIAL_COLUMNS.join(', ')} FROM credentials WHERE tenant_id = ? AND id = ?`;
export const VERSION_BY_NUMBER_SQL = `SELECT ${VERSION_COLUMNS.join(', ')} FROM credential_versions WHERE tenant_id = ? AND credential_id = ? AND version = ?`;
export const INSERT_CREDENTIAL_SQL = insertSql('credentials', CREDENTIAL_COLUMNS);
export const INSERT_VERSION_SQL = insertSql('credential_versions', VERSION_COLUMNS);
export const RESTAGE_VERSION_SQL = 'UPDATE credential_versions SET stage = ?, expires_at = ? WHERE tenant_id = ? AND credential_id = ? AND version = ?';

/** Every column but the key, in `credentialToParams` order after its first two. */
export const CREDENTIAL_UPDATE_COLUMNS = CREDENTIAL_COLUMNS.filter((c) => c !== 'tenant_id' && c !== 'id');
export const CREDENTIAL_SET_SQL = CREDENTIAL_UPDATE_COLUMNS.map((c) => `${c} = ?`).join(', ');
/** Compare-and-set on revision. */
export const UPDATE_CREDENTIAL_SQL = `UPDATE credentials SET ${CREDENTIAL_SET_SQL} WHERE tenant_id = ? AND id = ? AND revision = ?`;
export function updateCredentialParams(tenantId: string, expectedRevision: number, w: CredentialWrite): unknown[] {
  return [...credentialToParams(w.credential).slice(2), tenantId, w.credential.id, expectedRevision];
}

export const LIVE_CREDENTIAL_TYPE_SQL = 'SELECT type FROM credentials WHERE tenant_id = ? AND id = ? AND deleted_at IS NULL';
export const DELETE_VERSIONS_SQL = 'DELETE FROM credential_versions WHERE tenant_id = ? AND credential_id = ?';
export const DELETE_CREDENTIAL_SQL = 'DELETE FROM credentials WHERE tenant_id = ? AND id = ?';

/** The statements of a write's versions: stage changes of older ones first, then the new one. */
export function versionWrites(w: CredentialWrite): Array<[sql: string, params: unknown[]]> {
  const out: Array<[string, unknown[]]> = (w.restage ?? []).map((r) => [RESTAGE_VERSION_SQL, [r.stage, r.expiresAt, w.credential.tenantId, w.credential.id, r.version]]);
  if (w.version) out.push([INSERT_VERSION_SQL, versionToParams(w.version)]);
  return out;
}

export function credentialQueries(db: SqlRunner): Pick<CredentialStore, 'listVersions' | 'listDueDeactivations' | 'listDueRotations' | 'listDeletedBefore'> {
  return {
    async listVersions(tenantId, credentialId) {
      return (await db.all('SELECT * FROM credential_versions WHERE tenant_id = ? AND credential_id = ? ORDER BY version DESC', [tenantId, credentialId])).map(versionFromRecord);
    },
    // The lifecycle jobs' scans across tenants: ids only; the jobs act through tenant-scoped methods.
    async listDueDeactivations(now, limit) {
      return (await db.all(
        `SELECT tenant_id, id FROM credentials WHERE deleted_at IS NULL AND status <> 'deactivated' AND deactivation_time <= ? ORDER BY deactivation_time LIMIT ?`,
        [now, limit],
      )).map(idPair);
    },
    async listDueRotations(now, limit) {
      return (await db.all(
        `SELECT tenant_id, id FROM credentials WHERE deleted_at IS NULL AND rotation_due = 0 AND status = 'active' AND next_rotation_at <= ? ORDER BY next_rotation_at LIMIT ?`,
        [now, limit],
      )).map(idPair);
    },
    async listDeletedBefore(before, limit) {
      return (await db.all('SELECT tenant_id, id FROM credentials WHERE deleted_at IS NOT NULL AND deleted_at < ? ORDER BY deleted_at LIMIT ?', [before, limit])).map(idPair);
    },
  };
}
