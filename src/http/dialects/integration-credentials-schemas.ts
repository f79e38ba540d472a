/**
 * Request and answer schemas of the integration-credentials dialect (integration-credentials.ts),
 * in the document's field order: they validate requests, shape answers and make the dialect's
 * OpenAPI document.
 */
import { Type, type Static, type TSchema } from 'typebox';
import { DateTime, Description, Name, PathId } from '../schemas/common.js';

const Token = Type.String({ minLength: 1, maxLength: 65536 });
const Url = Type.String({ format: 'uri', pattern: '^[Hh][Tt][Tt][Pp][Ss]?://', maxLength: 2048 });
const Scopes = Type.Array(Type.String({ minLength: 1, maxLength: 1024, pattern: '^[\\x21\\x23-\\x5B\\x5D-\\x7E]+$' }), { maxItems: 100, uniqueItems: true });
const Metadata = Type.Record(
  Type.String({ maxLength: 200, pattern: '^[^\\u0000-\\u001f\\u007f-\\u009f]+$' }),
  Type.Union([Type.String({ maxLength: 4096 }), Type.Number(), Type.Boolean(), Type.Null()]),
  { maxProperties: 64 },
);
export const Status = Type.Union([Type.Literal('active'), Type.Literal('inactive'), Type.Literal('deactivated')]);
const writable = {
  description: Type.Optional(Description),
  scopes: Type.Optional(Scopes),
  tokenEndpoint: Type.Optional(Url),
  authorizationEndpoint: Type.Optional(Url),
  clientId: Type.Optional(Type.String({ minLength: 1, maxLength: 1024, description: 'OAuth2 client id (Latchkey needs it to refresh tokens)' })),
  clientSecret: Type.Optional(Type.String({ minLength: 1, maxLength: 4096 })),
  accessToken: Type.Optional(Token),
  refreshToken: Type.Optional(Token),
  metadata: Type.Optional(Metadata),
  expiresAt: Type.Optional(Type.Union([DateTime, Type.Null()])),
  status: Type.Optional(Status),
};
export const CreateBody = Type.Object(
  {
    integrationId: PathId,
    credentialName: Name,
    authType: Type.Union([Type.Literal('oauth2_bearer'), Type.Literal('api_key'), Type.Literal('text')]),
    ...writable,
  },
  { additionalProperties: false },
);
export type CreateBody = Static<typeof CreateBody>;
export const PatchBody = Type.Object(
  { integrationId: Type.Optional(PathId), credentialName: Type.Optional(Name), ...writable },
  { additionalProperties: false, minProperties: 1 },
);
export type PatchBody = Static<typeof PatchBody>;
export const RotateBody = Type.Object(
  {
    accessToken: Type.Optional(Token),
    refreshToken: Type.Optional(Token),
    clientSecret: Type.Optional(Type.String({ minLength: 1, maxLength: 4096 })),
    expiresAt: Type.Optional(
      Type.Union([DateTime, Type.Null()], { description: "oauth2: the new access token's expiry (default null: unknown, the old token's expiry is not kept)" }),
    ),
    gracePeriodSeconds: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 30 * 86400, description: 'How long the old tokens stay readable by version (default 3600)' }),
    ),
  },
  { additionalProperties: false },
);
export const GetQuery = Type.Object({ credentialId: Type.Optional(Type.String({ maxLength: 100 })) }, { additionalProperties: false });

const Actor = Type.Object({ id: Type.String(), name: Type.String(), email: Type.Union([Type.String(), Type.Null()]) });
const NullableString = () => Type.Union([Type.String(), Type.Null()]);
/** The fields of `data`, in the document's order; the tokens only where a secret may be shown. */
const dataHead = {
  id: Type.String(),
  integrationId: NullableString(),
  credentialName: Type.String(),
  description: Type.String(),
  authType: Type.String(),
  scopes: Type.Array(Type.String()),
  tokenEndpoint: NullableString(),
  authorizationEndpoint: NullableString(),
};
const dataTail = {
  metadata: Type.Record(Type.String(), Type.Unknown()),
  status: Status,
  expiresAt: NullableString(),
  createdAt: Type.String(),
  createdBy: Actor,
  lastAccessedAt: NullableString(),
  tenant: Type.Object({ id: Type.String(), name: Type.String() }),
};
export const RevealedData = Type.Object({ ...dataHead, accessToken: NullableString(), refreshToken: NullableString(), ...dataTail });
export const Data = Type.Object({ ...dataHead, ...dataTail });
/** A write answers without tokens, unless the server made one (shown once); the serializer tries the token shape first. */
export const WriteData = Type.Union([RevealedData, Data]);
export const Success = <T extends TSchema>(data: T) => Type.Object({ success: Type.Literal(true), message: Type.String(), data, timestamp: Type.String() });
export const Failure = Type.Object({
  success: Type.Literal(false),
  error: Type.Object({
    code: Type.String(),
    message: Type.String(),
    details: Type.Union([Type.String(), Type.Array(Type.Object({ path: Type.String(), message: Type.String() }))]),
  }),
  timestamp: Type.String(),
});
export const failures = { 400: Failure, 401: Failure, 403: Failure, 404: Failure, 409: Failure, 422: Failure, 500: Failure };
