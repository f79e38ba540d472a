import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { makeDatabaseFilesPrivate } from '../private-files.js';
import { MIGRATIONS } from '../migrations/migrations.js';
import type {
  AccessKeyRow, AppendSeal, AuditRow, CredentialRow, CredentialWrite, IdempotencyRow, SealDecision, SealRound, Store, TenantKeyRow,
  TenantRow, UsageTouch, VersionRow,
} from '../port.js';
import { ROOT_KEY_ID_META, RootKeyMoved } from '../port.js';
import {
  COUNT_TENANTS_TO_REWRAP_SQL, COUNT_VERSIONS_TO_RESEAL_SQL, INSERT_TENANT_KEY_SQL, REWRAP_TENANT_KEY_SQL, TENANTS_TO_REWRAP_SQL,
  VERSIONS_TO_RESEAL_SQL, keyVersionBytes, quoteIdent, resealSlotSql, sealedCountFromRecord, sealedCountSql, tenantKeyInfoFromRecord,
  versionsToResealParams,
} from '../key-management-sql.js';
import { AWS_KEY_PAIR_DELETE_SQL, AWS_KEY_PAIR_FIND_SQL, AWS_KEY_PAIR_INSERT_SQL, AWS_KEY_PAIR_KEY_EXISTS_SQL, awsKeyPairFromRecord, awsKeyPairParams } from '../aws-key-pairs-sql.js';
import { DELETED_BY_NAME_SQL } from '../deleted-names-sql.js';
import { CredentialCache, writesCachedRows } from './credential-cache.js';
import { KnownKeyHashes } from './known-key-hashes.js';
import { keepLatestTouches, touchKey } from '../usage-touches.js';
import { startBackgroundCheckpoints } from './background-checkpoints.js';
import { createWalSync, type WalSync } from './wal-sync.js';
import {
  ACCOUNT_CREDENTIAL_TYPES, OTHER_ACCOUNT_CREDENTIALS_SQL, UNSHARE_SQL, accessKeyListSql, auditListSql, credentialListSql, sharedWithSql, sharesWithout, sqliteJsonArrayHasAny, type Sql,
} from '../queries.js';
import {
  ACCESS_KEY_COLUMNS, AUDIT_COLUMNS, CREDENTIAL_COLUMNS, VERSION_COLUMNS, accessKeyFromRecord, accessKeyToParams,
  auditFromRecord, auditToParams, credentialFromRecord, credentialToParams, folderFromRecord, idPair, idempotencyFromRecord, placeholders, teamFromRecord,
  tenantFromRecord, tenantKeyFromRecord, versionFromRecord, versionToParams, type DbRecord,
} from '../rows.js';

/** How long a usage touch (`last_used_at`) may wait in memory before it is written. */
const TOUCH_FLUSH_MS = 1000;
/** How long a data_version check vouches for the access-key set's "no" (see findAccessKeyByHash). */
const KEY_SET_CHECK_VALID_MS = 1;

export interface SqliteOptions {
  file: string;
  /** FULL: a write (and a reveal's audit record) is acknowledged only once the WAL is on disk, so it survives power loss. */
  synchronous: 'FULL' | 'NORMAL';
}

function insertSql(table: string, columns: readonly string[]): string {
  return `INSERT INTO ${table} (${columns.join(', ')}) VALUES (${placeholders(columns.length)})`;
}

function isUniqueViolation(err: unknown, index?: string): boolean {
  const e = err as { code?: string; message?: string };
  if (e.code !== 'SQLITE_CONSTRAINT_UNIQUE' && e.code !== 'SQLITE_CONSTRAINT_PRIMARYKEY') return false;
  return index === undefined || (e.message ?? '').includes(index);
}

/**
 * The embedded default. better-sqlite3 is synchronous, so each compound write is one
 * `db.transaction` and cannot interleave with another request's statements.
 */
