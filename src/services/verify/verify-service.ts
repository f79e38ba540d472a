import type { EgressGuard } from '../../egress/egress-guard.js';
import type { Clock } from '../../domain/clock.js';
import { validationFailed } from '../../domain/errors.js';
import type { RequestContext } from '../../domain/principal.js';
import type { AuditService } from '../audit/audit-service.js';
import type { CredentialsService, SecretValues } from '../credentials/credentials-service.js';

export interface VerifyResult {
  ok: boolean;
  checked_at: string;
  error?: string;
}

export interface VerifyService {
  verify(ctx: RequestContext, id: string): Promise<VerifyResult>;
}

/** A report must never carry the secret, even when a server quotes what it was sent. */
function scrub(message: string, secret: SecretValues): string {
  let out = message;
  for (const v of Object.values(secret)) if (typeof v === 'string' && v.length >= 3) out = out.split(v).join('[redacted]');
  return out.replace(/[\r\n]+/g, ' ').slice(0, 300);
}

/**
 * Live checks of a credential against its service, behind the egress guard: SMTP logs in
 * (and logs out) at the configured server; webhooks get an HTTP probe; OAuth2 makes a token call
 * (delegated to the OAuth service). Each check is an audit event with its outcome.
 */
export function createVerifyService(deps: {
  credentials: CredentialsService;
  oauthVerify: (ctx: RequestContext, id: string) => Promise<VerifyResult>;
  egress: EgressGuard;
  audit: AuditService;
  clock: Clock;
  timeoutMs: number;
}): VerifyService {
  const { credentials, egress, audit, clock } = deps;

  async function smtpLogin(config: Record<string, unknown>, secret: SecretValues): Promise<void> {
    const host = String(config.host);
    const [address] = await egress.resolveHost(host);
    // nodemailer is loaded on the first SMTP check, not at start-up (about 50 ms of it).
    const { createTransport } = await import('nodemailer');
    const transport = createTransport({
      host: address,
      port: Number(config.port ?? 25),
      secure: config.encryption === 'ssl',
      requireTLS: config.encryption === 'tls',
      ignoreTLS: config.encryption === 'none',
      // The name is checked on the certificate; the connection goes to the address we vetted.
      tls: { servername: host },
      name: 'latchkey',
      connectionTimeout: deps.timeoutMs,
      greetingTimeout: deps.timeoutMs,
      socketTimeout: deps.timeoutMs,
      ...(config.auth_type !== 'none' && config.auth_type !== undefined
        ? { auth: { user: String(config.username ?? ''), pass: String(secret.password ?? '') }, authMethod: String(config.auth_type).toUpperCase() }
        : {}),
    });
    try {
      await transport.verify();
    } finally {
      transport.close();
    }
  }

  async function httpProbe(url: string): Promise<void> {
    const res = await egress.request({ method: 'GET', url });
    if (res.status >= 500) throw new Error(`the endpoint answered HTTP ${res.status}`);
  }

  return {
    async verify(ctx, id) {
      const { credential, secret } = await credentials.openForUse(ctx, id);
      if (credential.type === 'oauth2') return deps.oauthVerify(ctx, id);
      let check: () => Promise<void>;
      if (credential.type === 'smtp') check = () => smtpLogin(credential.config, secret);
      else if (credential.type === 'webhook' && typeof credential.config.url === 'string') check = () => httpProbe(String(credential.config.url));
      else throw validationFailed([{ path: 'type', message: `${credential.type} credentials have no live check (smtp, webhook and oauth2 do)` }]);
      const checkedAt = clock.now().toISOString();
      let error: string | undefined;
      try {
        await check();
      } catch (err) {
        error = scrub((err as Error).message || 'check failed', secret);
      }
      await audit.append(audit.event(ctx, 'credential.verify', { type: 'credential', id }, error === undefined ? 'success' : 'failure', error?.slice(0, 200) ?? null));
      return error === undefined ? { ok: true, checked_at: checkedAt } : { ok: false, checked_at: checkedAt, error };
    },
  };
}
