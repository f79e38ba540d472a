import { LatchkeyError } from '../../domain/errors.js';
import type { EgressGuard, EgressRequest } from '../../egress/egress-guard.js';
import type { Derived } from './token-cache.js';
import { failureOfStatus, TokenSourceFailed } from './token-failures.js';

/** `{{secret.NAME}}` (a value of `secret.values`) or `{{results.FIELD}}` (an earlier request's extract). */
const PLACEHOLDER = /\{\{\s*(secret|results)\.([A-Za-z_][A-Za-z0-9_]{0,63})\s*\}\}/g;

interface ChainRequest {
  method?: EgressRequest['method'];
  url: string;
  headers?: Record<string, string>;
  body?: string;
  extract?: { field: string; json_pointer: string };
}

/**
 * Fills a template. A name that is not there fails the whole chain (it would otherwise send a
 * request with a hole in it); `encode` is for URLs, where a value is one percent-encoded part.
 */
export function renderTemplate(
  template: string,
  scope: { secret: Record<string, string>; results: Record<string, string> },
  where: string,
  encode: (v: string) => string = (v) => v,
): string {
  return template.replace(PLACEHOLDER, (_m, root: 'secret' | 'results', name: string) => {
    const value = scope[root][name];
    if (value === undefined)
      throw new LatchkeyError(
        'CONFLICT',
        `${where} uses {{${root}.${name}}}, which ${root === 'secret' ? 'secret.values does not hold' : 'no earlier request extracted'}`,
      );
    return encode(value);
  });
}

/** RFC 6901: `/a/0/b~1c` is a → 0 → "b/c". */
function atPointer(doc: unknown, pointer: string): unknown {
  if (pointer === '') return doc;
  let at: unknown = doc;
  for (const raw of pointer.slice(1).split('/')) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(at) && /^(0|[1-9]\d*)$/.test(key)) at = at[Number(key)];
    else if (at !== null && typeof at === 'object' && Object.hasOwn(at, key)) at = (at as Record<string, unknown>)[key];
    else return undefined;
  }
  return at;
}

const stringsOf = (o: unknown): Record<string, string> =>
  Object.fromEntries(Object.entries((o ?? {}) as Record<string, unknown>).filter((e): e is [string, string] => typeof e[1] === 'string'));

/**
 * Results a person stored with the credential (`secret.results`), while `config.results_expire_at`
 * says they are valid; else null (the chain is run).
 */
export function storedResults(config: Record<string, unknown>, secret: Record<string, unknown>, now: Date): Derived | null {
  const results = stringsOf(secret.results);
  const until = config.results_expire_at;
  if (Object.keys(results).length === 0 || typeof until !== 'string' || Date.parse(until) <= now.getTime()) return null;
  return { kind: 'http_request_results', values: results, expiresAt: new Date(Date.parse(until)).toISOString() };
}

/**
 * Runs `config.requests` in order through the egress guard (its checks on every hop, redirects
 * included): each URL, header and body template filled from `secret.values` and the extracts of
 * the requests before it; each `extract` read from the JSON answer by JSON Pointer. A failure is
 * its category and status only (a token endpoint's text may quote what it was sent). The results
 * are valid for `config.results_ttl_seconds`.
 */
export async function runChain(
  egress: Pick<EgressGuard, 'request'>,
  config: Record<string, unknown>,
  secret: Record<string, unknown>,
  now: Date,
): Promise<Derived> {
  const scope = { secret: stringsOf(secret.values), results: {} as Record<string, string> };
  const requests = (config.requests as ChainRequest[] | undefined) ?? [];
  for (const [i, r] of requests.entries()) {
    const where = `requests[${i}]`;
    const headers: Record<string, string> = {};
    for (const [name, template] of Object.entries(r.headers ?? {})) {
      headers[name] = renderTemplate(template, scope, `${where}.headers.${name}`);
      // A value with a line break would split the request; the message names the place, not the value.
      if (/[\r\n\0]/.test(headers[name])) throw new LatchkeyError('CONFLICT', `${where}.headers.${name} would hold a line break or NUL once filled`);
    }
    const url = renderTemplate(r.url, scope, `${where}.url`, encodeURIComponent);
    const body = r.body === undefined ? undefined : renderTemplate(r.body, scope, `${where}.body`);
    const res = await egress.request({ method: r.method ?? 'POST', url, headers, ...(body !== undefined ? { body } : {}) });
    if (res.status < 200 || res.status > 299) throw new TokenSourceFailed(failureOfStatus(res.status));
    if (!r.extract) continue;
    let doc: unknown;
    try {
      doc = JSON.parse(res.body.toString('utf8'));
    } catch {
      throw new TokenSourceFailed({ category: 'bad_response', status: res.status });
    }
    const value = atPointer(doc, r.extract.json_pointer);
    if (typeof value !== 'string' && typeof value !== 'number') throw new TokenSourceFailed({ category: 'bad_response', status: res.status });
    scope.results[r.extract.field] = String(value);
  }
  const ttl = typeof config.results_ttl_seconds === 'number' ? config.results_ttl_seconds : 3600;
  return { kind: 'http_request_results', values: scope.results, expiresAt: new Date(now.getTime() + ttl * 1000).toISOString() };
}
