// Seeds an empty Latchkey store through its HTTP API: 100 tenants made with the platform owner
// key, a service key in the measured ("hot") tenant, and N SMTP credentials spread over the
// tenants, created with bounded concurrency while a progress bar and the rate go to stderr.
import { JsonClient, stringAt, TransportError, type JsonResponse } from './http-json.js';
import { ProgressLine } from './progress-line.js';

export const TENANT_COUNT = 100;
/** The hot tenant gets at least this many rows, so that ~20 pages of 25 exist to page through. */
const HOT_TENANT_MINIMUM = 1000;
/** Ids of the hot tenant kept for the read rows (a random one per request). */
const HOT_IDS_KEPT = 1000;

export interface TenantKeys {
  tenantId: string;
  ownerKey: string;
}

/** The service key's AWS-style key pair, for the AWS Secrets Manager dialect's row. */
export interface AwsPair {
  accessKeyId: string;
  secretAccessKey: string;
}

export interface SeededStore {
  hot: TenantKeys & { serviceKey: string; serviceAwsPair: AwsPair; credentialIds: string[]; oauthIds: string[]; credentialCount: number };
  /** Tenant that the create row writes into, so the hot tenant's lists stay the same size. */
  write: TenantKeys;
  tenants: TenantKeys[];
  target: number;
  created: number;
  seconds: number;
  ratePerSecond: number;
  /** Why seeding stopped before `target`, or null when it got there. */
  stoppedEarly: string | null;
}

export interface SeedOptions {
  label: string;
  credentials: number;
  concurrency: number;
  budgetSeconds: number;
}

/** OAuth2 credentials in the hot tenant, for the cached-token reveal row. */
const OAUTH_CREDENTIALS = 100;

function oauthCredentialBody(n: number): Record<string, unknown> {
  return {
    name: `bench-oauth-${n}`,
    type: 'oauth2',
    expires_at: new Date(Date.now() + 365 * 86_400_000).toISOString(),
    config: { client_id: `bench-client-${n}`, token_endpoint: 'https://oauth.bench.invalid/token', grant_type: 'refresh_token', scopes: ['read'] },
    secret: { client_secret: `bench-client-secret-${n}`, access_token: `bench-access-token-${n}`, refresh_token: `bench-refresh-token-${n}` },
  };
}

export function smtpCredentialBody(name: string, n: number): Record<string, unknown> {
  return {
    name,
    type: 'smtp',
    config: { host: 'smtp.example.com', username: `user${n}`, auth_type: 'login' },
    secret: { password: `password-${n}` },
  };
}

/** How many credentials each tenant gets: the hot one (index 0) at least HOT_TENANT_MINIMUM. */
export function tenantShares(total: number, tenants: number): number[] {
  const hot = Math.min(total, Math.max(Math.ceil(total / tenants), HOT_TENANT_MINIMUM));
  const rest = total - hot;
  const others = tenants - 1;
  return [hot, ...Array.from({ length: others }, (_, i) => Math.floor(rest / others) + (i < rest % others ? 1 : 0))];
}

const RETRYABLE = new Set([429, 503]);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function createCredential(client: JsonClient, token: string, body: Record<string, unknown>): Promise<string> {
  for (let attempt = 0; ; attempt += 1) {
    let res: JsonResponse;
    try {
      // A retry gets a new name: if the reset request did get stored, the retry must not collide with it.
      res = await client.request({
        method: 'POST',
        path: '/v1/credentials',
        token,
        body: attempt === 0 ? body : { ...body, name: `${String(body.name)}-retry${attempt}` },
      });
    } catch (err) {
      // A kept-alive socket that the server closed just as we reused it: try again on a new one.
      if (err instanceof TransportError && err.reusedSocket && attempt < 3) continue;
      throw err;
    }
    if (res.status === 201) return stringAt(res.body, 'id');
    if (!RETRYABLE.has(res.status) || attempt >= 5) {
      throw new Error(`POST /v1/credentials: ${res.status} ${JSON.stringify(res.body).slice(0, 400)}`);
    }
    await sleep(50 * 2 ** attempt);
  }
}

async function mapConcurrent<T, R>(items: readonly T[], concurrency: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    while (next < items.length) {
      const index = next;
      next += 1;
      out[index] = await fn(items[index] as T, index);
    }
  });
  await Promise.all(workers);
  return out;
}

