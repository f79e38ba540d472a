import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { loadCatalog } from './catalog/catalog.js';
import type { Config } from './config.js';
import type { KeyProvider } from './crypto/key-provider.js';
import { loadLocalKeyProvider } from './crypto/key-providers/local.js';
import { Keyring, storeIsInitialised } from './crypto/keyring.js';
import { systemClock, type Clock } from './domain/clock.js';
import { buildApp, type App } from './http/app.js';
import { createAuditSink } from './services/audit/sinks/sink-target.js';
import { cachesTogether, startCacheCoherence, type CacheCoherence } from './services/coordination/cache-coherence.js';
import { createServices, type Services } from './services/services.js';
import { createEgressGuard } from './egress/egress-guard.js';
import { openStore } from './store/open-store.js';
import { openDataDirWarning } from './store/private-files.js';
import type { Store } from './store/port.js';

/** The composition root: config → adapters → services → server. Nothing else wires things together. */
export interface Runtime {
  config: Config;
  logger: Logger;
  store: Store;
  keyProvider: KeyProvider;
  keyring: Keyring;
  services: Services;
  /** Keeps this process's caches in step with the other processes on the same store. */
  coherence: CacheCoherence;
  close(): Promise<void>;
}

/** Paths that may carry a secret if anything ever logs a body or a header: pino masks them. */
const REDACT = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  '*.authorization',
  'secret',
  '*.secret',
  'test_secret',
  '*.test_secret',
  'key',
  '*.key',
  'password',
  '*.password',
  'token',
  '*.token',
];

export function createLogger(config: Config): Logger {
  // Asynchronous writes: lines written while one write is in flight go out together in the next
  // one, instead of a blocking write(2) per request. pino flushes what is left on exit.
  return pino(
    { level: config.logLevel, redact: { paths: REDACT, censor: '[redacted]' }, base: { service: 'latchkey' } },
    pino.destination({ dest: 1, sync: false }),
  );
}

/** A command that works on an existing store found none where the settings point. */
export class NoStoreError extends Error {
  override name = 'NoStoreError';
}

/** Where the store is, for the log and for messages: never a password (a URL's, or a query's). */
export function storeLocation(config: Config): string {
  if (config.databaseUrl === null) return join(config.dataDir, 'latchkey.db');
  try {
    const u = new URL(config.databaseUrl);
    return `${u.protocol}//${u.username ? `${decodeURIComponent(u.username)}@` : ''}${u.host}${u.pathname}`;
  } catch {
    return 'PostgreSQL (LATCHKEY_DATABASE_URL)';
  }
}

/**
 * Opens the store and the root key. `mustExist` is for every command but `serve` and `init`:
 * one that inspects or changes a store refuses to make a new one (and a new root key) where
 * there is none, as `latchkey keys status` run in the wrong directory used to do.
 */
