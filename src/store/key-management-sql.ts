import type { SealedCount, TenantKeyInfo } from './port.js';
import type { DbRecord } from './rows.js';

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

/** `where` is '' or a `WHERE tenant_id IN (…)` clause the adapter builds for its placeholders. */
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
