import { existsSync, readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { resolve } from 'node:path';
import { parseIssuerConfigs, type OidcIssuerConfig } from './services/auth/oidc.js';
import { parseAuditSinkTarget, type AuditSinkTarget } from './services/audit/sinks/sink-target.js';
import { EgressAllowList } from './egress/address-policy.js';
import { parseLeadDays } from './services/events/expiry-plan.js';

/** The whole configuration, read once from the environment (and an optional JSON file) at start. */
export interface Config {
  host: string;
  port: number;
  dataDir: string;
  databaseUrl: string | null;
  rootKey: string | undefined;
  /** The next root key during a rotation, when the root key comes from the environment. */
  newRootKey: string | undefined;
  rootKeyFile: string;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  keyEnv: string;
  sqliteSynchronous: 'FULL' | 'NORMAL';
  rateLimit: number;
  rateLimitWindowSeconds: number;
  authCacheTtlMs: number;
  /** How long a console session lasts (docs/console.md). */
  consoleSessionSeconds: number;
  /** How long a 401 to a source failing more than 10 times a second is held back; 0 = never. */
  authFailureDelayMs: number;
  /** The window over which a source's failed authentications are counted. */
  authFailureWindowMs: number;
  /** Addresses/CIDRs of the reverse proxies whose X-Forwarded-For is believed; false = none. */
  trustProxy: false | string[];
  auditSealIntervalMs: number;
  /** Refusals of one actor, action and target within this long become one counted event (ms). */
  auditRefusalWindowMs: number;
  /** Where the audit stream goes (LATCHKEY_AUDIT_SINK); null = no sink. */
  auditSink: AuditSinkTarget | null;
  /** Signs webhook deliveries; never logged. */
  auditSinkSecret: string | null;
  /** Audit events older than this are purged behind an anchor; 0 = kept forever. */
  auditRetentionDays: number;
  oidcIssuers: OidcIssuerConfig[];
  /** "Sign in with SSO" on the console (docs/console.md); null = access keys only. */
  consoleOidc: ConsoleOidcConfig | null;
  deletedRetentionDays: number;
  schedulerIntervalMs: number;
  expiryWarningDays: number[];
  eventsHeartbeatMs: number;
  eventsPollMs: number;
  /** Destinations a tenant-aimed outbound call may reach although private, and over plain http. */
  egressAllow: EgressAllowList;
  egressTimeoutMs: number;
  /** Limits of one request sent through the proxy (services/proxy). */
  proxyTimeoutMs: number;
  proxyMaxResponseBytes: number;
  /** STS endpoint for assuming `aws` ROLE credentials; null = the credential's region's (services/tokens). */
  awsStsEndpoint: string | null;
  /** Where browsers reach this server (the OAuth callback); null = from each request's Host. */
  publicUrl: string | null;
  oauthRefreshIntervalMs: number;
  oauthRefreshLeadMs: number;
  /** Origins `return_to` of an OAuth connect may send the browser back to (none by default). */
  oauthReturnOrigins: string[];
  /** Webhook delivery (services/webhooks): the first retry's delay, the cap, and how long a failure streak lasts before the subscription is disabled. */
  webhookRetryBaseMs: number;
  webhookRetryMaxMs: number;
  webhookDisableAfterMs: number;
  /** Webhook delivery log rows older than this are deleted (0 = kept forever). */
  webhookDeliveryLogDays: number;
}

/** The console's OIDC client: an issuer of LATCHKEY_OIDC_ISSUERS, whose claim mapping it uses. */
export interface ConsoleOidcConfig {
  issuer: OidcIssuerConfig;
  clientId: string;
  /** null = a public client (PKCE only, no client authentication at the token endpoint). */
  clientSecret: string | null;
  scopes: string[];
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Every variable the server reads, with its default and meaning: the README table comes from here. */
export const CONFIG_VARIABLES = [
  ['LATCHKEY_HOST', '127.0.0.1', 'address to listen on'],
  ['LATCHKEY_PORT', '8080', 'port to listen on (0 = any free port; the bound address is logged)'],
  ['LATCHKEY_DATA_DIR', './data', 'SQLite file and local root-key file live here'],
  ['LATCHKEY_DATABASE_URL', '(unset)', 'postgres://… selects the PostgreSQL store; unset = SQLite in the data dir'],
  ['LATCHKEY_ROOT_KEY', '(unset)', 'base64 32-byte root key for the local provider (else the key file)'],
  ['LATCHKEY_NEW_ROOT_KEY', '(unset)', 'with LATCHKEY_ROOT_KEY: the next root key (base64, 32 bytes) while `latchkey keys rotate-root` moves the store to it'],
  ['LATCHKEY_ROOT_KEY_FILE', '<data dir>/root.key', 'where the local provider keeps the root key (0600, made on first start)'],
  ['LATCHKEY_LOG_LEVEL', 'info', 'fatal, error, warn, info, debug, trace or silent'],
  ['LATCHKEY_KEY_ENV', 'live', 'the <env> marker in issued access keys (lk_<env>_…)'],
  ['LATCHKEY_SQLITE_SYNCHRONOUS', 'FULL', 'FULL (an acknowledged write survives power loss) or NORMAL'],
  ['LATCHKEY_RATE_LIMIT', '0', 'requests per caller per window before 429 (0 = no limit)'],
  ['LATCHKEY_RATE_LIMIT_WINDOW_SECONDS', '60', 'length of the rate-limit window'],
  ['LATCHKEY_AUTH_CACHE_TTL_MS', '30000', 'how long a verified access key is cached in memory'],
  [
    'LATCHKEY_CONSOLE_SESSION_SECONDS',
    '28800',
    'how long a console sign-in lasts (the /ui session cookie and its row); a revoked key or a logout ends it sooner',
  ],
  ['LATCHKEY_AUTH_FAILURE_DELAY_MS', '250', 'a source that fails authentication more than 10 times in a window gets its further 401s this late (0 = never)'],
  ['LATCHKEY_AUTH_FAILURE_WINDOW_MS', '1000', "the window in which a source's failed authentications are counted for that hold"],
  [
    'LATCHKEY_TRUST_PROXY',
    'false',
    'comma list of the reverse proxies in front of Latchkey, as addresses or CIDRs (10.0.0.5, 10.1.0.0/16, ::1/128) or loopback, linklocal, uniquelocal; the client address is then the right-most X-Forwarded-For entry not in the list (and it is what the audit log and the failed-sign-in hold use); false = ignore X-Forwarded-For. `true` is refused',
  ],
  ['LATCHKEY_AUDIT_SEAL_INTERVAL_MS', '200', 'how often new audit events are sealed into the hash chain'],
  [
    'LATCHKEY_AUDIT_REFUSAL_WINDOW_SECONDS',
    '60',
    'refusals (403, and 404 probes of secrets) by one actor for one action and target are written once per window, then once more with the count of the rest (`suppressed`)',
  ],
  [
    'LATCHKEY_AUDIT_SINK',
    '(unset)',
    'stream audit events as JSON lines, at least once: stdout, file:/path/audit.jsonl, or an https:// webhook (http:// only to loopback)',
  ],
  ['LATCHKEY_AUDIT_SINK_SECRET', '(unset)', 'signs webhook deliveries: x-latchkey-signature: t=<unix>,v1=HMAC-SHA256(secret, "<t>.<body>")'],
  ['LATCHKEY_AUDIT_RETENTION_DAYS', '365', 'audit events older than this are purged, leaving an anchor event so the chain still verifies (0 = keep forever)'],
  [
    'LATCHKEY_OIDC_ISSUERS',
    '(unset)',
    'JSON array of trusted OIDC issuers: issuer, audience, jwks_uri?, algorithms?, tenant_id | tenant_claim, role_claim, role_map, default_role, teams_claim',
  ],
  [
    'LATCHKEY_CONSOLE_OIDC_ISSUER',
    '(unset)',
    'the console\'s "Sign in with SSO": an issuer listed in LATCHKEY_OIDC_ISSUERS, whose tenant, role and team mapping applies to the ID token (docs/console.md); unset = access keys only',
  ],
  ['LATCHKEY_CONSOLE_OIDC_CLIENT_ID', '(unset)', "the console's client id at that issuer (redirect URI: <public URL>/ui/oidc/callback)"],
  ['LATCHKEY_CONSOLE_OIDC_CLIENT_SECRET', '(unset)', 'its client secret (client_secret_basic); unset = a public client, PKCE only'],
  [
    'LATCHKEY_CONSOLE_OIDC_SCOPES',
    'openid profile email',
    'the scopes the console asks for (openid is always added); the mapped claims must be in the ID token',
  ],
  ['LATCHKEY_DELETED_RETENTION_DAYS', '30', 'soft-deleted credentials are restorable this long, then purged'],
  ['LATCHKEY_SCHEDULER_INTERVAL_MS', '10000', 'how often scheduled deactivation, rotation policy, purge and expiry warnings run'],
  [
    'LATCHKEY_EXPIRY_WARNING_DAYS',
    '30,7,1',
    'lead times, in whole days, of the credential.expiring and access_key.expiring events; "none" = only the expired events (docs/events.md)',
  ],
  ['LATCHKEY_EVENTS_HEARTBEAT_MS', '15000', "how often GET /v1/events/stream sends a heartbeat comment (and re-checks the caller's key) while no event comes"],
  ['LATCHKEY_EVENTS_POLL_MS', '1000', 'PostgreSQL: how often a process reads the chain heads of tenants it streams, to see events sealed by other processes'],
  [
    'LATCHKEY_EGRESS_ALLOW',
    '(none)',
    'comma list of CIDRs (10.0.0.0/8, ::1/128), addresses and host names (idp.corp.example, *.corp.example) that OAuth token calls may reach although private/loopback, and over plain http; everything else must be public https',
  ],
  ['LATCHKEY_EGRESS_TIMEOUT_MS', '10000', 'deadline of one outbound call (token endpoint), redirects included'],
  ['LATCHKEY_PROXY_TIMEOUT_MS', '30000', 'deadline of one request sent through the proxy (/v1/credentials/{id}/proxy), its answer streamed back included'],
  ['LATCHKEY_PROXY_MAX_RESPONSE_BYTES', '10485760', 'the largest answer the proxy streams back; a declared larger one is 502, a longer stream is cut off'],
  [
    'LATCHKEY_AWS_STS_ENDPOINT',
    '(unset)',
    'STS endpoint (https URL) used to assume the role of an aws ROLE credential; unset = https://sts.<config.region>.amazonaws.com, or the global endpoint without a region',
  ],
  ['LATCHKEY_PUBLIC_URL', '(unset)', 'the URL browsers reach this server at (OAuth redirect_uri = <url>/v1/oauth/callback); unset = taken from each request'],
  [
    'LATCHKEY_WEBHOOK_RETRY_BASE_MS',
    '5000',
    'delay before the first retry of a failed webhook delivery; each further retry doubles it (with jitter), up to the maximum',
  ],
  ['LATCHKEY_WEBHOOK_RETRY_MAX_MS', '3600000', 'the longest delay between two attempts to deliver a webhook event'],
  [
    'LATCHKEY_WEBHOOK_DISABLE_AFTER_HOURS',
    '72',
    'a webhook subscription whose deliveries have failed without a success for this long (and at least 5 attempts) is disabled, with a webhook.disabled event; fractions allowed',
  ],
  ['LATCHKEY_WEBHOOK_DELIVERY_LOG_DAYS', '30', 'webhook delivery log rows (one per attempt) older than this are deleted, hourly (0 = keep forever)'],
  ['LATCHKEY_OAUTH_REFRESH_INTERVAL_MS', '30000', 'how often the token refresh scheduler looks for OAuth2 tokens about to expire'],
  ['LATCHKEY_OAUTH_REFRESH_LEAD_SECONDS', '300', 'refresh OAuth2 access tokens this long before they expire (at most half their lifetime)'],
  [
    'LATCHKEY_OAUTH_RETURN_ORIGINS',
    '(none)',
    "comma list of origins (https://app.example.com) that an OAuth connect's return_to may send the browser back to; return_to is refused unless its origin is listed",
  ],
  ['LATCHKEY_CONFIG_FILE', '(unset)', 'a JSON file of these variables; the environment wins over it'],
] as const;

type Env = Record<string, string | undefined>;

/**
 * `LATCHKEY_*` names that are not server settings but are read by someone else, so the server
 * leaves them alone: the CLI's client commands (docs/cli.md), and `LATCHKEY_TEST_*`, which the
 * test suite and CI export for every process they start.
 */
const NOT_SETTINGS = new Set(['LATCHKEY_URL', 'LATCHKEY_TOKEN', 'LATCHKEY_TENANT_ID', 'LATCHKEY_EXPORT_PASSPHRASE', 'LATCHKEY_DEBUG']);

/** The known setting closest to a misspelt one (at most 3 edits away, or one begins the other), for the refusal message. */
function nearest(name: string, known: readonly string[]): string | undefined {
  let best: { name: string; d: number } | undefined;
  for (const k of known) {
    const d = editDistance(name, k);
    const near = d <= 3 || name.startsWith(k) || k.startsWith(name);
    if (near && (best === undefined || d < best.d)) best = { name: k, d };
  }
  return best?.name;
}

function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) next[j] = Math.min((row[j] ?? 0) + 1, (next[j - 1] ?? 0) + 1, (row[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1));
    row = next;
  }
  return row[b.length] ?? 0;
}

