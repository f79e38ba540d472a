import { StoreConflict, StoreFull, StoreUnavailable, type StoreFailure } from '../store-errors.js';

/** Out of space: SQLite's own code, and the OS's (no space, quota) from the WAL flush. */
const FULL_CODES = new Set(['SQLITE_FULL', 'ENOSPC', 'EDQUOT']);

/**
 * The port's error for an error of better-sqlite3 or the WAL flush, or null when it is none of
 * them (a bug). Busy past `busy_timeout` (another process holds the write lock) and I/O errors
 * leave the request nothing to fix: the store cannot serve now.
 */
export function translateSqliteError(err: unknown): StoreFailure | null {
  const rawCode = (err as { code?: unknown } | null)?.code;
  const code = typeof rawCode === 'string' ? rawCode : '';
  if (FULL_CODES.has(code)) return new StoreFull(err);
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_IOERR')) return new StoreUnavailable(err);
  if (code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY') return new StoreConflict(err);
  return null;
}
