// What is measured on each server: one Scenario per table row. A scenario is one load worker,
// or several at once (the first is the one reported; the others are background load).
import type { LoadSpec } from './load-spec.js';
import type { LoadRunOutcome, LoadTarget } from './load-runner.js';
import type { SeededStore } from './latchkey-seed.js';
import { smtpCredentialBody } from './latchkey-seed.js';
import { JsonClient, optionalStringAt } from './http-json.js';

export type ScenarioKind = 'saturate' | 'paced' | 'flood';

export interface Scenario {
  id: string;
  label: string;
  kind: ScenarioKind;
  specs: LoadSpec[];
  note?: string;
  /**
   * Settings this scenario needs the server started with: it then runs on a server of its own,
   * started with them for this run only (its specs are aimed there).
   */
  serverEnv?: Record<string, string>;
  /** The specs are aimed at another server than the one under test (the proxy's target, sent to straight). */
  direct?: boolean;
  /** With `direct`: the process whose CPU the row reports (else the server under test's, idle meanwhile). */
  directPid?: number;
  /** Runs on the measured server before the row (e.g. subscribes a webhook); what it returns runs after it. */
  setup?: (origin: string) => Promise<() => Promise<void>>;
  /** A row that is not a load run (e.g. webhook deliveries per second from a backlog): its outcome in a load run's shape. */
  measure?: (origin: string, target: LoadTarget) => Promise<LoadRunOutcome>;
}

export interface LoadShape {
  connections: number;
  durationSeconds: number;
  warmupSeconds: number;
  fixedRate: number;
}

/** At most this many distinct paths per worker (they travel as one command-line argument). */
const MAX_PATHS = 1000;

function sample<T>(items: readonly T[], max: number): T[] {
  if (items.length <= max) return [...items];
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i -= 1) {
    const j = Math.floor(Math.random() * (i + 1));
    const a = copy[i] as T;
    copy[i] = copy[j] as T;
    copy[j] = a;
  }
  return copy.slice(0, max);
}

function base(origin: string, shape: LoadShape): Pick<LoadSpec, 'origin' | 'connections' | 'durationSeconds' | 'warmupSeconds'> {
  return { origin, connections: shape.connections, durationSeconds: shape.durationSeconds, warmupSeconds: shape.warmupSeconds };
}

export function helloScenarios(origin: string, shape: LoadShape): Scenario[] {
  const get: LoadSpec = { ...base(origin, shape), label: 'GET / (hello world)', method: 'GET', paths: ['/'], headers: {}, expectStatus: 200 };
  return [
    { id: 'hello', label: get.label, kind: 'saturate', specs: [get] },
    {
      id: 'hello-paced',
      label: `GET / @ ${shape.fixedRate}/s`,
      kind: 'paced',
      specs: [{ ...get, label: `GET / @ ${shape.fixedRate}/s`, pacedRate: shape.fixedRate }],
    },
  ];
}

/** Row ids to request from a ceiling: both SQLite ceilings hold rows 1..10,000. */
function ceilingRowIds(): number[] {
  return sample(
    Array.from({ length: 10_000 }, (_, i) => i + 1),
    MAX_PATHS,
  );
}

export function sqliteReadScenarios(origin: string, shape: LoadShape): Scenario[] {
  const ids = ceilingRowIds();
  const get: LoadSpec = {
    ...base(origin, shape),
    label: 'GET /rows/:id (SQLite PK read)',
    method: 'GET',
    paths: ids.map((id) => `/rows/${id}`),
    headers: {},
    expectStatus: 200,
  };
  return [{ id: 'sqlite-read', label: get.label, kind: 'saturate', specs: [get] }];
}

/** The naive audited reveal (ceilings/naive-reveal.ts): durable and unsynced at saturation, durable at the fixed rate. */
export function naiveRevealScenarios(origin: string, shape: LoadShape): Scenario[] {
  const ids = ceilingRowIds();
  const reveal = (mode: 'durable' | 'unsynced', label: string): LoadSpec => ({
    ...base(origin, shape),
    label,
    method: 'GET',
    paths: ids.map((id) => `/${mode}/${id}/secret`),
    headers: {},
    expectStatus: 200,
  });
  const durable = reveal('durable', 'GET /durable/:id/secret (PK read + AES-GCM decrypt + audit INSERT, synchronous=FULL)');
  const unsynced = reveal('unsynced', 'GET /unsynced/:id/secret (the same, synchronous=NORMAL: not durable)');
  const paced = `GET /durable/:id/secret @ ${shape.fixedRate}/s`;
  return [
    { id: 'naive-reveal', label: durable.label, kind: 'saturate', specs: [durable] },
    { id: 'naive-reveal-unsynced', label: unsynced.label, kind: 'saturate', specs: [unsynced] },
    { id: 'naive-reveal-paced', label: paced, kind: 'paced', specs: [{ ...durable, label: paced, pacedRate: shape.fixedRate }] },
  ];
}

