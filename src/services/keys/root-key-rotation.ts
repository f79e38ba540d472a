import { setTimeout as sleep } from 'node:timers/promises';
import { RootKeyError } from '../../crypto/key-providers/local.js';
import { formatRootRotation, parseRootRotation, ROOT_ROTATION_META, type Keyring, type RootRotationState } from '../../crypto/keyring.js';
import type { Clock } from '../../domain/clock.js';
import { ROOT_KEY_ID_META, type Store } from '../../store/port.js';
import { operatorEvent, type Progress } from './key-events.js';

/** Meta row: when the last root-key rotation finished (status reports). */
export const ROOT_ROTATED_AT_META = 'root_key_rotated_at';
const TENANTS_PER_PAGE = 100;
/** Passes over the keyrings before giving up: the second one only finds rows a concurrent writer raced in. */
const MAX_PASSES = 5;

export interface RootRotationReport {
  from: string;
  to: string;
  /** A rotation a crashed run had started was finished. */
  resumed: boolean;
  tenantsRewrapped: number;
  dataKeysRewrapped: number;
  /** What the operator still has to do by hand (environment-provided keys), if anything. */
  operatorAction: string | null;
}

export type RootRotationStore = Pick<
  Store,
  'getMeta' | 'compareAndSetMeta' | 'countTenants' | 'countTenantsToRewrap' | 'listTenantsToRewrap' | 'listTenantKeys' | 'rewrapTenantKeys'
>;

/**
 * Re-wraps every tenant keyring under a new root key, online. Each step is durable before the
 * next starts and each is idempotent, so a run killed anywhere leaves a store that opens, and
 * the next run finishes the job:
 *
 *  1. the provider stages the new key (`root.key.next`, 0600, or LATCHKEY_NEW_ROOT_KEY);
 *  2. one transaction records the rotation (`root_key_rotation`) and moves `root_key_id` to the
 *     new key: from then on the store refuses new data keys wrapped by the old one (the fence in
 *     `createTenant`/`insertTenantKey`), so nothing new can be left behind;
 *  3. each tenant's data keys are re-wrapped in their own transaction, compare-and-set on
 *     `root_key_id` (each row says which root key wraps it, so readers pick the right one);
 *  4. the root-check value is re-wrapped: from here only the new key opens the store;
 *  5. the provider promotes the new key (`root.key.next` → `root.key`, one atomic rename) and
 *     forgets the old one (kept as `root.key.previous` only with `keepPrevious`);
 *  6. the rotation record is cleared.
 *
 * A running server holds the old key until it meets a row wrapped by one it does not hold, then
 * re-reads the key files once; its cached (unwrapped) data keys stay valid throughout, since
 * re-wrapping does not change them.
 */
export async function rotateRootKey(
  deps: { store: RootRotationStore; keyring: Keyring; clock: Clock },
  opts: { keepPrevious: boolean; pauseMs: number; onProgress?: Progress },
): Promise<RootRotationReport> {
  const { store, keyring, clock } = deps;
  const provider = keyring.provider;
  const rotation = provider.rotation;
  if (!rotation) throw new RootKeyError(`the ${provider.name} key provider cannot rotate its root key from here`);

  let raw = await store.getMeta(ROOT_ROTATION_META);
  let state: RootRotationState | null = parseRootRotation(raw);
  const resumed = state !== null;
  if (state === null) {
    const from = await keyring.refreshRootKeyId();
    const to = await rotation.stageNext();
    if (to === from) throw new RootKeyError(`the next root key (${rotation.nextKeySource}) is the key the store is wrapped with already`);
    const next: RootRotationState = { from, to, startedAt: clock.now().toISOString() };
    const started = await store.compareAndSetMeta(
      { [ROOT_ROTATION_META]: null, [ROOT_KEY_ID_META]: from },
      { [ROOT_ROTATION_META]: formatRootRotation(next), [ROOT_KEY_ID_META]: to },
      [operatorEvent(clock, null, 'keys.root_rotation_start', { type: 'root_key', id: to }, `from ${from}`)],
    );
    raw = await store.getMeta(ROOT_ROTATION_META);
    state = parseRootRotation(raw);
    // Lost a race with another run that started first: finish that one instead.
    if (!started && state === null) throw new RootKeyError('the store changed while the rotation was starting; run it again');
  }
  if (state === null || raw === null) throw new Error('unreachable');
  if (!(await provider.holds(state.to))) {
    throw new RootKeyError(`a root-key rotation to ${state.to} is under way, but that key is not available here (${rotation.nextKeySource})`);
  }
  await keyring.refreshRootKeyId();

  const all = await store.countTenants();
  let total = Math.max(all, await store.countTenantsToRewrap(state.to));
  let done = total - (await store.countTenantsToRewrap(state.to));
  let tenantsRewrapped = 0;
  let dataKeysRewrapped = 0;
  opts.onProgress?.(done, total);
  for (let pass = 1; ; pass++) {
    let after: string | null = null;
    let seen = 0;
    for (;;) {
      const ids = await store.listTenantsToRewrap(state.to, after, TENANTS_PER_PAGE);
      if (ids.length === 0) break;
      for (const tenantId of ids) {
        const rewraps = await keyring.rewrapTenantKeys(tenantId, await store.listTenantKeys(tenantId), state.to);
        if (rewraps.length > 0) {
          const changed = await store.rewrapTenantKeys(tenantId, rewraps);
          dataKeysRewrapped += changed;
          if (changed > 0) tenantsRewrapped++;
        }
        seen++;
        done++;
        if (done > total) total = done;
        opts.onProgress?.(done, total);
        if (opts.pauseMs > 0) await sleep(opts.pauseMs);
      }
      after = ids[ids.length - 1] ?? null;
    }
    if (seen === 0) break;
    if (pass >= MAX_PASSES) throw new Error('keyrings kept changing under the rotation; run it again');
  }

  await keyring.rewrapRootCheck(state.from, state.to);
  const { operatorAction } = await rotation.promoteNext(state.to, { keepPrevious: opts.keepPrevious });
  await store.compareAndSetMeta({ [ROOT_ROTATION_META]: raw }, { [ROOT_ROTATION_META]: null, [ROOT_ROTATED_AT_META]: clock.now().toISOString() }, [
    operatorEvent(
      clock,
      null,
      'keys.root_rotation_finish',
      { type: 'root_key', id: state.to },
      `from ${state.from}; ${dataKeysRewrapped} data keys re-wrapped by this run`,
    ),
  ]);
  return { from: state.from, to: state.to, resumed, tenantsRewrapped, dataKeysRewrapped, operatorAction };
}
