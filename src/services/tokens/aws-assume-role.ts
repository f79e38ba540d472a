import { XMLParser } from 'fast-xml-parser';
import { validationFailed } from '../../domain/errors.js';
import type { EgressGuard } from '../../egress/egress-guard.js';
import { scopeOfHost, signAwsRequest } from '../proxy/inject-aws-sigv4.js';
import type { Derived } from './token-cache.js';
import { failureOfStatus, TokenSourceFailed } from './token-failures.js';

/** How long an assumed role's session lasts: STS's default and the least every role allows. */
const SESSION_SECONDS = 3600;

/**
 * What an `aws` credential needs before its secret is opened. KEY signs with the stored key;
 * ROLE assumes `role_arn` with the stored key as the caller of STS. INSTANCE_PROFILE would sign
 * as this server's own host role, which a tenant must not be able to borrow: refused.
 */
export function checkAwsUsable(config: Record<string, unknown>): void {
  if (config.authentication_type === 'INSTANCE_PROFILE') {
    throw validationFailed([
      {
        path: 'config.authentication_type',
        message: 'is INSTANCE_PROFILE: Latchkey does not lend its own host role to a request; store a key (KEY), or a key that may assume a role (ROLE)',
      },
    ]);
  }
  if (typeof config.access_key_id !== 'string') {
    throw validationFailed([{ path: 'config.access_key_id', message: 'is required to sign (for ROLE: the key that calls STS AssumeRole)' }]);
  }
}

/** The STS endpoint: the operator's (LATCHKEY_AWS_STS_ENDPOINT), else the credential's region's, else the global one. */
export function stsEndpoint(configured: string | null, config: Record<string, unknown>): URL {
  if (configured !== null) return new URL(configured);
  return new URL(typeof config.region === 'string' ? `https://sts.${config.region}.amazonaws.com/` : 'https://sts.amazonaws.com/');
}

/** Role session names allow `[\w+=,.@-]{2,64}`: ours names the credential. */
function sessionName(config: Record<string, unknown>, credentialId: string): string {
  return typeof config.role_session_name === 'string' ? config.role_session_name : `latchkey-${credentialId}`.replace(/[^\w+=,.@-]/g, '-').slice(0, 64);
}

/**
 * STS AssumeRole (query protocol, 2011-06-15) with the credential's external id, signed with
 * the stored key by the same SigV4 signer as every proxied request, sent through the egress
 * guard. The answer's session credentials are what the role's requests are signed with.
 */
export async function assumeRole(
  deps: { egress: Pick<EgressGuard, 'request'>; endpoint: URL; now: Date },
  credentialId: string,
  config: Record<string, unknown>,
  secret: Record<string, unknown>,
): Promise<Derived> {
  const form = new URLSearchParams({
    Action: 'AssumeRole',
    Version: '2011-06-15',
    RoleArn: String(config.role_arn),
    RoleSessionName: sessionName(config, credentialId),
    DurationSeconds: String(SESSION_SECONDS),
  });
  if (typeof config.external_id === 'string') form.set('ExternalId', config.external_id);
  const body = Buffer.from(form.toString());
  const headers = { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' };
  const token = typeof secret.session_token === 'string' ? secret.session_token : undefined;
  const keys = {
    accessKeyId: String(config.access_key_id),
    secretAccessKey: String(secret.secret_access_key ?? ''),
    ...(token !== undefined ? { sessionToken: token } : {}),
  };
  // The endpoint's own region first: the global endpoint signs for us-east-1 whatever the credential's region.
  const scope = { service: 'sts', region: scopeOfHost(deps.endpoint).region ?? (typeof config.region === 'string' ? config.region : 'us-east-1') };
  const signed = await signAwsRequest(keys, scope, { method: 'POST', url: deps.endpoint, headers, body, now: deps.now });
  const res = await deps.egress.request({
    method: 'POST',
    url: deps.endpoint.toString(),
    headers: { ...headers, ...signed.headers, accept: 'text/xml' },
    body: body.toString(),
  });
  if (res.status !== 200) throw new TokenSourceFailed(failureOfStatus(res.status));
  let parsed: unknown;
  try {
    parsed = new XMLParser({ parseTagValue: false }).parse(res.body.toString('utf8'));
  } catch {
    throw new TokenSourceFailed({ category: 'bad_response', status: res.status });
  }
  const c = (parsed as { AssumeRoleResponse?: { AssumeRoleResult?: { Credentials?: Record<string, unknown> } } }).AssumeRoleResponse?.AssumeRoleResult
    ?.Credentials;
  const [id, key, session, expiration] = [c?.AccessKeyId, c?.SecretAccessKey, c?.SessionToken, c?.Expiration];
  if (
    typeof id !== 'string' ||
    typeof key !== 'string' ||
    typeof session !== 'string' ||
    typeof expiration !== 'string' ||
    Number.isNaN(Date.parse(expiration))
  ) {
    throw new TokenSourceFailed({ category: 'bad_response', status: res.status });
  }
  return {
    kind: 'aws_session',
    values: { access_key_id: id, secret_access_key: key, session_token: session },
    expiresAt: new Date(Date.parse(expiration)).toISOString(),
  };
}
