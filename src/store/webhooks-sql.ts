import type { AuditRow } from '../domain/records.js';
import { auditFromRecord, insertSql, type DbRecord } from './rows.js';
import type { SqlRunner } from './sql-runner.js';
import { one, run, writeAudit, type WriteRunner } from './transaction-script.js';

/**
 * Webhook subscriptions (migration 13): where a tenant's events go. The signing secrets are sealed
 * under the tenant's keyring (a signature needs the secret itself). The subscription's place in
 * its tenant's audit chain is an audit sink cursor (`audit_sink_cursors`, sink `webhook:<id>`),
 * so webhooks and the audit sink share one delivery machinery (services/audit/sinks/sink-pump.ts).
 */
export interface WebhookRow {
  tenantId: string;
  id: string;
  url: string;
  description: string;
  /** The event types delivered; null = every type. */
  eventTypes: string[] | null;
  /** Only events about this team's objects (an event's `detail.team_id`); null = the whole tenant. */
  teamId: string | null;
  active: boolean;
  /** Why the server turned it off (`failure_streak`), or null. */
  disabledReason: string | null;
  sealedSecret: Buffer;
  /** The secret before the last rotation, signed with too until `previousSecretExpiresAt`. */
  sealedPreviousSecret: Buffer | null;
  previousSecretExpiresAt: string | null;
  /** Moves with each rotation: the secrets' AAD names it, so an old blob cannot be put back in place of the new one. */
  secretVersion: number;
  revision: number;
  createdAt: string;
  updatedAt: string;
}

/** Where the delivery of a subscription stands: the current failure streak, if any. */
export interface WebhookDeliveryState {
  /** When the streak of failed attempts began (null: the last attempt succeeded). */
  failingSince: string | null;
  /** Failed attempts in the streak. */
  failures: number;
  /** Not before this time is the next attempt made (backoff), or null. */
  nextAttemptAt: string | null;
  /** The event the failed attempts were of, and how many there were of it. */
  retryEventId: string | null;
  retryAttempts: number;
}

/** One attempt to deliver an event, as the delivery log keeps it: never the receiver's body. */
export interface WebhookAttemptRow {
  tenantId: string;
  webhookId: string;
  /** Ordered by time (a ULID): the log's paging key. */
  id: string;
  eventId: string;
  eventType: string;
  attempt: number;
  /** The receiver's HTTP status, or null when none came. */
  status: number | null;
  /** `http_status` for a non-2xx answer, else a category of domain/remote-failure.ts; null on success. */
  failure: string | null;
  latencyMs: number;
  at: string;
  manual: boolean;
}

export interface WebhookStore {
  /**
   * Stores the subscription and places its cursor at the head of the tenant's chain (it gets the
   * events sealed from now on), in one transaction with the audit.
   */
  insertWebhook(tenantId: string, row: WebhookRow, audit: readonly AuditRow[]): Promise<void>;
  getWebhook(tenantId: string, id: string): Promise<(WebhookRow & { state: WebhookDeliveryState }) | null>;
  listWebhooks(tenantId: string): Promise<Array<WebhookRow & { state: WebhookDeliveryState }>>;
  countWebhooks(tenantId: string): Promise<number>;
  /**
   * Compare-and-set on revision. `resetState` also ends the failure streak (a subscription turned
   * back on starts afresh from where its cursor stands).
   */
  updateWebhook(tenantId: string, row: WebhookRow, expectedRevision: number, resetState: boolean, audit: readonly AuditRow[]): Promise<'updated' | 'stale'>;
  /** Deletes the subscription with its cursor, lease and delivery log. */
  deleteWebhook(tenantId: string, id: string, expectedRevision: number | null, audit: readonly AuditRow[]): Promise<'deleted' | 'stale'>;
  /** Across tenants, ids only: the active subscriptions, for the delivering processes. */
  listActiveWebhookRefs(): Promise<Array<{ tenantId: string; id: string; revision: number }>>;
  /**
   * Logs an attempt and sets the delivery state it leaves (null: success, the streak is over;
   * 'unchanged': a manual attempt, outside the streak), in one transaction. With `disable`, also
   * turns the subscription off and writes its audit event.
   */
  recordWebhookAttempt(
    tenantId: string,
    attempt: WebhookAttemptRow,
    state: WebhookDeliveryState | null | 'unchanged',
    disable?: { reason: string; at: string; audit: readonly AuditRow[] },
  ): Promise<void>;
  /** The log, newest first, before the attempt id `before`. */
  listWebhookAttempts(tenantId: string, webhookId: string, before: string | null, limit: number): Promise<WebhookAttemptRow[]>;
  countWebhookAttempts(tenantId: string, webhookId: string, eventId: string): Promise<number>;
  /** A sealed audit event of the tenant, by id (what a redelivery sends again). */
  getSealedAuditEvent(tenantId: string, id: string): Promise<AuditRow | null>;
  /**
   * The lowest chain position an active subscription of the tenant has delivered through, or null
   * when none is active: audit retention keeps the events after it (a paused or disabled one holds nothing).
   */
  lowestActiveWebhookCursor(tenantId: string): Promise<number | null>;
  /** Deletes up to `limit` delivery log rows older than `before`, across tenants, oldest first; returns how many. */
  pruneWebhookAttempts(before: string, limit: number): Promise<number>;
}

