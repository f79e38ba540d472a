import type { TeamStore, TenancyStore } from './port.js';
import { folderFromRecord, teamFromRecord, tenantFromRecord } from './rows.js';
import type { QueryDialect, SqlRunner } from './sql-runner.js';

/**
 * SQL of tenants, teams and folders, written once with `?` placeholders, and the methods that
 * are the same on both stores. The compound writes (a row and its audit in one transaction) stay
 * in each adapter, which runs these statements in its own kind of transaction.
 */

export const INSERT_TENANT_SQL = 'INSERT INTO tenants (id, name, created_at) VALUES (?, ?, ?)';
export const TENANT_EXISTS_SQL = 'SELECT 1 AS x FROM tenants WHERE id = ?';

export const INSERT_TEAM_SQL = 'INSERT INTO teams (tenant_id, id, slug, name, created_at, updated_at, revision) VALUES (?, ?, ?, ?, ?, ?, ?)';
export const UPDATE_TEAM_SQL = 'UPDATE teams SET slug = ?, name = ?, updated_at = ?, revision = ? WHERE tenant_id = ? AND id = ? AND revision = ?';
export const TEAM_SLUG_SQL = 'SELECT slug FROM teams WHERE tenant_id = ? AND id = ?';
export const TEAM_HAS_CREDENTIALS_SQL = 'SELECT 1 AS x FROM credentials WHERE tenant_id = ? AND team_id = ? LIMIT 1';
export const TEAM_HAS_FOLDERS_SQL = 'SELECT 1 AS x FROM folders WHERE tenant_id = ? AND team_id = ? LIMIT 1';
export const DELETE_TEAM_SQL = 'DELETE FROM teams WHERE tenant_id = ? AND id = ?';
export const SET_ACCESS_KEY_TEAMS_SQL = 'UPDATE access_keys SET team_ids = ?, revision = revision + 1 WHERE tenant_id = ? AND id = ?';

export const INSERT_FOLDER_SQL = 'INSERT INTO folders (tenant_id, id, team_id, name, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)';
export const FOLDER_EXISTS_SQL = 'SELECT 1 AS x FROM folders WHERE tenant_id = ? AND id = ?';
export const FOLDER_HAS_CREDENTIALS_SQL = 'SELECT 1 AS x FROM credentials WHERE tenant_id = ? AND folder_id = ? LIMIT 1';
export const DELETE_FOLDER_SQL = 'DELETE FROM folders WHERE tenant_id = ? AND id = ?';

export function tenancyQueries(db: SqlRunner, d: QueryDialect): Pick<TenancyStore, 'getTenant' | 'listTenants' | 'countTenants'> {
  return {
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
  };
}

export function teamQueries(db: SqlRunner): Pick<TeamStore, 'getTeam' | 'listTeams' | 'getFolder' | 'listFolders'> {
  return {
    async getTeam(tenantId, id) {
      const r = await db.one('SELECT * FROM teams WHERE tenant_id = ? AND id = ?', [tenantId, id]);
      return r ? teamFromRecord(r) : null;
    },
    async listTeams(tenantId) {
      return (await db.all('SELECT * FROM teams WHERE tenant_id = ? ORDER BY slug', [tenantId])).map(teamFromRecord);
    },
    async getFolder(tenantId, id) {
      const r = await db.one('SELECT * FROM folders WHERE tenant_id = ? AND id = ?', [tenantId, id]);
      return r ? folderFromRecord(r) : null;
    },
    async listFolders(tenantId) {
      return (await db.all('SELECT * FROM folders WHERE tenant_id = ? ORDER BY name, id', [tenantId])).map(folderFromRecord);
    },
  };
}
