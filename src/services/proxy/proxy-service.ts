import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import type { Catalog } from '../../catalog/catalog.js';
import type { Clock } from '../../domain/clock.js';
import { LatchkeyError } from '../../domain/errors.js';
import type { RequestContext } from '../../domain/principal.js';
import { EGRESS_REFUSED_MESSAGE, EgressFailed, EgressRefused, type EgressGuard } from '../../egress/egress-guard.js';
import type { AuditService } from '../audit/audit-service.js';
import type { CredentialsService } from '../credentials/credentials-service.js';
import type { DerivedTokens } from '../tokens/derived-tokens.js';
import { hostAllowed } from './allowed-hosts.js';
import { outsideRules } from './proxy-rules.js';
import { checkUsable, injectorFor, type Injected } from './injection.js';
import { AnswerTooLarge, formsOf, scrubHeader, SecretScrubber } from './scrub.js';

export interface ProxyRequest {
  credentialId: string;
  /** `x-latchkey-target`: scheme, host, optional port and base path of the destination. */
  target: string | undefined;
  /** What follows `/proxy` in the caller's URL, raw: path and query. */
  rest: string;
  method: string;
  headers: IncomingHttpHeaders;
  /** The caller's body, unread; null for a request without one. */
  body: Readable | null;
}

/** How a use ended, for the audit event and /metrics. */
export interface UseResult {
  injection: string;
  /** The target's status, or null when it never answered. */
  status: number | null;
  /** `ok`, or the failure category (remote-failure.ts) / `too_large` / `aborted`. */
  outcome: string;
  bytes: number;
  durationMs: number;
}

export interface ProxyResponse {
  status: number;
  headers: Record<string, string | string[]>;
  body: Readable;
}

export interface ProxyService {
  /**
   * Checks, injects and sends; resolves with the target's answer once its head is in (3xx
   * included: redirects are the caller's to follow, through the proxy again). `finished` settles
   * when the answer has been streamed (or failed), after the result is audited.
   */
  forward(ctx: RequestContext, req: ProxyRequest, finished: (r: UseResult) => void): Promise<ProxyResponse>;
}

/**
 * Hop-by-hop headers (RFC 9110 §7.6.1) are this connection's, never forwarded; `host` is the
 * target's; `expect` is answered by Node itself. The others are Latchkey's: the caller's key
 * (`authorization`), tenant selection and request id, and every `x-latchkey-*` header. Forwarding
 * headers (`forwarded`, `x-forwarded-*`, `x-real-ip`) would tell the target about our network.
 */
const NOT_FORWARDED = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
  'proxy-authenticate',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  'expect',
  'authorization',
  'x-tenant-id',
  'x-request-id',
  'forwarded',
  'x-real-ip',
  'accept-encoding',
]);
const NOT_RETURNED = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  // The scrubbed body may differ in length from the target's.
  'content-length',
]);

/** Tokens of a `connection` header: more headers that are this hop's only. */
function connectionTokens(value: string | string[] | undefined): Set<string> {
  const all = Array.isArray(value) ? value.join(',') : (value ?? '');
  return new Set(
    all
      .split(',')
      .map((t) => t.trim().toLowerCase())
      .filter((t) => t !== ''),
  );
}

function parseTarget(raw: string | undefined, rest: string): URL {
  if (raw === undefined || raw === '')
    throw new LatchkeyError('INVALID_PARAMETER', 'x-latchkey-target is required: the destination, e.g. https://api.example.com');
  let base: URL;
  try {
    base = new URL(raw);
  } catch {
    throw new LatchkeyError('INVALID_PARAMETER', 'x-latchkey-target is not a URL');
  }
  if ((base.protocol !== 'https:' && base.protocol !== 'http:') || base.username !== '' || base.password !== '' || base.search !== '' || base.hash !== '') {
    throw new LatchkeyError('INVALID_PARAMETER', 'x-latchkey-target must be http(s)://host[:port][/base path], without user info, query or fragment');
  }
  const path = rest === '' || rest.startsWith('/') || rest.startsWith('?') ? rest : `/${rest}`;
  const url = new URL(`${base.origin}${base.pathname.replace(/\/+$/, '')}${path}`);
  if (url.origin !== base.origin) throw new LatchkeyError('INVALID_PARAMETER', 'the proxied path must stay on the target');
  return url;
}

