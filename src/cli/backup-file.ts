import { createCipheriv, createDecipheriv, randomBytes, scrypt, type ScryptOptions } from 'node:crypto';
import { CliFailure } from './cli-errors.js';

/**
 * The encrypted backup file of `latchkey export` / `import`: one JSON object,
 *
 *   { "format": "latchkey-backup", "version": 1, "created_at": "…",
 *     "kdf":    { "name": "scrypt", "N": 131072, "r": 8, "p": 1, "salt": "<16 bytes, base64>" },
 *     "cipher": { "name": "aes-256-gcm", "iv": "<12 bytes, base64>" },
 *     "ciphertext": "<base64>", "tag": "<16 bytes, base64>" }
 *
 * The key is scrypt(passphrase, salt) (N = 2^17, r = 8, p = 1: the OWASP 2023 minimum for
 * scrypt, about 128 MiB and a fraction of a second per try); the plaintext is the UTF-8 JSON
 * payload, sealed with AES-256-GCM under a fresh random salt and IV each time. Everything except
 * the ciphertext and tag is the AAD, in a fixed order, so the KDF parameters and the header
 * cannot be changed (e.g. N lowered) without the tag failing. Nothing here is home-made: node:crypto
 * primitives, standard parameters.
 */

const FORMAT = 'latchkey-backup';
const VERSION = 1;
const KDF = { name: 'scrypt', N: 2 ** 17, r: 8, p: 1 } as const;

interface Header {
  format: string;
  version: number;
  created_at: string;
  kdf: { name: string; N: number; r: number; p: number; salt: string };
  cipher: { name: string; iv: string };
}

/** The AAD: the header's fields in one fixed order, whatever order the file had them in. */
function aadOf(h: Header): Buffer {
  return Buffer.from(
    JSON.stringify([h.format, h.version, h.created_at, h.kdf.name, h.kdf.N, h.kdf.r, h.kdf.p, h.kdf.salt, h.cipher.name, h.cipher.iv]),
    'utf8',
  );
}

function deriveKey(passphrase: string, salt: Buffer, p: { N: number; r: number; p: number }): Promise<Buffer> {
  const opts: ScryptOptions = { N: p.N, r: p.r, p: p.p, maxmem: 256 * p.N * p.r + 32 * 1024 * 1024 };
  return new Promise((resolve, reject) => scrypt(passphrase.normalize('NFC'), salt, 32, opts, (err, key) => (err ? reject(err) : resolve(key))));
}

export async function sealBackup(payload: unknown, passphrase: string, now = new Date()): Promise<Buffer> {
  const salt = randomBytes(16);
  const iv = randomBytes(12);
  const header: Header = {
    format: FORMAT,
    version: VERSION,
    created_at: now.toISOString(),
    kdf: { ...KDF, salt: salt.toString('base64') },
    cipher: { name: 'aes-256-gcm', iv: iv.toString('base64') },
  };
  const key = await deriveKey(passphrase, salt, KDF);
  try {
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    cipher.setAAD(aadOf(header));
    const plain = Buffer.from(JSON.stringify(payload), 'utf8');
    const ciphertext = Buffer.concat([cipher.update(plain), cipher.final()]);
    plain.fill(0);
    return Buffer.from(JSON.stringify({ ...header, ciphertext: ciphertext.toString('base64'), tag: cipher.getAuthTag().toString('base64') }) + '\n', 'utf8');
  } finally {
    key.fill(0);
  }
}

const B64 = /^[A-Za-z0-9+/]*={0,2}$/;

function b64(v: unknown, what: string, length?: number): Buffer {
  if (typeof v !== 'string' || !B64.test(v)) throw new CliFailure(`not a Latchkey backup: bad ${what}`);
  const buf = Buffer.from(v, 'base64');
  if (length !== undefined && buf.length !== length) throw new CliFailure(`not a Latchkey backup: bad ${what}`);
  return buf;
}

/** Parses and decrypts a backup; a wrong passphrase and a changed file are the same failure (GCM says only "no"). */
export async function openBackup(file: Buffer, passphrase: string): Promise<unknown> {
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(file.toString('utf8')) as Record<string, unknown>;
  } catch {
    throw new CliFailure('not a Latchkey backup (not JSON)');
  }
  if (typeof doc !== 'object' || doc === null || doc.format !== FORMAT) throw new CliFailure('not a Latchkey backup');
  if (doc.version !== VERSION) throw new CliFailure(`backup format version ${String(doc.version)} is not supported by this CLI (it reads ${VERSION})`);
  const kdf = doc.kdf as Record<string, unknown> | undefined;
  const cipher = doc.cipher as Record<string, unknown> | undefined;
  if (kdf?.name !== 'scrypt' || cipher?.name !== 'aes-256-gcm' || typeof doc.created_at !== 'string')
    throw new CliFailure('not a Latchkey backup: unknown KDF or cipher');
  const int = (v: unknown, min: number, max: number) => typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;
  // Bounds, so a crafted file cannot make us allocate gigabytes before the tag is checked.
  if (
    !int(kdf.N, 2 ** 14, 2 ** 20) ||
    ((kdf.N as number) & ((kdf.N as number) - 1)) !== 0 ||
    !int(kdf.r, 1, 32) ||
    !int(kdf.p, 1, 16) ||
    128 * (kdf.N as number) * (kdf.r as number) > 256 * 1024 * 1024
  ) {
    throw new CliFailure('not a Latchkey backup: KDF parameters out of range');
  }
  const header: Header = {
    format: FORMAT,
    version: VERSION,
    created_at: doc.created_at,
    kdf: { name: 'scrypt', N: kdf.N as number, r: kdf.r as number, p: kdf.p as number, salt: String(kdf.salt) },
    cipher: { name: 'aes-256-gcm', iv: String(cipher.iv) },
  };
  const salt = b64(kdf.salt, 'salt');
  const iv = b64(cipher.iv, 'iv', 12);
  const tag = b64(doc.tag, 'tag', 16);
  const ciphertext = b64(doc.ciphertext, 'ciphertext');
  const key = await deriveKey(passphrase, salt, header.kdf);
  let plain: Buffer;
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: 16 });
    decipher.setAAD(aadOf(header));
    decipher.setAuthTag(tag);
    plain = Buffer.concat([decipher.update(ciphertext), decipher.final()]);
  } catch {
    throw new CliFailure('cannot open the backup: wrong passphrase, or the file was changed');
  } finally {
    key.fill(0);
  }
  try {
    return JSON.parse(plain.toString('utf8'));
  } catch {
    throw new CliFailure('the backup opened but its content is not JSON');
  } finally {
    plain.fill(0);
  }
}