/** A key shaped like a real one (same prefix, same length and alphabet) that was never issued. */
export function unknownKeyLike(realKey: string): string {
  const cut = realKey.lastIndexOf('_') + 1;
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  let tail = '';
  for (let i = cut; i < realKey.length; i += 1) tail += alphabet[Math.floor(Math.random() * alphabet.length)] ?? 'x';
  return `${realKey.slice(0, cut)}${tail}`;
}

export interface DeepCursor {
  cursor: string;
  depth: number;
}

/** Follows next_cursor from the first page, `pages` pages deep (or as deep as the list goes). */
export async function findDeepCursor(origin: string, token: string, pages: number): Promise<DeepCursor | null> {
  const client = new JsonClient(origin, 1);
  try {
    let body = await client.expect(200, { method: 'GET', path: '/v1/credentials?per_page=25', token });
    let cursor = optionalStringAt(body, 'next_cursor');
    let depth = 1;
    if (cursor === null) return null;
    while (depth < pages) {
      body = await client.expect(200, { method: 'GET', path: `/v1/credentials?cursor=${encodeURIComponent(cursor)}`, token });
      const next = optionalStringAt(body, 'next_cursor');
      if (next === null) break;
      cursor = next;
      depth += 1;
    }
    return { cursor, depth: depth + 1 };
  } finally {
    client.close();
  }
}

