import { createHash, randomBytes } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  existsSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { dirname } from 'node:path';
import { open, seal } from '../aead.js';
import { RootKeyUnavailable, type KeyProvider, type RootKeyRotation } from '../key-provider.js';

export class RootKeyError extends Error {
  override name = 'RootKeyError';
}

function decodeRootKey(text: string, source: string): Buffer {
  const key = Buffer.from(text.trim(), 'base64');
  if (key.length !== 32) throw new RootKeyError(`${source} must be 32 bytes encoded as base64 (got ${key.length} bytes)`);
  return key;
}

export function localKeyId(key: Buffer): string {
  return 'local:' + createHash('sha256').update('latchkey-root-key-id\0').update(key).digest('hex').slice(0, 16);
}

/** Reads a key file, refusing one that others may read; null when it does not exist. */
function readKeyFile(file: string): Buffer | null {
  let mode: number;
  try {
    mode = statSync(file).mode & 0o777;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  if ((mode & 0o077) !== 0) throw new RootKeyError(`root key file ${file} is readable by others (mode ${mode.toString(8)}); chmod 600 it`);
  try {
    return decodeRootKey(readFileSync(file, 'utf8'), `root key file ${file}`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/** Makes the rename that follows durable: without it a crash may bring back the old directory entry. */
function syncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Writes a 0600 file at `tmp` and fsyncs it, so it can be linked or renamed into place whole. */
function writeKeyFileDurably(tmp: string, key: Buffer): void {
  if (existsSync(tmp)) unlinkSync(tmp);
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeSync(fd, key.toString('base64') + '\n');
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  chmodSync(tmp, 0o600);
}

/**
 * The `local` provider: a 32-byte root key from LATCHKEY_ROOT_KEY or from a 0600 file that is
 * created on first start (by `serve` and `init` only: `create: false` refuses a missing file). Good for one machine; use a KMS provider when the disk is not trusted.
 *
 * Root-key rotation with a key file: the next key is written to `<file>.next` (0600) first, and
 * only once nothing in the store is wrapped by the old key does `<file>.next` replace `<file>`
 * (one atomic rename, so a reader always finds a whole key in both places it looks). With the
 * key in LATCHKEY_ROOT_KEY, the operator supplies the next key as LATCHKEY_NEW_ROOT_KEY. A
 * process meeting a value wrapped by a key it does not hold re-reads the files once: that is how
 * a running server learns of a rotation another process started or finished.
 */
export function loadLocalKeyProvider(opts: { envKey: string | undefined; envNextKey?: string | undefined; keyFile: string; create?: boolean }): {
  provider: KeyProvider;
  created: boolean;
} {
  const fromEnv = opts.envKey !== undefined && opts.envKey !== '';
  const envNext = opts.envNextKey !== undefined && opts.envNextKey !== '' ? opts.envNextKey : undefined;
  if (!fromEnv && envNext !== undefined) {
    throw new RootKeyError(`LATCHKEY_NEW_ROOT_KEY is only read with LATCHKEY_ROOT_KEY; with a key file the next key lives in ${opts.keyFile}.next`);
  }
  const nextFile = `${opts.keyFile}.next`;
  const previousFile = `${opts.keyFile}.previous`;

  /** Every key this process holds, by id; the primary is the one in LATCHKEY_ROOT_KEY or the key file. */
  let keys = new Map<string, Buffer>();
  let primaryId = '';
  let created = false;

  if (fromEnv) {
    const key = decodeRootKey(opts.envKey as string, 'LATCHKEY_ROOT_KEY');
    primaryId = localKeyId(key);
    keys.set(primaryId, key);
    if (envNext !== undefined) {
      const next = decodeRootKey(envNext, 'LATCHKEY_NEW_ROOT_KEY');
      keys.set(localKeyId(next), next);
    }
  } else {
    let key = readKeyFile(opts.keyFile);
    if (key === null && opts.create === false) {
      throw new RootKeyError(
        `no root key at ${opts.keyFile} (LATCHKEY_ROOT_KEY_FILE, default <data dir>/root.key) and LATCHKEY_ROOT_KEY is not set: run this with the server's settings`,
      );
    }
    if (key === null) {
      mkdirSync(dirname(opts.keyFile), { recursive: true, mode: 0o700 });
      key = randomBytes(32);
      writeFileSync(opts.keyFile, key.toString('base64') + '\n', { mode: 0o600, flag: 'wx' });
      chmodSync(opts.keyFile, 0o600);
      created = true;
    }
    primaryId = localKeyId(key);
    keys.set(primaryId, key);
    const next = readKeyFile(nextFile);
    if (next !== null) keys.set(localKeyId(next), next);
  }

  /** File mode: what the files say now replaces what was held, so a promoted-away key is forgotten. */
  let reloading: Promise<void> | null = null;
  const reload = (): Promise<void> => {
    if (fromEnv) return Promise.resolve();
    reloading ??= (async () => {
      try {
        const primary = readKeyFile(opts.keyFile);
        if (primary === null) return; // mid-surgery by hand; keep what we have rather than lose every key
        const fresh = new Map<string, Buffer>([[localKeyId(primary), primary]]);
        const next = readKeyFile(nextFile);
        if (next !== null) fresh.set(localKeyId(next), next);
        keys = fresh;
        primaryId = localKeyId(primary);
      } finally {
        reloading = null;
      }
    })();
    return reloading;
  };

  const keyFor = async (keyId: string | undefined): Promise<Buffer> => {
    const id = keyId ?? primaryId;
    let key = keys.get(id);
    if (!key) {
      await reload();
      key = keys.get(id);
    }
    if (!key) throw new RootKeyUnavailable(id);
    return key;
  };

  const rotation: RootKeyRotation = {
    nextKeySource: fromEnv ? 'LATCHKEY_NEW_ROOT_KEY' : nextFile,
    async stageNext() {
      if (fromEnv) {
        if (envNext === undefined) {
          throw new RootKeyError('the root key comes from LATCHKEY_ROOT_KEY: set LATCHKEY_NEW_ROOT_KEY to the new key (32 random bytes, base64) to rotate it');
        }
        const id = localKeyId(decodeRootKey(envNext, 'LATCHKEY_NEW_ROOT_KEY'));
        if (id === primaryId) throw new RootKeyError('LATCHKEY_NEW_ROOT_KEY is the same key as LATCHKEY_ROOT_KEY');
        return id;
      }
      // A crashed run may have left its key; using it keeps a half-done rotation finishable.
      let next = readKeyFile(nextFile);
      if (next === null) {
        const tmp = `${nextFile}.tmp-${process.pid}`;
        writeKeyFileDurably(tmp, randomBytes(32));
        try {
          // link() creates the name only if it is free: two racing runs end up with one key.
          linkSync(tmp, nextFile);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        } finally {
          unlinkSync(tmp);
        }
        syncDir(dirname(nextFile));
        next = readKeyFile(nextFile);
        if (next === null) throw new RootKeyError(`${nextFile} vanished while it was being written`);
      }
      const id = localKeyId(next);
      if (id === primaryId) throw new RootKeyError(`${nextFile} holds the current root key; remove it and run the rotation again`);
      keys.set(id, next);
      return id;
    },
    async promoteNext(keyId, { keepPrevious }) {
      if (fromEnv) {
        const key = await keyFor(keyId);
        keys = new Map([[keyId, key]]);
        primaryId = keyId;
        return {
          operatorAction:
            'set LATCHKEY_ROOT_KEY to the new key (the value of LATCHKEY_NEW_ROOT_KEY) and remove LATCHKEY_NEW_ROOT_KEY wherever Latchkey runs; ' +
            'the old key no longer opens this store',
        };
      }
      const current = readKeyFile(opts.keyFile);
      const next = readKeyFile(nextFile);
      if (current !== null && localKeyId(current) === keyId && next === null) {
        // A run that crashed after the rename: nothing left to move.
      } else {
        if (next === null || localKeyId(next) !== keyId)
          throw new RootKeyError(`${nextFile} does not hold the root key ${keyId} this rotation re-wrapped the store with`);
        if (keepPrevious && current !== null) {
          const tmp = `${previousFile}.tmp-${process.pid}`;
          writeKeyFileDurably(tmp, current);
          renameSync(tmp, previousFile);
        }
        // One atomic step: readers find the old key or the new one in the key file, never neither.
        renameSync(nextFile, opts.keyFile);
        syncDir(dirname(opts.keyFile));
      }
      const key = readKeyFile(opts.keyFile);
      if (key === null || localKeyId(key) !== keyId) throw new RootKeyError(`${opts.keyFile} does not hold ${keyId} after the rename`);
      keys = new Map([[keyId, key]]);
      primaryId = keyId;
      return {
        operatorAction: keepPrevious
          ? `${previousFile} holds the old root key; nothing in the store is wrapped by it any more, destroy it once you no longer need it`
          : null,
      };
    },
  };

  const provider: KeyProvider = {
    name: 'local',
    get keyId() {
      return primaryId;
    },
    wrap: async (plaintext, aad, keyId) => seal(await keyFor(keyId), 0, plaintext, aad),
    unwrap: async (wrapped, aad, keyId) => open(await keyFor(keyId), wrapped, aad),
    async holds(keyId) {
      if (keys.has(keyId)) return true;
      await reload();
      return keys.has(keyId);
    },
    rotation,
  };
  return { provider, created };
}
