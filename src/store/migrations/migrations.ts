/**
 * One schema for both adapters. Only SQL that SQLite, PostgreSQL and the PostgreSQL-compatible
 * distributed engines share: TEXT timestamps in RFC 3339 UTC (they sort as text), JSON as TEXT,
 * integers for booleans, partial indexes. The only per-dialect word is the bytes type.
 */
export interface SqlDialect {
  bytes: 'BLOB' | 'BYTEA';
}

/** The bookkeeping of which migrations ran, written with `?` placeholders like the other shared SQL. */
export const MIGRATIONS_TABLE_SQL = 'CREATE TABLE IF NOT EXISTS schema_migrations (id INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)';
export const APPLIED_MIGRATIONS_SQL = 'SELECT id FROM schema_migrations';
export const RECORD_MIGRATION_SQL = 'INSERT INTO schema_migrations (id, name, applied_at) VALUES (?, ?, ?)';

export interface Migration {
  id: number;
  name: string;
  statements: (d: SqlDialect) => string[];
}

export const MIGRATIONS: readonly Migration[] = [
  {
    id: 1,
    name: 'core',
    statements: (d) => [
      `CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`,
      `CREATE TABLE tenants (id TEXT PRIMARY KEY, name TEXT NOT NULL, created_at TEXT NOT NULL)`,
      `CREATE UNIQUE INDEX tenants_name ON tenants (name)`,
      `CREATE TABLE tenant_keys (
         tenant_id TEXT NOT NULL, version INTEGER NOT NULL, wrapped_key ${d.bytes} NOT NULL,
         root_key_id TEXT NOT NULL, created_at TEXT NOT NULL, PRIMARY KEY (tenant_id, version))`,
      `CREATE TABLE access_keys (
         tenant_id TEXT NOT NULL, id TEXT NOT NULL, name TEXT NOT NULL, type TEXT NOT NULL, role TEXT NOT NULL,
         team_ids TEXT NOT NULL, prefix TEXT NOT NULL, key_hash ${d.bytes} NOT NULL, platform_admin INTEGER NOT NULL,
         expires_at TEXT, last_used_at TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
         revision INTEGER NOT NULL, created_by TEXT, PRIMARY KEY (tenant_id, id))`,
      `CREATE UNIQUE INDEX access_keys_hash ON access_keys (key_hash)`,
      `CREATE INDEX access_keys_list ON access_keys (tenant_id, created_at, id)`,
      `CREATE TABLE credentials (
         tenant_id TEXT NOT NULL, id TEXT NOT NULL, name TEXT NOT NULL, slug TEXT NOT NULL, type TEXT NOT NULL,
         provider TEXT, integration_id TEXT, description TEXT NOT NULL, status TEXT NOT NULL,
         deactivation_time TEXT, config TEXT NOT NULL, secret_fields TEXT NOT NULL, metadata TEXT NOT NULL,
         allowed_hosts TEXT NOT NULL, team_id TEXT, folder_id TEXT, read_access TEXT NOT NULL,
         shared_team_slugs TEXT NOT NULL, test_credential_enabled INTEGER NOT NULL, version INTEGER NOT NULL,
         revision INTEGER NOT NULL, expires_at TEXT, last_used_at TEXT, last_error TEXT,
         created_at TEXT NOT NULL, updated_at TEXT NOT NULL, created_by TEXT NOT NULL, modified_by TEXT NOT NULL,
         deleted_at TEXT, PRIMARY KEY (tenant_id, id))`,
      `CREATE UNIQUE INDEX credentials_slug ON credentials (tenant_id, slug) WHERE deleted_at IS NULL`,
      `CREATE INDEX credentials_list ON credentials (tenant_id, created_at, id) WHERE deleted_at IS NULL`,
      `CREATE INDEX credentials_integration ON credentials (tenant_id, integration_id, updated_at) WHERE deleted_at IS NULL`,
      `CREATE TABLE credential_versions (
         tenant_id TEXT NOT NULL, credential_id TEXT NOT NULL, version INTEGER NOT NULL, stage TEXT NOT NULL,
         secret ${d.bytes} NOT NULL, test_secret ${d.bytes}, created_at TEXT NOT NULL, created_by TEXT NOT NULL,
         PRIMARY KEY (tenant_id, credential_id, version))`,
      `CREATE TABLE audit_events (
         id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, at TEXT NOT NULL, actor TEXT NOT NULL, actor_id TEXT NOT NULL,
         action TEXT NOT NULL, target_type TEXT NOT NULL, target_id TEXT, outcome TEXT NOT NULL, reason TEXT,
         request_id TEXT NOT NULL, ip TEXT NOT NULL, user_agent TEXT NOT NULL,
         seq INTEGER, hash TEXT, prev_hash TEXT)`,
      `CREATE UNIQUE INDEX audit_chain ON audit_events (tenant_id, seq)`,
      `CREATE INDEX audit_unsealed ON audit_events (tenant_id, at, id) WHERE seq IS NULL`,
      `CREATE INDEX audit_list ON audit_events (tenant_id, at, id)`,
      `CREATE INDEX audit_target ON audit_events (tenant_id, target_id, at)`,
      `CREATE TABLE idempotency_keys (
         tenant_id TEXT NOT NULL, key TEXT NOT NULL, principal_id TEXT NOT NULL, fingerprint TEXT NOT NULL,
         state TEXT NOT NULL, status INTEGER, response ${d.bytes}, created_at TEXT NOT NULL,
         PRIMARY KEY (tenant_id, key))`,
      `CREATE INDEX idempotency_age ON idempotency_keys (created_at)`,
    ],
  },
  {
    id: 2,
    name: 'version grace period',
    statements: () => [`ALTER TABLE credential_versions ADD COLUMN expires_at TEXT`],
  },
  {
    id: 3,
    name: 'teams and folders',
    statements: () => [
      `CREATE TABLE teams (
         tenant_id TEXT NOT NULL, id TEXT NOT NULL, slug TEXT NOT NULL, name TEXT NOT NULL,
         created_at TEXT NOT NULL, updated_at TEXT NOT NULL, revision INTEGER NOT NULL, PRIMARY KEY (tenant_id, id))`,
      `CREATE UNIQUE INDEX teams_slug ON teams (tenant_id, slug)`,
      `CREATE TABLE folders (
         tenant_id TEXT NOT NULL, id TEXT NOT NULL, team_id TEXT NOT NULL, name TEXT NOT NULL,
         created_at TEXT NOT NULL, updated_at TEXT NOT NULL, PRIMARY KEY (tenant_id, id))`,
      `CREATE UNIQUE INDEX folders_name ON folders (tenant_id, team_id, name)`,
    ],
  },
  {
    id: 4,
    name: 'rotation policy',
    statements: () => [
      `ALTER TABLE credentials ADD COLUMN rotation_interval_days INTEGER`,
      `ALTER TABLE credentials ADD COLUMN next_rotation_at TEXT`,
      `ALTER TABLE credentials ADD COLUMN rotation_due INTEGER NOT NULL DEFAULT 0`,
      `CREATE INDEX credentials_rotation ON credentials (next_rotation_at) WHERE deleted_at IS NULL AND rotation_due = 0`,
      `CREATE INDEX credentials_deactivation ON credentials (deactivation_time) WHERE deleted_at IS NULL AND status <> 'deactivated'`,
      `CREATE INDEX credentials_deleted ON credentials (deleted_at) WHERE deleted_at IS NOT NULL`,
    ],
  },
  {
    id: 5,
    name: 'audit checkpoints, sinks and retention',
    statements: (d) => [
      // One row per chain: the head as last sealed (sinks find their work here without scanning
      // events) and the keyed checkpoint that makes truncation visible.
      `CREATE TABLE audit_chain_heads (
         tenant_id TEXT PRIMARY KEY, seq INTEGER NOT NULL, event_id TEXT NOT NULL, hash TEXT NOT NULL,
         checkpoint TEXT, updated_at TEXT NOT NULL)`,
      // Chains sealed before this migration: their heads, without a checkpoint (the sealer adopts them).
      `INSERT INTO audit_chain_heads (tenant_id, seq, event_id, hash, checkpoint, updated_at)
         SELECT e.tenant_id, e.seq, e.id, e.hash, NULL, e.at FROM audit_events e
          WHERE e.seq = (SELECT MAX(x.seq) FROM audit_events x WHERE x.tenant_id = e.tenant_id)`,
      // The checkpoint MAC key of each tenant, sealed under the tenant's data key by the keyring.
      `CREATE TABLE audit_chain_keys (tenant_id TEXT PRIMARY KEY, sealed_key ${d.bytes} NOT NULL, created_at TEXT NOT NULL)`,
      `CREATE TABLE audit_sink_cursors (sink TEXT NOT NULL, tenant_id TEXT NOT NULL, seq INTEGER NOT NULL, updated_at TEXT NOT NULL, PRIMARY KEY (sink, tenant_id))`,
      `CREATE TABLE audit_sink_leases (sink TEXT PRIMARY KEY, owner TEXT NOT NULL, expires_at TEXT NOT NULL)`,
      // filter[action] and the anchor lookup.
      `CREATE INDEX audit_action ON audit_events (tenant_id, action, at, id)`,
    ],
  },
  {
    id: 6,
    name: 'oauth states and refresh claims',
    statements: (d) => [
      // A pending authorization: the state only as its SHA-256, the PKCE verifier sealed by the
      // tenant's keyring. Single use (deleted when taken), ten minutes.
      `CREATE TABLE oauth_states (
         state_hash TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, credential_id TEXT NOT NULL, principal TEXT NOT NULL,
         code_verifier ${d.bytes}, nonce TEXT, redirect_uri TEXT NOT NULL, return_to TEXT, created_at TEXT NOT NULL,
         expires_at TEXT NOT NULL)`,
      `CREATE INDEX oauth_states_expiry ON oauth_states (expires_at)`,
      // The refresh claim: who refreshes the credential now and until when (a lease), and a fence
      // bumped by every claim so that a holder whose lease ran out cannot write over a newer token.
      `ALTER TABLE credentials ADD COLUMN refresh_claimed_by TEXT`,
      `ALTER TABLE credentials ADD COLUMN refresh_claim_expires_at TEXT`,
      `ALTER TABLE credentials ADD COLUMN refresh_fence INTEGER NOT NULL DEFAULT 0`,
      // Refresh schedule and failures, valid for the revision named in refresh_revision: any other
      // change to the credential (a person fixing it) starts afresh.
      `ALTER TABLE credentials ADD COLUMN refresh_revision INTEGER`,
      `ALTER TABLE credentials ADD COLUMN refresh_next_at TEXT`,
      `ALTER TABLE credentials ADD COLUMN refresh_failures INTEGER NOT NULL DEFAULT 0`,
      `ALTER TABLE credentials ADD COLUMN refresh_blocked INTEGER NOT NULL DEFAULT 0`,
      `CREATE INDEX credentials_refresh_next ON credentials (refresh_next_at) WHERE deleted_at IS NULL AND refresh_next_at IS NOT NULL`,
      `CREATE INDEX credentials_oauth_expiry ON credentials (expires_at) WHERE deleted_at IS NULL AND type = 'oauth2'`,
    ],
  },
  {
    id: 7,
    name: 'credential names unique per owning team',
    statements: () => [
      // A name clash is then always with a credential the writer can see: a team-scoped writer
      // files only under its own teams, and only whole-tenant roles file without a team. With
      // names unique per tenant, a 409 told a member that an invisible credential had that name.
      `DROP INDEX credentials_slug`,
      `CREATE UNIQUE INDEX credentials_slug ON credentials (tenant_id, COALESCE(team_id, ''), slug) WHERE deleted_at IS NULL`,
    ],
  },
  {
    id: 8,
    name: 'audit suppressed counts',
    // Refusals grouped over a window: how many more the event stands for (0 for every event before).
    statements: () => [`ALTER TABLE audit_events ADD COLUMN suppressed INTEGER NOT NULL DEFAULT 0`],
  },
  {
    id: 9,
    name: 'aws key pairs',
    statements: (d) => [
      // An access key's AWS-style pair (AWS Secrets Manager dialect): SigV4 needs the secret
      // itself, so it is sealed under the tenant's keyring, never hashed. One pair per key.
      `CREATE TABLE aws_key_pairs (
         access_key_id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, key_id TEXT NOT NULL,
         sealed_secret ${d.bytes} NOT NULL, created_at TEXT NOT NULL)`,
      `CREATE UNIQUE INDEX aws_key_pairs_key ON aws_key_pairs (tenant_id, key_id)`,
    ],
  },
  {
    id: 10,
    name: 'derived tokens and proxy rules',
    // The short-lived token last derived from a credential (a minted JWT, an assumed role's
    // session, a request chain's results), sealed by the tenant's keyring, shared by every
    // process until shortly before it expires. Valid for credential_version only.
    statements: (d) => [
      `CREATE TABLE derived_tokens (
         tenant_id TEXT NOT NULL, credential_id TEXT NOT NULL, credential_version INTEGER NOT NULL,
         sealed ${d.bytes} NOT NULL, expires_at TEXT, created_at TEXT NOT NULL, PRIMARY KEY (tenant_id, credential_id))`,
      // Which requests the proxy may send with a credential: methods and path prefixes, JSON.
      `ALTER TABLE credentials ADD COLUMN proxy_rules TEXT NOT NULL DEFAULT '{}'`,
    ],
  },
  {
    id: 11,
    name: 'credential names unique per team and integration; console sessions',
    statements: (d) => [
      // A name is a reference only among credentials used together: an integration's credentials
      // (document 003 has "Production" per integration), the account's smtp/api_key credentials
      // (document 002), and the rest of a team's. Integration ids are path ids, so '#account'
      // never collides with one.
      `DROP INDEX credentials_slug`,
      `CREATE UNIQUE INDEX credentials_slug ON credentials (tenant_id, COALESCE(team_id, ''), COALESCE(integration_id, CASE WHEN type IN ('smtp', 'api_key') THEN '#account' ELSE '' END), slug) WHERE deleted_at IS NULL`,
      // A console session (docs/console.md) is found by the SHA-256 of its cookie's token and
      // stands for the access key whose hash it holds: every request checks that key again, so
      // revoking it ends the session in every process; logout deletes the row.
      `CREATE TABLE console_sessions (
         token_hash ${d.bytes} PRIMARY KEY, tenant_id TEXT NOT NULL, key_hash ${d.bytes} NOT NULL,
         created_at TEXT NOT NULL, expires_at TEXT NOT NULL)`,
      `CREATE INDEX console_sessions_expiry ON console_sessions (expires_at)`,
    ],
  },
  {
    id: 12,
    name: 'audit event detail',
    // What an event's consumers need beyond action and target (a rotation's version, a failure's
    // category, an expiry warning's lead time): a small JSON object, never a secret. NULL on
    // every event before, which hash as they did.
    statements: () => [`ALTER TABLE audit_events ADD COLUMN detail TEXT`],
  },
  {
    id: 13,
    name: 'webhook subscriptions',
    statements: (d) => [
      // A tenant's webhook subscriptions (services/webhooks): the signing secrets sealed under the
      // tenant's keyring, the failure streak of the delivery (the backoff survives a restart and
      // moves with the lease to another process), and the place in the chain as an audit sink
      // cursor (sink 'webhook:<id>').
      `CREATE TABLE webhooks (
         tenant_id TEXT NOT NULL, id TEXT NOT NULL, url TEXT NOT NULL, description TEXT NOT NULL,
         event_types TEXT, team_id TEXT, active INTEGER NOT NULL, disabled_reason TEXT,
         sealed_secret ${d.bytes} NOT NULL, sealed_previous_secret ${d.bytes}, previous_secret_expires_at TEXT,
         secret_version INTEGER NOT NULL, revision INTEGER NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
         failing_since TEXT, failures INTEGER NOT NULL DEFAULT 0, next_attempt_at TEXT,
         retry_event_id TEXT, retry_attempts INTEGER NOT NULL DEFAULT 0,
         PRIMARY KEY (tenant_id, id))`,
      `CREATE INDEX webhooks_active ON webhooks (active, tenant_id, id)`,
      // The delivery log: one row per attempt, never the receiver's body.
      `CREATE TABLE webhook_deliveries (
         tenant_id TEXT NOT NULL, webhook_id TEXT NOT NULL, id TEXT NOT NULL, event_id TEXT NOT NULL, event_type TEXT NOT NULL,
         attempt INTEGER NOT NULL, status INTEGER, failure TEXT, latency_ms INTEGER NOT NULL, at TEXT NOT NULL, manual INTEGER NOT NULL,
         PRIMARY KEY (tenant_id, webhook_id, id))`,
      `CREATE INDEX webhook_deliveries_event ON webhook_deliveries (tenant_id, webhook_id, event_id)`,
    ],
  },
  {
    id: 14,
    name: 'console sign-in with OIDC',
    statements: (d) => [
      // A console session stands for an access key (key_hash) or for an OIDC identity (the mapped
      // claims of its ID token, JSON), never both. Sessions are short-lived: the table is made
      // anew, so everyone signed in to the console signs in again after the upgrade.
      `DROP TABLE console_sessions`,
      `CREATE TABLE console_sessions (
         token_hash ${d.bytes} PRIMARY KEY, tenant_id TEXT NOT NULL, key_hash ${d.bytes}, oidc_identity TEXT,
         created_at TEXT NOT NULL, expires_at TEXT NOT NULL,
         CHECK ((key_hash IS NULL AND oidc_identity IS NOT NULL) OR (key_hash IS NOT NULL AND oidc_identity IS NULL)))`,
      `CREATE INDEX console_sessions_expiry ON console_sessions (expires_at)`,
      // An SSO sign-in under way: the SHA-256 of its state, taken once by the callback. Nothing a
      // code exchange needs is here (the PKCE verifier and the nonce come from the browser's cookie).
      `CREATE TABLE console_oidc_logins (state_hash ${d.bytes} PRIMARY KEY, created_at TEXT NOT NULL, expires_at TEXT NOT NULL)`,
      `CREATE INDEX console_oidc_logins_expiry ON console_oidc_logins (expires_at)`,
    ],
  },
  {
    id: 15,
    name: 'expiry notices',
    statements: () => [
      // When the expiry scheduler should next look at a row: every write of a live row with an
      // expiry sets it to the write's time (rows.ts), the scheduler moves it to the next notice it
      // will owe (or NULL). Only rows whose time has come are read, through the partial index, so a
      // tick costs the notices due, not the size of the table.
      `ALTER TABLE credentials ADD COLUMN expiry_check_at TEXT`,
      `ALTER TABLE access_keys ADD COLUMN expiry_check_at TEXT`,
      `CREATE INDEX credentials_expiry_check ON credentials (expiry_check_at) WHERE expiry_check_at IS NOT NULL`,
      `CREATE INDEX access_keys_expiry_check ON access_keys (expiry_check_at) WHERE expiry_check_at IS NOT NULL`,
      // Rows that had an expiry before: looked at on the first tick.
      `UPDATE credentials SET expiry_check_at = updated_at WHERE deleted_at IS NULL AND (expires_at IS NOT NULL OR type = 'oauth2')`,
      `UPDATE access_keys SET expiry_check_at = created_at WHERE expires_at IS NOT NULL`,
      // What was noticed: one row per object, kind of expiry, expiry value and lead time (0 =
      // expired), written in the transaction of its audit event. The key makes a notice happen
      // once, whichever process races to write it; a moved expiry is a new value, noticed afresh.
      `CREATE TABLE expiry_notices (
         tenant_id TEXT NOT NULL, object_type TEXT NOT NULL, object_id TEXT NOT NULL, what TEXT NOT NULL,
         expires_at TEXT NOT NULL, lead_days INTEGER NOT NULL, event_id TEXT NOT NULL, noticed_at TEXT NOT NULL,
         PRIMARY KEY (tenant_id, object_type, object_id, what, expires_at, lead_days))`,
    ],
  },
  {
    id: 16,
    name: 'webhook delivery log by time',
    // The delivery log is pruned by age (LATCHKEY_WEBHOOK_DELIVERY_LOG_DAYS) across tenants, in
    // batches: an index on the time keeps each batch a range read, not a scan of the whole log.
    statements: () => [`CREATE INDEX webhook_deliveries_at ON webhook_deliveries (at)`],
  },
  {
    id: 17,
    name: 'credentials found by exact name',
    statements: () => [
      // The AWS Secrets Manager and Vault KV v2 APIs address a secret by its name on every read;
      // without this, each read scanned the tenant's credentials (docs/performance.md).
      `CREATE INDEX credentials_name ON credentials (tenant_id, name, created_at, id) WHERE deleted_at IS NULL`,
    ],
  },
];
