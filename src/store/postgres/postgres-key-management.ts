import { TENANT_ACCESS_KEY_HASHES_SQL } from '../access-keys-sql.js';
import {
  DELETE_META_SQL, DELETE_TENANT_KEYS_SQL, DELETE_TENANT_SQL, INSERT_TENANT_KEY_SQL, REWRAP_TENANT_KEY_SQL, SET_META_SQL, keyManagementQueries,
  quoteIdent, resealSlotSql,
} from '../key-management-sql.js';
import type { KeyManagementStore } from '../port.js';
import { outcomeOnConflict } from '../store-errors.js';
import { TENANT_EXISTS_SQL } from '../tenancy-sql.js';
import { isUniqueViolation, postgresDialect, type PgConnection } from './postgres-connection.js';

/** (2, hashtext('meta')): compare-and-set of meta rows, so two of them cannot both see a row absent and both write it. */
const META_LOCK_SPACE = 2;

/** Key management on PostgreSQL: the root-key fence and meta compare-and-set hold row and advisory locks. */
export function postgresKeyManagement(c: PgConnection): KeyManagementStore {
  const { transaction } = c;
  return {
    ...keyManagementQueries(c.runner, postgresDialect),

    async compareAndSetMeta(expect, set, audit) {
      return transaction(async (tx) => {
        await tx.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [META_LOCK_SPACE, 'meta']);
        const keys = Object.keys(expect);
        // FOR UPDATE also waits for tenant inserts holding the root-key fence (FOR SHARE).
        const rows = keys.length === 0 ? [] : await tx.all('SELECT key, value FROM meta WHERE key = ANY(?::text[]) ORDER BY key FOR UPDATE', [keys]);
        const have = new Map(rows.map((r) => [r.key as string, r.value as string]));
        for (const key of keys) if ((have.get(key) ?? null) !== expect[key]) return false;
        for (const [key, value] of Object.entries(set)) {
          if (value === null) await tx.run(DELETE_META_SQL, [key]);
          else await tx.run(SET_META_SQL, [key, value]);
        }
        await c.insertAudit(tx, audit);
        return true;
      });
    },
    async insertTenantKey(tenantId, key, audit) {
      return outcomeOnConflict(() => transaction(async (tx) => {
        // FOR SHARE: a purge of the tenant (FOR UPDATE of its row) waits for this insert, or this for it.
        if (!(await tx.one(`${TENANT_EXISTS_SQL} FOR SHARE`, [tenantId]))) return 'no_tenant' as const;
        await c.checkRootKeyFence(tx, key);
        await tx.run(INSERT_TENANT_KEY_SQL, [tenantId, key.version, key.wrappedKey, key.rootKeyId, key.createdAt]);
        await c.insertAudit(tx, audit);
        return 'inserted' as const;
      }), (err) => (isUniqueViolation(err) ? 'version_taken' as const : null));
    },
    async rewrapTenantKeys(tenantId, rows) {
      return transaction(async (tx) => {
        let changed = 0;
        for (const r of rows) changed += await tx.run(REWRAP_TENANT_KEY_SQL, [r.wrappedKey, r.rootKeyId, tenantId, r.version, r.fromRootKeyId]);
        return changed;
      });
    },
    async resealVersions(tenantId, rows) {
      return transaction(async (tx) => {
        let written = 0;
        for (const r of rows) written += await tx.run(resealSlotSql(r.slot), [r.to, tenantId, r.credentialId, r.version, r.from]);
        return written;
      });
    },
    async destroyTenantKeys(tenantId, audit) {
      // The deleted tuples stay in the heap until VACUUM reuses their space, and in WAL archives
      // and base backups taken before: those hold wrapped keys, which the root key still opens.
      return transaction(async (tx) => {
        const n = await tx.run(DELETE_TENANT_KEYS_SQL, [tenantId]);
        await c.insertAudit(tx, audit);
        return n;
      });
    },
    async purgeTenantRows(tenantId) {
      // Every table with a tenant_id column, read from the schema itself, so a table added later
      // cannot keep a purged tenant's rows.
      const tables = (await c.runner.all(
        `SELECT table_name AS name FROM information_schema.columns WHERE table_schema = current_schema() AND column_name = 'tenant_id' ORDER BY table_name`,
      )).map((r) => r.name as string);
      return transaction(async (tx) => {
        await tx.one(`${TENANT_EXISTS_SQL} FOR UPDATE`, [tenantId]);
        const accessKeyHashes = (await tx.all(TENANT_ACCESS_KEY_HASHES_SQL, [tenantId])).map((r) => Buffer.from(r.key_hash as Uint8Array));
        let deleted = 0;
        for (const table of tables) deleted += await tx.run(`DELETE FROM ${quoteIdent(table)} WHERE tenant_id = ?`, [tenantId]);
        deleted += await tx.run(DELETE_TENANT_SQL, [tenantId]);
        return { purged: deleted > 0, accessKeyHashes };
      });
    },
  };
}
