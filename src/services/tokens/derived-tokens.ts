import type { Clock } from '../../domain/clock.js';
import { validationFailed } from '../../domain/errors.js';
import type { RequestContext } from '../../domain/principal.js';
import type { EgressGuard } from '../../egress/egress-guard.js';
import type { CredentialRow } from '../../store/port.js';
import type { CredentialsService } from '../credentials/credentials-service.js';
import type { SecretValues } from '../credentials/secret-values.js';
import { assumeRole, checkAwsUsable, stsEndpoint } from './aws-assume-role.js';
import { runChain, storedResults } from './http-request-chain.js';
import { mintJwt } from './mint-jwt.js';
import type { Derived, TokenCache } from './token-cache.js';
import { tokenFailure } from './token-failures.js';

export type { Derived } from './token-cache.js';

export interface DerivedTokens {
  /** Refuses (422) a credential with nothing short-lived to derive; needs no secret. */
  checkDerivable(c: Pick<CredentialRow, 'id' | 'type' | 'config'>): void;
  /** The short-lived credential derived from `c`'s current secret: cached, or made once. */
  derive(c: CredentialRow, secret: SecretValues): Promise<Derived>;
  /**
   * `POST /v1/credentials/{id}/token`: `credentials:use` with the visibility of a reveal, audited
   * as a use (`credential.use`, reason `token <kind>`) before the secret is opened.
   */
  issue(ctx: RequestContext, id: string): Promise<{ credential: CredentialRow; derived: Derived }>;
}

/**
 * Short-lived credentials derived from stored ones, never the stored secret itself: an OAuth2
 * access token (refreshed first when due, by the credentials service's use), a JWT minted from a
 * signing key, an assumed role's session credentials, a request chain's results. The stored client secret, refresh token,
 * private key or long-lived access key has no path out here.
 */
export function createDerivedTokens(deps: {
  credentials: Pick<CredentialsService, 'use'>;
  cache: TokenCache;
  egress: Pick<EgressGuard, 'request'>;
  clock: Clock;
  stsEndpoint: string | null;
}): DerivedTokens {
  const { cache, clock } = deps;

  function kindOf(c: Pick<CredentialRow, 'id' | 'type' | 'config'>): Derived['kind'] {
    if (c.type === 'oauth2') return 'oauth2_access_token';
    if (c.type === 'jwt') return 'jwt';
    if (c.type === 'http_request') return 'http_request_results';
    if (c.type === 'aws' && c.config.authentication_type === 'ROLE') {
      checkAwsUsable(c.config);
      return 'aws_session';
    }
    throw validationFailed([
      {
        path: 'type',
        message: `is ${c.type}${c.type === 'aws' ? ' with a long-lived key' : ''}: there is nothing short-lived to derive from it (use the proxy, POST /v1/credentials/{id}/proxy/…)`,
      },
    ]);
  }

  const service: DerivedTokens = {
    checkDerivable(c) {
      kindOf(c);
    },

    async derive(c, secret) {
      switch (kindOf(c)) {
        case 'oauth2_access_token': {
          const token = secret.access_token;
          if (typeof token !== 'string' || token === '')
            throw validationFailed([{ path: 'secret.access_token', message: 'is absent: connect or refresh the credential first' }]);
          const expires = c.config.access_token_expires_at;
          return { kind: 'oauth2_access_token', values: { access_token: token }, expiresAt: typeof expires === 'string' ? expires : null };
        }
        case 'jwt':
          return cache.get(c, () => mintJwt(c.config, String(secret.signing_key ?? ''), clock.now()));
        case 'aws_session':
          return cache.get(c, () =>
            assumeRole({ egress: deps.egress, endpoint: stsEndpoint(deps.stsEndpoint, c.config), now: clock.now() }, c.id, c.config, secret).catch(
              (err: unknown) => {
                throw tokenFailure(err, 'STS endpoint');
              },
            ),
          );
        case 'http_request_results':
          return (
            storedResults(c.config, secret, clock.now()) ??
            cache.get(c, () =>
              runChain(deps.egress, c.config, secret, clock.now()).catch((err: unknown) => {
                throw tokenFailure(err, 'request chain');
              }),
            )
          );
      }
    },

    async issue(ctx, id) {
      const { credential, secret } = await deps.credentials.use(ctx, id, (c) => `token ${kindOf(c)}`);
      return { credential, derived: await service.derive(credential, secret) };
    },
  };
  return service;
}
