import {
  ACCESS_KEY_BY_HASH_SQL, DELETE_ACCESS_KEY_SQL, INSERT_ACCESS_KEY_SQL, UPDATE_ACCESS_KEY_SQL, accessKeyQueries,
} from '../access-keys-sql.js';
import type { AccessKeyStore } from '../port.js';
import { accessKeyFromRecord, accessKeyToParams, type DbRecord } from '../rows.js';
import type { SqliteConnection } from './sqlite-connection.js';

/** How long a data_version check vouches for the access-key set's "no" (see findAccessKeyByHash). */
const KEY_SET_CHECK_VALID_MS = 1;

/** Access keys on SQLite: authentication answers unknown keys from the in-memory hash set. */
export function sqliteAccessKeys(c: SqliteConnection): AccessKeyStore {
  const { db, get, run } = c;
  let keySetCheckedAt = -Infinity;
  return {
    ...accessKeyQueries(c.runner),

    async findAccessKeyByHash(keyHash) {
      if (!c.knownKeyHashes.mayHold(keyHash)) {
        // A no must not rest on a set that missed another connection's insert, but reading
        // data_version takes the WAL-index locks and was a sixth of a 401's CPU: a check vouches
        // for every no in the next millisecond, so a key another process commits is accepted
        // from 1 ms after that commit, and a flood of unknown keys checks once a millisecond.
        const now = performance.now();
        if (now - keySetCheckedAt < KEY_SET_CHECK_VALID_MS) return null;
        keySetCheckedAt = now;
        c.dropCachesIfOthersWrote();
        if (!c.knownKeyHashes.mayHold(keyHash)) return null;
      }
      const r = get(ACCESS_KEY_BY_HASH_SQL, keyHash);
      return r ? accessKeyFromRecord(r) : null;
    },
    async insertAccessKey(_tenantId, key, audit) {
      db.transaction(() => {
        c.knownKeyHashes.add(key.keyHash);
        run(INSERT_ACCESS_KEY_SQL, ...accessKeyToParams(key));
        c.insertAudit(audit);
      }).immediate();
    },
    async updateAccessKey(tenantId, key, expectedRevision, audit) {
      return db.transaction(() => {
        if (run(UPDATE_ACCESS_KEY_SQL, key.name, key.updatedAt, key.revision, tenantId, key.id, expectedRevision).changes !== 1) return false;
        c.insertAudit(audit);
        return true;
      }).immediate();
    },
    async deleteAccessKey(tenantId, id, expectedRevision, guardRoles, activeAt, audit) {
      // One writer at a time: the count of other managers cannot change before the delete.
      return db.transaction(() => {
        const row = get('SELECT role, revision FROM access_keys WHERE tenant_id = ? AND id = ?', tenantId, id);
        if (!row || (expectedRevision !== null && Number(row.revision) !== expectedRevision)) return 'stale' as const;
        if (guardRoles.includes(row.role as string)) {
          const others = get(
            'SELECT COUNT(*) AS n FROM access_keys WHERE tenant_id = ? AND id <> ? AND role IN (SELECT value FROM json_each(?)) AND (expires_at IS NULL OR expires_at > ?)',
            tenantId, id, JSON.stringify(guardRoles), activeAt,
          ) as DbRecord;
          if (Number(others.n) === 0) return 'last_manager' as const;
        }
        run(DELETE_ACCESS_KEY_SQL, tenantId, id);
        c.insertAudit(audit);
        return 'deleted' as const;
      }).immediate();
    },
    async touchAccessKeys(touches) {
      db.transaction(() => {
        for (const t of touches) run('UPDATE access_keys SET last_used_at = ? WHERE tenant_id = ? AND id = ?', t.at, t.tenantId, t.id);
      })();
    },
  };
}
