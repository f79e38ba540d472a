import type { Config } from '../config.js';
import { storeLocation } from '../main.js';
import { StoreFull, StoreUnavailable } from '../store/port.js';

/**
 * What `serve`, `init`, `migrate` and `keys …` print when the platform refuses them at start:
 * the cause in words and the setting that decides it, instead of `Error: EADDRINUSE`. Returns
 * null for an error it does not recognise (the caller prints its name and code only: an
 * unknown error's message may quote data).
 */
export function describeStartupError(err: unknown, config: Config | null): string | null {
  // The store's own errors wrap the driver's, which say what went wrong.
  if (err instanceof StoreUnavailable || err instanceof StoreFull) return describeStartupError(err.cause, config);
  const e = (err ?? {}) as NodeJS.ErrnoException & { address?: string; port?: number; hostname?: string };
  const code = typeof e.code === 'string' ? e.code : '';
  const pg = config?.databaseUrl ? postgresTarget(config.databaseUrl) : null;

  if (e.syscall === 'listen' || code === 'EADDRINUSE') {
    const where = `${e.address ?? config?.host ?? '?'}:${e.port ?? config?.port ?? '?'}`;
    if (code === 'EADDRINUSE')
      return `cannot listen on ${where}: the port is in use (another Latchkey, or another program); stop it or set LATCHKEY_PORT to a free port`;
    if (code === 'EACCES') return `cannot listen on ${where}: no permission (ports below 1024 need privileges); set LATCHKEY_PORT`;
    if (code === 'EADDRNOTAVAIL') return `cannot listen on ${where}: ${e.address ?? 'that address'} is not an address of this machine; set LATCHKEY_HOST`;
    return `cannot listen on ${where} (${code}); check LATCHKEY_HOST and LATCHKEY_PORT`;
  }
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    const host = e.hostname ?? '?';
    if (pg && host === pg.host) return `the PostgreSQL host ${host} does not resolve (${code}); check the host in LATCHKEY_DATABASE_URL`;
    if (config && host === config.host) return `LATCHKEY_HOST ${host} does not resolve (${code}); set it to an address or a name of this machine`;
    return `the host ${host} does not resolve (${code})`;
  }
  if (pg && ['ECONNREFUSED', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNRESET'].includes(code)) {
    return `cannot connect to PostgreSQL at ${pg.host}:${pg.port} (${code}): is it running and reachable? (LATCHKEY_DATABASE_URL)`;
  }
  // PostgreSQL's own refusals carry a SQLSTATE; those of connecting (class 28: authentication,
  // 3D: no such database, 08: connection) say what is wrong without quoting any data.
  if (pg && /^(28|3D|08)[0-9A-Z]{3}$/.test(code) && typeof e.message === 'string') {
    return `PostgreSQL at ${pg.host}:${pg.port} refused: ${e.message} (${code}); check LATCHKEY_DATABASE_URL`;
  }
  if (code.startsWith('SQLITE_') && config) {
    const what: Record<string, string> = {
      SQLITE_CANTOPEN: 'cannot be opened (does the directory exist, and may this user write it?)',
      SQLITE_READONLY: 'is read-only for this user',
      SQLITE_NOTADB: 'is not a SQLite database',
      SQLITE_CORRUPT: 'is damaged (restore it from a backup)',
      SQLITE_FULL: 'cannot grow: the disk is full',
      SQLITE_BUSY: 'is locked by another process',
    };
    return `the SQLite store ${storeLocation(config)} ${what[code] ?? `failed to open (${code})`}; check LATCHKEY_DATA_DIR`;
  }
  if (typeof e.path === 'string' && /^E[A-Z]+$/.test(code)) {
    const setting = config && (e.path === config.rootKeyFile || e.path.startsWith(`${config.rootKeyFile}.`)) ? 'LATCHKEY_ROOT_KEY_FILE' : 'LATCHKEY_DATA_DIR';
    return `cannot ${e.syscall ?? 'use'} ${e.path} (${code}); check ${setting}`;
  }
  return null;
}

function postgresTarget(url: string): { host: string; port: string } | null {
  try {
    const u = new URL(url);
    return { host: decodeURIComponent(u.hostname).replace(/^\[|\]$/g, ''), port: u.port || '5432' };
  } catch {
    return null;
  }
}