export function openSqliteStore(opts: SqliteOptions): Store {
  mkdirSync(dirname(opts.file), { recursive: true, mode: 0o700 });
  makeDatabaseFilesPrivate(opts.file);
  const db = new Database(opts.file);
  db.pragma('journal_mode = WAL');
  // Commits never fsync on the event loop; with FULL, writes wait for `walSync` instead (see durableWrites).
  db.pragma('synchronous = NORMAL');
  // The auto-checkpoint runs on the event loop, inside the commit that crosses the limit, and ends
  // with an fsync of the database file. The worker of startBackgroundCheckpoints copies most frames
  // before that, so this one is left the tail and the restart of the WAL. At SQLite's 1 000 pages
  // an audited reveal load checkpointed ~10 times a second (330-510 ms of fsync on the event loop
  // per 10 s run at 1 000 reveals/s); at 10 000 pages (a WAL of up to 40 MB) 33-51 ms, same throughput.
  db.pragma('wal_autocheckpoint = 10000');
  db.pragma('busy_timeout = 5000');
  db.pragma('foreign_keys = ON');

  const cache = new Map<string, Database.Statement>();
  const stmt = (sql: string): Database.Statement => {
    let s = cache.get(sql);
    if (!s) {
      s = db.prepare(sql);
      cache.set(sql, s);
      if (writesCachedRows(sql)) cachedRowWriters.add(sql);
    }
    return s;
  };
  const credentialCache = new CredentialCache();
  /** Statements that write a cached table: running one empties the credential cache. */
  const cachedRowWriters = new Set<string>();
  const stmtFor = (sql: string): Database.Statement => {
    const s = stmt(sql);
    if (cachedRowWriters.has(sql)) credentialCache.clear();
    return s;
  };
  /**
   * `data_version` changes when another connection commits to the file (never for this one's own
   * commits): the `keys` commands re-seal versions from their own process next to a live server,
   * and a reveal opens the ciphertext the file holds now, not one another process replaced.
   */
  const dataVersion = db.prepare('PRAGMA data_version').pluck();
  let seenDataVersion = dataVersion.get() as number;
  const dropCachesIfOthersWrote = (): void => {
    const now = dataVersion.get() as number;
    if (now !== seenDataVersion) {
      seenDataVersion = now;
      credentialCache.clear();
      knownKeyHashes.forget();
    }
  };
  let keySetCheckedAt = -Infinity;
  const knownKeyHashes = new KnownKeyHashes(() => (stmt('SELECT key_hash FROM access_keys').pluck().all() as Uint8Array[]));
  const insertAccessKey = (key: AccessKeyRow): void => {
    knownKeyHashes.add(key.keyHash);
    run(insertSql('access_keys', ACCESS_KEY_COLUMNS), ...accessKeyToParams(key));
  };
  const all = (q: Sql): DbRecord[] => stmtFor(q.text).all(...q.params) as DbRecord[];
  const get = (sql: string, ...params: unknown[]): DbRecord | undefined => stmtFor(sql).get(...params) as DbRecord | undefined;
  const run = (sql: string, ...params: unknown[]): Database.RunResult => stmtFor(sql).run(...params);

  const insertAuditSql = insertSql('audit_events', AUDIT_COLUMNS);
  const insertAudit = (events: readonly AuditRow[]): void => {
    if (events.length === 0) return;
    const insert = stmt(insertAuditSql);
    for (const e of events) insert.run(...auditToParams(e));
  };
  /** What a seal decision starts from: the events table's head and the stored checkpoint. */
  const chainRound = (tenantId: string, events: AuditRow[]): SealRound => {
    const headRow = get('SELECT seq, id, hash FROM audit_events WHERE tenant_id = ? AND seq IS NOT NULL ORDER BY seq DESC LIMIT 1', tenantId);
    const head = headRow ? { seq: Number(headRow.seq), id: headRow.id as string, hash: headRow.hash as string } : null;
    const stored = get('SELECT checkpoint FROM audit_chain_heads WHERE tenant_id = ?', tenantId);
    return { head, checkpoint: stored ? ((stored.checkpoint as string | null) ?? null) : null, events };
  };
  const writeChainHead = (tenantId: string, decision: SealDecision): void => {
    const last = decision.seals[decision.seals.length - 1];
    if (!last) return;
    run(
      `INSERT INTO audit_chain_heads (tenant_id, seq, event_id, hash, checkpoint, updated_at) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (tenant_id) DO UPDATE SET seq = excluded.seq, event_id = excluded.event_id, hash = excluded.hash, updated_at = excluded.updated_at`,
      tenantId, last.seq, last.id, last.hash, decision.checkpoint ?? null, new Date().toISOString(),
    );
    if (decision.checkpoint !== undefined) run('UPDATE audit_chain_heads SET checkpoint = ? WHERE tenant_id = ?', decision.checkpoint, tenantId);
  };
  /**
   * An event as it will read back: SQLite stores text as UTF-8, where a lone surrogate becomes
   * U+FFFD, and a hash made before storing must be of what verification will read.
   */
  const asStored = (e: AuditRow): AuditRow => ({
    ...e,
    actor: { ...e.actor, name: e.actor.name.toWellFormed(), email: e.actor.email?.toWellFormed() ?? null },
    targetId: e.targetId?.toWellFormed() ?? null, reason: e.reason?.toWellFormed() ?? null, userAgent: e.userAgent.toWellFormed(),
  });
  /**
   * Inserts events already sealed onto their chains: one write per event instead of an insert
   * now and an update by the sealer later. A tenant with older unsealed events (written by other
   * transactions) gets these unsealed too, so the sealer keeps its chain in the order it reads.
   */
  const insertSealedAudit = (events: readonly AuditRow[], seal: AppendSeal): void => {
    const byTenant = new Map<string, AuditRow[]>();
    for (const e of events) {
      const group = byTenant.get(e.tenantId);
      if (group) group.push(e);
      else byTenant.set(e.tenantId, [e]);
    }
    for (const [tenantId, group] of byTenant) {
      const decide = seal(tenantId);
      if (decide === null || get('SELECT 1 AS x FROM audit_events INDEXED BY audit_unsealed WHERE tenant_id = ? AND seq IS NULL LIMIT 1', tenantId)) {
        insertAudit(group);
        continue;
      }
      const stored = group.map(asStored);
      const decision = decide(chainRound(tenantId, stored));
      insertAudit(stored.map((e, i) => {
        const s = decision.seals[i];
        if (s?.id !== e.id) throw new Error('seal decision does not match the events');
        return { ...e, seq: s.seq, hash: s.hash, prevHash: s.prevHash };
      }));
      writeChainHead(tenantId, decision);
    }
  };
  const touchCredentialsSync = (touches: readonly UsageTouch[]): void => {
    for (const t of touches) {
      // Not through run(): once committed, a touch updates its cache entry (see touchCache)
      // instead of emptying the cache.
      stmt('UPDATE credentials SET last_used_at = ? WHERE tenant_id = ? AND id = ? AND (last_used_at IS NULL OR last_used_at < ?)').run(t.at, t.tenantId, t.id, t.at);
    }
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
      db.transaction(() => touchCredentialsSync(batch)).immediate();
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
    const cached = credentialCache.get(tenantId, id);
    if (cached) return cached;
    const r = get('SELECT * FROM credentials WHERE tenant_id = ? AND id = ?', tenantId, id);
    if (!r) return null;
    const row = credentialFromRecord(r);
    // A usage time not yet written (see deferTouches) is still this row's.
    const pending = pendingTouches.get(touchKey(tenantId, id));
    return credentialCache.set(pending !== undefined && (row.lastUsedAt === null || row.lastUsedAt < pending.at) ? { ...row, lastUsedAt: pending.at } : row);
  };
  const versionById = (tenantId: string, credentialId: string, version: number): VersionRow | null => {
    dropCachesIfOthersWrote();
    const cached = credentialCache.version(tenantId, credentialId, version);
    if (cached) return cached;
    const r = get('SELECT * FROM credential_versions WHERE tenant_id = ? AND credential_id = ? AND version = ?', tenantId, credentialId, version);
    return r ? credentialCache.setVersion(versionFromRecord(r)) : null;
  };
  const touchCache = (touches: readonly UsageTouch[]): void => {
    for (const t of touches) credentialCache.touched(t.tenantId, t.id, t.at);
  };
  const writeVersion = (w: CredentialWrite): void => {
    for (const r of w.restage ?? []) {
      run('UPDATE credential_versions SET stage = ?, expires_at = ? WHERE tenant_id = ? AND credential_id = ? AND version = ?', r.stage, r.expiresAt, w.credential.tenantId, w.credential.id, r.version);
    }
    if (w.version) run(insertSql('credential_versions', VERSION_COLUMNS), ...versionToParams(w.version));
  };

  /**
   * A new data key must be wrapped by the root key the store names now. Checked inside the
   * writing transaction, which SQLite runs one at a time, so a root-key rotation that moved the
   * store to a new key either committed first (and this write is refused) or sees this row.
   */
  const checkRootKeyFence = (key: TenantKeyRow): void => {
    const fence = get('SELECT value FROM meta WHERE key = ?', ROOT_KEY_ID_META);
    if (fence && fence.value !== key.rootKeyId) throw new RootKeyMoved();
  };
  /**
   * Runs a deletion that destroys key material with `secure_delete` on, so the freed bytes are
   * zeroed in the page rather than left for a file-level reader, then checkpoints so the old page
   * images leave the WAL too (best effort: a reader holding an old snapshot keeps them a while).
   */
  const shredding = <T>(fn: () => T): T => {
    const prior = Number(db.pragma('secure_delete', { simple: true }));
    db.pragma('secure_delete = ON');
    try {
      const result = fn();
      try {
        db.pragma('wal_checkpoint(TRUNCATE)');
      } catch {
        // busy: the frames are overwritten by later checkpoints
      }
      return result;
    } finally {
      db.pragma(`secure_delete = ${prior === 1 ? 1 : 0}`);
    }
  };
  const walSync = opts.synchronous === 'FULL' ? createWalSync(`${opts.file}-wal`) : null;
  const checkpoints = startBackgroundCheckpoints(opts.file);
  const inTenants = (ids: readonly string[] | 'all'): { where: string; params: string[] } =>
    ids === 'all' ? { where: '', params: [] } : { where: `WHERE tenant_id IN (${placeholders(ids.length)})`, params: [...ids] };

  const unshare = (tenantId: string, slug: string, at: string): void => {
    for (const c of all({ text: sharedWithSql(sqliteJsonArrayHasAny), params: [tenantId, slug] })) {
      run(UNSHARE_SQL, sharesWithout(c.shared_team_slugs, slug), at, tenantId, c.id);
    }
  };

  const updateColumns = CREDENTIAL_COLUMNS.filter((c) => c !== 'tenant_id' && c !== 'id');
  /** Inside a write transaction (serialized by SQLite): no other live account credential remains. */
  const lastOfAccount = (tenantId: string, id: string): boolean => Number((stmt(OTHER_ACCOUNT_CREDENTIALS_SQL).get(tenantId, id) as { n: number }).n) === 0;
  const updateCredentialSql = `UPDATE credentials SET ${updateColumns.map((c) => `${c} = ?`).join(', ')} WHERE tenant_id = ? AND id = ? AND revision = ?`;

  const store: Store = {
    kind: 'sqlite',
    capabilities: { multiProcess: false, sealsOnAppend: true },

    async migrate() {
      db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (id INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)');
      const applied = new Set((db.prepare('SELECT id FROM schema_migrations').all() as Array<{ id: number }>).map((r) => r.id));
      for (const m of MIGRATIONS) {
        if (applied.has(m.id)) continue;
        db.transaction(() => {
          for (const s of m.statements({ bytes: 'BLOB' })) db.exec(s);
          db.prepare('INSERT INTO schema_migrations (id, name, applied_at) VALUES (?, ?, ?)').run(m.id, m.name, new Date().toISOString());
        }).immediate();
      }
    },
    async ping() {
      db.prepare('SELECT 1').get();
    },
    async close() {
      flushTouches();
      await checkpoints.stop();
      await walSync?.close();
      db.close();
    },

    async getMeta(key) {
      const r = get('SELECT value FROM meta WHERE key = ?', key);
      return r ? (r.value as string) : null;
    },
    async initMeta(key, value) {
      run('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING', key, value);
      return get('SELECT value FROM meta WHERE key = ?', key)?.value as string;
    },

    async createTenant(tenant: TenantRow, key: TenantKeyRow, ownerKey: AccessKeyRow | null, audit: AuditRow[]) {
      db.transaction(() => {
        checkRootKeyFence(key);
        run('INSERT INTO tenants (id, name, created_at) VALUES (?, ?, ?)', tenant.id, tenant.name, tenant.createdAt);
        run('INSERT INTO tenant_keys (tenant_id, version, wrapped_key, root_key_id, created_at) VALUES (?, ?, ?, ?, ?)', key.tenantId, key.version, key.wrappedKey, key.rootKeyId, key.createdAt);
        if (ownerKey) insertAccessKey(ownerKey);
        insertAudit(audit);
      }).immediate();
    },
    async getTenant(tenantId) {
      const r = get('SELECT * FROM tenants WHERE id = ?', tenantId);
      return r ? tenantFromRecord(r) : null;
    },
    async listTenants(ids) {
      if (ids === 'all') return (stmt('SELECT * FROM tenants ORDER BY created_at, id').all() as DbRecord[]).map(tenantFromRecord);
      if (ids.length === 0) return [];
      return (db.prepare(`SELECT * FROM tenants WHERE id IN (${placeholders(ids.length)}) ORDER BY created_at, id`).all(...ids) as DbRecord[]).map(tenantFromRecord);
    },
    async countTenants() {
      return Number(get('SELECT COUNT(*) AS n FROM tenants')?.n ?? 0);
    },
    async listTenantKeys(tenantId) {
      return (stmt('SELECT * FROM tenant_keys WHERE tenant_id = ? ORDER BY version').all(tenantId) as DbRecord[]).map(tenantKeyFromRecord);
    },

    async findAccessKeyByHash(keyHash) {
      if (!knownKeyHashes.mayHold(keyHash)) {
        // A no must not rest on a set that missed another connection's insert, but reading
        // data_version takes the WAL-index locks and was a sixth of a 401's CPU: a check vouches
        // for every no in the next millisecond, so a key another process commits is accepted
        // from 1 ms after that commit, and a flood of unknown keys checks once a millisecond.
        const now = performance.now();
        if (now - keySetCheckedAt < KEY_SET_CHECK_VALID_MS) return null;
        keySetCheckedAt = now;
        dropCachesIfOthersWrote();
        if (!knownKeyHashes.mayHold(keyHash)) return null;
      }
      const r = get('SELECT * FROM access_keys WHERE key_hash = ?', keyHash);
      return r ? accessKeyFromRecord(r) : null;
    },
    async insertAccessKey(_tenantId, key, audit) {
      db.transaction(() => {
        insertAccessKey(key);
        insertAudit(audit);
      }).immediate();
    },
    async putAwsKeyPair(tenantId, row, audit) {
      return db.transaction(() => {
        if (!get(AWS_KEY_PAIR_KEY_EXISTS_SQL, tenantId, row.keyId)) return 'no_key' as const;
        run(AWS_KEY_PAIR_DELETE_SQL, tenantId, row.keyId);
        run(AWS_KEY_PAIR_INSERT_SQL, ...awsKeyPairParams(row));
        insertAudit(audit);
        return 'inserted' as const;
      }).immediate();
    },
    async listDeletedCredentialIds(tenantId, name) {
      return (stmtFor(DELETED_BY_NAME_SQL).all(tenantId, name) as DbRecord[]).map((r) => r.id as string);
    },
    async findAwsKeyPair(accessKeyId) {
      const r = get(AWS_KEY_PAIR_FIND_SQL, accessKeyId);
      return r ? awsKeyPairFromRecord(r) : null;
    },
    async getAccessKey(tenantId, id) {
      const r = get('SELECT * FROM access_keys WHERE tenant_id = ? AND id = ?', tenantId, id);
      return r ? accessKeyFromRecord(r) : null;
    },
    async listAccessKeys(tenantId, filter, page) {
      const q = accessKeyListSql(tenantId, filter, page);
      return { rows: all(q.rows).map(accessKeyFromRecord), total: Number(all(q.count)[0]?.n ?? 0) };
    },
    async updateAccessKey(tenantId, key, expectedRevision, audit) {
      return db.transaction(() => {
        const r = run('UPDATE access_keys SET name = ?, updated_at = ?, revision = ? WHERE tenant_id = ? AND id = ? AND revision = ?', key.name, key.updatedAt, key.revision, tenantId, key.id, expectedRevision);
        if (r.changes !== 1) return false;
        insertAudit(audit);
        return true;
      }).immediate();
    },
    async deleteAccessKey(tenantId, id, expectedRevision, guardRoles, activeAt, audit) {
      return db.transaction(() => {
        const row = get('SELECT role, revision FROM access_keys WHERE tenant_id = ? AND id = ?', tenantId, id);
        if (!row || (expectedRevision !== null && Number(row.revision) !== expectedRevision)) return 'stale' as const;
        if (guardRoles.includes(row.role as string)) {
          const others = db
            .prepare(`SELECT COUNT(*) AS n FROM access_keys WHERE tenant_id = ? AND id <> ? AND role IN (${placeholders(guardRoles.length)}) AND (expires_at IS NULL OR expires_at > ?)`)
            .get(tenantId, id, ...guardRoles, activeAt) as DbRecord;
          if (Number(others.n) === 0) return 'last_manager' as const;
        }
        run('DELETE FROM access_keys WHERE tenant_id = ? AND id = ?', tenantId, id);
        insertAudit(audit);
        return 'deleted' as const;
      }).immediate();
    },
    async touchAccessKeys(touches) {
      db.transaction(() => {
        for (const t of touches) run('UPDATE access_keys SET last_used_at = ? WHERE tenant_id = ? AND id = ?', t.at, t.tenantId, t.id);
      })();
    },

    async insertCredential(_tenantId, w) {
      try {
        db.transaction(() => {
          run(insertSql('credentials', CREDENTIAL_COLUMNS), ...credentialToParams(w.credential));
          writeVersion(w);
          insertAudit(w.audit);
        }).immediate();
        return 'inserted';
      } catch (err) {
        if (isUniqueViolation(err, 'slug')) return 'slug_taken';
        if (isUniqueViolation(err)) return 'id_taken';
        throw err;
      }
    },
    async getCredential(tenantId, id) {
      return credentialById(tenantId, id);
    },
    async listCredentials(tenantId, visibility, filter, page) {
      // Ids from the query, rows from the cache: building 25 rows of 40 columns each was most of
      // what a list cost. Reads cannot interleave with writes here (all calls are synchronous).
      const q = credentialListSql(tenantId, visibility, filter, page, sqliteJsonArrayHasAny, 'id');
      const rows = all(q.rows).map((r) => credentialById(tenantId, r.id as string)).filter((c): c is CredentialRow => c !== null);
      const total = credentialCache.total(JSON.stringify([q.count.text, q.count.params]), () => Number(all(q.count)[0]?.n ?? 0));
      return { rows, total };
    },
    async updateCredential(tenantId, expectedRevision, w) {
      const c = w.credential;
      const params = credentialToParams(c).slice(2);
      try {
        return db.transaction(() => {
          if (c.deletedAt !== null && ACCOUNT_CREDENTIAL_TYPES.includes(c.type) && lastOfAccount(tenantId, c.id)) return 'last_account_credential' as const;
          const r = run(updateCredentialSql, ...params, tenantId, c.id, expectedRevision);
          if (r.changes !== 1) return 'stale' as const;
          writeVersion(w);
          insertAudit(w.audit);
          return 'updated' as const;
        }).immediate();
      } catch (err) {
        if (isUniqueViolation(err, 'slug')) return 'slug_taken';
        throw err;
      }
    },
    async purgeCredential(tenantId, id, audit) {
      return db.transaction(() => {
        const live = stmt('SELECT type FROM credentials WHERE tenant_id = ? AND id = ? AND deleted_at IS NULL').get(tenantId, id) as { type: string } | undefined;
        if (live && ACCOUNT_CREDENTIAL_TYPES.includes(live.type) && lastOfAccount(tenantId, id)) return 'last_account_credential' as const;
        run('DELETE FROM credential_versions WHERE tenant_id = ? AND credential_id = ?', tenantId, id);
        const r = run('DELETE FROM credentials WHERE tenant_id = ? AND id = ?', tenantId, id);
        if (r.changes === 1) insertAudit(audit);
        return r.changes === 1;
      }).immediate();
    },
    async getVersion(tenantId, credentialId, version) {
      return versionById(tenantId, credentialId, version);
    },
    async getCredentialWithVersion(tenantId, id) {
      const credential = credentialById(tenantId, id);
      return credential ? { credential, version: versionById(tenantId, id, credential.version) } : null;
    },
    async listVersions(tenantId, credentialId) {
      return (stmt('SELECT * FROM credential_versions WHERE tenant_id = ? AND credential_id = ? ORDER BY version DESC').all(tenantId, credentialId) as DbRecord[]).map(versionFromRecord);
    },
    async touchCredentials(touches) {
      db.transaction(() => touchCredentialsSync(touches))();
      touchCache(touches);
    },

    async appendAudit(events, touches, seal) {
      // The hot write (every reveal): committed without blocking on the fsync, then made durable
      // off the event loop before the caller hears back (see wal-sync.ts).
      db.transaction(() => {
        if (seal) insertSealedAudit(events, seal);
        else insertAudit(events);
      }).immediate();
      deferTouches(touches);
      return { durable: walSync ? walSync.sync() : Promise.resolve() };
    },
    async listAudit(tenantId, query, page) {
      return all(auditListSql(tenantId, query, page)).map(auditFromRecord);
    },
    async tenantsWithUnsealedAudit() {
      // Without INDEXED BY, SQLite answers DISTINCT from audit_chain, scanning every event ever
      // sealed: 47 ms at a million events, on the event loop, every seal interval.
      return (stmt('SELECT DISTINCT tenant_id FROM audit_events INDEXED BY audit_unsealed WHERE seq IS NULL').all() as DbRecord[]).map((r) => r.tenant_id as string);
    },
    async countUnsealedAudit(tenantId) {
      return Number(get('SELECT COUNT(*) AS n FROM audit_events WHERE tenant_id = ? AND seq IS NULL', tenantId)?.n ?? 0);
    },

    async reserveIdempotencyKey(row: IdempotencyRow, staleBefore) {
      return db.transaction(() => {
        const existing = get('SELECT * FROM idempotency_keys WHERE tenant_id = ? AND key = ?', row.tenantId, row.key);
        if (existing) {
          const e = idempotencyFromRecord(existing);
          // A reservation left by a crashed request is taken over rather than blocking the key for a day.
          if (!(e.state === 'pending' && e.createdAt < staleBefore)) return { reserved: false as const, existing: e };
          run('DELETE FROM idempotency_keys WHERE tenant_id = ? AND key = ?', row.tenantId, row.key);
        }
        run(
          'INSERT INTO idempotency_keys (tenant_id, key, principal_id, fingerprint, state, status, response, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
          row.tenantId, row.key, row.principalId, row.fingerprint, 'pending', null, null, row.createdAt,
        );
        return { reserved: true as const };
      }).immediate();
    },
    async completeIdempotencyKey(tenantId, key, status, response) {
      run(`UPDATE idempotency_keys SET state = 'done', status = ?, response = ? WHERE tenant_id = ? AND key = ?`, status, response, tenantId, key);
    },
    async releaseIdempotencyKey(tenantId, key) {
      run(`DELETE FROM idempotency_keys WHERE tenant_id = ? AND key = ? AND state = 'pending'`, tenantId, key);
    },
    async purgeIdempotencyKeys(createdBefore) {
      return run('DELETE FROM idempotency_keys WHERE created_at < ?', createdBefore).changes;
    },

    async listDueDeactivations(now, limit) {
      return (stmt(`SELECT tenant_id, id FROM credentials WHERE deleted_at IS NULL AND status <> 'deactivated' AND deactivation_time <= ? ORDER BY deactivation_time LIMIT ?`).all(now, limit) as DbRecord[]).map(idPair);
    },
    async listDueRotations(now, limit) {
      return (stmt(`SELECT tenant_id, id FROM credentials WHERE deleted_at IS NULL AND rotation_due = 0 AND status = 'active' AND next_rotation_at <= ? ORDER BY next_rotation_at LIMIT ?`).all(now, limit) as DbRecord[]).map(idPair);
    },
    async listDeletedBefore(before, limit) {
      return (stmt('SELECT tenant_id, id FROM credentials WHERE deleted_at IS NOT NULL AND deleted_at < ? ORDER BY deleted_at LIMIT ?').all(before, limit) as DbRecord[]).map(idPair);
    },

    async insertTeam(_tenantId, t, audit) {
      try {
        db.transaction(() => {
          run('INSERT INTO teams (tenant_id, id, slug, name, created_at, updated_at, revision) VALUES (?, ?, ?, ?, ?, ?, ?)', t.tenantId, t.id, t.slug, t.name, t.createdAt, t.updatedAt, t.revision);
          unshare(t.tenantId, t.slug, t.createdAt);
          insertAudit(audit);
        }).immediate();
        return 'inserted';
      } catch (err) {
        if (isUniqueViolation(err)) return 'slug_taken';
        throw err;
      }
    },
    async getTeam(tenantId, id) {
      const r = get('SELECT * FROM teams WHERE tenant_id = ? AND id = ?', tenantId, id);
      return r ? teamFromRecord(r) : null;
    },
    async listTeams(tenantId) {
      return (stmt('SELECT * FROM teams WHERE tenant_id = ? ORDER BY slug').all(tenantId) as DbRecord[]).map(teamFromRecord);
    },
    async updateTeam(tenantId, t, expectedRevision, audit) {
      try {
        return db.transaction(() => {
          const r = run('UPDATE teams SET slug = ?, name = ?, updated_at = ?, revision = ? WHERE tenant_id = ? AND id = ? AND revision = ?', t.slug, t.name, t.updatedAt, t.revision, tenantId, t.id, expectedRevision);
          if (r.changes !== 1) return 'stale' as const;
          insertAudit(audit);
          return 'updated' as const;
        }).immediate();
      } catch (err) {
        if (isUniqueViolation(err)) return 'slug_taken';
        throw err;
      }
    },
    async deleteTeam(tenantId, id, at, audit) {
      return db.transaction(() => {
        const team = get('SELECT slug FROM teams WHERE tenant_id = ? AND id = ?', tenantId, id);
        if (!team) return 'missing' as const;
        if (get('SELECT 1 AS x FROM credentials WHERE tenant_id = ? AND team_id = ? LIMIT 1', tenantId, id)) return 'in_use' as const;
        if (get('SELECT 1 AS x FROM folders WHERE tenant_id = ? AND team_id = ? LIMIT 1', tenantId, id)) return 'in_use' as const;
        run('DELETE FROM teams WHERE tenant_id = ? AND id = ?', tenantId, id);
        unshare(tenantId, team.slug as string, at);
        insertAudit(audit);
        return 'deleted' as const;
      }).immediate();
    },
    async setAccessKeyTeams(tenantId, keyId, teamIds, audit) {
      return db.transaction(() => {
        const r = run('UPDATE access_keys SET team_ids = ?, revision = revision + 1 WHERE tenant_id = ? AND id = ?', JSON.stringify(teamIds), tenantId, keyId);
        if (r.changes === 1) insertAudit(audit);
        return r.changes === 1;
      }).immediate();
    },
    async insertFolder(_tenantId, f, audit) {
      try {
        db.transaction(() => {
          run('INSERT INTO folders (tenant_id, id, team_id, name, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)', f.tenantId, f.id, f.teamId, f.name, f.createdAt, f.updatedAt);
          insertAudit(audit);
        }).immediate();
        return 'inserted';
      } catch (err) {
        if (isUniqueViolation(err)) return 'name_taken';
        throw err;
      }
    },
    async getFolder(tenantId, id) {
      const r = get('SELECT * FROM folders WHERE tenant_id = ? AND id = ?', tenantId, id);
      return r ? folderFromRecord(r) : null;
    },
    async listFolders(tenantId) {
      return (stmt('SELECT * FROM folders WHERE tenant_id = ? ORDER BY name, id').all(tenantId) as DbRecord[]).map(folderFromRecord);
    },
    async deleteFolder(tenantId, id, audit) {
      return db.transaction(() => {
        if (!get('SELECT 1 AS x FROM folders WHERE tenant_id = ? AND id = ?', tenantId, id)) return 'missing' as const;
        if (get('SELECT 1 AS x FROM credentials WHERE tenant_id = ? AND folder_id = ? LIMIT 1', tenantId, id)) return 'in_use' as const;
        run('DELETE FROM folders WHERE tenant_id = ? AND id = ?', tenantId, id);
        insertAudit(audit);
        return 'deleted' as const;
      }).immediate();
    },

    // cross-process coordination: one process owns the file, so there is nobody else to tell.
    // The caller has already dropped its own caches, and the feed is always live.
    async publishInvalidation() {},
    async subscribeInvalidations(handler) {
      handler.feedState(true);
      return { close: async () => undefined };
    },

    // key management
    async compareAndSetMeta(expect, set, audit) {
      return db.transaction(() => {
        for (const [key, value] of Object.entries(expect)) {
          const r = get('SELECT value FROM meta WHERE key = ?', key);
          if ((r ? (r.value as string) : null) !== value) return false;
        }
        for (const [key, value] of Object.entries(set)) {
          if (value === null) run('DELETE FROM meta WHERE key = ?', key);
          else run('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value', key, value);
        }
        insertAudit(audit);
        return true;
      }).immediate();
    },
    async insertTenantKey(tenantId, key, audit) {
      try {
        return db.transaction(() => {
          if (!get('SELECT 1 AS x FROM tenants WHERE id = ?', tenantId)) return 'no_tenant' as const;
          checkRootKeyFence(key);
          run(INSERT_TENANT_KEY_SQL, tenantId, key.version, key.wrappedKey, key.rootKeyId, key.createdAt);
          insertAudit(audit);
          return 'inserted' as const;
        }).immediate();
      } catch (err) {
        if (isUniqueViolation(err)) return 'version_taken';
        throw err;
      }
    },
    async currentTenantKeyVersion(tenantId) {
      const v = get('SELECT MAX(version) AS v FROM tenant_keys WHERE tenant_id = ?', tenantId)?.v;
      return v === null || v === undefined ? null : Number(v);
    },
    async rewrapTenantKeys(tenantId, rows) {
      return db.transaction(() => {
        let changed = 0;
        for (const r of rows) changed += run(REWRAP_TENANT_KEY_SQL, r.wrappedKey, r.rootKeyId, tenantId, r.version, r.fromRootKeyId).changes;
        return changed;
      }).immediate();
    },
    async listTenantsToRewrap(rootKeyId, after, limit) {
      return (stmt(TENANTS_TO_REWRAP_SQL).all(rootKeyId, after ?? '', limit) as DbRecord[]).map((r) => r.tenant_id as string);
    },
    async countTenantsToRewrap(rootKeyId) {
      return Number(get(COUNT_TENANTS_TO_REWRAP_SQL, rootKeyId)?.n ?? 0);
    },
    async listTenantKeyInfo(ids) {
      if (ids !== 'all' && ids.length === 0) return [];
      const t = inTenants(ids);
      return (db.prepare(`SELECT tenant_id, version, root_key_id, created_at FROM tenant_keys ${t.where} ORDER BY tenant_id, version`).all(...t.params) as DbRecord[]).map(tenantKeyInfoFromRecord);
    },
    async listVersionsToReseal(tenantId, keyVersion, after, limit) {
      return (stmt(VERSIONS_TO_RESEAL_SQL).all(...versionsToResealParams(tenantId, keyVersion, after, limit)) as DbRecord[]).map(versionFromRecord);
    },
    async countVersionsToReseal(tenantId, keyVersion) {
      const kv = keyVersionBytes(keyVersion);
      return Number(get(COUNT_VERSIONS_TO_RESEAL_SQL, tenantId, kv, kv)?.n ?? 0);
    },
    async resealVersions(tenantId, rows) {
      return db.transaction(() => {
        let written = 0;
        for (const r of rows) written += run(resealSlotSql(r.slot), r.to, tenantId, r.credentialId, r.version, r.from).changes;
        return written;
      }).immediate();
    },
    async countSealedByKeyVersion(ids) {
      if (ids !== 'all' && ids.length === 0) return [];
      const t = inTenants(ids);
      return (['secret', 'test_secret'] as const).flatMap((slot) =>
        (db.prepare(sealedCountSql(slot, t.where)).all(...t.params) as DbRecord[]).map((r) => sealedCountFromRecord(slot, r)),
      );
    },
    async destroyTenantKeys(tenantId, audit) {
      return shredding(() =>
        db.transaction(() => {
          const n = run('DELETE FROM tenant_keys WHERE tenant_id = ?', tenantId).changes;
          insertAudit(audit);
          return n;
        }).immediate(),
      );
    },
    async purgeTenantRows(tenantId) {
      // Every table with a tenant_id column, read from the schema itself, so a table added later
      // cannot keep a purged tenant's rows.
      const tables = (db.prepare(`SELECT m.name AS name FROM sqlite_master m JOIN pragma_table_info(m.name) p WHERE m.type = 'table' AND p.name = 'tenant_id' ORDER BY m.name`).all() as DbRecord[]).map((r) => r.name as string);
      return shredding(() =>
        db.transaction(() => {
          const accessKeyHashes = (stmt('SELECT key_hash FROM access_keys WHERE tenant_id = ?').all(tenantId) as DbRecord[]).map((r) => Buffer.from(r.key_hash as Uint8Array));
          let deleted = 0;
          credentialCache.clear();
          for (const table of tables) deleted += db.prepare(`DELETE FROM ${quoteIdent(table)} WHERE tenant_id = ?`).run(tenantId).changes;
          deleted += run('DELETE FROM tenants WHERE id = ?', tenantId).changes;
          return { purged: deleted > 0, accessKeyHashes };
        }).immediate(),
      );
    },

    // audit sinks and retention
    async sealAuditChain(tenantId, limit, decide) {
      return db.transaction(() => {
        // The partial index holds the unsealed events in seal order (no sort of the backlog).
        const events = (stmt('SELECT * FROM audit_events INDEXED BY audit_unsealed WHERE tenant_id = ? AND seq IS NULL ORDER BY at, id LIMIT ?').all(tenantId, limit) as DbRecord[]).map(auditFromRecord);
        if (events.length === 0) return 0;
        const decision = decide(chainRound(tenantId, events));
        for (const s of decision.seals) {
          run('UPDATE audit_events SET seq = ?, hash = ?, prev_hash = ? WHERE id = ? AND seq IS NULL', s.seq, s.hash, s.prevHash, s.id);
        }
        writeChainHead(tenantId, decision);
        return decision.seals.length;
      }).immediate();
    },
    async getAuditChainState(tenantId) {
      const r = get('SELECT seq, event_id, hash, checkpoint FROM audit_chain_heads WHERE tenant_id = ?', tenantId);
      if (!r) return { head: null, checkpoint: null };
      return { head: { seq: Number(r.seq), id: r.event_id as string, hash: r.hash as string }, checkpoint: (r.checkpoint as string | null) ?? null };
    },
    async readSealedAudit(tenantId, afterSeq, limit) {
      return (stmt('SELECT * FROM audit_events WHERE tenant_id = ? AND seq > ? ORDER BY seq LIMIT ?').all(tenantId, afterSeq, limit) as DbRecord[]).map((r) => {
        return { ...auditFromRecord(r), actorIdColumn: String(r.actor_id) };
      });
    },
    async latestSealedAudit(tenantId, action) {
      const r = get('SELECT * FROM audit_events WHERE tenant_id = ? AND action = ? AND seq IS NOT NULL ORDER BY seq DESC LIMIT 1', tenantId, action);
      return r ? auditFromRecord(r) : null;
    },
    async initAuditChainKey(tenantId, sealedKey, createdAt) {
      const created = run('INSERT INTO audit_chain_keys (tenant_id, sealed_key, created_at) VALUES (?, ?, ?) ON CONFLICT (tenant_id) DO NOTHING', tenantId, sealedKey, createdAt).changes === 1;
      const r = get('SELECT sealed_key FROM audit_chain_keys WHERE tenant_id = ?', tenantId);
      return { sealedKey: Buffer.from(r?.sealed_key as Uint8Array), created };
    },
    async listAuditChains() {
      return (stmt('SELECT tenant_id FROM audit_chain_heads ORDER BY tenant_id').all() as DbRecord[]).map((r) => r.tenant_id as string);
    },
    async auditRetentionBoundary(tenantId, before, maxEvents) {
      const first = get('SELECT seq, at FROM audit_events WHERE tenant_id = ? AND seq IS NOT NULL ORDER BY seq LIMIT 1', tenantId);
      const head = get('SELECT seq FROM audit_events WHERE tenant_id = ? AND seq IS NOT NULL ORDER BY seq DESC LIMIT 1', tenantId);
      // Purges take a prefix of the chain: if its first event is young enough, nothing is due, and
      // the walk below (up to maxEvents rows per tenant, every run) is skipped.
      if (!first || !head || (first.at as string) >= before) return null;
      const firstSeq = Number(first.seq);
      // Walks the seq index from the start, at most maxEvents rows; the newest event always stays.
      const last = get(
        'SELECT seq, hash FROM audit_events WHERE tenant_id = ? AND seq IS NOT NULL AND seq <= ? AND seq < ? AND at < ? ORDER BY seq DESC LIMIT 1',
        tenantId, firstSeq + maxEvents - 1, Number(head.seq), before,
      );
      if (!last) return null;
      return { firstSeq, throughSeq: Number(last.seq), throughHash: last.hash as string };
    },
    async purgeAuditThrough(tenantId, throughSeq, throughHash, anchor) {
      return db.transaction(() => {
        const at = get('SELECT hash FROM audit_events WHERE tenant_id = ? AND seq = ?', tenantId, throughSeq);
        const head = get('SELECT seq FROM audit_events WHERE tenant_id = ? AND seq IS NOT NULL ORDER BY seq DESC LIMIT 1', tenantId);
        if (!at || at.hash !== throughHash || !head || Number(head.seq) <= throughSeq) return 0;
        const n = run('DELETE FROM audit_events WHERE tenant_id = ? AND seq IS NOT NULL AND seq <= ?', tenantId, throughSeq).changes;
        insertAudit([anchor]);
        return n;
      }).immediate();
    },
    async listAuditSinkWork(sink) {
      return (stmt(
        `SELECT h.tenant_id, h.seq AS head, COALESCE(c.seq, 0) AS delivered FROM audit_chain_heads h
           LEFT JOIN audit_sink_cursors c ON c.sink = ? AND c.tenant_id = h.tenant_id
          WHERE h.seq > COALESCE(c.seq, 0) ORDER BY h.tenant_id`,
      ).all(sink) as DbRecord[]).map((r) => ({ tenantId: r.tenant_id as string, head: Number(r.head), delivered: Number(r.delivered) }));
    },
    async getAuditSinkCursor(sink, tenantId) {
      return Number(get('SELECT seq FROM audit_sink_cursors WHERE sink = ? AND tenant_id = ?', sink, tenantId)?.seq ?? 0);
    },
    async advanceAuditSinkCursor(sink, tenantId, seq) {
      run(
        `INSERT INTO audit_sink_cursors (sink, tenant_id, seq, updated_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (sink, tenant_id) DO UPDATE SET seq = excluded.seq, updated_at = excluded.updated_at WHERE audit_sink_cursors.seq < excluded.seq`,
        sink, tenantId, seq, new Date().toISOString(),
      );
    },
    async claimAuditSinkLease(sink, owner, now, until) {
      return run(
        `INSERT INTO audit_sink_leases (sink, owner, expires_at) VALUES (?, ?, ?)
         ON CONFLICT (sink) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
          WHERE audit_sink_leases.owner = excluded.owner OR audit_sink_leases.expires_at < ?`,
        sink, owner, until, now,
      ).changes === 1;
    },
    async releaseAuditSinkLease(sink, owner) {
      run('DELETE FROM audit_sink_leases WHERE sink = ? AND owner = ?', sink, owner);
    },

    // oauth. One process owns the file and each statement or transaction here runs alone, so a
    // claim is a plain conditional UPDATE of the claim columns.
    async insertOAuthState(r) {
      run(
        `INSERT INTO oauth_states (state_hash, tenant_id, credential_id, principal, code_verifier, nonce, redirect_uri, return_to, created_at, expires_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        r.stateHash, r.tenantId, r.credentialId, JSON.stringify(r.principal), r.codeVerifier, r.nonce, r.redirectUri, r.returnTo, r.createdAt, r.expiresAt,
      );
    },
    async takeOAuthState(stateHash) {
      const r = get('DELETE FROM oauth_states WHERE state_hash = ? RETURNING *', stateHash);
      if (!r) return null;
      return {
        stateHash: r.state_hash as string, tenantId: r.tenant_id as string, credentialId: r.credential_id as string,
        principal: JSON.parse(r.principal as string), codeVerifier: r.code_verifier === null ? null : Buffer.from(r.code_verifier as Uint8Array),
        nonce: (r.nonce as string | null) ?? null, redirectUri: r.redirect_uri as string, returnTo: (r.return_to as string | null) ?? null,
        createdAt: r.created_at as string, expiresAt: r.expires_at as string,
      };
    },
    async purgeOAuthStates(before) {
      return run('DELETE FROM oauth_states WHERE expires_at < ?', before).changes;
    },
    async getRefreshState(tenantId, id) {
      const r = get(
        'SELECT refresh_claimed_by, refresh_claim_expires_at, refresh_fence, refresh_revision, refresh_next_at, refresh_failures, refresh_blocked FROM credentials WHERE tenant_id = ? AND id = ?',
        tenantId, id,
      );
      if (!r) return null;
      return {
        claimedBy: (r.refresh_claimed_by as string | null) ?? null, claimExpiresAt: (r.refresh_claim_expires_at as string | null) ?? null,
        fence: Number(r.refresh_fence), revision: r.refresh_revision === null ? null : Number(r.refresh_revision),
        nextAt: (r.refresh_next_at as string | null) ?? null, failures: Number(r.refresh_failures), blocked: Number(r.refresh_blocked) === 1,
      };
    },
    async claimRefresh(tenantId, id, owner, now, leaseUntil) {
      const r = get(
        `UPDATE credentials SET refresh_claimed_by = ?, refresh_claim_expires_at = ?, refresh_fence = refresh_fence + 1
          WHERE tenant_id = ? AND id = ? AND (refresh_claimed_by IS NULL OR refresh_claim_expires_at < ?) RETURNING refresh_fence`,
        owner, leaseUntil, tenantId, id, now,
      );
      return r ? Number(r.refresh_fence) : null;
    },
    async claimDueRefreshes(q) {
      return db.transaction(() => {
        const free = `deleted_at IS NULL AND status = 'active' AND type = ? AND (refresh_claimed_by IS NULL OR refresh_claim_expires_at < ?)`;
        // Two index-friendly halves: a schedule written for this revision, or none and an expiry soon.
        const scheduled = stmt(`SELECT tenant_id, id FROM credentials WHERE ${free} AND refresh_next_at <= ? AND refresh_revision = revision AND refresh_blocked = 0 ORDER BY refresh_next_at LIMIT ?`)
          .all(q.type, q.now, q.now, q.limit) as DbRecord[];
        const expiring = stmt(`SELECT tenant_id, id FROM credentials WHERE ${free} AND expires_at <= ? AND (refresh_revision IS NULL OR refresh_revision <> revision) ORDER BY expires_at LIMIT ?`)
          .all(q.type, q.now, q.horizon, Math.max(0, q.limit - scheduled.length)) as DbRecord[];
        return [...scheduled, ...expiring].map((d) => {
          const r = get(
            'UPDATE credentials SET refresh_claimed_by = ?, refresh_claim_expires_at = ?, refresh_fence = refresh_fence + 1 WHERE tenant_id = ? AND id = ? RETURNING refresh_fence',
            q.owner, q.leaseUntil, d.tenant_id, d.id,
          );
          return { tenantId: d.tenant_id as string, id: d.id as string, fence: Number(r?.refresh_fence) };
        });
      }).immediate();
    },
    async completeRefresh(tenantId, owner, fence, expectedRevision, w, schedule) {
      const c = w.credential;
      return db.transaction(() => {
        const r = run(
          `UPDATE credentials SET ${updateColumns.map((col) => `${col} = ?`).join(', ')}, refresh_claimed_by = NULL, refresh_claim_expires_at = NULL,
                  refresh_revision = ?, refresh_next_at = ?, refresh_failures = ?, refresh_blocked = ?
            WHERE tenant_id = ? AND id = ? AND revision = ? AND refresh_fence = ? AND refresh_claimed_by = ?`,
          ...credentialToParams(c).slice(2), schedule.revision, schedule.nextAt, schedule.failures, schedule.blocked ? 1 : 0,
          tenantId, c.id, expectedRevision, fence, owner,
        );
        if (r.changes !== 1) {
          const held = get('SELECT 1 AS x FROM credentials WHERE tenant_id = ? AND id = ? AND refresh_fence = ? AND refresh_claimed_by = ?', tenantId, c.id, fence, owner);
          return held ? ('stale' as const) : ('fenced' as const);
        }
        writeVersion(w);
        insertAudit(w.audit);
        return 'updated' as const;
      }).immediate();
    },
    async releaseRefresh(tenantId, id, owner, fence, failure) {
      return db.transaction(() => {
        const r = failure === null
          ? run('UPDATE credentials SET refresh_claimed_by = NULL, refresh_claim_expires_at = NULL WHERE tenant_id = ? AND id = ? AND refresh_fence = ? AND refresh_claimed_by = ?', tenantId, id, fence, owner)
          : run(
            `UPDATE credentials SET refresh_claimed_by = NULL, refresh_claim_expires_at = NULL, last_error = ?, revision = revision + 1,
                    refresh_revision = revision + 1, refresh_next_at = ?, refresh_failures = ?, refresh_blocked = ?
              WHERE tenant_id = ? AND id = ? AND refresh_fence = ? AND refresh_claimed_by = ?`,
            failure.lastError, failure.schedule.nextAt, failure.schedule.failures, failure.schedule.blocked ? 1 : 0, tenantId, id, fence, owner,
          );
        // The provider was called either way: its answer is recorded even when the claim was lost.
        if (failure) insertAudit(failure.audit);
        return r.changes === 1;
      }).immediate();
    },
  };
  return walSync ? durableWrites(store, walSync) : store;
}

/** Store methods that only read: they answer at once. Every other method writes. */
const READS = /^(ping|get|list|count|find|read|latest|current|tenantsWith|auditRetentionBoundary|publish|subscribe)/;

/**
 * With `synchronous = FULL` configured, the connection still commits with NORMAL, which leaves
 * the fsync out of the commit call: on the event loop it stalled every request behind each
 * write. A write method resolves instead once `walSync` has flushed the WAL (libuv's thread
 * pool), so an acknowledged write survives power loss as it would with FULL, and writes that
 * commit meanwhile share one flush. Reads are not wrapped. `appendAudit` hands its flush to the
 * caller (the audit service answers reveals on it while the next batch commits); `close` needs
 * none, since closing the last connection checkpoints the WAL, which syncs it.
 */
function durableWrites(store: Store, walSync: WalSync): Store {
  const wrapped: Record<string, unknown> = { ...store };
  for (const [name, method] of Object.entries(store)) {
    if (typeof method !== 'function' || READS.test(name) || name === 'appendAudit' || name === 'close') continue;
    const write = method as (...args: unknown[]) => Promise<unknown>;
    wrapped[name] = async (...args: unknown[]) => {
      const result = await write(...args);
      await walSync.sync();
      return result;
    };
  }
  return wrapped as unknown as Store;
}
