import { Client, DatabaseError, Pool, type PoolClient, type QueryResult } from 'pg';
import { MIGRATIONS } from '../migrations/migrations.js';
import type { AuditRow, IdempotencyRow, Store, UsageTouch } from '../port.js';
import { ROOT_KEY_ID_META, RootKeyMoved, type TenantKeyRow } from '../port.js';
import {
  COUNT_TENANTS_TO_REWRAP_SQL, COUNT_VERSIONS_TO_RESEAL_SQL, INSERT_TENANT_KEY_SQL, REWRAP_TENANT_KEY_SQL, TENANTS_TO_REWRAP_SQL,
  VERSIONS_TO_RESEAL_SQL, keyVersionBytes, quoteIdent, resealSlotSql, sealedCountFromRecord, sealedCountSql, tenantKeyInfoFromRecord,
  versionsToResealParams,
} from '../key-management-sql.js';
import {
  ACCOUNT_CREDENTIAL_TYPES, OTHER_ACCOUNT_CREDENTIALS_SQL, UNSHARE_SQL, accessKeyListSql, auditListSql, credentialListSql, postgresJsonArrayHasAny, sharedWithSql, sharesWithout, type Sql,
} from '../queries.js';
import {
  ACCESS_KEY_COLUMNS, AUDIT_COLUMNS, CREDENTIAL_COLUMNS, VERSION_COLUMNS, accessKeyFromRecord, accessKeyToParams,
  auditFromRecord, auditToParams, credentialFromRecord, credentialToParams, folderFromRecord, idPair, idempotencyFromRecord, teamFromRecord, tenantFromRecord,
  tenantKeyFromRecord, versionFromRecord, versionToParams, type DbRecord,
} from '../rows.js';
import { createInvalidationListener, encodeInvalidation, INVALIDATION_CHANNEL } from './invalidation-listener.js';
import { numberParams } from './numbered-params.js';
import { DELETED_BY_NAME_SQL } from '../deleted-names-sql.js';
import { AWS_KEY_PAIR_DELETE_SQL, AWS_KEY_PAIR_FIND_SQL, AWS_KEY_PAIR_INSERT_SQL, AWS_KEY_PAIR_KEY_EXISTS_SQL, awsKeyPairFromRecord, awsKeyPairParams } from '../aws-key-pairs-sql.js';

export interface PostgresOptions {
  /**
   * `postgres://…`; TLS comes from its `sslmode`, which pg reads. pg 8 treats `require`,
   * `prefer` and `verify-ca` as `verify-full` (certificate and host name checked) unless the
   * URL also says `uselibpqcompat=true`; see docs/scale-out.md.
   */
  url: string;
  /**
   * Server-side cap on every statement; a stuck query fails instead of holding a pooled
   * connection. With the connection timeout below it bounds how long a request can wait on a
   * database that is gone: a request answers 503 within about 2–3 s instead of hanging.
   */
  statementTimeoutMs?: number;
  /** How long to wait for a connection, new or from a busy pool, before giving up (503). */
  connectTimeoutMs?: number;
  poolSize?: number;
}

/** Session-level advisory lock held while migrating: one process migrates, the others wait, then find nothing to do. */
const MIGRATION_LOCK_KEY = 0x4c61_7463_686b; // 'Latchk'
/** Key space of the two-int advisory locks: (1, hashtext('audit:' || tenant id)) is a tenant's audit chain lock. */
const AUDIT_CHAIN_LOCK_SPACE = 1;
/** (2, hashtext('meta')): compare-and-set of meta rows, so two of them cannot both see a row absent and both write it. */
const META_LOCK_SPACE = 2;
/** A deadlock or serialization failure rolls the whole transaction back, so it is safe to run again. */
const TRANSACTION_ATTEMPTS = 3;
/** PostgreSQL allows 65 535 bind parameters per statement; audit rows have 16 columns. */
const AUDIT_ROWS_PER_INSERT = 500;
/** Audit batches up to this size run as named statements (one per size, per connection). */
const PREPARED_APPEND_MAX_EVENTS = 16;
const PING_TIMEOUT_MS = 1000;

type Db = Pick<PoolClient, 'query'>;

// The per-request reads, built once (they run as named statements: see `prepared`).
const ACCESS_KEY_BY_HASH_SQL = `SELECT ${ACCESS_KEY_COLUMNS.join(', ')} FROM access_keys WHERE key_hash = $1`;
const CREDENTIAL_BY_ID_SQL = `SELECT ${CREDENTIAL_COLUMNS.join(', ')} FROM credentials WHERE tenant_id = $1 AND id = $2`;
const VERSION_BY_NUMBER_SQL = `SELECT ${VERSION_COLUMNS.join(', ')} FROM credential_versions WHERE tenant_id = $1 AND credential_id = $2 AND version = $3`;
/** Version columns as CREDENTIAL_WITH_VERSION_SQL names them. */
const PREFIXED_VERSION_COLUMNS = VERSION_COLUMNS.map((c) => [c, `v_${c}`] as const);
/** A credential and its current version in one round trip; the version's columns come back as v_<column>. */
const CREDENTIAL_WITH_VERSION_SQL =
  `SELECT ${CREDENTIAL_COLUMNS.map((c) => `c.${c}`).join(', ')}, ${PREFIXED_VERSION_COLUMNS.map(([c, as]) => `v.${c} AS ${as}`).join(', ')}
     FROM credentials c
     LEFT JOIN credential_versions v ON v.tenant_id = c.tenant_id AND v.credential_id = c.id AND v.version = c.version
    WHERE c.tenant_id = $1 AND c.id = $2`;

function insertSql(table: string, columns: readonly string[], rows = 1): string {
  const tuples: string[] = [];
  for (let r = 0; r < rows; r++) {
    tuples.push(`(${columns.map((_, c) => `$${r * columns.length + c + 1}`).join(', ')})`);
  }
  return `INSERT INTO ${table} (${columns.join(', ')}) VALUES ${tuples.join(', ')}`;
}

/** `?` → `$n`; refuses SQL whose placeholder count does not match its parameters. */
function toPg(q: Sql): { text: string; values: unknown[] } {
  const { text, count } = numberParams(q.text);
  if (count !== q.params.length) throw new Error(`SQL has ${count} placeholders but ${q.params.length} parameters`);
  return { text, values: q.params };
}

/** An error the server sent (SQLSTATE), as opposed to a broken or timed-out connection. */
function isServerError(err: unknown): err is DatabaseError {
  return err instanceof DatabaseError;
}

function isUniqueViolation(err: unknown, constraint?: string): boolean {
  if (!isServerError(err) || err.code !== '23505') return false;
  return constraint === undefined || err.constraint === constraint;
}

function isRetryable(err: unknown): boolean {
  return isServerError(err) && (err.code === '40P01' || err.code === '40001');
}

/**
 * Usage touches of one row collapse to one: a single UPDATE … FROM with two source rows for the
 * same target applies an arbitrary one. Sorted by key so concurrent batches lock rows in the
 * same order. `keep` picks the survivor (latest timestamp, or last in call order).
 */
function collapseTouches(touches: readonly UsageTouch[], keep: (prev: UsageTouch, next: UsageTouch) => UsageTouch): UsageTouch[] {
  const byKey = new Map<string, UsageTouch>();
  for (const t of touches) {
    const k = `${t.tenantId}\u0000${t.id}`;
    const prev = byKey.get(k);
    byKey.set(k, prev ? keep(prev, t) : t);
  }
  return [...byKey.values()].sort((a, b) => (a.tenantId === b.tenantId ? cmp(a.id, b.id) : cmp(a.tenantId, b.tenantId)));
}

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

const count = (r: QueryResult<DbRecord>): number => Number(r.rows[0]?.n ?? 0);

