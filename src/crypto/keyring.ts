import { randomBytes } from 'node:crypto';
import type { Clock } from '../domain/clock.js';
import { announceInvalidation } from '../services/coordination/cache-coherence.js';
import { ROOT_KEY_ID_META, RootKeyMoved, type Store, type TenantKeyRewrap, type TenantKeyRow } from '../store/port.js';
import { keyVersionOf, open, purposeAad, seal } from './aead.js';
import type { KeyProvider } from './key-provider.js';

const ROOT_CHECK_META = 'root_key_check';
const ROOT_CHECK_PLAINTEXT = Buffer.from('latchkey root key check v1');
/** Present while a root-key rotation is under way: `{"from":…,"to":…,"started_at":…}`. */
export const ROOT_ROTATION_META = 'root_key_rotation';
/** How often a data key is wrapped again when a root-key rotation keeps moving the store under it. */
const ROOT_MOVED_ATTEMPTS = 3;

export interface RootRotationState {
  from: string;
  to: string;
  startedAt: string;
}

export function parseRootRotation(value: string | null): RootRotationState | null {
  if (value === null) return null;
  const v = JSON.parse(value) as { from: string; to: string; started_at: string };
  return { from: v.from, to: v.to, startedAt: v.started_at };
}

export function formatRootRotation(r: RootRotationState): string {
  return JSON.stringify({ from: r.from, to: r.to, started_at: r.startedAt });
}

/**
 * The root-check value names the key that wrapped it. Stores made before rotation existed hold
 * bare base64 (keyId null): wrapped by the one key they were made with.
 */
interface RootCheck {
  keyId: string | null;
  wrapped: Buffer;
}

function parseRootCheck(value: string): RootCheck {
  if (!value.startsWith('{')) return { keyId: null, wrapped: Buffer.from(value, 'base64') };
  const v = JSON.parse(value) as { key_id: string; wrapped: string };
  return { keyId: v.key_id, wrapped: Buffer.from(v.wrapped, 'base64') };
}

function formatRootCheck(keyId: string, wrapped: Buffer): string {
  return JSON.stringify({ key_id: keyId, wrapped: wrapped.toString('base64') });
}
/**
 * How long an unwrapped keyring is kept while cross-process invalidations cannot be heard. Data
 * key versions never change once written, so a short reuse risks only sealing under a version
 * that has just been superseded, or (after a purge elsewhere) holding a shredded key a moment longer.
 */
const UNTRUSTED_TTL_MS = 1000;

export class WrongRootKey extends Error {
  override name = 'WrongRootKey';
}

function dataKeyAad(tenantId: string, version: number): Buffer {
  return purposeAad('data-key', tenantId, String(version));
}

interface CachedRing {
  keys: Map<number, Buffer>;
  current: number;
  loadedAt: number;
}

/** Whether `serve` or `init` has initialised this store (its root-key check is recorded). */
export async function storeIsInitialised(store: Store): Promise<boolean> {
  return (await store.getMeta(ROOT_CHECK_META)) !== null;
}

/**
 * Per-tenant data keys, wrapped by the root key. Unwrapped keys are cached for `ttlMs` so the
 * reveal path does not unwrap on every request; the cache is dropped on invalidation, which
 * reaches every process sharing the store (`changed` publishes, the composition root wires the
 * feed to `invalidate` and `setCacheTrusted`).
 */
export class Keyring {
  private readonly rings = new Map<string, CachedRing>();
  private readonly loading = new Map<string, Promise<CachedRing>>();
  private trusted = true;
  /** Bumped by every invalidation, so a load that raced one does not cache what it read. */
  private generation = 0;

  /** The root key that wraps the store's keyrings (meta `root_key_id`), as this process last read it. */
  private wrapKeyId: string;

  constructor(
    private readonly store: Pick<Store, 'listTenantKeys' | 'getMeta' | 'initMeta' | 'publishInvalidation' | 'currentTenantKeyVersion' | 'compareAndSetMeta'>,
    readonly provider: KeyProvider,
    private readonly clock: Clock,
    private readonly ttlMs = 5 * 60_000,
  ) {
    this.wrapKeyId = provider.keyId;
  }

