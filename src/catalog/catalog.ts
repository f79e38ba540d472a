// The credential type catalog: one JSON file per type in ./types/, loaded and compiled once.
// A new type is a new file here, not a new code path. The loader (type-loader.ts) checks each
// file's own shape at start-up (type-file-schema.ts) so a bad file stops the server instead of a
// request; validation-issues.ts turns Ajv's errors into the issues a 422 lists.
import { randomBytes } from 'node:crypto';
import { cloneJson, isRecord } from './json-values.js';
import { fieldsOf } from './type-file-schema.js';
import { createAjv, defaultTypesDir, loadTypeFiles, type CompiledType } from './type-loader.js';
import { dedupe, listOf, scrubSecretValues, toIssue } from './validation-issues.js';

export interface ValidationIssue {
  /** Where the problem is: "config", "config.port", "secret.password", "config.requests[0].url", "type". */
  path: string;
  message: string;
}

/** A JSON Schema (2020-12) of a type's config or secret: always a closed object. */
export interface JsonSchemaObject {
  type: 'object';
  additionalProperties: false;
  properties: Record<string, Record<string, unknown>>;
  required?: string[];
  [keyword: string]: unknown;
}

export interface Capabilities {
  rotatable: boolean;
  refreshable: boolean;
  generatable: boolean;
  verifiable: boolean;
}

/** How the server makes a secret itself: `prefix + randomBytes(bytes)` in `encoding`, stored in `field`. */
export interface GenerateSpec {
  field: string;
  bytes: number;
  encoding: 'base64url' | 'hex';
  prefix?: string;
}

/**
 * How a credential goes into an outgoing HTTP request. Field names refer to the type's config or
 * secret properties (the two sets never overlap, so a bare name is unambiguous).
 * `from_config`: placement decided by the credential's config (api_key: placement, name, prefix).
 * `webhook`: decided by `config.auth_type` — an HMAC signature of the body, Basic, Bearer or nothing.
 * `jwt`: `Authorization: Bearer` with a token minted from the credential (services/tokens).
 * `http_request`: the results of the credential's request chain, placed by `config.inject`.
 */
export type Injection =
  | { kind: 'header'; name: string; field: string; prefix?: string }
  | { kind: 'query'; name: string; field: string }
  | { kind: 'basic'; username_field?: string; username?: string; password_field: string }
  | { kind: 'bearer'; field: string }
  | { kind: 'smtp' }
  | { kind: 'aws_sigv4' }
  | { kind: 'mtls' }
  | { kind: 'jwt' }
  | { kind: 'http_request' }
  | { kind: 'none' }
  | { kind: 'from_config' }
  | { kind: 'webhook' };

export type JsonScalar = string | number | boolean | null;
export type RuleCondition = { equals: JsonScalar } | { not: JsonScalar } | { in: JsonScalar[] };

/**
 * A requirement that spans config and secret, which JSON Schema cannot say (each is validated
 * on its own). Paths are "config.<property>" / "secret.<property>". Requirements that only
 * involve config are written as if/then in the config schema instead, so clients see them.
 */
export interface Rule {
  when?: Record<string, RuleCondition>;
  require?: string[];
  require_one_of?: string[];
}

export interface CredentialType {
  id: string;
  title: string;
  description: string;
  config: JsonSchemaObject;
  secret: JsonSchemaObject;
  capabilities: Capabilities;
  generate: GenerateSpec | null;
  injection: Injection;
  rules: readonly Rule[];
  /**
   * Config fields that decide where the secret is sent, or whether it travels so that a third
   * party can read it (a host, a URL, a TLS mode, a pinned key). Whoever can change one can have
   * the secret delivered to itself, so changing one is as privileged as revealing: it needs
   * `credentials:reveal` on the credential, unless the same request replaces every secret field.
   */
  aimFields: readonly string[];
  /** Property names of the secret schema. */
  secretFields: string[];
}

export interface CheckResult {
  value: Record<string, unknown>;
  issues: ValidationIssue[];
}

export interface Catalog {
  list(): readonly CredentialType[];
  get(id: string): CredentialType | undefined;
  /** Validates; returns a NEW object with defaults applied (the input is never mutated). */
  checkConfig(typeId: string, config: unknown): CheckResult;
  checkSecret(typeId: string, secret: unknown): CheckResult;
  /** Cross-object rules. `secret` null means unchanged/unknown: secret-side requirements are skipped. */
  checkRules(typeId: string, config: Record<string, unknown>, secret: Record<string, unknown> | null): ValidationIssue[];
  /** A fresh random secret for a generatable type; null for any other (or unknown) type. */
  generateSecret(typeId: string): Record<string, string> | null;
}

