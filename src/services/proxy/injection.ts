import { createHmac } from 'node:crypto';
import type { CredentialType } from '../../catalog/catalog.js';
import { LatchkeyError, validationFailed } from '../../domain/errors.js';
import type { CredentialRow } from '../../store/port.js';
import type { Derived } from '../tokens/derived-tokens.js';
import { checkAwsUsable } from '../tokens/aws-assume-role.js';
import { renderTemplate } from '../tokens/http-request-chain.js';
import { signAwsRequest, signingScope, type AwsKeys } from './inject-aws-sigv4.js';

/** A client certificate presented at the TLS handshake (mtls). */
export interface TlsIdentity {
  cert: string;
  key: string;
  passphrase?: string;
  /** CA certificates the target's certificate must chain to; absent: the system roots. */
  ca?: string;
  /** SNI and the name the target's certificate is checked against, when not the URL's host. */
  servername?: string;
}

/** What goes into one outgoing request, and what must therefore never come back out. */
export interface Injected {
  headers: Record<string, string>;
  query: Array<[string, string]>;
  /** Replaces the URL's query as a whole (`?a=b`, or ''): a signature covers its exact encoding. */
  search?: string;
  /** Caller headers dropped because the injection owns their name even when it does not set them. */
  remove?: string[];
  tls?: TlsIdentity;
  /** Every value put in (and the secrets it was made from): scrubbed from the answer (scrub.ts). */
  secrets: string[];
}

/** The request as it will be sent, for injections computed over it (signatures). */
export interface OutgoingRequest {
  method: string;
  url: URL;
  headers: Record<string, string | string[]>;
  /** The whole body when `needsBody`, else null. */
  body: Buffer | null;
  now: Date;
}

export interface Injector {
  /** True when the injection is computed over the request body (an HMAC or SigV4 signature): the body is read first. */
  needsBody: boolean;
  inject(req: OutgoingRequest): Promise<Injected> | Injected;
}

/** Kinds the proxy has no implementation for: the type can be revealed, not used. */
const NOT_USABLE = new Set(['smtp', 'none']);

// Node refuses a header value with control characters (it would split the request); say so first.
const HEADER_SAFE = /^[\t\x20-\x7e\x80-\xff]*$/;

function stringField(values: Record<string, unknown>, field: string, credentialId: string): string {
  const v = values[field];
  if (typeof v !== 'string' || v === '') throw new LatchkeyError('CONFLICT', `Credential ${credentialId} has no ${field} to send`);
  return v;
}

function headerValue(value: string, field: string, credentialId: string): string {
  if (!HEADER_SAFE.test(value)) throw new LatchkeyError('CONFLICT', `Credential ${credentialId}: ${field} cannot be sent in a header (control characters)`);
  return value;
}

/** Names the connection owns: a credential that named one could split or smuggle the request. */
const RESERVED_HEADERS = new Set(['host', 'content-length', 'transfer-encoding', 'connection', 'keep-alive', 'te', 'trailer', 'upgrade', 'expect']);

function headerName(name: string, credentialId: string): string {
  const lower = name.toLowerCase();
  if (RESERVED_HEADERS.has(lower)) throw new LatchkeyError('CONFLICT', `Credential ${credentialId} names the header ${lower}, which cannot carry a credential`);
  return lower;
}

function basic(username: string, password: string): Injected {
  const pair = `${username}:${password}`;
  const value = `Basic ${Buffer.from(pair).toString('base64')}`;
  return { headers: { authorization: value }, query: [], secrets: [password, pair, value] };
}

function bearer(token: string, field: string, credentialId: string): Injected {
  const value = `Bearer ${headerValue(token, field, credentialId)}`;
  return { headers: { authorization: value }, query: [], secrets: [token, value] };
}

/**
 * The type, if the proxy can put this credential into a request sent to `target`; else the
 * refusal a caller is given. Needs no secret: it runs before anything is decrypted or audited.
 */
