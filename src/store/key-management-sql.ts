import type { SealedCount, TenantKeyInfo } from '../domain/records.js';
import type { KeyManagementStore } from './port.js';
import { tenantKeyFromRecord, versionFromRecord, type DbRecord } from './rows.js';
import { tenantScope, type QueryDialect, type SqlRunner } from './sql-runner.js';

/**
 * SQL for key management, written once with `?` placeholders (the PostgreSQL adapter numbers
 * them). A sealed blob starts with format(1) | data-key version(u32 big-endian) (crypto/aead.ts),
 * so `substr(blob, 2, 4)` is the version as 4 bytes, and bytewise comparison of big-endian
 * integers is numeric comparison: SQLite compares BLOBs with memcmp, PostgreSQL bytea bytewise.
 */

/** The 4 header bytes that a blob sealed under `keyVersion` carries. */
export function keyVersionBytes(keyVersion: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(keyVersion, 0);
  return b;
}

const STALE = `(substr(secret, 2, 4) <> ? OR (test_secret IS NOT NULL AND substr(test_secret, 2, 4) <> ?))`;

export const VERSIONS_TO_RESEAL_SQL =
  `SELECT * FROM credential_versions WHERE tenant_id = ? AND ${STALE} ` +
  `AND (credential_id, version) > (?, ?) ORDER BY credential_id, version LIMIT ?`;

export function versionsToResealParams(tenantId: string, keyVersion: number, after: { credentialId: string; version: number } | null, limit: number): unknown[] {
  const kv = keyVersionBytes(keyVersion);
  const a = after ?? { credentialId: '', version: 0 };
  return [tenantId, kv, kv, a.credentialId, a.version, limit];
}

export const COUNT_VERSIONS_TO_RESEAL_SQL = `SELECT COUNT(*) AS n FROM credential_versions WHERE tenant_id = ? AND ${STALE}`;

/** Column names are never taken from input: the slot picks one of these two. */
export const SLOT_COLUMN = { secret: 'secret', test_secret: 'test_secret' } as const;

export function resealSlotSql(slot: keyof typeof SLOT_COLUMN): string {
  const c = SLOT_COLUMN[slot];
  return `UPDATE credential_versions SET ${c} = ? WHERE tenant_id = ? AND credential_id = ? AND version = ? AND ${c} = ?`;
}

export const REWRAP_TENANT_KEY_SQL = 'UPDATE tenant_keys SET wrapped_key = ?, root_key_id = ? WHERE tenant_id = ? AND version = ? AND root_key_id = ?';
export const TENANTS_TO_REWRAP_SQL = 'SELECT DISTINCT tenant_id FROM tenant_keys WHERE root_key_id <> ? AND tenant_id > ? ORDER BY tenant_id LIMIT ?';
export const COUNT_TENANTS_TO_REWRAP_SQL = 'SELECT COUNT(DISTINCT tenant_id) AS n FROM tenant_keys WHERE root_key_id <> ?';
export const INSERT_TENANT_KEY_SQL = 'INSERT INTO tenant_keys (tenant_id, version, wrapped_key, root_key_id, created_at) VALUES (?, ?, ?, ?, ?)';

/** `where` is '' or the `WHERE` clause of `tenantScope`. */
export function sealedCountSql(slot: keyof typeof SLOT_COLUMN, where: string): string {
  const c = SLOT_COLUMN[slot];
  const notNull = slot === 'test_secret' ? `${where === '' ? 'WHERE' : `${where} AND`} test_secret IS NOT NULL` : where;
  return `SELECT tenant_id, substr(${c}, 2, 4) AS kv, COUNT(*) AS n FROM credential_versions ${notNull} GROUP BY tenant_id, substr(${c}, 2, 4)`;
}

export function sealedCountFromRecord(slot: 'secret' | 'test_secret', r: DbRecord): SealedCount {
  const kv = r.kv === null || r.kv === undefined ? Buffer.alloc(0) : Buffer.isBuffer(r.kv) ? r.kv : Buffer.from(r.kv as Uint8Array);
  // A blob too short to carry a header counts as version 0, which no data key has.
  return { tenantId: r.tenant_id as string, slot, keyVersion: kv.length === 4 ? kv.readUInt32BE(0) : 0, rows: Number(r.n) };
}

