import type { AuditRow } from '../domain/records.js';
import type { DbRecord } from './rows.js';

/**
 * A compound write (rows and their audit events, all or nothing) written once for both stores,
 * as a generator: it yields each statement it needs and is handed back the result. The adapters
 * run the same script in their own kind of transaction: better-sqlite3 synchronously, inside one
 * `db.transaction` (nothing can await there), pg with an await per statement inside BEGIN/COMMIT,
 * and again from the start after a deadlock. What the dialects lock differently is said in the
 * SQL (`QueryDialect.forUpdate`) or as a `lock` step.
 */
export type Step =
  | { op: 'one' | 'all' | 'run'; sql: string; params: readonly unknown[] }
  /** Appends audit events (each adapter has its fastest way to insert many). */
  | { op: 'audit'; events: readonly AuditRow[] }
  /** Takes turns with every transaction taking the same lock (PostgreSQL advisory lock); SQLite's writers already do. */
  | { op: 'lock'; space: number; key: string };

export type Script<T> = Generator<Step, T, unknown>;

export function* one(sql: string, params: readonly unknown[] = []): Script<DbRecord | undefined> {
  return (yield { op: 'one', sql, params }) as DbRecord | undefined;
}

export function* all(sql: string, params: readonly unknown[] = []): Script<DbRecord[]> {
  return (yield { op: 'all', sql, params }) as DbRecord[];
}

/** A statement that returns no rows; gives the number of rows it changed. */
export function* run(sql: string, params: readonly unknown[] = []): Script<number> {
  return (yield { op: 'run', sql, params }) as number;
}

export function* writeAudit(events: readonly AuditRow[]): Script<void> {
  if (events.length > 0) yield { op: 'audit', events };
}

export function* lock(space: number, key: string): Script<void> {
  yield { op: 'lock', space, key };
}

/** The unique indexes whose violation is one of a method's answers, by what they guard. */
export type UniqueIndex = 'credential_slug';

/** What an adapter offers the shared compound writes. */
export interface WriteRunner {
  /** Runs the script (made afresh by `script` for each attempt) in one write transaction. */
  write<T>(script: () => Script<T>): Promise<T>;
  /** Whether `err` is the driver's unique violation, of `index` when given. */
  isUniqueViolation(err: unknown, index?: UniqueIndex): boolean;
}

/** Drives a script to its end, with `exec` giving each step's result. */
export function driveSync<T>(script: Script<T>, exec: (step: Step) => unknown): T {
  let next = script.next();
  while (!next.done) next = script.next(exec(next.value));
  return next.value;
}

export async function driveAsync<T>(script: Script<T>, exec: (step: Step) => Promise<unknown>): Promise<T> {
  let next = script.next();
  while (!next.done) next = script.next(await exec(next.value));
  return next.value;
}