export function checkUsable(type: CredentialType | undefined, c: Pick<CredentialRow, 'id' | 'config'>, target: URL): CredentialType {
  if (!type) throw new LatchkeyError('CONFLICT', 'The credential has a type this server does not know');
  const inj = type.injection;
  const credentialId = c.id;
  if (NOT_USABLE.has(inj.kind)) {
    throw validationFailed([{ path: 'type', message: `is ${type.id}; its injection (${inj.kind}) cannot be used through the proxy` }]);
  }
  if (inj.kind === 'header') headerName(inj.name, credentialId);
  if (inj.kind === 'from_config' && c.config.placement !== 'query' && typeof c.config.name === 'string') headerName(c.config.name, credentialId);
  if (inj.kind === 'mtls' && target.protocol !== 'https:') {
    throw validationFailed([{ path: 'x-latchkey-target', message: 'must be https: a client certificate is presented in a TLS handshake' }]);
  }
  if (inj.kind === 'http_request') httpRequestPlacement(c.config, credentialId);
  if (inj.kind === 'aws_sigv4') {
    checkAwsUsable(c.config);
    signingScope(c.config, target, type.id === 'aws-ses' ? 'ses' : undefined);
  }
  return type;
}

const fixed = (injected: Injected): Injector => ({ needsBody: false, inject: () => injected });

/** What the proxy needs besides the credential: a short-lived token derived from it (services/tokens). */
export type Derive = () => Promise<Derived>;

/**
 * The one implementation per catalog `injection` kind (catalog.ts). `config` and `secret` are the
 * credential's; field names in the catalog name one or the other (the two never overlap).
 */
export function injectorFor(type: CredentialType, c: Pick<CredentialRow, 'id' | 'config'>, secret: Record<string, unknown>, derive: Derive): Injector {
  const inj = type.injection;
  const { config } = c;
  const credentialId = c.id;
  const values = { ...config, ...secret };
  switch (inj.kind) {
    case 'header': {
      const raw = stringField(secret, inj.field, credentialId);
      const value = headerValue(`${inj.prefix ?? ''}${raw}`, inj.field, credentialId);
      return fixed({ headers: { [headerName(inj.name, credentialId)]: value }, query: [], secrets: [raw, value] });
    }
    case 'query': {
      const raw = stringField(secret, inj.field, credentialId);
      return fixed({ headers: {}, query: [[inj.name, raw]], secrets: [raw] });
    }
    case 'basic': {
      const username = inj.username ?? stringField(values, inj.username_field ?? '', credentialId);
      return fixed(basic(username, stringField(secret, inj.password_field, credentialId)));
    }
    case 'bearer':
      return fixed(bearer(stringField(secret, inj.field, credentialId), inj.field, credentialId));
    case 'from_config': {
      // api_key: `placement`, `name` and `prefix` in config (defaults applied by the catalog on write).
      const raw = stringField(secret, 'value', credentialId);
      const name = typeof config.name === 'string' ? config.name : 'X-Api-Key';
      if (config.placement === 'query') return fixed({ headers: {}, query: [[name, raw]], secrets: [raw] });
      const value = headerValue(`${typeof config.prefix === 'string' ? config.prefix : ''}${raw}`, 'value', credentialId);
      return fixed({ headers: { [headerName(name, credentialId)]: value }, query: [], secrets: [raw, value] });
    }
    case 'webhook':
      return webhookInjector(credentialId, config, secret);
    case 'aws_sigv4':
      return awsInjector(type, c, secret, derive);
    case 'mtls':
      return fixed({ headers: {}, query: [], tls: tlsIdentity(c, secret), secrets: [stringField(secret, 'private_key', credentialId)] });
    case 'http_request':
      return {
        needsBody: false,
        async inject() {
          return placeResults(c.config, (await derive()).values, credentialId);
        },
      };
    case 'jwt':
      return {
        needsBody: false,
        async inject() {
          const token = (await derive()).values.token ?? '';
          return bearer(token, 'token', credentialId);
        },
      };
    default:
      checkUsable(type, c, new URL('https://unused.invalid'));
      throw new Error(`unhandled injection kind ${inj.kind}`);
  }
}

