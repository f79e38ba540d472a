import type { CredentialWrite, RefreshSchedule } from '../domain/records.js';
import { CREDENTIAL_SET_SQL, writeVersions } from './credentials-sql.js';
import type { OAuthStore } from './port.js';
import {
  OAUTH_STATE_COLUMNS,
  REFRESH_STATE_COLUMNS,
  credentialToParams,
  insertSql,
  oauthStateFromRecord,
  oauthStateToParams,
  refreshStateFromRecord,
} from './rows.js';
import type { SqlRunner } from './sql-runner.js';
import { one, run, writeAudit, type WriteRunner } from './transaction-script.js';

/**
 * OAuth states and refresh claims, written once for both stores. A claim is a lease in columns
 * (owner, expiry, fence), not a lock held across the provider call: no transaction stays open
 * meanwhile. How due refreshes are claimed in bulk differs (PostgreSQL skips rows another process
 * is claiming), so that stays in each adapter.
 */

/** What a claim leaves free: no owner, or one whose lease ran out. */
const CLAIM_FREE = '(refresh_claimed_by IS NULL OR refresh_claim_expires_at < ?)';
/** Every credential a refresh may take: live, active, of the type, claim free. Parameters: type, now. */
export const REFRESHABLE_SQL = `deleted_at IS NULL AND status = 'active' AND type = ? AND ${CLAIM_FREE}`;
/** Two index-friendly halves of "due": a schedule written for this revision (parameter: now)… */
export const DUE_BY_SCHEDULE_SQL = 'refresh_next_at <= ? AND refresh_revision = revision AND refresh_blocked = 0';
/** …or none for this revision and an expiry before the horizon (parameter: horizon). */
export const DUE_BY_EXPIRY_SQL = 'expires_at <= ? AND (refresh_revision IS NULL OR refresh_revision <> revision)';

/** Writes the refreshed credential and releases the claim, only while `owner` holds it with the fence and the revision is unchanged. */
const COMPLETE_REFRESH_SQL = `UPDATE credentials SET ${CREDENTIAL_SET_SQL}, refresh_claimed_by = NULL, refresh_claim_expires_at = NULL,
          refresh_revision = ?, refresh_next_at = ?, refresh_failures = ?, refresh_blocked = ?
    WHERE tenant_id = ? AND id = ? AND revision = ? AND refresh_fence = ? AND refresh_claimed_by = ?`;
function completeRefreshParams(tenantId: string, owner: string, fence: number, expectedRevision: number, w: CredentialWrite, s: RefreshSchedule): unknown[] {
  return [
    ...credentialToParams(w.credential).slice(2),
    s.revision,
    s.nextAt,
    s.failures,
    s.blocked ? 1 : 0,
    tenantId,
    w.credential.id,
    expectedRevision,
    fence,
    owner,
  ];
}
const RELEASE_CLAIM_SQL =
  'UPDATE credentials SET refresh_claimed_by = NULL, refresh_claim_expires_at = NULL WHERE tenant_id = ? AND id = ? AND refresh_fence = ? AND refresh_claimed_by = ?';
/** Releases the claim and records the failure: `last_error` and a new revision with the schedule tied to it. */
const RELEASE_CLAIM_FAILED_SQL = `UPDATE credentials SET refresh_claimed_by = NULL, refresh_claim_expires_at = NULL, last_error = ?, revision = revision + 1,
          refresh_revision = revision + 1, refresh_next_at = ?, refresh_failures = ?, refresh_blocked = ?
    WHERE tenant_id = ? AND id = ? AND refresh_fence = ? AND refresh_claimed_by = ?`;
function releaseClaim(tenantId: string, id: string, owner: string, fence: number, failure: Parameters<OAuthStore['releaseRefresh']>[4]): [string, unknown[]] {
  if (failure === null) return [RELEASE_CLAIM_SQL, [tenantId, id, fence, owner]];
  const s = failure.schedule;
  return [RELEASE_CLAIM_FAILED_SQL, [failure.lastError, s.nextAt, s.failures, s.blocked ? 1 : 0, tenantId, id, fence, owner]];
}

