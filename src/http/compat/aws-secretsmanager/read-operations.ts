import { randomInt } from 'node:crypto';
import { Type } from 'typebox';
import { LatchkeyError } from '../../../domain/errors.js';
import type { RequestContext } from '../../../domain/principal.js';
import type { CredentialRow, VersionRow } from '../../../domain/records.js';
import { secretAsString, stringMetadata, visibleCredentials } from '../secret-documents.js';
import { invalidParameter, toAwsError, valueNotFound } from './aws-errors.js';
import { operation, type OperationEnv } from './operation-kit.js';
import { arnOf, epochSeconds, secretById, stagesOf, versionIdOf, versionOfId, type AwsStage } from './secret-refs.js';

const SecretId = Type.String({ minLength: 1, maxLength: 2048 });
const Stage = Type.String({ minLength: 1, maxLength: 256 });

export function tagsOf(c: CredentialRow): Array<{ Key: string; Value: string }> {
  return Object.entries(stringMetadata(c)).map(([Key, Value]) => ({ Key, Value }));
}

/** The version a VersionId / VersionStage names (AWSCURRENT when neither is given). */
async function pickVersion(
  env: OperationEnv,
  ctx: RequestContext,
  c: CredentialRow,
  versionId: string | undefined,
  stage: string | undefined,
): Promise<{ version: number; stages: AwsStage[] }> {
  const now = env.clock.now().toISOString();
  const labelled = (v: VersionRow) => ({ version: v.version, stages: stagesOf(v, now) });
  if (versionId === undefined && (stage === undefined || stage === 'AWSCURRENT')) {
    return { version: c.version, stages: ['AWSCURRENT'] };
  }
  const versions = await env.s.credentials.versions(ctx, c.id);
  let v: VersionRow | undefined;
  if (versionId !== undefined) {
    const n = versionOfId(versionId);
    v = versions.find((x) => x.version === n);
    if (!v) throw valueNotFound(`VersionId: ${versionId}`);
  }
  if (stage !== undefined) {
    if (v) {
      if (!stagesOf(v, now).includes(stage as AwsStage)) throw invalidRequestStage(stage);
    } else {
      v = versions.find((x) => stagesOf(x, now).includes(stage as AwsStage));
      if (!v) throw valueNotFound(`staging label: ${stage}`);
    }
  }
  const found = labelled(v as VersionRow);
  // Versions without a label are no longer readable in Latchkey (their grace period ended).
  if (found.stages.length === 0) throw valueNotFound(`VersionId: ${versionId ?? ''}`);
  return found;
}

function invalidRequestStage(stage: string) {
  return invalidParameter(`The version does not carry the staging label ${stage}.`);
}

/** One audited reveal (the native `credentials.reveal`), shaped as GetSecretValue answers it. */
async function secretValue(env: OperationEnv, ctx: RequestContext, c: CredentialRow, versionId?: string, stage?: string): Promise<Record<string, unknown>> {
  const picked = await pickVersion(env, ctx, c, versionId, stage);
  const revealed = await env.s.credentials.reveal(ctx, c.id, {
    variant: 'main',
    allowInactive: false,
    ...(picked.version !== c.version ? { version: picked.version } : {}),
  });
  const version = picked.version === c.version ? null : await env.s.credentials.version(ctx, c.id, picked.version);
  // A binary credential's bytes are SecretBinary (base64 on the wire, bytes in the SDK).
  const value =
    c.type === 'binary' && typeof revealed.secret.value_base64 === 'string'
      ? { SecretBinary: revealed.secret.value_base64 }
      : { SecretString: secretAsString(c, revealed.secret) };
  return {
    ARN: arnOf(c),
    Name: c.name,
    VersionId: versionIdOf(picked.version),
    ...value,
    VersionStages: picked.stages,
    CreatedDate: epochSeconds(version?.createdAt ?? c.updatedAt),
  };
}

