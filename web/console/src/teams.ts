import { call, describe, sessionEnded } from './api.js';
import { h, show, when } from './dom.js';

interface Team {
  id: string;
  slug: string;
  name: string;
  created_at: string;
}
interface Folder {
  id: string;
  team_id: string;
  name: string;
  created_at: string;
}
interface Key {
  id: string;
  name: string;
  role: string;
  prefix: string;
}

/** Runs a change; on failure shows why in `error` (the session's end is already on screen). Resolves to whether it worked. */
async function attempt(error: HTMLElement, change: () => Promise<unknown>): Promise<boolean> {
  try {
    await change();
    return true;
  } catch (err) {
    if (!sessionEnded(err)) error.textContent = describe(err);
    return false;
  }
}

const field = (id: string, label: string, input: HTMLElement) => h('div', {}, h('label', { for: id }, label), input);
const failed = (title: string, err: unknown) => {
  if (!sessionEnded(err)) show(h('h1', {}, title), h('p', { class: 'error', role: 'alert' }, describe(err)));
};

/** The tenant's teams: create, delete (the API refuses a team that credentials or folders use). */
export async function teamsPage(): Promise<void> {
  let teams: Team[];
  try {
    teams = (await call<{ data: Team[] }>('GET', '/v1/teams')).data;
  } catch (err) {
    return failed('Teams', err);
  }
  const error = h('p', { class: 'error', role: 'alert' });
  const name = h('input', { id: 't-name', required: true, maxlength: '200' });
  const slug = h('input', { id: 't-slug', placeholder: 'from the name', pattern: '[a-z0-9_\\-]+' });
  const form = h(
    'form',
    {
      class: 'filters',
      onsubmit: async (e: Event) => {
        e.preventDefault();
        const body = slug.value ? { name: name.value, slug: slug.value } : { name: name.value };
        if (await attempt(error, () => call('POST', '/v1/teams', body))) await teamsPage();
      },
    },
    field('t-name', 'Team name', name),
    field('t-slug', 'Slug', slug),
    h('button', { type: 'submit' }, 'Create team'),
  );
  const remove = (t: Team) => async () => {
    if (await attempt(error, () => call('DELETE', `/v1/teams/${encodeURIComponent(t.id)}`))) await teamsPage();
  };
  show(
    h('h1', {}, 'Teams'),
    form,
    error,
    h('p', { class: 'muted' }, `${teams.length} team${teams.length === 1 ? '' : 's'}`),
    h(
      'table',
      { class: 'table', id: 'teams' },
      h('thead', {}, h('tr', {}, h('th', {}, 'Team'), h('th', {}, 'Slug'), h('th', {}, 'Created'), h('th', {}, ''))),
      h(
        'tbody',
        {},
        ...teams.map((t) =>
          h(
            'tr',
            { 'data-id': t.id },
            h('td', {}, h('a', { href: `#/teams/${encodeURIComponent(t.id)}` }, t.name)),
            h('td', {}, t.slug),
            h('td', {}, when(t.created_at)),
            h('td', {}, h('button', { type: 'button', class: 'plain', 'aria-label': `Delete team ${t.name}`, onclick: remove(t) }, 'Delete')),
          ),
        ),
      ),
    ),
  );
}

/**
 * One team: its members (access keys; a key's role is its role in the tenant, a team adds what the
 * key may see, not what it may do) and its folders.
 */
export async function teamPage(id: string): Promise<void> {
  const path = `/v1/teams/${encodeURIComponent(id)}`;
  let team: Team;
  let members: Key[];
  let keys: Key[];
  let folders: Folder[];
  try {
    [team, members, keys, folders] = await Promise.all([
      call<Team>('GET', path),
      call<{ data: Key[] }>('GET', `${path}/members`).then((r) => r.data),
      call<{ data: Key[] }>('GET', '/v1/access-keys?per_page=100').then((r) => r.data),
      call<{ data: Folder[] }>('GET', '/v1/folders').then((r) => r.data.filter((f) => f.team_id === id)),
    ]);
  } catch (err) {
    return failed('Team', err);
  }
  const again = () => teamPage(id);
  const error = h('p', { class: 'error', role: 'alert' });
  const inTeam = new Set(members.map((m) => m.id));
  const candidates = keys.filter((k) => !inTeam.has(k.id));
  const key = h('select', { id: 'm-key' }, ...candidates.map((k) => h('option', { value: k.id }, `${k.name} (${k.role}, ${k.prefix}…)`)));
  const addMember = h(
    'form',
    {
      class: 'filters',
      onsubmit: async (e: Event) => {
        e.preventDefault();
        if (key.value && (await attempt(error, () => call('PUT', `${path}/members/${encodeURIComponent(key.value)}`)))) await again();
      },
    },
    field('m-key', 'Access key', key),
    h('button', { type: 'submit', disabled: candidates.length === 0 }, 'Add member'),
  );
  const folderName = h('input', { id: 'f-folder', required: true, maxlength: '200' });
  const addFolder = h(
    'form',
    {
      class: 'filters',
      onsubmit: async (e: Event) => {
        e.preventDefault();
        if (await attempt(error, () => call('POST', '/v1/folders', { name: folderName.value, team_id: id }))) await again();
      },
    },
    field('f-folder', 'Folder name', folderName),
    h('button', { type: 'submit' }, 'Create folder'),
  );
  const act = (method: string, url: string) => async () => {
    if (await attempt(error, () => call(method, url))) await again();
  };
  show(
    h('p', {}, h('a', { href: '#/teams' }, 'All teams')),
    h('h1', { id: 'team-name' }, team.name),
    h('p', { class: 'muted' }, `slug ${team.slug}`),
    error,
    h(
      'section',
      {},
      h('h2', {}, 'Members'),
      addMember,
      h(
        'table',
        { class: 'table', id: 'members' },
        h('thead', {}, h('tr', {}, h('th', {}, 'Access key'), h('th', {}, 'Role'), h('th', {}, 'Key starts'), h('th', {}, ''))),
        h(
          'tbody',
          {},
          ...members.map((m) =>
            h(
              'tr',
              { 'data-id': m.id },
              h('td', {}, m.name),
              h('td', {}, m.role),
              h('td', {}, m.prefix),
              h(
                'td',
                {},
                h(
                  'button',
                  { type: 'button', class: 'plain', 'aria-label': `Remove ${m.name}`, onclick: act('DELETE', `${path}/members/${encodeURIComponent(m.id)}`) },
                  'Remove',
                ),
              ),
            ),
          ),
        ),
      ),
      members.length === 0 ? h('p', { class: 'muted' }, 'No members yet.') : null,
    ),
    h(
      'section',
      {},
      h('h2', {}, 'Folders'),
      addFolder,
      h(
        'table',
        { class: 'table', id: 'folders' },
        h('thead', {}, h('tr', {}, h('th', {}, 'Folder'), h('th', {}, 'Created'), h('th', {}, ''))),
        h(
          'tbody',
          {},
          ...folders.map((f) =>
            h(
              'tr',
              { 'data-id': f.id },
              h('td', {}, f.name),
              h('td', {}, when(f.created_at)),
              h(
                'td',
                {},
                h(
                  'button',
                  {
                    type: 'button',
                    class: 'plain',
                    'aria-label': `Delete folder ${f.name}`,
                    onclick: act('DELETE', `/v1/folders/${encodeURIComponent(f.id)}`),
                  },
                  'Delete',
                ),
              ),
            ),
          ),
        ),
      ),
    ),
  );
}
