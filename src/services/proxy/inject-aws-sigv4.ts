import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';
import { validationFailed } from '../../domain/errors.js';
import type { Injected, OutgoingRequest } from './injection.js';

/** An access key, long-lived (AKIA…) or a session's (ASIA… with its token). */
export interface AwsKeys {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface SigningScope {
  service: string;
  region: string;
}

/**
 * `<anything.>service.region.amazonaws.com[.cn]`: the regional endpoint names AWS documents
 * (`email.eu-west-1…`, `abc123.execute-api.us-east-1…`, `bucket.s3.us-east-1…`).
 */
const REGIONAL_HOST = /^(?:[a-z0-9-]+\.)*?([a-z0-9-]+)\.([a-z]{2}(?:-[a-z]+)+-\d{1,2})\.amazonaws\.com(?:\.cn)?$/;
/** Global endpoints (`iam.amazonaws.com`, `sts.amazonaws.com`) sign for us-east-1. */
const GLOBAL_HOST = /^([a-z0-9-]+)\.amazonaws\.com$/;
/** Endpoint prefixes whose signing name differs from the prefix. */
const SIGNING_NAMES: Record<string, string> = { email: 'ses' };

/** The service and region an AWS endpoint host name says, or null for any other host. */
export function scopeOfHost(target: URL): Partial<SigningScope> {
  const host = target.hostname.toLowerCase();
  const regional = REGIONAL_HOST.exec(host);
  const global = regional ? null : GLOBAL_HOST.exec(host);
  const prefix = regional?.[1] ?? global?.[1];
  return {
    ...(prefix !== undefined ? { service: SIGNING_NAMES[prefix] ?? prefix } : {}),
    ...(regional ? { region: regional[2] } : global ? { region: 'us-east-1' } : {}),
  };
}

/**
 * The service and region a request is signed for: the credential's `config.service` and
 * `config.region` when set (a VPC endpoint, a gateway in front of AWS), else what an AWS endpoint
 * host name says. `fixedService` is the type's own (aws-ses signs for `ses`). Checked before the
 * secret is opened: a target whose scope cannot be known is refused, not signed for a guess.
 */
export function signingScope(config: Record<string, unknown>, target: URL, fixedService?: string): SigningScope {
  const host = scopeOfHost(target);
  const service = typeof config.service === 'string' ? config.service : (fixedService ?? host.service);
  const region = typeof config.region === 'string' ? config.region : host.region;
  if (service === undefined || region === undefined) {
    throw validationFailed([
      { path: 'config', message: `the target ${target.hostname} is not an AWS endpoint name; set config.service and config.region to sign for it` },
    ]);
  }
  return { service, region };
}

/** RFC 3986 unreserved characters stay, everything else is %XX (SigV4's `UriEncode`). */
function uriEncode(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** Caller headers the signature covers: the content type and the caller's own `x-amz-*` (x-amz-target of JSON APIs). */
function signedCallerHeaders(headers: OutgoingRequest['headers']): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (name !== 'content-type' && !name.startsWith('x-amz-')) continue;
    // What the signer sets itself is never the caller's.
    if (name === 'x-amz-date' || name === 'x-amz-security-token' || name === 'x-amz-content-sha256') continue;
    out[name] = Array.isArray(value) ? value.join(',') : value;
  }
  return out;
}

/**
 * AWS Signature Version 4 over method, path, query, the signed headers and the body's SHA-256,
 * computed by the AWS SDK's signer (@smithy/signature-v4). The query is sent exactly as it was
 * signed (RFC 3986 encoding, `search`), since a re-encoded query would not match at AWS. S3 takes
 * the body hash in `x-amz-content-sha256` and an unescaped path; every other service the reverse.
 */
export async function signAwsRequest(keys: AwsKeys, scope: SigningScope, req: OutgoingRequest): Promise<Injected> {
  const s3 = scope.service === 's3';
  const signer = new SignatureV4({ credentials: keys, region: scope.region, service: scope.service, sha256: Sha256, uriEscapePath: !s3, applyChecksum: s3 });
  const query: Record<string, string | string[]> = {};
  for (const [k, v] of req.url.searchParams) {
    const had = query[k];
    query[k] = had === undefined ? v : Array.isArray(had) ? [...had, v] : [had, v];
  }
  const search = [...req.url.searchParams].map(([k, v]) => `${uriEncode(k)}=${uriEncode(v)}`).join('&');
  const signed = await signer.sign(
    {
      method: req.method,
      protocol: req.url.protocol,
      hostname: req.url.hostname,
      ...(req.url.port !== '' ? { port: Number(req.url.port) } : {}),
      path: req.url.pathname,
      query,
      headers: { host: req.url.host, ...signedCallerHeaders(req.headers) },
      body: req.body ?? undefined,
    },
    { signingDate: req.now },
  );
  const headers: Record<string, string> = {};
  for (const name of ['authorization', 'x-amz-date', 'x-amz-security-token', 'x-amz-content-sha256']) {
    const value = signed.headers[name];
    if (value !== undefined) headers[name] = value;
  }
  // The signature is worthless without the secret key; the session token is a bearer secret.
  const secrets = [keys.secretAccessKey, ...(keys.sessionToken !== undefined ? [keys.sessionToken] : [])];
  return { headers, query: [], search: search === '' ? '' : `?${search}`, secrets };
}
