export { Latchkey, type FetchWith, type LatchkeyOptions, type RawRequestOptions } from './client.js';
export {
  LatchkeyError,
  LatchkeyApiError,
  BadRequestError,
  UnauthenticatedError,
  ForbiddenError,
  NotFoundError,
  ConflictError,
  PreconditionFailedError,
  ValidationError,
  RateLimitedError,
  UnavailableError,
  InternalServerError,
  LatchkeyTimeoutError,
  LatchkeyConnectionError,
  type ErrorCode,
  type KnownErrorCode,
  type ApiErrorInit,
} from './errors.js';
export { Paginator, type PageOfItems } from './paginate.js';
export type { WithEtag } from './etag.js';
export type { RequestOptions, QueryValue } from './transport.js';
export { parseRetryAfter, retryDelayMs, isRetryableStatus, isSafeToResend, type RetryPolicy } from './retry.js';
export type {
  Credentials,
  IdempotentOptions,
  ConditionalOptions,
  DeleteCredentialOptions,
  CredentialListOptions,
  CredentialListPageOptions,
  RevealOptions,
  RotateOptions,
} from './resources/credentials.js';
export type { Integrations, IntegrationListOptions, IntegrationListPageOptions, IntegrationRevealOptions } from './resources/integrations.js';
export type { AccessKeys, AccessKeyListOptions, AccessKeyListPageOptions } from './resources/access-keys.js';
export type { AuditEvents, AuditEventListOptions, AuditEventListPageOptions } from './resources/audit-events.js';
export type { Events, EventListOptions, EventStreamOptions } from './resources/events.js';
export { readSse, type SseMessage } from './sse.js';
export type { Tenants } from './resources/tenants.js';
export type { Teams, TeamListOptions } from './resources/teams.js';
export type { Webhooks, WebhookDeliveryListOptions, WebhookDeliveryPageOptions, WebhookRotateOptions } from './resources/webhooks.js';
export type { Folders } from './resources/folders.js';
export type { OAuth } from './resources/oauth.js';
export type { ServiceCredentials, ServiceCredential } from './resources/service-credentials.js';
export type * from './types.js';