export function tenantKeyInfoFromRecord(r: DbRecord): TenantKeyInfo {
  return { tenantId: r.tenant_id as string, version: Number(r.version), rootKeyId: r.root_key_id as string, createdAt: r.created_at as string };
}

/** Identifiers read from the database's own catalog, quoted for use in a statement. */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

export const META_VALUE_SQL = 'SELECT value FROM meta WHERE key = ?';
export const SET_META_SQL = 'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value';
export const DELETE_META_SQL = 'DELETE FROM meta WHERE key = ?';
export const DELETE_TENANT_KEYS_SQL = 'DELETE FROM tenant_keys WHERE tenant_id = ?';
export const DELETE_TENANT_SQL = 'DELETE FROM tenants WHERE id = ?';

export function keyManagementQueries(db: SqlRunner, d: QueryDialect): Pick<
  KeyManagementStore,
  'getMeta' | 'initMeta' | 'listTenantKeys' | 'currentTenantKeyVersion' | 'listTenantsToRewrap' | 'countTenantsToRewrap' | 'listTenantKeyInfo' |
  'listVersionsToReseal' | 'countVersionsToReseal' | 'countSealedByKeyVersion'
> {
  const count = async (sql: string, params: unknown[]): Promise<number> => Number((await db.one(sql, params))?.n ?? 0);
  return {
    async getMeta(key) {
      const r = await db.one(META_VALUE_SQL, [key]);
      return r ? (r.value as string) : null;
    },
    async initMeta(key, value) {
      // The inserted value, or (another writer's insert came first) none, and the stored one is read back.
      const r = await db.one('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING RETURNING value', [key, value]);
      if (r) return r.value as string;
      return (await db.one(META_VALUE_SQL, [key]))?.value as string;
    },
    async listTenantKeys(tenantId) {
      return (await db.all('SELECT * FROM tenant_keys WHERE tenant_id = ? ORDER BY version', [tenantId])).map(tenantKeyFromRecord);
    },
    async currentTenantKeyVersion(tenantId) {
      const v = (await db.one('SELECT MAX(version) AS v FROM tenant_keys WHERE tenant_id = ?', [tenantId]))?.v;
      return v === null || v === undefined ? null : Number(v);
    },
    async listTenantsToRewrap(rootKeyId, after, limit) {
      return (await db.all(TENANTS_TO_REWRAP_SQL, [rootKeyId, after ?? '', limit])).map((r) => r.tenant_id as string);
    },
    async countTenantsToRewrap(rootKeyId) {
      return count(COUNT_TENANTS_TO_REWRAP_SQL, [rootKeyId]);
    },
    async listTenantKeyInfo(ids) {
      if (ids !== 'all' && ids.length === 0) return [];
      const t = tenantScope(d, ids);
      return (await db.all(`SELECT tenant_id, version, root_key_id, created_at FROM tenant_keys ${t.where} ORDER BY tenant_id, version`, t.params)).map(tenantKeyInfoFromRecord);
    },
    async listVersionsToReseal(tenantId, keyVersion, after, limit) {
      return (await db.all(VERSIONS_TO_RESEAL_SQL, versionsToResealParams(tenantId, keyVersion, after, limit))).map(versionFromRecord);
    },
    async countVersionsToReseal(tenantId, keyVersion) {
      const kv = keyVersionBytes(keyVersion);
      return count(COUNT_VERSIONS_TO_RESEAL_SQL, [tenantId, kv, kv]);
    },
    async countSealedByKeyVersion(ids) {
      if (ids !== 'all' && ids.length === 0) return [];
      const t = tenantScope(d, ids);
      const out: SealedCount[] = [];
      for (const slot of ['secret', 'test_secret'] as const) {
        out.push(...(await db.all(sealedCountSql(slot, t.where), t.params)).map((r) => sealedCountFromRecord(slot, r)));
      }
      return out;
    },
  };
}
