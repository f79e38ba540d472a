import { Type } from 'typebox';
import type { RequestContext } from '../../../domain/principal.js';
import { requestFingerprint } from '../../../services/idempotency/idempotency-service.js';
import type { CredentialRow } from '../../../domain/records.js';
import { SECRET_NAME_RE, secretFromString, stringMetadata } from '../secret-documents.js';
import { AwsError, invalidParameter, invalidRequest, secretNotFound } from './aws-errors.js';
import { operation, type OperationEnv } from './operation-kit.js';
import { arnOf, credentialIdOf, secretById, versionIdOf, versionOfId } from './secret-refs.js';

const SecretId = Type.String({ minLength: 1, maxLength: 2048 });
const Token = Type.String({ minLength: 32, maxLength: 64 });
const Tags = Type.Array(
  Type.Object({ Key: Type.String({ minLength: 1, maxLength: 128 }), Value: Type.String({ maxLength: 256 }) }, { additionalProperties: false }),
  { maxItems: 50 },
);
const SecretString = Type.String({ minLength: 1, maxLength: 65536 });
/** Blobs travel as standard base64 in the JSON 1.1 protocol; stored as a `binary` credential's `value_base64`. */
const Binary = Type.String({ minLength: 4, maxLength: 87384 });
const Description = Type.String({ maxLength: 2048 });

/**
 * AWSPREVIOUS is Latchkey's `previous` stage, readable for a grace period; a new value keeps the
 * old one readable for the longest grace the native API allows (30 days), or until the next one.
 */
const PREVIOUS_GRACE_SECONDS = 30 * 86_400;

/** Exactly one of SecretString and SecretBinary, as AWS requires; a `binary` credential takes only SecretBinary. */
function secretFor(type: string, input: { SecretString?: string | undefined; SecretBinary?: string | undefined }): Record<string, unknown> {
  if ((input.SecretString === undefined) === (input.SecretBinary === undefined)) throw invalidParameter('Give exactly one of SecretString and SecretBinary.');
  if (input.SecretBinary !== undefined) {
    if (type !== 'binary') throw invalidParameter(`SecretBinary needs a binary secret; this one is a ${type} credential (use SecretString).`);
    return { value_base64: input.SecretBinary };
  }
  if (type === 'binary') throw invalidParameter('This secret holds bytes: use SecretBinary.');
  const secret = secretFromString(type, input.SecretString as string);
  if (secret === null) throw invalidParameter(`SecretString of a ${type} credential must be a JSON object of its secret fields.`);
  return secret;
}

/**
 * The SDK's ClientRequestToken as the native idempotency key: the same token and request get the
 * first answer again (for 24 hours), the same token with another request is refused.
 */
async function idempotent(
  env: OperationEnv,
  ctx: RequestContext,
  scope: string,
  token: string | undefined,
  input: unknown,
  run: () => Promise<Record<string, unknown>>,
): Promise<Record<string, unknown>> {
  if (token === undefined) return run();
  const key = `aws-secretsmanager:${scope}:${token}`;
  const outcome = await env.s.idempotency.begin(ctx, key, requestFingerprint('POST', scope, input));
  if (outcome.kind === 'replay') return JSON.parse(outcome.body) as Record<string, unknown>;
  try {
    const result = await run();
    await env.s.idempotency.finish(ctx, key, 200, JSON.stringify(result));
    return result;
  } catch (err) {
    await env.s.idempotency.abort(ctx, key).catch(() => undefined);
    throw err;
  }
}

function tagsAsMetadata(tags: ReadonlyArray<{ Key: string; Value: string }>): Record<string, string> {
  return Object.fromEntries(tags.map((t) => [t.Key, t.Value]));
}

async function putValue(
  env: OperationEnv,
  ctx: RequestContext,
  c: CredentialRow,
  input: { SecretString?: string | undefined; SecretBinary?: string | undefined },
): Promise<CredentialRow> {
  const { credential } = await env.s.credentials.rotate(ctx, c.id, { secret: secretFor(c.type, input), gracePeriodSeconds: PREVIOUS_GRACE_SECONDS });
  return credential;
}

