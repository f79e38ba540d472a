import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { LatchkeyError } from '../../domain/errors.js';
import { credentialFacts } from '../credentials/credential-rows.js';
import { actorRef, systemContext, type RequestContext } from '../../domain/principal.js';
import type { CredentialRow, RefreshState, VersionRow } from '../../store/port.js';
import { openSecretValues, restagePlan, sealSecretValues, type SecretValues } from '../credentials/secret-values.js';
import { classifyFailure, NothingToRefreshWith, type ClassifiedFailure } from './oauth-errors.js';
import { clientAuth, errorClasses, str, tokenEndpoint } from './oauth2-credential.js';
import type { OAuthDeps } from './oauth-service.js';
import { providerPreset } from './provider-presets.js';
import { accessTokenExpiry, grantOf, nextRefreshAt, scheduleAfterFailure, shouldRefresh, type RefreshMode } from './refresh-policy.js';
import { callTokenEndpoint, type TokenSet } from './token-client.js';

/**
 * One refresh per credential at a time, across every process sharing the store:
 *  1. single flight in this process: concurrent callers for one credential share one promise;
 *  2. a claim in the database (a lease in the credential's row, with a fencing counter bumped by
 *     every claim): one process calls the provider, the others poll the row (bounded) and read
 *     the result it wrote;
 *  3. after claiming, the row is read again and the decision re-made, so a refresh another
 *     process finished a moment ago is not done twice;
 *  4. the new tokens are written as a new secret version in the transaction that releases the
 *     claim, compare-and-set on the fence (a holder whose lease ran out writes nothing) and on
 *     the revision (a concurrent edit is re-read and the tokens applied on top of it).
 * The scheduler pass (ahead of expiry) claims due credentials in batches and runs them the same way.
 */

const SCHEDULER_BATCH = 50;

