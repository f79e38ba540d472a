// SigV4 for the load generator: autocannon's setupRequest is synchronous, and the AWS SDK's signer
// is not, so the bench signs with node's crypto (AWS's documented steps for a POST to a path
// without a query). It is the client side only: the server checks every signature with
// @smithy/signature-v4, so a mistake here shows up as 400s counted "unexpected" in the row.
import { createHash, createHmac } from 'node:crypto';

const sha256Hex = (data: string): string => createHash('sha256').update(data).digest('hex');
const hmac = (key: string | Buffer, data: string): Buffer => createHmac('sha256', key).update(data).digest();

export interface SigningKey {
  accessKeyId: string;
  secretAccessKey: string;
  region: string;
  service: string;
}

/** The derived key of one day, kept as the AWS SDK keeps it (the load worker then spends its core on requests, not HMACs). */
const derivedKeys = new Map<string, Buffer>();
function signingKey(k: SigningKey, day: string): Buffer {
  const id = `${k.accessKeyId}/${day}/${k.region}/${k.service}`;
  let key = derivedKeys.get(id);
  if (key === undefined) {
    key = hmac(`AWS4${k.secretAccessKey}`, day);
    for (const part of [k.region, k.service, 'aws4_request']) key = hmac(key, part);
    derivedKeys.set(id, key);
  }
  return key;
}

/** Headers (lower-case) for one signed POST of `body` to `path` at `host`, `amz-sdk-invocation-id` unique per call. */
export function signedHeaders(
  k: SigningKey,
  host: string,
  path: string,
  body: string,
  extra: Record<string, string>,
  now = new Date(),
): Record<string, string> {
  const amzDate = now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
  const day = amzDate.slice(0, 8);
  const headers: Record<string, string> = { ...extra, host, 'x-amz-date': amzDate };
  const names = Object.keys(headers)
    .map((h) => h.toLowerCase())
    .sort();
  const lower = Object.fromEntries(Object.entries(headers).map(([h, v]) => [h.toLowerCase(), v.trim().replace(/\s+/g, ' ')]));
  const canonical = [
    'POST',
    path.split('/').map(encodeURIComponent).join('/'),
    '',
    ...names.map((n) => `${n}:${lower[n]}`),
    '',
    names.join(';'),
    sha256Hex(body),
  ].join('\n');
  const scope = `${day}/${k.region}/${k.service}/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256Hex(canonical)].join('\n');
  const key = signingKey(k, day);
  const signature = createHmac('sha256', key).update(toSign).digest('hex');
  return { ...headers, authorization: `AWS4-HMAC-SHA256 Credential=${k.accessKeyId}/${scope}, SignedHeaders=${names.join(';')}, Signature=${signature}` };
}
