/**
 * What the credentials service offers (credentials-service.ts implements it), apart from the
 * implementation so that routes, dialects and other services read the contract in one place.
 */
import type { RequestContext } from '../../domain/principal.js';
import type { CredentialFilter, CredentialRow, Keyset, VersionRow } from '../../domain/records.js';
import type { CredentialInput, CredentialPatch } from './credential-input.js';
import type { SecretValues } from './secret-values.js';

export interface Revealed {
  credential: CredentialRow;
  /** The secret of the variant asked for: with `variant: 'test'`, the test secret (never the live one). */
  secret: SecretValues;
  /** The test secret again for a test reveal (the field clients of the older answer read), else null. */
  testSecret: SecretValues | null;
}

export interface CredentialsService {
  create(ctx: RequestContext, input: CredentialInput, id?: string): Promise<{ credential: CredentialRow; generated: SecretValues | null }>;
  replace(
    ctx: RequestContext,
    id: string,
    input: CredentialInput,
    expectedRevision?: number,
  ): Promise<{ credential: CredentialRow; created: boolean; generated: SecretValues | null }>;
  get(ctx: RequestContext, id: string): Promise<CredentialRow>;
  /** Metadata of a credential the caller may change (write scope, visibility.ts): 404 if it cannot see it, 403 if it sees it only to read. */
  getForChange(ctx: RequestContext, id: string): Promise<CredentialRow>;
  list(
    ctx: RequestContext,
    filter: CredentialFilter,
    page: { limit: number; offset?: number; after?: Keyset },
  ): Promise<{ rows: CredentialRow[]; total: number }>;
  update(ctx: RequestContext, id: string, patch: CredentialPatch, expectedRevision?: number): Promise<CredentialRow>;
  remove(ctx: RequestContext, id: string, opts: { purge: boolean; expectedRevision?: number }): Promise<void>;
  restore(ctx: RequestContext, id: string): Promise<CredentialRow>;
  reveal(ctx: RequestContext, id: string, opts: { variant: 'main' | 'test'; allowInactive: boolean; version?: number }): Promise<Revealed>;
  versions(ctx: RequestContext, id: string): Promise<VersionRow[]>;
  version(ctx: RequestContext, id: string, version: number): Promise<VersionRow>;
  /**
   * `mergeSecret`: fields of the current secret that `secret` does not give are kept (an OAuth2
   * token rotation keeps the client secret). `accessTokenExpiresAt` (oauth2): the new access
   * token's expiry, written with the new version (null: unknown).
   */
  rotate(
    ctx: RequestContext,
    id: string,
    opts: { secret?: SecretValues; gracePeriodSeconds: number; mergeSecret?: boolean; accessTokenExpiresAt?: string | null },
  ): Promise<{ credential: CredentialRow; generated: SecretValues | null }>;
  restoreVersion(ctx: RequestContext, id: string, version: number): Promise<CredentialRow>;
  /** The rotation policy fell due on a type that cannot make its own secret: a person must act. */
  markRotationDue(ctx: RequestContext, id: string, expectedRevision: number): Promise<void>;
  /**
   * The current secret for the server's own use (a verify probe): it never leaves the server, so
   * it needs `credentials:rotate`, not reveal; the caller audits what it did with it.
   */
  openForUse(ctx: RequestContext, id: string): Promise<{ credential: CredentialRow; secret: SecretValues }>;
  /**
   * `credentialId`'s credential if it belongs to the integration, else the most recently updated
   * active one of all the integration's credentials. `allowInactive`: an inactive credential is
   * revealed (with its status) instead of 409, and without `credentialId` the most recently updated
   * of any status stands in when none is active.
   */
  revealForIntegration(ctx: RequestContext, integrationId: string, credentialId?: string, opts?: { allowInactive?: boolean }): Promise<Revealed>;
  /**
   * The current secret for the proxy to put into a request the caller sends (services/proxy):
   * `credentials:use` and the visibility of a reveal. `check` refuses what the credential may
   * not be used for (its allowed hosts) before anything is decrypted, and names the use for the
   * audit event. As with a reveal, the event is durable before the secret is used.
   */
  use(ctx: RequestContext, id: string, check: (c: CredentialRow) => string): Promise<{ credential: CredentialRow; secret: SecretValues }>;
}

/** Token refresh for `oauth2` credentials (services/oauth), wired in by the composition root. */
export interface TokenRefresher {
  /** Before a reveal: an expired access token is refreshed first (bounded wait); returns the row to reveal. */
  beforeReveal(ctx: RequestContext, c: CredentialRow): Promise<CredentialRow>;
  /** Refresh now (rotate with an empty body). */
  refreshNow(ctx: RequestContext, c: CredentialRow): Promise<CredentialRow>;
}
