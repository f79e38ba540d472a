import type { CredentialRow, RefreshSchedule, RefreshState } from '../../store/port.js';
import type { ProviderFailure } from './token-client.js';

/**
 * When to refresh, as pure functions of the stored row (Nango's `shouldRefresh` pattern): the
 * service asks before claiming, and again after claiming with a fresh read — the second answer is
 * what prevents a refresh that another process has just done from being done twice.
 */

/** Why a refresh happens now: a reveal found the token expired, the scheduler found it due, or a person asked. */
export type RefreshMode = 'reveal' | 'schedule' | 'manual';

export type RefreshDecision =
  | { refresh: true; reason: 'missing_token' | 'expired' | 'due' | 'manual' }
  | { refresh: false; reason: 'fresh' | 'blocked' | 'backing_off' | 'inactive' | 'not_refreshable' };

/** An access token this close to its expiry is as good as expired when handed out. */
export const REVEAL_SKEW_MS = 30_000;

export function grantOf(c: Pick<CredentialRow, 'config'>): string {
  return typeof c.config.grant_type === 'string' ? c.config.grant_type : 'authorization_code';
}

/** When the current access token expires: the oauth2 config field, else the row's `expires_at`. */
export function accessTokenExpiry(c: Pick<CredentialRow, 'config' | 'expiresAt'>): string | null {
  const v = c.config.access_token_expires_at;
  return typeof v === 'string' ? new Date(v).toISOString() : c.expiresAt;
}

/** A refresh token to use, or the client_credentials grant that needs none. */
export function canObtainToken(c: Pick<CredentialRow, 'config' | 'secretFields'>): boolean {
  return grantOf(c) === 'client_credentials' || c.secretFields.includes('refresh_token');
}

export function shouldRefresh(c: CredentialRow, state: RefreshState | null, now: Date, mode: RefreshMode, leadMs: number): RefreshDecision {
  if (c.type !== 'oauth2' || c.deletedAt !== null) return { refresh: false, reason: 'not_refreshable' };
  if (mode === 'manual') return canObtainToken(c) ? { refresh: true, reason: 'manual' } : { refresh: false, reason: 'not_refreshable' };
  if (c.status !== 'active') return { refresh: false, reason: 'inactive' };
  const nowIso = now.toISOString();
  // The schedule and failure count belong to one revision; a person's change starts afresh.
  const own = state !== null && state.revision === c.revision ? state : null;
  if (own?.blocked) return { refresh: false, reason: 'blocked' };
  if (own && own.failures > 0 && own.nextAt !== null && own.nextAt > nowIso) return { refresh: false, reason: 'backing_off' };
  const missing = !c.secretFields.includes('access_token');
  const expiry = accessTokenExpiry(c);
  if (mode === 'reveal') {
    if (missing && canObtainToken(c)) return { refresh: true, reason: 'missing_token' };
    if (expiry !== null && expiry <= new Date(now.getTime() + REVEAL_SKEW_MS).toISOString()) {
      return canObtainToken(c) ? { refresh: true, reason: 'expired' } : { refresh: false, reason: 'not_refreshable' };
    }
    return { refresh: false, reason: 'fresh' };
  }
  const due = own !== null && own.nextAt !== null ? own.nextAt <= nowIso : expiry !== null && expiry <= new Date(now.getTime() + leadMs).toISOString();
  if (!due && !(missing && canObtainToken(c))) return { refresh: false, reason: 'fresh' };
  return canObtainToken(c) ? { refresh: true, reason: missing ? 'missing_token' : 'due' } : { refresh: false, reason: 'not_refreshable' };
}

/**
 * When the scheduler should refresh a token that lives `lifetimeMs` and expires at `expiresAt`:
 * `leadMs` before, but never later than half-way through its life (a 2-minute token with a
 * 5-minute lead would otherwise be refreshed on every tick).
 */
export function nextRefreshAt(expiresAt: Date | null, lifetimeMs: number | null, leadMs: number): string | null {
  if (expiresAt === null || lifetimeMs === null) return null;
  return new Date(expiresAt.getTime() - Math.min(leadMs, lifetimeMs / 2)).toISOString();
}

const BACKOFF_BASE_MS = 30_000;
const BACKOFF_CAP_MS = 3_600_000;

/**
 * After a failed refresh: a dead grant or a refusal stops the scheduler until someone changes the
 * credential (new revision); a transient failure retries with exponential backoff and full
 * jitter (so a provider outage does not end in every credential retrying in the same second).
 */
export function scheduleAfterFailure(
  failure: ProviderFailure,
  previous: RefreshState | null,
  revision: number,
  now: Date,
  random = Math.random,
): Omit<RefreshSchedule, 'revision'> {
  const failures = (previous !== null && previous.revision === revision ? previous.failures : 0) + 1;
  if (failure !== 'transient') return { nextAt: null, failures, blocked: true };
  const ceiling = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** Math.min(failures - 1, 20));
  const delay = ceiling / 2 + random() * (ceiling / 2);
  return { nextAt: new Date(now.getTime() + delay).toISOString(), failures, blocked: false };
}