export const readOperations = {
  GetSecretValue: operation({
    revealsSecret: true,
    input: Type.Object(
      { SecretId, VersionId: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })), VersionStage: Type.Optional(Stage) },
      { additionalProperties: false },
    ),
    async run(env, ctx, input) {
      const c = await secretById(env.s, ctx, input.SecretId);
      return secretValue(env, ctx, c, input.VersionId, input.VersionStage);
    },
  }),

  BatchGetSecretValue: operation({
    revealsSecret: true,
    input: Type.Object(
      {
        SecretIdList: Type.Optional(Type.Array(SecretId, { minItems: 1, maxItems: 20 })),
        Filters: Type.Optional(
          Type.Array(Type.Object({ Key: Type.String(), Values: Type.Array(Type.String()) }, { additionalProperties: false }), { maxItems: 10 }),
        ),
        MaxResults: Type.Optional(Type.Integer({ minimum: 1, maximum: 20 })),
        NextToken: Type.Optional(Type.String({ maxLength: 4096 })),
      },
      { additionalProperties: false },
    ),
    async run(env, ctx, input) {
      if (input.SecretIdList === undefined)
        throw invalidParameter('Give SecretIdList: BatchGetSecretValue with Filters is not supported here (use ListSecrets, then SecretIdList).');
      const SecretValues: Array<Record<string, unknown>> = [];
      const Errors: Array<{ SecretId: string; ErrorCode: string; Message: string }> = [];
      for (const id of input.SecretIdList) {
        try {
          SecretValues.push(await secretValue(env, ctx, await secretById(env.s, ctx, id)));
        } catch (err) {
          // Per-secret failures are answered in Errors, as AWS does; anything unexpected fails the call.
          if (!(err instanceof LatchkeyError) && !(err as { type?: string }).type) throw err;
          const e = toAwsError(err);
          if (e.status >= 500) throw err;
          Errors.push({ SecretId: id, ErrorCode: e.type, Message: e.message });
        }
      }
      return { SecretValues, Errors };
    },
  }),

  DescribeSecret: operation({
    input: Type.Object({ SecretId }, { additionalProperties: false }),
    async run(env, ctx, input) {
      const c = await secretById(env.s, ctx, input.SecretId);
      const now = env.clock.now().toISOString();
      const VersionIdsToStages: Record<string, AwsStage[]> = {};
      for (const v of await env.s.credentials.versions(ctx, c.id)) {
        const stages = stagesOf(v, now);
        if (stages.length > 0) VersionIdsToStages[versionIdOf(v.version)] = stages;
      }
      return { ...describe(c), VersionIdsToStages };
    },
  }),

  ListSecrets: operation({
    input: Type.Object(
      {
        MaxResults: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
        NextToken: Type.Optional(Type.String({ maxLength: 4096 })),
        Filters: Type.Optional(
          Type.Array(
            Type.Object(
              {
                Key: Type.Union(['name', 'description', 'tag-key', 'tag-value', 'all'].map((k) => Type.Literal(k))),
                Values: Type.Array(Type.String({ minLength: 1, maxLength: 512 }), { minItems: 1, maxItems: 10 }),
              },
              { additionalProperties: false },
            ),
            { maxItems: 10 },
          ),
        ),
        IncludePlannedDeletion: Type.Optional(Type.Boolean()),
        SortOrder: Type.Optional(Type.Literal('desc')),
      },
      { additionalProperties: false },
    ),
    async run(env, ctx, input) {
      const limit = input.MaxResults ?? 100;
      const after = input.NextToken === undefined ? undefined : keysetOf(input.NextToken);
      const matches = filterOf(input.Filters ?? []);
      const SecretList: Array<Record<string, unknown>> = [];
      let last: CredentialRow | undefined;
      let more = false;
      for await (const c of visibleCredentials(env.s, ctx, {}, after)) {
        if (!matches(c)) continue;
        if (SecretList.length === limit) {
          more = true;
          break;
        }
        SecretList.push(describe(c));
        last = c;
      }
      return { SecretList, ...(more && last ? { NextToken: Buffer.from(JSON.stringify([last.createdAt, last.id])).toString('base64url') } : {}) };
    },
  }),

  ListSecretVersionIds: operation({
    input: Type.Object(
      {
        SecretId,
        MaxResults: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
        NextToken: Type.Optional(Type.String({ maxLength: 64 })),
        IncludeDeprecated: Type.Optional(Type.Boolean()),
      },
      { additionalProperties: false },
    ),
    async run(env, ctx, input) {
      const c = await secretById(env.s, ctx, input.SecretId);
      const now = env.clock.now().toISOString();
      const all = (await env.s.credentials.versions(ctx, c.id))
        .map((v) => ({ v, stages: stagesOf(v, now) }))
        .filter((x) => input.IncludeDeprecated === true || x.stages.length > 0);
      const start = input.NextToken === undefined ? 0 : Number.parseInt(input.NextToken, 10);
      if (!Number.isInteger(start) || start < 0) throw invalidParameter('NextToken is not one this server gave.');
      const limit = input.MaxResults ?? 100;
      const page = all.slice(start, start + limit);
      return {
        ARN: arnOf(c),
        Name: c.name,
        Versions: page.map(({ v, stages }) => ({ VersionId: versionIdOf(v.version), VersionStages: stages, CreatedDate: epochSeconds(v.createdAt) })),
        ...(start + limit < all.length ? { NextToken: String(start + limit) } : {}),
      };
    },
  }),

  GetRandomPassword: operation({
    revealsSecret: true,
    input: Type.Object(
      {
        PasswordLength: Type.Optional(Type.Integer({ minimum: 1, maximum: 4096 })),
        ExcludeCharacters: Type.Optional(Type.String({ maxLength: 4096 })),
        ExcludeNumbers: Type.Optional(Type.Boolean()),
        ExcludePunctuation: Type.Optional(Type.Boolean()),
        ExcludeUppercase: Type.Optional(Type.Boolean()),
        ExcludeLowercase: Type.Optional(Type.Boolean()),
        IncludeSpace: Type.Optional(Type.Boolean()),
        RequireEachIncludedType: Type.Optional(Type.Boolean()),
      },
      { additionalProperties: false },
    ),
    async run(_env, _ctx, input) {
      return { RandomPassword: randomPassword(input) };
    },
  }),
};