/**
 * An unknown `LATCHKEY_*` variable stops the server, as an unknown key in LATCHKEY_CONFIG_FILE
 * does: a misspelt LATCHKEY_DATA_DIR silently ignored would open (or create) a store somewhere else.
 */
function refuseUnknownVariables(env: Env): void {
  const known = CONFIG_VARIABLES.map(([n]) => n as string);
  const knownSet = new Set(known);
  for (const name of Object.keys(env)) {
    if (!name.startsWith('LATCHKEY_') || knownSet.has(name) || NOT_SETTINGS.has(name) || name.startsWith('LATCHKEY_TEST_')) continue;
    const guess = nearest(name, known);
    throw new ConfigError(`${name} is not a setting${guess ? ` (did you mean ${guess}?)` : ''}; the settings are listed in the README under Configuration`);
  }
}

function int(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw)) throw new ConfigError(`${name} must be a whole number, got "${raw}"`);
  const n = Number(raw);
  if (n < min || n > max) throw new ConfigError(`${name} must be between ${min} and ${max}, got ${n}`);
  return n;
}

function oneOf<T extends string>(env: Env, name: string, fallback: T, allowed: readonly T[]): T {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const v = raw.trim() as T;
  if (!allowed.includes(v)) throw new ConfigError(`${name} must be one of ${allowed.join(', ')}, got "${raw}"`);
  return v;
}

