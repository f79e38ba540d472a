// A small keep-alive JSON client for setting up and seeding the server under test
// (loopback only; the load itself comes from the load worker, not from here).
import http from 'node:http';
import { assertLoopbackOrigin } from './load-spec.js';

/** The request failed below HTTP (reset, refused, timed out): no status came back. */
export class TransportError extends Error {
  constructor(
    message: string,
    readonly code: string | null,
    /** It went out on a kept-alive socket: a reset then usually means the server had just closed it. */
    readonly reusedSocket: boolean,
  ) {
    super(message);
    this.name = 'TransportError';
  }
}

export interface JsonResponse {
  status: number;
  body: unknown;
}

export interface JsonRequest {
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  path: string;
  token?: string;
  body?: unknown;
  timeoutMs?: number;
}

export class JsonClient {
  private readonly agent: http.Agent;
  private readonly url: URL;

  constructor(origin: string, maxSockets = 64) {
    assertLoopbackOrigin(origin);
    this.url = new URL(origin);
    this.agent = new http.Agent({ keepAlive: true, maxSockets });
  }

  request(req: JsonRequest): Promise<JsonResponse> {
    const payload = req.body === undefined ? undefined : JSON.stringify(req.body);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (payload !== undefined) headers['content-type'] = 'application/json';
    if (req.token !== undefined) headers.authorization = `Bearer ${req.token}`;
    return new Promise((resolve, reject) => {
      const request = http.request(
        {
          agent: this.agent,
          host: this.url.hostname,
          port: this.url.port,
          method: req.method,
          path: req.path,
          headers,
          timeout: req.timeoutMs ?? 30_000,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let body: unknown = text;
            try {
              body = text.length > 0 ? (JSON.parse(text) as unknown) : null;
            } catch {
              // not JSON: keep the text for the error message
            }
            resolve({ status: res.statusCode ?? 0, body });
          });
          res.on('error', reject);
        },
      );
      request.on('timeout', () => request.destroy(new Error(`${req.method} ${req.path}: timed out`)));
      request.on('error', (err: NodeJS.ErrnoException) => {
        reject(new TransportError(`${req.method} ${req.path}: ${err.message}`, err.code ?? null, request.reusedSocket));
      });
      request.end(payload);
    });
  }

  /** Like request(), but any status other than `expect` is an error that says what came back. */
  async expect(expect: number, req: JsonRequest): Promise<unknown> {
    const res = await this.request(req);
    if (res.status !== expect) {
      const shown = typeof res.body === 'string' ? res.body : JSON.stringify(res.body);
      throw new Error(`${req.method} ${req.path}: expected ${expect}, got ${res.status}: ${shown.slice(0, 500)}`);
    }
    return res.body;
  }

  close(): void {
    this.agent.destroy();
  }
}

/** Reads a string at a path of keys in a parsed JSON body, or throws saying what was missing. */
export function stringAt(body: unknown, ...keys: string[]): string {
  let current: unknown = body;
  for (const key of keys) {
    if (typeof current !== 'object' || current === null || !(key in current)) {
      throw new Error(`response has no ${keys.join('.')}: ${JSON.stringify(body).slice(0, 300)}`);
    }
    current = (current as Record<string, unknown>)[key];
  }
  if (typeof current !== 'string') throw new Error(`response ${keys.join('.')} is not a string`);
  return current;
}

/** Like stringAt, but null/absent is allowed (e.g. next_cursor on the last page). */
export function optionalStringAt(body: unknown, ...keys: string[]): string | null {
  try {
    return stringAt(body, ...keys);
  } catch {
    return null;
  }
}
