import type { Keyring } from '../../crypto/keyring.js';
import type { Clock } from '../../domain/clock.js';
import { remoteStatus } from '../../domain/remote-failure.js';
import { EgressFailed, EgressRefused, type EgressGuard } from '../../egress/egress-guard.js';
import type { WebhookRow } from '../../store/port.js';
import { abortable } from '../audit/sinks/webhook-sink.js';
import type { LatchkeyEvent } from '../events/event-types.js';
import { signedHeaders, webhookSecretAad } from './webhook-signature.js';

/**
 * Why an attempt failed, from a fixed set: `http_status` (the receiver answered outside 2xx; the
 * status is logged beside it), or how the call itself failed (domain/remote-failure.ts): never
 * the receiver's words.
 */
export const DELIVERY_FAILURES = ['http_status', 'connect_failed', 'tls_failed', 'timeout', 'refused', 'bad_response'] as const;
export type DeliveryFailure = (typeof DELIVERY_FAILURES)[number];

export interface DeliveryOutcome {
  ok: boolean;
  /** The receiver's status, when it answered. */
  status: number | null;
  failure: DeliveryFailure | null;
  latencyMs: number;
}

export interface DeliveryDeps {
  egress: EgressGuard;
  keyring: Pick<Keyring, 'openFor'>;
  clock: Clock;
}

/** The secrets a delivery is signed with now: the current one, and the previous one during its overlap. */
export async function signingSecrets(keyring: Pick<Keyring, 'openFor'>, sub: WebhookRow, now: Date): Promise<string[]> {
  const current = (await keyring.openFor(sub.tenantId, sub.sealedSecret, webhookSecretAad(sub.tenantId, sub.id, sub.secretVersion))).toString('utf8');
  const out = [current];
  if (sub.sealedPreviousSecret !== null && sub.previousSecretExpiresAt !== null && Date.parse(sub.previousSecretExpiresAt) > now.getTime()) {
    const aad = webhookSecretAad(sub.tenantId, sub.id, sub.secretVersion - 1);
    out.push((await keyring.openFor(sub.tenantId, sub.sealedPreviousSecret, aad)).toString('utf8'));
  }
  return out;
}

/**
 * One POST of one event to a subscription, through the egress guard (checked again at every
 * attempt: a name that resolves to a private address now is refused now), no redirects followed.
 * Resolves with what happened; never throws for the receiver's sake.
 */
export async function sendEvent(deps: DeliveryDeps, sub: WebhookRow, event: LatchkeyEvent, signal: AbortSignal): Promise<DeliveryOutcome> {
  const now = deps.clock.now();
  const body = JSON.stringify(event);
  const headers = signedHeaders(await signingSecrets(deps.keyring, sub, now), event.id, Math.floor(now.getTime() / 1000), body);
  const started = performance.now();
  const took = (): number => Math.round(performance.now() - started);
  try {
    const res = await abortable(deps.egress.request({ method: 'POST', url: sub.url, headers, body }), signal);
    // The body is read (bounded by the guard) and dropped: the log keeps the status only.
    if (res.status >= 200 && res.status < 300) return { ok: true, status: res.status, failure: null, latencyMs: took() };
    return { ok: false, status: remoteStatus(res.status), failure: 'http_status', latencyMs: took() };
  } catch (err) {
    if (signal.aborted) throw err;
    const failure: DeliveryFailure = err instanceof EgressRefused || err instanceof EgressFailed ? (err.category as DeliveryFailure) : 'bad_response';
    return { ok: false, status: null, failure, latencyMs: took() };
  }
}
