import { h } from './dom.js';
import { type Field, FieldError, field, type Issue } from './schema-form.js';
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
  /** Only the secret fieldset (rotation). */
  secretOnly?: boolean;
}

export function typeFields(t: CredentialType, o: TypeFieldsOptions = {}): TypeFields {
  const editing = o.stored !== undefined;
  const config = o.secretOnly
    ? []
    : Object.entries(t.config_schema.properties).map(([name, s]) => field(`config.${name}`, s, o.config ? { value: o.config[name] ?? null } : {}));
  const replacing = new Map<Field, boolean>();
  const secret = Object.entries(t.secret_schema.properties).map(([name, s]) => {
    const f = field(`secret.${name}`, s, { secret: true });
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
      f.wrap.hidden = r.hidden.has(f.path);
      // A stored secret that is kept satisfies its requirement: nothing more to type.
      f.setRequired(r.required.has(f.path) && !(replacing.has(f) && !replacing.get(f) && o.stored?.includes(nameOf(f))));
    }
  }

  const generated = t.capabilities.generatable && !editing ? h('p', { class: 'hint' }, 'Leave the secret empty and the server makes one (shown once).') : null;
  const el = h(
    'div',
    { class: 'type-fields', oninput: refresh, onchange: refresh },
    config.length > 0 ? h('fieldset', {}, h('legend', {}, 'Configuration'), ...config.map((f) => f.wrap)) : null,
    secret.length > 0 ? h('fieldset', {}, h('legend', {}, 'Secret'), generated, ...secret.map((f) => f.wrap)) : null,
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
          if (v !== undefined) (f.path.startsWith('secret.') ? out.secret : out.config)[nameOf(f)] = v;
        } catch (err) {
          if (err instanceof FieldError) out.issues.push({ path: f.path, message: err.message });
        }
      }
      return out;
    },
  };
}
