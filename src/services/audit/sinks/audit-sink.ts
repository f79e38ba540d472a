import type { AuditRow } from '../../../store/port.js';

/**
 * Where the audit stream goes. `deliver` resolves only once the lines are durable on the other
 * side (written and synced, or acknowledged with a 2xx); the pump moves its cursor after that,
 * so delivery is at least once: a crash between the two sends those lines again.
 */
export interface AuditSink {
  /** Names the sink's cursor in the store: stable for one target, never a secret (a hash of the URL). */
  readonly id: string;
  /** For logs: the kind and where, without credentials. */
  readonly label: string;
  deliver(lines: readonly string[], signal: AbortSignal): Promise<void>;
  close(): Promise<void>;
}

/**
 * One event as clients see it: the object `GET /v1/audit-events` returns (http/views.ts) and a
 * sink writes, so an export, the API and a sink agree. Consumers deduplicate by `id` (delivery is
 * at least once) and can check the hash links themselves (`seq`, `hash`, `prev_hash`).
 */
export function auditEventObject(e: AuditRow) {
  return {
    id: e.id,
    at: e.at,
    tenant_id: e.tenantId,
    actor: { type: e.actor.type, id: e.actor.id, name: e.actor.name },
    action: e.action,
    target: { type: e.targetType, id: e.targetId },
    outcome: e.outcome,
    reason: e.reason,
    request_id: e.requestId,
    ip: e.ip,
    user_agent: e.userAgent,
    suppressed: e.suppressed ?? 0,
    detail: e.detail ?? null,
    seq: e.seq,
    hash: e.hash,
    prev_hash: e.prevHash,
  };
}

/** One event as a JSON line for a sink. */
export function eventLine(e: AuditRow): string {
  return JSON.stringify(auditEventObject(e));
}
