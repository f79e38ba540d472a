/**
 * Wire types of the Latchkey HTTP API, derived from the server's OpenAPI document.
 *
 * `./generated/openapi.ts` is generated from `GET /openapi.json` by `npm run generate:sdk-types`
 * (never edit it by hand); every type below is an alias into its `paths`, so a schema change on the
 * server becomes a change here, and a breaking one a type error in the SDK or in code that uses it.
 * `npm run generate:sdk-types -- --check` and test/http/sdk-types.test.ts fail when the committed
 * document and types drift from what the server serves. Field names are the wire's snake_case.
 */
import type { paths } from './generated/openapi.js';

export type { paths, components, operations } from './generated/openapi.js';

// ---------------------------------------------------------------------------------------------
// Reaching into the document. Each helper's constraint makes a missing path, method, status or
// JSON body a compile error at the alias that uses it, instead of a silent `never`.

/** The `application/json` body of a response or a request body object. */
type Json<T extends { content: { 'application/json': unknown } }> = T['content']['application/json'];

/** The `application/json` request body of an operation (present whether or not the body is required). */
type JsonBody<O extends { requestBody?: { content: { 'application/json': unknown } } }> = Json<Exclude<O['requestBody'], undefined>>;

/** The query parameters of an operation. */
type Query<O extends { parameters: { query?: object } }> = Exclude<O['parameters']['query'], undefined>;

/** `filter[name]`, `filter[type]`, … of a query, as `{ name, type, … }` (optionality kept). */
type FilterOf<Q> = { [K in keyof Q as K extends `filter[${infer F}]` ? F : never]: Q[K] };

/** Date-time filters accept a `Date` as well; the SDK sends it as RFC 3339. `K` must exist in `T`. */
type AllowDates<T, K extends keyof T> = Omit<T, K> & { [P in K]?: T[P] | Date };

// ---------------------------------------------------------------------------------------------
// Shared shapes

/** RFC 3339 in UTC with milliseconds, e.g. `2026-01-31T08:16:03.123Z`. */
export type Timestamp = string;

export type JsonObject = Record<string, unknown>;

/** The one error envelope every status >= 400 answers with. */
export type ErrorEnvelope = Json<paths['/v1/credentials/{id}']['get']['responses']['4XX']>;

/** One issue of a `422 VALIDATION_FAILED`: `{ path: "config.port", message: "must be <= 65535" }`. */
export type FieldIssue = Extract<NonNullable<ErrorEnvelope['error']['details']>, readonly unknown[]>[number];

/** Page-numbered list answer (`page`/`per_page`, or `cursor` for deep paging), shaped as `GET /v1/credentials` answers. */
export type ListPage<T> = Omit<CredentialPage, 'data'> & { data: T[] };

/** Cursor-only list answer, shaped as `GET /v1/audit-events` answers. */
export type CursorPage<T> = Omit<AuditEventPage, 'data'> & { data: T[] };

// ---------------------------------------------------------------------------------------------
// Credentials

/** The credential object: metadata only, never a secret. */
export type Credential = Json<paths['/v1/credentials/{id}']['get']['responses']['200']>;

export type CredentialStatus = Credential['status'];
export type ReadAccess = Credential['read_access'];
export type SelfLink = Credential['_links'][number];
export type ActorView = Credential['created_by'];

/** `POST /v1/credentials` answer: `generated_secret` only when the server made it. */
export type CredentialCreated = Json<paths['/v1/credentials']['post']['responses']['201']>;

/** `PUT /v1/credentials/{id}` answer (201 when it created the credential, 200 when it replaced it). */
export type CredentialReplaced =
  | Json<paths['/v1/credentials/{id}']['put']['responses']['200']>
  | Json<paths['/v1/credentials/{id}']['put']['responses']['201']>;

/** `GET /v1/credentials/{id}/secret`: the metadata plus the decrypted secret. */
export type RevealedCredential = Json<paths['/v1/credentials/{id}/secret']['get']['responses']['200']>;

/** `POST /v1/credentials/{id}/rotate` answer: `generated_secret` when the type made the new secret. */
export type CredentialRotated = Json<paths['/v1/credentials/{id}/rotate']['post']['responses']['200']>;

/** Body of `POST /v1/credentials`. Unknown fields are a 422. */
export type CredentialCreateBody = JsonBody<paths['/v1/credentials']['post']>;

/** Body of `PUT /v1/credentials/{id}` (the whole credential). */
export type CredentialReplaceBody = JsonBody<paths['/v1/credentials/{id}']['put']>;

/** Body of `PATCH /v1/credentials/{id}` (at least one field; a new `secret` makes a new version). */
export type CredentialPatchBody = JsonBody<paths['/v1/credentials/{id}']['patch']>;

