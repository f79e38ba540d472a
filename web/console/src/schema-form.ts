import { ApiError } from './api.js';
import { h } from './dom.js';
import type { PropSchema } from './type-rules.js';

/**
 * Form fields made from a JSON Schema property: enums as selects, booleans as checkboxes, numbers
 * and lists as text (what was typed is sent as typed when it is not a number, so the server's 422
 * names the field), objects as JSON. Every input has a label, a hint from the schema's
 * description, and an error line the input points at (aria-describedby, aria-invalid).
 */
export type Input = HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement;

export interface Field {
  /** "name", "config.port", "secret.password". */
  path: string;
  wrap: HTMLElement;
  input: Input;
  label: HTMLLabelElement;
  /** The value to send; undefined when empty. Throws FieldError for text that cannot be read (bad JSON). */
  read(): unknown;
  setError(message: string): void;
  setRequired(on: boolean): void;
}

export class FieldError extends Error {}

const NUMBER = /^\s*-?\d+(\.\d+)?([eE][+-]?\d+)?\s*$/;

export function labelOf(name: string): string {
  const words = name.replace(/_/g, ' ');
  return words.charAt(0).toUpperCase() + words.slice(1);
}

function kindOf(s: PropSchema): 'enum' | 'boolean' | 'number' | 'list' | 'json' | 'long' | 'text' {
  const types = Array.isArray(s.type) ? s.type.filter((t) => t !== 'null') : [s.type];
  if (s.enum) return 'enum';
  if (types.length !== 1) return 'json';
  const t = types[0];
  if (t === 'boolean') return 'boolean';
  if (t === 'integer' || t === 'number') return 'number';
  if (t === 'array') return s.items?.type === 'string' ? 'list' : 'json';
  if (t === 'object') return 'json';
  return (s.maxLength ?? 0) > 4096 ? 'long' : 'text';
}

/** What a stored value looks like in its input. */
function shown(kind: ReturnType<typeof kindOf>, v: unknown): string {
  if (v === undefined || v === null) return '';
  if (kind === 'list' && Array.isArray(v)) return v.join(', ');
  if (kind === 'json') return JSON.stringify(v, null, 2);
  return String(v);
}

export interface FieldOptions {
  value?: unknown;
  secret?: boolean;
  required?: boolean;
  /** Shown in place of the schema's description. */
  hint?: string;
  /** Shown in place of the label made from the path. */
  label?: string;
}

export function field(path: string, schema: PropSchema, o: FieldOptions = {}): Field {
  const id = `f-${path.replace(/\W/g, '-')}`;
  const kind = kindOf(schema);
  const value = o.value === undefined ? schema.default : o.value;
  let input: Input;
  if (kind === 'enum') {
    const options = (schema.enum ?? []).map((e) => h('option', { value: String(e), selected: e === value }, String(e)));
    input = h('select', { id }, value === undefined || value === null ? h('option', { value: '' }, '—') : null, ...options);
  } else if (kind === 'boolean') {
    input = h('input', { id, type: 'checkbox', checked: value === true });
  } else if (kind === 'json' || kind === 'long') {
    input = h('textarea', { id, rows: kind === 'json' ? '3' : '5', spellcheck: 'false' });
    if (!o.secret) input.value = shown(kind, value);
  } else {
    input = h('input', {
      id,
      type: o.secret ? 'password' : 'text',
      autocomplete: o.secret ? 'new-password' : 'off',
      spellcheck: 'false',
      inputmode: kind === 'number' ? (schema.type === 'integer' ? 'numeric' : 'decimal') : undefined,
    });
    // A secret is never put into a page: its input starts empty.
    if (!o.secret) input.value = shown(kind, value);
  }
  const hint = (o.hint ?? schema.description ?? '') + (kind === 'list' ? ' Separate with commas.' : '');
  const f = shell(path, input, o.label ?? labelOf(path.split('.').pop() ?? path), hint.trim(), () => {
    if (input instanceof HTMLInputElement && input.type === 'checkbox') return input.checked;
    const text = input.value;
    if (text.trim() === '') return undefined;
    if (kind === 'number') return NUMBER.test(text) ? Number(text) : text;
    if (kind === 'list')
      return text
        .split(',')
        .map((x) => x.trim())
        .filter((x) => x !== '');
    if (kind === 'json') {
      try {
        return JSON.parse(text) as unknown;
      } catch {
        throw new FieldError('is not valid JSON');
      }
    }
    return kind === 'text' && !o.secret ? text.trim() : text;
  });
  f.setRequired(o.required === true);
  return f;
}

/**
 * The frame every input sits in: a label, a hint and an error line the input points at
 * (aria-describedby, aria-invalid); `read` turns what was typed into the value to send.
 */
export function shell(path: string, input: Input, labelText: string, hintText: string, read: () => unknown): Field {
  const id = input.id;
  const hint = hintText ? h('span', { class: 'hint', id: `${id}-hint` }, hintText) : null;
  const error = h('span', { class: 'field-error', id: `${id}-error` });
  input.setAttribute('aria-describedby', `${hint ? `${id}-hint ` : ''}${id}-error`);
  const mark = h('span', { class: 'req' });
  const label = h('label', { for: id }, labelText, mark);
  const check = input instanceof HTMLInputElement && input.type === 'checkbox';
  const wrap = h('div', { class: `field${check ? ' check' : ''}`, 'data-path': path }, label, input, hint, error);
  return {
    path,
    wrap,
    input,
    label,
    read,
    setError(message) {
      error.textContent = message;
      if (message) input.setAttribute('aria-invalid', 'true');
      else input.removeAttribute('aria-invalid');
    },
    setRequired(on) {
      mark.textContent = on ? ' (required)' : '';
      if (on) input.setAttribute('aria-required', 'true');
      else input.removeAttribute('aria-required');
    },
  };
}

export interface Issue {
  path: string;
  message: string;
}

/**
 * Puts the API's 422 details (`[{ path: "config.port", message }]`) on the fields they name;
 * what names no field (a whole object, a nested item) goes to `general`, and focus moves to the
 * first field in error.
 */
export function showIssues(fields: Field[], general: HTMLElement, err: unknown): void {
  for (const f of fields) f.setError('');
  general.replaceChildren();
  if (!(err instanceof ApiError) || !Array.isArray(err.details)) {
    general.append(err instanceof ApiError ? `${err.message}${typeof err.details === 'string' ? ` (${err.details})` : ''}` : 'The request failed');
    return;
  }
  const loose: string[] = [];
  for (const d of err.details as Issue[]) {
    const f = fields.find((x) => x.path === d.path) ?? fields.find((x) => d.path.startsWith(`${x.path}.`) || d.path.startsWith(`${x.path}[`));
    if (f && !f.wrap.hidden) f.setError(`${f.label.firstChild?.textContent ?? f.path} ${d.message}${f.path === d.path ? '' : ` (${d.path})`}`);
    else loose.push(`${d.path} ${d.message}`);
  }
  general.append(err.message, ...loose.map((l) => h('span', { class: 'issue' }, l)));
  fields.find((f) => f.input.getAttribute('aria-invalid') === 'true')?.input.focus();
}