export function oauthStore(db: SqlRunner, w: WriteRunner): Omit<OAuthStore, 'claimDueRefreshes'> {
  return {
    async completeRefresh(tenantId, owner, fence, expectedRevision, cw, schedule) {
      return w.write(function* () {
        if ((yield* run(COMPLETE_REFRESH_SQL, completeRefreshParams(tenantId, owner, fence, expectedRevision, cw, schedule))) !== 1) {
          const held = yield* one('SELECT 1 AS x FROM credentials WHERE tenant_id = ? AND id = ? AND refresh_fence = ? AND refresh_claimed_by = ?', [
            tenantId,
            cw.credential.id,
            fence,
            owner,
          ]);
          return held ? ('stale' as const) : ('fenced' as const);
        }
        yield* writeVersions(cw);
        yield* writeAudit(cw.audit);
        return 'updated' as const;
      });
    },
    async releaseRefresh(tenantId, id, owner, fence, failure) {
      return w.write(function* () {
        const released = (yield* run(...releaseClaim(tenantId, id, owner, fence, failure))) === 1;
        // The provider was called either way: its answer is recorded even when the claim was lost.
        if (failure) yield* writeAudit(failure.audit);
        return released;
      });
    },
    async getDerivedToken(tenantId, id) {
      const r = await db.one('SELECT credential_version, sealed, expires_at, created_at FROM derived_tokens WHERE tenant_id = ? AND credential_id = ?', [
        tenantId,
        id,
      ]);
      return r
        ? {
            tenantId,
            credentialId: id,
            credentialVersion: Number(r.credential_version),
            sealed: r.sealed as Buffer,
            expiresAt: (r.expires_at as string | null) ?? null,
            createdAt: r.created_at as string,
          }
        : null;
    },
    async putDerivedToken(owner, fence, t) {
      return w.write(function* () {
        if ((yield* run(RELEASE_CLAIM_SQL, [t.tenantId, t.credentialId, fence, owner])) !== 1) return false;
        yield* run(
          `INSERT INTO derived_tokens (tenant_id, credential_id, credential_version, sealed, expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?)
           ON CONFLICT (tenant_id, credential_id) DO UPDATE SET credential_version = excluded.credential_version, sealed = excluded.sealed, expires_at = excluded.expires_at, created_at = excluded.created_at`,
          [t.tenantId, t.credentialId, t.credentialVersion, t.sealed, t.expiresAt, t.createdAt],
        );
        return true;
      });
    },
    async insertOAuthState(s) {
      await db.run(insertSql('oauth_states', OAUTH_STATE_COLUMNS), oauthStateToParams(s));
    },
    async takeOAuthState(stateHash) {
      const r = await db.one('DELETE FROM oauth_states WHERE state_hash = ? RETURNING *', [stateHash]);
      return r ? oauthStateFromRecord(r) : null;
    },
    async purgeOAuthStates(before) {
      return db.run('DELETE FROM oauth_states WHERE expires_at < ?', [before]);
    },
    async getRefreshState(tenantId, id) {
      const r = await db.one(`SELECT ${REFRESH_STATE_COLUMNS.join(', ')} FROM credentials WHERE tenant_id = ? AND id = ?`, [tenantId, id]);
      return r ? refreshStateFromRecord(r) : null;
    },
    async claimRefresh(tenantId, id, owner, now, leaseUntil) {
      // One conditional UPDATE: a second claimer (PostgreSQL) blocks on the row lock, re-checks the
      // condition after the first commits, and finds the claim taken.
      const r = await db.one(
        `UPDATE credentials SET refresh_claimed_by = ?, refresh_claim_expires_at = ?, refresh_fence = refresh_fence + 1
          WHERE tenant_id = ? AND id = ? AND ${CLAIM_FREE} RETURNING refresh_fence`,
        [owner, leaseUntil, tenantId, id, now],
      );
      return r ? Number(r.refresh_fence) : null;
    },
  };
}
