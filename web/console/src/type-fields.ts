import { h } from './dom.js';
import { type Field, FieldError, field, type Issue, labelOf } from './schema-form.js';
import { type CredentialType, requirements } from './type-rules.js';

/**
 * A type's config and secret as two fieldsets. Secrets are write-only: on a new credential each
 * secret field is an empty input; on an existing one it shows "set" or "not set" with a Replace
 * button that opens an empty input (the page never receives a stored secret). Fields are shown
 * and marked required as the catalog's conditions say for the values typed so far.
 */
export interface TypeFields {
  el: HTMLElement;
  fields: Field[];
  /** Config and secret as typed (shown fields only; `shown` names the config fields in view); `issues`: what could not be read (bad JSON). */
  read(): { config: Record<string, unknown>; secret: Record<string, unknown>; shown: string[]; issues: Issue[] };
  refresh(): void;
}

export interface TypeFieldsOptions {
  config?: Record<string, unknown>;
  /** Secret fields already stored: the form is editing an existing credential. */
  stored?: string[];
  /** Only the secret fieldset (rotation, the test secret). */
  secretOnly?: boolean;
  /** Which secret the fields are for: `test_secret` labels them "Test …" (a test credential's own secret). */
  slot?: 'secret' | 'test_secret';
}

export function typeFields(t: CredentialType, o: TypeFieldsOptions = {}): TypeFields {
  const editing = o.stored !== undefined;
  const config = o.secretOnly
    ? []
    : Object.entries(t.config_schema.properties).map(([name, s]) => field(`config.${name}`, s, o.config ? { value: o.config[name] ?? null } : {}));
  const replacing = new Map<Field, boolean>();
  const slot = o.slot ?? 'secret';
  const secret = Object.entries(t.secret_schema.properties).map(([name, s]) => {
    const f = field(`${slot}.${name}`, s, { secret: true, ...(slot === 'test_secret' ? { label: `Test ${labelOf(name).toLowerCase()}` } : {}) });
    if (!editing) return f;
    const isSet = o.stored?.includes(name) === true;
    const state = h('span', { class: `badge ${isSet ? 'ok' : 'warn'}` }, isSet ? 'set' : 'not set');
    f.input.hidden = true;
    replacing.set(f, false);
    const toggle = h(
      'button',
      {
        type: 'button',
        class: 'plain',
        'aria-label': `${isSet ? 'Replace' : 'Set'} ${name}`,
        onclick: () => {
          const on = !replacing.get(f);
          replacing.set(f, on);
          f.input.hidden = !on;
          f.input.value = '';
          toggle.textContent = on ? 'Keep current' : isSet ? 'Replace' : 'Set';
          if (on) f.input.focus();
          refresh();
        },
      },
      isSet ? 'Replace' : 'Set',
    );
    f.label.after(h('div', { class: 'secret-state' }, state, ' ', toggle));
    return f;
  });
  const fields = [...config, ...secret];
  const nameOf = (f: Field) => f.path.split('.')[1] ?? '';
  const typed = (f: Field) => (replacing.has(f) ? replacing.get(f) === true : true);

  function lenient(f: Field): unknown {
    try {
      return f.read();
    } catch {
      return undefined;
    }
  }

  function refresh(): void {
    // Rotation shows the secret only: the stored config decides which secret fields apply.
    const cfg: Record<string, unknown> = o.secretOnly ? { ...o.config } : {};
    for (const f of config) cfg[nameOf(f)] = lenient(f);
    const present: Record<string, boolean> = {};
    for (const f of secret) present[nameOf(f)] = (typed(f) && lenient(f) !== undefined) || (editing && o.stored?.includes(nameOf(f)) === true);
    const r = requirements(t, { config: cfg, secret: present });
    for (const f of fields) {
      // The catalog's rules name `secret.…`; the test secret follows the same ones.
      const p = f.path.replace(/^test_secret\./, 'secret.');
      f.wrap.hidden = r.hidden.has(p);
      // A stored secret that is kept satisfies its requirement: nothing more to type.
      f.setRequired(r.required.has(p) && !(replacing.has(f) && !replacing.get(f) && o.stored?.includes(nameOf(f))));
    }
  }

  const generated =
    t.capabilities.generatable && !editing && slot === 'secret'
      ? h('p', { class: 'hint' }, 'Leave the secret empty and the server makes one (shown once).')
      : null;
  const el = h(
    'div',
    { class: 'type-fields', oninput: refresh, onchange: refresh },
    config.length > 0 ? h('fieldset', {}, h('legend', {}, 'Configuration'), ...config.map((f) => f.wrap)) : null,
    secret.length > 0 ? h('fieldset', {}, h('legend', {}, slot === 'secret' ? 'Secret' : 'Test secret'), generated, ...secret.map((f) => f.wrap)) : null,
  );
  refresh();
  return {
    el,
    fields,
    refresh,
    read() {
      const out = { config: {} as Record<string, unknown>, secret: {} as Record<string, unknown>, shown: [] as string[], issues: [] as Issue[] };
      for (const f of fields) {
        if (f.wrap.hidden || !typed(f)) continue;
        if (f.path.startsWith('config.')) out.shown.push(nameOf(f));
        try {
          const v = f.read();
          if (v !== undefined) (f.path.startsWith('config.') ? out.config : out.secret)[nameOf(f)] = v;
        } catch (err) {
          if (err instanceof FieldError) out.issues.push({ path: f.path, message: err.message });
        }
      }
      return out;
    },
  };
}
