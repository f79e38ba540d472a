import { chmodSync, closeSync, constants, openSync, statSync } from 'node:fs';

/** Owner read/write only: the files hold sealed secrets, the audit chain and key material. */
const PRIVATE = 0o600;

/**
 * SQLite creates a new database file 0644 (less the umask) and gives its -wal, -shm and
 * -journal the database file's mode. So the database file is made here first, 0600, before
 * SQLite opens it, and files an older version or a copy left more open are put back to 0600:
 * a data directory that exists with 0755 no longer yields world-readable database files.
 */
export function makeDatabaseFilesPrivate(file: string): void {
  closeSync(openSync(file, constants.O_RDWR | constants.O_CREAT | (constants.O_NOFOLLOW ?? 0), PRIVATE));
  for (const path of [file, `${file}-wal`, `${file}-shm`, `${file}-journal`]) {
    try {
      chmodSync(path, PRIVATE);
    } catch (err) {
      if ((err as { code?: string }).code !== 'ENOENT') throw err;
    }
  }
}

/**
 * A warning when group or others may list or enter the data directory (its files are 0600, but
 * an open directory shows what is there and lets a later file made with a lax mode be read).
 * The directory's mode is the operator's to choose, so it is reported, not changed.
 */
export function openDataDirWarning(dir: string): string | null {
  let mode: number;
  try {
    mode = statSync(dir).mode & 0o777;
  } catch {
    return null; // not made yet (PostgreSQL with the root key in the environment)
  }
  if ((mode & 0o077) === 0) return null;
  return `data directory ${dir} is open to group or others (mode ${mode.toString(8)}); run chmod 700 on it`;
}