/**
 * Several stateless Latchkey processes share one database through this adapter; the database is
 * the only coordinator (row locks, compare-and-set on `revision`, advisory locks for the audit
 * chain and for migrations). Semantics match the SQLite adapter method for method.
 */
export async function openPostgresStore(opts: PostgresOptions): Promise<Store> {
  const statementTimeoutMs = opts.statementTimeoutMs ?? 2000;
  const connection = {
    connectionString: opts.url,
    connectionTimeoutMillis: opts.connectTimeoutMs ?? 1500,
    application_name: 'latchkey',
    keepAlive: true,
  };
  const pool = new Pool({
    ...connection,
    max: opts.poolSize ?? 10,
    statement_timeout: statementTimeoutMs,
    // statement_timeout is enforced by the server; when the network path is cut the server's
    // answer never arrives, so the client gives up a little later on its own and the pool
    // discards that connection. Without it a lost database means a hung request, not a 503.
    query_timeout: statementTimeoutMs + 500,
    // A process that stalls mid-transaction must not hold row or advisory locks indefinitely.
    idle_in_transaction_session_timeout: Math.max(statementTimeoutMs * 2, 10_000),
  });
  // An idle pooled connection that dies (database restart, failover) emits 'error' on the pool;
  // unhandled, that would crash the process. The pool drops the connection and the next
  // query opens a fresh one, which is how service comes back without a restart.
  pool.on('error', () => {});
  /**
   * The first error each pooled connection met, so that `release` discards it. The listener is
   * attached when the pool creates the connection and stays for its whole life: pg-pool removes
   * its own listener while a connection is checked out, and a listener attached after
   * `await pool.connect()` comes too late when the database ends the session (57P01 on a
   * failover) in the same socket read that handed the connection over. An 'error' event with no
   * listener ends the process.
   */
  const connectionErrors = new WeakMap<object, Error>();
  pool.on('connect', (client) => {
    client.on('error', (err) => {
      if (!connectionErrors.has(client)) connectionErrors.set(client, err);
    });
  });
  // Cache invalidation between processes: one dedicated LISTEN session (see invalidation-listener.ts).
  const listener = createInvalidationListener({ connection: { ...connection, application_name: 'latchkey-listen' } });

  const query = (text: string, values?: unknown[]): Promise<QueryResult<DbRecord>> => pool.query<DbRecord>(text, values);
  /**
   * A named statement: each pooled connection parses and plans it once, where an unnamed one is
   * parsed and planned on every call (most of the database's CPU for a point read). For the
   * statements of every request only. They name their columns, because a migration that adds one
   * (another node, mid rolling upgrade) would make a cached `SELECT *` fail its result type.
   */
  const prepared = (name: string, text: string, values: unknown[]): Promise<QueryResult<DbRecord>> => pool.query<DbRecord>({ name, text, values });

  /** A pooled connection for several statements; `release` discards it if it failed meanwhile. */
  async function checkout(): Promise<{ client: PoolClient; release(err?: Error): void }> {
    const client = await pool.connect();
    return {
      client,
      release(err) {
        client.release(err ?? connectionErrors.get(client));
      },
    };
  }

  /** See `sharedWithSql`: runs inside the caller's transaction. */
  async function unshare(db: Db, tenantId: string, slug: string, at: string): Promise<void> {
    const shared = await db.query<DbRecord>(toPg({ text: sharedWithSql(postgresJsonArrayHasAny), params: [tenantId, slug] }));
    for (const c of shared.rows) await db.query(toPg({ text: UNSHARE_SQL, params: [sharesWithout(c.shared_team_slugs, slug), at, tenantId, c.id] }));
  }

  async function transaction<T>(fn: (db: Db) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const { client, release } = await checkout();
      let broken: Error | undefined;
      try {
        await client.query('BEGIN');
        const result = await fn(client);
        await client.query('COMMIT');
        return result;
      } catch (err) {
        if (isServerError(err)) {
          await client.query('ROLLBACK').catch((e: unknown) => {
            broken = e instanceof Error ? e : new Error(String(e));
          });
        } else {
          // Timed out or disconnected: the state of the session is unknown, so the connection is
          // discarded (the server rolls back an open transaction when the session ends).
          broken = err instanceof Error ? err : new Error(String(err));
        }
        if (broken === undefined && attempt < TRANSACTION_ATTEMPTS && isRetryable(err)) continue;
        throw err;
      } finally {
        release(broken);
      }
    }
  }

  const insertAudit = async (db: Db, events: readonly AuditRow[]): Promise<void> => {
    for (let i = 0; i < events.length; i += AUDIT_ROWS_PER_INSERT) {
      const chunk = events.slice(i, i + AUDIT_ROWS_PER_INSERT);
      await db.query(insertSql('audit_events', AUDIT_COLUMNS, chunk.length), chunk.flatMap(auditToParams));
    }
  };

  /** `last_used_at` only moves forward; `$n` is the first of its three array parameters. */
  const touchSql = (n: number): string =>
    `UPDATE credentials AS c SET last_used_at = t.at
       FROM unnest($${n}::text[], $${n + 1}::text[], $${n + 2}::text[]) AS t(tenant_id, id, at)
      WHERE c.tenant_id = t.tenant_id AND c.id = t.id AND (c.last_used_at IS NULL OR c.last_used_at < t.at)`;
  const latestTouches = (touches: readonly UsageTouch[]): UsageTouch[] => collapseTouches(touches, (a, b) => (b.at > a.at ? b : a));
  const touchParams = (rows: readonly UsageTouch[]): unknown[] => [rows.map((t) => t.tenantId), rows.map((t) => t.id), rows.map((t) => t.at)];

  const touchCredentialsIn = async (db: Db, touches: readonly UsageTouch[]): Promise<void> => {
    const rows = latestTouches(touches);
    if (rows.length === 0) return;
    await db.query(touchSql(1), touchParams(rows));
  };

  /** Statement text of each prepared append shape, built on its first use. */
  const appendTexts = new Map<string, string>();
  /**
   * A batch of audit events and usage touches as one statement (data-modifying CTEs), which
   * PostgreSQL runs as one transaction: one round trip where BEGIN, INSERT, UPDATE and COMMIT
   * took four, on the path of every reveal. A deadlock with another writer is retried like a
   * transaction's.
   */
  const appendInOneStatement = async (events: readonly AuditRow[], touches: readonly UsageTouch[]): Promise<void> => {
    const rows = latestTouches(touches);
    if (events.length === 0 && rows.length === 0) return;
    const values: unknown[] = [];
    for (const e of events) values.push(...auditToParams(e));
    if (rows.length > 0) values.push(...touchParams(rows));
    // The usual batch (a few reveals) is one of a handful of shapes, worth preparing.
    const name = events.length <= PREPARED_APPEND_MAX_EVENTS ? `audit-append-${events.length}-${rows.length > 0 ? 't' : 'n'}` : null;
    let text = name === null ? undefined : appendTexts.get(name);
    if (text === undefined) {
      const parts: string[] = [];
      if (events.length > 0) parts.push(`appended AS (${insertSql('audit_events', AUDIT_COLUMNS, events.length)})`);
      if (rows.length > 0) parts.push(`touched AS (${touchSql(events.length * AUDIT_COLUMNS.length + 1)})`);
      text = `WITH ${parts.join(', ')} SELECT 1`;
      if (name !== null) appendTexts.set(name, text);
    }
    for (let attempt = 1; ; attempt++) {
      try {
        await (name === null ? query(text, values) : prepared(name, text, values));
        return;
      } catch (err) {
        if (attempt < TRANSACTION_ATTEMPTS && isRetryable(err)) continue;
        throw err;
      }
    }
  };
  const writeVersion = async (db: Db, w: Parameters<Store['insertCredential']>[1]): Promise<void> => {
    for (const r of w.restage ?? []) {
      await db.query(
        'UPDATE credential_versions SET stage = $1, expires_at = $2 WHERE tenant_id = $3 AND credential_id = $4 AND version = $5',
        [r.stage, r.expiresAt, w.credential.tenantId, w.credential.id, r.version],
      );
    }
    if (w.version) await db.query(insertSql('credential_versions', VERSION_COLUMNS), versionToParams(w.version));
  };

  /**
   * A new data key must be wrapped by the root key the store names now. FOR SHARE holds the meta
   * row until this transaction ends, so a root-key rotation moving the store to a new key (which
   * updates that row) waits for this insert and then finds the row to re-wrap; an insert that
   * comes after it reads the new key id and is refused.
   */
  const checkRootKeyFence = async (db: Db, key: TenantKeyRow): Promise<void> => {
    const fence = (await db.query('SELECT value FROM meta WHERE key = $1 FOR SHARE', [ROOT_KEY_ID_META])).rows[0];
    if (fence && fence.value !== key.rootKeyId) throw new RootKeyMoved();
  };
  const pgSql = (text: string, params: unknown[]): { text: string; values: unknown[] } => toPg({ text, params });
  const inTenants = (ids: readonly string[] | 'all'): { where: string; params: unknown[] } =>
    ids === 'all' ? { where: '', params: [] } : { where: 'WHERE tenant_id = ANY(?::text[])', params: [[...ids]] };

  const updateColumns = CREDENTIAL_COLUMNS.filter((c) => c !== 'tenant_id' && c !== 'id');
  const n = updateColumns.length;
  /**
   * Whether no other live account credential remains, read under a lock on the tenant's row: every
   * deleting transaction of the tenant takes it first, so under READ COMMITTED two deletes of the
   * last two credentials are serialized and the second counts what the first left.
   */
  const otherAccountSql = numberParams(OTHER_ACCOUNT_CREDENTIALS_SQL).text;
  async function lastOfAccount(db: Db, tenantId: string, id: string): Promise<boolean> {
    await db.query('SELECT id FROM tenants WHERE id = $1 FOR UPDATE', [tenantId]);
    return count(await db.query(otherAccountSql, [tenantId, id])) === 0;
  }
  const updateCredentialSql =
    `UPDATE credentials SET ${updateColumns.map((c, i) => `${c} = $${i + 1}`).join(', ')} ` +
    `WHERE tenant_id = $${n + 1} AND id = $${n + 2} AND revision = $${n + 3}`;

  const store: Store = {
    kind: 'postgres',
    // Appends from several processes would contend for each chain's lock: the sealer seals them.
    capabilities: { multiProcess: true, sealsOnAppend: false },

    async migrate() {
      // A dedicated session, not a pooled one: the advisory lock is per session, and waiting for
      // another process's migration (or running a long one) must not hit the statement timeout.
      const client = new Client(connection);
      client.on('error', () => {});
      await client.connect();
      try {
        await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
        try {
          await client.query('CREATE TABLE IF NOT EXISTS schema_migrations (id INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)');
          const applied = new Set((await client.query<{ id: number }>('SELECT id FROM schema_migrations')).rows.map((r) => Number(r.id)));
          for (const m of MIGRATIONS) {
            if (applied.has(m.id)) continue;
            await client.query('BEGIN');
            try {
              for (const s of m.statements({ bytes: 'BYTEA' })) await client.query(s);
              await client.query('INSERT INTO schema_migrations (id, name, applied_at) VALUES ($1, $2, $3)', [m.id, m.name, new Date().toISOString()]);
              await client.query('COMMIT');
            } catch (err) {
              await client.query('ROLLBACK').catch(() => {});
              throw err;
            }
          }
        } finally {
          await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch(() => {});
        }
      } finally {
        // Ending the session also releases the lock if the unlock above could not be sent.
        await client.end().catch(() => {});
      }
    },
    async ping() {
      // Readiness must answer within a probe's budget even when the network path is cut or the
      // pool is exhausted, so the whole check — getting a connection, then SELECT 1 — is
      // bounded. A check that loses the race still ends on its own (query timeout) and gives
      // its connection back; one that failed is discarded rather than reused.
      const check = (async () => {
        const { client, release } = await checkout();
        try {
          await client.query('SELECT 1');
          release();
        } catch (err) {
          release(err instanceof Error ? err : new Error(String(err)));
          throw err;
        }
      })();
      check.catch(() => undefined);
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          check,
          new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new Error(`database did not answer within ${PING_TIMEOUT_MS} ms`)), PING_TIMEOUT_MS);
          }),
        ]);
      } finally {
        clearTimeout(timer);
      }
    },
    async close() {
      await listener.close();
      await pool.end();
    },

    async getMeta(key) {
      const r = await query('SELECT value FROM meta WHERE key = $1', [key]);
      return r.rows[0] ? (r.rows[0].value as string) : null;
    },
    async initMeta(key, value) {
      // One statement: the inserted value, or (on conflict, after a concurrent insert committed) none,
      // in which case the stored value is read back.
      const r = await query('INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING RETURNING value', [key, value]);
      if (r.rows[0]) return r.rows[0].value as string;
      return (await query('SELECT value FROM meta WHERE key = $1', [key])).rows[0]?.value as string;
    },

    async createTenant(tenant, key, ownerKey, audit) {
      await transaction(async (db) => {
        await checkRootKeyFence(db, key);
        await db.query('INSERT INTO tenants (id, name, created_at) VALUES ($1, $2, $3)', [tenant.id, tenant.name, tenant.createdAt]);
        await db.query(
          'INSERT INTO tenant_keys (tenant_id, version, wrapped_key, root_key_id, created_at) VALUES ($1, $2, $3, $4, $5)',
          [key.tenantId, key.version, key.wrappedKey, key.rootKeyId, key.createdAt],
        );
        if (ownerKey) await db.query(insertSql('access_keys', ACCESS_KEY_COLUMNS), accessKeyToParams(ownerKey));
        await insertAudit(db, audit);
      });
    },
    async getTenant(tenantId) {
      const r = (await query('SELECT * FROM tenants WHERE id = $1', [tenantId])).rows[0];
      return r ? tenantFromRecord(r) : null;
    },
    async listTenants(ids) {
      if (ids === 'all') return (await query('SELECT * FROM tenants ORDER BY created_at, id')).rows.map(tenantFromRecord);
      if (ids.length === 0) return [];
      return (await query('SELECT * FROM tenants WHERE id = ANY($1::text[]) ORDER BY created_at, id', [[...ids]])).rows.map(tenantFromRecord);
    },
    async countTenants() {
      return count(await query('SELECT COUNT(*) AS n FROM tenants'));
    },
    async listTenantKeys(tenantId) {
      return (await query('SELECT * FROM tenant_keys WHERE tenant_id = $1 ORDER BY version', [tenantId])).rows.map(tenantKeyFromRecord);
    },

    async findAccessKeyByHash(keyHash) {
      const r = (await prepared('access-key-by-hash', ACCESS_KEY_BY_HASH_SQL, [keyHash])).rows[0];
      return r ? accessKeyFromRecord(r) : null;
    },
    async insertAccessKey(_tenantId, key, audit) {
      await transaction(async (db) => {
        await db.query(insertSql('access_keys', ACCESS_KEY_COLUMNS), accessKeyToParams(key));
        await insertAudit(db, audit);
      });
    },
    async putAwsKeyPair(tenantId, row, audit) {
      return transaction(async (db) => {
        // The key's row is locked so a revocation cannot slip between the check and the insert.
        if ((await db.query(`${numberParams(AWS_KEY_PAIR_KEY_EXISTS_SQL).text} FOR UPDATE`, [tenantId, row.keyId])).rows.length === 0) return 'no_key' as const;
        await db.query(numberParams(AWS_KEY_PAIR_DELETE_SQL).text, [tenantId, row.keyId]);
        await db.query(numberParams(AWS_KEY_PAIR_INSERT_SQL).text, awsKeyPairParams(row));
        await insertAudit(db, audit);
        return 'inserted' as const;
      });
    },
    async listDeletedCredentialIds(tenantId, name) {
      return (await query(numberParams(DELETED_BY_NAME_SQL).text, [tenantId, name])).rows.map((r) => r.id as string);
    },
    async findAwsKeyPair(accessKeyId) {
      const r = (await query(numberParams(AWS_KEY_PAIR_FIND_SQL).text, [accessKeyId])).rows[0];
      return r ? awsKeyPairFromRecord(r) : null;
    },
    async getAccessKey(tenantId, id) {
      const r = (await query('SELECT * FROM access_keys WHERE tenant_id = $1 AND id = $2', [tenantId, id])).rows[0];
      return r ? accessKeyFromRecord(r) : null;
    },
    async listAccessKeys(tenantId, filter, page) {
      const q = accessKeyListSql(tenantId, filter, page);
      const [rows, total] = await Promise.all([pool.query<DbRecord>(toPg(q.rows)), pool.query<DbRecord>(toPg(q.count))]);
      return { rows: rows.rows.map(accessKeyFromRecord), total: count(total) };
    },
    async updateAccessKey(tenantId, key, expectedRevision, audit) {
      return transaction(async (db) => {
        // Under READ COMMITTED a concurrent writer's UPDATE makes this one wait and then re-check
        // `revision` against the committed row, so exactly one of two racing writers matches.
        const r = await db.query(
          'UPDATE access_keys SET name = $1, updated_at = $2, revision = $3 WHERE tenant_id = $4 AND id = $5 AND revision = $6',
          [key.name, key.updatedAt, key.revision, tenantId, key.id, expectedRevision],
        );
        if (r.rowCount !== 1) return false;
        await insertAudit(db, audit);
        return true;
      });
    },
    async deleteAccessKey(tenantId, id, expectedRevision, guardRoles, activeAt, audit) {
      return transaction(async (db) => {
        // Lock the key and every key holding a guarded role, in id order (so concurrent deletes
        // cannot deadlock). Two concurrent deletes of the last two managers then run one after
        // the other, and the second no longer sees the first's key.
        const locked = (await db.query(
          'SELECT id, role, revision, expires_at FROM access_keys WHERE tenant_id = $1 AND (id = $2 OR role = ANY($3::text[])) ORDER BY id FOR UPDATE',
          [tenantId, id, [...guardRoles]],
        )).rows;
        const row = locked.find((r) => r.id === id);
        if (!row || (expectedRevision !== null && Number(row.revision) !== expectedRevision)) return 'stale' as const;
        if (guardRoles.includes(row.role as string)) {
          const others = locked.filter((r) => r.id !== id && guardRoles.includes(r.role as string) && (r.expires_at === null || (r.expires_at as string) > activeAt)).length;
          if (others === 0) return 'last_manager' as const;
        }
        await db.query('DELETE FROM access_keys WHERE tenant_id = $1 AND id = $2', [tenantId, id]);
        await insertAudit(db, audit);
        return 'deleted' as const;
      });
    },
    async touchAccessKeys(touches) {
      const rows = collapseTouches(touches, (_a, b) => b);
      if (rows.length === 0) return;
      await transaction(async (db) => {
        await db.query(
          `UPDATE access_keys AS k SET last_used_at = t.at
             FROM unnest($1::text[], $2::text[], $3::text[]) AS t(tenant_id, id, at)
            WHERE k.tenant_id = t.tenant_id AND k.id = t.id`,
          [rows.map((t) => t.tenantId), rows.map((t) => t.id), rows.map((t) => t.at)],
        );
      });
    },

    async insertCredential(_tenantId, w) {
      try {
        await transaction(async (db) => {
          await db.query(insertSql('credentials', CREDENTIAL_COLUMNS), credentialToParams(w.credential));
          await writeVersion(db, w);
          await insertAudit(db, w.audit);
        });
        return 'inserted';
      } catch (err) {
        if (isUniqueViolation(err, 'credentials_slug')) return 'slug_taken';
        if (isUniqueViolation(err)) return 'id_taken';
        throw err;
      }
    },
    async getCredential(tenantId, id) {
      const r = (await prepared('credential-by-id', CREDENTIAL_BY_ID_SQL, [tenantId, id])).rows[0];
      return r ? credentialFromRecord(r) : null;
    },
    async listCredentials(tenantId, visibility, filter, page) {
      const q = credentialListSql(tenantId, visibility, filter, page, postgresJsonArrayHasAny);
      const [rows, total] = await Promise.all([pool.query<DbRecord>(toPg(q.rows)), pool.query<DbRecord>(toPg(q.count))]);
      return { rows: rows.rows.map(credentialFromRecord), total: count(total) };
    },
    async updateCredential(tenantId, expectedRevision, w) {
      const c = w.credential;
      const params = credentialToParams(c).slice(2);
      try {
        return await transaction(async (db) => {
          if (c.deletedAt !== null && ACCOUNT_CREDENTIAL_TYPES.includes(c.type) && (await lastOfAccount(db, tenantId, c.id))) return 'last_account_credential' as const;
          const r = await db.query(updateCredentialSql, [...params, tenantId, c.id, expectedRevision]);
          if (r.rowCount !== 1) return 'stale' as const;
          await writeVersion(db, w);
          await insertAudit(db, w.audit);
          return 'updated' as const;
        });
      } catch (err) {
        if (isUniqueViolation(err, 'credentials_slug')) return 'slug_taken';
        throw err;
      }
    },
    async purgeCredential(tenantId, id, audit) {
      return transaction(async (db) => {
        const live = (await db.query<{ type: string }>('SELECT type FROM credentials WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL', [tenantId, id])).rows[0];
        if (live && ACCOUNT_CREDENTIAL_TYPES.includes(live.type) && (await lastOfAccount(db, tenantId, id))) return 'last_account_credential' as const;
        await db.query('DELETE FROM credential_versions WHERE tenant_id = $1 AND credential_id = $2', [tenantId, id]);
        const r = await db.query('DELETE FROM credentials WHERE tenant_id = $1 AND id = $2', [tenantId, id]);
        if (r.rowCount === 1) await insertAudit(db, audit);
        return r.rowCount === 1;
      });
    },
    async getVersion(tenantId, credentialId, version) {
      const r = (await prepared('credential-version', VERSION_BY_NUMBER_SQL, [tenantId, credentialId, version])).rows[0];
      return r ? versionFromRecord(r) : null;
    },
    async getCredentialWithVersion(tenantId, id) {
      const r = (await prepared('credential-with-version', CREDENTIAL_WITH_VERSION_SQL, [tenantId, id])).rows[0];
      if (!r) return null;
      return { credential: credentialFromRecord(r), version: r.v_version === null ? null : versionFromRecord(Object.fromEntries(PREFIXED_VERSION_COLUMNS.map(([c, as]) => [c, r[as]]))) };
    },
    async listVersions(tenantId, credentialId) {
      return (await query('SELECT * FROM credential_versions WHERE tenant_id = $1 AND credential_id = $2 ORDER BY version DESC', [tenantId, credentialId])).rows.map(versionFromRecord);
    },
    async touchCredentials(touches) {
      if (touches.length === 0) return;
      await transaction((db) => touchCredentialsIn(db, touches));
    },

    async appendAudit(events, touches) {
      if (events.length <= AUDIT_ROWS_PER_INSERT) await appendInOneStatement(events, touches);
      else {
        await transaction(async (db) => {
          await insertAudit(db, events);
          await touchCredentialsIn(db, touches);
        });
      }
      // PostgreSQL's COMMIT answers once the WAL is flushed (synchronous_commit on).
      return { durable: Promise.resolve() };
    },
    async listAudit(tenantId, q, page) {
      return (await pool.query<DbRecord>(toPg(auditListSql(tenantId, q, page)))).rows.map(auditFromRecord);
    },
    async tenantsWithUnsealedAudit() {
      return (await query('SELECT DISTINCT tenant_id FROM audit_events WHERE seq IS NULL')).rows.map((r) => r.tenant_id as string);
    },
    async countUnsealedAudit(tenantId) {
      return count(await query('SELECT COUNT(*) AS n FROM audit_events WHERE tenant_id = $1 AND seq IS NULL', [tenantId]));
    },

    async reserveIdempotencyKey(row: IdempotencyRow, staleBefore) {
      return transaction(async (db) => {
        // ON CONFLICT waits for a concurrent reservation of the same key to commit or roll back,
        // so of two callers in different processes exactly one inserts.
        for (let attempt = 0; attempt < 3; attempt++) {
          const inserted = await db.query(
            `INSERT INTO idempotency_keys (tenant_id, key, principal_id, fingerprint, state, status, response, created_at)
             VALUES ($1, $2, $3, $4, 'pending', NULL, NULL, $5) ON CONFLICT (tenant_id, key) DO NOTHING RETURNING key`,
            [row.tenantId, row.key, row.principalId, row.fingerprint, row.createdAt],
          );
          if (inserted.rowCount === 1) return { reserved: true as const };
          const existing = (await db.query('SELECT * FROM idempotency_keys WHERE tenant_id = $1 AND key = $2 FOR UPDATE', [row.tenantId, row.key])).rows[0];
          // Released (deleted) between the two statements: try the insert again.
          if (!existing) continue;
          const e = idempotencyFromRecord(existing);
          // A reservation left by a crashed request is taken over rather than blocking the key for a day.
          // The row lock makes the takeover single: a second taker waits, then reads the fresh row.
          if (!(e.state === 'pending' && e.createdAt < staleBefore)) return { reserved: false as const, existing: e };
          await db.query(
            `UPDATE idempotency_keys SET principal_id = $3, fingerprint = $4, state = 'pending', status = NULL, response = NULL, created_at = $5
              WHERE tenant_id = $1 AND key = $2`,
            [row.tenantId, row.key, row.principalId, row.fingerprint, row.createdAt],
          );
          return { reserved: true as const };
        }
        throw new Error('idempotency key reservation kept racing with its release');
      });
    },
    async completeIdempotencyKey(tenantId, key, status, response) {
      await query(`UPDATE idempotency_keys SET state = 'done', status = $1, response = $2 WHERE tenant_id = $3 AND key = $4`, [status, response, tenantId, key]);
    },
    async releaseIdempotencyKey(tenantId, key) {
      await query(`DELETE FROM idempotency_keys WHERE tenant_id = $1 AND key = $2 AND state = 'pending'`, [tenantId, key]);
    },
    async purgeIdempotencyKeys(createdBefore) {
      return (await query('DELETE FROM idempotency_keys WHERE created_at < $1', [createdBefore])).rowCount ?? 0;
    },

    async listDueDeactivations(now, limit) {
      return (await query(`SELECT tenant_id, id FROM credentials WHERE deleted_at IS NULL AND status <> 'deactivated' AND deactivation_time <= $1 ORDER BY deactivation_time LIMIT $2`, [now, limit])).rows.map(idPair);
    },
    async listDueRotations(now, limit) {
      return (await query(`SELECT tenant_id, id FROM credentials WHERE deleted_at IS NULL AND rotation_due = 0 AND status = 'active' AND next_rotation_at <= $1 ORDER BY next_rotation_at LIMIT $2`, [now, limit])).rows.map(idPair);
    },
    async listDeletedBefore(before, limit) {
      return (await query('SELECT tenant_id, id FROM credentials WHERE deleted_at IS NOT NULL AND deleted_at < $1 ORDER BY deleted_at LIMIT $2', [before, limit])).rows.map(idPair);
    },

    async insertTeam(_tenantId, t, audit) {
      try {
        await transaction(async (db) => {
          await db.query('INSERT INTO teams (tenant_id, id, slug, name, created_at, updated_at, revision) VALUES ($1, $2, $3, $4, $5, $6, $7)', [t.tenantId, t.id, t.slug, t.name, t.createdAt, t.updatedAt, t.revision]);
          await unshare(db, t.tenantId, t.slug, t.createdAt);
          await insertAudit(db, audit);
        });
        return 'inserted';
      } catch (err) {
        if (isUniqueViolation(err)) return 'slug_taken';
        throw err;
      }
    },
    async getTeam(tenantId, id) {
      const r = (await query('SELECT * FROM teams WHERE tenant_id = $1 AND id = $2', [tenantId, id])).rows[0];
      return r ? teamFromRecord(r) : null;
    },
    async listTeams(tenantId) {
      return (await query('SELECT * FROM teams WHERE tenant_id = $1 ORDER BY slug', [tenantId])).rows.map(teamFromRecord);
    },
    async updateTeam(tenantId, t, expectedRevision, audit) {
      try {
        return await transaction(async (db) => {
          const r = await db.query('UPDATE teams SET slug = $1, name = $2, updated_at = $3, revision = $4 WHERE tenant_id = $5 AND id = $6 AND revision = $7', [t.slug, t.name, t.updatedAt, t.revision, tenantId, t.id, expectedRevision]);
          if (r.rowCount !== 1) return 'stale' as const;
          await insertAudit(db, audit);
          return 'updated' as const;
        });
      } catch (err) {
        if (isUniqueViolation(err)) return 'slug_taken';
        throw err;
      }
    },
    async deleteTeam(tenantId, id, at, audit) {
      return transaction(async (db) => {
        const team = (await db.query<DbRecord>('SELECT slug FROM teams WHERE tenant_id = $1 AND id = $2 FOR UPDATE', [tenantId, id])).rows[0];
        if (!team) return 'missing' as const;
        if ((await db.query('SELECT 1 FROM credentials WHERE tenant_id = $1 AND team_id = $2 LIMIT 1', [tenantId, id])).rowCount) return 'in_use' as const;
        if ((await db.query('SELECT 1 FROM folders WHERE tenant_id = $1 AND team_id = $2 LIMIT 1', [tenantId, id])).rowCount) return 'in_use' as const;
        await db.query('DELETE FROM teams WHERE tenant_id = $1 AND id = $2', [tenantId, id]);
        await unshare(db, tenantId, team.slug as string, at);
        await insertAudit(db, audit);
        return 'deleted' as const;
      });
    },
    async setAccessKeyTeams(tenantId, keyId, teamIds, audit) {
      return transaction(async (db) => {
        const r = await db.query('UPDATE access_keys SET team_ids = $1, revision = revision + 1 WHERE tenant_id = $2 AND id = $3', [JSON.stringify(teamIds), tenantId, keyId]);
        if (r.rowCount === 1) await insertAudit(db, audit);
        return r.rowCount === 1;
      });
    },
    async insertFolder(_tenantId, f, audit) {
      try {
        await transaction(async (db) => {
          await db.query('INSERT INTO folders (tenant_id, id, team_id, name, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6)', [f.tenantId, f.id, f.teamId, f.name, f.createdAt, f.updatedAt]);
          await insertAudit(db, audit);
        });
        return 'inserted';
      } catch (err) {
        if (isUniqueViolation(err)) return 'name_taken';
        throw err;
      }
    },
    async getFolder(tenantId, id) {
      const r = (await query('SELECT * FROM folders WHERE tenant_id = $1 AND id = $2', [tenantId, id])).rows[0];
      return r ? folderFromRecord(r) : null;
    },
    async listFolders(tenantId) {
      return (await query('SELECT * FROM folders WHERE tenant_id = $1 ORDER BY name, id', [tenantId])).rows.map(folderFromRecord);
    },
    async deleteFolder(tenantId, id, audit) {
      return transaction(async (db) => {
        if ((await db.query('SELECT 1 FROM folders WHERE tenant_id = $1 AND id = $2 FOR UPDATE', [tenantId, id])).rowCount === 0) return 'missing' as const;
        if ((await db.query('SELECT 1 FROM credentials WHERE tenant_id = $1 AND folder_id = $2 LIMIT 1', [tenantId, id])).rowCount) return 'in_use' as const;
        await db.query('DELETE FROM folders WHERE tenant_id = $1 AND id = $2', [tenantId, id]);
        await insertAudit(db, audit);
        return 'deleted' as const;
      });
    },

    // cross-process coordination
    async publishInvalidation(topic, key) {
      // NOTIFY is delivered when the sending transaction commits; this one is its own statement,
      // sent after the change it announces has committed, so a receiver that re-reads sees it.
      await query('SELECT pg_notify($1, $2)', [INVALIDATION_CHANNEL, encodeInvalidation(topic, key)]);
    },
    async subscribeInvalidations(handler) {
      return listener.subscribe(handler);
    },

    // key management
    async compareAndSetMeta(expect, set, audit) {
      return transaction(async (db) => {
        await db.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [META_LOCK_SPACE, 'meta']);
        const keys = Object.keys(expect);
        // FOR UPDATE also waits for tenant inserts holding the root-key fence (FOR SHARE).
        const rows = keys.length === 0 ? [] : (await db.query('SELECT key, value FROM meta WHERE key = ANY($1::text[]) ORDER BY key FOR UPDATE', [keys])).rows;
        const have = new Map(rows.map((r) => [r.key as string, r.value as string]));
        for (const key of keys) if ((have.get(key) ?? null) !== expect[key]) return false;
        for (const [key, value] of Object.entries(set)) {
          if (value === null) await db.query('DELETE FROM meta WHERE key = $1', [key]);
          else await db.query('INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value', [key, value]);
        }
        await insertAudit(db, audit);
        return true;
      });
    },
    async insertTenantKey(tenantId, key, audit) {
      try {
        return await transaction(async (db) => {
          if ((await db.query('SELECT 1 FROM tenants WHERE id = $1 FOR SHARE', [tenantId])).rowCount === 0) return 'no_tenant' as const;
          await checkRootKeyFence(db, key);
          await db.query(pgSql(INSERT_TENANT_KEY_SQL, [tenantId, key.version, key.wrappedKey, key.rootKeyId, key.createdAt]));
          await insertAudit(db, audit);
          return 'inserted' as const;
        });
      } catch (err) {
        if (isUniqueViolation(err)) return 'version_taken';
        throw err;
      }
    },
    async currentTenantKeyVersion(tenantId) {
      const v = (await query('SELECT MAX(version) AS v FROM tenant_keys WHERE tenant_id = $1', [tenantId])).rows[0]?.v;
      return v === null || v === undefined ? null : Number(v);
    },
    async rewrapTenantKeys(tenantId, rows) {
      return transaction(async (db) => {
        let changed = 0;
        for (const r of rows) changed += (await db.query(pgSql(REWRAP_TENANT_KEY_SQL, [r.wrappedKey, r.rootKeyId, tenantId, r.version, r.fromRootKeyId]))).rowCount ?? 0;
        return changed;
      });
    },
    async listTenantsToRewrap(rootKeyId, after, limit) {
      return (await pool.query<DbRecord>(pgSql(TENANTS_TO_REWRAP_SQL, [rootKeyId, after ?? '', limit]))).rows.map((r) => r.tenant_id as string);
    },
    async countTenantsToRewrap(rootKeyId) {
      return count(await pool.query<DbRecord>(pgSql(COUNT_TENANTS_TO_REWRAP_SQL, [rootKeyId])));
    },
    async listTenantKeyInfo(ids) {
      if (ids !== 'all' && ids.length === 0) return [];
      const t = inTenants(ids);
      return (await pool.query<DbRecord>(pgSql(`SELECT tenant_id, version, root_key_id, created_at FROM tenant_keys ${t.where} ORDER BY tenant_id, version`, t.params))).rows.map(tenantKeyInfoFromRecord);
    },
    async listVersionsToReseal(tenantId, keyVersion, after, limit) {
      return (await pool.query<DbRecord>(pgSql(VERSIONS_TO_RESEAL_SQL, versionsToResealParams(tenantId, keyVersion, after, limit)))).rows.map(versionFromRecord);
    },
    async countVersionsToReseal(tenantId, keyVersion) {
      const kv = keyVersionBytes(keyVersion);
      return count(await pool.query<DbRecord>(pgSql(COUNT_VERSIONS_TO_RESEAL_SQL, [tenantId, kv, kv])));
    },
    async resealVersions(tenantId, rows) {
      return transaction(async (db) => {
        let written = 0;
        for (const r of rows) written += (await db.query(pgSql(resealSlotSql(r.slot), [r.to, tenantId, r.credentialId, r.version, r.from]))).rowCount ?? 0;
        return written;
      });
    },
    async countSealedByKeyVersion(ids) {
      if (ids !== 'all' && ids.length === 0) return [];
      const t = inTenants(ids);
      const out = [];
      for (const slot of ['secret', 'test_secret'] as const) {
        out.push(...(await pool.query<DbRecord>(pgSql(sealedCountSql(slot, t.where), t.params))).rows.map((r) => sealedCountFromRecord(slot, r)));
      }
      return out;
    },
    async destroyTenantKeys(tenantId, audit) {
      // The deleted tuples stay in the heap until VACUUM reuses their space, and in WAL archives
      // and base backups taken before: those hold wrapped keys, which the root key still opens.
      return transaction(async (db) => {
        const n = (await db.query('DELETE FROM tenant_keys WHERE tenant_id = $1', [tenantId])).rowCount ?? 0;
        await insertAudit(db, audit);
        return n;
      });
    },
    async purgeTenantRows(tenantId) {
      // Every table with a tenant_id column, read from the schema itself, so a table added later
      // cannot keep a purged tenant's rows.
      const tables = (await query(
        `SELECT table_name AS name FROM information_schema.columns WHERE table_schema = current_schema() AND column_name = 'tenant_id' ORDER BY table_name`,
      )).rows.map((r) => r.name as string);
      return transaction(async (db) => {
        await db.query('SELECT 1 FROM tenants WHERE id = $1 FOR UPDATE', [tenantId]);
        const accessKeyHashes = (await db.query('SELECT key_hash FROM access_keys WHERE tenant_id = $1', [tenantId])).rows.map((r) => Buffer.from(r.key_hash as Uint8Array));
        let deleted = 0;
        for (const table of tables) deleted += (await db.query(`DELETE FROM ${quoteIdent(table)} WHERE tenant_id = $1`, [tenantId])).rowCount ?? 0;
        deleted += (await db.query('DELETE FROM tenants WHERE id = $1', [tenantId])).rowCount ?? 0;
        return { purged: deleted > 0, accessKeyHashes };
      });
    },

    // audit sinks and retention
    async sealAuditChain(tenantId, limit, decide) {
      return transaction(async (db) => {
        // The per-tenant chain lock (per transaction, so it goes with COMMIT/ROLLBACK): sealers and
        // the retention purge of one tenant (in any process) take turns; appends never wait for it.
        await db.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [AUDIT_CHAIN_LOCK_SPACE, `audit:${tenantId}`]);
        // A seal rewrites events that are durable already, and a lost one is redone to the same
        // hashes (WAL is flushed in order, so nothing after it survived either): no WAL flush wait.
        await db.query('SET LOCAL synchronous_commit = off');
        const headRow = (await db.query('SELECT seq, id, hash FROM audit_events WHERE tenant_id = $1 AND seq IS NOT NULL ORDER BY seq DESC LIMIT 1', [tenantId])).rows[0];
        const head = headRow ? { seq: Number(headRow.seq), id: headRow.id as string, hash: headRow.hash as string } : null;
        const events = (await db.query('SELECT * FROM audit_events WHERE tenant_id = $1 AND seq IS NULL ORDER BY at, id LIMIT $2', [tenantId, limit])).rows.map(auditFromRecord);
        if (events.length === 0) return 0;
        const stored = (await db.query('SELECT checkpoint FROM audit_chain_heads WHERE tenant_id = $1', [tenantId])).rows[0];
        const decision = decide({ head, checkpoint: stored ? ((stored.checkpoint as string | null) ?? null) : null, events });
        const seals = decision.seals;
        const last = seals[seals.length - 1];
        if (!last) return 0;
        await db.query(
          `UPDATE audit_events AS a SET seq = s.seq, hash = s.hash, prev_hash = s.prev_hash
             FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[]) AS s(id, seq, hash, prev_hash)
            WHERE a.id = s.id AND a.seq IS NULL`,
          [seals.map((x) => x.id), seals.map((x) => x.seq), seals.map((x) => x.hash), seals.map((x) => x.prevHash)],
        );
        const keep = decision.checkpoint === undefined;
        await db.query(
          `INSERT INTO audit_chain_heads (tenant_id, seq, event_id, hash, checkpoint, updated_at) VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (tenant_id) DO UPDATE SET seq = excluded.seq, event_id = excluded.event_id, hash = excluded.hash, updated_at = excluded.updated_at,
             checkpoint = CASE WHEN $7::boolean THEN audit_chain_heads.checkpoint ELSE excluded.checkpoint END`,
          [tenantId, last.seq, last.id, last.hash, decision.checkpoint ?? null, new Date().toISOString(), keep],
        );
        return seals.length;
      });
    },
    async getAuditChainState(tenantId) {
      const r = (await query('SELECT seq, event_id, hash, checkpoint FROM audit_chain_heads WHERE tenant_id = $1', [tenantId])).rows[0];
      if (!r) return { head: null, checkpoint: null };
      return { head: { seq: Number(r.seq), id: r.event_id as string, hash: r.hash as string }, checkpoint: (r.checkpoint as string | null) ?? null };
    },
    async readSealedAudit(tenantId, afterSeq, limit) {
      return (await query('SELECT * FROM audit_events WHERE tenant_id = $1 AND seq > $2 ORDER BY seq LIMIT $3', [tenantId, afterSeq, limit])).rows.map((r) => {
        return { ...auditFromRecord(r), actorIdColumn: String(r.actor_id) };
      });
    },
    async latestSealedAudit(tenantId, action) {
      const r = (await query('SELECT * FROM audit_events WHERE tenant_id = $1 AND action = $2 AND seq IS NOT NULL ORDER BY seq DESC LIMIT 1', [tenantId, action])).rows[0];
      return r ? auditFromRecord(r) : null;
    },
    async initAuditChainKey(tenantId, sealedKey, createdAt) {
      const inserted = await query('INSERT INTO audit_chain_keys (tenant_id, sealed_key, created_at) VALUES ($1, $2, $3) ON CONFLICT (tenant_id) DO NOTHING RETURNING tenant_id', [tenantId, sealedKey, createdAt]);
      const r = (await query('SELECT sealed_key FROM audit_chain_keys WHERE tenant_id = $1', [tenantId])).rows[0];
      return { sealedKey: Buffer.from(r?.sealed_key as Uint8Array), created: inserted.rowCount === 1 };
    },
    async listAuditChains() {
      return (await query('SELECT tenant_id FROM audit_chain_heads ORDER BY tenant_id')).rows.map((r) => r.tenant_id as string);
    },
    async auditRetentionBoundary(tenantId, before, maxEvents) {
      const first = (await query('SELECT seq, at FROM audit_events WHERE tenant_id = $1 AND seq IS NOT NULL ORDER BY seq LIMIT 1', [tenantId])).rows[0];
      const head = (await query('SELECT seq FROM audit_events WHERE tenant_id = $1 AND seq IS NOT NULL ORDER BY seq DESC LIMIT 1', [tenantId])).rows[0];
      // Purges take a prefix of the chain: if its first event is young enough, nothing is due, and
      // the walk below (up to maxEvents rows per tenant, every run) is skipped.
      if (!first || !head || (first.at as string) >= before) return null;
      const firstSeq = Number(first.seq);
      // Walks the seq index from the start, at most maxEvents rows; the newest event always stays.
      const last = (await query(
        'SELECT seq, hash FROM audit_events WHERE tenant_id = $1 AND seq IS NOT NULL AND seq <= $2 AND seq < $3 AND at < $4 ORDER BY seq DESC LIMIT 1',
        [tenantId, firstSeq + maxEvents - 1, Number(head.seq), before],
      )).rows[0];
      if (!last) return null;
      return { firstSeq, throughSeq: Number(last.seq), throughHash: last.hash as string };
    },
    async purgeAuditThrough(tenantId, throughSeq, throughHash, anchor) {
      return transaction(async (db) => {
        await db.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [AUDIT_CHAIN_LOCK_SPACE, `audit:${tenantId}`]);
        const at = (await db.query('SELECT hash FROM audit_events WHERE tenant_id = $1 AND seq = $2', [tenantId, throughSeq])).rows[0];
        const head = (await db.query('SELECT seq FROM audit_events WHERE tenant_id = $1 AND seq IS NOT NULL ORDER BY seq DESC LIMIT 1', [tenantId])).rows[0];
        if (!at || at.hash !== throughHash || !head || Number(head.seq) <= throughSeq) return 0;
        const n = (await db.query('DELETE FROM audit_events WHERE tenant_id = $1 AND seq IS NOT NULL AND seq <= $2', [tenantId, throughSeq])).rowCount ?? 0;
        await insertAudit(db, [anchor]);
        return n;
      });
    },
    async listAuditSinkWork(sink) {
      return (await query(
        `SELECT h.tenant_id, h.seq AS head, COALESCE(c.seq, 0) AS delivered FROM audit_chain_heads h
           LEFT JOIN audit_sink_cursors c ON c.sink = $1 AND c.tenant_id = h.tenant_id
          WHERE h.seq > COALESCE(c.seq, 0) ORDER BY h.tenant_id`,
        [sink],
      )).rows.map((r) => ({ tenantId: r.tenant_id as string, head: Number(r.head), delivered: Number(r.delivered) }));
    },
    async getAuditSinkCursor(sink, tenantId) {
      return Number((await query('SELECT seq FROM audit_sink_cursors WHERE sink = $1 AND tenant_id = $2', [sink, tenantId])).rows[0]?.seq ?? 0);
    },
    async advanceAuditSinkCursor(sink, tenantId, seq) {
      await query(
        `INSERT INTO audit_sink_cursors (sink, tenant_id, seq, updated_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (sink, tenant_id) DO UPDATE SET seq = excluded.seq, updated_at = excluded.updated_at WHERE audit_sink_cursors.seq < excluded.seq`,
        [sink, tenantId, seq, new Date().toISOString()],
      );
    },
    async claimAuditSinkLease(sink, owner, now, until) {
      const r = await query(
        `INSERT INTO audit_sink_leases (sink, owner, expires_at) VALUES ($1, $2, $3)
         ON CONFLICT (sink) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
          WHERE audit_sink_leases.owner = excluded.owner OR audit_sink_leases.expires_at < $4`,
        [sink, owner, until, now],
      );
      return r.rowCount === 1;
    },
    async releaseAuditSinkLease(sink, owner) {
      await query('DELETE FROM audit_sink_leases WHERE sink = $1 AND owner = $2', [sink, owner]);
    },

    // oauth. Claims are conditional UPDATEs: a second claimer blocks on the row lock, re-checks
    // the condition after the first commits, and finds the claim taken. The claim is a lease in
    // columns, not a lock held across the provider call (no transaction stays open meanwhile).
    async insertOAuthState(r) {
      await query(
        `INSERT INTO oauth_states (state_hash, tenant_id, credential_id, principal, code_verifier, nonce, redirect_uri, return_to, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
        [r.stateHash, r.tenantId, r.credentialId, JSON.stringify(r.principal), r.codeVerifier, r.nonce, r.redirectUri, r.returnTo, r.createdAt, r.expiresAt],
      );
    },
    async takeOAuthState(stateHash) {
      const r = (await query('DELETE FROM oauth_states WHERE state_hash = $1 RETURNING *', [stateHash])).rows[0];
      if (!r) return null;
      return {
        stateHash: r.state_hash as string, tenantId: r.tenant_id as string, credentialId: r.credential_id as string,
        principal: JSON.parse(r.principal as string), codeVerifier: r.code_verifier === null ? null : Buffer.from(r.code_verifier as Uint8Array),
        nonce: (r.nonce as string | null) ?? null, redirectUri: r.redirect_uri as string, returnTo: (r.return_to as string | null) ?? null,
        createdAt: r.created_at as string, expiresAt: r.expires_at as string,
      };
    },
    async purgeOAuthStates(before) {
      return (await query('DELETE FROM oauth_states WHERE expires_at < $1', [before])).rowCount ?? 0;
    },
    async getRefreshState(tenantId, id) {
      const r = (await query(
        'SELECT refresh_claimed_by, refresh_claim_expires_at, refresh_fence, refresh_revision, refresh_next_at, refresh_failures, refresh_blocked FROM credentials WHERE tenant_id = $1 AND id = $2',
        [tenantId, id],
      )).rows[0];
      if (!r) return null;
      return {
        claimedBy: (r.refresh_claimed_by as string | null) ?? null, claimExpiresAt: (r.refresh_claim_expires_at as string | null) ?? null,
        fence: Number(r.refresh_fence), revision: r.refresh_revision === null ? null : Number(r.refresh_revision),
        nextAt: (r.refresh_next_at as string | null) ?? null, failures: Number(r.refresh_failures), blocked: Number(r.refresh_blocked) === 1,
      };
    },
    async claimRefresh(tenantId, id, owner, now, leaseUntil) {
      const r = (await query(
        `UPDATE credentials SET refresh_claimed_by = $1, refresh_claim_expires_at = $2, refresh_fence = refresh_fence + 1
          WHERE tenant_id = $3 AND id = $4 AND (refresh_claimed_by IS NULL OR refresh_claim_expires_at < $5) RETURNING refresh_fence`,
        [owner, leaseUntil, tenantId, id, now],
      )).rows[0];
      return r ? Number(r.refresh_fence) : null;
    },
    async claimDueRefreshes(q) {
      // Two index-friendly halves: a schedule written for this revision, or none and an expiry
      // soon. SKIP LOCKED: rows another process is claiming right now are left to it.
      const halves: Array<{ where: string; order: string; params: unknown[] }> = [
        { where: 'refresh_next_at <= $3 AND refresh_revision = revision AND refresh_blocked = 0', order: 'refresh_next_at', params: [q.now] },
        { where: 'expires_at <= $3 AND (refresh_revision IS NULL OR refresh_revision <> revision)', order: 'expires_at', params: [q.horizon] },
      ];
      const out: Array<{ tenantId: string; id: string; fence: number }> = [];
      for (const h of halves) {
        const limit = q.limit - out.length;
        if (limit <= 0) break;
        const r = await query(
          `WITH due AS (
             SELECT tenant_id, id FROM credentials
              WHERE deleted_at IS NULL AND status = 'active' AND type = $1 AND (refresh_claimed_by IS NULL OR refresh_claim_expires_at < $2) AND ${h.where}
              ORDER BY ${h.order} LIMIT $4 FOR UPDATE SKIP LOCKED)
           UPDATE credentials c SET refresh_claimed_by = $5, refresh_claim_expires_at = $6, refresh_fence = c.refresh_fence + 1
             FROM due WHERE c.tenant_id = due.tenant_id AND c.id = due.id
           RETURNING c.tenant_id, c.id, c.refresh_fence`,
          [q.type, q.now, ...h.params, limit, q.owner, q.leaseUntil],
        );
        out.push(...r.rows.map((row) => ({ tenantId: row.tenant_id as string, id: row.id as string, fence: Number(row.refresh_fence) })));
      }
      return out;
    },
    async completeRefresh(tenantId, owner, fence, expectedRevision, w, schedule) {
      const c = w.credential;
      const k = updateColumns.length;
      return transaction(async (db) => {
        const r = await db.query(
          `UPDATE credentials SET ${updateColumns.map((col, i) => `${col} = $${i + 1}`).join(', ')}, refresh_claimed_by = NULL, refresh_claim_expires_at = NULL,
                  refresh_revision = $${k + 1}, refresh_next_at = $${k + 2}, refresh_failures = $${k + 3}, refresh_blocked = $${k + 4}
            WHERE tenant_id = $${k + 5} AND id = $${k + 6} AND revision = $${k + 7} AND refresh_fence = $${k + 8} AND refresh_claimed_by = $${k + 9}`,
          [...credentialToParams(c).slice(2), schedule.revision, schedule.nextAt, schedule.failures, schedule.blocked ? 1 : 0, tenantId, c.id, expectedRevision, fence, owner],
        );
        if (r.rowCount !== 1) {
          const held = await db.query('SELECT 1 FROM credentials WHERE tenant_id = $1 AND id = $2 AND refresh_fence = $3 AND refresh_claimed_by = $4', [tenantId, c.id, fence, owner]);
          return held.rowCount === 1 ? ('stale' as const) : ('fenced' as const);
        }
        await writeVersion(db, w);
        await insertAudit(db, w.audit);
        return 'updated' as const;
      });
    },
    async releaseRefresh(tenantId, id, owner, fence, failure) {
      return transaction(async (db) => {
        const r = failure === null
          ? await db.query('UPDATE credentials SET refresh_claimed_by = NULL, refresh_claim_expires_at = NULL WHERE tenant_id = $1 AND id = $2 AND refresh_fence = $3 AND refresh_claimed_by = $4', [tenantId, id, fence, owner])
          : await db.query(
            `UPDATE credentials SET refresh_claimed_by = NULL, refresh_claim_expires_at = NULL, last_error = $1, revision = revision + 1,
                    refresh_revision = revision + 1, refresh_next_at = $2, refresh_failures = $3, refresh_blocked = $4
              WHERE tenant_id = $5 AND id = $6 AND refresh_fence = $7 AND refresh_claimed_by = $8`,
            [failure.lastError, failure.schedule.nextAt, failure.schedule.failures, failure.schedule.blocked ? 1 : 0, tenantId, id, fence, owner],
          );
        // The provider was called either way: its answer is recorded even when the claim was lost.
        if (failure) await insertAudit(db, failure.audit);
        return r.rowCount === 1;
      });
    },
  };
  return store;
}
