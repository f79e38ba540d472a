import { Type, type Static } from 'typebox';
import { DateTime, Description, FreeObject, Hostname, Name, NullableDateTime, PathId, Slug } from './common.js';

const Status = Type.Union([Type.Literal('active'), Type.Literal('inactive'), Type.Literal('deactivated')]);
const ReadAccess = Type.Union([Type.Literal('TEAM'), Type.Literal('GLOBAL'), Type.Literal('SPECIFIC_TEAMS')]);
const ShortText = Type.String({ minLength: 1, maxLength: 200, pattern: '^[^\\u0000-\\u001f\\u007f-\\u009f]+$' });
const Metadata = Type.Record(
  Type.String({ maxLength: 200, pattern: '^[^\\u0000-\\u001f\\u007f-\\u009f]+$' }),
  Type.Union([Type.String({ maxLength: 4096 }), Type.Number(), Type.Boolean(), Type.Null()]),
  { maxProperties: 64 },
);

const ProxyRules = Type.Object(
  {
    methods: Type.Optional(
      Type.Array(Type.String({ pattern: '^[A-Z]{1,20}$' }), {
        maxItems: 20,
        uniqueItems: true,
        description: 'Methods the proxy may send with this credential (upper case); absent or empty: any',
      }),
    ),
    path_prefixes: Type.Optional(
      Type.Array(Type.String({ pattern: '^/[\\x21-\\x7e]{0,1023}$' }), {
        maxItems: 50,
        uniqueItems: true,
        description:
          "Paths the proxy may send to, by prefix matched at a segment boundary (/v1/mail allows /v1/mail/send, not /v1/mailbox), after the target's base path is joined; absent or empty: any",
      }),
    ),
  },
  { additionalProperties: false, description: 'What the proxy may send with the credential, besides allowed_hosts (docs/use.md)' },
);

const writable = {
  provider: Type.Optional(Type.Union([ShortText, Type.Null()])),
  integration_id: Type.Optional(Type.Union([PathId, Type.Null()])),
  description: Type.Optional(Description),
  metadata: Type.Optional(Metadata),
  allowed_hosts: Type.Optional(Type.Array(Hostname, { maxItems: 100, uniqueItems: true })),
  proxy_rules: Type.Optional(ProxyRules),
  team_id: Type.Optional(Type.Union([PathId, Type.Null()])),
  folder_id: Type.Optional(Type.Union([PathId, Type.Null()])),
  read_access: Type.Optional(ReadAccess),
  shared_team_slugs: Type.Optional(Type.Array(Slug, { maxItems: 100, uniqueItems: true })),
  test_credential_enabled: Type.Optional(Type.Boolean()),
  expires_at: Type.Optional(NullableDateTime),
  status: Type.Optional(Status),
  deactivation_time: Type.Optional(NullableDateTime),
  rotation_interval_days: Type.Optional(
    Type.Union([Type.Integer({ minimum: 1, maximum: 3650 }), Type.Null()], {
      description: 'Rotate every N days: the scheduler rotates types that can make their own secret and marks the others rotation_due',
    }),
  ),
};

export const CredentialCreateBody = Type.Object(
  {
    name: Name,
    type: Type.String({ minLength: 1, maxLength: 64, pattern: '^[a-z0-9][a-z0-9_-]*$' }),
    config: Type.Optional(FreeObject),
    secret: Type.Optional(FreeObject),
    test_secret: Type.Optional(Type.Union([FreeObject, Type.Null()])),
    ...writable,
  },
  { additionalProperties: false },
);
export type CredentialCreateBody = Static<typeof CredentialCreateBody>;

export const CredentialPatchBody = Type.Object(
  {
    name: Type.Optional(Name),
    config: Type.Optional(FreeObject),
    secret: Type.Optional(FreeObject),
    test_secret: Type.Optional(Type.Union([FreeObject, Type.Null()])),
    ...writable,
  },
  { additionalProperties: false, minProperties: 1 },
);
export type CredentialPatchBody = Static<typeof CredentialPatchBody>;

const ActorView = Type.Object({ id: Type.String(), name: Type.String(), email: Type.Union([Type.String(), Type.Null()]) });
const Links = Type.Array(Type.Object({ rel: Type.String(), href: Type.String() }));

