import { randomBytes } from 'node:crypto';
import { purposeAad } from '../../crypto/aead.js';
import type { Keyring } from '../../crypto/keyring.js';
import type { Clock } from '../../domain/clock.js';
import { LatchkeyError } from '../../domain/errors.js';
import type { Principal, RequestContext } from '../../domain/principal.js';
import { can, canGrant, ROLES, type Role } from '../../domain/roles.js';
import type { AwsKeyPairRow } from '../../store/aws-key-pairs-sql.js';
import type { AccessKeyRow, Store } from '../../store/port.js';
import type { AuditService } from '../audit/audit-service.js';
import type { CoherentCache } from '../coordination/cache-coherence.js';

/** The pair as issued: the secret access key is in this value only, once. */
export interface IssuedAwsKeyPair {
  keyId: string;
  accessKeyId: string;
  secretAccessKey: string;
  createdAt: string;
}

export interface AwsKeyPairs {
  /**
   * Gives access key `keyId` an AWS-style pair, replacing the one it had (the old secret stops
   * working at once). Managed like the key itself: `access_keys:manage`, and only for a key of a
   * role the caller could issue.
   */
  issue(ctx: RequestContext, keyId: string): Promise<IssuedAwsKeyPair>;
  /** The principal a pair acts as and its secret, for a signature check; null when it answers nothing (unknown, revoked, expired). */
  resolve(accessKeyId: string): Promise<{ principal: Principal; secretAccessKey: string } | null>;
  /**
   * Resolved pairs, sealed as stored, keyed by the hex SHA-256 of the access key they act for:
   * the `access_key` invalidation feed drives it beside the authenticator's key cache.
   */
  readonly cache: CoherentCache;
}

/** AWS access key ids are 20 characters of A-Z and 2-7; ours start `LKIA` (AWS's own start `AKIA`/`ASIA`). */
export const AWS_ACCESS_KEY_ID_RE = /^LKIA[A-Z2-7]{16}$/;
const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

function newAccessKeyId(): string {
  const bytes = randomBytes(16);
  let out = 'LKIA';
  for (let i = 0; i < 16; i++) out += BASE32[(bytes[i] as number) & 31];
  return out;
}

const aad = (tenantId: string, accessKeyId: string): Buffer => purposeAad('aws_key_pair', tenantId, accessKeyId);

interface CachedPair {
  /** The secret access key as stored, sealed: opened per request, never kept in clear. */
  pair: AwsKeyPairRow;
  key: AccessKeyRow;
  /** Hex SHA-256 of the access key: the key an invalidation names. */
  keyHashHex: string;
  loadedAt: number;
  expiresAtMs: number;
}

/**
 * Pairs are cached as the authenticator caches access keys (services/auth/authenticator.ts): for
 * at most `cacheTtlMs`, only while the invalidation feed is live (on a store shared by several
 * processes), dropped when their access key is revoked, changed or given a new pair here or in
 * any other process. A SigV4 request otherwise read the pair from the store every time.
 */
export function createAwsKeyPairs(deps: {
  store: Store;
  keyring: Keyring;
  audit: AuditService;
  clock: Clock;
  cacheTtlMs: number;
  /** The access key changed (its pair was replaced): drop it here and tell every other process. */
  onKeyChanged: (keyHash: Buffer) => Promise<void>;
}): AwsKeyPairs {
  const { store, keyring, audit, clock } = deps;
  const pairs = new Map<string, CachedPair>();
  let trusted = !store.capabilities.multiProcess;
  /** Bumped by every invalidation, so a lookup that raced one does not cache what it read. */
  let generation = 0;
  const cache: CoherentCache = {
    drop(keyHashHex) {
      generation++;
      for (const [id, entry] of pairs) if (entry.keyHashHex === keyHashHex) pairs.delete(id);
    },
    dropAll() {
      generation++;
      pairs.clear();
    },
    setTrusted(next) {
      generation++;
      trusted = next;
      if (!next) pairs.clear();
    },
  };
  const lookup = async (accessKeyId: string, nowMs: number): Promise<CachedPair | null> => {
    const cached = trusted ? pairs.get(accessKeyId) : undefined;
    if (cached && nowMs - cached.loadedAt <= deps.cacheTtlMs) return cached;
    const seen = generation;
    const found = await store.findAwsKeyPair(accessKeyId);
    if (!found) {
      pairs.delete(accessKeyId);
      return null;
    }
    const entry: CachedPair = {
      ...found,
      keyHashHex: found.key.keyHash.toString('hex'),
      loadedAt: nowMs,
      expiresAtMs: found.key.expiresAt === null ? Infinity : Date.parse(found.key.expiresAt),
    };
    // A revocation that arrived while this lookup ran may postdate the row: use it, do not keep it.
    if (trusted && seen === generation) pairs.set(accessKeyId, entry);
    return entry;
  };
  return {
    cache,
    async issue(ctx, keyId) {
      if (!can(ctx.principal.role, 'access_keys:manage')) throw new LatchkeyError('FORBIDDEN', `Role ${ctx.principal.role} lacks access_keys:manage`);
      const key = await store.getAccessKey(ctx.principal.tenantId, keyId);
      if (!key) throw new LatchkeyError('ACCESS_KEY_NOT_FOUND', `No access key ${keyId} in this tenant`);
      if (!canGrant(ctx.principal.role, key.role as Role)) throw new LatchkeyError('FORBIDDEN', `Role ${ctx.principal.role} cannot manage a ${key.role} key`);
      const accessKeyId = newAccessKeyId();
      // 30 random bytes: 40 base64 characters, the length of an AWS secret access key.
      const secretAccessKey = randomBytes(30).toString('base64');
      const createdAt = clock.now().toISOString();
      const sealedSecret = await keyring.sealFor(key.tenantId, Buffer.from(secretAccessKey, 'utf8'), aad(key.tenantId, accessKeyId));
      const r = await store.putAwsKeyPair(key.tenantId, { accessKeyId, tenantId: key.tenantId, keyId, sealedSecret, createdAt }, [
        audit.event(ctx, 'access_key.aws_key_pair_issue', { type: 'access_key', id: keyId }),
      ]);
      if (r === 'no_key') throw new LatchkeyError('ACCESS_KEY_NOT_FOUND', `No access key ${keyId} in this tenant`);
      // The pair it replaced stops working at once, in every process that cached it.
      await deps.onKeyChanged(key.keyHash);
      return { keyId, accessKeyId, secretAccessKey, createdAt };
    },

    async resolve(accessKeyId) {
      if (!AWS_ACCESS_KEY_ID_RE.test(accessKeyId)) return null;
      const nowMs = clock.now().getTime();
      const found = await lookup(accessKeyId, nowMs);
      if (!found) return null;
      const { key, pair } = found;
      if (found.expiresAtMs <= nowMs) return null;
      if (!(ROLES as readonly string[]).includes(key.role)) return null;
      const secretAccessKey = (await keyring.openFor(pair.tenantId, pair.sealedSecret, aad(pair.tenantId, pair.accessKeyId))).toString('utf8');
      return {
        secretAccessKey,
        principal: {
          type: 'access_key',
          id: key.id,
          name: key.name,
          email: null,
          tenantId: key.tenantId,
          role: key.role as Role,
          tenantIds: [key.tenantId],
          teamIds: key.teamIds,
          platformAdmin: key.platformAdmin,
        },
      };
    },
  };
}
