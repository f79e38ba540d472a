import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

/** One request the receiver got, with what the standardwebhooks library said of its signature. */
export interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  /** The parsed body when the signature verified with one of the path's secrets, else null. */
  event: { id: string; type: string; timestamp: string; data: Record<string, unknown> } | null;
  /** Which of the path's secrets verified it (indexes into `secrets(path)`). */
  verifiedWith: number[];
  status: number;
}

/**
 * A real HTTP receiver on loopback, the way a customer's endpoint is: every request is checked
 * with the `standardwebhooks` library against the secrets the test gave for its path, and answered
 * with whatever `respond` says (200 by default). `inFlight` counts requests being answered, per path.
 */
export interface Receiver {
  url(path: string): string;
  setSecrets(path: string, secrets: string[]): void;
  respond(path: string, fn: ((n: number) => number) | null): void;
  /** Delay before answering (ms), to keep requests in flight. */
  delay(ms: number): void;
  all(path?: string): Received[];
  /** Deliveries answered 2xx whose signature verified, in arrival order. */
  accepted(path: string): Received[];
  maxInFlight(path: string): number;
  close(): Promise<void>;
}

export async function startReceiver(): Promise<Receiver> {
  const secrets = new Map<string, string[]>();
  const responders = new Map<string, (n: number) => number>();
  const counts = new Map<string, number>();
  const inFlight = new Map<string, number>();
  const maxFlight = new Map<string, number>();
  const got: Received[] = [];
  let delayMs = 0;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = (req.url ?? '/').split('?')[0] ?? '/';
      const body = Buffer.concat(chunks).toString('utf8');
      const n = (counts.get(path) ?? 0) + 1;
      counts.set(path, n);
      inFlight.set(path, (inFlight.get(path) ?? 0) + 1);
      maxFlight.set(path, Math.max(maxFlight.get(path) ?? 0, inFlight.get(path) ?? 0));
      const verifiedWith: number[] = [];
      let event: Received['event'] = null;
      for (const [i, s] of (secrets.get(path) ?? []).entries()) {
        try {
          event = new Webhook(s).verify(body, req.headers as Record<string, string>) as Received['event'];
          verifiedWith.push(i);
        } catch {
          // not this secret
        }
      }
      const status = responders.get(path)?.(n) ?? 200;
      got.push({ path, headers: req.headers, body, event, verifiedWith, status });
      setTimeout(() => {
        inFlight.set(path, (inFlight.get(path) ?? 1) - 1);
        res.statusCode = status;
        res.end(status >= 200 && status < 300 ? 'ok' : 'receiver says no');
      }, delayMs);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: (path) => `http://127.0.0.1:${port}${path}`,
    setSecrets: (path, s) => void secrets.set(path, s),
    respond: (path, fn) => {
      if (fn === null) responders.delete(path);
      else responders.set(path, fn);
    },
    delay: (ms) => {
      delayMs = ms;
    },
    all: (path) => (path === undefined ? [...got] : got.filter((r) => r.path === path)),
    accepted: (path) => got.filter((r) => r.path === path && r.status < 300 && r.event !== null),
    maxInFlight: (path) => maxFlight.get(path) ?? 0,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function waitFor<T>(what: string, fn: () => Promise<T | undefined | null | false> | T | undefined | null | false, ms = 20_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}
