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
import { isUniqueViolation, postgresDialect, type PgConnection, type PgTransaction } from './postgres-connection.js';

/**
 * Tenants, teams and folders on PostgreSQL. A team or folder being deleted is locked (FOR UPDATE)
 * first, so a concurrent delete waits and then finds it gone.
 */
export function postgresTenancy(c: PgConnection): TenancyStore & TeamStore {
  const { transaction } = c;
  /** See `sharedWithSql`: runs inside the caller's transaction. */
  async function unshare(tx: PgTransaction, tenantId: string, slug: string, at: string): Promise<void> {
    for (const s of await tx.all(sharedWithSql(postgresDialect.jsonArrayHasAny), [tenantId, slug])) {
      await tx.run(UNSHARE_SQL, [sharesWithout(s.shared_team_slugs, slug), at, tenantId, s.id]);
    }
  }
  const taken = <U>(answer: U) => (err: unknown): U | null => (isUniqueViolation(err) ? answer : null);
  return {
    ...tenancyQueries(c.runner, postgresDialect),
    ...teamQueries(c.runner),

    async createTenant(tenant, key, ownerKey, audit) {
      await transaction(async (tx) => {
        await c.checkRootKeyFence(tx, key);
        await tx.run(INSERT_TENANT_SQL, [tenant.id, tenant.name, tenant.createdAt]);
        await tx.run(INSERT_TENANT_KEY_SQL, [key.tenantId, key.version, key.wrappedKey, key.rootKeyId, key.createdAt]);
        if (ownerKey) await tx.run(INSERT_ACCESS_KEY_SQL, accessKeyToParams(ownerKey));
        await c.insertAudit(tx, audit);
      });
    },

    async insertTeam(_tenantId, t, audit) {
      return outcomeOnConflict(() => transaction(async (tx) => {
        await tx.run(INSERT_TEAM_SQL, [t.tenantId, t.id, t.slug, t.name, t.createdAt, t.updatedAt, t.revision]);
        await unshare(tx, t.tenantId, t.slug, t.createdAt);
        await c.insertAudit(tx, audit);
        return 'inserted' as const;
      }), taken('slug_taken' as const));
    },
    async updateTeam(tenantId, t, expectedRevision, audit) {
      return outcomeOnConflict(() => transaction(async (tx) => {
        if ((await tx.run(UPDATE_TEAM_SQL, [t.slug, t.name, t.updatedAt, t.revision, tenantId, t.id, expectedRevision])) !== 1) return 'stale' as const;
        await c.insertAudit(tx, audit);
        return 'updated' as const;
      }), taken('slug_taken' as const));
    },
    async deleteTeam(tenantId, id, at, audit) {
      return transaction(async (tx) => {
        const team = await tx.one(`${TEAM_SLUG_SQL} FOR UPDATE`, [tenantId, id]);
        if (!team) return 'missing' as const;
        if ((await tx.one(TEAM_HAS_CREDENTIALS_SQL, [tenantId, id])) || (await tx.one(TEAM_HAS_FOLDERS_SQL, [tenantId, id]))) return 'in_use' as const;
        await tx.run(DELETE_TEAM_SQL, [tenantId, id]);
        await unshare(tx, tenantId, team.slug as string, at);
        await c.insertAudit(tx, audit);
        return 'deleted' as const;
      });
    },
    async setAccessKeyTeams(tenantId, keyId, teamIds, audit) {
      return transaction(async (tx) => {
        const changed = (await tx.run(SET_ACCESS_KEY_TEAMS_SQL, [JSON.stringify(teamIds), tenantId, keyId])) === 1;
        if (changed) await c.insertAudit(tx, audit);
        return changed;
      });
    },
    async insertFolder(_tenantId, f, audit) {
      return outcomeOnConflict(() => transaction(async (tx) => {
        await tx.run(INSERT_FOLDER_SQL, [f.tenantId, f.id, f.teamId, f.name, f.createdAt, f.updatedAt]);
        await c.insertAudit(tx, audit);
        return 'inserted' as const;
      }), taken('name_taken' as const));
    },
    async deleteFolder(tenantId, id, audit) {
      return transaction(async (tx) => {
        if (!(await tx.one(`${FOLDER_EXISTS_SQL} FOR UPDATE`, [tenantId, id]))) return 'missing' as const;
        if (await tx.one(FOLDER_HAS_CREDENTIALS_SQL, [tenantId, id])) return 'in_use' as const;
        await tx.run(DELETE_FOLDER_SQL, [tenantId, id]);
        await c.insertAudit(tx, audit);
        return 'deleted' as const;
      });
    },
  };
}