export async function seedStore(origin: string, platformKey: string, options: SeedOptions): Promise<SeededStore> {
  const client = new JsonClient(origin, options.concurrency + 4);
  try {
    const tenants = await mapConcurrent(
      Array.from({ length: TENANT_COUNT }, (_, i) => i),
      8,
      async (i): Promise<TenantKeys> => {
        const body = await client.expect(201, { method: 'POST', path: '/v1/tenants', token: platformKey, body: { name: `bench-tenant-${i}` } });
        return { tenantId: stringAt(body, 'tenant', 'id'), ownerKey: stringAt(body, 'owner_access_key', 'key') };
      },
    );
    const [hotTenant, writeTenant] = tenants;
    if (hotTenant === undefined || writeTenant === undefined) throw new Error('need at least two tenants');
    const serviceKeyBody = await client.expect(201, {
      method: 'POST',
      path: '/v1/access-keys',
      token: hotTenant.ownerKey,
      body: { name: 'bench-service', role: 'service' },
    });
    const serviceKey = stringAt(serviceKeyBody, 'key');
    const pairBody = await client.expect(201, {
      method: 'POST',
      path: `/v1/access-keys/${stringAt(serviceKeyBody, 'id')}/aws-key-pair`,
      token: hotTenant.ownerKey,
    });
    const serviceAwsPair = { accessKeyId: stringAt(pairBody, 'access_key_id'), secretAccessKey: stringAt(pairBody, 'secret_access_key') };

    const shares = tenantShares(options.credentials, TENANT_COUNT);
    // A flat job list (tenant index per credential) pulled by `concurrency` workers.
    const jobs = new Uint8Array(options.credentials);
    let offset = 0;
    shares.forEach((count, tenantIndex) => {
      jobs.fill(tenantIndex, offset, offset + count);
      offset += count;
    });

    const hotIds: string[] = [];
    const progress = new ProgressLine(`seeding ${options.label}`, options.credentials);
    let next = 0;
    let created = 0;
    let stoppedEarly: string | null = null;
    const shouldStop = (): boolean => {
      if (stoppedEarly !== null) return true;
      const elapsed = progress.elapsedSeconds();
      if (elapsed > options.budgetSeconds) {
        stoppedEarly = `seed budget of ${options.budgetSeconds} s used up`;
      } else if (elapsed > 120 && created > 0) {
        // Two minutes in, the rate is a fair guess; stop only when it is far off, since the rate
        // on a shared machine swings with what else runs.
        const projected = (options.credentials / created) * elapsed;
        if (projected > options.budgetSeconds * 1.5) {
          stoppedEarly = `projected ${(projected / 60).toFixed(0)} min for ${options.credentials} at ${(created / elapsed).toFixed(0)}/s, over the ${options.budgetSeconds} s budget`;
        }
      }
      return stoppedEarly !== null;
    };
    let failure: Error | null = null;
    const workers = Array.from({ length: options.concurrency }, async () => {
      while (next < jobs.length && failure === null && !shouldStop()) {
        const index = next;
        next += 1;
        const tenantIndex = jobs[index] ?? 0;
        const tenant = tenants[tenantIndex] ?? hotTenant;
        try {
          const id = await createCredential(client, tenant.ownerKey, smtpCredentialBody(`seed-${tenantIndex}-${index}`, index));
          if (tenantIndex === 0 && hotIds.length < HOT_IDS_KEPT) hotIds.push(id);
          created += 1;
          progress.update(created);
        } catch (err) {
          // First failure stops every worker; it is reported once, below.
          failure ??= err instanceof Error ? err : new Error(String(err));
        }
      }
    });
    await Promise.all(workers);
    progress.finish(created);
    if (failure !== null) throw new Error(`seeding ${options.label} failed after ${created} credentials: ${(failure as Error).message}`);
    const seconds = progress.elapsedSeconds();
    const ratePerSecond = seconds > 0 ? created / seconds : 0;
    process.stderr.write(
      `seeded ${options.label}: ${created} credentials in ${seconds.toFixed(1)} s = ${ratePerSecond.toFixed(0)} credentials/s` +
        `${stoppedEarly === null ? '' : ` (stopped early: ${stoppedEarly})`}\n`,
    );
    // OAuth2 credentials whose access token is still valid: a reveal serves the stored token
    // without a refresh (the token endpoint is never called, so it need not exist).
    const oauthIds: string[] = [];
    for (let i = 0; i < OAUTH_CREDENTIALS; i += 1) oauthIds.push(await createCredential(client, hotTenant.ownerKey, oauthCredentialBody(i)));
    const hotCount = Math.min(shares[0] ?? 0, created) + oauthIds.length;
    return {
      hot: { ...hotTenant, serviceKey, serviceAwsPair, credentialIds: hotIds, oauthIds, credentialCount: hotCount },
      write: writeTenant,
      tenants,
      target: options.credentials,
      created,
      seconds,
      ratePerSecond,
      stoppedEarly,
    };
  } finally {
    client.close();
  }
}
