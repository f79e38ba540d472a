import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { request as httpRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { LookupFunction } from 'node:net';
import type { Readable } from 'node:stream';
import { categoryOfSocketError, type RemoteFailureCategory } from '../domain/remote-failure.js';
import { createConnectionPools } from './connection-pool.js';
import { type EgressAllowList, parseIp, specialPurpose, type IpAddress } from './address-policy.js';

/**
 * The one way out for calls whose destination a tenant can choose (OAuth token, userinfo and
 * verification endpoints). Every hop:
 *  1. scheme is https — plain http only to a destination the operator allowed;
 *  2. the host is resolved once and every address is checked (no loopback, private, link-local,
 *     CGNAT, unique-local, IPv4-mapped, multicast, …) unless the operator allowed it;
 *  3. the socket connects to exactly the addresses that were checked (a pinned `lookup`), so a
 *     DNS answer that changes between check and connect (rebinding) cannot move the call;
 *  4. redirects are not followed by the HTTP stack: each Location is a new hop that goes
 *     through 1-3 again, at most `maxRedirects` of them;
 *  5. the whole call has one deadline and the response body a size cap;
 *  6. a refusal says nothing about why, and a failure only its category (domain/remote-failure):
 *     no resolved address, no socket message, no remote text reaches the caller.
 */

export type LookupAll = (hostname: string) => Promise<Array<{ address: string; family: number }>>;

/**
 * The one text of every refusal. It says neither why nor how the name resolved: "resolves to a
 * loopback address" versus "does not resolve" would let anyone who can set a URL map the
 * internal DNS. The operator reads the policy in the configuration, not in the refusal.
 */
export const EGRESS_REFUSED_MESSAGE = 'is not an allowed egress target: public https only, unless the operator allows the destination (LATCHKEY_EGRESS_ALLOW)';

/**
 * The destination is not allowed (policy), or its name does not resolve: the two look the same
 * to every caller. Nothing was sent. `unresolved` is for the refresh scheduler only (a DNS
 * failure may pass, so it is retried; a refused address is not) and is never reported.
 */
export class EgressRefused extends Error {
  override name = 'EgressRefused';
  readonly category: RemoteFailureCategory = 'refused';
  constructor(readonly unresolved = false) {
    super(`egress refused: the destination ${EGRESS_REFUSED_MESSAGE}`);
  }
}

/** The call was allowed but did not complete; only its category is known to anyone. */
export class EgressFailed extends Error {
  override name = 'EgressFailed';
  constructor(readonly category: Exclude<RemoteFailureCategory, 'auth_failed' | 'refused'>) {
    super(`outbound call failed: ${category}`);
  }
}

export interface EgressRequest {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  url: string;
  headers?: Record<string, string>;
  body?: string;
}

export interface EgressResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  /** The URL that answered (after redirects). */
  url: string;
}

/** One hop of a proxied request: any method, the body streamed, nothing buffered, no redirect followed. */
export interface EgressStreamRequest {
  method: string;
  url: string;
  headers: Record<string, string | string[]>;
  body: Readable | Buffer | null;
  /** The caller's deadline: aborting it destroys the connection, whatever stage it is in. */
  signal: AbortSignal;
  /** A client certificate for the TLS handshake (https only), with the CAs and name to check the server by. */
  tls?: { cert: string; key: string; passphrase?: string; ca?: string; servername?: string };
}

export interface EgressGuard {
  /**
   * Checks what a URL itself shows, without calling it: scheme, user info, a literal address,
   * plain http. A host name is not resolved here (it is at every call): an answer that depended
   * on how it resolves would tell the caller about the internal DNS.
   */
  check(url: string): Promise<void>;
  /**
   * For protocols other than HTTP (SMTP): the checked addresses of a host. The caller connects to
   * one of these, never to the name again, so DNS cannot change between check and connect.
   */
  resolveHost(host: string): Promise<string[]>;
  request(req: EgressRequest): Promise<EgressResponse>;
  /**
   * Sends one request through the same checks (1-3 above) and resolves with the response as soon
   * as its head arrives; the caller reads (and bounds) the body. A 3xx is returned, not followed.
   */
  open(req: EgressStreamRequest): Promise<IncomingMessage>;
}

export interface EgressOptions {
  allow: EgressAllowList;
  /** Deadline of a whole call, redirects included. */
  timeoutMs: number;
  maxResponseBytes: number;
  maxRedirects: number;
  /** Resolver; the system's (`dns.lookup`, which honours /etc/hosts) by default. */
  lookupAll?: LookupAll;
}