export async function openRuntime(config: Config, opts: { logger?: Logger; clock?: Clock; mustExist?: boolean } = {}): Promise<Runtime> {
  const logger = opts.logger ?? createLogger(config);
  const clock = opts.clock ?? systemClock;
  const noStore = () =>
    new NoStoreError(
      `no Latchkey store at ${storeLocation(config)} (${config.databaseUrl === null ? 'LATCHKEY_DATA_DIR' : 'LATCHKEY_DATABASE_URL'}): ` +
        "run this with the server's settings; only `latchkey serve` and `latchkey init` create a store",
    );
  if (opts.mustExist && config.databaseUrl === null && !existsSync(join(config.dataDir, 'latchkey.db'))) throw noStore();
  const store = await openStore(config);
  const dataDirWarning = openDataDirWarning(config.dataDir);
  if (dataDirWarning !== null) logger.warn({ dir: config.dataDir }, dataDirWarning);
  try {
    await store.migrate();
    if (opts.mustExist && !(await storeIsInitialised(store))) throw noStore();
    const { provider, created } = loadLocalKeyProvider({
      envKey: config.rootKey,
      envNextKey: config.newRootKey,
      keyFile: config.rootKeyFile,
      create: !opts.mustExist,
    });
    if (created) logger.info({ file: config.rootKeyFile, key_id: provider.keyId }, 'created a new root key file (0600); back it up');
    const keyring = new Keyring(store, provider, clock);
    await keyring.checkRootKey();
    // Which store and which root key this process opened: a restart in the wrong directory shows here.
    const rootKey = config.rootKey ? 'LATCHKEY_ROOT_KEY' : config.rootKeyFile;
    logger.info(
      { store: store.kind, location: storeLocation(config), root_key: rootKey, root_key_id: provider.keyId },
      `opened the ${store.kind} store at ${storeLocation(config)} with the root key from ${rootKey}`,
    );
    const services = createServices({
      store,
      keyring,
      catalog: loadCatalog(),
      clock,
      logger,
      keyEnv: config.keyEnv,
      authCacheTtlMs: config.authCacheTtlMs,
      consoleSessionSeconds: config.consoleSessionSeconds,
      consoleOidc: config.consoleOidc,
      authFailureDelayMs: config.authFailureDelayMs,
      authFailureWindowMs: config.authFailureWindowMs,
      oidcIssuers: config.oidcIssuers,
      deletedRetentionDays: config.deletedRetentionDays,
      auditRefusalWindowMs: config.auditRefusalWindowMs,
      expiryWarningDays: config.expiryWarningDays,
      eventsPollMs: config.eventsPollMs,
      oauth: {
        egress: createEgressGuard({ allow: config.egressAllow, timeoutMs: config.egressTimeoutMs, maxResponseBytes: 1024 * 1024, maxRedirects: 3 }),
        refreshLeadMs: config.oauthRefreshLeadMs,
        returnOrigins: config.oauthReturnOrigins,
      },
      proxy: { timeoutMs: config.proxyTimeoutMs, maxResponseBytes: config.proxyMaxResponseBytes, awsStsEndpoint: config.awsStsEndpoint },
      webhooks: {
        egress: createEgressGuard({ allow: config.egressAllow, timeoutMs: config.egressTimeoutMs, maxResponseBytes: 1024 * 1024, maxRedirects: 0 }),
        policy: { baseMs: config.webhookRetryBaseMs, maxMs: config.webhookRetryMaxMs, disableAfterMs: config.webhookDisableAfterMs },
        // The lease outlasts an attempt (the egress deadline) with room to record it: no second process attempts meanwhile.
        leaseMs: Math.max(30_000, config.egressTimeoutMs * 2 + 5000),
        deliveryLogDays: config.webhookDeliveryLogDays,
      },
    });
    // Audit checkpoints are keyed per tenant through the keyring (see services/audit/checkpoint-keys.ts).
    services.audit.enableCheckpoints(keyring);
    // Caches follow the store's invalidation feed (LISTEN/NOTIFY on PostgreSQL; on SQLite one
    // process owns the file and the feed is trivially live). Until the feed is live, and
    // whenever it drops, access keys are looked up on every request.
    const coherence = await startCacheCoherence({
      store,
      caches: {
        access_key: cachesTogether(services.authenticator.cache, services.awsKeyPairs.cache),
        keyring: {
          drop: (tenantId) => keyring.invalidate(tenantId),
          dropAll: () => keyring.invalidate(),
          setTrusted: (trusted) => keyring.setCacheTrusted(trusted),
        },
        webhook: services.webhookDispatcher.cache,
      },
      onFeedState: (live) => {
        if (!store.capabilities.multiProcess) return;
        if (live) logger.info('cache invalidation feed is live');
        else logger.warn('cache invalidation feed is down: access keys are looked up on every request until it is back');
      },
    });
    return {
      config,
      logger,
      store,
      keyProvider: provider,
      keyring,
      services,
      coherence,
      async close() {
        await coherence.stop();
        await services.stop();
        await store.close();
      },
    };
  } catch (err) {
    await store.close().catch(() => undefined);
    throw err;
  }
}

export async function startServer(rt: Runtime): Promise<App> {
  const app = await buildApp({
    config: rt.config,
    logger: rt.logger,
    services: rt.services,
    ready: async () => {
      const store = await rt.store.ping().then(
        () => true,
        () => false,
      );
      const keys = store ? await rt.services.keys.readiness().catch(() => null) : null;
      return { store, keyProvider: store, keys };
    },
  });
  rt.services.audit.startSealer(rt.config.auditSealIntervalMs);
  if (rt.config.auditSink) rt.services.audit.startSink(createAuditSink(rt.config.auditSink, { secret: rt.config.auditSinkSecret, logger: rt.logger }));
  rt.services.audit.startRetention(rt.config.auditRetentionDays);
  rt.services.webhookDispatcher.start();
  rt.services.webhookLogRetention.start();
  rt.services.lifecycle.start(rt.config.schedulerIntervalMs);
  rt.services.expiry.start(rt.config.schedulerIntervalMs);
  rt.services.oauth.start(rt.config.oauthRefreshIntervalMs);
  // Fastify logs one line per address it listens on (every interface for 0.0.0.0); that is the
  // "listening" line, and the store and root key were logged when they were opened.
  await app.listen({ host: rt.config.host, port: rt.config.port, listenTextResolver: (address) => `listening on ${address}` });
  return app;
}