export function latchkeyScenarios(origin: string, shape: LoadShape, store: SeededStore, deep: DeepCursor | null): Scenario[] {
  const b = base(origin, shape);
  const auth = (key: string): Record<string, string> => ({ authorization: `Bearer ${key}` });
  const ids = sample(store.hot.credentialIds, MAX_PATHS);
  const metadata: LoadSpec = {
    ...b,
    label: 'metadata GET /v1/credentials/{id}',
    method: 'GET',
    paths: ids.map((id) => `/v1/credentials/${id}`),
    headers: auth(store.hot.ownerKey),
    expectStatus: 200,
  };
  const reveal: LoadSpec = {
    ...b,
    label: 'reveal GET /v1/credentials/{id}/secret (service key)',
    method: 'GET',
    paths: ids.map((id) => `/v1/credentials/${id}/secret`),
    headers: auth(store.hot.serviceKey),
    expectStatus: 200,
  };
  const badKey: LoadSpec = {
    ...metadata,
    label: 'bad key → 401 (held once a source fails > 10/s)',
    headers: auth(unknownKeyLike(store.hot.ownerKey)),
    expectStatus: 401,
  };
  const oauthReveal: LoadSpec = {
    ...reveal,
    label: 'OAuth2 reveal, access token still valid (no refresh)',
    paths: store.hot.oauthIds.map((id) => `/v1/credentials/${id}/secret`),
  };
  // The Vault KV v2 dialect reading the same OAuth2 credentials by path (their names), beside
  // the native reveal of them: the cost of the name lookup and the Vault envelope.
  const kvRead: LoadSpec = {
    ...reveal,
    label: 'KV v2 read GET /compat/vault/v1/secret/data/{name} (service token)',
    paths: store.hot.oauthIds.map((_, n) => `/compat/vault/v1/secret/data/bench-oauth-${n}`),
    headers: { 'x-vault-token': store.hot.serviceKey },
  };
  // GetSecretValue through the AWS SDK's wire format (JSON 1.1, SigV4 signed anew per request):
  // the same credentials again, so the three reveal rows differ only by the API in front.
  const awsGet: LoadSpec = {
    ...b,
    label: 'AWS GetSecretValue (JSON 1.1, SigV4, service key pair)',
    method: 'POST',
    paths: store.hot.oauthIds.map((_, n) => `bench-oauth-${n}`),
    headers: {},
    awsSign: { ...store.hot.serviceAwsPair, region: 'us-east-1', service: 'secretsmanager', target: 'secretsmanager.GetSecretValue' },
    expectStatus: 200,
  };
  const scenarios: Scenario[] = [
    { id: 'metadata', label: metadata.label, kind: 'saturate', specs: [metadata] },
    { id: 'reveal', label: reveal.label, kind: 'saturate', specs: [reveal] },
    {
      id: 'oauth-reveal',
      label: oauthReveal.label,
      kind: 'saturate',
      specs: [oauthReveal],
      note: `${store.hot.oauthIds.length} OAuth2 credentials, service key`,
    },
    { id: 'kv-v2-read', label: kvRead.label, kind: 'saturate', specs: [kvRead], note: "the oauth-reveal row's credentials, by name" },
    {
      id: 'aws-get-secret-value',
      label: awsGet.label,
      kind: 'saturate',
      specs: [awsGet],
      note: "the oauth-reveal row's credentials, by name; SigV4 checked per request",
    },
    // The three reads of the same credentials again at one steady rate, below saturation: the
    // server's CPU % at that rate is each API's cost per request whatever the load core manages
    // (the AWS row's load worker signs every request), and the p50s differ by what each adds.
    ...(
      [
        ['oauth-reveal-paced', 'OAuth2 reveal', oauthReveal],
        ['kv-v2-read-paced', 'KV v2 read', kvRead],
        ['aws-get-secret-value-paced', 'AWS GetSecretValue', awsGet],
      ] as const
    ).map(([id, name, spec]): Scenario => {
      const rate = Math.max(1, Math.round(shape.fixedRate / 2));
      return { id, label: `${name} @ ${rate}/s`, kind: 'paced', specs: [{ ...spec, label: `${name} @ ${rate}/s`, pacedRate: rate }] };
    }),
    {
      id: 'list-first',
      label: 'list first page GET /v1/credentials?per_page=25',
      kind: 'saturate',
      specs: [{ ...b, label: 'list first page', method: 'GET', paths: ['/v1/credentials?per_page=25'], headers: auth(store.hot.ownerKey), expectStatus: 200 }],
      note: `tenant of ${store.hot.credentialCount} credentials`,
    },
  ];
  if (deep !== null) {
    scenarios.push({
      id: 'list-deep',
      label: `list deep cursor page (page ${deep.depth})`,
      kind: 'saturate',
      specs: [
        {
          ...b,
          label: 'list deep cursor page',
          method: 'GET',
          paths: [`/v1/credentials?cursor=${encodeURIComponent(deep.cursor)}`],
          headers: auth(store.hot.ownerKey),
          expectStatus: 200,
        },
      ],
    });
  }
  scenarios.push(
    { id: 'bad-key', label: badKey.label, kind: 'saturate', specs: [badKey] },
    {
      // The held row's req/s is a timer rate; with the hold off every 401 is answered at once,
      // so the next row's req/s is what the miss path costs. This one measures the metadata GET
      // on that same server process, so that the two costs are compared within one process.
      id: 'metadata-unheld',
      label: 'metadata GET on the never-holding server (beside the next row)',
      kind: 'saturate',
      specs: [{ ...metadata, label: 'metadata GET on the never-holding server' }],
      serverEnv: { LATCHKEY_AUTH_FAILURE_DELAY_MS: '0' },
    },
    {
      id: 'bad-key-unheld',
      label: 'bad key → 401, never held (LATCHKEY_AUTH_FAILURE_DELAY_MS=0)',
      kind: 'saturate',
      specs: [{ ...badKey, label: 'bad key → 401, never held' }],
      serverEnv: { LATCHKEY_AUTH_FAILURE_DELAY_MS: '0' },
    },
    {
      id: 'metadata-paced',
      label: `metadata GET @ ${shape.fixedRate}/s`,
      kind: 'paced',
      specs: [{ ...metadata, label: `metadata GET @ ${shape.fixedRate}/s`, pacedRate: shape.fixedRate }],
    },
    {
      id: 'reveal-paced',
      label: `reveal GET @ ${shape.fixedRate}/s`,
      kind: 'paced',
      specs: [{ ...reveal, label: `reveal GET @ ${shape.fixedRate}/s`, pacedRate: shape.fixedRate }],
    },
    {
      id: 'metadata-under-flood',
      label: 'metadata GET during a bad-key flood',
      kind: 'flood',
      // The flood runs a little longer than the measured run so it covers all of it.
      specs: [
        { ...metadata, label: 'metadata GET during a bad-key flood' },
        { ...badKey, label: 'bad-key flood', durationSeconds: shape.durationSeconds + 1 },
      ],
      note: `flood: ${shape.connections} connections of unknown keys, as fast as they go`,
    },
    // Last: it grows the store (into another tenant, so the hot tenant's lists stay put).
    {
      id: 'create',
      label: 'create POST /v1/credentials',
      kind: 'saturate',
      specs: [
        {
          ...b,
          label: 'create POST /v1/credentials',
          method: 'POST',
          paths: ['/v1/credentials'],
          headers: auth(store.write.ownerKey),
          body: smtpCredentialBody('bench-create', 0),
          uniqueName: true,
          expectStatus: 201,
        },
      ],
    },
  );
  return scenarios;
}

