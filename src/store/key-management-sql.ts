import type { SealedCount, TenantKeyInfo, TenantKeyRow } from '../domain/records.js';
import { ROOT_KEY_ID_META, type KeyManagementStore } from './port.js';
import { RootKeyMoved } from './store-errors.js';
import { all, lock, one, run, writeAudit, type Script, type WriteRunner } from './transaction-script.js';
import { tenantKeyFromRecord, versionFromRecord, type DbRecord } from './rows.js';
import { outcomeOnConflict } from './store-errors.js';
import { tenantScope, type QueryDialect, type SqlRunner } from './sql-runner.js';

/**
 * SQL for key management, written once with `?` placeholders (the PostgreSQL adapter numbers
 * them). A sealed blob starts with format(1) | data-key version(u32 big-endian) (crypto/aead.ts),
 * so `substr(blob, 2, 4)` is the version as 4 bytes, and bytewise comparison of big-endian
 * integers is numeric comparison: SQLite compares BLOBs with memcmp, PostgreSQL bytea bytewise.
 */

/** The 4 header bytes that a blob sealed under `keyVersion` carries. */
function keyVersionBytes(keyVersion: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(keyVersion, 0);
  return b;
}

const STALE = `(substr(secret, 2, 4) <> ? OR (test_secret IS NOT NULL AND substr(test_secret, 2, 4) <> ?))`;

export const VERSIONS_TO_RESEAL_SQL =
  `SELECT * FROM credential_versions WHERE tenant_id = ? AND ${STALE} ` + `AND (credential_id, version) > (?, ?) ORDER BY credential_id, version LIMIT ?`;

export function versionsToResealParams(
  tenantId: string,
  keyVersion: number,
  after: { credentialId: string; version: number } | null,
  limit: number,
): unknown[] {
  const kv = keyVersionBytes(keyVersion);
  const a = after ?? { credentialId: '', version: 0 };
  return [tenantId, kv, kv, a.credentialId, a.version, limit];
}

const COUNT_VERSIONS_TO_RESEAL_SQL = `SELECT COUNT(*) AS n FROM credential_versions WHERE tenant_id = ? AND ${STALE}`;

/** Column names are never taken from input: the slot picks one of these two. */
const SLOT_COLUMN = { secret: 'secret', test_secret: 'test_secret' } as const;

function resealSlotSql(slot: keyof typeof SLOT_COLUMN): string {
  const c = SLOT_COLUMN[slot];
  return `UPDATE credential_versions SET ${c} = ? WHERE tenant_id = ? AND credential_id = ? AND version = ? AND ${c} = ?`;
}

const REWRAP_TENANT_KEY_SQL = 'UPDATE tenant_keys SET wrapped_key = ?, root_key_id = ? WHERE tenant_id = ? AND version = ? AND root_key_id = ?';
const TENANTS_TO_REWRAP_SQL = 'SELECT DISTINCT tenant_id FROM tenant_keys WHERE root_key_id <> ? AND tenant_id > ? ORDER BY tenant_id LIMIT ?';
const COUNT_TENANTS_TO_REWRAP_SQL = 'SELECT COUNT(DISTINCT tenant_id) AS n FROM tenant_keys WHERE root_key_id <> ?';
export const INSERT_TENANT_KEY_SQL = 'INSERT INTO tenant_keys (tenant_id, version, wrapped_key, root_key_id, created_at) VALUES (?, ?, ?, ?, ?)';

/** `where` is '' or the `WHERE` clause of `tenantScope`. */
function sealedCountSql(slot: keyof typeof SLOT_COLUMN, where: string): string {
  const c = SLOT_COLUMN[slot];
  const notNull = slot === 'test_secret' ? `${where === '' ? 'WHERE' : `${where} AND`} test_secret IS NOT NULL` : where;
  return `SELECT tenant_id, substr(${c}, 2, 4) AS kv, COUNT(*) AS n FROM credential_versions ${notNull} GROUP BY tenant_id, substr(${c}, 2, 4)`;
}

function sealedCountFromRecord(slot: 'secret' | 'test_secret', r: DbRecord): SealedCount {
  const kv = r.kv === null || r.kv === undefined ? Buffer.alloc(0) : Buffer.isBuffer(r.kv) ? r.kv : Buffer.from(r.kv as Uint8Array);
  // A blob too short to carry a header counts as version 0, which no data key has.
  return { tenantId: r.tenant_id as string, slot, keyVersion: kv.length === 4 ? kv.readUInt32BE(0) : 0, rows: Number(r.n) };
}

function tenantKeyInfoFromRecord(r: DbRecord): TenantKeyInfo {
  return { tenantId: r.tenant_id as string, version: Number(r.version), rootKeyId: r.root_key_id as string, createdAt: r.created_at as string };
}

/** Identifiers read from the database's own catalog, quoted for use in a statement. */
function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

