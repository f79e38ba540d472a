import type { AccessKeyStore } from '../port.js';
import { ACCESS_KEY_BY_HASH_SQL } from '../access-keys-sql.js';
import { accessKeyFromRecord } from '../rows.js';
import type { SqliteConnection } from './sqlite-connection.js';

/** How long a data_version check vouches for the access-key set's "no" (see findAccessKeyByHash). */
const KEY_SET_CHECK_VALID_MS = 1;

/** What SQLite does its own way for access keys: authentication answers unknown keys from the in-memory hash set. */
export function sqliteAccessKeys(c: SqliteConnection): Pick<AccessKeyStore, 'findAccessKeyByHash' | 'touchAccessKeys'> {
  let keySetCheckedAt = -Infinity;
  return {
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
      const r = c.get(ACCESS_KEY_BY_HASH_SQL, keyHash);
      return r ? accessKeyFromRecord(r) : null;
    },
    async touchAccessKeys(touches) {
      c.db.transaction(() => {
        for (const t of touches) c.run('UPDATE access_keys SET last_used_at = ? WHERE tenant_id = ? AND id = ?', t.at, t.tenantId, t.id);
      })();
    },
  };
}
