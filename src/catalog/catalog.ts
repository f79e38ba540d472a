// The credential type catalog: one JSON file per type in ./types/, loaded and compiled once.
// A new type is a new file here, not a new code path. The loader checks each
// file's own shape at start-up so a bad file stops the server instead of a request.
import { readdirSync, readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { ErrorObject, ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { storableDateTimeFormat } from '../domain/clock.js';

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
  checkRules(
    typeId: string,
    config: Record<string, unknown>,
    secret: Record<string, unknown> | null,
  ): ValidationIssue[];
  /** A fresh random secret for a generatable type; null for any other (or unknown) type. */
  generateSecret(typeId: string): Record<string, string> | null;
}

export interface LoadCatalogOptions {
  /** Folder of type files; default: ./types/ next to this module (src/ under tsx, dist/ when built). */
  dir?: URL | string;
}

type Root = 'config' | 'secret';

interface CompiledType {
  type: CredentialType;
  /** Compiled on first use: compiling all 38 schemas was a third of start-up. */
  validateConfig: () => ValidateFunction;
  validateSecret: () => ValidateFunction;
}

// The shape of a type file. Checked with Ajv first; cross-references are checked in code after.
const objectSchemaShape = {
  type: 'object',
  required: ['type', 'additionalProperties', 'properties'],
  properties: {
    type: { const: 'object' },
    additionalProperties: { const: false },
    properties: { type: 'object' },
  },
};
const fieldName = { type: 'string', pattern: '^[a-z][a-z0-9_]{0,63}$' };
const rulePath = { type: 'string', pattern: '^(config|secret)\\.[a-z][a-z0-9_]{0,63}$' };
const scalar = { type: ['string', 'number', 'boolean', 'null'] };
const TYPE_FILE_SCHEMA_KEY = 'latchkey:credential-type-file';
const typeFileSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'title', 'description', 'config', 'secret', 'capabilities', 'generate', 'injection', 'aim_fields'],
  properties: {
    id: { type: 'string', pattern: '^[a-z][a-z0-9_-]{0,49}$' },
    title: { type: 'string', minLength: 1, maxLength: 200 },
    description: { type: 'string', minLength: 1, maxLength: 1000 },
    config: objectSchemaShape,
    secret: objectSchemaShape,
    capabilities: {
      type: 'object',
      additionalProperties: false,
      required: ['rotatable', 'refreshable', 'generatable', 'verifiable'],
      properties: {
        rotatable: { type: 'boolean' },
        refreshable: { type: 'boolean' },
        generatable: { type: 'boolean' },
        verifiable: { type: 'boolean' },
      },
    },
    generate: {
      type: ['object', 'null'],
      additionalProperties: false,
      required: ['field', 'bytes', 'encoding'],
      properties: {
        field: fieldName,
        // 16 bytes = 128 bits is the least we hand out as a secret.
        bytes: { type: 'integer', minimum: 16, maximum: 256 },
        encoding: { enum: ['base64url', 'hex'] },
        prefix: { type: 'string', pattern: '^[A-Za-z0-9_-]{0,32}$' },
      },
    },
    injection: {
      oneOf: [
        {
          type: 'object',
          additionalProperties: false,
          required: ['kind', 'name', 'field'],
          properties: {
            kind: { const: 'header' },
            name: { type: 'string', pattern: "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$" },
            field: fieldName,
            prefix: { type: 'string', maxLength: 64 },
          },
        },
        {
          type: 'object',
          additionalProperties: false,
          required: ['kind', 'name', 'field'],
          properties: { kind: { const: 'query' }, name: { type: 'string', minLength: 1 }, field: fieldName },
        },
        {
          type: 'object',
          additionalProperties: false,
          required: ['kind', 'password_field'],
          properties: {
            kind: { const: 'basic' },
            username_field: fieldName,
            username: { type: 'string', minLength: 1 },
            password_field: fieldName,
          },
          oneOf: [
            { type: 'object', required: ['username_field'] },
            { type: 'object', required: ['username'] },
          ],
        },
        {
          type: 'object',
          additionalProperties: false,
          required: ['kind', 'field'],
          properties: { kind: { const: 'bearer' }, field: fieldName },
        },
        {
          type: 'object',
          additionalProperties: false,
          required: ['kind'],
          properties: { kind: { enum: ['smtp', 'aws_sigv4', 'mtls', 'jwt', 'http_request', 'none', 'from_config', 'webhook'] } },
        },
      ],
    },
    // Required in every file, even empty: a new type must say where its secret may go.
    aim_fields: { type: 'array', items: fieldName, uniqueItems: true },
    rules: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        minProperties: 1,
        properties: {
          when: {
            type: 'object',
            propertyNames: rulePath,
            minProperties: 1,
            additionalProperties: {
              type: 'object',
              minProperties: 1,
              maxProperties: 1,
              additionalProperties: false,
              properties: {
                equals: scalar,
                not: scalar,
                in: { type: 'array', minItems: 1, items: scalar },
              },
            },
          },
          require: { type: 'array', minItems: 1, items: rulePath },
          require_one_of: { type: 'array', minItems: 2, items: rulePath },
        },
      },
    },
  },
};

