import { INSERT_ACCESS_KEY_SQL } from './access-keys-sql.js';
import { INSERT_TENANT_KEY_SQL, rootKeyFence } from './key-management-sql.js';
import type { TeamStore, TenancyStore } from './port.js';
import { UNSHARE_SQL, sharedWithSql, sharesWithout } from './queries.js';
import { accessKeyToParams, folderFromRecord, teamFromRecord, tenantFromRecord } from './rows.js';
import type { QueryDialect, SqlRunner } from './sql-runner.js';
import { outcomeOnConflict } from './store-errors.js';
import { all, one, run, writeAudit, type Script, type WriteRunner } from './transaction-script.js';

/**
 * Tenants, teams and folders, written once for both stores: reads through `SqlRunner`, compound
 * writes as transaction scripts each adapter runs in its own kind of transaction.
 */

const INSERT_TENANT_SQL = 'INSERT INTO tenants (id, name, created_at) VALUES (?, ?, ?)';
export const TENANT_EXISTS_SQL = 'SELECT 1 AS x FROM tenants WHERE id = ?';

/** See `sharedWithSql`: inside the caller's transaction. */
function* unshare(d: QueryDialect, tenantId: string, slug: string, at: string): Script<void> {
  for (const s of yield* all(sharedWithSql(d.jsonArrayHasAny), [tenantId, slug])) {
    yield* run(UNSHARE_SQL, [sharesWithout(s.shared_team_slugs, slug), at, tenantId, s.id]);
  }
}

export function tenancyStore(db: SqlRunner, w: WriteRunner, d: QueryDialect): TenancyStore & TeamStore {
  const taken =
    <U>(answer: U) =>
    (err: unknown): U | null =>
      w.isUniqueViolation(err) ? answer : null;
  return {
    async createTenant(tenant, key, ownerKey, audit) {
      await w.write(function* () {
        yield* rootKeyFence(d, key);
        yield* run(INSERT_TENANT_SQL, [tenant.id, tenant.name, tenant.createdAt]);
        yield* run(INSERT_TENANT_KEY_SQL, [key.tenantId, key.version, key.wrappedKey, key.rootKeyId, key.createdAt]);
        if (ownerKey) yield* run(INSERT_ACCESS_KEY_SQL, accessKeyToParams(ownerKey));
        yield* writeAudit(audit);
      });
    },
    async getTenant(tenantId) {
      const r = await db.one('SELECT * FROM tenants WHERE id = ?', [tenantId]);
      return r ? tenantFromRecord(r) : null;
    },
    async listTenants(ids) {
      if (ids === 'all') return (await db.all('SELECT * FROM tenants ORDER BY created_at, id')).map(tenantFromRecord);
      if (ids.length === 0) return [];
      const { sql, param } = d.inList('id', ids);
      return (await db.all(`SELECT * FROM tenants WHERE ${sql} ORDER BY created_at, id`, [param])).map(tenantFromRecord);
    },
    async countTenants() {
      return Number((await db.one('SELECT COUNT(*) AS n FROM tenants'))?.n ?? 0);
    },

    async insertTeam(_tenantId, t, audit) {
      return outcomeOnConflict(
        () =>
          w.write(function* () {
            yield* run('INSERT INTO teams (tenant_id, id, slug, name, created_at, updated_at, revision) VALUES (?, ?, ?, ?, ?, ?, ?)', [
              t.tenantId,
              t.id,
              t.slug,
              t.name,
              t.createdAt,
              t.updatedAt,
              t.revision,
            ]);
            yield* unshare(d, t.tenantId, t.slug, t.createdAt);
            yield* writeAudit(audit);
            return 'inserted' as const;
          }),
        taken('slug_taken' as const),
      );
    },
    async getTeam(tenantId, id) {
      const r = await db.one('SELECT * FROM teams WHERE tenant_id = ? AND id = ?', [tenantId, id]);
      return r ? teamFromRecord(r) : null;
    },
    async listTeams(tenantId) {
      return (await db.all('SELECT * FROM teams WHERE tenant_id = ? ORDER BY slug', [tenantId])).map(teamFromRecord);
    },
    async updateTeam(tenantId, t, expectedRevision, audit) {
      return outcomeOnConflict(
        () =>
          w.write(function* () {
            const changed = yield* run('UPDATE teams SET slug = ?, name = ?, updated_at = ?, revision = ? WHERE tenant_id = ? AND id = ? AND revision = ?', [
              t.slug,
              t.name,
              t.updatedAt,
              t.revision,
              tenantId,
              t.id,
              expectedRevision,
            ]);
            if (changed !== 1) return 'stale' as const;
            yield* writeAudit(audit);
            return 'updated' as const;
          }),
        taken('slug_taken' as const),
      );
    },
    async deleteTeam(tenantId, id, at, audit) {
      return w.write(function* () {
        const team = yield* one(`SELECT slug FROM teams WHERE tenant_id = ? AND id = ?${d.forUpdate}`, [tenantId, id]);
        if (!team) return 'missing' as const;
        if (yield* one('SELECT 1 AS x FROM credentials WHERE tenant_id = ? AND team_id = ? LIMIT 1', [tenantId, id])) return 'in_use' as const;
        if (yield* one('SELECT 1 AS x FROM folders WHERE tenant_id = ? AND team_id = ? LIMIT 1', [tenantId, id])) return 'in_use' as const;
        yield* run('DELETE FROM teams WHERE tenant_id = ? AND id = ?', [tenantId, id]);
        yield* unshare(d, tenantId, team.slug as string, at);
        yield* writeAudit(audit);
        return 'deleted' as const;
      });
    },
    async setAccessKeyTeams(tenantId, keyId, teamIds, audit) {
      return w.write(function* () {
        const changed =
          (yield* run('UPDATE access_keys SET team_ids = ?, revision = revision + 1 WHERE tenant_id = ? AND id = ?', [
            JSON.stringify(teamIds),
            tenantId,
            keyId,
          ])) === 1;
        if (changed) yield* writeAudit(audit);
        return changed;
      });
    },
    async insertFolder(_tenantId, f, audit) {
      return outcomeOnConflict(
        () =>
          w.write(function* () {
            yield* run('INSERT INTO folders (tenant_id, id, team_id, name, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)', [
              f.tenantId,
              f.id,
              f.teamId,
              f.name,
              f.createdAt,
              f.updatedAt,
            ]);
            yield* writeAudit(audit);
            return 'inserted' as const;
          }),
        taken('name_taken' as const),
      );
    },
    async getFolder(tenantId, id) {
      const r = await db.one('SELECT * FROM folders WHERE tenant_id = ? AND id = ?', [tenantId, id]);
      return r ? folderFromRecord(r) : null;
    },
    async listFolders(tenantId) {
      return (await db.all('SELECT * FROM folders WHERE tenant_id = ? ORDER BY name, id', [tenantId])).map(folderFromRecord);
    },
    async deleteFolder(tenantId, id, audit) {
      return w.write(function* () {
        if (!(yield* one(`SELECT 1 AS x FROM folders WHERE tenant_id = ? AND id = ?${d.forUpdate}`, [tenantId, id]))) return 'missing' as const;
        if (yield* one('SELECT 1 AS x FROM credentials WHERE tenant_id = ? AND folder_id = ? LIMIT 1', [tenantId, id])) return 'in_use' as const;
        yield* run('DELETE FROM folders WHERE tenant_id = ? AND id = ?', [tenantId, id]);
        yield* writeAudit(audit);
        return 'deleted' as const;
      });
    },
  };
}
