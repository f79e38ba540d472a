import { Client, type ClientConfig } from 'pg';

/** The one channel every Latchkey process LISTENs on; the payload is `<topic>:<key>`. */
export const INVALIDATION_CHANNEL = 'latchkey_invalidation';

export interface InvalidationHandler {
  invalidate(topic: string, key: string): void;
  feedState(live: boolean): void;
}

export interface InvalidationListenerOptions {
  /** Same server and credentials as the pool; this session is not pooled. */
  connection: ClientConfig;
  /**
   * The LISTEN session is idle, and a NAT, firewall or load balancer may drop an idle TCP flow
   * without a word: the session would look alive while no notification can reach it. A probe
   * every `heartbeatMs` that must answer within `heartbeatTimeoutMs` bounds how long that
   * can go unnoticed (and keeps the flow from looking idle in the first place).
   */
  heartbeatMs?: number;
  heartbeatTimeoutMs?: number;
  /** Reconnect backoff: doubles from `retryMinMs` up to `retryMaxMs`, with jitter. */
  retryMinMs?: number;
  retryMaxMs?: number;
}

export function encodeInvalidation(topic: string, key: string): string {
  return `${topic}:${key}`;
}

function decodeInvalidation(payload: string): { topic: string; key: string } | null {
  const i = payload.indexOf(':');
  if (i <= 0 || i === payload.length - 1) return null;
  return { topic: payload.slice(0, i), key: payload.slice(i + 1) };
}

/** Closes the socket now: `end()` waits on a peer that may be gone (a cut network path). */
function discard(c: Client): void {
  c.end().catch(() => undefined);
  c.connection.stream.destroy();
}

/**
 * One dedicated `LISTEN` session per process, fanned out to any number of handlers. It is the
 * only long-lived session: when it drops (database restart, failover, a cut path) handlers are
 * told the feed is down at once, and it reconnects with backoff for as long as anyone listens.
 * Nothing is replayed after a reconnect — PostgreSQL does not queue notifications for a session
 * that is gone — which is why handlers must treat "live again" as "drop everything".
 */
export function createInvalidationListener(opts: InvalidationListenerOptions) {
  const heartbeatMs = opts.heartbeatMs ?? 2000;
  const heartbeatTimeoutMs = opts.heartbeatTimeoutMs ?? 1500;
  const retryMinMs = opts.retryMinMs ?? 100;
  const retryMaxMs = opts.retryMaxMs ?? 2000;

  const handlers = new Set<InvalidationHandler>();
  let live = false;
  let running = false;
  let loop: Promise<void> | null = null;
  let current: Client | null = null;
  /** Ends the current wait early: the backoff sleep, or the wait for a live session to drop. */
  let wake: (() => void) | null = null;

  const each = (fn: (h: InvalidationHandler) => void): void => {
    for (const h of [...handlers]) {
      try {
        fn(h);
      } catch {
        // A failing handler must not stop delivery to the others, nor kill the listener.
      }
    }
  };
  const setLive = (next: boolean): void => {
    if (live === next) return;
    live = next;
    each((h) => h.feedState(next));
  };

  async function connect(): Promise<Client> {
    const c = new Client({ ...opts.connection, query_timeout: heartbeatTimeoutMs });
    current = c;
    c.on('error', () => wake?.());
    c.on('end', () => wake?.());
    c.on('notification', (msg) => {
      if (c !== current || msg.channel !== INVALIDATION_CHANNEL || !msg.payload) return;
      const d = decodeInvalidation(msg.payload);
      if (d) each((h) => h.invalidate(d.topic, d.key));
    });
    try {
      await c.connect();
      await c.query(`LISTEN ${INVALIDATION_CHANNEL}`);
      return c;
    } catch (err) {
      discard(c);
      throw err;
    }
  }

  /** Resolves when the session is lost: an error or end event, or a heartbeat that failed. */
  function untilLost(c: Client): Promise<void> {
    return new Promise<void>((resolve) => {
      let done = false;
      const finish = (): void => {
        if (done) return;
        done = true;
        clearInterval(timer);
        wake = null;
        resolve();
      };
      wake = finish;
      let probing = false;
      const timer = setInterval(() => {
        if (probing) return;
        probing = true;
        c.query('SELECT 1').then(() => (probing = false), finish);
      }, heartbeatMs);
      timer.unref();
    });
  }

  function sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        wake = null;
        resolve();
      }, ms);
      timer.unref();
      wake = () => {
        clearTimeout(timer);
        wake = null;
        resolve();
      };
    });
  }

  async function run(firstAttempt: () => void): Promise<void> {
    let failures = 0;
    while (running) {
      try {
        const c = await connect();
        failures = 0;
        if (running) {
          setLive(true);
          firstAttempt();
          await untilLost(c);
        }
        discard(c);
      } catch {
        firstAttempt();
        failures++;
      }
      current = null;
      setLive(false);
      if (!running) break;
      const base = Math.min(retryMaxMs, retryMinMs * 2 ** Math.min(failures, 16));
      // Jitter: N processes that lost the same database must not reconnect in lockstep.
      await sleep(base / 2 + Math.random() * (base / 2));
    }
  }

  function start(): Promise<void> {
    running = true;
    return new Promise<void>((resolve) => {
      loop = run(resolve);
    });
  }

  async function stop(): Promise<void> {
    running = false;
    const c = current;
    if (c) discard(c);
    wake?.();
    await loop;
    loop = null;
  }

  return {
    async subscribe(handler: InvalidationHandler): Promise<{ close(): Promise<void> }> {
      handlers.add(handler);
      if (!running) await start();
      else if (live) handler.feedState(true);
      if (!live) handler.feedState(false);
      return {
        async close() {
          handlers.delete(handler);
          if (handlers.size === 0 && running) await stop();
        },
      };
    },
    /** Whether the LISTEN session is up (for logs and tests). */
    isLive: (): boolean => live,
    close: stop,
  };
}
