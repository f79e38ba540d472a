import { INSERT_ACCESS_KEY_SQL } from '../access-keys-sql.js';
import { INSERT_TENANT_KEY_SQL } from '../key-management-sql.js';
import type { TeamStore, TenancyStore } from '../port.js';
import { UNSHARE_SQL, sharedWithSql, sharesWithout } from '../queries.js';
import { accessKeyToParams } from '../rows.js';
import { outcomeOnConflict } from '../store-errors.js';
import {
  DELETE_FOLDER_SQL, DELETE_TEAM_SQL, FOLDER_EXISTS_SQL, FOLDER_HAS_CREDENTIALS_SQL, INSERT_FOLDER_SQL, INSERT_TEAM_SQL, INSERT_TENANT_SQL,
  SET_ACCESS_KEY_TEAMS_SQL, TEAM_HAS_CREDENTIALS_SQL, TEAM_HAS_FOLDERS_SQL, TEAM_SLUG_SQL, UPDATE_TEAM_SQL, teamQueries, tenancyQueries,
} from '../tenancy-sql.js';
import { isUniqueViolation, sqliteDialect, type SqliteConnection } from './sqlite-connection.js';

/** Tenants, teams and folders on SQLite: each compound write is one immediate transaction. */
export function sqliteTenancy(c: SqliteConnection): TenancyStore & TeamStore {
  const { db, get, all, run } = c;
  /** See `sharedWithSql`: runs inside the caller's transaction. */
  const unshare = (tenantId: string, slug: string, at: string): void => {
    for (const s of all(sharedWithSql(sqliteDialect.jsonArrayHasAny), tenantId, slug)) run(UNSHARE_SQL, sharesWithout(s.shared_team_slugs, slug), at, tenantId, s.id);
  };
  const taken = <U>(answer: U) => (err: unknown): U | null => (isUniqueViolation(err) ? answer : null);
  return {
    ...tenancyQueries(c.runner, sqliteDialect),
    ...teamQueries(c.runner),

    async createTenant(tenant, key, ownerKey, audit) {
      db.transaction(() => {
        c.checkRootKeyFence(key);
        run(INSERT_TENANT_SQL, tenant.id, tenant.name, tenant.createdAt);
        run(INSERT_TENANT_KEY_SQL, key.tenantId, key.version, key.wrappedKey, key.rootKeyId, key.createdAt);
        if (ownerKey) {
          c.knownKeyHashes.add(ownerKey.keyHash);
          run(INSERT_ACCESS_KEY_SQL, ...accessKeyToParams(ownerKey));
        }
        c.insertAudit(audit);
      }).immediate();
    },

    async insertTeam(_tenantId, t, audit) {
      return outcomeOnConflict(() => {
        db.transaction(() => {
          run(INSERT_TEAM_SQL, t.tenantId, t.id, t.slug, t.name, t.createdAt, t.updatedAt, t.revision);
          unshare(t.tenantId, t.slug, t.createdAt);
          c.insertAudit(audit);
        }).immediate();
        return 'inserted' as const;
      }, taken('slug_taken' as const));
    },
    async updateTeam(tenantId, t, expectedRevision, audit) {
      return outcomeOnConflict(() => db.transaction(() => {
        if (run(UPDATE_TEAM_SQL, t.slug, t.name, t.updatedAt, t.revision, tenantId, t.id, expectedRevision).changes !== 1) return 'stale' as const;
        c.insertAudit(audit);
        return 'updated' as const;
      }).immediate(), taken('slug_taken' as const));
    },
    async deleteTeam(tenantId, id, at, audit) {
      return db.transaction(() => {
        const team = get(TEAM_SLUG_SQL, tenantId, id);
        if (!team) return 'missing' as const;
        if (get(TEAM_HAS_CREDENTIALS_SQL, tenantId, id) || get(TEAM_HAS_FOLDERS_SQL, tenantId, id)) return 'in_use' as const;
        run(DELETE_TEAM_SQL, tenantId, id);
        unshare(tenantId, team.slug as string, at);
        c.insertAudit(audit);
        return 'deleted' as const;
      }).immediate();
    },
    async setAccessKeyTeams(tenantId, keyId, teamIds, audit) {
      return db.transaction(() => {
        const changed = run(SET_ACCESS_KEY_TEAMS_SQL, JSON.stringify(teamIds), tenantId, keyId).changes === 1;
        if (changed) c.insertAudit(audit);
        return changed;
      }).immediate();
    },
    async insertFolder(_tenantId, f, audit) {
      return outcomeOnConflict(() => {
        db.transaction(() => {
          run(INSERT_FOLDER_SQL, f.tenantId, f.id, f.teamId, f.name, f.createdAt, f.updatedAt);
          c.insertAudit(audit);
        }).immediate();
        return 'inserted' as const;
      }, taken('name_taken' as const));
    },
    async deleteFolder(tenantId, id, audit) {
      return db.transaction(() => {
        if (!get(FOLDER_EXISTS_SQL, tenantId, id)) return 'missing' as const;
        if (get(FOLDER_HAS_CREDENTIALS_SQL, tenantId, id)) return 'in_use' as const;
        run(DELETE_FOLDER_SQL, tenantId, id);
        c.insertAudit(audit);
        return 'deleted' as const;
      }).immediate();
    },
  };
}
