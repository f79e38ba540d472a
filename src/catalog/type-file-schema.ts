// What a credential type file must look like: its shape as a JSON Schema (checked by Ajv), then
// what JSON Schema cannot say (fields named by generate, injection and rules exist; every string
// is bounded), checked in code.
import type { CredentialType, SchemaRoot } from './catalog.js';
import { isRecord } from './json-values.js';

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
export const TYPE_FILE_SCHEMA_KEY = 'latchkey:credential-type-file';
export const typeFileSchema = {
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
export function checkSchemaLimits(node: unknown, where: string, problems: string[]): void {
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

export function fieldsOf(type: CredentialType): { config: Set<string>; secret: Set<string> } {
  return { config: new Set(Object.keys(type.config.properties)), secret: new Set(type.secretFields) };
}

/** Cross-references that JSON Schema cannot check: fields named by generate, injection and rules exist. */
export function checkReferences(type: CredentialType): string[] {
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
      const [root, name] = path.split('.') as [SchemaRoot, string];
      if (!fields[root].has(name)) problems.push(`rules[${i}] names unknown field "${path}"`);
    }
    const roots = new Set((rule.require_one_of ?? []).map((p) => p.split('.')[0]));
    if (roots.size > 1) problems.push(`rules[${i}].require_one_of mixes config and secret`);
  }
  return problems;
}
