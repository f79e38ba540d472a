import { createPrivateKey, randomUUID, type KeyObject } from 'node:crypto';
import { LatchkeyError } from '../../domain/errors.js';
import type { Derived } from './token-cache.js';

/**
 * A JWT (RFC 7519) for one `jwt` credential, signed by jose: the claims template of
 * `config.claims` (iss, sub, aud and any custom claim), then `iat` now, `exp` = now +
 * `config.ttl_seconds` and a fresh `jti` — these three are always the server's, so a template
 * cannot make a token that never expires or one whose id repeats. The JOSE header is
 * `config.header` (kid, typ, …) with `alg` from `config.algorithm`.
 */
export async function mintJwt(config: Record<string, unknown>, signingKey: string, now: Date): Promise<Derived> {
  const { SignJWT } = await import('jose');
  const alg = String(config.algorithm);
  const ttl = typeof config.ttl_seconds === 'number' ? config.ttl_seconds : 300;
  const iat = Math.floor(now.getTime() / 1000);
  const claims = { ...((config.claims as Record<string, unknown> | undefined) ?? {}), iat, exp: iat + ttl, jti: randomUUID() };
  const header = { ...((config.header as Record<string, string> | undefined) ?? {}), alg };
  let key: KeyObject | Uint8Array;
  try {
    key = alg.startsWith('HS') ? new TextEncoder().encode(signingKey) : createPrivateKey(signingKey);
  } catch {
    // The key's text never goes into the message: only that it is not a private key.
    throw new LatchkeyError('CONFLICT', `The credential's signing_key is not a PEM private key, which ${alg} needs`);
  }
  let token: string;
  try {
    token = await new SignJWT(claims).setProtectedHeader(header).sign(key);
  } catch {
    throw new LatchkeyError('CONFLICT', `The credential's signing_key cannot sign ${alg} (a key of another kind or size)`);
  }
  return { kind: 'jwt', values: { token }, expiresAt: new Date((iat + ttl) * 1000).toISOString() };
}
