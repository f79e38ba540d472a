import { randomBytes } from 'node:crypto';
import { purposeAad } from '../../crypto/aead.js';
import type { Keyring } from '../../crypto/keyring.js';
import type { Clock } from '../../domain/clock.js';
import type { Store } from '../../store/port.js';

/**
 * The key that authenticates a tenant's audit checkpoint: 32 random bytes per tenant, stored
 * sealed under the tenant's data key (so only a process holding the root key can open it, and
 * crypto-shredding the tenant destroys it with everything else). Whoever can write the tables but
 * does not hold the root key cannot make a checkpoint that verifies.
 */
export interface CheckpointKeys {
  /**
   * The tenant's key, made on first use. `created` is true when this call stored it (the chain
   * has never been checkpointed before). Null for chains without a keyring (the platform chain,
   * a crypto-shredded tenant): those get no checkpoint. Throws while the key provider is down.
   */
  keyFor(tenantId: string): Promise<{ key: Buffer; created: boolean } | null>;
}

function aad(tenantId: string): Buffer {
  return purposeAad('audit-checkpoint-key', tenantId);
}

export function createCheckpointKeys(deps: {
  store: Pick<Store, 'getAuditChainKey' | 'initAuditChainKey' | 'listTenantKeys'>;
  keyring: Pick<Keyring, 'sealFor' | 'openFor'>;
  clock: Clock;
}): CheckpointKeys {
  const { store, keyring, clock } = deps;
  const keys = new Map<string, Buffer | null>();
  const remember = (tenantId: string, key: Buffer): Buffer => {
    if (keys.size > 10_000) keys.clear();
    keys.set(tenantId, key);
    return key;
  };
  return {
    async keyFor(tenantId) {
      const cached = keys.get(tenantId);
      if (cached !== undefined) return cached === null ? null : { key: cached, created: false };
      if (tenantId === '' || (await store.listTenantKeys(tenantId)).length === 0) {
        keys.set(tenantId, null);
        return null;
      }
      // Read first: a key that exists needs no write, so verification answers on a full disk too.
      const existing = await store.getAuditChainKey(tenantId);
      if (existing !== null) return { key: remember(tenantId, await keyring.openFor(tenantId, existing, aad(tenantId))), created: false };
      const fresh = randomBytes(32);
      const stored = await store.initAuditChainKey(tenantId, await keyring.sealFor(tenantId, fresh, aad(tenantId)), clock.now().toISOString());
      const key = stored.created ? fresh : await keyring.openFor(tenantId, stored.sealedKey, aad(tenantId));
      return { key: remember(tenantId, key), created: stored.created };
    },
  };
}