function withFile(env: Env): Env {
  const file = env.LATCHKEY_CONFIG_FILE;
  if (!file) return env;
  if (!existsSync(file)) throw new ConfigError(`LATCHKEY_CONFIG_FILE ${file} does not exist`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    throw new ConfigError(`LATCHKEY_CONFIG_FILE ${file} is not valid JSON`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new ConfigError(`LATCHKEY_CONFIG_FILE ${file} must hold a JSON object`);
  const known = new Set<string>(CONFIG_VARIABLES.map(([n]) => n));
  const fromFile: Env = {};
  for (const [k, v] of Object.entries(parsed)) {
    if (!known.has(k)) {
      const guess = nearest(k, [...known]);
      throw new ConfigError(`LATCHKEY_CONFIG_FILE ${file}: unknown setting ${k}${guess ? ` (did you mean ${guess}?)` : ''}`);
    }
    fromFile[k] = String(v);
  }
  return { ...fromFile, ...env };
}

function auditSink(raw: string | undefined): AuditSinkTarget | null {
  try {
    return parseAuditSinkTarget(raw);
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
}

function egressAllow(raw: string | undefined): EgressAllowList {
  try {
    return EgressAllowList.parse(raw);
  } catch (err) {
    throw new ConfigError(`LATCHKEY_EGRESS_ALLOW: ${(err as Error).message}`);
  }
}

function returnOrigins(raw: string | undefined): string[] {
  if (raw === undefined || raw.trim() === '') return [];
  return raw.split(',').map((item) => {
    const text = item.trim();
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      throw new ConfigError(`LATCHKEY_OAUTH_RETURN_ORIGINS: "${text}" is not a URL origin such as https://app.example.com`);
    }
    if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.origin !== text.replace(/\/$/, '')) {
      throw new ConfigError(`LATCHKEY_OAUTH_RETURN_ORIGINS: "${text}" must be an origin only (scheme, host and port, e.g. https://app.example.com)`);
    }
    return url.origin;
  });
}

function stsEndpoint(raw: string | undefined): string | null {
  if (raw === undefined || raw === '') return null;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError('LATCHKEY_AWS_STS_ENDPOINT must be an absolute http(s) URL');
  }
  // The egress guard decides at each call whether it may be reached (plain http only where allowed).
  if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.username !== '' || url.search !== '')
    throw new ConfigError('LATCHKEY_AWS_STS_ENDPOINT must be an http(s) URL without user info or query');
  return url.toString();
}