/** The audit sink cursor and lease name of a subscription. */
export const webhookSinkId = (id: string): string => `webhook:${id}`;

const WEBHOOK_COLUMNS = [
  'tenant_id',
  'id',
  'url',
  'description',
  'event_types',
  'team_id',
  'active',
  'disabled_reason',
  'sealed_secret',
  'sealed_previous_secret',
  'previous_secret_expires_at',
  'secret_version',
  'revision',
  'created_at',
  'updated_at',
] as const;
const ATTEMPT_COLUMNS = ['tenant_id', 'webhook_id', 'id', 'event_id', 'event_type', 'attempt', 'status', 'failure', 'latency_ms', 'at', 'manual'] as const;

const buf = (v: unknown): Buffer => (Buffer.isBuffer(v) ? v : Buffer.from(v as Uint8Array));
const strOrNull = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));

function webhookParams(w: WebhookRow): unknown[] {
  return [
    w.tenantId,
    w.id,
    w.url,
    w.description,
    w.eventTypes === null ? null : JSON.stringify(w.eventTypes),
    w.teamId,
    w.active ? 1 : 0,
    w.disabledReason,
    w.sealedSecret,
    w.sealedPreviousSecret,
    w.previousSecretExpiresAt,
    w.secretVersion,
    w.revision,
    w.createdAt,
    w.updatedAt,
  ];
}

function webhookFromRecord(r: DbRecord): WebhookRow {
  return {
    tenantId: String(r.tenant_id),
    id: String(r.id),
    url: String(r.url),
    description: String(r.description),
    eventTypes: r.event_types === null || r.event_types === undefined ? null : (JSON.parse(String(r.event_types)) as string[]),
    teamId: strOrNull(r.team_id),
    active: Number(r.active) === 1,
    disabledReason: strOrNull(r.disabled_reason),
    sealedSecret: buf(r.sealed_secret),
    sealedPreviousSecret: r.sealed_previous_secret === null || r.sealed_previous_secret === undefined ? null : buf(r.sealed_previous_secret),
    previousSecretExpiresAt: strOrNull(r.previous_secret_expires_at),
    secretVersion: Number(r.secret_version),
    revision: Number(r.revision),
    createdAt: String(r.created_at),
    updatedAt: String(r.updated_at),
  };
}

function stateFromRecord(r: DbRecord): WebhookDeliveryState {
  return {
    failingSince: strOrNull(r.failing_since),
    failures: Number(r.failures),
    nextAttemptAt: strOrNull(r.next_attempt_at),
    retryEventId: strOrNull(r.retry_event_id),
    retryAttempts: Number(r.retry_attempts),
  };
}

function attemptFromRecord(r: DbRecord): WebhookAttemptRow {
  return {
    tenantId: String(r.tenant_id),
    webhookId: String(r.webhook_id),
    id: String(r.id),
    eventId: String(r.event_id),
    eventType: String(r.event_type),
    attempt: Number(r.attempt),
    status: r.status === null || r.status === undefined ? null : Number(r.status),
    failure: strOrNull(r.failure),
    latencyMs: Number(r.latency_ms),
    at: String(r.at),
    manual: Number(r.manual) === 1,
  };
}

