import type { ConsoleSessionRow, ConsoleSessionStore } from './port.js';
import type { DbRecord } from './rows.js';
import type { SqlRunner } from './sql-runner.js';

/**
 * Console sessions (docs/console.md), written once for both stores. A session is found by the
 * SHA-256 of its cookie's token, never by the token itself, so the table holds nothing a cookie
 * could be rebuilt from.
 */
const bytes = (v: unknown): Buffer => (Buffer.isBuffer(v) ? v : Buffer.from(v as Uint8Array));

function consoleSessionFromRecord(r: DbRecord): ConsoleSessionRow {
  return {
    tokenHash: bytes(r.token_hash),
    tenantId: String(r.tenant_id),
    keyHash: bytes(r.key_hash),
    createdAt: String(r.created_at),
    expiresAt: String(r.expires_at),
  };
}

export function consoleSessionStore(db: SqlRunner): ConsoleSessionStore {
  return {
    async insertConsoleSession(s) {
      await db.run('INSERT INTO console_sessions (token_hash, tenant_id, key_hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?)', [
        s.tokenHash,
        s.tenantId,
        s.keyHash,
        s.createdAt,
        s.expiresAt,
      ]);
    },
    async findConsoleSession(tokenHash) {
      const r = await db.one('SELECT token_hash, tenant_id, key_hash, created_at, expires_at FROM console_sessions WHERE token_hash = ?', [tokenHash]);
      return r ? consoleSessionFromRecord(r) : null;
    },
    async deleteConsoleSession(tokenHash) {
      await db.run('DELETE FROM console_sessions WHERE token_hash = ?', [tokenHash]);
    },
    async deleteExpiredConsoleSessions(now) {
      return db.run('DELETE FROM console_sessions WHERE expires_at <= ?', [now]);
    },
  };
}