const systemLookupAll: LookupAll = (hostname) =>
  new Promise((resolve, reject) => {
    dnsLookup(hostname, { all: true, verbatim: true }, (err, addresses) => (err ? reject(err) : resolve(addresses)));
  });

interface Vetted {
  url: URL;
  /** Host name for the socket (no brackets). */
  host: string;
  addresses: IpAddress[];
}

function socketCategory(err: unknown): 'connect_failed' | 'tls_failed' | 'timeout' {
  return categoryOfSocketError((err as { code?: string }).code);
}

function pinnedLookup(addresses: readonly IpAddress[]): LookupFunction {
  return (_hostname, options, callback) => {
    const all: LookupAddress[] = addresses.map((a) => ({ address: a.text, family: a.family }));
    const wanted = (options as { family?: number | string }).family;
    const fam = wanted === 4 || wanted === 'IPv4' ? 4 : wanted === 6 || wanted === 'IPv6' ? 6 : 0;
    const pool = fam === 0 ? all : all.filter((a) => a.family === fam);
    const first = pool[0];
    if (first === undefined) {
      callback(Object.assign(new Error('no checked address of that family'), { code: 'ENOTFOUND' }), '', 0);
      return;
    }
    if ((options as { all?: boolean }).all) (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, pool);
    else callback(null, first.address, first.family);
  };
}

/** Methods a client may repeat without a different effect (RFC 9110 §9.2.2). */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

const isStream = (body: Readable | Buffer | null): boolean => body !== null && !Buffer.isBuffer(body);