function describe(c: CredentialRow): Record<string, unknown> {
  return {
    ARN: arnOf(c),
    Name: c.name,
    Description: c.description,
    Tags: tagsOf(c),
    RotationEnabled: false,
    CreatedDate: epochSeconds(c.createdAt),
    LastChangedDate: epochSeconds(c.updatedAt),
    ...(c.lastUsedAt ? { LastAccessedDate: epochSeconds(c.lastUsedAt.slice(0, 10) + 'T00:00:00.000Z') } : {}),
  };
}

function keysetOf(token: string): { createdAt: string; id: string } {
  try {
    const [createdAt, id] = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as [unknown, unknown];
    if (typeof createdAt === 'string' && typeof id === 'string') return { createdAt, id };
  } catch {
    // Refused below.
  }
  throw invalidParameter('NextToken is not one this server gave.');
}

/** AWS's ListSecrets filters: every filter must match; within one, any value (a `!` prefix negates; names and tags match by prefix). */
function filterOf(filters: ReadonlyArray<{ Key: string; Values: string[] }>): (c: CredentialRow) => boolean {
  return (c) =>
    filters.every((f) => {
      const tags = stringMetadata(c);
      const positive = f.Values.filter((v) => !v.startsWith('!'));
      const negative = f.Values.filter((v) => v.startsWith('!')).map((v) => v.slice(1));
      const hit = (v: string): boolean => {
        const lower = v.toLowerCase();
        const fields: Record<string, string[]> = {
          name: [c.name],
          description: [c.description],
          'tag-key': Object.keys(tags),
          'tag-value': Object.values(tags),
          all: [c.name, c.description, ...Object.keys(tags), ...Object.values(tags)],
        };
        return (fields[f.Key] ?? []).some((x) => x.toLowerCase().startsWith(lower));
      };
      return (positive.length === 0 || positive.some(hit)) && !negative.some(hit);
    });
}

const PUNCTUATION = '!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~';

/** GetRandomPassword: from node's CSPRNG, AWS's defaults (32 characters, every class, each class present). */
function randomPassword(o: {
  PasswordLength?: number;
  ExcludeCharacters?: string;
  ExcludeNumbers?: boolean;
  ExcludePunctuation?: boolean;
  ExcludeUppercase?: boolean;
  ExcludeLowercase?: boolean;
  IncludeSpace?: boolean;
  RequireEachIncludedType?: boolean;
}): string {
  const excluded = new Set(o.ExcludeCharacters ?? '');
  const classes = [
    o.ExcludeLowercase ? '' : 'abcdefghijklmnopqrstuvwxyz',
    o.ExcludeUppercase ? '' : 'ABCDEFGHIJKLMNOPQRSTUVWXYZ',
    o.ExcludeNumbers ? '' : '0123456789',
    o.ExcludePunctuation ? '' : PUNCTUATION,
    o.IncludeSpace ? ' ' : '',
  ]
    .map((cls) => [...cls].filter((ch) => !excluded.has(ch)).join(''))
    .filter((cls) => cls.length > 0);
  const length = o.PasswordLength ?? 32;
  if (classes.length === 0) throw invalidParameter('No characters are left to make a password from.');
  const each = o.RequireEachIncludedType ?? true;
  if (each && length < classes.length) throw invalidParameter('PasswordLength is shorter than the number of character types required.');
  const pool = classes.join('');
  const chars = Array.from({ length }, () => pool[randomInt(pool.length)] as string);
  if (each) {
    // One of each class at distinct random places, the rest from the whole pool.
    const places = new Set<number>();
    while (places.size < classes.length) places.add(randomInt(length));
    [...places].forEach((p, i) => {
      const cls = classes[i] as string;
      chars[p] = cls[randomInt(cls.length)] as string;
    });
  }
  return chars.join('');
}