  /**
   * Refuses to run with a root key that does not open this store: the first start records a
   * check value wrapped by the root key; every later start must unwrap it. While a root-key
   * rotation is under way, the new key is needed too (new data keys are wrapped by it).
   */
  async checkRootKey(): Promise<void> {
    const fresh = formatRootCheck(this.provider.keyId, await this.provider.wrap(ROOT_CHECK_PLAINTEXT, purposeAad('root-check'), this.provider.keyId));
    const check = parseRootCheck(await this.store.initMeta(ROOT_CHECK_META, fresh));
    const checkKeyId = check.keyId ?? this.provider.keyId;
    const rotation = parseRootRotation(await this.store.getMeta(ROOT_ROTATION_META));
    if (rotation && !(await this.provider.holds(rotation.to))) {
      throw new WrongRootKey(
        `a root-key rotation to ${rotation.to} is under way and this process does not hold that key. ` +
          `Make it available (${this.provider.rotation?.nextKeySource ?? 'the new key'}) and run \`latchkey keys rotate-root\` to finish the rotation.`,
      );
    }
    try {
      if (!(await this.provider.holds(checkKeyId))) throw new Error('not held');
      const plain = await this.provider.unwrap(check.wrapped, purposeAad('root-check'), checkKeyId);
      if (!plain.equals(ROOT_CHECK_PLAINTEXT)) throw new Error('mismatch');
    } catch {
      throw new WrongRootKey(
        `the root key (${this.provider.keyId}) does not open this store: it was initialised with another key. ` +
          'Start with the original LATCHKEY_ROOT_KEY or key file; the data cannot be read without it.',
      );
    }
    this.wrapKeyId = await this.store.initMeta(ROOT_KEY_ID_META, checkKeyId);
  }

  /** Id of the root key that wraps the store's keyrings, as this process last read it. */
  get rootKeyId(): string {
    return this.wrapKeyId;
  }

  /** Reads again which root key wraps the store (a rotation elsewhere may have moved it). */
  async refreshRootKeyId(): Promise<string> {
    this.wrapKeyId = (await this.store.getMeta(ROOT_KEY_ID_META)) ?? this.wrapKeyId;
    return this.wrapKeyId;
  }

  /** A new data key (a new tenant's first, or a further version), wrapped by the store's root key. */
  async newTenantKey(tenantId: string, version = 1): Promise<TenantKeyRow> {
    const key = randomBytes(32);
    const rootKeyId = this.wrapKeyId;
    const wrappedKey = await this.provider.wrap(key, dataKeyAad(tenantId, version), rootKeyId);
    key.fill(0);
    return { tenantId, version, wrappedKey, rootKeyId, createdAt: this.clock.now().toISOString() };
  }

