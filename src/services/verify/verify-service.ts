import { EgressFailed, EgressRefused, type EgressGuard } from '../../egress/egress-guard.js';
import type { Clock } from '../../domain/clock.js';
import { validationFailed } from '../../domain/errors.js';
import type { RequestContext } from '../../domain/principal.js';
import { categoryOfSocketError, describeRemoteFailure, remoteStatus, type RemoteFailure, type RemoteFailureCategory } from '../../domain/remote-failure.js';
import type { AuditService } from '../audit/audit-service.js';
import { credentialFacts } from '../credentials/credential-rows.js';
import type { CredentialsService } from '../credentials/credentials-service.js';
import type { SecretValues } from '../credentials/secret-values.js';

/** What a live check reports: on failure a category and the remote's status code, never its text. */
export interface VerifyResult {
  ok: boolean;
  checked_at: string;
  error?: RemoteFailureCategory;
  status?: number | null;
}

export interface VerifyService {
  verify(ctx: RequestContext, id: string): Promise<VerifyResult>;
}

/** A check that failed with what the remote said: its status code only. */
class RemoteAnswer extends Error {
  constructor(readonly remote: RemoteFailure) {
    super(remote.category);
  }
}

/**
 * A nodemailer error as a category and the SMTP reply code. nodemailer's message holds the
 * server's reply verbatim (a 535 may quote the AUTH exchange back, password included), so only
 * its `code` (nodemailer's own) and the numeric `responseCode` are read.
 */
function smtpFailure(err: { code?: unknown; originalCode?: unknown; responseCode?: unknown }): RemoteFailure {
  const status = remoteStatus(err.responseCode);
  const code = typeof err.code === 'string' ? err.code : '';
  if (code === 'EAUTH' || code === 'ENOAUTH') return { category: 'auth_failed', status };
  if (code === 'ETIMEDOUT') return { category: 'timeout', status };
  if (code === 'ETLS' || code === 'EREQUIRETLS') return { category: 'tls_failed', status };
  if (code === 'EPROTOCOL') return { category: 'bad_response', status };
  if (status !== null) return { category: status >= 400 ? 'refused' : 'bad_response', status };
  if (code === 'ESOCKET' || code === 'ECONNECTION' || code === 'EDNS') {
    return { category: categoryOfSocketError(typeof err.originalCode === 'string' ? err.originalCode : undefined), status: null };
  }
  return { category: 'bad_response', status: null };
}

function failureOf(err: unknown, protocol: 'SMTP' | 'HTTP'): RemoteFailure {
  if (err instanceof RemoteAnswer) return err.remote;
  if (err instanceof EgressRefused || err instanceof EgressFailed) return { category: err.category, status: null };
  if (protocol === 'SMTP' && typeof err === 'object' && err !== null) return smtpFailure(err);
  return { category: 'bad_response', status: null };
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

  /** No secret is sent: the endpoint only has to answer (a 5xx is a failure, a 401 is not). */
  async function httpProbe(url: string): Promise<void> {
    const res = await egress.request({ method: 'GET', url });
    if (res.status >= 500) throw new RemoteAnswer({ category: 'bad_response', status: res.status });
  }

  return {
    async verify(ctx, id) {
      const { credential, secret } = await credentials.openForUse(ctx, id);
      if (credential.type === 'oauth2') return deps.oauthVerify(ctx, id);
      let check: () => Promise<void>;
      let protocol: 'SMTP' | 'HTTP';
      if (credential.type === 'smtp') {
        check = () => smtpLogin(credential.config, secret);
        protocol = 'SMTP';
      } else if (credential.type === 'webhook' && typeof credential.config.url === 'string') {
        check = () => httpProbe(String(credential.config.url));
        protocol = 'HTTP';
      } else throw validationFailed([{ path: 'type', message: `${credential.type} credentials have no live check (smtp, webhook and oauth2 do)` }]);
      const checkedAt = clock.now().toISOString();
      let failure: RemoteFailure | null = null;
      try {
        await check();
      } catch (err) {
        failure = failureOf(err, protocol);
      }
      await audit.append(
        audit.event(
          ctx,
          'credential.verify',
          { type: 'credential', id },
          failure === null ? 'success' : 'failure',
          failure === null ? null : describeRemoteFailure(failure, protocol),
          credentialFacts(credential, failure === null ? {} : { category: failure.category, status: failure.status }),
        ),
      );
      return failure === null ? { ok: true, checked_at: checkedAt } : { ok: false, checked_at: checkedAt, error: failure.category, status: failure.status };
    },
  };
}
