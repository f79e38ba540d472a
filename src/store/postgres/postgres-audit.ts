import type { AuditRow, UsageTouch } from '../../domain/records.js';
import { CHAIN_HEAD_SQL, STORED_CHECKPOINT_SQL, UPSERT_CHAIN_HEAD_SQL, chainHeadParams, chainLock, unsealedEventsSql } from '../audit-sql.js';
import type { AuditStore } from '../port.js';
import { AUDIT_COLUMNS, auditFromRecord, auditToParams, chainHeadFromRecord } from '../rows.js';
import { all, one, run } from '../transaction-script.js';
import { latestTouches, touchParams, touchSql } from './collapse-touches.js';
import { AUDIT_ROWS_PER_INSERT, TRANSACTION_ATTEMPTS, insertRowsSql, isRetryable, postgresDialect, type PgConnection } from './postgres-connection.js';

/** Audit batches up to this size run as named statements (one per size, per connection). */
const PREPARED_APPEND_MAX_EVENTS = 16;

/**
 * Appending and sealing on PostgreSQL. Appends from several processes would contend for each
 * chain's lock, so appends write unsealed events and the sealer seals them under the tenant's
 * chain lock; appends never wait for it.
 */
export function postgresAudit(c: PgConnection): Pick<AuditStore, 'appendAudit' | 'sealAuditChain'> {
  const { transaction } = c;
  const unsealedSql = unsealedEventsSql(postgresDialect);

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
      if (events.length > 0) parts.push(`appended AS (${insertRowsSql('audit_events', AUDIT_COLUMNS, events.length)})`);
      if (rows.length > 0) parts.push(`touched AS (${touchSql(events.length * AUDIT_COLUMNS.length + 1)})`);
      text = `WITH ${parts.join(', ')} SELECT 1`;
      if (name !== null) appendTexts.set(name, text);
    }
    for (let attempt = 1; ; attempt++) {
      try {
        await (name === null ? c.pool.query(text, values) : c.prepared(name, text, values));
        return;
      } catch (err) {
        if (attempt < TRANSACTION_ATTEMPTS && isRetryable(err)) continue;
        throw err;
      }
    }
  };
  return {
    async appendAudit(events, touches) {
      if (events.length <= AUDIT_ROWS_PER_INSERT) await appendInOneStatement(events, touches);
      else {
        await transaction(async (tx) => {
          await c.insertAudit(tx, events);
          const rows = latestTouches(touches);
          if (rows.length > 0) await tx.query(touchSql(1), touchParams(rows));
        });
      }
      // PostgreSQL's COMMIT answers once the WAL is flushed (synchronous_commit on).
      return { durable: Promise.resolve() };
    },
    async sealAuditChain(tenantId, limit, decide) {
      return c.writes.write(function* () {
        yield* chainLock(tenantId);
        // A seal rewrites events that are durable already, and a lost one is redone to the same
        // hashes (WAL is flushed in order, so nothing after it survived either): no WAL flush wait.
        yield* run('SET LOCAL synchronous_commit = off');
        const head = chainHeadFromRecord(yield* one(CHAIN_HEAD_SQL, [tenantId]));
        const events = (yield* all(unsealedSql, [tenantId, limit])).map(auditFromRecord);
        if (events.length === 0) return 0;
        const stored = yield* one(STORED_CHECKPOINT_SQL, [tenantId]);
        const decision = decide({ head, checkpoint: (stored?.checkpoint as string | null | undefined) ?? null, events });
        const params = chainHeadParams(tenantId, decision, new Date().toISOString());
        if (params === null) return 0;
        const seals = decision.seals;
        yield* run(
          `UPDATE audit_events AS a SET seq = s.seq, hash = s.hash, prev_hash = s.prev_hash
             FROM unnest(?::text[], ?::bigint[], ?::text[], ?::text[]) AS s(id, seq, hash, prev_hash)
            WHERE a.id = s.id AND a.seq IS NULL`,
          [seals.map((x) => x.id), seals.map((x) => x.seq), seals.map((x) => x.hash), seals.map((x) => x.prevHash)],
        );
        yield* run(UPSERT_CHAIN_HEAD_SQL, params);
        return seals.length;
      });
    },
  };
}
