import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/**
 * AES-256-GCM with a fresh 96-bit nonce per message (NIST SP 800-38D). The AAD is never stored:
 * it is rebuilt from where the ciphertext lives, so a blob moved to another row fails to open.
 */
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const FORMAT = 1;
const HEADER_BYTES = 1 + 4 + NONCE_BYTES + TAG_BYTES;

export class DecryptionRefused extends Error {
  constructor() {
    super('ciphertext does not open under this key and context');
    this.name = 'DecryptionRefused';
  }
}

/** Layout: format(1) | key version(u32 BE) | nonce(12) | tag(16) | ciphertext. */
export function seal(key: Buffer, keyVersion: number, plaintext: Buffer, aad: Buffer): Buffer {
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(aad);
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  const header = Buffer.alloc(HEADER_BYTES);
  header.writeUInt8(FORMAT, 0);
  header.writeUInt32BE(keyVersion, 1);
  nonce.copy(header, 5);
  cipher.getAuthTag().copy(header, 5 + NONCE_BYTES);
  return Buffer.concat([header, body]);
}

export function keyVersionOf(blob: Buffer): number {
  if (blob.length < HEADER_BYTES || blob.readUInt8(0) !== FORMAT) throw new DecryptionRefused();
  return blob.readUInt32BE(1);
}

export function open(key: Buffer, blob: Buffer, aad: Buffer): Buffer {
  if (blob.length < HEADER_BYTES || blob.readUInt8(0) !== FORMAT) throw new DecryptionRefused();
  const nonce = blob.subarray(5, 5 + NONCE_BYTES);
  const tag = blob.subarray(5 + NONCE_BYTES, HEADER_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
  decipher.setAAD(aad);
  decipher.setAuthTag(tag);
  try {
    return Buffer.concat([decipher.update(blob.subarray(HEADER_BYTES)), decipher.final()]);
  } catch {
    throw new DecryptionRefused();
  }
}

/** AAD for a credential secret: tenant, credential, version and slot, NUL-separated (ids cannot hold NUL). */
export function secretAad(tenantId: string, credentialId: string, version: number, slot: 'secret' | 'test_secret'): Buffer {
  return Buffer.from(`lk1\0secret\0${tenantId}\0${credentialId}\0${version}\0${slot}`, 'utf8');
}

export function purposeAad(purpose: string, ...parts: string[]): Buffer {
  return Buffer.from(['lk1', purpose, ...parts].join('\0'), 'utf8');
}