/** Body of `POST /v1/credentials/{id}/rotate`. */
export type CredentialRotateBody = JsonBody<paths['/v1/credentials/{id}/rotate']['post']>;

export type MetadataValue = NonNullable<CredentialCreateBody['metadata']>[string];

/** Query of `GET /v1/credentials`: `page`, `per_page`, `cursor` and `filter[…]`. */
export type CredentialListQuery = Query<paths['/v1/credentials']['get']>;

/** `filter[…]` of `GET /v1/credentials`. `name` matches as a case-insensitive substring. */
export type CredentialListFilter = AllowDates<FilterOf<CredentialListQuery>, 'expires_before'>;

/** One page of `GET /v1/credentials`. */
export type CredentialPage = Json<paths['/v1/credentials']['get']['responses']['200']>;

/** Query of `GET /v1/credentials/{id}/secret`. */
export type RevealQuery = Query<paths['/v1/credentials/{id}/secret']['get']>;

/** Query of `DELETE /v1/credentials/{id}`. */
export type DeleteCredentialQuery = Query<paths['/v1/credentials/{id}']['delete']>;

/** A version of a credential's secret (metadata only; reveal `{ version: n }` for its secret). */
export type CredentialVersion = Json<paths['/v1/credentials/{id}/versions/{n}']['get']['responses']['200']>;
export type VersionStage = CredentialVersion['stage'];

/** `GET /v1/credentials/{id}/versions`. */
export type CredentialVersionList = Json<paths['/v1/credentials/{id}/versions']['get']['responses']['200']>;

/** `POST /v1/credentials/{id}/versions/{n}/restore` answer. */
export type CredentialVersionRestored = Json<paths['/v1/credentials/{id}/versions/{n}/restore']['post']['responses']['200']>;

/** `POST /v1/credentials/{id}/restore` answer. */
export type CredentialRestored = Json<paths['/v1/credentials/{id}/restore']['post']['responses']['200']>;

/** `PATCH /v1/credentials/{id}` answer. */
export type CredentialUpdated = Json<paths['/v1/credentials/{id}']['patch']['responses']['200']>;

/** `POST /v1/credentials/{id}/verify` answer: `{ ok, checked_at, error? }`, never the secret. */
export type VerifyResult = Json<paths['/v1/credentials/{id}/verify']['post']['responses']['200']>;
export type DerivedToken = Json<paths['/v1/credentials/{id}/token']['post']['responses']['200']>;

// ---------------------------------------------------------------------------------------------
// Integrations

/** One page of `GET /v1/integrations/{integration_id}/credentials`. */
export type IntegrationCredentialPage = Json<paths['/v1/integrations/{integration_id}/credentials']['get']['responses']['200']>;
export type IntegrationCredentialListQuery = Query<paths['/v1/integrations/{integration_id}/credentials']['get']>;

/** `GET /v1/integrations/{integration_id}/secret`. */
export type IntegrationRevealedCredential = Json<paths['/v1/integrations/{integration_id}/secret']['get']['responses']['200']>;
export type IntegrationRevealQuery = Query<paths['/v1/integrations/{integration_id}/secret']['get']>;

// ---------------------------------------------------------------------------------------------
// Credential types (the catalog)

/** `GET /v1/credential-types`. */
export type CredentialTypeList = Json<paths['/v1/credential-types']['get']['responses']['200']>;
export type CredentialTypeInfo = CredentialTypeList['data'][number];
export type CredentialTypeCapabilities = CredentialTypeInfo['capabilities'];

// ---------------------------------------------------------------------------------------------
// Access keys

export type AccessKey = Json<paths['/v1/access-keys/{id}']['get']['responses']['200']>;

/** `POST /v1/access-keys` answer: `key` is in this response only. */
export type AccessKeyCreated = Json<paths['/v1/access-keys']['post']['responses']['201']>;

export type AccessKeyCreateBody = JsonBody<paths['/v1/access-keys']['post']>;
export type Role = AccessKeyCreateBody['role'];

/** Body of `PUT /v1/access-keys/{id}` (only the name can change). */
export type AccessKeyRenameBody = JsonBody<paths['/v1/access-keys/{id}']['put']>;

/** `PUT /v1/access-keys/{id}` answer. */
export type AccessKeyRenamed = Json<paths['/v1/access-keys/{id}']['put']['responses']['200']>;
/** An AWS-style key pair for the AWS Secrets Manager dialect; `secret_access_key` is shown this once. */
export type AwsKeyPairIssued = Json<paths['/v1/access-keys/{id}/aws-key-pair']['post']['responses']['201']>;

export type AccessKeyListQuery = Query<paths['/v1/access-keys']['get']>;
export type AccessKeyListFilter = FilterOf<AccessKeyListQuery>;

/** One page of `GET /v1/access-keys`. */
export type AccessKeyPage = Json<paths['/v1/access-keys']['get']['responses']['200']>;