function publicUrl(raw: string | undefined): string | null {
  if (raw === undefined || raw === '') return null;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError('LATCHKEY_PUBLIC_URL must be an absolute http(s) URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new ConfigError('LATCHKEY_PUBLIC_URL must be an absolute http(s) URL');
  return url.toString().replace(/\/+$/, '');
}

const PROXY_RANGE_NAMES = ['loopback', 'linklocal', 'uniquelocal'];

/**
 * The proxies whose X-Forwarded-For entries are believed. `true` (believe any) is refused: the
 * left-most entry is whatever the client wrote, so it would choose the address the audit log
 * records and the failed-sign-in hold counts. Hop counts are not offered either (Fastify no
 * longer honours them: a count cannot tell a proxy from a client that sends enough entries).
 */
function trustedProxies(raw: string | undefined): false | string[] {
  const text = raw?.trim() ?? '';
  if (text === '' || text === 'false') return false;
  if (text === 'true') {
    throw new ConfigError(
      'LATCHKEY_TRUST_PROXY=true would let any client choose its own address through X-Forwarded-For; name your reverse proxies instead, as addresses or CIDRs (e.g. LATCHKEY_TRUST_PROXY=10.0.0.5 or 10.1.0.0/16,::1/128, or loopback for a proxy on this host)',
    );
  }
  return text.split(',').map((item) => {
    const entry = item.trim();
    if (PROXY_RANGE_NAMES.includes(entry)) return entry;
    const [address = '', prefix, extra] = entry.split('/');
    const family = isIP(address);
    const bits = family === 4 ? 32 : 128;
    const prefixOk = prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= bits);
    if (family === 0 || !prefixOk || extra !== undefined) {
      throw new ConfigError(`LATCHKEY_TRUST_PROXY: "${entry}" is not an address, a CIDR (10.1.0.0/16) or one of ${PROXY_RANGE_NAMES.join(', ')}`);
    }
    return entry;
  });
}

