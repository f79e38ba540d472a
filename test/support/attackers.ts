import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { SMTPServer } from 'smtp-server';

/*
 * The attacker's public hosts, played by loopback listeners. Each records every byte it is
 * sent and answers in the most damaging way we have seen: quoting the secret back, in every
 * encoding, hoping the vault repeats its answer somewhere the attacker can read.
 */

/** Every form a quoted secret came back in: as sent in AUTH PLAIN, base64, hex, URL-encoded. */
export function quoted(user: string, secret: string): string {
  return [
    Buffer.from(`\0${user}\0${secret}`).toString('base64'),
    Buffer.from(secret).toString('base64'),
    Buffer.from(secret).toString('hex'),
    encodeURIComponent(secret),
    secret,
  ].join(' ');
}

export interface SmtpListener {
  port: number;
  /** Connections opened to it. */
  connections: number;
  /** `user:password` of every AUTH attempt it saw. */
  logins: string[];
  close(): Promise<void>;
}

/**
 * An SMTP server on loopback. `accept` decides a login; a refused one is answered `535` with
 * the password quoted back in every form (`quoted`).
 */
export async function smtpListener(accept: (user: string, password: string) => boolean): Promise<SmtpListener> {
  const state = { connections: 0, logins: [] as string[] };
  const server = new SMTPServer({
    authMethods: ['PLAIN', 'LOGIN'],
    allowInsecureAuth: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onConnect: (_session, cb) => {
      state.connections += 1;
      cb();
    },
    onAuth: (auth, _session, cb) => {
      const user = auth.username ?? '';
      const password = auth.password ?? '';
      state.logins.push(`${user}:${password}`);
      if (accept(user, password)) return cb(null, { user });
      cb(Object.assign(new Error(`Authentication failed for ${quoted(user, password)}`), { responseCode: 535 }));
    },
  });
  server.listen(0, '127.0.0.1');
  await once(server.server, 'listening');
  const port = (server.server.address() as { port: number }).port;
  return {
    port,
    get connections() {
      return state.connections;
    },
    get logins() {
      return state.logins;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

export interface HttpListener {
  url: string;
  /** Every request: method, path, headers and body, as received. */
  received: Array<{ method: string; path: string; authorization: string; body: string }>;
  close(): Promise<void>;
}

/** An HTTP server on loopback that records each request and answers with `answer`. */
export async function httpListener(answer: (req: HttpListener['received'][number], res: ServerResponse) => void): Promise<HttpListener> {
  const received: HttpListener['received'] = [];
  const server: Server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const entry = {
        method: req.method ?? '',
        path: req.url ?? '',
        authorization: req.headers.authorization ?? '',
        body: Buffer.concat(chunks).toString('utf8'),
      };
      received.push(entry);
      answer(entry, res);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The secrets a token request carries: the refresh token from the form, the client secret from Basic auth or the form. */
export function secretsIn(req: { body: string; authorization: string }): string[] {
  const form = new URLSearchParams(req.body);
  const out = [form.get('refresh_token'), form.get('client_secret')];
  if (req.authorization.startsWith('Basic ')) {
    const pair = Buffer.from(req.authorization.slice(6), 'base64').toString('utf8');
    out.push(decodeURIComponent(pair.slice(pair.indexOf(':') + 1).replace(/\+/g, ' ')));
  }
  return out.filter((v): v is string => typeof v === 'string' && v !== '');
}

export function json(res: ServerResponse, status: number, body: unknown): void {
  res.statusCode = status;
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify(body));
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `done` (every 100 ms, up to `ms`); false when it never held. */
export async function eventually(done: () => boolean | Promise<boolean>, ms = 15_000): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (await done()) return true;
    await sleep(100);
  }
  return done();
}
