import type { TSchema, Static } from 'typebox';
import { Compile, type Validator } from 'typebox/compile';
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

/** Each operation's input schema compiled once: interpreting it on every request cost about 10 µs of a GetSecretValue. */
const validators = new WeakMap<TSchema, Validator>();

/** Validates an input against its schema; an unknown field is refused, never ignored. */
export function checkInput<S extends TSchema>(schema: S, body: unknown): Static<S> {
  let validator = validators.get(schema);
  if (validator === undefined) {
    validator = Compile(schema) as unknown as Validator;
    validators.set(schema, validator);
  }
  if (validator.Check(body)) return body as Static<S>;
  const paths = validator
    .Errors(body)
    .slice(0, 5)
    .map((e) => `${(e as { instancePath?: string }).instancePath || '(body)'}: ${(e as { message?: string }).message ?? 'invalid'}`);
  throw invalidParameter(`Invalid request: ${paths.join('; ')}`);
}
