import { LatchkeyError } from '../../../domain/errors.js';
import type { RequestContext } from '../../../domain/principal.js';
import type { Services } from '../../../services/services.js';
import type { CredentialRow, VersionRow } from '../../../domain/records.js';
import { credentialByName } from '../secret-documents.js';
import { invalidParameter, secretNotFound } from './aws-errors.js';

/**
 * ARNs name the tenant and the credential id, which never change (a rename keeps the ARN):
 * `arn:latchkey:secretsmanager::<tenant id>:secret:<credential id>`. The partition is
 * `latchkey`, not `aws`: the resource is not in AWS.
 */
export function arnOf(c: Pick<CredentialRow, 'tenantId' | 'id'>): string {
  return `arn:latchkey:secretsmanager::${c.tenantId}:secret:${c.id}`;
}

const ARN_RE = /^arn:latchkey:secretsmanager::([A-Za-z0-9_]{1,50}):secret:([@~\-.\w]{1,50})$/;
const CREDENTIAL_ID_RE = /^crd_[0-9A-HJKMNP-TV-Z]{26}$/;

/**
 * The credential a `SecretId` names: an ARN of ours, a credential id, or a name. Another
 * tenant's ARN is the same ResourceNotFoundException as a missing secret.
 */
export async function secretById(s: Services, ctx: RequestContext, secretId: string): Promise<CredentialRow> {
  const arn = ARN_RE.exec(secretId);
  try {
    if (arn) {
      if (arn[1] !== ctx.principal.tenantId) throw secretNotFound();
      return await s.credentials.get(ctx, arn[2] as string);
    }
    if (CREDENTIAL_ID_RE.test(secretId)) return await s.credentials.get(ctx, secretId);
  } catch (err) {
    if (err instanceof LatchkeyError && err.code === 'CREDENTIAL_NOT_FOUND') throw secretNotFound();
    throw err;
  }
  // Native names may hold more than AWS's characters (spaces, accents): any name is looked up.
  if (secretId.length > 200 || /[\p{Cc}]/u.test(secretId))
    throw invalidParameter('SecretId must be an ARN, a credential id or a secret name (at most 200 characters).');
  const c = await credentialByName(s, ctx, secretId);
  if (!c) throw secretNotFound();
  return c;
}

/** The credential id behind an ARN or id, for a deleted secret (RestoreSecret): names do not find deleted credentials. */
export function credentialIdOf(ctx: RequestContext, secretId: string): string | null {
  const arn = ARN_RE.exec(secretId);
  if (arn) return arn[1] === ctx.principal.tenantId ? (arn[2] as string) : null;
  return CREDENTIAL_ID_RE.test(secretId) ? secretId : null;
}

/**
 * Version ids: AWS's are the writer's ClientRequestToken (a UUID). Latchkey numbers versions, so
 * a version's id is its number in a UUID's shape, `00000000-0000-0000-0000-<12 digits>`.
 */
export function versionIdOf(version: number): string {
  return `00000000-0000-0000-0000-${String(version).padStart(12, '0')}`;
}

const VERSION_ID_RE = /^00000000-0000-0000-0000-(\d{12})$/;

export function versionOfId(versionId: string): number | null {
  const m = VERSION_ID_RE.exec(versionId);
  return m ? Number(m[1]) : null;
}

export type AwsStage = 'AWSCURRENT' | 'AWSPREVIOUS' | 'AWSPENDING';
const STAGE_OF = { current: 'AWSCURRENT', previous: 'AWSPREVIOUS', pending: 'AWSPENDING' } as const;

/**
 * AWS's labels of a version. `previous` is AWSPREVIOUS while it is readable (its grace period);
 * afterwards, like `deprecated`, it has no label (AWS keeps such versions without labels too).
 */
export function stagesOf(v: VersionRow, now: string): AwsStage[] {
  if (v.stage === 'previous') return v.expiresAt !== null && v.expiresAt > now ? ['AWSPREVIOUS'] : [];
  return v.stage === 'deprecated' ? [] : [STAGE_OF[v.stage]];
}

/** Dates in the JSON 1.1 protocol are epoch seconds. */
export function epochSeconds(iso: string | null): number | undefined {
  return iso === null ? undefined : Date.parse(iso) / 1000;
}
