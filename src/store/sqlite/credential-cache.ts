import type { CredentialRow, VersionRow } from '../../domain/records.js';

/** Enough for the hot set of a large tenant; a miss costs one point read. */
const MAX_ENTRIES = 20_000;
const MAX_TOTALS = 1_000;
const MAX_PAGES = 1_000;

// The table name may be quoted (a tenant purge names each table it read from the schema).
const WRITES_CACHED_ROWS = /^\s*(?:UPDATE|INSERT\s+INTO|DELETE\s+FROM)\s+"?credential(?:s|_versions)\b/i;

/** Whether a statement changes rows of the credentials or credential_versions table. */
export function writesCachedRows(sql: string): boolean {
  return WRITES_CACHED_ROWS.test(sql);
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/**
 * Credential and version rows the SQLite adapter has read, so a metadata read or a reveal does
 * not read and parse the same rows again; list totals, so a page of a large tenant does not
 * count it again; and the ids of list pages, so the compatible APIs' by-name lookup (a list
 * filtered to one name, on every read) does not query again. The server's writes pass through the adapter and keep this exact: a statement
 * that writes either table empties it (writes are rare next to reads), and a usage touch updates
 * the one row it concerns (no total or page depends on it: none filters or orders by it). Another process writing the file (the `keys`
 * commands re-seal versions next to a live server) is caught by the adapter's data_version check.
 * Rows are frozen, so a caller that tried to edit a shared row would fail loudly instead of
 * changing what others read.
 */
export class CredentialCache {
  private readonly rows = new Map<string, CredentialRow>();
  /** Only ciphertext: a version row holds its secrets sealed, as stored. */
  private readonly versions = new Map<string, VersionRow>();
  /** List totals by query and parameters: a COUNT over a large tenant costs more than the page. */
  private readonly totals = new Map<string, number>();
  /** The ids of list pages, by query and parameters. */
  private readonly pages = new Map<string, readonly string[]>();

  get(tenantId: string, id: string): CredentialRow | undefined {
    return this.rows.get(`${tenantId}\u0000${id}`);
  }

  set(row: CredentialRow): CredentialRow {
    if (this.rows.size >= MAX_ENTRIES) evictOldest(this.rows);
    this.rows.set(`${row.tenantId}\u0000${row.id}`, deepFreeze(row));
    return row;
  }

  version(tenantId: string, credentialId: string, version: number): VersionRow | undefined {
    return this.versions.get(`${tenantId}\u0000${credentialId}\u0000${version}`);
  }

  setVersion(row: VersionRow): VersionRow {
    if (this.versions.size >= MAX_ENTRIES) evictOldest(this.versions);
    // Shallow: the ciphertext Buffers cannot be frozen (nothing writes to them).
    Object.freeze(row.createdBy);
    this.versions.set(`${row.tenantId}\u0000${row.credentialId}\u0000${row.version}`, Object.freeze(row));
    return row;
  }

  /** `last_used_at` moved forward in the database (the same rule as the UPDATE that did it). */
  touched(tenantId: string, id: string, at: string): void {
    const key = `${tenantId}\u0000${id}`;
    const row = this.rows.get(key);
    if (row && (row.lastUsedAt === null || row.lastUsedAt < at)) this.rows.set(key, Object.freeze({ ...row, lastUsedAt: at }));
  }

  total(key: string, count: () => number): number {
    return remembered(this.totals, MAX_TOTALS, key, count);
  }

  page(key: string, query: () => string[]): readonly string[] {
    return remembered(this.pages, MAX_PAGES, key, () => Object.freeze(query()));
  }

  clear(): void {
    this.rows.clear();
    this.versions.clear();
    this.totals.clear();
    this.pages.clear();
  }
}

/** The value under `key`, computed and kept (the oldest let go past `max`) when there is none. */
function remembered<T>(map: Map<string, T>, max: number, key: string, compute: () => T): T {
  let value = map.get(key);
  if (value === undefined) {
    if (map.size >= max) evictOldest(map);
    value = compute();
    map.set(key, value);
  }
  return value;
}

/** A Map iterates in insertion order: its first key is the oldest entry. */
function evictOldest(map: Map<string, unknown>): void {
  const oldest = map.keys().next();
  if (!oldest.done) map.delete(oldest.value);
}