// ---------------------------------------------------------------------------------------------
// Tenants

export type TenantList = Json<paths['/v1/tenants']['get']['responses']['200']>;
export type Tenant = TenantList['data'][number];
export type TenantCreateBody = JsonBody<paths['/v1/tenants']['post']>;

/** `POST /v1/tenants` answer: the tenant and its owner key, shown this once. */
export type TenantCreated = Json<paths['/v1/tenants']['post']['responses']['201']>;

// ---------------------------------------------------------------------------------------------
// Teams

export type Team = Json<paths['/v1/teams/{id}']['get']['responses']['200']>;

/** `GET /v1/teams`: every team of the tenant in one answer (not paged). */
export type TeamList = Json<paths['/v1/teams']['get']['responses']['200']>;
export type TeamCreated = Json<paths['/v1/teams']['post']['responses']['201']>;
export type TeamUpdated = Json<paths['/v1/teams/{id}']['patch']['responses']['200']>;
export type TeamCreateBody = JsonBody<paths['/v1/teams']['post']>;
export type TeamPatchBody = JsonBody<paths['/v1/teams/{id}']['patch']>;

// ---------------------------------------------------------------------------------------------
// Folders

/** `GET /v1/folders`: every folder of the tenant in one answer (not paged). */
export type FolderList = Json<paths['/v1/folders']['get']['responses']['200']>;
export type Folder = FolderList['data'][number];
export type FolderCreated = Json<paths['/v1/folders']['post']['responses']['201']>;
export type FolderCreateBody = JsonBody<paths['/v1/folders']['post']>;

// ---------------------------------------------------------------------------------------------
// Audit

/** One page of `GET /v1/audit-events` (cursor paging only). */
export type AuditEventPage = Json<paths['/v1/audit-events']['get']['responses']['200']>;
export type AuditEvent = AuditEventPage['data'][number];
export type AuditEventListQuery = Query<paths['/v1/audit-events']['get']>;
export type AuditEventFilter = AllowDates<FilterOf<AuditEventListQuery>, 'since' | 'until'>;

// ---------------------------------------------------------------------------------------------
// Events (docs/events.md)

/** `GET /v1/events` answer: events oldest first, `next_cursor` (the position to pass as `after`) and `has_more`. */
export type EventPage = Json<paths['/v1/events']['get']['responses']['200']>;
/** One event, as the list, the SSE stream and webhooks carry it. */
export type LatchkeyEvent = EventPage['data'][number];
export type EventType = LatchkeyEvent['type'];
export type EventListQuery = Query<paths['/v1/events']['get']>;
/** `type` (one or more), `credential_id` or `object_id`, `since`. */
export type EventFilter = AllowDates<FilterOf<EventListQuery>, 'since'>;

// ---------------------------------------------------------------------------------------------
// Webhooks (docs/events.md)

export type Webhook = Json<paths['/v1/webhooks/{id}']['get']['responses']['200']>;
/** `GET /v1/webhooks`: every subscription of the tenant in one answer (not paged). */
export type WebhookList = Json<paths['/v1/webhooks']['get']['responses']['200']>;
export type WebhookCreateBody = JsonBody<paths['/v1/webhooks']['post']>;
export type WebhookPatchBody = JsonBody<paths['/v1/webhooks/{id}']['patch']>;
/** A subscription with its `whsec_` signing secret: the answer of create and rotate-secret, shown that once. */
export type WebhookWithSecret = Json<paths['/v1/webhooks']['post']['responses']['201']>;
/** One page of `GET /v1/webhooks/{id}/deliveries`, newest attempt first. */
export type WebhookDeliveryPage = Json<paths['/v1/webhooks/{id}/deliveries']['get']['responses']['200']>;
export type WebhookDelivery = WebhookDeliveryPage['data'][number];

/** `GET /v1/audit-events/verify`; `unsealed` counts events not yet sealed into the chain. */
export type AuditVerifyResult = Json<paths['/v1/audit-events/verify']['get']['responses']['200']>;

// ---------------------------------------------------------------------------------------------
// OAuth

/** `POST /v1/oauth/connect` body: `credential_id`, or `provider` + `config` + `secret` for a new credential. */
export type OAuthConnectBody = JsonBody<paths['/v1/oauth/connect']['post']>;
/** `POST /v1/oauth/connect` answer. */
export type OAuthConnectResult = Json<paths['/v1/oauth/connect']['post']['responses']['200']>;

// ---------------------------------------------------------------------------------------------
// Dialect of source document 000: GET /compat/service-credentials/service-credentials/{type}/{id}

/** The body that dialect answers with: camelCase, `hash`, `deactivationTime`, plus the type's fields. */
export type ServiceCredentialFields = Json<paths['/compat/service-credentials/service-credentials/{type}/{id}']['get']['responses']['200']>;
