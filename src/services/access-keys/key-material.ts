import { hash, randomBytes } from 'node:crypto';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** 32 random bytes as base62 (about 43 chars): long enough that a fast hash is the right store. */
function base62(bytes: Buffer): string {
  let n = BigInt('0x' + bytes.toString('hex'));
  let out = '';
  while (n > 0n) {
    out = ALPHABET[Number(n % 62n)] + out;
    n /= 62n;
  }
  return out.padStart(43, 'A');
}

export function newAccessKeyMaterial(env: string): { key: string; prefix: string; hash: Buffer } {
  const marker = `lk_${env}_`;
  const key = marker + base62(randomBytes(32));
  return { key, prefix: key.slice(0, marker.length + 8), hash: hashAccessKey(key) };
}

export function hashAccessKey(key: string): Buffer {
  return Buffer.from(hashAccessKeyHex(key), 'hex');
}

/** The same hash as hex: node's one-shot `hash` is about 4× cheaper than a Hash object per request. */
export function hashAccessKeyHex(key: string): string {
  return hash('sha256', key, 'hex');
}

/** Keys look like `lk_<env>_<base62>`; anything else is refused before any lookup. */
export const ACCESS_KEY_RE = /^lk_[a-z0-9]{1,16}_[A-Za-z0-9]{43}$/;