export function createEgressGuard(opts: EgressOptions): EgressGuard {
  const lookupAll = opts.lookupAll ?? systemLookupAll;
  const { allow } = opts;
  const pools = createConnectionPools();

  async function vet(raw: string, resolve = true): Promise<Vetted> {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw new EgressRefused();
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new EgressRefused();
    if (url.username !== '' || url.password !== '') throw new EgressRefused();
    // WHATWG parsing has already turned 2130706433, 0x7f.1 and 127.1 into 127.0.0.1.
    const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    const literal = parseIp(host);
    if (!literal && !resolve) {
      if (url.protocol === 'http:' && !allow.allowsHost(host)) throw new EgressRefused();
      return { url, host, addresses: [] };
    }
    let addresses: IpAddress[];
    if (literal) addresses = [literal];
    else {
      let found: Array<{ address: string; family: number }>;
      try {
        found = await lookupAll(host);
      } catch {
        throw new EgressRefused(true);
      }
      addresses = found.map((a) => parseIp(a.address)).filter((a): a is IpAddress => a !== null);
      if (addresses.length === 0) throw new EgressRefused(true);
    }
    const hostAllowed = !literal && allow.allowsHost(host);
    // Every address must pass: a rebinding answer mixes a public and a private one.
    for (const a of addresses) {
      if (hostAllowed || allow.allowsAddress(a)) continue;
      if (specialPurpose(a) !== null) throw new EgressRefused();
    }
    if (url.protocol === 'http:' && !(hostAllowed || addresses.every((a) => allow.allowsAddress(a)))) {
      throw new EgressRefused();
    }
    return { url, host, addresses };
  }

  function once(v: Vetted, req: EgressRequest, headers: Record<string, string>, signal: AbortSignal): Promise<EgressResponse> {
    return new Promise((resolve, reject) => {
      const options: RequestOptions = {
        method: req.method,
        hostname: v.host,
        port: v.url.port === '' ? undefined : Number(v.url.port),
        path: `${v.url.pathname}${v.url.search}`,
        headers,
        lookup: pinnedLookup(v.addresses),
        // A fresh connection per call: a pooled socket could be one opened for another hop.
        agent: false,
        signal,
      };
      const send = v.url.protocol === 'https:' ? httpsRequest : httpRequest;
      const r = send(options, (res: IncomingMessage) => {
        const declared = Number(res.headers['content-length'] ?? NaN);
        if (Number.isFinite(declared) && declared > opts.maxResponseBytes) {
          res.destroy();
          reject(new EgressFailed('bad_response'));
          return;
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > opts.maxResponseBytes) {
            res.destroy();
            reject(new EgressFailed('bad_response'));
            return;
          }
          chunks.push(chunk);
        });
        res.on('end', () => {
          const flat: Record<string, string> = {};
          for (const [k, val] of Object.entries(res.headers)) if (val !== undefined) flat[k] = Array.isArray(val) ? val.join(', ') : val;
          resolve({ status: res.statusCode ?? 0, headers: flat, body: Buffer.concat(chunks), url: v.url.toString() });
        });
        res.on('error', (err) => reject(new EgressFailed(signal.aborted ? 'timeout' : socketCategory(err))));
      });
      r.on('error', (err) => {
        reject(new EgressFailed(signal.aborted ? 'timeout' : socketCategory(err)));
      });
      if (req.body !== undefined && req.method !== 'GET') r.end(req.body);
      else r.end();
    });
  }

  /** Resolution counts against the deadline too: a resolver that hangs must not hold the call. */
  function beforeDeadline<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
    if (signal.aborted) return Promise.reject(new EgressFailed('timeout'));
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => reject(new EgressFailed('timeout'));
      signal.addEventListener('abort', onAbort, { once: true });
      work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
    });
  }

  return {
    async open(req) {
      const v = await beforeDeadline(vet(req.url), req.signal);
      const https = v.url.protocol === 'https:';
      // Kept-alive connections, pooled per checked destination (connection-pool.ts); a client
      // certificate's TLS session is never shared.
      const agent =
        req.tls && https
          ? false
          : pools.agentFor(
              https ? 'https:' : 'http:',
              v.host,
              v.url.port,
              v.addresses.map((a) => a.text),
            );
      const send = (retry: boolean): Promise<IncomingMessage> =>
        new Promise<IncomingMessage>((resolve, reject) => {
          const r = (https ? httpsRequest : httpRequest)(
            {
              method: req.method,
              hostname: v.host,
              port: v.url.port === '' ? undefined : Number(v.url.port),
              path: `${v.url.pathname}${v.url.search}`,
              headers: { ...req.headers, host: v.url.host },
              lookup: pinnedLookup(v.addresses),
              agent,
              signal: req.signal,
              ...(req.tls && https ? req.tls : {}),
            },
            resolve,
          );
          r.on('error', (err) => {
            // A kept-alive connection the target closed as this request went out: nothing was
            // answered, so a request that may be repeated (RFC 9110 §9.2.2) and whose body is
            // still at hand goes once more, on a new connection.
            if (retry && r.reusedSocket && !req.signal.aborted && (err as { code?: string }).code === 'ECONNRESET') {
              send(false).then(resolve, reject);
              return;
            }
            reject(new EgressFailed(req.signal.aborted ? 'timeout' : socketCategory(err)));
          });
          const body = req.body;
          if (body === null) r.end();
          else if (Buffer.isBuffer(body)) r.end(body);
          else {
            // A caller's body that breaks off must not leave a request half sent and waiting.
            body.on('error', (err) => r.destroy(err));
            body.pipe(r);
          }
        });
      return send(agent !== false && IDEMPOTENT.has(req.method.toUpperCase()) && !isStream(req.body));
    },

    async check(url) {
      await vet(url, false);
    },

    async resolveHost(host) {
      const name = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
      const v = await beforeDeadline(vet(`https://${name}/`), AbortSignal.timeout(opts.timeoutMs));
      return v.addresses.map((a) => a.text);
    },

    async request(req) {
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(), opts.timeoutMs);
      try {
        let current: EgressRequest = req;
        for (let hop = 0; ; hop++) {
          const v = await beforeDeadline(vet(current.url), controller.signal);
          const headers: Record<string, string> = { 'user-agent': 'latchkey', ...current.headers, host: v.url.host };
          if (current.body !== undefined && current.method !== 'GET') headers['content-length'] = String(Buffer.byteLength(current.body));
          const res = await once(v, current, headers, controller.signal);
          const location = res.headers.location;
          if (res.status < 300 || res.status > 399 || res.status === 304 || location === undefined) return res;
          if (hop >= opts.maxRedirects) throw new EgressFailed('bad_response');
          let next: URL;
          try {
            next = new URL(location, v.url);
          } catch {
            throw new EgressFailed('bad_response');
          }
          // As fetch does: 303 (and 301/302 after a POST) become a GET without a body; 307/308 keep both.
          const toGet = res.status === 303 || ((res.status === 301 || res.status === 302) && current.method === 'POST');
          const sameOrigin = next.origin === v.url.origin;
          // A body may hold a client secret: it is not re-sent to another origin.
          if (!sameOrigin && !toGet && current.body !== undefined) throw new EgressFailed('bad_response');
          const carried = { ...current.headers };
          // Credentials stay with the origin they were meant for.
          if (!sameOrigin) for (const k of Object.keys(carried)) if (k.toLowerCase() === 'authorization' || k.toLowerCase() === 'cookie') delete carried[k];
          if (toGet) for (const k of Object.keys(carried)) if (k.toLowerCase() === 'content-type') delete carried[k];
          current = {
            method: toGet ? 'GET' : current.method,
            url: next.toString(),
            headers: carried,
            ...(toGet || current.body === undefined ? {} : { body: current.body }),
          };
        }
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

export { EgressAllowList } from './address-policy.js';
