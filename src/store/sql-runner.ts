import type { JsonArrayHasAny } from './queries.js';
import type { DbRecord } from './rows.js';

/**
 * How the shared statements (the `*-sql.ts` files, written once with `?` placeholders) run, on a
 * connection or inside a transaction: the SQLite adapter runs them as they are, the PostgreSQL
 * adapter numbers the placeholders first (postgres/numbered-params.ts).
 */
export interface SqlRunner {
  one(sql: string, params?: readonly unknown[]): Promise<DbRecord | undefined>;
  all(sql: string, params?: readonly unknown[]): Promise<DbRecord[]>;
  /** A statement that returns no rows; resolves to the number of rows it changed. */
  run(sql: string, params?: readonly unknown[]): Promise<number>;
}

/** The few places where the dialects spell shared SQL differently (kysely's compiler hooks, in small). */
export interface QueryDialect {
  jsonArrayHasAny: JsonArrayHasAny;
  /** `column` is one of `values`, as one parameter, so the statement text is the same for any number of values. */
  inList(column: string, values: readonly string[]): { sql: string; param: unknown };
  /** SQLite's `INDEXED BY index` where its planner picks a worse index without it; nothing on PostgreSQL. */
  indexedBy(index: string): string;
  /**
   * Appended to a SELECT inside a write transaction: PostgreSQL locks the rows read (` FOR UPDATE`,
   * ` FOR SHARE`) so a concurrent writer waits and then sees this one's change; SQLite runs one
   * write transaction at a time, so nothing.
   */
  forUpdate: string;
  forShare: string;
}

/** `WHERE tenant_id IN (…)` for a list of tenants, or no clause for all of them. */
export function tenantScope(d: QueryDialect, ids: readonly string[] | 'all'): { where: string; params: unknown[] } {
  if (ids === 'all') return { where: '', params: [] };
  const { sql, param } = d.inList('tenant_id', ids);
  return { where: `WHERE ${sql}`, params: [param] };
}