// "hostname-ish": a DNS name (labels may hold "_", which internal names such as docker-compose
// services use) or an IPv4/IPv6 address. Never empty, at most 253 characters (RFC 1035).
const dnsLabel = /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/;
function isHost(value: string): boolean {
  if (value.length === 0 || value.length > 253) return false;
  if (isIP(value) !== 0) return true;
  const name = value.endsWith('.') ? value.slice(0, -1) : value;
  return name.length > 0 && name.split('.').every((label) => dnsLabel.test(label));
}

const formatLabels: Record<string, string> = {
  host: 'must be a valid host name or IP address',
  hostname: 'must be a valid host name',
  uri: 'must be a valid URI',
  'date-time': 'must be an RFC 3339 date-time',
  email: 'must be a valid email address',
};

function createAjv(): Ajv2020 {
  const ajv = new Ajv2020({
    allErrors: true,
    useDefaults: true,
    strict: true,
    // Nullable fields (expiry times) are written as "type": ["string", "null"].
    allowUnionTypes: true,
    // strictRequired cannot see that a "required" inside then/else names a property of the
    // enclosing schema, so it rejects conditional requirements; checkSchemaLimits does this
    // check instead, knowing where to look.
    strictRequired: false,
  });
  addFormatsModule.default(ajv, ['uri', 'email', 'hostname']);
  // A leap second (…T23:59:60Z) is RFC 3339 but cannot be stored: refused as bad input.
  ajv.addFormat('date-time', storableDateTimeFormat);
  ajv.addFormat('host', { type: 'string', validate: isHost });
  return ajv;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Copies JSON-like data so that Ajv's defaults land on our copy, never the caller's object.
 * Keys are defined, not assigned, so a "__proto__" key stays an own property (and is then
 * refused by additionalProperties) instead of replacing the copy's prototype.
 */
function cloneJson(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(cloneJson);
  if (isRecord(value)) {
    const out: Record<string, unknown> = {};
    for (const [key, child] of Object.entries(value)) {
      Object.defineProperty(out, key, { value: cloneJson(child), enumerable: true, writable: true, configurable: true });
    }
    return out;
  }
  return value;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

// Property names from the input end up in paths; keep them short and printable so a pasted
// secret used as a key, or control characters, do not travel far into logs and responses.
function pathSegment(raw: string): string {
  const clean = raw.replace(/[\u0000-\u001f\u007f]/g, '?');
  return clean.length > 64 ? `${clean.slice(0, 64)}…` : clean;
}

function joinPath(root: string, instancePath: string, child?: string): string {
  let path = root;
  const segments = instancePath === '' ? [] : instancePath.slice(1).split('/');
  if (child !== undefined) segments.push(child);
  for (const encoded of segments) {
    const segment = encoded.replace(/~1/g, '/').replace(/~0/g, '~');
    path += /^(0|[1-9][0-9]*)$/.test(segment) ? `[${segment}]` : `.${pathSegment(segment)}`;
  }
  return path;
}

const article: Record<string, string> = {
  string: 'a string',
  integer: 'an integer',
  number: 'a number',
  boolean: 'a boolean',
  object: 'an object',
  array: 'an array',
  null: 'null',
};

function listOf(values: unknown): string {
  return (Array.isArray(values) ? values : [values]).map((v) => (typeof v === 'string' ? v : JSON.stringify(v))).join(', ');
}

/** One Ajv error as an issue, or null for errors that only restate another one. */
function toIssue(error: ErrorObject, root: Root, otherRootFields: ReadonlySet<string>): ValidationIssue | null {
  const params: Record<string, unknown> = error.params;
  // Errors inside propertyNames are reported once, on the offending name (below).
  if (error.propertyName !== undefined) return null;
  switch (error.keyword) {
    case 'if':
      return null; // "must match then schema": the failing "required" is reported on its own.
    case 'required':
      return { path: joinPath(root, error.instancePath, String(params['missingProperty'])), message: 'is required' };
    case 'additionalProperties': {
      const name = String(params['additionalProperty']);
      const path = joinPath(root, error.instancePath, name);
      if (error.instancePath === '' && otherRootFields.has(name)) {
        const other = root === 'config' ? 'secret' : 'config';
        return { path, message: `is not allowed in ${root}: it belongs in ${other}` };
      }
      return { path, message: 'is not allowed' };
    }
    case 'propertyNames':
      return { path: joinPath(root, error.instancePath, String(params['propertyName'])), message: 'is not an allowed name' };
    case 'enum':
      return { path: joinPath(root, error.instancePath), message: `must be one of: ${listOf(params['allowedValues'])}` };
    case 'const':
      return { path: joinPath(root, error.instancePath), message: `must be ${listOf(params['allowedValue'])}` };
    case 'type': {
      const types = Array.isArray(params['type']) ? params['type'] : String(params['type']).split(',');
      const words = types.map((t) => article[String(t)] ?? String(t));
      return { path: joinPath(root, error.instancePath), message: `must be ${words.join(' or ')}` };
    }
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
      return { path: joinPath(root, error.instancePath), message: `must be ${String(params['comparison'])} ${String(params['limit'])}` };
    case 'minLength':
      return {
        path: joinPath(root, error.instancePath),
        message: params['limit'] === 1 ? 'must not be empty' : `must be at least ${String(params['limit'])} characters`,
      };
    case 'maxLength':
      return { path: joinPath(root, error.instancePath), message: `must be at most ${String(params['limit'])} characters` };
    case 'minItems':
      return { path: joinPath(root, error.instancePath), message: `must have at least ${String(params['limit'])} items` };
    case 'maxItems':
      return { path: joinPath(root, error.instancePath), message: `must have at most ${String(params['limit'])} items` };
    case 'minProperties':
      return { path: joinPath(root, error.instancePath), message: `must have at least ${String(params['limit'])} entries` };
    case 'maxProperties':
      return { path: joinPath(root, error.instancePath), message: `must have at most ${String(params['limit'])} entries` };
    case 'uniqueItems':
      return { path: joinPath(root, error.instancePath), message: 'must not contain duplicate items' };
    case 'pattern':
      // The pattern is public (it is in the published schema); the value is never quoted.
      return { path: joinPath(root, error.instancePath), message: `must match pattern ${String(params['pattern'])}` };
    case 'format': {
      const format = String(params['format']);
      return { path: joinPath(root, error.instancePath), message: formatLabels[format] ?? `must be a valid ${format}` };
    }
    default:
      return { path: joinPath(root, error.instancePath), message: error.message ?? 'is invalid' };
  }
}

function stringLeaves(value: unknown, out: Set<string>): Set<string> {
  if (typeof value === 'string') out.add(value);
  else if (Array.isArray(value)) for (const child of value) stringLeaves(child, out);
  else if (isRecord(value)) for (const child of Object.values(value)) stringLeaves(child, out);
  return out;
}

/**
 * Defence in depth for secrets: today's messages are built from the schema only, but if a
 * future Ajv or a new keyword quoted the input, a secret would reach a 422 body and the logs.
 * Any message containing a secret string (4+ characters) is replaced.
 */
function scrubSecretValues(issues: ValidationIssue[], secret: unknown): ValidationIssue[] {
  const values = [...stringLeaves(secret, new Set())].filter((v) => v.length >= 4);
  if (values.length === 0) return issues;
  return issues.map((issue) =>
    values.some((v) => issue.message.includes(v)) ? { path: issue.path, message: 'is invalid' } : issue,
  );
}

function dedupe(issues: ValidationIssue[]): ValidationIssue[] {
  const seen = new Set<string>();
  return issues.filter((issue) => {
    const key = `${issue.path}\u0000${issue.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** Names listed in `required` of a schema and of its conditional branches (if/then/else, allOf). */
function requiredNames(node: Record<string, unknown>): string[] {
  const names: string[] = [];
  const collect = (schema: unknown): void => {
    if (!isRecord(schema)) return;
    if (Array.isArray(schema['required'])) names.push(...schema['required'].map(String));
    collect(schema['then']);
    collect(schema['else']);
    if (Array.isArray(schema['allOf'])) for (const part of schema['allOf']) collect(part);
  };
  collect(node);
  return names;
}

/** Every string needs a maxLength and every object an explicit additionalProperties (no field is silently dropped). */
function checkSchemaLimits(node: unknown, where: string, problems: string[]): void {
  if (!isRecord(node)) return;
  const types = Array.isArray(node['type']) ? node['type'] : [node['type']];
  const closedValues = 'enum' in node || 'const' in node;
  if (types.includes('string') && !closedValues && typeof node['maxLength'] !== 'number') {
    problems.push(`${where}: string without maxLength`);
  }
  if (types.includes('object') && !('additionalProperties' in node)) {
    problems.push(`${where}: object without additionalProperties`);
  }
  if (isRecord(node['properties'])) {
    const properties = node['properties'];
    for (const name of requiredNames(node)) {
      if (!(name in properties)) problems.push(`${where}: required property "${name}" is not defined`);
    }
    for (const [name, child] of Object.entries(properties)) checkSchemaLimits(child, `${where}.${name}`, problems);
  }
  if (isRecord(node['$defs'])) {
    for (const [name, child] of Object.entries(node['$defs'])) checkSchemaLimits(child, `${where}.$defs.${name}`, problems);
  }
  checkSchemaLimits(node['items'], `${where}[]`, problems);
  checkSchemaLimits(node['additionalProperties'], `${where}.*`, problems);
  checkSchemaLimits(node['propertyNames'], `${where}.<name>`, problems);
}

function fieldsOf(type: CredentialType): { config: Set<string>; secret: Set<string> } {
  return { config: new Set(Object.keys(type.config.properties)), secret: new Set(type.secretFields) };
}

/** Cross-references that JSON Schema cannot check: fields named by generate, injection and rules exist. */
function checkReferences(type: CredentialType): string[] {
  const problems: string[] = [];
  const fields = fieldsOf(type);
  const both = [...fields.config].filter((name) => fields.secret.has(name));
  if (both.length > 0) problems.push(`fields in both config and secret: ${both.join(', ')}`);
  if (type.capabilities.generatable !== (type.generate !== null)) {
    problems.push('capabilities.generatable must be true exactly when generate is set');
  }
  if (type.generate !== null && !fields.secret.has(type.generate.field)) {
    problems.push(`generate.field "${type.generate.field}" is not a secret field`);
  }
  const inj = type.injection;
  const named: string[] = [];
  if (inj.kind === 'header' || inj.kind === 'query' || inj.kind === 'bearer') {
    if (!fields.secret.has(inj.field)) problems.push(`injection.field "${inj.field}" is not a secret field`);
  }
  if (inj.kind === 'basic') {
    if (!fields.secret.has(inj.password_field)) problems.push(`injection.password_field "${inj.password_field}" is not a secret field`);
    if (inj.username_field !== undefined) named.push(inj.username_field);
  }
  for (const name of named) {
    if (!fields.config.has(name) && !fields.secret.has(name)) problems.push(`injection names unknown field "${name}"`);
  }
  for (const name of type.aimFields) {
    if (!fields.config.has(name)) problems.push(`aim_fields names "${name}", which is not a config field`);
  }
  for (const [i, rule] of type.rules.entries()) {
    const paths = [...Object.keys(rule.when ?? {}), ...(rule.require ?? []), ...(rule.require_one_of ?? [])];
    for (const path of paths) {
      const [root, name] = path.split('.') as [Root, string];
      if (!fields[root].has(name)) problems.push(`rules[${i}] names unknown field "${path}"`);
    }
    const roots = new Set((rule.require_one_of ?? []).map((p) => p.split('.')[0]));
    if (roots.size > 1) problems.push(`rules[${i}].require_one_of mixes config and secret`);
  }
  return problems;
}

function defaultTypesDir(): URL {
  return new URL('./types/', import.meta.url);
}

function loadTypeFiles(dir: URL | string, ajv: Ajv2020): CompiledType[] {
  const dirPath = dir instanceof URL ? fileURLToPath(dir) : dir;
  let files: string[];
  try {
    files = readdirSync(dirPath).filter((f) => f.endsWith('.json')).sort();
  } catch (cause) {
    throw new Error(
      `catalog: cannot read credential types from ${dirPath} (a built server needs scripts/copy-assets.mjs to copy them)`,
      { cause },
    );
  }
  if (files.length === 0) throw new Error(`catalog: no credential type files in ${dirPath}`);

  // Our own constant, so not checked against the JSON Schema meta-schema: compiling that one took
  // ~60 ms of every start. The types' own schemas still are, when first compiled (compiledOnUse).
  ajv.addSchema(typeFileSchema, TYPE_FILE_SCHEMA_KEY, false, false);
  const validateFile = ajv.getSchema(TYPE_FILE_SCHEMA_KEY);
  if (validateFile === undefined) throw new Error('catalog: the type-file schema did not compile');
  return files.map((file) => {
    const fail = (why: string): never => {
      throw new Error(`catalog: ${file}: ${why}`);
    };
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(`${dirPath.replace(/\/?$/, '/')}${file}`, 'utf8'));
    } catch (cause) {
      fail(`not valid JSON (${cause instanceof Error ? cause.message : String(cause)})`);
    }
    if (!validateFile(raw)) {
      const detail = (validateFile.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''}`).join('; ');
      fail(`not a valid type file: ${detail}`);
    }
    const data = raw as Omit<CredentialType, 'secretFields' | 'rules' | 'aimFields'> & { rules?: Rule[]; aim_fields: string[] };
    if (`${data.id}.json` !== file) fail(`id "${data.id}" does not match the file name`);

    const type: CredentialType = {
      id: data.id,
      title: data.title,
      description: data.description,
      config: data.config,
      secret: data.secret,
      capabilities: data.capabilities,
      generate: data.generate,
      injection: data.injection,
      rules: data.rules ?? [],
      aimFields: data.aim_fields,
      secretFields: Object.keys(data.secret.properties),
    };
    const problems = checkReferences(type);
    checkSchemaLimits(type.config, 'config', problems);
    checkSchemaLimits(type.secret, 'secret', problems);
    if (problems.length > 0) fail(problems.join('; '));

    const compiledOnUse = (schema: JsonSchemaObject): (() => ValidateFunction) => {
      let validate: ValidateFunction | undefined;
      return () => {
        try {
          validate ??= ajv.compile(schema);
        } catch (cause) {
          fail(`schema does not compile (${cause instanceof Error ? cause.message : String(cause)})`);
        }
        return validate!;
      };
    };
    return { type: deepFreeze(type), validateConfig: compiledOnUse(type.config), validateSecret: compiledOnUse(type.secret) };
  });
}

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

  function check(root: Root, typeId: string, input: unknown): CheckResult {
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
    const [root, name] = path.split('.') as [Root, string];
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
