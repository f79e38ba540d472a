import { call, describe, sessionEnded } from './api.js';
import { h, pager, show, when } from './dom.js';

export interface Credential {
  id: string;
  name: string;
  slug: string;
  type: string;
  status: 'active' | 'inactive' | 'deactivated';
  description: string;
  expires_at: string | null;
  rotation_due: boolean;
  next_rotation_at: string | null;
  last_error: string | null;
  last_used_at: string | null;
  updated_at: string;
  created_at: string;
  team_id: string | null;
  folder_id: string | null;
  integration_id: string | null;
  provider: string | null;
  config: Record<string, unknown>;
  metadata: Record<string, unknown>;
  secret_fields: string[];
  version: number;
  allowed_hosts: string[];
  read_access: string;
  created_by: { name: string };
  modified_by: { name: string };
}
interface Page {
  data: Credential[];
  next_cursor: string | null;
  total: number;
}

const SOON_MS = 14 * 86_400_000;
const PER_PAGE = 25;

/** Status, expiry, rotation and refresh health as badges: what needs a person's attention first. */
export function badges(c: Credential): HTMLElement {
  const out = h('span', {});
  out.append(h('span', { class: `badge ${c.status === 'active' ? 'ok' : c.status === 'inactive' ? 'warn' : 'bad'}` }, c.status));
  if (c.expires_at !== null) {
    const left = Date.parse(c.expires_at) - Date.now();
    if (left <= 0) out.append(h('span', { class: 'badge bad' }, 'expired'));
    else if (left < SOON_MS) out.append(h('span', { class: 'badge warn' }, 'expiring soon'));
  }
  if (c.rotation_due) out.append(h('span', { class: 'badge warn' }, 'rotation due'));
  if (c.last_error !== null) out.append(h('span', { class: 'badge bad', title: c.last_error }, 'refresh failing'));
  return out;
}

export async function credentialsList(params: URLSearchParams): Promise<void> {
  let types: { data: Array<{ id: string; title: string }> };
  try {
    types = await call('GET', '/v1/credential-types');
  } catch (err) {
    if (sessionEnded(err)) return;
    types = { data: [] };
  }
  const query = new URLSearchParams({ per_page: String(PER_PAGE) });
  for (const [param, filter] of [
    ['name', 'filter[name]'],
    ['type', 'filter[type]'],
    ['status', 'filter[status]'],
  ] as const) {
    const v = params.get(param);
    if (v) query.set(filter, v);
  }
  if (params.get('rotation_due') === 'true') query.set('filter[rotation_due]', 'true');
  const cursor = params.get('cursor');
  if (cursor) query.set('cursor', cursor);

  const name = h('input', { id: 'f-name', type: 'search', value: params.get('name') ?? '', placeholder: 'part of a name' });
  const type = h(
    'select',
    { id: 'f-type' },
    h('option', { value: '' }, 'any'),
    ...types.data.map((t) => h('option', { value: t.id, selected: params.get('type') === t.id }, t.id)),
  );
  const status = h(
    'select',
    { id: 'f-status' },
    ...['', 'active', 'inactive', 'deactivated'].map((s) => h('option', { value: s, selected: (params.get('status') ?? '') === s }, s || 'any')),
  );
  const due = h('input', { id: 'f-due', type: 'checkbox', checked: params.get('rotation_due') === 'true' });
  const filters = h(
    'form',
    {
      class: 'filters',
      role: 'search',
      onsubmit: (e: Event) => {
        e.preventDefault();
        const next = new URLSearchParams();
        if (name.value) next.set('name', name.value);
        if (type.value) next.set('type', type.value);
        if (status.value) next.set('status', status.value);
        if (due.checked) next.set('rotation_due', 'true');
        location.hash = `#/credentials?${next}`;
      },
    },
    h('div', {}, h('label', { for: 'f-name' }, 'Name'), name),
    h('div', {}, h('label', { for: 'f-type' }, 'Type'), type),
    h('div', {}, h('label', { for: 'f-status' }, 'Status'), status),
    h('div', {}, h('label', { for: 'f-due' }, 'Rotation due'), due),
    h('button', { type: 'submit' }, 'Filter'),
  );

  let page: Page;
  try {
    page = await call<Page>('GET', `/v1/credentials?${query}`);
  } catch (err) {
    if (sessionEnded(err)) return;
    show(h('h1', {}, 'Credentials'), filters, h('p', { class: 'error', role: 'alert' }, describe(err)));
    return;
  }
  const rows = page.data.map((c) =>
    h(
      'tr',
      { 'data-id': c.id },
      h('td', {}, h('a', { href: `#/credentials/${encodeURIComponent(c.id)}` }, c.name)),
      h('td', {}, c.type),
      h('td', {}, badges(c)),
      h('td', {}, when(c.expires_at)),
      h('td', {}, when(c.updated_at)),
    ),
  );
  show(
    h('h1', {}, 'Credentials'),
    filters,
    h('p', { class: 'muted' }, `${page.total} credential${page.total === 1 ? '' : 's'}`),
    h(
      'table',
      { class: 'table' },
      h('thead', {}, h('tr', {}, h('th', {}, 'Name'), h('th', {}, 'Type'), h('th', {}, 'Status'), h('th', {}, 'Expires'), h('th', {}, 'Updated'))),
      h('tbody', {}, ...rows),
    ),
    pager('credentials', params, page.next_cursor),
  );
}
