import { purposeAad } from '../../crypto/aead.js';
import type { Keyring } from '../../crypto/keyring.js';
import type { Clock } from '../../domain/clock.js';
import { LatchkeyError } from '../../domain/errors.js';
import type { CredentialRow, DerivedTokenRow, Store } from '../../store/port.js';

/** Kinds of short-lived credential Latchkey derives from a stored one. */
export type DerivedKind = 'oauth2_access_token' | 'jwt' | 'aws_session' | 'http_request_results';

/** A short-lived credential derived from a stored one: what the derived-token endpoint answers and the proxy injects. */
export interface Derived {
  kind: DerivedKind;
  values: Record<string, string>;
  /** RFC 3339; null: no known expiry. */
  expiresAt: string | null;
}

export interface TokenCache {
  /**
   * The derived token of the credential's current version while it is fresh; else one made by
   * `make` — once per credential at a time across every process sharing the store.
   */
  get(c: CredentialRow, make: () => Promise<Derived>): Promise<Derived>;
}

interface Held {
  version: number;
  derived: Derived;
  createdAt: number;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Replaced ahead of expiry by a fifth of its lifetime, at most a minute: a token handed out (or
 * put into a request) must still be valid when the remote checks it.
 */
function fresh(h: Held, now: number): boolean {
  if (h.derived.expiresAt === null) return true;
  const expires = Date.parse(h.derived.expiresAt);
  const lead = Math.min(60_000, Math.max(0, expires - h.createdAt) / 5);
  return expires - lead > now;
}

/**
 * The cache of derived tokens, with the OAuth refresh's coordination (services/oauth): a single
 * flight per credential in this process; the refresh claim in the credential's row (lease and
 * fence, store `claimRefresh`) across processes, whose holder makes the token while the others
 * poll for what it stores; a re-read after claiming; the token written (sealed) in the
 * transaction that releases the claim, only while the fence still holds.
 */
export function createTokenCache(deps: {
  store: Pick<Store, 'getDerivedToken' | 'putDerivedToken' | 'claimRefresh' | 'releaseRefresh'>;
  keyring: Pick<Keyring, 'sealFor' | 'openFor'>;
  clock: Clock;
  /** Names this process in claims. */
  owner: string;
  leaseMs?: number;
  waitMs?: number;
}): TokenCache {
  const { store, keyring, clock, owner } = deps;
  const leaseMs = deps.leaseMs ?? 30_000;
  const waitMs = deps.waitMs ?? 10_000;
  const held = new Map<string, Held>();
  const flights = new Map<string, Promise<Derived>>();
  const aad = (c: CredentialRow) => purposeAad('derived-token', c.tenantId, c.id, String(c.version));

  async function stored(c: CredentialRow): Promise<Held | null> {
    const row = await store.getDerivedToken(c.tenantId, c.id);
    if (!row || row.credentialVersion !== c.version) return null;
    try {
      const derived = JSON.parse((await keyring.openFor(c.tenantId, row.sealed, aad(c))).toString('utf8')) as Derived;
      return { version: row.credentialVersion, derived, createdAt: Date.parse(row.createdAt) };
    } catch {
      // Sealed under a data key since destroyed, or otherwise unreadable: made again.
      return null;
    }
  }

  async function obtain(c: CredentialRow, key: string, make: () => Promise<Derived>): Promise<Derived> {
    const deadline = Date.now() + waitMs;
    for (let pause = 20; ; pause = Math.min(pause * 2, 200)) {
      const now = clock.now();
      const found = await stored(c);
      if (found && fresh(found, now.getTime())) {
        held.set(key, found);
        return found.derived;
      }
      const fence = await store.claimRefresh(c.tenantId, c.id, owner, now.toISOString(), new Date(now.getTime() + leaseMs).toISOString());
      if (fence !== null) {
        try {
          // Another process may have stored one between our read and our claim.
          const again = await stored(c);
          if (again && fresh(again, clock.now().getTime())) {
            await store.releaseRefresh(c.tenantId, c.id, owner, fence, null);
            held.set(key, again);
            return again.derived;
          }
          const derived = await make();
          const createdAt = clock.now();
          const row: DerivedTokenRow = {
            tenantId: c.tenantId,
            credentialId: c.id,
            credentialVersion: c.version,
            sealed: await keyring.sealFor(c.tenantId, Buffer.from(JSON.stringify(derived), 'utf8'), aad(c)),
            expiresAt: derived.expiresAt,
            createdAt: createdAt.toISOString(),
          };
          // Fenced (our lease ran out and another claimed): the token is still good to use, not to store.
          await store.putDerivedToken(owner, fence, row);
          held.set(key, { version: c.version, derived, createdAt: createdAt.getTime() });
          return derived;
        } catch (err) {
          await store.releaseRefresh(c.tenantId, c.id, owner, fence, null).catch(() => undefined);
          throw err;
        }
      }
      if (Date.now() > deadline) throw new LatchkeyError('UNAVAILABLE', 'Another process is obtaining a token for this credential', { retryAfterSeconds: 1 });
      await sleep(pause);
    }
  }

  return {
    get(c, make) {
      const key = `${c.tenantId}\u0000${c.id}`;
      const h = held.get(key);
      if (h && h.version === c.version && fresh(h, clock.now().getTime())) return Promise.resolve(h.derived);
      const flightKey = `${key}\u0000${c.version}`;
      const joined = flights.get(flightKey);
      if (joined) return joined;
      const run = obtain(c, key, make);
      flights.set(flightKey, run);
      void run.finally(() => flights.delete(flightKey)).catch(() => undefined);
      return run;
    },
  };
}