function awsInjector(type: CredentialType, c: Pick<CredentialRow, 'id' | 'config'>, secret: Record<string, unknown>, derive: Derive): Injector {
  const role = c.config.authentication_type === 'ROLE';
  return {
    needsBody: true,
    async inject(req) {
      let keys: AwsKeys;
      if (role) {
        const s = (await derive()).values;
        keys = { accessKeyId: s.access_key_id ?? '', secretAccessKey: s.secret_access_key ?? '', sessionToken: s.session_token ?? '' };
      } else {
        const token = typeof secret.session_token === 'string' ? secret.session_token : undefined;
        keys = {
          accessKeyId: stringField(c.config, 'access_key_id', c.id),
          secretAccessKey: stringField(secret, 'secret_access_key', c.id),
          ...(token !== undefined ? { sessionToken: token } : {}),
        };
      }
      const signed = await signAwsRequest(keys, signingScope(c.config, req.url, type.id === 'aws-ses' ? 'ses' : undefined), req);
      return { ...signed, remove: ['x-amz-date', 'x-amz-security-token', 'x-amz-content-sha256'] };
    },
  };
}

function httpRequestPlacement(config: Record<string, unknown>, credentialId: string): { headers: Record<string, string>; query: Record<string, string> } {
  const inject = (config.inject ?? {}) as { headers?: Record<string, string>; query?: Record<string, string> };
  const headers = inject.headers ?? {};
  const query = inject.query ?? {};
  if (Object.keys(headers).length + Object.keys(query).length === 0) {
    throw validationFailed([
      { path: 'config.inject', message: 'is required to use an http_request credential through the proxy: the header or query templates its results go into' },
    ]);
  }
  for (const name of Object.keys(headers)) headerName(name, credentialId);
  return { headers, query };
}

/** The chain's results in the header and query templates of `config.inject`. */
function placeResults(config: Record<string, unknown>, results: Record<string, string>, credentialId: string): Injected {
  const place = httpRequestPlacement(config, credentialId);
  const scope = { secret: {}, results };
  const headers: Record<string, string> = {};
  for (const [name, template] of Object.entries(place.headers)) {
    headers[headerName(name, credentialId)] = headerValue(
      renderTemplate(template, scope, `config.inject.headers.${name}`),
      `inject.headers.${name}`,
      credentialId,
    );
  }
  const query = Object.entries(place.query).map(([name, template]): [string, string] => [name, renderTemplate(template, scope, `config.inject.query.${name}`)]);
  return { headers, query, secrets: [...Object.values(results), ...Object.values(headers), ...query.map(([, v]) => v)] };
}

function tlsIdentity(c: Pick<CredentialRow, 'id' | 'config'>, secret: Record<string, unknown>): TlsIdentity {
  const passphrase = secret.passphrase;
  const { ca_certificate: ca, server_name: servername } = c.config;
  return {
    cert: stringField(c.config, 'certificate', c.id),
    key: stringField(secret, 'private_key', c.id),
    ...(typeof passphrase === 'string' ? { passphrase } : {}),
    ...(typeof ca === 'string' ? { ca } : {}),
    ...(typeof servername === 'string' ? { servername } : {}),
  };
}

/**
 * A webhook credential signs the way Latchkey's own audit webhook sink does, so a receiver has
 * one verifier: `x-latchkey-signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
 * The timestamp is signed too, so a receiver can refuse a replayed delivery by its age.
 */
function webhookInjector(credentialId: string, config: Record<string, unknown>, secret: Record<string, unknown>): Injector {
  const auth = config.auth_type ?? 'signing_secret';
  if (auth === 'basic') return fixed(basic(stringField(config, 'username', credentialId), stringField(secret, 'password', credentialId)));
  if (auth === 'bearer') return fixed(bearer(stringField(secret, 'token', credentialId), 'token', credentialId));
  if (auth === 'none') return fixed({ headers: {}, query: [], secrets: [] });
  const key = stringField(secret, 'signing_secret', credentialId);
  return {
    needsBody: true,
    inject({ body, now }) {
      const t = String(Math.floor(now.getTime() / 1000));
      const mac = createHmac('sha256', key)
        .update(`${t}.`)
        .update(body ?? Buffer.alloc(0))
        .digest('hex');
      return { headers: { 'x-latchkey-signature': `t=${t},v1=${mac}` }, query: [], secrets: [key] };
    },
  };
}
