import type { ConsoleSessionRow } from './port.js';
import type { DbRecord } from './rows.js';

/**
 * SQL for console sessions (docs/console.md), written once with `?` placeholders (the PostgreSQL
 * adapter numbers them). A session is found by the SHA-256 of its cookie's token, never by the
 * token itself, so the table holds nothing a cookie could be rebuilt from.
 */
export const INSERT_CONSOLE_SESSION_SQL = 'INSERT INTO console_sessions (token_hash, tenant_id, key_hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?)';
export const CONSOLE_SESSION_BY_HASH_SQL = 'SELECT token_hash, tenant_id, key_hash, created_at, expires_at FROM console_sessions WHERE token_hash = ?';
export const DELETE_CONSOLE_SESSION_SQL = 'DELETE FROM console_sessions WHERE token_hash = ?';
export const DELETE_EXPIRED_CONSOLE_SESSIONS_SQL = 'DELETE FROM console_sessions WHERE expires_at <= ?';

export function consoleSessionParams(s: ConsoleSessionRow): unknown[] {
  return [s.tokenHash, s.tenantId, s.keyHash, s.createdAt, s.expiresAt];
}

const bytes = (v: unknown): Buffer => (Buffer.isBuffer(v) ? v : Buffer.from(v as Uint8Array));

export function consoleSessionFromRecord(r: DbRecord): ConsoleSessionRow {
  return { tokenHash: bytes(r.token_hash), tenantId: String(r.tenant_id), keyHash: bytes(r.key_hash), createdAt: String(r.created_at), expiresAt: String(r.expires_at) };
}
