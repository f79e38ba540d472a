import { timingSafeEqual } from 'node:crypto';
import type { Clock } from '../../domain/clock.js';
import { LatchkeyError } from '../../domain/errors.js';
import type { Principal } from '../../domain/principal.js';
import { ROLES, type Role } from '../../domain/roles.js';
import type { AccessKeyRow, UsageTouch } from '../../store/port.js';
import type { AccessKeyStore, CoordinationStore, StoreLifecycle } from '../../store/port.js';
import { ACCESS_KEY_RE, hashAccessKeyHex } from '../access-keys/key-material.js';
import { announceInvalidation, type CoherentCache } from '../coordination/cache-coherence.js';
import type { OidcVerifier } from './oidc.js';

export interface Authenticator {
  /** Resolves a bearer token or throws UNAUTHENTICATED (always the same error, whatever failed). */
  authenticate(authorization: string | undefined, tenantHeader: string | undefined): Promise<Principal>;
  /**
   * The principal of the access key with this SHA-256, checked exactly as `authenticate` checks a
   * key (console sessions hold the hash, not the key): revoked, expired or unknown → UNAUTHENTICATED.
   */
  authenticateKeyHash(keyHash: Buffer, tenantHeader: string | undefined): Promise<Principal>;
  /**
   * The key was revoked or changed: drops it here at once and tells every other process sharing
   * the store (resolves once the message is sent, or handed to background retries; never throws).
   */
  forget(keyHash: Buffer): Promise<void>;
  /** Drops every cached key in this process only. */
  forgetAll(): void;
  flushUsage(): Promise<void>;
  /** The key cache as the invalidation feed drives it (keys are the hex SHA-256 of access keys). */
  readonly cache: CoherentCache;
}

interface CacheEntry {
  row: AccessKeyRow;
  loadedAt: number;
  /** `row.expiresAt` in epoch ms (Infinity when it never expires), parsed once per load. */
  expiresAtMs: number;
  /** The role is one we know (checked once per load). */
  knownRole: boolean;
}

const unauthenticated = (): LatchkeyError => new LatchkeyError('UNAUTHENTICATED', 'Missing, malformed, expired or unknown credentials');

/**
 * Access-key authentication. Keys are looked up by SHA-256 (a unique index), cached for a short
 * time so the hot path does no query, and dropped from the cache at once when revoked here.
 * `last_used_at` is written in batches, not once per request.
 *
 * On a store shared by several processes the cache is only trusted while the invalidation feed
 * is live (see services/coordination): until the feed reports in, and whenever it drops, every
 * request looks its key up, so a key revoked on another process is never honoured from here.
 */
export function createAuthenticator(deps: {
  store: Pick<StoreLifecycle, 'capabilities'> & Pick<AccessKeyStore, 'findAccessKeyByHash' | 'touchAccessKeys'> & CoordinationStore;
  clock: Clock;
  cacheTtlMs: number;
  usageFlushMs: number;
  oidc?: OidcVerifier | undefined;
}): Authenticator & { stop(): void } {
  const { store, clock } = deps;
  const cache = new Map<string, CacheEntry>();
  let trusted = !store.capabilities.multiProcess;
  /** Bumped by every invalidation, so a lookup that raced one does not cache what it read. */
  let generation = 0;
  const keyCache: CoherentCache = {
    drop(key) {
      generation++;
      cache.delete(key);
    },
    dropAll() {
      generation++;
      cache.clear();
    },
    setTrusted(next) {
      generation++;
      trusted = next;
      if (!next) cache.clear();
    },
  };
  /** Last use per key in epoch ms; turned into timestamps only when written. */
  let touches = new Map<string, { tenantId: string; atMs: number }>();

  const flushUsage = async (): Promise<void> => {
    if (touches.size === 0) return;
    const batch: UsageTouch[] = [...touches].map(([id, t]) => ({ tenantId: t.tenantId, id, at: new Date(t.atMs).toISOString() }));
    touches = new Map();
    await store.touchAccessKeys(batch);
  };
  const timer = setInterval(() => void flushUsage().catch(() => undefined), deps.usageFlushMs);
  timer.unref();

  async function byHash(hash: Buffer, tenantHeader: string | undefined, cacheKey = hash.toString('hex')): Promise<Principal> {
    const nowMs = clock.now().getTime();
    let entry = trusted ? cache.get(cacheKey) : undefined;
    if (!entry || nowMs - entry.loadedAt > deps.cacheTtlMs) {
      const seen = generation;
      const row = await store.findAccessKeyByHash(hash);
      if (!row) {
        cache.delete(cacheKey);
        throw unauthenticated();
      }
      entry = {
        row,
        loadedAt: nowMs,
        expiresAtMs: row.expiresAt === null ? Infinity : Date.parse(row.expiresAt),
        knownRole: (ROLES as readonly string[]).includes(row.role),
      };
      // A revocation that arrived while this lookup ran may postdate the row it returned: use
      // the row for this request (it began before the revocation) but do not keep it.
      if (trusted && seen === generation) cache.set(cacheKey, entry);
    }
    const row = entry.row;
    // The index lookup already matched the hash; compare again in constant time so the
    // decision never rests on a short-circuiting comparison.
    if (row.keyHash.length !== hash.length || !timingSafeEqual(row.keyHash, hash)) throw unauthenticated();
    if (entry.expiresAtMs <= nowMs) throw unauthenticated();
    if (tenantHeader !== undefined && tenantHeader !== row.tenantId) throw new LatchkeyError('FORBIDDEN', 'This key does not belong to that tenant');
    if (!entry.knownRole) throw unauthenticated();
    touches.set(row.id, { tenantId: row.tenantId, atMs: nowMs });
    return {
      type: 'access_key',
      id: row.id,
      name: row.name,
      email: null,
      tenantId: row.tenantId,
      role: row.role as Role,
      tenantIds: [row.tenantId],
      teamIds: row.teamIds,
      platformAdmin: row.platformAdmin,
    };
  }

  return {
    async authenticate(authorization, tenantHeader) {
      if (authorization === undefined || !authorization.startsWith('Bearer ')) throw unauthenticated();
      const token = authorization.slice(7).trim();
      if (!ACCESS_KEY_RE.test(token)) {
        if (deps.oidc && token.split('.').length === 3) return deps.oidc.authenticate(token, tenantHeader);
        throw unauthenticated();
      }
      const hex = hashAccessKeyHex(token);
      return byHash(Buffer.from(hex, 'hex'), tenantHeader, hex);
    },
    authenticateKeyHash: (keyHash, tenantHeader) => byHash(keyHash, tenantHeader),
    async forget(keyHash) {
      const key = keyHash.toString('hex');
      keyCache.drop(key);
      // Retried for as long as another process may hold the key in its cache (the TTL).
      await announceInvalidation(store, 'access_key', key, deps.cacheTtlMs);
    },
    forgetAll() {
      keyCache.dropAll();
    },
    cache: keyCache,
    flushUsage,
    stop() {
      clearInterval(timer);
    },
  };
}
