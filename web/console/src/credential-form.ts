import { accessFields, type Stored } from './access-fields.js';
import { ApiError, call, describe, send, sessionEnded, type Session } from './api.js';
import { h, show } from './dom.js';
import { flash } from './notice.js';
import { presetPicker, presets } from './oauth-connect.js';
import { type Field, field, showIssues } from './schema-form.js';
import { type TypeFields, typeFields } from './type-fields.js';
import { type CredentialType, credentialTypes } from './type-rules.js';

/**
 * Create and edit a credential from its type's JSON Schema (`GET /v1/credential-types`). The form
 * is `novalidate`: the API is the one judge, and its 422 details land on the fields they name.
 * Edit sends only what changed (PATCH merges config and secret), with `If-Match` set to the
 * ETag the form was made from, so someone else's change in between is a clear conflict. Team,
 * folder, sharing, allowed hosts, expiry and the test credential come from access-fields.ts.
 */
const back = (id?: string) =>
  h('p', {}, h('a', { href: id ? `#/credentials/${encodeURIComponent(id)}` : '#/credentials' }, id ? '← Credential' : '← Credentials'));

function failed(err: unknown): void {
  if (!sessionEnded(err)) show(back(), h('p', { class: 'error', role: 'alert' }, describe(err)));
}

const NAME = { type: 'string', description: 'How people find it; the slug is made from it.' };
const DESCRIPTION = { type: 'string', maxLength: 8192, description: 'What it is for (optional).' };

/** Shown once: a secret the server made for a generatable type (create, or rotate without a value). */
export function generatedOnce(secret: Record<string, unknown>, next: HTMLElement): HTMLElement {
  return h(
    'div',
    { id: 'generated', role: 'status' },
    h('p', {}, 'The server made this secret. Copy it now: it is shown this once.'),
    ...Object.entries(secret).map(([k, v]) =>
      h(
        'div',
        {},
        h('strong', {}, `${k}: `),
        h('span', { class: 'secret' }, String(v)),
        ' ',
        h('button', { type: 'button', class: 'plain', onclick: () => void navigator.clipboard.writeText(String(v)) }, `Copy ${k}`),
      ),
    ),
    next,
  );
}

export async function newCredentialPage(params: URLSearchParams): Promise<void> {
  let types: CredentialType[];
  try {
    types = await credentialTypes();
  } catch (err) {
    failed(err);
    return;
  }
  const chosen = types.find((t) => t.id === params.get('type')) ?? types.find((t) => t.id === 'smtp') ?? types[0];
  if (!chosen) return;
  const type = h('select', { id: 'c-type' }, ...types.map((t) => h('option', { value: t.id, selected: t.id === chosen.id }, `${t.title} (${t.id})`)));
  type.addEventListener('change', () => {
    location.hash = `#/credentials/new?type=${encodeURIComponent(type.value)}`;
  });
  const name = field('name', NAME, { required: true });
  const description = field('description', DESCRIPTION);
  const section = typeFields(chosen);
  const picker = chosen.id === 'oauth2' ? presetPicker(await presets(), section.fields, section.refresh) : null;
  const access = await accessFields(chosen);
  const general = h('p', { class: 'error', role: 'alert', id: 'form-error' });
  const all = () => [name, description, ...section.fields, ...access.fields()];
  const form = h(
    'form',
    {
      class: 'credential-form',
      novalidate: true,
      onsubmit: async (e: Event) => {
        e.preventDefault();
        const v = section.read();
        const a = access.read();
        const issues = [...v.issues, ...a.issues];
        if (issues.length > 0) return showIssues(all(), general, new ApiError(422, 'VALIDATION_FAILED', 'Check the fields marked below', issues));
        const body: Record<string, unknown> = { name: name.read() ?? '', type: chosen.id, config: v.config, ...a.body };
        const d = description.read();
        if (d !== undefined) body.description = d;
        if (Object.keys(v.secret).length > 0) body.secret = v.secret;
        const provider = picker?.value();
        if (provider) body.provider = provider;
        try {
          const made = await call<Stored & { generated_secret?: Record<string, unknown> }>('POST', '/v1/credentials', body);
          const open = h('p', {}, h('a', { href: `#/credentials/${encodeURIComponent(made.id)}` }, `Open ${made.name}`));
          if (made.generated_secret) show(h('h1', {}, 'Credential created'), generatedOnce(made.generated_secret, open));
          else {
            flash(`Created ${made.name}.`);
            location.hash = `#/credentials/${encodeURIComponent(made.id)}`;
          }
        } catch (err) {
          if (!sessionEnded(err)) showIssues(all(), general, err);
        }
      },
    },
    h('div', { class: 'field' }, h('label', { for: 'c-type' }, 'Type'), type, h('span', { class: 'hint' }, chosen.description)),
    name.wrap,
    description.wrap,
    picker?.el,
    section.el,
    access.el,
    general,
    h('button', { type: 'submit' }, 'Create credential'),
  );
  show(back(), h('h1', {}, 'New credential'), form);
}

