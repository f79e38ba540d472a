import type { AuditRow, EventDetail } from '../../store/port.js';

/**
 * The events Latchkey tells subscribers about. Every event is an audit event seen from outside:
 * the audit chain is the outbox, written in the same transaction as the change it records, so an
 * event exists exactly when its change committed, and delivery (webhooks, `GET /v1/events`, the
 * SSE feed) reads the sealed chain from a cursor. This module is the one mapping between the two.
 */
export const EVENT_TYPES = [
  'credential.created',
  'credential.updated',
  'credential.rotated',
  'credential.refreshed',
  'credential.status_changed',
  'credential.deleted',
  'credential.restored',
  'credential.purged',
  'credential.expiring',
  'credential.expired',
  'credential.rotation_due',
  'credential.refresh_failing',
  'credential.verify_failing',
  'access_key.expiring',
  'access_key.expired',
  'webhook.disabled',
] as const;

export type EventType = (typeof EVENT_TYPES)[number];

/**
 * Which audit events each event type is: an action, and the outcome it must have. The
 * scheduler's and the webhooks' own actions carry the event type's name.
 */
const SOURCES: Readonly<Record<EventType, ReadonlyArray<{ action: string; outcome: AuditRow['outcome'] }>>> = {
  'credential.created': [{ action: 'credential.create', outcome: 'success' }],
  'credential.updated': [{ action: 'credential.update', outcome: 'success' }],
  // A new current secret, whichever way it came: a rotation, a staged version promoted, an old one restored.
  'credential.rotated': [
    { action: 'credential.rotate', outcome: 'success' },
    { action: 'credential.version_promote', outcome: 'success' },
    { action: 'credential.version_restore', outcome: 'success' },
  ],
  'credential.refreshed': [{ action: 'credential.refresh', outcome: 'success' }],
  'credential.status_changed': [
    { action: 'credential.activate', outcome: 'success' },
    { action: 'credential.deactivate_temporarily', outcome: 'success' },
    { action: 'credential.deactivate', outcome: 'success' },
  ],
  'credential.deleted': [{ action: 'credential.delete', outcome: 'success' }],
  'credential.restored': [{ action: 'credential.restore', outcome: 'success' }],
  'credential.purged': [{ action: 'credential.purge', outcome: 'success' }],
  'credential.expiring': [{ action: 'credential.expiring', outcome: 'success' }],
  'credential.expired': [{ action: 'credential.expired', outcome: 'success' }],
  'credential.rotation_due': [{ action: 'credential.rotation_due', outcome: 'success' }],
  'credential.refresh_failing': [{ action: 'credential.refresh', outcome: 'failure' }],
  'credential.verify_failing': [{ action: 'credential.verify', outcome: 'failure' }],
  'access_key.expiring': [{ action: 'access_key.expiring', outcome: 'success' }],
  'access_key.expired': [{ action: 'access_key.expired', outcome: 'success' }],
  'webhook.disabled': [{ action: 'webhook.disabled', outcome: 'success' }],
};

const BY_SOURCE = new Map<string, EventType>(
  (Object.entries(SOURCES) as Array<[EventType, (typeof SOURCES)[EventType]]>).flatMap(([type, from]) =>
    from.map((s) => [`${s.action} ${s.outcome}`, type] as const),
  ),
);

export function isEventType(value: string): value is EventType {
  return (EVENT_TYPES as readonly string[]).includes(value);
}

/** The event an audit event is, or null for the audit events that are not events (reveals, denials, …). */
export function eventTypeOf(row: Pick<AuditRow, 'action' | 'outcome'>): EventType | null {
  return BY_SOURCE.get(`${row.action} ${row.outcome}`) ?? null;
}

/** The audit events to read for these event types (all of them when none are given), for a query. */
export function sourcesOf(types: readonly EventType[] = EVENT_TYPES): Array<{ action: string; outcome: AuditRow['outcome'] }> {
  return types.flatMap((t) => SOURCES[t]);
}

/**
 * An event as every consumer sees it: the body of a webhook delivery (the Standard Webhooks
 * shape: `type`, `timestamp`, `data`), an item of `GET /v1/events` and an SSE message. `id` is the
 * audit event's id, which is also the delivery's `webhook-id`: consumers deduplicate by it.
 * `data` holds ids, the actor and the event's detail (services/credentials/credential-rows.ts
 * `credentialFacts`, the scheduler's lead times): never a secret.
 */
export interface LatchkeyEvent {
  id: string;
  type: EventType;
  timestamp: string;
  data: {
    tenant_id: string;
    object: string;
    object_id: string | null;
    actor: { type: string; id: string; name: string };
    request_id: string;
    /** The audit chain position: `GET /v1/events?after=` takes it. */
    seq: number | null;
    /** The detail's entries (`version`, `status`, `category`, `lead_days`, …), by event type. */
    [fact: string]: EventDetail[string] | { type: string; id: string; name: string };
  };
}

export function eventOf(row: AuditRow): LatchkeyEvent | null {
  const type = eventTypeOf(row);
  if (type === null) return null;
  return {
    id: row.id,
    type,
    timestamp: row.at,
    data: {
      ...row.detail,
      tenant_id: row.tenantId,
      object: row.targetType,
      object_id: row.targetId,
      actor: { type: row.actor.type, id: row.actor.id, name: row.actor.name },
      request_id: row.requestId,
      seq: row.seq,
    },
  };
}
