import { isIP } from 'node:net';
import { resolve } from 'node:path';
import type { Logger } from 'pino';
import type { AuditSink } from './audit-sink.js';
import { createFileSink, createStdoutSink } from './json-lines-sink.js';
import { EgressAllowList, createEgressGuard } from '../../../egress/egress-guard.js';
import { createWebhookSink, type WebhookSend } from './webhook-sink.js';

export type AuditSinkTarget = { kind: 'stdout' } | { kind: 'file'; path: string } | { kind: 'webhook'; url: string };

function isLoopback(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, '');
  if (h === 'localhost') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  return h === '::1';
}

/**
 * `LATCHKEY_AUDIT_SINK`: unset (no sink), `stdout`, `file:/path/events.jsonl`, or an `https://`
 * URL. Plain `http://` only to a loopback address (a collector on the same host): the stream
 * names who revealed what and must not cross a network in clear. Throws with a plain message.
 */
export function parseAuditSinkTarget(raw: string | undefined): AuditSinkTarget | null {
  if (raw === undefined || raw.trim() === '') return null;
  const v = raw.trim();
  if (v === 'stdout') return { kind: 'stdout' };
  if (v.startsWith('file:')) {
    const path = v.slice('file:'.length);
    if (path === '') throw new Error('LATCHKEY_AUDIT_SINK file: needs a path, e.g. file:/var/log/latchkey/audit.jsonl');
    return { kind: 'file', path: resolve(path) };
  }
  let url: URL;
  try {
    url = new URL(v);
  } catch {
    throw new Error('LATCHKEY_AUDIT_SINK must be stdout, file:/path or an https:// URL');
  }
  if (url.protocol === 'https:' || (url.protocol === 'http:' && isLoopback(url.hostname))) return { kind: 'webhook', url: url.toString() };
  if (url.protocol === 'http:') throw new Error('LATCHKEY_AUDIT_SINK must use https:// (plain http:// is allowed only to a loopback address)');
  throw new Error('LATCHKEY_AUDIT_SINK must be stdout, file:/path or an https:// URL');
}

/**
 * The webhook's way out is the egress guard, with the sink's own host as the one exception to
 * its private-range rule: the operator named that host (collectors usually live on an internal
 * network), so it may be private; a redirect elsewhere is not followed and a name that resolves
 * somewhere else between check and connect cannot move the call.
 */
function guardedSend(url: string): WebhookSend {
  const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
  const guard = createEgressGuard({ allow: new EgressAllowList([host]), timeoutMs: 10_000, maxResponseBytes: 64 * 1024, maxRedirects: 0 });
  return async (req) => {
    const res = await guard.request({ method: 'POST', url: req.url, headers: req.headers, body: req.body });
    return { status: res.status };
  };
}

export function createAuditSink(target: AuditSinkTarget, opts: { secret: string | null; logger: Logger }): AuditSink {
  switch (target.kind) {
    case 'stdout':
      return createStdoutSink();
    case 'file':
      return createFileSink(target.path);
    case 'webhook':
      return createWebhookSink({ url: target.url, send: guardedSend(target.url), secret: opts.secret, logger: opts.logger });
  }
}
