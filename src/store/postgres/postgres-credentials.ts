import { CREDENTIAL_BY_ID_SQL, VERSION_BY_NUMBER_SQL } from '../credentials-sql.js';
import type { CredentialStore } from '../port.js';
import { credentialListSql } from '../queries.js';
import { CREDENTIAL_COLUMNS, VERSION_COLUMNS, credentialFromRecord, versionFromRecord } from '../rows.js';
import { latestTouches, touchParams, touchSql } from './collapse-touches.js';
import { postgresDialect, toPg, type PgConnection } from './postgres-connection.js';

// The per-request reads, numbered once (they run as named statements).
const CREDENTIAL_BY_ID = toPg(CREDENTIAL_BY_ID_SQL, [null, null]).text;
const VERSION_BY_NUMBER = toPg(VERSION_BY_NUMBER_SQL, [null, null, null]).text;
/** Version columns as CREDENTIAL_WITH_VERSION names them. */
const PREFIXED_VERSION_COLUMNS = VERSION_COLUMNS.map((c) => [c, `v_${c}`] as const);
/** A credential and its current version in one round trip; the version's columns come back as v_<column>. */
const CREDENTIAL_WITH_VERSION = `SELECT ${CREDENTIAL_COLUMNS.map((c) => `c.${c}`).join(', ')}, ${PREFIXED_VERSION_COLUMNS.map(([c, as]) => `v.${c} AS ${as}`).join(', ')}
     FROM credentials c
     LEFT JOIN credential_versions v ON v.tenant_id = c.tenant_id AND v.credential_id = c.id AND v.version = c.version
    WHERE c.tenant_id = $1 AND c.id = $2`;

/** What PostgreSQL does its own way for credentials: the reads of every request as named statements, touches in one UPDATE. */
export function postgresCredentials(
  c: PgConnection,
): Pick<CredentialStore, 'getCredential' | 'getVersion' | 'getCredentialWithVersion' | 'listCredentials' | 'touchCredentials'> {
  return {
    async getCredential(tenantId, id) {
      const r = (await c.prepared('credential-by-id', CREDENTIAL_BY_ID, [tenantId, id])).rows[0];
      return r ? credentialFromRecord(r) : null;
    },
    async listCredentials(tenantId, visibility, filter, page) {
      const q = credentialListSql(tenantId, visibility, filter, page, postgresDialect.jsonArrayHasAny);
      const [rows, total] = await Promise.all([c.runner.all(q.rows.text, q.rows.params), c.runner.one(q.count.text, q.count.params)]);
      return { rows: rows.map(credentialFromRecord), total: Number(total?.n ?? 0) };
    },
    async getVersion(tenantId, credentialId, version) {
      const r = (await c.prepared('credential-version', VERSION_BY_NUMBER, [tenantId, credentialId, version])).rows[0];
      return r ? versionFromRecord(r) : null;
    },
    async getCredentialWithVersion(tenantId, id) {
      const r = (await c.prepared('credential-with-version', CREDENTIAL_WITH_VERSION, [tenantId, id])).rows[0];
      if (!r) return null;
      return {
        credential: credentialFromRecord(r),
        version: r.v_version === null ? null : versionFromRecord(Object.fromEntries(PREFIXED_VERSION_COLUMNS.map(([col, as]) => [col, r[as]]))),
      };
    },
    async touchCredentials(touches) {
      const rows = latestTouches(touches);
      if (rows.length === 0) return;
      await c.transaction((tx) => tx.query(touchSql(1), touchParams(rows)));
    },
  };
}