export function createProxyService(deps: {
  credentials: Pick<CredentialsService, 'use'>;
  catalog: Catalog;
  egress: Pick<EgressGuard, 'open'>;
  audit: Pick<AuditService, 'event' | 'appendSoon'>;
  tokens: Pick<DerivedTokens, 'derive'>;
  clock: Clock;
  timeoutMs: number;
  maxResponseBytes: number;
  onAuditFailure: (err: unknown) => void;
}): ProxyService {
  const { credentials, catalog, egress, audit, clock } = deps;

  return {
    async forward(ctx, req, finished) {
      const url = parseTarget(req.target, req.rest);
      const method = req.method.toUpperCase();
      // The audit event names where the secret went, never the query (it may carry data or a key).
      const what = `${method} ${url.host}${url.pathname}`.slice(0, 1000);
      const { credential, secret } = await credentials.use(ctx, req.credentialId, (c) => {
        if (!hostAllowed(c.allowedHosts, url)) {
          throw new LatchkeyError('FORBIDDEN', `The target host ${url.host} is not in the allowed_hosts of credential ${c.id}`);
        }
        const outside = outsideRules(c.proxyRules, method, url);
        if (outside !== null) throw new LatchkeyError('FORBIDDEN', `The request is outside the proxy_rules of credential ${c.id}: ${outside}`);
        // An injection the proxy cannot make is refused before anything is decrypted or audited.
        checkUsable(catalog.get(c.type), c, url);
        return what;
      });
      const type = checkUsable(catalog.get(credential.type), credential, url);
      const injector = injectorFor(type, credential, secret, () => deps.tokens.derive(credential, secret));
      const started = Date.now();
      const base = { injection: type.injection.kind };
      const report = (status: number | null, outcome: string, bytes: number): void => {
        const r: UseResult = { ...base, status, outcome, bytes, durationMs: Date.now() - started };
        const reason = `${what} -> ${status ?? '-'} ${outcome}, ${bytes} bytes, ${r.durationMs} ms`;
        // Nothing waits on it (the answer is out): it joins the next group commit (audit-service.ts).
        audit
          .appendSoon(audit.event(ctx, 'credential.use_result', { type: 'credential', id: credential.id }, outcome === 'ok' ? 'success' : 'failure', reason))
          .catch(deps.onAuditFailure)
          .finally(() => finished(r));
      };

      const dropped = connectionTokens(req.headers.connection);
      const headers: Record<string, string | string[]> = {};
      for (const [name, value] of Object.entries(req.headers)) {
        if (value === undefined || NOT_FORWARDED.has(name) || dropped.has(name) || name.startsWith('x-latchkey-') || name.startsWith('x-forwarded-')) continue;
        headers[name] = value;
      }
      // The answer is scrubbed of the injected values, which needs its bytes as they are.
      headers['accept-encoding'] = 'identity';

      let body: Readable | Buffer | null = req.body;
      if (injector.needsBody) {
        body = req.body === null ? Buffer.alloc(0) : await buffer(req.body);
      }
      let injected: Injected;
      try {
        injected = await injector.inject({ method, url, headers, body: Buffer.isBuffer(body) ? body : null, now: clock.now() });
      } catch (err) {
        // A token that could not be minted or obtained: nothing was sent to the target.
        report(null, 'no_token', 0);
        throw err;
      }
      for (const name of injected.remove ?? []) delete headers[name];
      for (const [name, value] of Object.entries(injected.headers)) headers[name] = value;
      if (injected.search !== undefined) url.search = injected.search;
      if (Buffer.isBuffer(body)) {
        headers['content-length'] = String(body.length);
        delete headers['transfer-encoding'];
      }
      for (const [name, value] of injected.query) {
        // The caller's parameter of that name is replaced, not joined: a target may read the first.
        url.searchParams.delete(name);
        url.searchParams.append(name, value);
      }
      const forms = formsOf(injected.secrets);

      const signal = AbortSignal.timeout(deps.timeoutMs);
      let res: IncomingMessage;
      try {
        res = await egress.open({ method, url: url.toString(), headers, body, signal, ...(injected.tls ? { tls: injected.tls } : {}) });
      } catch (err) {
        const category = err instanceof EgressRefused ? 'refused' : err instanceof EgressFailed ? err.category : 'connect_failed';
        report(null, category, 0);
        if (err instanceof EgressRefused) throw new LatchkeyError('FORBIDDEN', `The target ${EGRESS_REFUSED_MESSAGE}`);
        if (category === 'timeout') throw new LatchkeyError('UPSTREAM_TIMEOUT', `No answer from the target within ${deps.timeoutMs} ms`);
        throw new LatchkeyError('UPSTREAM_FAILED', `The target could not be reached: ${category}`);
      }
      const status = res.statusCode ?? 502;
      const encoding = res.headers['content-encoding'];
      const declared = Number(res.headers['content-length'] ?? NaN);
      const refuse = (outcome: string, message: string): never => {
        res.destroy();
        report(status, outcome, 0);
        throw new LatchkeyError('UPSTREAM_FAILED', message);
      };
      if (encoding !== undefined && encoding.toLowerCase() !== 'identity') {
        refuse(
          'bad_response',
          `The target answered with content-encoding ${encoding.slice(0, 40)} although asked for identity; an encoded answer cannot be checked for the credential, so it is not passed on`,
        );
      }
      if (Number.isFinite(declared) && declared > deps.maxResponseBytes)
        refuse('too_large', `The target's answer is larger than ${deps.maxResponseBytes} bytes`);

      const back = connectionTokens(res.headers.connection);
      const out: Record<string, string | string[]> = {};
      for (const [name, value] of Object.entries(res.headers)) {
        if (value === undefined || NOT_RETURNED.has(name) || back.has(name)) continue;
        out[name] = Array.isArray(value) ? value.map((v) => scrubHeader(v, forms)) : scrubHeader(value, forms);
      }
      const scrubbed = new SecretScrubber(forms.bytes, deps.maxResponseBytes);
      let reported = false;
      const settle = (outcome: string): void => {
        if (reported) return;
        reported = true;
        report(status, outcome, scrubbed.bytes);
      };
      res.on('error', (err) => {
        settle(signal.aborted ? 'timeout' : 'aborted');
        scrubbed.destroy(err);
      });
      scrubbed.on('error', (err) => settle(signal.aborted ? 'timeout' : err instanceof AnswerTooLarge ? 'too_large' : 'aborted'));
      scrubbed.on('end', () => settle('ok'));
      scrubbed.on('close', () => {
        // Cut off (too large) or the caller went away before the end: stop reading from the target too.
        if (!res.readableEnded) res.destroy();
        settle('aborted');
      });
      res.pipe(scrubbed);
      return { status, headers: out, body: scrubbed };
    },
  };
}
