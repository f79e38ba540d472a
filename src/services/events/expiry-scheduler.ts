import type { Logger } from 'pino';
import type { Clock } from '../../domain/clock.js';
import { systemContext } from '../../domain/principal.js';
import type { AccessKeyRow, CredentialRow, ExpiryCheckResult, ExpiryNotice, ExpiryStore } from '../../store/port.js';
import type { AuditService } from '../audit/audit-service.js';
import { credentialFacts } from '../credentials/credential-rows.js';
import { canObtainToken } from '../oauth/refresh-policy.js';
import { periodic } from '../lifecycle/periodic.js';
import { planExpiryNotices, type DueNotice, type Expiry } from './expiry-plan.js';

export interface ExpiryScheduler {
  /** One pass at the clock's now: every row due for a look, in batches. */
  runOnce(): Promise<{ checked: number; noticed: number }>;
  start(intervalMs: number): void;
  stop(): Promise<void>;
}

/** The scheduler's principal, as the lifecycle jobs name it. */
const SCHEDULER = { id: 'scheduler', name: 'latchkey scheduler' };
const BATCH = 500;
/** A pass stops after this many batches of a kind (the next tick goes on), so one pass cannot run unbounded. */
const MAX_BATCHES = 400;

/**
 * A credential's expiries: its own `expires_at`, except on an OAuth2 credential that gets its own
 * access tokens (there `expires_at` is the access token's, which the refresher renews: a failure
 * to is `credential.refresh_failing`), and its refresh token's when the provider said when.
 * Deleted and deactivated credentials expire silently.
 */
export function credentialExpiries(c: CredentialRow): Expiry[] {
  if (c.deletedAt !== null || c.status === 'deactivated') return [];
  const out: Expiry[] = [];
  const selfRenewing = c.type === 'oauth2' && canObtainToken(c);
  if (c.expiresAt !== null && !selfRenewing) out.push({ what: 'credential', expiresAt: c.expiresAt });
  const refresh = c.config.refresh_token_expires_at;
  if (c.type === 'oauth2' && typeof refresh === 'string' && c.secretFields.includes('refresh_token')) out.push({ what: 'refresh_token', expiresAt: refresh });
  return out;
}

/**
 * Expiry warnings: `credential.expiring` / `credential.expired` (a credential's own expiry or its
 * OAuth2 refresh token's) and `access_key.expiring` / `access_key.expired`, at each configured
 * lead time and once the expiry passes. Each row is read only when a notice may be due (its
 * `expiry_check_at`, store/expiry-sql.ts), and each notice is written with its audit event in one
 * transaction under a unique key, so it happens once across processes and restarts.
 */
export function createExpiryScheduler(deps: {
  store: ExpiryStore;
  audit: Pick<AuditService, 'event'>;
  clock: Clock;
  logger: Logger;
  leadDays: readonly number[];
}): ExpiryScheduler {
  const { store, audit, clock, logger } = deps;

  const noticeOf = (
    tenantId: string,
    object: 'credential' | 'access_key',
    id: string,
    n: DueNotice,
    facts: Record<string, string | number | null>,
  ): ExpiryNotice => {
    const action = `${object}.${n.leadDays === 0 ? 'expired' : 'expiring'}`;
    const detail = { ...facts, what: n.what, lead_days: n.leadDays, expires_at: n.expiresAt };
    return {
      what: n.what,
      expiresAt: n.expiresAt,
      leadDays: n.leadDays,
      event: audit.event(systemContext(tenantId, SCHEDULER), action, { type: object, id }, 'success', null, detail),
    };
  };

  const checkCredential = (c: CredentialRow, checkAt: string, now: Date): ExpiryCheckResult => {
    const plan = planExpiryNotices(credentialExpiries(c), now, deps.leadDays);
    const facts = credentialFacts(c) as Record<string, string | number | null>;
    return {
      objectType: 'credential',
      id: c.id,
      revision: c.revision,
      checkAt,
      nextCheckAt: plan.nextCheckAt,
      notices: plan.due.map((n) => noticeOf(c.tenantId, 'credential', c.id, n, facts)),
    };
  };

  const checkAccessKey = (k: AccessKeyRow, checkAt: string, now: Date): ExpiryCheckResult => {
    const plan = planExpiryNotices(k.expiresAt === null ? [] : [{ what: 'access_key', expiresAt: k.expiresAt }], now, deps.leadDays);
    // An access key may belong to several teams: its events are the whole tenant's (team_id null).
    const facts = { type: k.type, role: k.role, team_id: null };
    return {
      objectType: 'access_key',
      id: k.id,
      revision: null,
      checkAt,
      nextCheckAt: plan.nextCheckAt,
      notices: plan.due.map((n) => noticeOf(k.tenantId, 'access_key', k.id, n, facts)),
    };
  };

  /** Writes a batch's results, one transaction per tenant. */
  const record = async (results: Array<{ tenantId: string; result: ExpiryCheckResult }>): Promise<number> => {
    const byTenant = new Map<string, ExpiryCheckResult[]>();
    for (const { tenantId, result } of results) byTenant.set(tenantId, [...(byTenant.get(tenantId) ?? []), result]);
    let noticed = 0;
    for (const [tenantId, checks] of byTenant) noticed += await store.recordExpiryChecks(tenantId, checks);
    return noticed;
  };

  const runOnce: ExpiryScheduler['runOnce'] = async () => {
    const now = clock.now();
    const iso = now.toISOString();
    let checked = 0;
    let noticed = 0;
    for (let i = 0; i < MAX_BATCHES; i++) {
      const rows = await store.listCredentialExpiryChecks(iso, BATCH);
      checked += rows.length;
      noticed += await record(rows.map((r) => ({ tenantId: r.credential.tenantId, result: checkCredential(r.credential, r.checkAt, now) })));
      if (rows.length < BATCH) break;
    }
    for (let i = 0; i < MAX_BATCHES; i++) {
      const rows = await store.listAccessKeyExpiryChecks(iso, BATCH);
      checked += rows.length;
      noticed += await record(rows.map((r) => ({ tenantId: r.key.tenantId, result: checkAccessKey(r.key, r.checkAt, now) })));
      if (rows.length < BATCH) break;
    }
    return { checked, noticed };
  };

  return { runOnce, ...periodic(runOnce, logger, 'expiry scheduler failed; will retry') };
}
