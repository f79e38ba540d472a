// What an `oauth2` credential's config and secret say about how to call its token endpoint.
import { validationFailed } from '../../domain/errors.js';
import type { RequestContext } from '../../domain/principal.js';
import type { CredentialRow } from '../../store/port.js';
import type { CredentialsService } from '../credentials/credentials-service.js';
import type { SecretValues } from '../credentials/secret-values.js';
import { providerPreset, type TokenAuthMethod } from './provider-presets.js';
import type { ClientAuth, ErrorClasses } from './token-client.js';

export function str(v: unknown): string | null {
  return typeof v === 'string' && v !== '' ? v : null;
}

export function errorClasses(c: CredentialRow): ErrorClasses {
  const p = providerPreset(c.provider) ?? providerPreset('oauth2');
  return { invalidGrant: p?.invalid_grant_errors ?? [], permanent: p?.permanent_errors ?? [] };
}

export function clientAuth(c: CredentialRow, secret: SecretValues): ClientAuth {
  return {
    clientId: String(c.config.client_id ?? ''),
    clientSecret: str(secret.client_secret),
    method: (str(c.config.token_endpoint_auth_method) ?? 'client_secret_basic') as TokenAuthMethod,
  };
}

export function tokenEndpoint(c: Pick<CredentialRow, 'config'>): string {
  const t = str(c.config.token_endpoint);
  if (t === null) throw validationFailed([{ path: 'config.token_endpoint', message: 'is required' }]);
  return t;
}

/** Connect, callback, refresh and verify change the credential: its write scope, not its visibility (visibility.ts `canChange`). */
export async function loadOAuth2(credentials: Pick<CredentialsService, 'getForChange'>, ctx: RequestContext, id: string): Promise<CredentialRow> {
  const c = await credentials.getForChange(ctx, id);
  if (c.type !== 'oauth2') throw validationFailed([{ path: 'type', message: `is ${c.type}; only oauth2 credentials have tokens to refresh` }]);
  return c;
}