export interface LoadCatalogOptions {
  /** Folder of type files; default: ./types/ next to this module (src/ under tsx, dist/ when built). */
  dir?: URL | string;
}

/** The two objects a credential is validated as. */
export type SchemaRoot = 'config' | 'secret';

function present(value: unknown): boolean {
  return value !== undefined && value !== null && value !== '';
}

function holds(condition: RuleCondition, value: unknown): boolean {
  if ('equals' in condition) return value === condition.equals;
  if ('not' in condition) return value !== condition.not;
  return condition.in.some((candidate) => candidate === value);
}

function describeCondition(path: string, condition: RuleCondition): string {
  if ('equals' in condition) return `${path} is ${String(condition.equals)}`;
  if ('not' in condition) return `${path} is not ${String(condition.not)}`;
  return `${path} is one of: ${listOf(condition.in)}`;
}

export function loadCatalog(options: LoadCatalogOptions = {}): Catalog {
  const ajv = createAjv();
  const compiled = new Map<string, CompiledType>();
  for (const entry of loadTypeFiles(options.dir ?? defaultTypesDir(), ajv)) compiled.set(entry.type.id, entry);
  const types: readonly CredentialType[] = Object.freeze([...compiled.values()].map((c) => c.type));
  const unknownType = (): ValidationIssue[] => [{ path: 'type', message: 'is not a known credential type' }];

  function check(root: SchemaRoot, typeId: string, input: unknown): CheckResult {
    const entry = compiled.get(typeId);
    if (entry === undefined) return { value: {}, issues: unknownType() };
    if (!isRecord(input)) return { value: {}, issues: [{ path: root, message: 'must be an object' }] };
    const value = cloneJson(input) as Record<string, unknown>;
    const validate = root === 'config' ? entry.validateConfig() : entry.validateSecret();
    const fields = fieldsOf(entry.type);
    const otherRootFields = root === 'config' ? fields.secret : fields.config;
    let issues: ValidationIssue[] = [];
    if (!validate(value)) {
      for (const error of validate.errors ?? []) {
        const issue = toIssue(error, root, otherRootFields);
        if (issue !== null) issues.push(issue);
      }
      issues = dedupe(issues);
    }
    if (root === 'secret') issues = scrubSecretValues(issues, input);
    return { value, issues };
  }

  // A config value as the rules see it: absent means the schema default (the caller may pass
  // a config that has not been through checkConfig, e.g. a stored one from before a default).
  function read(entry: CompiledType, path: string, config: Record<string, unknown>, secret: Record<string, unknown> | null): unknown {
    const [root, name] = path.split('.') as [SchemaRoot, string];
    if (root === 'secret') return secret?.[name];
    if (Object.hasOwn(config, name)) return config[name];
    return entry.type.config.properties[name]?.['default'];
  }

  return {
    list: () => types,
    get: (id) => compiled.get(id)?.type,
    checkConfig: (typeId, config) => check('config', typeId, config),
    checkSecret: (typeId, secret) => check('secret', typeId, secret),
    checkRules(typeId, config, secret) {
      const entry = compiled.get(typeId);
      if (entry === undefined) return unknownType();
      const issues: ValidationIssue[] = [];
      const known = (path: string): boolean => secret !== null || path.startsWith('config.');
      for (const rule of entry.type.rules) {
        const when = Object.entries(rule.when ?? {});
        if (!when.every(([path]) => known(path))) continue;
        if (!when.every(([path, condition]) => holds(condition, read(entry, path, config, secret)))) continue;
        const because = when.map(([path, condition]) => describeCondition(path, condition)).join(' and ');
        for (const path of rule.require ?? []) {
          if (!known(path) || present(read(entry, path, config, secret))) continue;
          issues.push({ path, message: because === '' ? 'is required' : `is required when ${because}` });
        }
        const oneOf = rule.require_one_of ?? [];
        if (oneOf.length > 0 && oneOf.every(known) && !oneOf.some((path) => present(read(entry, path, config, secret)))) {
          const root = oneOf[0]?.split('.')[0] ?? 'secret';
          const names = oneOf.map((path) => path.split('.')[1]).join(', ');
          issues.push({
            path: root,
            message: because === '' ? `must include one of: ${names}` : `must include one of: ${names} when ${because}`,
          });
        }
      }
      return issues;
    },
    generateSecret(typeId) {
      const spec = compiled.get(typeId)?.type.generate;
      if (spec === undefined || spec === null) return null;
      return { [spec.field]: `${spec.prefix ?? ''}${randomBytes(spec.bytes).toString(spec.encoding)}` };
    },
  };
}
