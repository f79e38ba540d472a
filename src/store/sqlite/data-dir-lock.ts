import Database from 'better-sqlite3';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeDatabaseFilesPrivate } from '../private-files.js';

/**
 * One server per SQLite data directory. Its caches (credentials, the access-key set, keyrings)
 * follow its own writes only; a second server on the same files would serve what the first
 * changed long after (a deactivated credential's secret, a revoked key).
 *
 * The lock is an OS file lock, held through SQLite on a file of its own: `locking_mode =
 * EXCLUSIVE` keeps the exclusive lock of the first write until the connection closes, and the
 * kernel drops it when the process ends, kill -9 included, so a crash never leaves a stale lock.
 * Node has no flock of its own and better-sqlite3 is already here. Not the store's own file:
 * exclusive locking there would shut out the background checkpoint worker and the `keys` commands.
 * The pid file only names the holder in messages; the lock alone decides.
 */
const LOCK_FILE = 'latchkey.lock';
const PID_FILE = 'latchkey.pid';

export class DataDirInUse extends Error {
  override name = 'DataDirInUse';
  constructor(
    readonly dir: string,
    readonly pid: number | null,
  ) {
    super(
      `the data directory ${dir} is in use by another latchkey server (pid ${pid ?? 'unknown'}); stop it first, or give this one its own LATCHKEY_DATA_DIR`,
    );
  }
}

function holderPid(dir: string): number | null {
  try {
    const pid = Number(readFileSync(join(dir, PID_FILE), 'utf8').trim());
    return Number.isSafeInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

const isBusy = (err: unknown): boolean => /^SQLITE_BUSY|^SQLITE_LOCKED/.test(String((err as { code?: unknown }).code ?? ''));

/** Takes the data directory for this process, or throws `DataDirInUse` naming the holder. */
export function lockDataDir(dir: string): { release(): void } {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  // A short wait rides out a `keys` command checking for a holder at this very moment.
  // Private like every file of the data directory (it names the holder's pid, nothing more).
  makeDatabaseFilesPrivate(join(dir, LOCK_FILE));
  const db = new Database(join(dir, LOCK_FILE), { timeout: 250 });
  try {
    db.pragma('locking_mode = EXCLUSIVE');
    db.exec('CREATE TABLE IF NOT EXISTS holder (pid INTEGER NOT NULL); DELETE FROM holder;');
    db.prepare('INSERT INTO holder (pid) VALUES (?)').run(process.pid);
  } catch (err) {
    db.close();
    if (isBusy(err)) throw new DataDirInUse(dir, holderPid(dir));
    throw err;
  }
  writeFileSync(join(dir, PID_FILE), `${process.pid}\n`, { mode: 0o600 });
  return {
    release() {
      rmSync(join(dir, PID_FILE), { force: true });
      db.close();
    },
  };
}

/**
 * The pid of the server holding the data directory (`'unknown'` when its pid file is gone), or
 * null when no server holds it. Takes a shared lock for an instant; creates nothing.
 */
export function dataDirHolder(dir: string): number | 'unknown' | null {
  if (!existsSync(join(dir, LOCK_FILE))) return null;
  let db: Database.Database | null = null;
  try {
    db = new Database(join(dir, LOCK_FILE), { fileMustExist: true, timeout: 0 });
    db.prepare('SELECT count(*) FROM sqlite_master').get();
    return null;
  } catch (err) {
    if (!isBusy(err)) throw err;
    return holderPid(dir) ?? 'unknown';
  } finally {
    db?.close();
  }
}