export const CredentialView = Type.Object({
  id: Type.String(),
  name: Type.String(),
  slug: Type.String(),
  type: Type.String(),
  provider: Type.Union([Type.String(), Type.Null()]),
  integration_id: Type.Union([Type.String(), Type.Null()]),
  description: Type.String(),
  status: Status,
  deactivation_time: Type.Union([Type.String(), Type.Null()]),
  config: FreeObject,
  secret_fields: Type.Array(Type.String()),
  metadata: FreeObject,
  allowed_hosts: Type.Array(Type.String()),
  proxy_rules: ProxyRules,
  team_id: Type.Union([Type.String(), Type.Null()]),
  folder_id: Type.Union([Type.String(), Type.Null()]),
  read_access: ReadAccess,
  shared_team_slugs: Type.Array(Type.String()),
  test_credential_enabled: Type.Boolean(),
  version: Type.Integer(),
  expires_at: Type.Union([Type.String(), Type.Null()]),
  last_used_at: Type.Union([Type.String(), Type.Null()]),
  last_error: Type.Union([Type.String(), Type.Null()]),
  rotation_interval_days: Type.Union([Type.Integer(), Type.Null()]),
  next_rotation_at: Type.Union([Type.String(), Type.Null()]),
  rotation_due: Type.Boolean(),
  created_at: Type.String(),
  updated_at: Type.String(),
  created_by: ActorView,
  modified_by: ActorView,
  _links: Links,
});

export const CredentialWithSecret = Type.Intersect([CredentialView, Type.Object({ secret: FreeObject, test_secret: Type.Optional(FreeObject) })]);

export const CredentialCreated = Type.Intersect([
  CredentialView,
  Type.Object({ generated_secret: Type.Optional(FreeObject) }, { description: 'Present only when the server generated the secret; shown once.' }),
]);

export const CredentialListQuery = Type.Object(
  {
    page: Type.Optional(Type.Integer({ minimum: 1, maximum: 100000 })),
    per_page: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
    cursor: Type.Optional(Type.String({ maxLength: 512, pattern: '^[A-Za-z0-9_-]+$' })),
    'filter[name]': Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    'filter[type]': Type.Optional(Type.String({ maxLength: 64 })),
    'filter[status]': Type.Optional(Status),
    'filter[provider]': Type.Optional(Type.String({ maxLength: 200 })),
    'filter[integration_id]': Type.Optional(PathId),
    'filter[team_id]': Type.Optional(PathId),
    'filter[folder_id]': Type.Optional(PathId),
    'filter[expires_before]': Type.Optional(DateTime),
    'filter[rotation_due]': Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type CredentialListQuery = Static<typeof CredentialListQuery>;

export const DeleteQuery = Type.Object({ purge: Type.Optional(Type.Boolean()) }, { additionalProperties: false });
export const RevealQuery = Type.Object(
  {
    variant: Type.Optional(
      Type.Union([Type.Literal('main'), Type.Literal('test')], {
        description: 'test: the test secret only, in `secret` and again in `test_secret` (never the live secret); audited as credential.reveal_test',
      }),
    ),
    allow_inactive: Type.Optional(Type.Boolean()),
    version: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 2147483647,
        description: 'An older version, readable while it is current, pending, or previous within its grace period',
      }),
    ),
  },
  { additionalProperties: false },
);

export const VersionParams = Type.Object({ id: PathId, n: Type.Integer({ minimum: 1, maximum: 2147483647 }) }, { additionalProperties: false });

export const VersionView = Type.Object({
  version: Type.Integer(),
  stage: Type.Union([Type.Literal('current'), Type.Literal('previous'), Type.Literal('pending'), Type.Literal('deprecated')]),
  expires_at: Type.Union([Type.String(), Type.Null()], { description: 'For previous: when its grace period ends' }),
  has_test_secret: Type.Boolean(),
  created_at: Type.String(),
  created_by: ActorView,
});

export const RotateBody = Type.Object(
  {
    secret: Type.Optional(FreeObject),
    grace_period_seconds: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 30 * 86400, default: 3600, description: 'How long the old version stays readable by number (default 3600)' }),
    ),
  },
  { additionalProperties: false },
);
