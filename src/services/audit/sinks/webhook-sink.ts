import { createHash, createHmac } from 'node:crypto';
import type { Logger } from 'pino';
import { describeRemoteFailure } from '../../../domain/remote-failure.js';
import { EgressFailed, EgressRefused } from '../../../egress/egress-guard.js';
import type { AuditSink } from './audit-sink.js';

/** One POST; resolves with the status (any), rejects when no answer came. */
export type WebhookSend = (req: { url: string; headers: Record<string, string>; body: string }) => Promise<{ status: number }>;

export interface WebhookOptions {
  url: string;
  /** The way out: the egress guard (see sink-target.ts). */
  send: WebhookSend;
  /** Signs each delivery (`x-latchkey-signature: t=…,v1=HMAC-SHA256(secret, t + "." + body)`). */
  secret: string | null;
  logger: Logger;
  baseBackoffMs?: number;
  maxBackoffMs?: number;
}

export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** Rejects when `signal` aborts, so stopping does not wait for a call in flight (it ends on its own deadline). */
export function abortable<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

/** The URL for logs: scheme, host and path only (a query string or user info may carry a token). */
export function redactUrl(raw: string): string {
  const u = new URL(raw);
  return `${u.protocol}//${u.host}${u.pathname}`;
}

/**
 * POSTs each batch as JSON lines (`application/x-ndjson`) to the operator's URL and retries
 * until it answers 2xx: exponential backoff with jitter, capped at 30 s, forever — the cursor does
 * not move meanwhile, so nothing is skipped while the receiver is down, and when it is back it
 * gets the backlog in order. Redirects are not followed (a 3xx is a failure): the stream goes
 * only where the operator pointed it.
 *
 * Calls go through `send` (the egress guard: resolved addresses checked and pinned, deadline,
 * response size cap, no redirects). The target is operator configuration, never tenant input.
 */
export function createWebhookSink(o: WebhookOptions): AuditSink {
  const base = o.baseBackoffMs ?? 250;
  const cap = o.maxBackoffMs ?? 30_000;
  const label = `webhook ${redactUrl(o.url)}`;
  return {
    id: `webhook:${createHash('sha256').update(o.url).digest('hex').slice(0, 24)}`,
    label,
    async deliver(lines, signal) {
      const body = lines.join('\n') + '\n';
      const delivery = createHash('sha256').update(body).digest('hex').slice(0, 32);
      for (let attempt = 1; ; attempt++) {
        const headers: Record<string, string> = {
          'content-type': 'application/x-ndjson',
          'user-agent': 'latchkey-audit-sink',
          'x-latchkey-delivery': delivery,
          'x-latchkey-events': String(lines.length),
        };
        if (o.secret !== null) {
          const t = Math.floor(Date.now() / 1000);
          headers['x-latchkey-signature'] = `t=${t},v1=${createHmac('sha256', o.secret).update(`${t}.${body}`).digest('hex')}`;
        }
        let failure: string;
        try {
          const res = await abortable(o.send({ url: o.url, headers, body }), signal);
          if (res.status >= 200 && res.status < 300) {
            if (attempt > 1) o.logger.info({ sink: label, attempts: attempt }, 'audit sink delivered after retries');
            return;
          }
          const category = res.status === 401 || res.status === 403 ? 'auth_failed' : res.status >= 500 ? 'bad_response' : 'refused';
          failure = describeRemoteFailure({ category, status: res.status });
        } catch (err) {
          if (signal.aborted) throw err;
          // A category only (EgressFailed/EgressRefused carry one): never a body, a header or a reason.
          failure = err instanceof EgressRefused || err instanceof EgressFailed ? err.category : 'bad_response';
        }
        if (attempt === 1 || attempt % 10 === 0) o.logger.warn({ sink: label, attempt, failure }, 'audit sink delivery failed; retrying');
        const ceiling = Math.min(cap, base * 2 ** Math.min(attempt - 1, 20));
        await sleep(ceiling / 2 + Math.random() * (ceiling / 2), signal);
      }
    },
    async close() {},
  };
}
