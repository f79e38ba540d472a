import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import Provider, { type ClientMetadata } from 'oidc-provider';

/**
 * A real OAuth 2.0 / OpenID Connect provider (node-oidc-provider) on loopback for the OAuth
 * tests: authorization code with PKCE required, refresh tokens rotated on every use (a consumed
 * one used again is invalid_grant and revokes the grant), client credentials, revocation. Its
 * token endpoint calls are counted from the provider's own middleware.
 */
export interface TestProvider {
  issuer: string;
  provider: Provider;
  /** Token endpoint requests by grant_type (every request, whatever its outcome). */
  tokenRequests: Record<string, number>;
  /** Outcomes of refresh_token requests, in order. */
  refreshOutcomes: Array<'success' | string>;
  /** The refresh token in the provider's latest token response. */
  lastIssuedRefreshToken(): string | null;
  /** Drives the provider's login and consent (devInteractions) like a browser; returns the callback URL it redirects to. */
  authorize(authorizationUrl: string, login?: string): Promise<URL>;
  /** Revokes a token at the provider (RFC 7009). */
  revoke(token: string, client: { id: string; secret: string }): Promise<void>;
  close(): Promise<void>;
}

export const CLIENT = { id: 'latchkey', secret: 'latchkey-client-secret' };
export const SHORT_CLIENT = { id: 'latchkey-short', secret: 'latchkey-short-secret' };
export const MACHINE_CLIENT = { id: 'machine', secret: 'machine-secret' };
/** Like Google: refresh tokens are not rotated and a refresh answer carries none. */
export const KEEP_CLIENT = { id: 'latchkey-keep', secret: 'latchkey-keep-secret' };

class CookieJar {
  private readonly cookies = new Map<string, string>();
  take(res: Response): void {
    for (const line of res.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      if (/expires=Thu, 01 Jan 1970/i.test(line) || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }
  header(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }
}

/** Claims of a scope of the test's own, put into ID tokens too (the console's sign-in reads them there). */
export interface ExtraClaims {
  scope: string;
  names: string[];
  of: (accountId: string) => Record<string, unknown>;
}

export async function startProvider(opts: { redirectUris: string[]; shortAccessTokenSeconds?: number; extraClaims?: ExtraClaims }): Promise<TestProvider> {
  const server: Server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  const issuer = `http://127.0.0.1:${port}`;
  const webClient = (c: { id: string; secret: string }): ClientMetadata => ({
    client_id: c.id,
    client_secret: c.secret,
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    redirect_uris: opts.redirectUris,
    token_endpoint_auth_method: 'client_secret_basic',
  });
  const provider = new Provider(issuer, {
    clients: [
      webClient(CLIENT),
      webClient(SHORT_CLIENT),
      webClient(KEEP_CLIENT),
      {
        client_id: MACHINE_CLIENT.id,
        client_secret: MACHINE_CLIENT.secret,
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
        token_endpoint_auth_method: 'client_secret_post',
      },
    ],
    pkce: { required: () => true },
    features: {
      devInteractions: { enabled: true },
      clientCredentials: { enabled: true },
      revocation: { enabled: true },
    },
    // Every refresh hands out a new refresh token and consumes the old one.
    rotateRefreshToken: (ctx) => ctx.oidc.client?.clientId !== KEEP_CLIENT.id,
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    ttl: {
      AccessToken: (_ctx, _token, client) => (client.clientId === SHORT_CLIENT.id ? (opts.shortAccessTokenSeconds ?? 4) : 3600),
      ClientCredentials: 120,
      RefreshToken: 86_400,
      AuthorizationCode: 60,
      Grant: 86_400,
      Session: 86_400,
      Interaction: 600,
      IdToken: 3600,
    },
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name'],
      ...(opts.extraClaims ? { [opts.extraClaims.scope]: opts.extraClaims.names } : {}),
    },
    // With extra claims, ID tokens carry every claim of the granted scopes (not only in userinfo).
    ...(opts.extraClaims ? { conformIdTokenClaims: false } : {}),
    findAccount: async (_ctx, id) => ({
      accountId: id,
      claims: async () => ({ sub: id, email: `${id}@example.test`, email_verified: true, name: `User ${id}`, ...opts.extraClaims?.of(id) }),
    }),
    cookies: { keys: ['test-cookie-key-0123456789'] },
  });
  const tokenRequests: Record<string, number> = {};
  const refreshOutcomes: string[] = [];
  let lastRefreshToken: string | null = null;
  provider.use(async (ctx, next) => {
    await next();
    if (ctx.path !== '/token' || ctx.method !== 'POST') return;
    const grant = String((ctx as { oidc?: { params?: { grant_type?: string } } }).oidc?.params?.grant_type ?? 'unknown');
    tokenRequests[grant] = (tokenRequests[grant] ?? 0) + 1;
    const body = ctx.body as { refresh_token?: string; error?: string } | undefined;
    const clientId = (ctx as { oidc?: { client?: { clientId?: string } } }).oidc?.client?.clientId;
    if (grant === 'refresh_token' && clientId === KEEP_CLIENT.id && body) delete body.refresh_token;
    if (grant === 'refresh_token') refreshOutcomes.push(ctx.status === 200 ? 'success' : String(body?.error ?? ctx.status));
    if (ctx.status === 200 && body?.refresh_token) lastRefreshToken = body.refresh_token;
  });
  server.on('request', provider.callback());

  return {
    issuer,
    provider,
    tokenRequests,
    refreshOutcomes,
    lastIssuedRefreshToken: () => lastRefreshToken,
    async authorize(authorizationUrl, login = 'alice') {
      const jar = new CookieJar();
      let url = new URL(authorizationUrl);
      let method = 'GET';
      let body: string | undefined;
      for (let i = 0; i < 12; i++) {
        const res = await fetch(url, {
          method,
          redirect: 'manual',
          body,
          headers: { cookie: jar.header(), ...(body ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) },
        });
        jar.take(res);
        await res.arrayBuffer();
        method = 'GET';
        body = undefined;
        if (res.status >= 300 && res.status < 400) {
          const next = new URL(res.headers.get('location')!, url);
          if (next.origin !== issuer) return next;
          url = next;
          continue;
        }
        if (res.status !== 200) throw new Error(`provider answered ${res.status} at ${url.pathname}`);
        // An interaction page: answer its prompt (login, then consent) as the user would.
        const interaction = /^\/interaction\/([^/]+)$/.exec(url.pathname);
        if (!interaction) throw new Error(`unexpected page ${url.pathname}`);
        const details = await provider.Interaction.find(interaction[1]!);
        const prompt = details?.prompt.name;
        method = 'POST';
        body =
          prompt === 'login'
            ? new URLSearchParams({ prompt: 'login', login, password: 'x' }).toString()
            : new URLSearchParams({ prompt: 'consent' }).toString();
      }
      throw new Error('too many steps at the provider');
    },
    async revoke(token, client) {
      const res = await fetch(`${issuer}/token/revocation`, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: `Basic ${Buffer.from(`${client.id}:${client.secret}`).toString('base64')}`,
        },
        body: new URLSearchParams({ token, token_type_hint: 'refresh_token' }),
      });
      if (res.status !== 200) throw new Error(`revocation answered ${res.status}`);
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