export type FlightStatus = 'refreshed' | 'fresh' | 'skipped' | 'failed' | 'timeout';
export interface FlightResult {
  status: FlightStatus;
  failure?: ClassifiedFailure;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

const REFRESHER = { id: 'oauth-refresher', name: 'latchkey token refresher' };

export interface WriteOptions {
  action: string;
  /** The refresh token the call used: if someone stored another meanwhile, theirs wins. */
  usedRefreshToken: string | null;
  /** Connect: replaces the grant (new refresh token, identity), whatever was stored. */
  connect?: { account: Record<string, string> | null };
}

export interface RefreshCoordinator {
  /** The stored secret of the credential's current version. */
  currentSecret(c: CredentialRow, slot?: 'secret' | 'test_secret'): Promise<SecretValues | null>;
  /** Claims the refresh, waiting (bounded) for another holder to finish; null when the wait ran out. */
  acquireClaim(tenantId: string, id: string): Promise<number | null>;
  releaseClaim(tenantId: string, id: string, fence: number): Promise<void>;
  /** Stores a token response as a new version and releases the claim (`fence`); null when the claim was lost. */
  writeTokens(
    ctx: RequestContext,
    start: CredentialRow,
    startSecret: SecretValues,
    tokens: TokenSet,
    fence: number,
    opts: WriteOptions,
  ): Promise<CredentialRow | null>;
  /** One refresh attempt for a credential, shared by every caller in this process. */
  flight(ctx: RequestContext, tenantId: string, id: string, mode: RefreshMode, heldFence?: number): Promise<FlightResult>;
  /** One scheduler pass: claims due credentials and refreshes them. */
  runOnce(): Promise<{ claimed: number; refreshed: number; failed: number }>;
  start(intervalMs: number): void;
  stop(): Promise<void>;
}

export function createRefreshCoordinator(deps: OAuthDeps): RefreshCoordinator {
  const { store, keyring, catalog, audit, clock, logger, egress } = deps;
  const leaseMs = deps.claimLeaseMs ?? 30_000;
  const waitMs = deps.waitMs ?? 10_000;
  /** Names this process in claims (logs and debugging); the fence is what makes claims safe. */
  const owner = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  const flights = new Map<string, Promise<FlightResult>>();
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> | null = null;

  const iso = (d: Date = clock.now()): string => d.toISOString();
  const later = (ms: number): string => new Date(clock.now().getTime() + ms).toISOString();

  async function currentSecret(c: CredentialRow, slot: 'secret' | 'test_secret' = 'secret'): Promise<SecretValues | null> {
    const v = await store.getVersion(c.tenantId, c.id, c.version);
    if (!v) throw new Error('version row missing');
    return openSecretValues(keyring, v, slot);
  }

  /** Claims the refresh, waiting (bounded) for another holder to finish; null when the wait ran out. */
  async function acquireClaim(tenantId: string, id: string): Promise<number | null> {
    const deadline = Date.now() + waitMs;
    for (let pause = 20; ; pause = Math.min(pause * 2, 200)) {
      const fence = await store.claimRefresh(tenantId, id, owner, iso(), later(leaseMs));
      if (fence !== null) return fence;
      if (Date.now() > deadline) return null;
      await sleep(pause);
    }
  }

  /**
   * Stores a token response as a new version and releases the claim in the same transaction.
   * Retries on a concurrent edit (revision moved) by re-reading and applying the tokens on top.
   */
  async function writeTokens(
    ctx: RequestContext,
    start: CredentialRow,
    startSecret: SecretValues,
    tokens: TokenSet,
    fence: number,
    opts: WriteOptions,
  ): Promise<CredentialRow | null> {
    let c = start;
    let base = startSecret;
    for (let attempt = 0; attempt < 5; attempt++) {
      const now = clock.now();
      const expiresAt = tokens.expiresIn === null ? null : new Date(now.getTime() + tokens.expiresIn * 1000);
      const secret: SecretValues = { ...base, access_token: tokens.accessToken };
      // A refresh answer without a refresh token keeps the stored one (RFC 6749 §6: "MAY issue").
      if (tokens.refreshToken !== null) secret.refresh_token = tokens.refreshToken;
      else if (opts.connect) delete secret.refresh_token;
      if (tokens.idToken !== null) secret.id_token = tokens.idToken;
      else if (opts.connect) delete secret.id_token;
      const config: Record<string, unknown> = { ...c.config, access_token_expires_at: expiresAt === null ? null : expiresAt.toISOString() };
      if (tokens.refreshTokenExpiresIn !== null) config.refresh_token_expires_at = new Date(now.getTime() + tokens.refreshTokenExpiresIn * 1000).toISOString();
      else if (opts.connect) config.refresh_token_expires_at = null;
      if (opts.connect?.account) config.account = opts.connect.account;
      const checkedConfig = catalog.checkConfig(c.type, config);
      const checkedSecret = catalog.checkSecret(c.type, secret);
      if (checkedConfig.issues.length > 0 || checkedSecret.issues.length > 0) {
        throw new LatchkeyError('CONFLICT', 'The provider answered with tokens this credential cannot hold', {
          cause: [...checkedConfig.issues, ...checkedSecret.issues],
        });
      }
      const row: CredentialRow = {
        ...c,
        config: checkedConfig.value,
        version: c.version + 1,
        revision: c.revision + 1,
        expiresAt: expiresAt === null ? null : expiresAt.toISOString(),
        updatedAt: iso(now),
        modifiedBy: actorRef(ctx),
        lastError: null,
        secretFields: (catalog.get(c.type)?.secretFields ?? []).filter((f) => f in checkedSecret.value),
      };
      const testSecret = c.testCredentialEnabled ? await currentSecret(c, 'test_secret') : null;
      const version: VersionRow = {
        tenantId: c.tenantId,
        credentialId: c.id,
        version: row.version,
        stage: 'current',
        secret: await sealSecretValues(keyring, c.tenantId, c.id, row.version, 'secret', checkedSecret.value),
        testSecret: testSecret === null ? null : await sealSecretValues(keyring, c.tenantId, c.id, row.version, 'test_secret', testSecret),
        expiresAt: null,
        createdAt: iso(now),
        createdBy: actorRef(ctx),
      };
      // The old access token keeps working at the provider until it expires: readable until then.
      const oldExpiry = accessTokenExpiry(c);
      const graceEnds = oldExpiry !== null && oldExpiry > iso(now) ? oldExpiry : iso(now);
      const restage = restagePlan(await store.listVersions(c.tenantId, c.id), c.version, graceEnds);
      const lifetimeMs = tokens.expiresIn === null ? null : tokens.expiresIn * 1000;
      const result = await store.completeRefresh(
        c.tenantId,
        owner,
        fence,
        c.revision,
        {
          credential: row,
          version,
          restage,
          audit: [audit.event(ctx, opts.action, { type: 'credential', id: c.id }, 'success', null, credentialFacts(row, { version: row.version }))],
        },
        { revision: row.revision, nextAt: nextRefreshAt(expiresAt, lifetimeMs, deps.refreshLeadMs), failures: 0, blocked: false },
      );
      if (result === 'updated') return row;
      if (result === 'fenced') {
        // Our lease ran out and another process claimed the credential: what it writes is newer.
        logger.error({ tenant_id: c.tenantId, credential_id: c.id }, 'refresh claim lost before the tokens were stored; this response is discarded');
        return null;
      }
      const fresh = await store.getCredential(c.tenantId, c.id);
      if (!fresh) return null;
      if (fresh.version !== c.version) {
        const theirs = (await currentSecret(fresh)) ?? {};
        if (!opts.connect && str(theirs.refresh_token) !== opts.usedRefreshToken) {
          // Someone stored another grant while we refreshed the old one: theirs is the one to keep.
          await store.releaseRefresh(c.tenantId, c.id, owner, fence, null);
          return fresh;
        }
        base = theirs;
      }
      c = fresh;
    }
    await store.releaseRefresh(c.tenantId, c.id, owner, fence, null);
    throw new LatchkeyError('CONFLICT', 'The credential kept changing while its tokens were stored');
  }

  /** Calls the token endpoint for the credential's grant (refresh_token or client_credentials). */
  async function obtainTokens(c: CredentialRow, secret: SecretValues): Promise<{ tokens: TokenSet; used: string | null }> {
    const endpoint = tokenEndpoint(c);
    const grant = grantOf(c);
    let params: Record<string, string>;
    let used: string | null = null;
    if (grant === 'client_credentials') {
      params = { grant_type: 'client_credentials' };
      const scopes = Array.isArray(c.config.scopes) ? (c.config.scopes as string[]) : [];
      if (scopes.length > 0) params.scope = scopes.join(providerPreset(c.provider)?.scope_separator ?? ' ');
      const aud = str(c.config.audience);
      if (aud !== null) params.audience = aud;
    } else {
      used = str(secret.refresh_token);
      if (used === null) throw new NothingToRefreshWith();
      params = { grant_type: 'refresh_token', refresh_token: used };
    }
    return { tokens: await callTokenEndpoint(egress, endpoint, clientAuth(c, secret), params, errorClasses(c)), used };
  }

  /** The refresh itself, with the claim (`fence`) held. Always leaves the claim released. */
  async function refreshHeld(ctx: RequestContext, tenantId: string, id: string, fence: number, mode: RefreshMode): Promise<FlightResult> {
    let c: CredentialRow | null = null;
    let state: RefreshState | null = null;
    try {
      // Re-read after claiming: another process may have refreshed between our read and our claim.
      c = await store.getCredential(tenantId, id);
      state = await store.getRefreshState(tenantId, id);
      if (!c) return { status: 'skipped' };
      const decision = shouldRefresh(c, state, clock.now(), mode, deps.refreshLeadMs);
      if (!decision.refresh) {
        if (decision.reason === 'not_refreshable' && mode === 'schedule' && c.type === 'oauth2' && c.deletedAt === null) throw new NothingToRefreshWith();
        await store.releaseRefresh(tenantId, id, owner, fence, null);
        return { status: decision.reason === 'fresh' ? 'fresh' : 'skipped' };
      }
      const secret = (await currentSecret(c)) ?? {};
      const { tokens, used } = await obtainTokens(c, secret);
      const written = await writeTokens(ctx, c, secret, tokens, fence, { action: 'credential.refresh', usedRefreshToken: used });
      return { status: written ? 'refreshed' : 'fresh' };
    } catch (err) {
      const failure = classifyFailure(err);
      if (!failure || !c) {
        await store.releaseRefresh(tenantId, id, owner, fence, null).catch(() => undefined);
        throw err;
      }
      const schedule = scheduleAfterFailure(failure.failure, state, c.revision, clock.now());
      logger.warn({ tenant_id: tenantId, credential_id: id, code: failure.code, failure: failure.failure, next_at: schedule.nextAt }, 'token refresh failed');
      await store.releaseRefresh(tenantId, id, owner, fence, {
        lastError: failure.lastError,
        schedule,
        audit: [
          audit.event(
            ctx,
            'credential.refresh',
            { type: 'credential', id },
            'failure',
            failure.code,
            credentialFacts(c, {
              category: failure.remote?.category ?? failure.code,
              status: failure.remote?.status ?? null,
              failure: failure.failure,
              failures: schedule.failures,
              blocked: schedule.blocked,
            }),
          ),
        ],
      });
      return { status: 'failed', failure };
    }
  }

  /**
   * One refresh attempt for a credential, shared by every caller in this process. Without a held
   * claim it claims one, or waits (bounded) while another process holds it and returns once that
   * one's result is stored.
   */
  function flight(ctx: RequestContext, tenantId: string, id: string, mode: RefreshMode, heldFence?: number): Promise<FlightResult> {
    const key = `${tenantId}\u0000${id}`;
    const joined = flights.get(key);
    if (joined) {
      if (heldFence !== undefined) void store.releaseRefresh(tenantId, id, owner, heldFence, null).catch(() => undefined);
      return joined;
    }
    const run = (async (): Promise<FlightResult> => {
      if (heldFence !== undefined) return refreshHeld(ctx, tenantId, id, heldFence, mode);
      const deadline = Date.now() + waitMs;
      let sawOther: number | null = null;
      for (let pause = 20; ; pause = Math.min(pause * 2, 200)) {
        const fence = await store.claimRefresh(tenantId, id, owner, iso(), later(leaseMs));
        if (fence !== null) return refreshHeld(ctx, tenantId, id, fence, mode);
        // Another process is refreshing: read what it leaves behind.
        await sleep(pause);
        const c = await store.getCredential(tenantId, id);
        if (!c) return { status: 'skipped' };
        sawOther ??= c.revision;
        if (
          mode === 'manual'
            ? c.revision !== sawOther
            : !shouldRefresh(c, await store.getRefreshState(tenantId, id), clock.now(), mode, deps.refreshLeadMs).refresh
        ) {
          return { status: 'fresh' };
        }
        if (Date.now() > deadline) return { status: 'timeout' };
      }
    })();
    flights.set(key, run);
    void run.finally(() => flights.delete(key)).catch(() => undefined);
    return run;
  }

  async function runOnce(): Promise<{ claimed: number; refreshed: number; failed: number }> {
    const now = clock.now();
    await store.purgeOAuthStates(iso(now)).catch(() => 0);
    const claims = await store.claimDueRefreshes({
      type: 'oauth2',
      now: iso(now),
      horizon: new Date(now.getTime() + deps.refreshLeadMs).toISOString(),
      owner,
      leaseUntil: later(leaseMs),
      limit: SCHEDULER_BATCH,
    });
    let refreshed = 0;
    let failed = 0;
    // A few at a time: one slow provider must not hold up the rest of the batch for long.
    const queue = [...claims];
    await Promise.all(
      Array.from({ length: Math.min(4, queue.length) }, async () => {
        for (let next = queue.shift(); next; next = queue.shift()) {
          try {
            const r = await flight(systemContext(next.tenantId, REFRESHER), next.tenantId, next.id, 'schedule', next.fence);
            if (r.status === 'refreshed') refreshed += 1;
            if (r.status === 'failed') failed += 1;
          } catch (err) {
            failed += 1;
            logger.warn({ tenant_id: next.tenantId, credential_id: next.id, code: (err as { code?: string }).code }, 'scheduled refresh failed; will retry');
          }
        }
      }),
    );
    return { claimed: claims.length, refreshed, failed };
  }

  function start(intervalMs: number): void {
    timer = setInterval(() => {
      if (running) return;
      running = runOnce()
        .catch((err: unknown) => logger.warn({ code: (err as { code?: string }).code }, 'token refresh scheduler failed; will retry'))
        .finally(() => (running = null));
    }, intervalMs);
    timer.unref();
  }

  async function stop(): Promise<void> {
    if (timer) clearInterval(timer);
    await running;
    await Promise.allSettled([...flights.values()]);
  }

  return {
    currentSecret,
    acquireClaim,
    releaseClaim: async (tenantId, id, fence) => {
      await store.releaseRefresh(tenantId, id, owner, fence, null);
    },
    writeTokens,
    flight,
    runOnce,
    start,
    stop,
  };
}
