import { call, describe, sessionEnded, type Session } from './api.js';
import { h, show, when } from './dom.js';

interface AccessKey {
  id: string;
  name: string;
  role: string;
  prefix: string;
  last_used_at: string | null;
  expires_at: string | null;
  created_at: string;
}

const ROLES = ['owner', 'admin', 'integration_admin', 'member', 'viewer', 'service'];

/** Access keys: list, issue (the key is shown once, with a copy button), revoke. */
export async function accessKeys(session: Session): Promise<void> {
  let keys: AccessKey[];
  try {
    keys = (await call<{ data: AccessKey[] }>('GET', '/v1/access-keys?per_page=100')).data;
  } catch (err) {
    if (sessionEnded(err)) return;
    show(h('h1', {}, 'Access keys'), h('p', { class: 'error', role: 'alert' }, describe(err)));
    return;
  }
  const issued = h('div', { id: 'issued', 'aria-live': 'polite' });
  const error = h('p', { class: 'error', role: 'alert' });
  const name = h('input', { id: 'k-name', required: true });
  const role = h('select', { id: 'k-role' }, ...ROLES.map((r) => h('option', { value: r, selected: r === 'viewer' }, r)));
  const form = h(
    'form',
    {
      class: 'filters',
      onsubmit: async (e: Event) => {
        e.preventDefault();
        try {
          const made = await call<AccessKey & { key: string }>('POST', '/v1/access-keys', { name: name.value, role: role.value });
          issued.replaceChildren(
            h('p', {}, `Issued "${made.name}". Copy the key now: it is shown this once.`),
            h('span', { class: 'secret', id: 'new-key' }, made.key),
            ' ',
            h('button', { type: 'button', class: 'plain', onclick: () => void navigator.clipboard.writeText(made.key) }, 'Copy key'),
            ' ',
            h('button', { type: 'button', class: 'plain', onclick: () => void accessKeys(session) }, 'Done'),
          );
          error.textContent = '';
        } catch (err) {
          if (!sessionEnded(err)) error.textContent = describe(err);
        }
      },
    },
    h('div', {}, h('label', { for: 'k-name' }, 'Name'), name),
    h('div', {}, h('label', { for: 'k-role' }, 'Role'), role),
    h('button', { type: 'submit' }, 'Issue key'),
  );

  const revoke = (k: AccessKey) => async () => {
    try {
      await call('DELETE', `/v1/access-keys/${encodeURIComponent(k.id)}`);
      await accessKeys(session);
    } catch (err) {
      if (!sessionEnded(err)) error.textContent = describe(err);
    }
  };
  show(
    h('h1', {}, 'Access keys'),
    form,
    issued,
    error,
    h(
      'table',
      { class: 'table', id: 'keys' },
      h(
        'thead',
        {},
        h('tr', {}, h('th', {}, 'Name'), h('th', {}, 'Role'), h('th', {}, 'Key starts'), h('th', {}, 'Last used'), h('th', {}, 'Expires'), h('th', {}, '')),
      ),
      h(
        'tbody',
        {},
        ...keys.map((k) =>
          h(
            'tr',
            { 'data-id': k.id },
            h('td', {}, k.name, k.id === session.principal.id ? h('span', { class: 'badge ok' }, 'you') : null),
            h('td', {}, k.role),
            h('td', {}, k.prefix),
            h('td', {}, when(k.last_used_at)),
            h('td', {}, when(k.expires_at)),
            h('td', {}, h('button', { type: 'button', class: 'plain', 'aria-label': `Revoke ${k.name}`, onclick: revoke(k) }, 'Revoke')),
          ),
        ),
      ),
    ),
  );
}
