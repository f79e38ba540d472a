import { createHash, timingSafeEqual } from 'node:crypto';
import { Hash } from '@smithy/core/serde';
import { SignatureV4 } from '@smithy/signature-v4';
import type { Clock } from '../../domain/clock.js';
import type { Principal } from '../../domain/principal.js';
import type { AwsKeyPairs } from '../access-keys/aws-key-pairs.js';

/** A request as it arrived: the path as sent (still percent-encoded), headers lower-cased, the body's bytes. */
export interface SignedRequest {
  method: string;
  rawPath: string;
  query: Record<string, string | string[]>;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/**
 * Why a request was refused, each with the AWS error a client expects: `missing`/`malformed` →
 * IncompleteSignature / MissingAuthenticationToken; `unknown_key` → UnrecognizedClient;
 * `skewed` → InvalidSignatureException "Signature expired" (the SDK corrects its clock from the
 * answer's Date header and signs again); `mismatch` and `replayed` → InvalidSignatureException.
 */
export type SigV4Failure =
  | { kind: 'missing' }
  | { kind: 'malformed' }
  | { kind: 'unknown_key' }
  | { kind: 'skewed'; signedAt: string; now: string }
  | { kind: 'mismatch' }
  | { kind: 'replayed' };

export interface SigV4Verifier {
  verify(request: SignedRequest): Promise<{ ok: true; principal: Principal } | { ok: false; failure: SigV4Failure }>;
}

/** AWS accepts a signature made up to five minutes before or after its own clock. */
export const CLOCK_SKEW_MS = 5 * 60_000;

const AUTH_RE =
  /^AWS4-HMAC-SHA256 Credential=([A-Z0-9]{16,128})\/(\d{8})\/([a-z0-9-]{1,64})\/([a-z0-9-]{1,64})\/aws4_request, ?SignedHeaders=([a-z0-9;._-]{1,2048}), ?Signature=([0-9a-f]{64})$/;
const AMZ_DATE_RE = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;

function single(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v.join(',') : v;
}

/**
 * Signature Version 4 for the AWS dialects. The signature is recomputed with @smithy/signature-v4
 * (the signer the AWS SDK itself uses) over exactly the headers the client says it signed, with
 * the secret access key of its key pair, and compared in constant time: no canonicaliser of ours.
 *
 * Replay: SigV4 lets a captured request be sent again while its signature is inside the skew
 * window. A signature is accepted once per process; a client's own retries are signed again
 * (the SDK's `amz-sdk-request: attempt=N` header is signed), so they never look like replays.
 * Remembered signatures are forgotten when they could no longer pass the skew check anyway.
 */
export function createSigV4Verifier(deps: { pairs: Pick<AwsKeyPairs, 'resolve'>; clock: Clock; service: string }): SigV4Verifier {
  const seen = new Map<string, number>();
  let nextSweep = 0;
  const remember = (signature: string, signedAtMs: number, nowMs: number): boolean => {
    if (nowMs >= nextSweep) {
      for (const [s, until] of seen) if (until <= nowMs) seen.delete(s);
      nextSweep = nowMs + 10_000;
    }
    if (seen.has(signature)) return false;
    seen.set(signature, signedAtMs + CLOCK_SKEW_MS + 1000);
    return true;
  };

  return {
    async verify(request) {
      const authorization = single(request.headers.authorization);
      if (authorization === undefined) return { ok: false, failure: { kind: 'missing' } };
      const m = AUTH_RE.exec(authorization);
      const amzDate = single(request.headers['x-amz-date']);
      const d = amzDate === undefined ? null : AMZ_DATE_RE.exec(amzDate);
      if (!m || !d || amzDate === undefined) return { ok: false, failure: { kind: 'malformed' } };
      const [, accessKeyId, scopeDate, region, service, signedHeaderList, signature] = m as unknown as [string, string, string, string, string, string, string];
      if (service !== deps.service || scopeDate !== amzDate.slice(0, 8)) return { ok: false, failure: { kind: 'malformed' } };
      const signedAtMs = Date.UTC(Number(d[1]), Number(d[2]) - 1, Number(d[3]), Number(d[4]), Number(d[5]), Number(d[6]));
      const nowMs = deps.clock.now().getTime();
      if (Number.isNaN(signedAtMs)) return { ok: false, failure: { kind: 'malformed' } };
      if (Math.abs(nowMs - signedAtMs) > CLOCK_SKEW_MS) {
        return { ok: false, failure: { kind: 'skewed', signedAt: amzDate, now: new Date(nowMs).toISOString() } };
      }
      // Temporary credentials are not issued here: a session token names nothing we know.
      if (request.headers['x-amz-security-token'] !== undefined) return { ok: false, failure: { kind: 'unknown_key' } };
      const signedNames = signedHeaderList.split(';');
      if (!signedNames.includes('host') || !signedNames.includes('x-amz-date')) return { ok: false, failure: { kind: 'malformed' } };
      const headers: Record<string, string> = {};
      for (const name of signedNames) {
        const v = single(request.headers[name]);
        if (v === undefined) return { ok: false, failure: { kind: 'malformed' } };
        headers[name] = v;
      }
      // A signed payload hash must be the body's: the signer would otherwise trust the header.
      const claimed = headers['x-amz-content-sha256'];
      if (claimed !== undefined && claimed !== createHash('sha256').update(request.body).digest('hex')) return { ok: false, failure: { kind: 'mismatch' } };

      const pair = await deps.pairs.resolve(accessKeyId);
      if (!pair) return { ok: false, failure: { kind: 'unknown_key' } };
      const signer = new SignatureV4({
        credentials: { accessKeyId, secretAccessKey: pair.secretAccessKey },
        region,
        service,
        sha256: Hash.bind(null, 'sha256'),
        uriEscapePath: true,
        applyChecksum: false,
      });
      let path: string;
      try {
        path = request.rawPath
          .split('/')
          .map((seg) => decodeURIComponent(seg))
          .join('/');
      } catch {
        return { ok: false, failure: { kind: 'malformed' } };
      }
      const signed = await signer.sign(
        { method: request.method, protocol: 'https:', hostname: headers.host ?? '', path, query: request.query, headers, body: request.body },
        { signingDate: new Date(signedAtMs), signingRegion: region, signingService: service },
      );
      const ours = /SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$/.exec(String(signed.headers.authorization ?? ''));
      // Headers the signer never signs (user-agent, …) listed by the client make the lists differ: refused.
      if (!ours || ours[1] !== signedHeaderList) return { ok: false, failure: { kind: 'mismatch' } };
      if (!timingSafeEqual(Buffer.from(ours[2] as string, 'hex'), Buffer.from(signature, 'hex'))) return { ok: false, failure: { kind: 'mismatch' } };
      if (!remember(signature, signedAtMs, nowMs)) return { ok: false, failure: { kind: 'replayed' } };
      return { ok: true, principal: pair.principal };
    },
  };
}
