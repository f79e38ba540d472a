import { createHash } from 'node:crypto';
import { purposeAad } from '../../crypto/aead.js';
import type { Keyring } from '../../crypto/keyring.js';
import type { Clock } from '../../domain/clock.js';
import { LatchkeyError } from '../../domain/errors.js';
import type { RequestContext } from '../../domain/principal.js';
import type { IdempotencyStore } from '../../store/port.js';

export type IdempotencyOutcome = { kind: 'proceed' } | { kind: 'replay'; status: number; body: string };

export interface IdempotencyService {
  begin(ctx: RequestContext, key: string, fingerprint: string): Promise<IdempotencyOutcome>;
  finish(ctx: RequestContext, key: string, status: number, body: string): Promise<void>;
  abort(ctx: RequestContext, key: string): Promise<void>;
}

const KEY_RE = /^[\x21-\x7e]{1,255}$/;
const WINDOW_MS = 24 * 3600_000;
/** A reservation older than this belongs to a request that died; it may be taken over. */
const STALE_PENDING_MS = 60_000;

export function requestFingerprint(method: string, path: string, body: unknown): string {
  return createHash('sha256')
    .update(`${method}\n${path}\n${stableJson(body)}`)
    .digest('hex');
}

function stableJson(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'null';
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${stableJson(o[k])}`)
    .join(',')}}`;
}

/**
 * Idempotency-Key for POSTs: the first response is kept (encrypted under the tenant's data key,
 * because it may carry a generated secret) and replayed for 24 h to the same key and body.
 * The reservation row makes concurrent retries — also on other processes — wait their turn.
 */
export function createIdempotencyService(deps: { store: IdempotencyStore; keyring: Keyring; clock: Clock }): IdempotencyService {
  const { store, keyring, clock } = deps;
  const aad = (tenantId: string, key: string): Buffer => purposeAad('idempotency', tenantId, key);

  return {
    async begin(ctx, key, fingerprint) {
      if (!KEY_RE.test(key)) throw new LatchkeyError('INVALID_PARAMETER', 'Idempotency-Key must be 1-255 printable ASCII characters');
      const tenantId = ctx.principal.tenantId;
      for (let attempt = 0; attempt < 50; attempt++) {
        const now = clock.now();
        const r = await store.reserveIdempotencyKey(
          { tenantId, key, principalId: ctx.principal.id, fingerprint, state: 'pending', status: null, response: null, createdAt: now.toISOString() },
          new Date(now.getTime() - STALE_PENDING_MS).toISOString(),
        );
        if (r.reserved) return { kind: 'proceed' };
        const e = r.existing;
        if (e.createdAt < new Date(now.getTime() - WINDOW_MS).toISOString()) {
          await store.releaseIdempotencyKey(tenantId, key);
          await store.purgeIdempotencyKeys(new Date(now.getTime() - WINDOW_MS).toISOString());
          continue;
        }
        if (e.fingerprint !== fingerprint || e.principalId !== ctx.principal.id) {
          throw new LatchkeyError('IDEMPOTENCY_CONFLICT', 'This Idempotency-Key was used with a different request');
        }
        if (e.state === 'done' && e.response !== null && e.status !== null) {
          const body = (await keyring.openFor(tenantId, e.response, aad(tenantId, key))).toString('utf8');
          return { kind: 'replay', status: e.status, body };
        }
        // Another request with this key is in flight: wait briefly for its answer.
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new LatchkeyError('CONFLICT', 'A request with this Idempotency-Key is still in progress', { retryAfterSeconds: 1 });
    },
    async finish(ctx, key, status, body) {
      const tenantId = ctx.principal.tenantId;
      const sealed = await keyring.sealFor(tenantId, Buffer.from(body, 'utf8'), aad(tenantId, key));
      await store.completeIdempotencyKey(tenantId, key, status, sealed);
    },
    async abort(ctx, key) {
      await store.releaseIdempotencyKey(ctx.principal.tenantId, key);
    },
  };
}
