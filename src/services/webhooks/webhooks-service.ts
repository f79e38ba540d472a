import type { Keyring } from '../../crypto/keyring.js';
import type { Clock } from '../../domain/clock.js';
import { LatchkeyError, validationFailed } from '../../domain/errors.js';
import { newId } from '../../domain/ids.js';
import { requirePermission, type RequestContext } from '../../domain/principal.js';
import { EgressRefused, type EgressGuard } from '../../egress/egress-guard.js';
import type { Store, WebhookAttemptRow, WebhookDeliveryState, WebhookRow } from '../../store/port.js';
import type { AuditService } from '../audit/audit-service.js';
import { eventOf, type EventType } from '../events/event-types.js';
import { sendEvent } from './webhook-delivery.js';
import { newSigningSecret, webhookSecretAad } from './webhook-signature.js';

export interface WebhookInput {
  url: string;
  event_types?: EventType[] | null;
  team_id?: string | null;
  active?: boolean;
  description?: string;
}

export type WebhookPatch = Partial<WebhookInput>;

export type WebhookWithState = WebhookRow & { state: WebhookDeliveryState };

export interface WebhooksService {
  /** The secret is in this answer only. */
  create(ctx: RequestContext, input: WebhookInput): Promise<{ row: WebhookWithState; secret: string }>;
  list(ctx: RequestContext): Promise<WebhookWithState[]>;
  get(ctx: RequestContext, id: string): Promise<WebhookWithState>;
  update(ctx: RequestContext, id: string, patch: WebhookPatch, expectedRevision?: number): Promise<WebhookWithState>;
  remove(ctx: RequestContext, id: string, expectedRevision?: number): Promise<void>;
  /** A new secret (in this answer only); the old one signs too for `overlapSeconds`. */
  rotateSecret(ctx: RequestContext, id: string, overlapSeconds?: number): Promise<{ row: WebhookWithState; secret: string }>;
  deliveries(ctx: RequestContext, id: string, before: string | null, limit: number): Promise<WebhookAttemptRow[]>;
  /** Sends one event of the tenant's chain to the subscription again, now, out of order; logs it as a manual attempt. */
  redeliver(ctx: RequestContext, id: string, eventId: string): Promise<WebhookAttemptRow>;
}

/** A tenant's subscriptions are few and all looked at by every process: a cap keeps it that way. */
export const MAX_WEBHOOKS_PER_TENANT = 50;
export const DEFAULT_OVERLAP_SECONDS = 86_400;

const notFound = (id: string): LatchkeyError => new LatchkeyError('WEBHOOK_NOT_FOUND', `No webhook ${id} in this tenant`);

