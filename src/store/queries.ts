import type { AccessKeyFilter, AuditQuery, CredentialFilter, Keyset, PageQuery, Visibility } from './port.js';

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

function visibilityClause(v: Visibility, where: string[], params: unknown[]): void {
  if (v.all) return;
  const parts = [`read_access = 'GLOBAL'`];
  if (v.teamIds.length > 0) {
    parts.push(`team_id IN (${v.teamIds.map(() => '?').join(', ')})`);
    params.push(...v.teamIds);
  }
  for (const slug of v.teamSlugs) {
    // Slugs are [a-z0-9_-] only, so the quoted form cannot match across JSON array elements.
    parts.push(`(read_access = 'SPECIFIC_TEAMS' AND shared_team_slugs LIKE ?)`);
    params.push(`%"${slug}"%`);
  }
  where.push(`(${parts.join(' OR ')})`);
}

/** `columns`: the SQLite adapter selects ids only and takes the rows from its credential cache. */
export function credentialListSql(tenantId: string, visibility: Visibility, f: CredentialFilter, page: PageQuery, columns: '*' | 'id' = '*'): { rows: Sql; count: Sql } {
  const where = ['tenant_id = ?', 'deleted_at IS NULL'];
  const params: unknown[] = [tenantId];
  if (f.name !== undefined) {
    where.push(`lower(name) LIKE ? ESCAPE '\\'`);
    params.push(`%${escapeLike(f.name.toLowerCase())}%`);
  }
  const eq: Array<[keyof CredentialFilter, string]> = [
    ['type', 'type'], ['status', 'status'], ['provider', 'provider'], ['integrationId', 'integration_id'],
    ['teamId', 'team_id'], ['folderId', 'folder_id'],
  ];
  for (const [key, column] of eq) {
    const value = f[key];
    if (value !== undefined) {
      where.push(`${column} = ?`);
      params.push(value);
    }
  }
  if (f.rotationDue !== undefined) {
    where.push('rotation_due = ?');
    params.push(f.rotationDue ? 1 : 0);
  }
  if (f.expiresBefore !== undefined) {
    where.push('expires_at IS NOT NULL AND expires_at < ?');
    params.push(f.expiresBefore);
  }
  visibilityClause(visibility, where, params);
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
