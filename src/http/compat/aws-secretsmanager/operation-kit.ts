import type { TSchema, Static } from 'typebox';
import { Value } from 'typebox/value';
import type { RequestContext } from '../../../domain/principal.js';
import type { Services } from '../../../services/services.js';
import type { Clock } from '../../../domain/clock.js';
import { invalidParameter } from './aws-errors.js';

export interface OperationEnv {
  s: Services;
  clock: Clock;
  /** The server's LATCHKEY_DELETED_RETENTION_DAYS: when a soft-deleted credential is purged. */
  deletedRetentionDays: number;
}

/** One operation of the JSON 1.1 protocol: its input schema (also its OpenAPI entry) and handler. */
export interface Operation<S extends TSchema = TSchema> {
  input: S;
  /** Answers carrying a secret value are sent `Cache-Control: no-store`. */
  revealsSecret?: boolean;
  run(env: OperationEnv, ctx: RequestContext, input: Static<S>): Promise<Record<string, unknown>>;
}

export function operation<S extends TSchema>(op: Operation<S>): Operation {
  return op as unknown as Operation;
}

/** Validates an input against its schema; an unknown field is refused, never ignored. */
export function checkInput<S extends TSchema>(schema: S, body: unknown): Static<S> {
  if (Value.Check(schema, body)) return body as Static<S>;
  const paths = [...Value.Errors(schema, body)]
    .slice(0, 5)
    .map((e) => `${(e as { instancePath?: string }).instancePath || '(body)'}: ${(e as { message?: string }).message ?? 'invalid'}`);
  throw invalidParameter(`Invalid request: ${paths.join('; ')}`);
}