  /**
   * Makes a data key and hands it to `write`. When the store refuses it because a root-key
   * rotation moved the store to another root key meanwhile (`RootKeyMoved`), the new key id is
   * read and the data key is wrapped again: a row wrapped by a retiring key is never written.
   */
  async writeNewTenantKey<T>(tenantId: string, version: number, write: (row: TenantKeyRow) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const row = await this.newTenantKey(tenantId, version);
      try {
        return await write(row);
      } catch (err) {
        if (!(err instanceof RootKeyMoved) || attempt >= ROOT_MOVED_ATTEMPTS) throw err;
        await this.refreshRootKeyId();
      }
    }
  }

  /**
   * Seals under the tenant's newest data key. The newest version is read from the store on every
   * seal (one indexed lookup): a data-key rotation made by another process (the CLI next to a
   * SQLite server, or a peer whose invalidation was lost) is then never missed by a write, so no
   * new secret is sealed under a version the re-seal job has already passed.
   */
  async sealFor(tenantId: string, plaintext: Buffer, aad: Buffer): Promise<Buffer> {
    let ring = await this.ring(tenantId);
    const newest = await this.store.currentTenantKeyVersion(tenantId);
    if (newest === null) throw new Error('tenant has no keyring');
    if (newest !== ring.current) {
      this.invalidate(tenantId);
      ring = await this.ring(tenantId);
    }
    const key = ring.keys.get(ring.current);
    if (!key) throw new Error('keyring has no current key');
    return seal(key, ring.current, plaintext, aad);
  }

  /**
   * The same plaintext, same AAD, sealed under the tenant's current data key; null when the blob
   * is sealed under it already. The caller drops the keyring first when "current" must be fresh.
   */
  async resealFor(tenantId: string, blob: Buffer, aad: Buffer): Promise<Buffer | null> {
    const plain = await this.openFor(tenantId, blob, aad);
    try {
      const ring = await this.ring(tenantId);
      if (keyVersionOf(blob) === ring.current) return null;
      const key = ring.keys.get(ring.current);
      if (!key) throw new Error('keyring has no current key');
      return seal(key, ring.current, plain, aad);
    } finally {
      plain.fill(0);
    }
  }

  /** The rows of `rows` not yet wrapped by `toKeyId`, unwrapped with their own root key and wrapped by it. */
  async rewrapTenantKeys(tenantId: string, rows: readonly TenantKeyRow[], toKeyId: string): Promise<TenantKeyRewrap[]> {
    const out: TenantKeyRewrap[] = [];
    for (const r of rows) {
      if (r.rootKeyId === toKeyId) continue;
      const aad = dataKeyAad(tenantId, r.version);
      const plain = await this.provider.unwrap(r.wrappedKey, aad, r.rootKeyId);
      try {
        out.push({ version: r.version, fromRootKeyId: r.rootKeyId, wrappedKey: await this.provider.wrap(plain, aad, toKeyId), rootKeyId: toKeyId });
      } finally {
        plain.fill(0);
      }
    }
    return out;
  }

  /** Id of the root key the root-check value is wrapped by (null: a store made before rotation existed, by its first key). */
  async rootCheckKeyId(): Promise<string | null> {
    const stored = await this.store.getMeta(ROOT_CHECK_META);
    return stored === null ? null : parseRootCheck(stored).keyId;
  }

  /**
   * Re-wraps the root-check value by `toKeyId` (it was wrapped by `fromKeyId`, or already by
   * `toKeyId` after a crashed run). Returns false when there was nothing to do.
   */
  async rewrapRootCheck(fromKeyId: string, toKeyId: string): Promise<boolean> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const stored = await this.store.getMeta(ROOT_CHECK_META);
      if (stored === null) throw new Error('the store has no root-check value');
      const check = parseRootCheck(stored);
      const keyId = check.keyId ?? fromKeyId;
      if (keyId === toKeyId) return false;
      const plain = await this.provider.unwrap(check.wrapped, purposeAad('root-check'), keyId);
      if (!plain.equals(ROOT_CHECK_PLAINTEXT)) throw new WrongRootKey('the root-check value does not hold what it should');
      const wrapped = await this.provider.wrap(plain, purposeAad('root-check'), toKeyId);
      if (await this.store.compareAndSetMeta({ [ROOT_CHECK_META]: stored }, { [ROOT_CHECK_META]: formatRootCheck(toKeyId, wrapped) }, [])) return true;
    }
    throw new Error('the root-check value kept changing under the rotation');
  }

  async openFor(tenantId: string, blob: Buffer, aad: Buffer): Promise<Buffer> {
    const version = keyVersionOf(blob);
    let ring = await this.ring(tenantId);
    if (!ring.keys.has(version)) {
      this.invalidate(tenantId);
      ring = await this.ring(tenantId);
    }
    const key = ring.keys.get(version);
    if (!key) throw new Error('unknown data key version');
    return open(key, blob, aad);
  }

  /** Drops cached keyrings (one tenant's, or all) in this process. */
  invalidate(tenantId?: string): void {
    this.generation++;
    if (tenantId === undefined) {
      this.rings.clear();
      this.loading.clear();
    } else {
      this.rings.delete(tenantId);
      this.loading.delete(tenantId);
    }
  }

  /**
   * A tenant's keyring changed (a data key added, the keyring destroyed): drops it here and tells
   * every other process sharing the store. Call after the change committed; never throws.
   */
  async changed(tenantId: string): Promise<void> {
    this.invalidate(tenantId);
    await announceInvalidation(this.store, 'keyring', tenantId, this.ttlMs);
  }

  /** False while invalidations from other processes cannot be heard: keyrings are then kept only briefly. */
  setCacheTrusted(trusted: boolean): void {
    this.generation++;
    this.trusted = trusted;
  }

  private async ring(tenantId: string): Promise<CachedRing> {
    const cached = this.rings.get(tenantId);
    const ttl = this.trusted ? this.ttlMs : UNTRUSTED_TTL_MS;
    if (cached && this.clock.now().getTime() - cached.loadedAt < ttl) return cached;
    let pending = this.loading.get(tenantId);
    if (!pending) {
      const loading: Promise<CachedRing> = this.load(tenantId).finally(() => {
        if (this.loading.get(tenantId) === loading) this.loading.delete(tenantId);
      });
      pending = loading;
      this.loading.set(tenantId, pending);
    }
    return pending;
  }

  private async load(tenantId: string): Promise<CachedRing> {
    const seen = this.generation;
    const rows = await this.store.listTenantKeys(tenantId);
    if (rows.length === 0) throw new Error('tenant has no keyring');
    const keys = new Map<number, Buffer>();
    // Each row names the root key that wrapped it: mid-rotation a keyring may span two.
    for (const r of rows) keys.set(r.version, await this.provider.unwrap(r.wrappedKey, dataKeyAad(tenantId, r.version), r.rootKeyId));
    const ring: CachedRing = { keys, current: Math.max(...keys.keys()), loadedAt: this.clock.now().getTime() };
    // Used by the callers waiting on it either way, but not kept if an invalidation came meanwhile.
    if (seen === this.generation) this.rings.set(tenantId, ring);
    return ring;
  }
}
