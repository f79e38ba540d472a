import { call } from './api.js';

/**
 * The type catalog as `GET /v1/credential-types` gives it, and which fields a form requires or
 * shows for the values typed so far: the config schema's if/then/else (also inside allOf) and the
 * type's `rules` (requirements spanning config and secret), read the way the server checks them.
 * The server stays the judge (its 422 is shown on the field it names); this only guides.
 */
export interface PropSchema {
  type?: string | string[];
  enum?: unknown[];
  const?: unknown;
  default?: unknown;
  description?: string;
  format?: string;
  maxLength?: number;
  items?: PropSchema;
}
interface Branch {
  properties?: Record<string, PropSchema>;
  required?: string[];
}
export interface ObjectSchema extends Branch {
  properties: Record<string, PropSchema>;
  if?: Branch;
  then?: Branch;
  else?: Branch;
  allOf?: Array<{ if?: Branch; then?: Branch; else?: Branch }>;
}
type Scalar = string | number | boolean | null;
type Condition = { equals: Scalar } | { not: Scalar } | { in: Scalar[] };
export interface Rule {
  when?: Record<string, Condition>;
  require?: string[];
  require_one_of?: string[];
}
export interface CredentialType {
  id: string;
  title: string;
  description: string;
  config_schema: ObjectSchema;
  secret_schema: ObjectSchema;
  secret_fields: string[];
  capabilities: { rotatable: boolean; refreshable: boolean; generatable: boolean; verifiable: boolean };
  rules: Rule[];
  aim_fields: string[];
}

let catalog: Promise<CredentialType[]> | null = null;

/** The catalog is the server's start-up data: read once per page load. */
export function credentialTypes(): Promise<CredentialType[]> {
  catalog ??= call<{ data: CredentialType[] }>('GET', '/v1/credential-types').then(
    (r) => r.data,
    (err: unknown) => {
      catalog = null;
      throw err;
    },
  );
  return catalog;
}

export interface Values {
  config: Record<string, unknown>;
  /** Which secret fields hold a value (typed now, or already stored). */
  secret: Record<string, boolean>;
}

export interface Requirements {
  /** Paths ("config.username", "secret.password") required for these values. */
  required: Set<string>;
  /** Paths that only matter under a condition that does not hold now. */
  hidden: Set<string>;
}

/** The schema's own if/then/else and those inside its allOf. */
function conditionals(s: ObjectSchema): Array<{ if?: Branch; then?: Branch; else?: Branch }> {
  return [s, ...(s.allOf ?? [])];
}

/** JSON Schema `if` over config: a property absent from the values takes its default; one absent anyway passes unless required. */
function ifHolds(branch: Branch, config: Record<string, unknown>, props: Record<string, PropSchema>): boolean {
  for (const [name, cond] of Object.entries(branch.properties ?? {})) {
    const value = config[name] ?? props[name]?.default;
    if (value === undefined) {
      if (branch.required?.includes(name)) return false;
      continue;
    }
    if ('const' in cond && value !== cond.const) return false;
    if (cond.enum && !cond.enum.includes(value)) return false;
  }
  return true;
}

function holds(c: Condition, value: unknown): boolean {
  if ('equals' in c) return value === c.equals;
  if ('not' in c) return value !== c.not;
  return c.in.some((v) => v === value);
}

export function requirements(t: CredentialType, v: Values): Requirements {
  const props = t.config_schema.properties;
  const always = new Set([...(t.config_schema.required ?? []).map((n) => `config.${n}`), ...(t.secret_schema.required ?? []).map((n) => `secret.${n}`)]);
  const required = new Set(always);
  const conditional = new Set<string>();
  for (const c of conditionals(t.config_schema)) {
    for (const n of [...(c.then?.required ?? []), ...(c.else?.required ?? [])]) conditional.add(`config.${n}`);
    const branch = c.if && ifHolds(c.if, v.config, props) ? c.then : c.else;
    for (const n of branch?.required ?? []) required.add(`config.${n}`);
  }
  const read = (path: string): unknown => {
    const [root, name = ''] = path.split('.');
    return root === 'secret' ? v.secret[name] === true || undefined : (v.config[name] ?? props[name]?.default);
  };
  for (const rule of t.rules) {
    const when = Object.entries(rule.when ?? {});
    const wanted = [...(rule.require ?? []), ...(rule.require_one_of ?? [])];
    if (when.length > 0) for (const p of wanted) conditional.add(p);
    if (!when.every(([path, c]) => holds(c, read(path)))) continue;
    for (const p of rule.require ?? []) required.add(p);
    // One of several: none is required alone, all stay in view.
    for (const p of rule.require_one_of ?? []) conditional.delete(p);
  }
  const hidden = new Set([...conditional].filter((p) => !required.has(p) && !always.has(p)));
  return { required, hidden };
}
