import { newId } from '../../domain/ids.js';
import { systemContext } from '../../domain/principal.js';
import type { WebhookDeliveryState, WebhookRow, WebhookStore } from '../../store/port.js';
import { webhookSinkId } from '../../store/webhooks-sql.js';
import type { AuditService } from '../audit/audit-service.js';
import type { PumpTarget } from '../audit/sinks/sink-pump.js';
import { redactUrl } from '../audit/sinks/webhook-sink.js';
import { eventOf, type LatchkeyEvent } from '../events/event-types.js';
import { sendEvent, type DeliveryDeps } from './webhook-delivery.js';

/** A streak is also at least this many failed attempts before it disables a subscription (a clock jump alone does not). */
export const MIN_FAILURES_TO_DISABLE = 5;

export interface RetryPolicy {
  baseMs: number;
  maxMs: number;
  disableAfterMs: number;
}

/** Exponential backoff with jitter: the n-th retry waits between half and all of min(max, base·2^(n-1)). */
export function backoffMs(policy: RetryPolicy, failures: number): number {
  const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.min(failures - 1, 30));
  return Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
}

/** Whether a subscription wants an event: its type filter and its team scope (the event's `detail.team_id`). */
export function wants(sub: Pick<WebhookRow, 'eventTypes' | 'teamId'>, event: LatchkeyEvent): boolean {
  if (sub.eventTypes !== null && !sub.eventTypes.includes(event.type)) return false;
  if (sub.teamId !== null && event.data.team_id !== sub.teamId) return false;
  return true;
}

/**
 * One subscription as a target of the chain pump (services/audit/sinks/sink-pump.ts): the events
 * of its tenant's chain in order, those it does not want skipped, one POST per event. A failed
 * attempt stops the batch there (order: nothing after it goes out first) and asks the pump to
 * call again after the backoff; the streak and the next attempt's time are stored, so a restart
 * or another process taking the lease over goes on from them. A streak that lasted
 * `disableAfterMs` turns the subscription off, with a `webhook.disabled` event in the same
 * transaction (it reaches the tenant's other subscriptions like any event).
 */
export function createWebhookTarget(deps: {
  store: Pick<WebhookStore, 'getWebhook' | 'recordWebhookAttempt'>;
  audit: Pick<AuditService, 'event'>;
  delivery: DeliveryDeps;
  policy: RetryPolicy;
  tenantId: string;
  webhookId: string;
  label: string;
  onDisabled(tenantId: string): void;
}): PumpTarget {
  const { store, delivery, policy, tenantId, webhookId } = deps;
  const clock = delivery.clock;
  return {
    id: webhookSinkId(webhookId),
    label: deps.label,
    async take(rows, ctx) {
      let through = (rows[0]?.seq ?? 1) - 1;
      const sub = await store.getWebhook(tenantId, webhookId);
      // Deleted or turned off since this pump started: the dispatcher stops it at its next look.
      if (sub === null || !sub.active) return { through, retryAt: clock.now().getTime() + 1000 };
      let state: WebhookDeliveryState = sub.state;
      for (const row of rows) {
        const event = eventOf(row);
        if (event === null || !wants(sub, event)) {
          through = row.seq ?? through;
          continue;
        }
        const nowMs = clock.now().getTime();
        if (state.nextAttemptAt !== null && Date.parse(state.nextAttemptAt) > nowMs) return { through, retryAt: Date.parse(state.nextAttemptAt) };
        // The lease covers the attempt (leaseMs is longer than the egress deadline): no other process attempts this subscription meanwhile.
        if (!(await ctx.holdLease())) return { through };
        const attempt = state.retryEventId === event.id ? state.retryAttempts + 1 : 1;
        const outcome = await sendEvent(delivery, sub, event, ctx.signal);
        const at = clock.now();
        const log = {
          tenantId,
          webhookId,
          id: newId('dlv'),
          eventId: event.id,
          eventType: event.type,
          attempt,
          status: outcome.status,
          failure: outcome.failure,
          latencyMs: outcome.latencyMs,
          at: at.toISOString(),
          manual: false,
        };
        if (outcome.ok) {
          await store.recordWebhookAttempt(tenantId, log, null);
          state = { failingSince: null, failures: 0, nextAttemptAt: null, retryEventId: null, retryAttempts: 0 };
          through = row.seq ?? through;
          continue;
        }
        const failingSince = state.failingSince ?? at.toISOString();
        const failures = state.failures + 1;
        const disable = at.getTime() - Date.parse(failingSince) >= policy.disableAfterMs && failures >= MIN_FAILURES_TO_DISABLE;
        const retryAt = at.getTime() + backoffMs(policy, failures);
        const next: WebhookDeliveryState = {
          failingSince,
          failures,
          nextAttemptAt: new Date(retryAt).toISOString(),
          retryEventId: event.id,
          retryAttempts: attempt,
        };
        if (!disable) {
          await store.recordWebhookAttempt(tenantId, log, next);
          return { through, retryAt };
        }
        const ctxOf = systemContext(tenantId, { id: 'webhook-delivery', name: 'webhook delivery' });
        await store.recordWebhookAttempt(tenantId, log, next, {
          reason: 'failure_streak',
          at: at.toISOString(),
          audit: [
            deps.audit.event(ctxOf, 'webhook.disabled', { type: 'webhook', id: webhookId }, 'success', null, {
              webhook_id: webhookId,
              reason: 'failure_streak',
              failing_since: failingSince,
              failures,
              last_event_id: event.id,
            }),
          ],
        });
        deps.onDisabled(tenantId);
        return { through, retryAt: Number.MAX_SAFE_INTEGER };
      }
      return { through };
    },
    async close() {},
  };
}

/** The subscription for logs: its id and where it points, without a query string or user info. */
export function webhookLabel(id: string, url: string): string {
  try {
    return `webhook ${id} ${redactUrl(url)}`;
  } catch {
    return `webhook ${id}`;
  }
}