export const writeOperations = {
  CreateSecret: operation({
    input: Type.Object(
      {
        Name: Type.String({ minLength: 1, maxLength: 512 }),
        ClientRequestToken: Type.Optional(Token),
        Description: Type.Optional(Description),
        SecretString: Type.Optional(SecretString),
        SecretBinary: Type.Optional(Binary),
        Tags: Type.Optional(Tags),
        ForceOverwriteReplicaSecret: Type.Optional(Type.Boolean()),
      },
      { additionalProperties: false },
    ),
    async run(env, ctx, input) {
      if (!SECRET_NAME_RE.test(input.Name)) throw invalidParameter('Name must be 1-200 characters of A-Z a-z 0-9 / _ + = . @ -.');
      return idempotent(env, ctx, 'CreateSecret', input.ClientRequestToken, input, async () => {
        // Without a value AWS makes a secret with no version; every Latchkey credential has one.
        const type = input.SecretBinary !== undefined ? 'binary' : 'text';
        const secret = secretFor(type, input);
        try {
          const { credential } = await env.s.credentials.create(ctx, {
            name: input.Name,
            type,
            description: input.Description ?? '',
            secret,
            metadata: tagsAsMetadata(input.Tags ?? []),
          });
          return { ARN: arnOf(credential), Name: credential.name, VersionId: versionIdOf(credential.version) };
        } catch (err) {
          if ((err as { code?: string }).code === 'CONFLICT')
            throw new AwsError('ResourceExistsException', `The operation failed because the secret ${input.Name} already exists.`);
          throw err;
        }
      });
    },
  }),

  PutSecretValue: operation({
    input: Type.Object(
      {
        SecretId,
        ClientRequestToken: Type.Optional(Token),
        SecretString: Type.Optional(SecretString),
        SecretBinary: Type.Optional(Binary),
        VersionStages: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 256 }), { minItems: 1, maxItems: 20 })),
      },
      { additionalProperties: false },
    ),
    async run(env, ctx, input) {
      const stages = input.VersionStages ?? ['AWSCURRENT'];
      const pending = stages.length === 1 && stages[0] === 'AWSPENDING';
      if (!pending && !(stages.length === 1 && stages[0] === 'AWSCURRENT')) {
        throw invalidRequest('VersionStages must be ["AWSCURRENT"] or ["AWSPENDING"]: Latchkey has no custom labels (docs/compat.md).');
      }
      const c = await secretById(env.s, ctx, input.SecretId);
      return idempotent(env, ctx, `PutSecretValue:${c.id}`, input.ClientRequestToken, input, async () => {
        if (pending) {
          // The native staged rotation: a pending version beside the current one (services/credentials/pending-versions.ts).
          const staged = await env.s.pendingVersions.putPending(ctx, c.id, secretFor(c.type, input));
          return { ARN: arnOf(c), Name: c.name, VersionId: versionIdOf(staged.version), VersionStages: ['AWSPENDING'] };
        }
        const next = await putValue(env, ctx, c, input);
        return { ARN: arnOf(next), Name: next.name, VersionId: versionIdOf(next.version), VersionStages: ['AWSCURRENT'] };
      });
    },
  }),

  UpdateSecret: operation({
    input: Type.Object(
      {
        SecretId,
        ClientRequestToken: Type.Optional(Token),
        Description: Type.Optional(Description),
        SecretString: Type.Optional(SecretString),
        SecretBinary: Type.Optional(Binary),
      },
      { additionalProperties: false },
    ),
    async run(env, ctx, input) {
      let c = await secretById(env.s, ctx, input.SecretId);
      return idempotent(env, ctx, `UpdateSecret:${c.id}`, input.ClientRequestToken, input, async () => {
        if (input.Description !== undefined) c = await env.s.credentials.update(ctx, c.id, { description: input.Description });
        if (input.SecretString === undefined && input.SecretBinary === undefined) return { ARN: arnOf(c), Name: c.name };
        c = await putValue(env, ctx, c, input);
        return { ARN: arnOf(c), Name: c.name, VersionId: versionIdOf(c.version) };
      });
    },
  }),

  UpdateSecretVersionStage: operation({
    input: Type.Object(
      {
        SecretId,
        VersionStage: Type.String({ minLength: 1, maxLength: 256 }),
        MoveToVersionId: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
        RemoveFromVersionId: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
      },
      { additionalProperties: false },
    ),
    async run(env, ctx, input) {
      const c = await secretById(env.s, ctx, input.SecretId);
      if (input.VersionStage !== 'AWSCURRENT' || input.MoveToVersionId === undefined) {
        throw invalidRequest('Only moving AWSCURRENT to a version (MoveToVersionId) is supported: Latchkey moves the other labels itself.');
      }
      const n = versionOfId(input.MoveToVersionId);
      if (n === null) throw secretNotFound();
      if (input.RemoveFromVersionId !== undefined && versionOfId(input.RemoveFromVersionId) !== c.version) {
        throw invalidParameter(`The parameter RemoveFromVersionId doesn't match the version that currently has the label AWSCURRENT.`);
      }
      const versions = await env.s.credentials.versions(ctx, c.id);
      // A pending version is promoted as it is (the rotation's last step); an older one comes back
      // through the native restore, as a new version holding its value.
      const next =
        versions.find((v) => v.version === n)?.stage === 'pending'
          ? await env.s.pendingVersions.promote(ctx, c.id, n, PREVIOUS_GRACE_SECONDS)
          : await env.s.credentials.restoreVersion(ctx, c.id, n);
      return { ARN: arnOf(next), Name: next.name, VersionId: versionIdOf(next.version) };
    },
  }),

  DeleteSecret: operation({
    input: Type.Object(
      {
        SecretId,
        RecoveryWindowInDays: Type.Optional(Type.Integer({ minimum: 7, maximum: 30 })),
        ForceDeleteWithoutRecovery: Type.Optional(Type.Boolean()),
      },
      { additionalProperties: false },
    ),
    async run(env, ctx, input) {
      if (input.ForceDeleteWithoutRecovery === true && input.RecoveryWindowInDays !== undefined) {
        throw invalidParameter("You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.");
      }
      const c = await secretById(env.s, ctx, input.SecretId);
      const purge = input.ForceDeleteWithoutRecovery === true;
      await env.s.credentials.remove(ctx, c.id, { purge });
      const now = env.clock.now().getTime();
      // The purge of a soft-deleted credential follows the server's retention, not the window asked for.
      const deletion = purge ? now : now + env.deletedRetentionDays * 86_400_000;
      return { ARN: arnOf(c), Name: c.name, DeletionDate: deletion / 1000 };
    },
  }),

  RestoreSecret: operation({
    input: Type.Object({ SecretId }, { additionalProperties: false }),
    async run(env, ctx, input) {
      const id = credentialIdOf(ctx, input.SecretId);
      if (id === null) throw invalidParameter("RestoreSecret needs the secret's ARN (or credential id): a deleted secret is not found by name.");
      try {
        const c = await env.s.credentials.restore(ctx, id);
        return { ARN: arnOf(c), Name: c.name };
      } catch (err) {
        if ((err as { code?: string }).code === 'CREDENTIAL_NOT_FOUND') throw secretNotFound();
        throw err;
      }
    },
  }),

  TagResource: operation({
    input: Type.Object({ SecretId, Tags }, { additionalProperties: false }),
    async run(env, ctx, input) {
      const c = await secretById(env.s, ctx, input.SecretId);
      await env.s.credentials.update(ctx, c.id, { metadata: { ...c.metadata, ...tagsAsMetadata(input.Tags) } });
      return {};
    },
  }),

  UntagResource: operation({
    input: Type.Object({ SecretId, TagKeys: Type.Array(Type.String({ minLength: 1, maxLength: 128 }), { maxItems: 50 }) }, { additionalProperties: false }),
    async run(env, ctx, input) {
      const c = await secretById(env.s, ctx, input.SecretId);
      const metadata = { ...c.metadata };
      for (const k of input.TagKeys) if (k in stringMetadata(c)) delete metadata[k];
      await env.s.credentials.update(ctx, c.id, { metadata });
      return {};
    },
  }),
};
