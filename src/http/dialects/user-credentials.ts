/**
 * Dialect of source document 001 ("Get" a user credential):
 * `GET /api/v1/user_credentials/{credential_id}` answered with the document's snake_case fields:
 * `mode` instead of a type, team/folder scoping, `read_access`, `shared_team_slugs`, the AWS
 * fields, `allowed_hosts`, `metadata`, `test_credential_enabled`. Metadata only, through
 * `services.credentials.get`; the document shows no error bodies, so errors use the native
 * envelope. Every native type has a mode (TEXT is the catch-all), so every credential the caller
 * can see natively is visible here too.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { Services } from '../../services/services.js';
import type { CredentialRow } from '../../domain/records.js';
import { ErrorEnvelope, PathId } from '../schemas/common.js';

const tags = ['dialect: user-credentials'];

export const MODES = ['TEXT', 'JWT', 'OAUTH', 'AWS', 'MTLS', 'HTTP_REQUEST_AGENT', 'MULTI_REQUEST'] as const;
export type Mode = (typeof MODES)[number];

/** Native type → mode. Types without a mode of their own are opaque secrets: TEXT. */
export function modeOf(c: Pick<CredentialRow, 'type' | 'config'>): Mode {
  switch (c.type) {
    case 'jwt':
      return 'JWT';
    case 'oauth2':
      return 'OAUTH';
    case 'aws':
    case 'aws-ses':
      return 'AWS';
    case 'mtls':
      return 'MTLS';
    case 'http_request': {
      // One request to a token endpoint is the document's HTTP_REQUEST_AGENT; a chain is MULTI_REQUEST.
      const requests = c.config['requests'];
      return Array.isArray(requests) && requests.length > 1 ? 'MULTI_REQUEST' : 'HTTP_REQUEST_AGENT';
    }
    default:
      return 'TEXT';
  }
}

const Nullable = (t: ReturnType<typeof Type.String>) => Type.Union([t, Type.Null()]);

// Ids are strings (`crd_…`, `team_…`, `fld_…`) where document 001's sample shows integers:
// Latchkey ids are not numbers, and a number would not round-trip them.
const UserCredentialView = Type.Object({
  id: Type.String({ description: 'Credential ID: a string (e.g. crd_01J…), not the integer of the sample; pass it back as it is' }),
  name: Type.String(),
  mode: Type.Union([
    Type.Literal('TEXT'),
    Type.Literal('JWT'),
    Type.Literal('OAUTH'),
    Type.Literal('AWS'),
    Type.Literal('MTLS'),
    Type.Literal('HTTP_REQUEST_AGENT'),
    Type.Literal('MULTI_REQUEST'),
  ]),
  team_id: Type.Union([Type.String(), Type.Null()], { description: 'Team ID: a string (team_…) or null, not the integer of the sample' }),
  folder_id: Type.Union([Type.String(), Type.Null()], { description: 'Folder ID: a string (fld_…) or null, not the integer of the sample' }),
  read_access: Type.Union([Type.Literal('TEAM'), Type.Literal('GLOBAL'), Type.Literal('SPECIFIC_TEAMS')]),
  shared_team_slugs: Type.Array(Type.String()),
  slug: Type.String(),
  created_at: Type.String(),
  updated_at: Type.String(),
  description: Type.String(),
  aws_assumed_role_external_id: Nullable(Type.String()),
  aws_authentication_type: Type.Union([Type.Literal('KEY'), Type.Literal('ROLE'), Type.Literal('INSTANCE_PROFILE'), Type.Null()]),
  allowed_hosts: Type.Array(Type.String()),
  metadata: Type.Record(Type.String(), Type.Unknown()),
  test_credential_enabled: Type.Boolean({
    description:
      'Whether a test credential is set. The test credential itself (test_credential) is a secret and is never in this metadata response, as in the sample; it is revealed by the audited native GET /v1/credentials/{id}/secret?variant=test',
  }),
});

type AwsAuthentication = 'KEY' | 'ROLE' | 'INSTANCE_PROFILE';

export function userCredentialView(c: CredentialRow) {
  const mode = modeOf(c);
  // aws-ses holds an access key pair: KEY. aws says which in its config (default KEY).
  const awsAuth: AwsAuthentication | null =
    c.type === 'aws' ? ((c.config['authentication_type'] as AwsAuthentication | undefined) ?? 'KEY') : c.type === 'aws-ses' ? 'KEY' : null;
  const externalId = c.type === 'aws' && awsAuth === 'ROLE' ? ((c.config['external_id'] as string | undefined) ?? null) : null;
  return {
    id: c.id,
    name: c.name,
    mode,
    team_id: c.teamId,
    folder_id: c.folderId,
    read_access: c.readAccess,
    shared_team_slugs: c.sharedTeamSlugs,
    slug: c.slug,
    created_at: c.createdAt,
    updated_at: c.updatedAt,
    description: c.description,
    aws_assumed_role_external_id: externalId,
    aws_authentication_type: awsAuth,
    allowed_hosts: c.allowedHosts,
    metadata: c.metadata,
    test_credential_enabled: c.testCredentialEnabled,
  };
}

export function userCredentialsDialect(s: Services): FastifyPluginAsync {
  return async (fastify) => {
    const app = fastify.withTypeProvider<TypeBoxTypeProvider>();

    app.get(
      '/api/v1/user_credentials/:credential_id',
      {
        schema: {
          tags,
          summary: 'Get a credential (document 001)',
          params: Type.Object({ credential_id: PathId }, { additionalProperties: false }),
          response: { 200: UserCredentialView, 400: ErrorEnvelope, 401: ErrorEnvelope, 403: ErrorEnvelope, 404: ErrorEnvelope },
        },
      },
      async (request) => userCredentialView(await s.credentials.get(request.ctx, request.params.credential_id)),
    );
  };
}