/** The proxy's loopback target and the credential that may be sent there (targets.ts). */
export interface ProxyBench {
  targetOrigin: string;
  /** bench/ceilings/naive-proxy.ts, forwarding to the same target: what forwarding alone costs. */
  naiveProxy: { origin: string; pid: number };
  credentialId: string;
  serviceKey: string;
}

/**
 * The same GET sent straight to a loopback target and through Latchkey's proxy with an api_key
 * injected, in the same run: the proxy's added latency is the difference of the two rows' p50
 * and p99, its throughput the ratio of their req/s. The naive proxy's rows are the ceiling of the
 * proxied ones: the same forwarding with no key, credential, audit or scrubbing, on the same core.
 * Every Latchkey server of the bench may reach loopback (LATCHKEY_EGRESS_ALLOW in targets.ts), as
 * an operator allows an internal API.
 */
export function proxyScenarios(shape: LoadShape, proxy: ProxyBench): Scenario[] {
  const direct: LoadSpec = {
    ...base(proxy.targetOrigin, shape),
    label: 'GET / straight to the loopback target (hello world)',
    method: 'GET',
    paths: ['/'],
    headers: {},
    expectStatus: 200,
  };
  const naive: LoadSpec = { ...direct, origin: proxy.naiveProxy.origin, label: 'naive proxy GET /forward/', paths: ['/forward/'] };
  const proxied: LoadSpec = {
    ...direct,
    label: 'proxied GET /',
    paths: [`/v1/credentials/${proxy.credentialId}/proxy/`],
    headers: { authorization: `Bearer ${proxy.serviceKey}`, 'x-latchkey-target': proxy.targetOrigin },
  };
  // Below saturation, so the added latency is the proxy's and not queueing: half the paced rate
  // of the other rows (a proxied request costs more than a reveal).
  const rate = Math.max(1, Math.round(shape.fixedRate / 2));
  return [
    {
      id: 'proxy-direct',
      label: direct.label,
      kind: 'saturate',
      specs: [direct],
      direct: true,
      note: 'the target runs on the load core; compare with the next row',
    },
    {
      id: 'proxy-naive',
      label: 'naive proxy GET /forward/ → the same target (bare Fastify + Node agent, header added)',
      kind: 'saturate',
      specs: [naive],
      direct: true,
      directPid: proxy.naiveProxy.pid,
      note: 'the ceiling of the next row: forwarding alone, on the server core',
    },
    {
      id: 'proxy',
      label: 'proxy ANY /v1/credentials/{id}/proxy/ → the same target (api_key header injected)',
      kind: 'saturate',
      specs: [proxied],
      note: 'service key; credential.use audited per request',
    },
    {
      id: 'proxy-direct-paced',
      label: `GET / straight to the loopback target @ ${rate}/s`,
      kind: 'paced',
      specs: [{ ...direct, label: `GET / straight to the target @ ${rate}/s`, pacedRate: rate }],
      direct: true,
    },
    {
      id: 'proxy-naive-paced',
      label: `naive proxy GET /forward/ @ ${rate}/s`,
      kind: 'paced',
      specs: [{ ...naive, label: `naive proxy GET /forward/ @ ${rate}/s`, pacedRate: rate }],
      direct: true,
      directPid: proxy.naiveProxy.pid,
    },
    {
      id: 'proxy-paced',
      label: `proxied GET / @ ${rate}/s`,
      kind: 'paced',
      specs: [{ ...proxied, label: `proxied GET / @ ${rate}/s`, pacedRate: rate }],
    },
  ];
}