function expiryWarningDays(raw: string | undefined): number[] {
  if (raw === undefined || raw === '') return [30, 7, 1];
  const days = parseLeadDays(raw);
  if (days === null)
    throw new ConfigError(`LATCHKEY_EXPIRY_WARNING_DAYS must be whole days from 1 to 3650, comma-separated ("30,7,1"), or "none"; got "${raw}"`);
  return days;
}

function oidcIssuers(raw: string | undefined): OidcIssuerConfig[] {
  try {
    return parseIssuerConfigs(raw);
  } catch (err) {
    throw new ConfigError(err instanceof SyntaxError ? 'LATCHKEY_OIDC_ISSUERS is not valid JSON' : (err as Error).message);
  }
}

function consoleOidc(env: Env, issuers: readonly OidcIssuerConfig[]): ConsoleOidcConfig | null {
  const issuer = env.LATCHKEY_CONSOLE_OIDC_ISSUER || '';
  const clientId = env.LATCHKEY_CONSOLE_OIDC_CLIENT_ID || '';
  if (issuer === '') {
    if (clientId !== '' || env.LATCHKEY_CONSOLE_OIDC_CLIENT_SECRET) throw new ConfigError('LATCHKEY_CONSOLE_OIDC_CLIENT_ID needs LATCHKEY_CONSOLE_OIDC_ISSUER');
    return null;
  }
  const mapping = issuers.find((c) => c.issuer === issuer);
  // The console signs people in with the same claim mapping as the API's bearer tokens, and only that.
  if (!mapping)
    throw new ConfigError(`LATCHKEY_CONSOLE_OIDC_ISSUER ${issuer} must also be an entry of LATCHKEY_OIDC_ISSUERS (its tenant, role and team mapping applies)`);
  if (clientId === '') throw new ConfigError('LATCHKEY_CONSOLE_OIDC_ISSUER needs LATCHKEY_CONSOLE_OIDC_CLIENT_ID');
  const url = URL.canParse(issuer) ? new URL(issuer) : null;
  if (url === null || (url.protocol !== 'https:' && url.protocol !== 'http:')) throw new ConfigError('LATCHKEY_CONSOLE_OIDC_ISSUER must be an http(s) URL');
  const scopes = (env.LATCHKEY_CONSOLE_OIDC_SCOPES || 'openid profile email').split(/[\s,]+/).filter((x) => x !== '');
  if (scopes.some((x) => !/^[\x21\x23-\x5b\x5d-\x7e]+$/.test(x)))
    throw new ConfigError('LATCHKEY_CONSOLE_OIDC_SCOPES: scope names are printable ASCII without quotes or backslashes (RFC 6749 §3.3)');
  return {
    issuer: mapping,
    clientId,
    clientSecret: env.LATCHKEY_CONSOLE_OIDC_CLIENT_SECRET || null,
    scopes: ['openid', ...scopes.filter((x) => x !== 'openid')],
  };
}

