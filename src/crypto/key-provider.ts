/**
 * Holds the root key and wraps/unwraps tenant data keys with it. The root key itself never
 * leaves the provider, so a KMS- or Vault-backed provider is a drop-in replacement.
 *
 * During a root-key rotation a provider may hold two keys: the one being retired and the one
 * replacing it. Every wrapped value in the store records the id of the key that wrapped it
 * (`tenant_keys.root_key_id`), and callers pass that id back, so a provider never has to guess.
 */
export interface KeyProvider {
  readonly name: string;
  /** Fingerprint of the provider's primary root key (not secret), so operators can tell keys apart. */
  readonly keyId: string;
  /** Wraps under the key `keyId` names (default: the primary key). */
  wrap(plaintext: Buffer, aad: Buffer, keyId?: string): Promise<Buffer>;
  /**
   * Unwraps with the key `keyId` names (default: the primary key). A key it does not hold makes
   * it re-read its key source once (another process may have just staged or promoted a key);
   * still missing, it throws `RootKeyUnavailable`.
   */
  unwrap(wrapped: Buffer, aad: Buffer, keyId?: string): Promise<Buffer>;
  /** Whether it holds that key, after re-reading its key source once if it did not. */
  holds(keyId: string): Promise<boolean>;
  /** Present when this provider can change its own root key (see `RootKeyRotation`). */
  readonly rotation?: RootKeyRotation;
}

/**
 * The provider's half of a root-key rotation; the store's half (re-wrapping every keyring) is in
 * services/keys. Both steps are idempotent, so a rotation that crashed is finished by running it again.
 */
export interface RootKeyRotation {
  /**
   * Makes the next root key, or finds the one a crashed run made, so that this provider (and,
   * after one re-read, every other process using the same key source) holds it. Returns its id.
   */
  stageNext(): Promise<string>;
  /**
   * Makes the staged key `keyId` the primary and forgets the old one; a copy of the old one is
   * kept only when `keepPrevious`. Done already (crash after this step) is not an error.
   * Returns what an operator still has to do by hand, if anything.
   */
  promoteNext(keyId: string, opts: { keepPrevious: boolean }): Promise<{ operatorAction: string | null }>;
  /** Where the next key is expected, for messages ("root.key.next", "LATCHKEY_NEW_ROOT_KEY"). */
  readonly nextKeySource: string;
}

/** A value was wrapped by a root key this process does not hold (even after re-reading its key source). */
export class RootKeyUnavailable extends Error {
  override name = 'RootKeyUnavailable';
  constructor(readonly keyId: string) {
    super(`root key ${keyId} is not available to this process`);
  }
}
