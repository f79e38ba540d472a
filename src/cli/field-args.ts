import { readFileSync } from 'node:fs';
import { InvalidArgumentError } from 'commander';
import type { CredentialTypeInfo, JsonObject as Json } from '@latchkey/sdk';
import { UsageError } from './cli-errors.js';
import { readStdinDocument, readStdinValue } from './stdin.js';

/**
 * `--config k=v` / `--secret k=v` pairs (httpie's conventions):
 *   `k=v`        a string — or, where the type's schema says integer/number/boolean, that;
 *   `k:=<json>`  a raw JSON value (`scopes:='["read","write"]'`, `port:=587`);
 *   `k=@path`    the file's content (one trailing newline dropped); `k=@-` reads stdin, or asks
 *                for the value without echo when stdin is a terminal.
 * `@` keeps secrets off the command line, where `ps` and the shell history would see them.
 */
export interface FieldPair {
  key: string;
  raw: string;
  json: boolean;
}

const KEY = /^[A-Za-z_][A-Za-z0-9_.-]{0,127}$/;

export function parsePair() {
  return (text: string, previous: FieldPair[] = []): FieldPair[] => {
    const m = /^([^=:]+)(:?=)([\s\S]*)$/.exec(text);
    if (!m || !KEY.test(m[1] ?? '')) throw new InvalidArgumentError('takes key=value, key:=<json> or key=@file');
    return [...previous, { key: m[1] ?? '', raw: m[3] ?? '', json: m[2] === ':=' }];
  };
}

export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** `--from-file body.json` or `-`: a JSON object. The parser's message is never shown (it would quote the content). */
export async function readJsonObject(path: string, what: string): Promise<Json> {
  const text = path === '-' ? await readStdinDocument(what) : readFileSync(path, 'utf8');
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new UsageError(`${what}: ${path === '-' ? 'stdin' : path} is not valid JSON`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new UsageError(`${what}: ${path === '-' ? 'stdin' : path} must hold a JSON object`);
  return v as Json;
}

/** The JSON Schema `type` of a property, when the schema names one. */
function schemaTypeOf(schema: Json | undefined, key: string): string | undefined {
  const props = schema?.properties;
  if (typeof props !== 'object' || props === null) return undefined;
  const t = (props as Record<string, { type?: unknown }>)[key]?.type;
  return typeof t === 'string' ? t : undefined;
}

export async function pairsToObject(pairs: FieldPair[], flag: string, schema?: Json): Promise<Json> {
  const obj: Json = {};
  for (const p of pairs) {
    if (Object.hasOwn(obj, p.key)) throw new UsageError(`${flag} ${p.key} is given twice`);
    let value: unknown;
    if (p.json) {
      try {
        value = JSON.parse(p.raw);
      } catch {
        throw new UsageError(`${flag} ${p.key}:= needs a JSON value`);
      }
    } else if (p.raw.startsWith('@')) {
      const path = p.raw.slice(1);
      // Stdin (`@-`) is one value: at a terminal it is asked for without echo.
      value = path === '-' ? await readStdinValue(`${flag} ${p.key}=@-`, p.key) : readFileSync(path, 'utf8').replace(/\r?\n$/, '');
    } else {
      value = coerce(p.raw, schemaTypeOf(schema, p.key));
    }
    obj[p.key] = value;
  }
  return obj;
}

function coerce(raw: string, type: string | undefined): unknown {
  if ((type === 'integer' && /^-?\d+$/.test(raw)) || (type === 'number' && /^-?\d+(\.\d+)?$/.test(raw))) return Number(raw);
  if (type === 'boolean' && (raw === 'true' || raw === 'false')) return raw === 'true';
  return raw;
}

/** The type's schemas, fetched only when a `k=v` pair needs them. */
export function schemasOf(types: CredentialTypeInfo[], typeId: string): { config?: Json; secret?: Json } {
  const t = types.find((x) => x.id === typeId);
  return { ...(t?.config_schema ? { config: t.config_schema } : {}), ...(t?.secret_schema ? { secret: t.secret_schema } : {}) };
}

export const needsSchema = (pairs: FieldPair[][]): boolean => pairs.some((ps) => ps.some((p) => !p.json && !p.raw.startsWith('@')));