/** An empty input, an unticked box and an empty list all stand for a value that is not stored. */
const blank = (v: unknown) => v === undefined || v === null || v === '' || v === false || (Array.isArray(v) && v.length === 0);

/** The changes to send: config fields in view that differ from what is stored (emptied: null, which PATCH reads as "remove"). */
function configChanges(stored: Record<string, unknown>, v: ReturnType<TypeFields['read']>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of v.shown) {
    const now = v.config[k];
    if (JSON.stringify(now) === JSON.stringify(stored[k]) || (blank(now) && blank(stored[k]))) continue;
    out[k] = now === undefined ? null : now;
  }
  return out;
}

export async function editCredentialPage(id: string, _session: Session): Promise<void> {
  let c: Stored;
  let etag: string | null;
  let t: CredentialType | undefined;
  try {
    const [got, types] = await Promise.all([send<Stored>('GET', `/v1/credentials/${encodeURIComponent(id)}`), credentialTypes()]);
    c = got.body;
    etag = got.etag;
    t = types.find((x) => x.id === c.type);
  } catch (err) {
    failed(err);
    return;
  }
  if (!t) return failed(new Error(`unknown type ${c.type}`));
  const name = field('name', NAME, { value: c.name, required: true });
  const description = field('description', DESCRIPTION, { value: c.description });
  const section = typeFields(t, { config: c.config, stored: c.secret_fields });
  const access = await accessFields(t, c);
  const general = h('div', { class: 'error', role: 'alert', id: 'form-error' });
  const all = (): Field[] => [name, description, ...section.fields, ...access.fields()];
  const form = h(
    'form',
    {
      class: 'credential-form',
      novalidate: true,
      onsubmit: async (e: Event) => {
        e.preventDefault();
        const v = section.read();
        const a = access.read();
        const issues = [...v.issues, ...a.issues];
        if (issues.length > 0) return showIssues(all(), general, new ApiError(422, 'VALIDATION_FAILED', 'Check the fields marked below', issues));
        const patch: Record<string, unknown> = { ...a.body };
        const n = name.read();
        if (n !== c.name) patch.name = n ?? '';
        const d = description.read() ?? '';
        if (d !== c.description) patch.description = d;
        const config = configChanges(c.config, v);
        if (Object.keys(config).length > 0) patch.config = config;
        if (Object.keys(v.secret).length > 0) patch.secret = v.secret;
        if (Object.keys(patch).length === 0) {
          location.hash = `#/credentials/${encodeURIComponent(id)}`;
          return;
        }
        try {
          await send('PATCH', `/v1/credentials/${encodeURIComponent(id)}`, patch, etag);
          flash(patch.secret ? 'Saved: the new secret is the current version.' : 'Saved.');
          location.hash = `#/credentials/${encodeURIComponent(id)}`;
        } catch (err) {
          if (sessionEnded(err)) return;
          if (err instanceof ApiError && err.status === 412) {
            for (const f of all()) f.setError('');
            general.replaceChildren(
              h(
                'p',
                { id: 'conflict' },
                'Conflict: someone changed this credential after you opened this form, so nothing was saved. Your edits are still in the form.',
              ),
              h('button', { type: 'button', class: 'plain', onclick: () => void editCredentialPage(id, _session) }, 'Load the current version'),
            );
            return;
          }
          showIssues(all(), general, err);
        }
      },
    },
    h('p', { class: 'muted' }, `${t.title} (${t.id}). Stored secrets are never shown here: replace one to change it.`),
    name.wrap,
    description.wrap,
    section.el,
    access.el,
    general,
    h('button', { type: 'submit' }, 'Save changes'),
  );
  show(back(id), h('h1', {}, `Edit ${c.name}`), form);
}
