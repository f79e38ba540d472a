// Ajv's errors as the issues a 422 lists: a path into the request and a message built from the
// schema alone, never from the value (a secret must not reach a response or a log line).
import type { ErrorObject } from 'ajv/dist/2020.js';
import type { SchemaRoot, ValidationIssue } from './catalog.js';
import { isRecord } from './json-values.js';

const formatLabels: Record<string, string> = {
  host: 'must be a valid host name or IP address',
  hostname: 'must be a valid host name',
  uri: 'must be a valid URI',
  'date-time': 'must be an RFC 3339 date-time',
  email: 'must be a valid email address',
};

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

export function listOf(values: unknown): string {
  return (Array.isArray(values) ? values : [values]).map((v) => (typeof v === 'string' ? v : JSON.stringify(v))).join(', ');
}

/** One Ajv error as an issue, or null for errors that only restate another one. */
export function toIssue(error: ErrorObject, root: SchemaRoot, otherRootFields: ReadonlySet<string>): ValidationIssue | null {
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
export function scrubSecretValues(issues: ValidationIssue[], secret: unknown): ValidationIssue[] {
  const values = [...stringLeaves(secret, new Set())].filter((v) => v.length >= 4);
  if (values.length === 0) return issues;
  return issues.map((issue) => (values.some((v) => issue.message.includes(v)) ? { path: issue.path, message: 'is invalid' } : issue));
}

export function dedupe(issues: ValidationIssue[]): ValidationIssue[] {
  const seen = new Set<string>();
  return issues.filter((issue) => {
    const key = `${issue.path}\u0000${issue.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