const INSERT_WEBHOOK_SQL = insertSql('webhooks', WEBHOOK_COLUMNS);
const INSERT_ATTEMPT_SQL = insertSql('webhook_deliveries', ATTEMPT_COLUMNS);
const UPDATE_WEBHOOK_SQL = `UPDATE webhooks SET url = ?, description = ?, event_types = ?, team_id = ?, active = ?, disabled_reason = ?,
  sealed_secret = ?, sealed_previous_secret = ?, previous_secret_expires_at = ?, secret_version = ?, revision = ?, updated_at = ?
  WHERE tenant_id = ? AND id = ? AND revision = ?`;
const RESET_STATE_SQL =
  'UPDATE webhooks SET failing_since = NULL, failures = 0, next_attempt_at = NULL, retry_event_id = NULL, retry_attempts = 0 WHERE tenant_id = ? AND id = ?';
const SET_STATE_SQL =
  'UPDATE webhooks SET failing_since = ?, failures = ?, next_attempt_at = ?, retry_event_id = ?, retry_attempts = ? WHERE tenant_id = ? AND id = ?';

/** Both adapters' webhook methods, written once (sql-store.ts). */
export function webhookStore(db: SqlRunner, w: WriteRunner): WebhookStore {
  return {
    async insertWebhook(tenantId, row, audit) {
      await w.write(function* () {
        yield* run(INSERT_WEBHOOK_SQL, webhookParams({ ...row, tenantId }));
        // From the head as sealed now: a new subscription is not sent the tenant's history.
        const head = yield* one('SELECT seq FROM audit_chain_heads WHERE tenant_id = ?', [tenantId]);
        yield* run(
          `INSERT INTO audit_sink_cursors (sink, tenant_id, seq, updated_at) VALUES (?, ?, ?, ?)
           ON CONFLICT (sink, tenant_id) DO UPDATE SET seq = excluded.seq, updated_at = excluded.updated_at`,
          [webhookSinkId(row.id), tenantId, Number(head?.seq ?? 0), row.createdAt],
        );
        yield* writeAudit(audit);
      });
    },
    async getWebhook(tenantId, id) {
      const r = await db.one('SELECT * FROM webhooks WHERE tenant_id = ? AND id = ?', [tenantId, id]);
      return r ? { ...webhookFromRecord(r), state: stateFromRecord(r) } : null;
    },
    async listWebhooks(tenantId) {
      const rows = await db.all('SELECT * FROM webhooks WHERE tenant_id = ? ORDER BY created_at DESC, id DESC', [tenantId]);
      return rows.map((r) => ({ ...webhookFromRecord(r), state: stateFromRecord(r) }));
    },
    async countWebhooks(tenantId) {
      return Number((await db.one('SELECT COUNT(*) AS n FROM webhooks WHERE tenant_id = ?', [tenantId]))?.n ?? 0);
    },
    async updateWebhook(tenantId, row, expectedRevision, resetState, audit) {
      return w.write(function* () {
        const p = webhookParams(row);
        const n = yield* run(UPDATE_WEBHOOK_SQL, [...p.slice(2, 13), row.updatedAt, tenantId, row.id, expectedRevision]);
        if (n !== 1) return 'stale' as const;
        if (resetState) yield* run(RESET_STATE_SQL, [tenantId, row.id]);
        yield* writeAudit(audit);
        return 'updated' as const;
      });
    },
    async deleteWebhook(tenantId, id, expectedRevision, audit) {
      return w.write(function* () {
        const n =
          expectedRevision === null
            ? yield* run('DELETE FROM webhooks WHERE tenant_id = ? AND id = ?', [tenantId, id])
            : yield* run('DELETE FROM webhooks WHERE tenant_id = ? AND id = ? AND revision = ?', [tenantId, id, expectedRevision]);
        if (n !== 1) return 'stale' as const;
        yield* run('DELETE FROM webhook_deliveries WHERE tenant_id = ? AND webhook_id = ?', [tenantId, id]);
        yield* run('DELETE FROM audit_sink_cursors WHERE sink = ? AND tenant_id = ?', [webhookSinkId(id), tenantId]);
        yield* run('DELETE FROM audit_sink_leases WHERE sink = ?', [webhookSinkId(id)]);
        yield* writeAudit(audit);
        return 'deleted' as const;
      });
    },
    async listActiveWebhookRefs() {
      const rows = await db.all('SELECT tenant_id, id, revision FROM webhooks WHERE active = 1 ORDER BY tenant_id, id');
      return rows.map((r) => ({ tenantId: String(r.tenant_id), id: String(r.id), revision: Number(r.revision) }));
    },
    async recordWebhookAttempt(tenantId, attempt, state, disable) {
      await w.write(function* () {
        yield* run(INSERT_ATTEMPT_SQL, [
          tenantId,
          attempt.webhookId,
          attempt.id,
          attempt.eventId,
          attempt.eventType,
          attempt.attempt,
          attempt.status,
          attempt.failure,
          attempt.latencyMs,
          attempt.at,
          attempt.manual ? 1 : 0,
        ]);
        if (state === null) yield* run(RESET_STATE_SQL, [tenantId, attempt.webhookId]);
        else if (state !== 'unchanged')
          yield* run(SET_STATE_SQL, [
            state.failingSince,
            state.failures,
            state.nextAttemptAt,
            state.retryEventId,
            state.retryAttempts,
            tenantId,
            attempt.webhookId,
          ]);
        if (disable) {
          // Only while it is still on: a subscription deleted or turned off meanwhile gets no event.
          const n = yield* run(
            'UPDATE webhooks SET active = 0, disabled_reason = ?, revision = revision + 1, updated_at = ? WHERE tenant_id = ? AND id = ? AND active = 1',
            [disable.reason, disable.at, tenantId, attempt.webhookId],
          );
          if (n === 1) yield* writeAudit(disable.audit);
        }
      });
    },
    async listWebhookAttempts(tenantId, webhookId, before, limit) {
      const rows =
        before === null
          ? await db.all('SELECT * FROM webhook_deliveries WHERE tenant_id = ? AND webhook_id = ? ORDER BY id DESC LIMIT ?', [tenantId, webhookId, limit])
          : await db.all('SELECT * FROM webhook_deliveries WHERE tenant_id = ? AND webhook_id = ? AND id < ? ORDER BY id DESC LIMIT ?', [
              tenantId,
              webhookId,
              before,
              limit,
            ]);
      return rows.map(attemptFromRecord);
    },
    async countWebhookAttempts(tenantId, webhookId, eventId) {
      const r = await db.one('SELECT COUNT(*) AS n FROM webhook_deliveries WHERE tenant_id = ? AND webhook_id = ? AND event_id = ?', [
        tenantId,
        webhookId,
        eventId,
      ]);
      return Number(r?.n ?? 0);
    },
    async lowestActiveWebhookCursor(tenantId) {
      const r = await db.one(
        `SELECT MIN(c.seq) AS seq FROM webhooks w JOIN audit_sink_cursors c ON c.tenant_id = w.tenant_id AND c.sink = 'webhook:' || w.id
         WHERE w.tenant_id = ? AND w.active = 1`,
        [tenantId],
      );
      return r?.seq === null || r?.seq === undefined ? null : Number(r.seq);
    },
    async pruneWebhookAttempts(before, limit) {
      // A bounded batch per statement (webhook_deliveries_at): no long transaction, no lock on the whole log.
      return w.write(function* () {
        return yield* run(
          `DELETE FROM webhook_deliveries WHERE (tenant_id, webhook_id, id) IN
             (SELECT tenant_id, webhook_id, id FROM webhook_deliveries WHERE at < ? ORDER BY at LIMIT ?)`,
          [before, limit],
        );
      });
    },
    async getSealedAuditEvent(tenantId, id) {
      const r = await db.one('SELECT * FROM audit_events WHERE id = ? AND tenant_id = ? AND seq IS NOT NULL', [id, tenantId]);
      return r ? auditFromRecord(r) : null;
    },
  };
}
