import { StoreConflict, StoreFull, StoreUnavailable, type StoreFailure } from '../store-errors.js';

/** Socket failures on the way to the database: refused, reset, unreachable, timed out. */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);
/**
 * SQLSTATEs that mean "the database cannot serve this now", not "this request is wrong":
 * 57P01-57P03 admin/crash shutdown and cannot-connect-now (restart, failover), 57014 statement
 * timeout, 25P03 idle-in-transaction timeout. Class 08 (connection exception) and class 53
 * (insufficient resources: too many connections, out of memory) are matched as classes below.
 */
const UNAVAILABLE_SQLSTATES = new Set(['57P01', '57P02', '57P03', '57014', '25P03']);
/** disk_full: writes fail until space returns. */
const DISK_FULL = '53100';
/**
 * Deadlock and serialization failure (retried by the adapter's transactions first), and a unique
 * violation that no method turned into one of its outcomes.
 */
const CONFLICT_SQLSTATES = new Set(['40P01', '40001', '23505']);
/** pg's own client-side failures carry no code, only these messages (pg 8 / pg-pool 3). */
const PG_CLIENT_FAILURE =
  /^(Connection terminated|timeout expired|timeout exceeded when trying to connect|Query read timeout|Client has encountered a connection error and is not queryable|Client was closed and is not queryable|Cannot use a pool after calling end on the pool)/;

/**
 * The port's error for an error of pg or the server, or null when it is none of them (a bug).
 * Looks through `cause`, because pg-pool wraps a connect timeout around the socket's own error.
 */
export function translatePgError(err: unknown): StoreFailure | null {
  for (let e = err, depth = 0; e && typeof e === 'object' && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    const rawCode = (e as { code?: unknown }).code;
    const code = typeof rawCode === 'string' ? rawCode : '';
    if (code === DISK_FULL) return new StoreFull(err);
    if (NETWORK_CODES.has(code) || UNAVAILABLE_SQLSTATES.has(code) || /^(08|53)[0-9A-Z]{3}$/.test(code)) return new StoreUnavailable(err);
    if (CONFLICT_SQLSTATES.has(code)) return new StoreConflict(err);
    const message = (e as { message?: unknown }).message;
    if (code === '' && typeof message === 'string' && PG_CLIENT_FAILURE.test(message)) return new StoreUnavailable(err);
  }
  return null;
}
