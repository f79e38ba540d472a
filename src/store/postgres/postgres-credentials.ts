import type { CredentialWrite } from '../../domain/records.js';
import {
  CREDENTIAL_BY_ID_SQL, DELETE_CREDENTIAL_SQL, DELETE_VERSIONS_SQL, INSERT_CREDENTIAL_SQL, LIVE_CREDENTIAL_TYPE_SQL, UPDATE_CREDENTIAL_SQL,
  VERSION_BY_NUMBER_SQL, credentialQueries, updateCredentialParams, versionWrites,
} from '../credentials-sql.js';
import type { CredentialStore } from '../port.js';
import { TENANT_EXISTS_SQL } from '../tenancy-sql.js';
import { ACCOUNT_CREDENTIAL_TYPES, OTHER_ACCOUNT_CREDENTIALS_SQL, credentialListSql } from '../queries.js';
import { CREDENTIAL_COLUMNS, VERSION_COLUMNS, credentialFromRecord, credentialToParams, versionFromRecord } from '../rows.js';
import { outcomeOnConflict } from '../store-errors.js';
import { latestTouches, touchParams, touchSql } from './collapse-touches.js';
import { isUniqueViolation, postgresDialect, toPg, type PgConnection, type PgTransaction } from './postgres-connection.js';

/** The unique index of a tenant's credential slugs. */
const SLUG_INDEX = 'credentials_slug';
// The per-request reads, numbered once (they run as named statements).
const CREDENTIAL_BY_ID = toPg(CREDENTIAL_BY_ID_SQL, [null, null]).text;
const VERSION_BY_NUMBER = toPg(VERSION_BY_NUMBER_SQL, [null, null, null]).text;
/** Version columns as CREDENTIAL_WITH_VERSION names them. */
const PREFIXED_VERSION_COLUMNS = VERSION_COLUMNS.map((c) => [c, `v_${c}`] as const);
/** A credential and its current version in one round trip; the version's columns come back as v_<column>. */
const CREDENTIAL_WITH_VERSION =
  `SELECT ${CREDENTIAL_COLUMNS.map((c) => `c.${c}`).join(', ')}, ${PREFIXED_VERSION_COLUMNS.map(([c, as]) => `v.${c} AS ${as}`).join(', ')}
     FROM credentials c
     LEFT JOIN credential_versions v ON v.tenant_id = c.tenant_id AND v.credential_id = c.id AND v.version = c.version
    WHERE c.tenant_id = $1 AND c.id = $2`;

export async function writeVersion(tx: PgTransaction, w: CredentialWrite): Promise<void> {
  for (const [sql, params] of versionWrites(w)) await tx.run(sql, params);
}

/** Credentials on PostgreSQL: the reads of every request are named statements; nothing is cached in the process. */
export function postgresCredentials(c: PgConnection): CredentialStore {
  const { transaction } = c;
  /**
   * Whether no other live account credential remains, read under a lock on the tenant's row: every
   * deleting transaction of the tenant takes it first, so under READ COMMITTED two deletes of the
   * last two credentials are serialized and the second counts what the first left.
   */
  async function lastOfAccount(tx: PgTransaction, tenantId: string, id: string): Promise<boolean> {
    await tx.one(`${TENANT_EXISTS_SQL} FOR UPDATE`, [tenantId]);
    return Number((await tx.one(OTHER_ACCOUNT_CREDENTIALS_SQL, [tenantId, id]))?.n ?? 0) === 0;
  }
  return {
    ...credentialQueries(c.runner),

    async insertCredential(_tenantId, w) {
      return outcomeOnConflict(() => transaction(async (tx) => {
        await tx.run(INSERT_CREDENTIAL_SQL, credentialToParams(w.credential));
        await writeVersion(tx, w);
        await c.insertAudit(tx, w.audit);
        return 'inserted' as const;
      }), (err) => (isUniqueViolation(err, SLUG_INDEX) ? 'slug_taken' as const : isUniqueViolation(err) ? 'id_taken' as const : null));
    },
    async getCredential(tenantId, id) {
      const r = (await c.prepared('credential-by-id', CREDENTIAL_BY_ID, [tenantId, id])).rows[0];
      return r ? credentialFromRecord(r) : null;
    },
    async listCredentials(tenantId, visibility, filter, page) {
      const q = credentialListSql(tenantId, visibility, filter, page, postgresDialect.jsonArrayHasAny);
      const [rows, total] = await Promise.all([c.runner.all(q.rows.text, q.rows.params), c.runner.one(q.count.text, q.count.params)]);
      return { rows: rows.map(credentialFromRecord), total: Number(total?.n ?? 0) };
    },
    async updateCredential(tenantId, expectedRevision, w) {
      const cr = w.credential;
      return outcomeOnConflict(() => transaction(async (tx) => {
        if (cr.deletedAt !== null && ACCOUNT_CREDENTIAL_TYPES.includes(cr.type) && (await lastOfAccount(tx, tenantId, cr.id))) return 'last_account_credential' as const;
        if ((await tx.run(UPDATE_CREDENTIAL_SQL, updateCredentialParams(tenantId, expectedRevision, w))) !== 1) return 'stale' as const;
        await writeVersion(tx, w);
        await c.insertAudit(tx, w.audit);
        return 'updated' as const;
      }), (err) => (isUniqueViolation(err, SLUG_INDEX) ? 'slug_taken' as const : null));
    },
    async purgeCredential(tenantId, id, audit) {
      return transaction(async (tx) => {
        const live = await tx.one(LIVE_CREDENTIAL_TYPE_SQL, [tenantId, id]);
        if (live && ACCOUNT_CREDENTIAL_TYPES.includes(live.type as string) && (await lastOfAccount(tx, tenantId, id))) return 'last_account_credential' as const;
        await tx.run(DELETE_VERSIONS_SQL, [tenantId, id]);
        const purged = (await tx.run(DELETE_CREDENTIAL_SQL, [tenantId, id])) === 1;
        if (purged) await c.insertAudit(tx, audit);
        return purged;
      });
    },
    async getVersion(tenantId, credentialId, version) {
      const r = (await c.prepared('credential-version', VERSION_BY_NUMBER, [tenantId, credentialId, version])).rows[0];
      return r ? versionFromRecord(r) : null;
    },
    async getCredentialWithVersion(tenantId, id) {
      const r = (await c.prepared('credential-with-version', CREDENTIAL_WITH_VERSION, [tenantId, id])).rows[0];
      if (!r) return null;
      return { credential: credentialFromRecord(r), version: r.v_version === null ? null : versionFromRecord(Object.fromEntries(PREFIXED_VERSION_COLUMNS.map(([col, as]) => [col, r[as]]))) };
    },
    async touchCredentials(touches) {
      const rows = latestTouches(touches);
      if (rows.length === 0) return;
      await transaction((tx) => tx.query(touchSql(1), touchParams(rows)));
    },
  };
}