export const META_VALUE_SQL = 'SELECT value FROM meta WHERE key = ?';
/** (2, hashtext('meta')): compare-and-set of meta rows, so two of them cannot both see a row absent and both write it. */
const META_LOCK_SPACE = 2;

/**
 * Crypto-shredding, step two: every row of the tenant in `tables` (each table with a tenant_id
 * column, as the adapter reads its own schema), then the tenant, its row locked first on PostgreSQL.
 */
export function* purgeTenant(d: QueryDialect, tenantId: string, tables: readonly string[]): Script<{ purged: boolean; accessKeyHashes: Buffer[] }> {
  yield* one(`SELECT 1 AS x FROM tenants WHERE id = ?${d.forUpdate}`, [tenantId]);
  const accessKeyHashes = (yield* all('SELECT key_hash FROM access_keys WHERE tenant_id = ?', [tenantId])).map((r) => Buffer.from(r.key_hash as Uint8Array));
  let deleted = 0;
  for (const table of tables) deleted += yield* run(`DELETE FROM ${quoteIdent(table)} WHERE tenant_id = ?`, [tenantId]);
  deleted += yield* run('DELETE FROM tenants WHERE id = ?', [tenantId]);
  return { purged: deleted > 0, accessKeyHashes };
}

/**
 * A new data key must be wrapped by the root key the store names now. Checked inside the writing
 * transaction, holding the meta row (FOR SHARE on PostgreSQL; SQLite runs one writer at a time),
 * so a root-key rotation moving the store to a new key either committed first (and this write is
 * refused) or waits for this one and then finds the row to re-wrap.
 */
export function* rootKeyFence(d: QueryDialect, key: TenantKeyRow): Script<void> {
  const fence = yield* one(`${META_VALUE_SQL}${d.forShare}`, [ROOT_KEY_ID_META]);
  if (fence && fence.value !== key.rootKeyId) throw new RootKeyMoved();
}

/** Key management, written once for both stores; purging a tenant's rows is each adapter's (it reads its own schema). */
export function keyManagementStore(db: SqlRunner, w: WriteRunner, d: QueryDialect): Omit<KeyManagementStore, 'purgeTenantRows'> {
  const count = async (sql: string, params: unknown[]): Promise<number> => Number((await db.one(sql, params))?.n ?? 0);
  return {
    async compareAndSetMeta(expect, set, audit) {
      return w.write(function* () {
        yield* lock(META_LOCK_SPACE, 'meta');
        const keys = Object.keys(expect);
        // Locked on PostgreSQL, which also waits for tenant inserts holding the root-key fence (FOR SHARE).
        const list = d.inList('key', keys);
        const rows = keys.length === 0 ? [] : yield* all(`SELECT key, value FROM meta WHERE ${list.sql} ORDER BY key${d.forUpdate}`, [list.param]);
        const have = new Map(rows.map((r) => [r.key as string, r.value as string]));
        for (const key of keys) if ((have.get(key) ?? null) !== expect[key]) return false;
        for (const [key, value] of Object.entries(set)) {
          if (value === null) yield* run('DELETE FROM meta WHERE key = ?', [key]);
          else yield* run('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value', [key, value]);
        }
        yield* writeAudit(audit);
        return true;
      });
    },
    async insertTenantKey(tenantId, key, audit) {
      return outcomeOnConflict(
        () =>
          w.write(function* () {
            // FOR SHARE: a purge of the tenant (FOR UPDATE of its row) waits for this insert, or this for it.
            if (!(yield* one(`SELECT 1 AS x FROM tenants WHERE id = ?${d.forShare}`, [tenantId]))) return 'no_tenant' as const;
            yield* rootKeyFence(d, key);
            yield* run(INSERT_TENANT_KEY_SQL, [tenantId, key.version, key.wrappedKey, key.rootKeyId, key.createdAt]);
            yield* writeAudit(audit);
            return 'inserted' as const;
          }),
        (err) => (w.isUniqueViolation(err) ? ('version_taken' as const) : null),
      );
    },
    async rewrapTenantKeys(tenantId, rows) {
      return w.write(function* () {
        let changed = 0;
        for (const r of rows) changed += yield* run(REWRAP_TENANT_KEY_SQL, [r.wrappedKey, r.rootKeyId, tenantId, r.version, r.fromRootKeyId]);
        return changed;
      });
    },
    async resealVersions(tenantId, rows) {
      return w.write(function* () {
        let written = 0;
        for (const r of rows) written += yield* run(resealSlotSql(r.slot), [r.to, tenantId, r.credentialId, r.version, r.from]);
        return written;
      });
    },
    async destroyTenantKeys(tenantId, audit) {
      return w.write(function* () {
        const n = yield* run('DELETE FROM tenant_keys WHERE tenant_id = ?', [tenantId]);
        yield* writeAudit(audit);
        return n;
      });
    },
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
      return (await db.all(`SELECT tenant_id, version, root_key_id, created_at FROM tenant_keys ${t.where} ORDER BY tenant_id, version`, t.params)).map(
        tenantKeyInfoFromRecord,
      );
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
