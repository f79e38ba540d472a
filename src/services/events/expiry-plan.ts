/**
 * When expiry notices are owed, as a pure function of the expiries and the clock. Each expiry
 * value is warned of once per lead time and noticed once when it passes. Only the tightest lead
 * time that applies now is due: a credential created three days before it expires gets the 7-day
 * warning (with leads 30, 7, 1), not the 30-day one too, and a server that was down while a
 * warning fell due sends it when it is back, unless a tighter one applies by then.
 */

export type ExpiryWhat = 'credential' | 'refresh_token' | 'access_key';

export interface Expiry {
  what: ExpiryWhat;
  expiresAt: string;
}

/** A notice due now: `leadDays` 0 means the expiry has passed. */
export interface DueNotice extends Expiry {
  leadDays: number;
}

const DAY_MS = 86_400_000;

/**
 * The notices due at `now` and when the next one falls due (null: nothing more to notice).
 * `leadDays`: positive whole days, any order.
 */
export function planExpiryNotices(expiries: readonly Expiry[], now: Date, leadDays: readonly number[]): { due: DueNotice[]; nextCheckAt: string | null } {
  const leads = [...new Set(leadDays)].sort((a, b) => b - a);
  const t = now.getTime();
  const due: DueNotice[] = [];
  let next: number | null = null;
  const later = (at: number) => {
    next = next === null ? at : Math.min(next, at);
  };
  for (const e of expiries) {
    const at = Date.parse(e.expiresAt);
    if (Number.isNaN(at)) continue;
    const expiresAt = new Date(at).toISOString();
    if (at <= t) {
      due.push({ what: e.what, expiresAt, leadDays: 0 });
      continue;
    }
    const left = at - t;
    const applies = leads.filter((l) => l * DAY_MS >= left);
    const tightest = applies[applies.length - 1];
    if (tightest === undefined) {
      // Not within any lead time yet: look again when the widest one begins.
      later(at - (leads[0] ?? 0) * DAY_MS);
      continue;
    }
    due.push({ what: e.what, expiresAt, leadDays: tightest });
    const narrower = leads.find((l) => l < tightest);
    later(narrower === undefined ? at : at - narrower * DAY_MS);
  }
  return { due, nextCheckAt: next === null ? null : new Date(next).toISOString() };
}

/** LATCHKEY_EXPIRY_WARNING_DAYS: whole days, comma-separated ("30,7,1"); "none" = only `expired`. */
export function parseLeadDays(raw: string): number[] | null {
  const v = raw.trim();
  if (v === 'none') return [];
  const parts = v.split(',').map((p) => p.trim());
  if (parts.some((p) => !/^\d{1,4}$/.test(p) || Number(p) < 1 || Number(p) > 3650)) return null;
  return [...new Set(parts.map(Number))].sort((a, b) => b - a);
}
