import { createHmac } from 'node:crypto';
import type { CredentialType } from '../../catalog/catalog.js';
import { LatchkeyError, validationFailed } from '../../domain/errors.js';

/** What goes into one outgoing request, and what must therefore never come back out. */
export interface Injected {
  headers: Record<string, string>;
  query: Array<[string, string]>;
  /** Every value put in (and the secrets it was made from): scrubbed from the answer (scrub.ts). */
  secrets: string[];
}

export interface Injector {
  /** True when the injection is computed over the request body (an HMAC signature): the body is read first. */
  needsBody: boolean;
  inject(body: Buffer | null, nowSeconds: number): Injected;
}

/** Kinds the proxy has no implementation for yet: the type can be revealed, not used. */
const NOT_YET = new Set(['aws_sigv4', 'mtls', 'smtp', 'none']);

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
 * The type, if the proxy can put this credential into a request; else the refusal a caller is
 * given. Needs no secret: it runs before anything is decrypted or audited.
 */
export function checkUsable(type: CredentialType | undefined, credentialId: string, config: Record<string, unknown>): CredentialType {
  if (!type) throw new LatchkeyError('CONFLICT', 'The credential has a type this server does not know');
  const inj = type.injection;
  if (NOT_YET.has(inj.kind)) {
    throw validationFailed([{ path: 'type', message: `is ${type.id}; its injection (${inj.kind}) cannot be used through the proxy` }]);
  }
  if (inj.kind === 'header') headerName(inj.name, credentialId);
  if (inj.kind === 'from_config' && config.placement !== 'query' && typeof config.name === 'string') headerName(config.name, credentialId);
  return type;
}

const fixed = (injected: Injected): Injector => ({ needsBody: false, inject: () => injected });

/**
 * The one implementation per catalog `injection` kind (catalog.ts). `config` and `secret` are the
 * credential's; field names in the catalog name one or the other (the two never overlap).
 */
export function injectorFor(type: CredentialType, credentialId: string, config: Record<string, unknown>, secret: Record<string, unknown>): Injector {
  const inj = type.injection;
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
    default:
      checkUsable(type, credentialId, config);
      throw new Error(`unhandled injection kind ${inj.kind}`);
  }
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
    inject(body, nowSeconds) {
      const t = String(nowSeconds);
      const mac = createHmac('sha256', key).update(`${t}.`).update(body ?? Buffer.alloc(0)).digest('hex');
      return { headers: { 'x-latchkey-signature': `t=${t},v1=${mac}` }, query: [], secrets: [key] };
    },
  };
}
