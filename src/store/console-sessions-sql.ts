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
    keyHash: r.key_hash === null || r.key_hash === undefined ? null : bytes(r.key_hash),
    oidcIdentity: r.oidc_identity === null || r.oidc_identity === undefined ? null : String(r.oidc_identity),
    createdAt: String(r.created_at),
    expiresAt: String(r.expires_at),
  };
}

export function consoleSessionStore(db: SqlRunner): ConsoleSessionStore {
  return {
    async insertConsoleSession(s) {
      await db.run('INSERT INTO console_sessions (token_hash, tenant_id, key_hash, oidc_identity, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)', [
        s.tokenHash,
        s.tenantId,
        s.keyHash,
        s.oidcIdentity,
        s.createdAt,
        s.expiresAt,
      ]);
    },
    async findConsoleSession(tokenHash) {
      const r = await db.one('SELECT token_hash, tenant_id, key_hash, oidc_identity, created_at, expires_at FROM console_sessions WHERE token_hash = ?', [
        tokenHash,
      ]);
      return r ? consoleSessionFromRecord(r) : null;
    },
    async deleteConsoleSession(tokenHash) {
      await db.run('DELETE FROM console_sessions WHERE token_hash = ?', [tokenHash]);
    },
    async deleteExpiredConsoleSessions(now) {
      return db.run('DELETE FROM console_sessions WHERE expires_at <= ?', [now]);
    },
    async insertConsoleOidcLogin(l) {
      // Sign-ins nobody finished are dropped here too: starting one is public, so rows must not pile up.
      await db.run('DELETE FROM console_oidc_logins WHERE expires_at <= ?', [l.createdAt]);
      await db.run('INSERT INTO console_oidc_logins (state_hash, created_at, expires_at) VALUES (?, ?, ?)', [l.stateHash, l.createdAt, l.expiresAt]);
    },
    async takeConsoleOidcLogin(stateHash, now) {
      // One DELETE decides: of two callbacks with the same state (a replay, a double click), one
      // deletes the row and the other finds nothing, on every process of a shared store.
      const taken = await db.run('DELETE FROM console_oidc_logins WHERE state_hash = ? AND expires_at > ?', [stateHash, now]);
      await db.run('DELETE FROM console_oidc_logins WHERE expires_at <= ?', [now]);
      return taken === 1;
    },
  };
}