export function createWebhooksService(deps: {
  store: Pick<Store, 'getTeam' | 'insertWebhook' | 'getWebhook' | 'listWebhooks' | 'countWebhooks' | 'updateWebhook' | 'deleteWebhook'> &
    Pick<Store, 'listWebhookAttempts' | 'countWebhookAttempts' | 'getSealedAuditEvent' | 'recordWebhookAttempt'>;
  keyring: Pick<Keyring, 'sealFor' | 'openFor'>;
  audit: Pick<AuditService, 'event'>;
  clock: Clock;
  egress: EgressGuard;
  /** A subscription of this tenant changed (delivery processes look again). */
  onChange(tenantId: string): void;
}): WebhooksService {
  const { store, keyring, audit, clock, egress } = deps;

  const load = async (ctx: RequestContext, id: string): Promise<WebhookWithState> => {
    requirePermission(ctx, 'webhooks:manage');
    const row = await store.getWebhook(ctx.principal.tenantId, id);
    if (row === null) throw notFound(id);
    return row;
  };

  /** Where deliveries may go: what the egress guard allows (public https; http and private addresses only where the operator allows). Checked again at every attempt. */
  const checkUrl = async (url: string): Promise<void> => {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw validationFailed([{ path: 'url', message: 'must be an absolute URL' }]);
    }
    if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') throw validationFailed([{ path: 'url', message: 'must be https://' }]);
    try {
      await egress.check(url);
    } catch (err) {
      if (!(err instanceof EgressRefused)) throw err;
      throw validationFailed([
        { path: 'url', message: 'must be public https, without user info (http and private addresses only where the operator allows: LATCHKEY_EGRESS_ALLOW)' },
      ]);
    }
  };

  const checkTeam = async (tenantId: string, teamId: string | null | undefined): Promise<void> => {
    if (teamId === null || teamId === undefined) return;
    if (!(await store.getTeam(tenantId, teamId))) throw validationFailed([{ path: 'team_id', message: `no team ${teamId} in this tenant` }]);
  };

  const sealSecret = (tenantId: string, id: string, version: number, secret: string): Promise<Buffer> =>
    keyring.sealFor(tenantId, Buffer.from(secret, 'utf8'), webhookSecretAad(tenantId, id, version));

  const changed = async (tenantId: string, id: string): Promise<WebhookWithState> => {
    deps.onChange(tenantId);
    const row = await store.getWebhook(tenantId, id);
    if (row === null) throw notFound(id);
    return row;
  };

  return {
    async create(ctx, input) {
      requirePermission(ctx, 'webhooks:manage');
      const tenantId = ctx.principal.tenantId;
      await checkUrl(input.url);
      await checkTeam(tenantId, input.team_id);
      if ((await store.countWebhooks(tenantId)) >= MAX_WEBHOOKS_PER_TENANT)
        throw new LatchkeyError('CONFLICT', `A tenant has at most ${MAX_WEBHOOKS_PER_TENANT} webhook subscriptions`);
      const id = newId('whk');
      const secret = newSigningSecret();
      const now = clock.now().toISOString();
      const row: WebhookRow = {
        tenantId,
        id,
        url: input.url,
        description: input.description ?? '',
        eventTypes: input.event_types ?? null,
        teamId: input.team_id ?? null,
        active: input.active ?? true,
        disabledReason: null,
        sealedSecret: await sealSecret(tenantId, id, 1, secret),
        sealedPreviousSecret: null,
        previousSecretExpiresAt: null,
        secretVersion: 1,
        revision: 1,
        createdAt: now,
        updatedAt: now,
      };
      await store.insertWebhook(tenantId, row, [audit.event(ctx, 'webhook.create', { type: 'webhook', id })]);
      return { row: await changed(tenantId, id), secret };
    },

    async list(ctx) {
      requirePermission(ctx, 'webhooks:manage');
      return store.listWebhooks(ctx.principal.tenantId);
    },

    get: load,

    async update(ctx, id, patch, expectedRevision) {
      const current = await load(ctx, id);
      if (expectedRevision !== undefined && expectedRevision !== current.revision)
        throw new LatchkeyError('PRECONDITION_FAILED', 'The webhook changed since that ETag');
      if (patch.url !== undefined) await checkUrl(patch.url);
      if (patch.team_id !== undefined) await checkTeam(current.tenantId, patch.team_id);
      const active = patch.active ?? current.active;
      const row: WebhookRow = {
        ...current,
        url: patch.url ?? current.url,
        description: patch.description ?? current.description,
        eventTypes: patch.event_types === undefined ? current.eventTypes : patch.event_types,
        teamId: patch.team_id === undefined ? current.teamId : patch.team_id,
        active,
        // Turned back on: the server's reason for turning it off no longer holds.
        disabledReason: active ? null : current.disabledReason,
        revision: current.revision + 1,
        updatedAt: clock.now().toISOString(),
      };
      const r = await store.updateWebhook(current.tenantId, row, current.revision, active && !current.active, [
        audit.event(ctx, 'webhook.update', { type: 'webhook', id }, 'success', null, { active }),
      ]);
      if (r === 'stale') throw new LatchkeyError('PRECONDITION_FAILED', 'The webhook changed while this request ran');
      return changed(current.tenantId, id);
    },

    async remove(ctx, id, expectedRevision) {
      const current = await load(ctx, id);
      const r = await store.deleteWebhook(current.tenantId, id, expectedRevision ?? null, [audit.event(ctx, 'webhook.delete', { type: 'webhook', id })]);
      if (r === 'stale') throw new LatchkeyError('PRECONDITION_FAILED', 'The webhook changed since that ETag');
      deps.onChange(current.tenantId);
    },

    async rotateSecret(ctx, id, overlapSeconds = DEFAULT_OVERLAP_SECONDS) {
      const current = await load(ctx, id);
      const secret = newSigningSecret();
      const now = clock.now();
      const version = current.secretVersion + 1;
      const row: WebhookRow = {
        ...current,
        sealedSecret: await sealSecret(current.tenantId, id, version, secret),
        // The old secret keeps the AAD it was sealed with (version - 1); no overlap: it is dropped now.
        sealedPreviousSecret: overlapSeconds > 0 ? current.sealedSecret : null,
        previousSecretExpiresAt: overlapSeconds > 0 ? new Date(now.getTime() + overlapSeconds * 1000).toISOString() : null,
        secretVersion: version,
        revision: current.revision + 1,
        updatedAt: now.toISOString(),
      };
      const r = await store.updateWebhook(current.tenantId, row, current.revision, false, [
        audit.event(ctx, 'webhook.rotate_secret', { type: 'webhook', id }, 'success', null, { overlap_seconds: overlapSeconds }),
      ]);
      if (r === 'stale') throw new LatchkeyError('PRECONDITION_FAILED', 'The webhook changed while this request ran');
      return { row: await changed(current.tenantId, id), secret };
    },

    async deliveries(ctx, id, before, limit) {
      const sub = await load(ctx, id);
      return store.listWebhookAttempts(sub.tenantId, id, before, limit);
    },

    async redeliver(ctx, id, eventId) {
      const sub = await load(ctx, id);
      const row = await store.getSealedAuditEvent(sub.tenantId, eventId);
      const event = row === null ? null : eventOf(row);
      if (event === null) throw new LatchkeyError('AUDIT_EVENT_NOT_FOUND', `No event ${eventId} in this tenant`);
      const outcome = await sendEvent({ egress, keyring, clock }, sub, event, new AbortController().signal);
      const attempt: WebhookAttemptRow = {
        tenantId: sub.tenantId,
        webhookId: id,
        id: newId('dlv'),
        eventId: event.id,
        eventType: event.type,
        attempt: (await store.countWebhookAttempts(sub.tenantId, id, event.id)) + 1,
        status: outcome.status,
        failure: outcome.failure,
        latencyMs: outcome.latencyMs,
        at: clock.now().toISOString(),
        manual: true,
      };
      // The streak is the pump's business: a manual attempt leaves the delivery state as it is.
      await store.recordWebhookAttempt(sub.tenantId, attempt, 'unchanged');
      return attempt;
    },
  };
}
