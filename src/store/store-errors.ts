import { statfs } from 'node:fs/promises';
import type { AuditAppended, Store } from './port.js';

/**
 * The port's own errors. Each adapter translates its driver's errors into these where they arise
 * (postgres/pg-errors.ts, sqlite/sqlite-errors.ts), so that services and HTTP never read
 * SQLSTATEs or SQLite codes; anything else a driver throws is a bug and passes unchanged.
 */

/**
 * A data key wrapped by a root key the store has moved away from (a root-key rotation started
 * meanwhile): the write is refused so that no row can be left behind wrapped by a key about to
 * be destroyed. Wrap again under the key `ROOT_KEY_ID_META` names and retry.
 */
export class RootKeyMoved extends Error {
  override name = 'RootKeyMoved';
  constructor() {
    super('the store is wrapped by another root key now');
  }
}

/**
 * The store cannot serve now, through no fault of the request: the database is unreachable,
 * shutting down (a failover or restart ends every session with 57P01), out of connections, or
 * too slow. Callers may retry; HTTP answers 503 UNAVAILABLE with Retry-After.
 */
export class StoreUnavailable extends Error {
  override name = 'StoreUnavailable';
  constructor(cause: unknown) {
    super('the store is not reachable', { cause });
  }
}

/**
 * The store's disk is full (SQLITE_FULL, ENOSPC, PostgreSQL 53100): reads go on, writes fail until
 * space returns, and then work again without a restart. HTTP answers 503 UNAVAILABLE.
 */
export class StoreFull extends Error {
  override name = 'StoreFull';
  constructor(cause: unknown) {
    super('the store has no space left for writes', { cause });
  }
}

/**
 * A write collided with a concurrent one in a way the adapter does not report as an outcome of the
 * method: a deadlock or serialization failure that outlasted the adapter's retries, or a
 * uniqueness violation no method expected. Nothing was written; HTTP answers 409 CONFLICT.
 */
export class StoreConflict extends Error {
  override name = 'StoreConflict';
  constructor(cause: unknown) {
    super('the write collided with a concurrent one', { cause });
  }
}

export type StoreFailure = StoreUnavailable | StoreFull | StoreConflict;

/** An adapter's reading of a driver error: the port's error for it, or null when it is none of them. */
export type DriverErrorTranslation = (err: unknown) => StoreFailure | null;

/** After a disk-full error, readiness stays red this long when the store cannot measure its free space. */
const FULL_HOLD_MS = 10_000;

export interface StoreErrorOptions {
  translate: DriverErrorTranslation;
  /**
   * Whether a write would fit again (SQLite: free space on the data directory's filesystem).
   * Without it, readiness is red for FULL_HOLD_MS after the last disk-full error.
   */
  hasSpace?: () => Promise<boolean>;
}

/**
 * Every method of `store` with driver errors translated into the port's by the adapter's
 * `translate` (anything else passes unchanged). A disk-full error also turns `ping` (readiness)
 * red until space returns: reads still work then, so `SELECT 1` alone would call a store ready
 * that refuses every write.
 */
export function withStoreErrors(store: Store, opts: StoreErrorOptions): Store {
  let fullAt: number | null = null;
  const translate = (err: unknown): unknown => {
    const failure = err instanceof StoreUnavailable || err instanceof StoreFull || err instanceof StoreConflict ? err : opts.translate(err);
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

/**
 * Runs a write whose failure on a unique index is one of its answers (`slug_taken`…): `outcome`
 * reads the driver's error and names the answer, or null for an error that is not one.
 */
export async function outcomeOnConflict<T, U>(write: () => T | Promise<T>, outcome: (err: unknown) => U | null): Promise<T | U> {
  try {
    return await write();
  } catch (err) {
    const answer = outcome(err);
    if (answer === null) throw err;
    return answer;
  }
}
