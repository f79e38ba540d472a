import { statfs } from 'node:fs/promises';
import { StoreFull, StoreUnavailable, type AuditAppended, type Store } from './port.js';

/** Socket failures on the way to the database: refused, reset, unreachable, timed out. */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);
/**
 * SQLSTATEs that mean "the database cannot serve this now", not "this request is wrong":
 * 57P01-57P03 admin/crash shutdown and cannot-connect-now (restart, failover), 57014 statement
 * timeout, 25P03 idle-in-transaction timeout. Class 08 (connection exception) and class 53
 * (insufficient resources: too many connections, out of memory) are matched as classes below.
 */
const UNAVAILABLE_SQLSTATES = new Set(['57P01', '57P02', '57P03', '57014', '25P03']);
/** Out of space: SQLite's own code, the OS's (no space, quota), PostgreSQL's disk_full. */
const FULL_CODES = new Set(['SQLITE_FULL', 'ENOSPC', 'EDQUOT', '53100']);
/** pg's own client-side failures carry no code, only these messages (pg 8 / pg-pool 3). */
const PG_CLIENT_FAILURE = /^(Connection terminated|timeout expired|timeout exceeded when trying to connect|Query read timeout|Client has encountered a connection error and is not queryable|Client was closed and is not queryable|Cannot use a pool after calling end on the pool)/;

/**
 * The port's error for a driver error that means "the store cannot serve this now", or null when
 * it means something else (a constraint, a bug). Looks through `cause`, because pg-pool wraps a
 * connect timeout around the socket's own error.
 */
export function storeFailure(err: unknown): StoreUnavailable | StoreFull | null {
  if (err instanceof StoreUnavailable || err instanceof StoreFull) return err;
  for (let e = err, depth = 0; e && typeof e === 'object' && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    const rawCode = (e as { code?: unknown }).code;
    const code = typeof rawCode === 'string' ? rawCode : '';
    if (FULL_CODES.has(code)) return new StoreFull(err);
    if (code === 'SQLITE_BUSY' || code.startsWith('SQLITE_IOERR')) return new StoreUnavailable(err);
    if (NETWORK_CODES.has(code) || UNAVAILABLE_SQLSTATES.has(code) || /^(08|53)[0-9A-Z]{3}$/.test(code)) return new StoreUnavailable(err);
    const message = (e as { message?: unknown }).message;
    if (code === '' && typeof message === 'string' && PG_CLIENT_FAILURE.test(message)) return new StoreUnavailable(err);
  }
  return null;
}

/** After a disk-full error, readiness stays red this long when the store cannot measure its free space. */
const FULL_HOLD_MS = 10_000;

export interface StoreErrorOptions {
  /**
   * Whether a write would fit again (SQLite: free space on the data directory's filesystem).
   * Without it, readiness is red for FULL_HOLD_MS after the last disk-full error.
   */
  hasSpace?: () => Promise<boolean>;
}

/**
 * Every method of `store` with driver errors translated into the port's (`StoreUnavailable`,
 * `StoreFull`; anything else passes unchanged), so that services and HTTP never read SQLSTATEs or
 * SQLite codes. A disk-full error also turns `ping` (readiness) red until space returns: reads
 * still work then, so `SELECT 1` alone would call a store ready that refuses every write.
 */
export function withStoreErrors(store: Store, opts: StoreErrorOptions = {}): Store {
  let fullAt: number | null = null;
  const translate = (err: unknown): unknown => {
    const failure = storeFailure(err);
    if (failure instanceof StoreFull) fullAt = Date.now();
    return failure ?? err;
  };
  const rethrow = (err: unknown): never => {
    throw translate(err);
  };
  const wrapped: Record<string, unknown> = { ...store };
  for (const [name, method] of Object.entries(store)) {
    if (typeof method !== 'function') continue;
    const call = method as (...args: unknown[]) => unknown;
    wrapped[name] = (...args: unknown[]): unknown => {
      let result: unknown;
      try {
        result = call(...args);
      } catch (err) {
        rethrow(err);
      }
      return result instanceof Promise ? result.catch(rethrow) : result;
    };
  }
  // The WAL flush that makes an audit append durable can run out of space as well.
  wrapped.appendAudit = (...args: Parameters<Store['appendAudit']>): Promise<AuditAppended> =>
    store.appendAudit(...args).then((r) => ({ durable: r.durable.catch(rethrow) }), rethrow);
  wrapped.ping = async (): Promise<void> => {
    await store.ping().catch(rethrow);
    if (fullAt === null) return;
    const roomAgain = opts.hasSpace ? await opts.hasSpace() : Date.now() - fullAt >= FULL_HOLD_MS;
    if (!roomAgain) throw new StoreFull('a write failed for lack of space and there is no room yet');
    fullAt = null;
  };
  return wrapped as unknown as Store;
}

/** Room for a write again: SQLite grows the WAL and the database file by pages, a few at a time. */
const MIN_FREE_BYTES = 1024 * 1024;

/** Whether the filesystem holding `dir` has at least 1 MiB free for this (unprivileged) process. */
export async function hasFreeSpace(dir: string): Promise<boolean> {
  const s = await statfs(dir);
  return s.bavail * s.bsize >= MIN_FREE_BYTES;
}
