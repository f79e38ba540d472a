// Reads the type files of a folder at start-up: a bad file stops the server instead of a request.
import { readdirSync, readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { storableDateTimeFormat } from '../domain/clock.js';
import type { CredentialType, JsonSchemaObject, Rule } from './catalog.js';
import { deepFreeze } from './json-values.js';
import { checkReferences, checkSchemaLimits, TYPE_FILE_SCHEMA_KEY, typeFileSchema } from './type-file-schema.js';

export interface CompiledType {
  type: CredentialType;
  /** Compiled on first use: compiling all 38 schemas was a third of start-up. */
  validateConfig: () => ValidateFunction;
  validateSecret: () => ValidateFunction;
}

// "hostname-ish": a DNS name (labels may hold "_", which internal names such as docker-compose
// services use) or an IPv4/IPv6 address. Never empty, at most 253 characters (RFC 1035).
const dnsLabel = /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/;
function isHost(value: string): boolean {
  if (value.length === 0 || value.length > 253) return false;
  if (isIP(value) !== 0) return true;
  const name = value.endsWith('.') ? value.slice(0, -1) : value;
  return name.length > 0 && name.split('.').every((label) => dnsLabel.test(label));
}

export function createAjv(): Ajv2020 {
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

export function defaultTypesDir(): URL {
  return new URL('./types/', import.meta.url);
}

export function loadTypeFiles(dir: URL | string, ajv: Ajv2020): CompiledType[] {
  const dirPath = dir instanceof URL ? fileURLToPath(dir) : dir;
  let files: string[];
  try {
    files = readdirSync(dirPath)
      .filter((f) => f.endsWith('.json'))
      .sort();
  } catch (cause) {
    throw new Error(`catalog: cannot read credential types from ${dirPath} (a built server needs scripts/copy-assets.mjs to copy them)`, { cause });
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
          return validate;
        } catch (cause) {
          return fail(`schema does not compile (${cause instanceof Error ? cause.message : String(cause)})`);
        }
      };
    };
    return { type: deepFreeze(type), validateConfig: compiledOnUse(type.config), validateSecret: compiledOnUse(type.secret) };
  });
}
