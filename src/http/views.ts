import type { AccessKeyRow, ActorRef, CredentialRow, Keyset, VersionRow } from '../domain/records.js';
import { auditEventObject } from '../services/audit/sinks/audit-sink.js';
import { LatchkeyError } from '../domain/errors.js';
import { isValidPathId } from '../domain/ids.js';

/**
 * The one place a stored row becomes a public object. Rows hold no plaintext secret, and these
 * functions copy named fields only, so nothing new leaks when a row grows a column.
 */
function actorView(a: ActorRef): { id: string; name: string; email: string | null } {
  return { id: a.id, name: a.name, email: a.email };
}

export function credentialView(c: CredentialRow) {
  return {
    id: c.id,
    name: c.name,
    slug: c.slug,
    type: c.type,
    provider: c.provider,
    integration_id: c.integrationId,
    description: c.description,
    status: c.status,
    deactivation_time: c.deactivationTime,
    config: c.config,
    secret_fields: c.secretFields,
    metadata: c.metadata,
    allowed_hosts: c.allowedHosts,
    proxy_rules: c.proxyRules,
    team_id: c.teamId,
    folder_id: c.folderId,
    read_access: c.readAccess,
    shared_team_slugs: c.sharedTeamSlugs,
    test_credential_enabled: c.testCredentialEnabled,
    version: c.version,
    expires_at: c.expiresAt,
    last_used_at: c.lastUsedAt,
    last_error: c.lastError,
    rotation_interval_days: c.rotationIntervalDays,
    next_rotation_at: c.nextRotationAt,
    rotation_due: c.rotationDue,
    created_at: c.createdAt,
    updated_at: c.updatedAt,
    created_by: actorView(c.createdBy),
    modified_by: actorView(c.modifiedBy),
    _links: [{ rel: 'self', href: `/v1/credentials/${c.id}` }],
  };
}

export function versionView(v: VersionRow) {
  return {
    version: v.version,
    stage: v.stage,
    expires_at: v.expiresAt,
    has_test_secret: v.testSecret !== null,
    created_at: v.createdAt,
    created_by: actorView(v.createdBy),
  };
}

export function accessKeyView(k: AccessKeyRow) {
  return {
    id: k.id,
    name: k.name,
    type: k.type,
    role: k.role,
    team_ids: k.teamIds,
    prefix: k.prefix,
    last_used_at: k.lastUsedAt,
    expires_at: k.expiresAt,
    created_at: k.createdAt,
    updated_at: k.updatedAt,
  };
}

/** The audit event object is the sinks' too (services/audit/sinks/audit-sink.ts). */
export const auditView = auditEventObject;

export function etagOf(revision: number): string {
  return `"${revision}"`;
}

/** `If-Match: "7"` → 7; `*` or absent → undefined; anything else can match nothing → -1. */
export function revisionFromIfMatch(header: string | undefined): number | undefined {
  if (header === undefined || header.trim() === '*') return undefined;
  const m = /^\s*"(\d{1,15})"\s*$/.exec(header);
  return m ? Number(m[1]) : -1;
}

const CURSOR_TIME_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** Opaque cursors: base64url of the last row's keyset position. */
export function encodeCursor(k: Keyset): string {
  return Buffer.from(JSON.stringify([k.createdAt, k.id]), 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string): Keyset {
  try {
    const v: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    // Only a position this server could have issued: an RFC 3339 UTC time and a valid id.
    if (Array.isArray(v) && v.length === 2 && typeof v[0] === 'string' && typeof v[1] === 'string' && CURSOR_TIME_RE.test(v[0]) && isValidPathId(v[1])) {
      return { createdAt: v[0], id: v[1] };
    }
  } catch {
    // fall through to the refusal below
  }
  throw new LatchkeyError('INVALID_PARAMETER', 'cursor is not one this server issued');
}

export interface ListParams {
  page?: number | undefined;
  per_page?: number | undefined;
  cursor?: string | undefined;
}

export function pageOf(q: ListParams): { limit: number; offset?: number; after?: Keyset; page: number; perPage: number } {
  const perPage = q.per_page ?? 25;
  if (q.cursor !== undefined) {
    if (q.page !== undefined) throw new LatchkeyError('INVALID_PARAMETER', 'use either page or cursor, not both');
    return { limit: perPage, after: decodeCursor(q.cursor), page: 1, perPage };
  }
  const page = q.page ?? 1;
  return { limit: perPage, offset: (page - 1) * perPage, page, perPage };
}

export function listBody<T, R extends { createdAt: string; id: string }>(rows: R[], total: number, p: { page: number; perPage: number }, view: (r: R) => T) {
  const last = rows[rows.length - 1];
  return {
    data: rows.map(view),
    page: p.page,
    per_page: p.perPage,
    total,
    next_cursor: rows.length === p.perPage && last ? encodeCursor({ createdAt: last.createdAt, id: last.id }) : null,
  };
}