export function loadConfig(rawEnv: Env = process.env): Config {
  refuseUnknownVariables(rawEnv);
  const env = withFile(rawEnv);
  const dataDir = resolve(env.LATCHKEY_DATA_DIR || './data');
  const databaseUrl = env.LATCHKEY_DATABASE_URL || null;
  if (databaseUrl !== null && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new ConfigError('LATCHKEY_DATABASE_URL must start with postgres:// or postgresql://');
  }
  const keyEnv = env.LATCHKEY_KEY_ENV || 'live';
  const issuers = oidcIssuers(env.LATCHKEY_OIDC_ISSUERS);
  if (!/^[a-z0-9]{1,16}$/.test(keyEnv)) throw new ConfigError('LATCHKEY_KEY_ENV must be 1-16 lowercase letters or digits');
  return {
    host: env.LATCHKEY_HOST || '127.0.0.1',
    port: int(env, 'LATCHKEY_PORT', 8080, 0, 65535),
    dataDir,
    databaseUrl,
    rootKey: env.LATCHKEY_ROOT_KEY,
    newRootKey: env.LATCHKEY_NEW_ROOT_KEY,
    rootKeyFile: resolve(env.LATCHKEY_ROOT_KEY_FILE || `${dataDir}/root.key`),
    logLevel: oneOf(env, 'LATCHKEY_LOG_LEVEL', 'info', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
    keyEnv,
    sqliteSynchronous: oneOf(env, 'LATCHKEY_SQLITE_SYNCHRONOUS', 'FULL', ['FULL', 'NORMAL']),
    rateLimit: int(env, 'LATCHKEY_RATE_LIMIT', 0, 0, 10_000_000),
    rateLimitWindowSeconds: int(env, 'LATCHKEY_RATE_LIMIT_WINDOW_SECONDS', 60, 1, 86_400),
    authCacheTtlMs: int(env, 'LATCHKEY_AUTH_CACHE_TTL_MS', 30_000, 0, 3_600_000),
    consoleSessionSeconds: int(env, 'LATCHKEY_CONSOLE_SESSION_SECONDS', 28_800, 1, 604_800),
    authFailureDelayMs: int(env, 'LATCHKEY_AUTH_FAILURE_DELAY_MS', 250, 0, 10_000),
    authFailureWindowMs: int(env, 'LATCHKEY_AUTH_FAILURE_WINDOW_MS', 1000, 100, 3_600_000),
    trustProxy: trustedProxies(env.LATCHKEY_TRUST_PROXY),
    auditSealIntervalMs: int(env, 'LATCHKEY_AUDIT_SEAL_INTERVAL_MS', 200, 10, 60_000),
    auditRefusalWindowMs: int(env, 'LATCHKEY_AUDIT_REFUSAL_WINDOW_SECONDS', 60, 1, 3600) * 1000,
    auditSink: auditSink(env.LATCHKEY_AUDIT_SINK),
    auditSinkSecret: env.LATCHKEY_AUDIT_SINK_SECRET || null,
    auditRetentionDays: int(env, 'LATCHKEY_AUDIT_RETENTION_DAYS', 365, 0, 36_500),
    oidcIssuers: issuers,
    consoleOidc: consoleOidc(env, issuers),
    deletedRetentionDays: int(env, 'LATCHKEY_DELETED_RETENTION_DAYS', 30, 0, 36_500),
    schedulerIntervalMs: int(env, 'LATCHKEY_SCHEDULER_INTERVAL_MS', 10_000, 100, 3_600_000),
    expiryWarningDays: expiryWarningDays(env.LATCHKEY_EXPIRY_WARNING_DAYS),
    eventsHeartbeatMs: int(env, 'LATCHKEY_EVENTS_HEARTBEAT_MS', 15_000, 100, 300_000),
    eventsPollMs: int(env, 'LATCHKEY_EVENTS_POLL_MS', 1000, 50, 60_000),
    egressAllow: egressAllow(env.LATCHKEY_EGRESS_ALLOW),
    egressTimeoutMs: int(env, 'LATCHKEY_EGRESS_TIMEOUT_MS', 10_000, 100, 120_000),
    proxyTimeoutMs: int(env, 'LATCHKEY_PROXY_TIMEOUT_MS', 30_000, 100, 3_600_000),
    proxyMaxResponseBytes: int(env, 'LATCHKEY_PROXY_MAX_RESPONSE_BYTES', 10 * 1024 * 1024, 1024, 1024 * 1024 * 1024),
    awsStsEndpoint: stsEndpoint(env.LATCHKEY_AWS_STS_ENDPOINT),
    publicUrl: publicUrl(env.LATCHKEY_PUBLIC_URL),
    oauthRefreshIntervalMs: int(env, 'LATCHKEY_OAUTH_REFRESH_INTERVAL_MS', 30_000, 100, 3_600_000),
    oauthRefreshLeadMs: int(env, 'LATCHKEY_OAUTH_REFRESH_LEAD_SECONDS', 300, 0, 86_400) * 1000,
    oauthReturnOrigins: returnOrigins(env.LATCHKEY_OAUTH_RETURN_ORIGINS),
    webhookRetryBaseMs: int(env, 'LATCHKEY_WEBHOOK_RETRY_BASE_MS', 5000, 10, 3_600_000),
    webhookRetryMaxMs: int(env, 'LATCHKEY_WEBHOOK_RETRY_MAX_MS', 3_600_000, 10, 86_400_000),
    webhookDisableAfterMs: hours(env, 'LATCHKEY_WEBHOOK_DISABLE_AFTER_HOURS', 72) * 3_600_000,
    webhookDeliveryLogDays: int(env, 'LATCHKEY_WEBHOOK_DELIVERY_LOG_DAYS', 30, 0, 36_500),
  };
}

/** A positive number of hours, fractions allowed (tests use seconds' worth). */
function hours(env: Env, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+(\.\d+)?$/.test(raw) || Number(raw) <= 0 || Number(raw) > 8760)
    throw new ConfigError(`${name} must be a number of hours above 0 and at most 8760, got "${raw}"`);
  return Number(raw);
}
