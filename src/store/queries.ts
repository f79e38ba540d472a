import type { AccessKeyFilter, AuditQuery, CredentialFilter, Keyset, PageQuery, Visibility } from '../domain/records.js';

/**
 * SQL for the list queries, written once with `?` placeholders; the PostgreSQL adapter numbers
 * them. Keyset paging on (created_at, id) so a deep page costs what the first one does.
 */
export interface Sql {
  text: string;
  params: unknown[];
}

function escapeLike(value: string): string {
  return value.replace(/[\\%_]/g, (c) => '\\' + c);
}

/**
 * The one piece of list SQL the dialects spell differently: whether the JSON array of strings in
 * `column` holds one of `count` placeholder values. An exact comparison of elements, never a
 * pattern over user data (a `LIKE` let the slug `data_eng` match a share with `data-eng`).
 */
export type JsonArrayHasAny = (column: string, count: number) => string;

const marks = (n: number): string => Array.from({ length: n }, () => '?').join(', ');
export const sqliteJsonArrayHasAny: JsonArrayHasAny = (column, n) => `EXISTS (SELECT 1 FROM json_each(${column}) WHERE json_each.value IN (${marks(n)}))`;
export const postgresJsonArrayHasAny: JsonArrayHasAny = (column, n) =>
  `EXISTS (SELECT 1 FROM jsonb_array_elements_text(${column}::jsonb) AS share(value) WHERE share.value IN (${marks(n)}))`;

/** The SQL form of `canSee` (services/credentials/visibility.ts); reveals check each row with `canSee` again. */
function visibilityClause(v: Visibility, hasAny: JsonArrayHasAny, where: string[], params: unknown[]): void {
  if (v.all) return;
  const parts = [`read_access = 'GLOBAL'`];
  if (v.teamIds.length > 0) {
    parts.push(`team_id IN (${marks(v.teamIds.length)})`);
    params.push(...v.teamIds);
  }
  if (v.teamSlugs.length > 0) {
    parts.push(`(read_access = 'SPECIFIC_TEAMS' AND ${hasAny('shared_team_slugs', v.teamSlugs.length)})`);
    params.push(...v.teamSlugs);
  }
  where.push(`(${parts.join(' OR ')})`);
}

/** `columns`: the SQLite adapter selects ids only and takes the rows from its credential cache. */
export function credentialListSql(
  tenantId: string,
  visibility: Visibility,
  f: CredentialFilter,
  page: PageQuery,
  hasAny: JsonArrayHasAny,
  columns: '*' | 'id' = '*',
): { rows: Sql; count: Sql } {
  const where = ['tenant_id = ?', 'deleted_at IS NULL'];
  const params: unknown[] = [tenantId];
  if (f.name !== undefined) {
    where.push(`lower(name) LIKE ? ESCAPE '\\'`);
    params.push(`%${escapeLike(f.name.toLowerCase())}%`);
  }
  const eq: Array<[keyof CredentialFilter, string]> = [
    ['exactName', 'name'],
    ['type', 'type'],
    ['status', 'status'],
    ['provider', 'provider'],
    ['integrationId', 'integration_id'],
    ['teamId', 'team_id'],
    ['folderId', 'folder_id'],
  ];
  for (const [key, column] of eq) {
    const value = f[key];
    if (value !== undefined) {
      where.push(`${column} = ?`);
      params.push(value);
    }
  }
  if (f.types !== undefined) {
    where.push(f.types.length === 0 ? '1 = 0' : `type IN (${f.types.map(() => '?').join(', ')})`);
    params.push(...f.types);
  }
  if (f.rotationDue !== undefined) {
    where.push('rotation_due = ?');
    params.push(f.rotationDue ? 1 : 0);
  }
  if (f.expiresBefore !== undefined) {
    where.push('expires_at IS NOT NULL AND expires_at < ?');
    params.push(f.expiresBefore);
  }
  visibilityClause(visibility, hasAny, where, params);
  const count: Sql = { text: `SELECT COUNT(*) AS n FROM credentials WHERE ${where.join(' AND ')}`, params: [...params] };
  const rowsWhere = [...where];
  const rowsParams = [...params];
  addKeyset(rowsWhere, rowsParams, page.after, 'created_at');
  const rows: Sql = {
    text: `SELECT ${columns} FROM credentials WHERE ${rowsWhere.join(' AND ')} ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?`,
    params: [...rowsParams, page.limit, page.after ? 0 : (page.offset ?? 0)],
  };
  return { rows, count };
}

