import type { CredentialRow, UsageTouch, VersionRow } from '../../domain/records.js';
import { CREDENTIAL_BY_ID_SQL, VERSION_BY_NUMBER_SQL } from '../credentials-sql.js';
import type { CredentialStore } from '../port.js';
import { credentialListSql } from '../queries.js';
import { credentialFromRecord, versionFromRecord } from '../rows.js';
import { keepLatestTouches, touchKey } from '../usage-touches.js';
import { sqliteDialect, type SqliteConnection } from './sqlite-connection.js';

/** How long a usage touch (`last_used_at`) may wait in memory before it is written. */
const TOUCH_FLUSH_MS = 1000;
const TOUCH_SQL = 'UPDATE credentials SET last_used_at = ? WHERE tenant_id = ? AND id = ? AND (last_used_at IS NULL OR last_used_at < ?)';

/** The reads of every request and the usage touches: SQLite's own, around its row cache. */
type OwnMethods = Pick<CredentialStore, 'getCredential' | 'getVersion' | 'getCredentialWithVersion' | 'listCredentials' | 'touchCredentials'>;

export interface SqliteCredentials {
  methods: OwnMethods;
  /** Usage times of reveals: in the row cache at once, in the table within TOUCH_FLUSH_MS. */
  deferTouches(touches: readonly UsageTouch[]): void;
  /** Writes the usage times still waiting (on close). */
  flushTouches(): void;
}

/**
 * Credentials on SQLite, around the row cache (credential-cache.ts), which every write statement
 * of the two tables empties; a list reads ids from the table and rows from the cache.
 */
export function sqliteCredentials(c: SqliteConnection): SqliteCredentials {
  const { db, stmt, get, all } = c;
  const touchCache = (touches: readonly UsageTouch[]): void => {
    for (const t of touches) c.credentialCache.touched(t.tenantId, t.id, t.at);
  };
  const touchCredentials = (touches: readonly UsageTouch[]): void => {
    // Not through run(): once committed, a touch updates its cache entry (see touchCache)
    // instead of emptying the cache.
    for (const t of touches) stmt(TOUCH_SQL).run(t.at, t.tenantId, t.id, t.at);
  };
  /**
   * Reveals move `last_used_at` through the row cache at once (every read here sees it) and in
   * the table once a second: a reveal of each of 50 credentials otherwise dirtied 50 table pages
   * in its audit commit, most of what that commit wrote. A crash loses at most that second of
   * usage times; the audit events, which record every reveal, are written first and durably.
   */
  let pendingTouches = new Map<string, UsageTouch>();
  let touchTimer: NodeJS.Timeout | null = null;
  const flushTouches = (): void => {
    if (touchTimer !== null) clearTimeout(touchTimer);
    touchTimer = null;
    if (pendingTouches.size === 0) return;
    const batch = [...pendingTouches.values()];
    pendingTouches = new Map();
    try {
      db.transaction(() => touchCredentials(batch)).immediate();
    } catch {
      // Busy or failing: kept for the next flush (a newer touch of the same row wins).
      deferTouches(batch);
    }
  };
  const deferTouches = (touches: readonly UsageTouch[]): void => {
    if (touches.length === 0) return;
    keepLatestTouches(pendingTouches, touches);
    touchCache(touches);
    if (touchTimer === null) {
      touchTimer = setTimeout(flushTouches, TOUCH_FLUSH_MS);
      touchTimer.unref();
    }
  };
  const credentialById = (tenantId: string, id: string): CredentialRow | null => {
    const cached = c.credentialCache.get(tenantId, id);
    if (cached) return cached;
    const r = get(CREDENTIAL_BY_ID_SQL, tenantId, id);
    if (!r) return null;
    const row = credentialFromRecord(r);
    // A usage time not yet written (see deferTouches) is still this row's.
    const pending = pendingTouches.get(touchKey(tenantId, id));
    return c.credentialCache.set(pending !== undefined && (row.lastUsedAt === null || row.lastUsedAt < pending.at) ? { ...row, lastUsedAt: pending.at } : row);
  };
  const versionById = (tenantId: string, credentialId: string, version: number): VersionRow | null => {
    c.dropCachesIfOthersWrote();
    const cached = c.credentialCache.version(tenantId, credentialId, version);
    if (cached) return cached;
    const r = get(VERSION_BY_NUMBER_SQL, tenantId, credentialId, version);
    return r ? c.credentialCache.setVersion(versionFromRecord(r)) : null;
  };

  const methods: OwnMethods = {
    async getCredential(tenantId, id) {
      return credentialById(tenantId, id);
    },
    async listCredentials(tenantId, visibility, filter, page) {
      // Ids from the query (or the cache's page of them), rows from the cache: building 25 rows of
      // 40 columns each was most of what a list cost. Reads cannot interleave with writes here
      // (all calls are synchronous).
      const q = credentialListSql(tenantId, visibility, filter, page, sqliteDialect.jsonArrayHasAny, 'id');
      const ids = c.credentialCache.page(JSON.stringify([q.rows.text, q.rows.params]), () => all(q.rows.text, ...q.rows.params).map((r) => r.id as string));
      const rows = ids.map((id) => credentialById(tenantId, id)).filter((x): x is CredentialRow => x !== null);
      const total = c.credentialCache.total(JSON.stringify([q.count.text, q.count.params]), () => Number(all(q.count.text, ...q.count.params)[0]?.n ?? 0));
      return { rows, total };
    },
    async getVersion(tenantId, credentialId, version) {
      return versionById(tenantId, credentialId, version);
    },
    async getCredentialWithVersion(tenantId, id) {
      const credential = credentialById(tenantId, id);
      return credential ? { credential, version: versionById(tenantId, id, credential.version) } : null;
    },
    async touchCredentials(touches) {
      db.transaction(() => touchCredentials(touches))();
      touchCache(touches);
    },
  };
  return { methods, deferTouches, flushTouches };
}