/**
 * A row-value comparison, not `a < ? OR (a = ? AND id < ?)`: both SQLite and PostgreSQL seek the
 * (…, a, id) index to it, where the OR form has them walk every newer entry first, so page n cost
 * O(n) and only the first page was cheap.
 */
function addKeyset(where: string[], params: unknown[], after: Keyset | undefined, column: string): void {
  if (!after) return;
  where.push(`(${column}, id) < (?, ?)`);
  params.push(after.createdAt, after.id);
}

export function accessKeyListSql(tenantId: string, f: AccessKeyFilter, page: PageQuery): { rows: Sql; count: Sql } {
  const where = ['tenant_id = ?'];
  const params: unknown[] = [tenantId];
  if (f.name !== undefined) {
    where.push(`lower(name) LIKE ? ESCAPE '\\'`);
    params.push(`%${escapeLike(f.name.toLowerCase())}%`);
  }
  if (f.type !== undefined) {
    where.push('type = ?');
    params.push(f.type);
  }
  const count: Sql = { text: `SELECT COUNT(*) AS n FROM access_keys WHERE ${where.join(' AND ')}`, params: [...params] };
  addKeyset(where, params, page.after, 'created_at');
  return {
    count,
    rows: {
      text: `SELECT * FROM access_keys WHERE ${where.join(' AND ')} ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?`,
      params: [...params, page.limit, page.after ? 0 : (page.offset ?? 0)],
    },
  };
}

export function auditListSql(tenantId: string, q: AuditQuery, page: PageQuery): Sql {
  const where = ['tenant_id = ?'];
  const params: unknown[] = [tenantId];
  if (q.credentialId !== undefined) {
    where.push(`target_type = 'credential' AND target_id = ?`);
    params.push(q.credentialId);
  }
  if (q.action !== undefined) {
    where.push('action = ?');
    params.push(q.action);
  }
  if (q.outcome !== undefined) {
    where.push('outcome = ?');
    params.push(q.outcome);
  }
  if (q.actorId !== undefined) {
    where.push('actor_id = ?');
    params.push(q.actorId);
  }
  if (q.since !== undefined) {
    where.push('at >= ?');
    params.push(q.since);
  }
  if (q.until !== undefined) {
    where.push('at < ?');
    params.push(q.until);
  }
  addKeyset(where, params, page.after, 'at');
  return {
    text: `SELECT * FROM audit_events WHERE ${where.join(' AND ')} ORDER BY at DESC, id DESC LIMIT ?`,
    params: [...params, page.limit],
  };
}

/**
 * Credentials, soft-deleted ones included, whose shares name a team slug. When a team goes, its
 * slug leaves every share in the same transaction, and a team created with a slug starts with no
 * share left over from a former team of that slug (the directory cache of another process may
 * still have accepted one).
 */
export function sharedWithSql(hasAny: JsonArrayHasAny): string {
  return `SELECT id, shared_team_slugs FROM credentials WHERE tenant_id = ? AND ${hasAny('shared_team_slugs', 1)}`;
}
/** The credential changed, so its revision moves: an ETag taken before no longer matches. */
export const UNSHARE_SQL = 'UPDATE credentials SET shared_team_slugs = ?, revision = revision + 1, updated_at = ? WHERE tenant_id = ? AND id = ?';
export function sharesWithout(sharedTeamSlugs: unknown, slug: string): string {
  return JSON.stringify((JSON.parse(String(sharedTeamSlugs)) as string[]).filter((s) => s !== slug));
}

/**
 * Document 002's "account" (docs/dialects.md): a tenant's smtp and api_key credentials, of which
 * at least one always remains ("there always has to be at least one credential in your
 * account"). Both adapters check it inside the transaction that deletes or purges one, whatever
 * route asked, counting every live one of the tenant, so concurrent deletes cannot take the last.
 */
export const ACCOUNT_CREDENTIAL_TYPES: readonly string[] = ['smtp', 'api_key'];
export const OTHER_ACCOUNT_CREDENTIALS_SQL = `SELECT COUNT(*) AS n FROM credentials WHERE tenant_id = ? AND deleted_at IS NULL AND type IN ('smtp', 'api_key') AND id <> ?`;
