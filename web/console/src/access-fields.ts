import { call } from './api.js';
import type { Credential } from './credentials-list.js';
import { h } from './dom.js';
import { type Field, field, type Issue, shell } from './schema-form.js';
import { typeFields } from './type-fields.js';
import type { CredentialType } from './type-rules.js';

/**
 * Who may read a credential and where it may be used, as the native API names them: team and
 * folder (selects of the tenant's teams and the chosen team's folders), `read_access` and the
 * teams it is shared with, `allowed_hosts` (one per line), `expires_at` (the browser's local
 * time, sent as UTC), and the test credential with its own write-only secret. On edit only what
 * differs from the stored credential is sent.
 */
export interface Stored extends Credential {
  shared_team_slugs: string[];
  test_credential_enabled: boolean;
}
interface Team {
  id: string;
  slug: string;
  name: string;
}
interface Folder {
  id: string;
  team_id: string;
  name: string;
}

export interface AccessFields {
  el: HTMLElement;
  /** The fields in view (the test secret's only while the box is ticked): where the API's 422 details land. */
  fields(): Field[];
  /** What to send; `issues`: what could not be read (bad JSON in a test secret field). */
  read(): { body: Record<string, unknown>; issues: Issue[] };
}

const READ_ACCESS: [string, string][] = [
  ['TEAM', 'The team (TEAM)'],
  ['GLOBAL', 'The whole tenant (GLOBAL)'],
  ['SPECIFIC_TEAMS', 'The team and the teams named below (SPECIFIC_TEAMS)'],
];

/** `2026-12-06T15:30` in the browser's time zone for an ISO instant (what a datetime-local input shows). */
function localInput(iso: string | null): string {
  if (!iso) return '';
  const d = new Date(iso);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** Teams and folders the key may list; a key that may not list them still sees (and keeps) the stored ones. */
async function listed<T>(path: string): Promise<T[]> {
  try {
    return (await call<{ data: T[] }>('GET', path)).data;
  } catch {
    return [];
  }
}

export async function accessFields(t: CredentialType, c?: Stored): Promise<AccessFields> {
  const [teams, folders] = await Promise.all([listed<Team>('/v1/teams'), listed<Folder>('/v1/folders')]);
  if (c?.team_id && !teams.some((x) => x.id === c.team_id)) teams.push({ id: c.team_id, slug: c.team_id, name: c.team_id });
  if (c?.folder_id && c.team_id && !folders.some((x) => x.id === c.folder_id)) folders.push({ id: c.folder_id, team_id: c.team_id, name: c.folder_id });

  const teamInput = h(
    'select',
    { id: 'f-team_id' },
    h('option', { value: '' }, 'None: the whole tenant'),
    ...teams.map((x) => h('option', { value: x.id, selected: x.id === c?.team_id }, `${x.name} (${x.slug})`)),
  );
  const team = shell('team_id', teamInput, 'Team', 'The team that owns it.', () => teamInput.value || null);
  const folderInput = h('select', { id: 'f-folder_id' });
  const folder = shell('folder_id', folderInput, 'Folder', "One of the team's folders (optional).", () => folderInput.value || null);
  const fillFolders = (selected: string | null) =>
    folderInput.replaceChildren(
      h('option', { value: '' }, 'None'),
      ...folders.filter((x) => x.team_id === teamInput.value).map((x) => h('option', { value: x.id, selected: x.id === selected }, x.name)),
    );
  fillFolders(c?.folder_id ?? null);

  const readInput = h(
    'select',
    { id: 'f-read_access' },
    c ? null : h('option', { value: '' }, 'Default: the team if one is chosen, else the whole tenant'),
    ...READ_ACCESS.map(([v, text]) => h('option', { value: v, selected: v === c?.read_access }, text)),
  );
  const readAccess = shell('read_access', readInput, 'Who may read it', '', () => readInput.value || undefined);
  const shared = field(
    'shared_team_slugs',
    { type: 'array', items: { type: 'string' } },
    {
      value: c?.shared_team_slugs ?? [],
      label: 'Shared with teams',
      hint: `Team slugs${teams.length > 0 ? ` (${teams.map((x) => x.slug).join(', ')})` : ''}.`,
    },
  );

  const hostsInput = h('textarea', { id: 'f-allowed_hosts', rows: '3', spellcheck: 'false' });
  hostsInput.value = (c?.allowed_hosts ?? []).join('\n');
  const hosts = shell(
    'allowed_hosts',
    hostsInput,
    'Allowed hosts',
    'One per line: a host name, `*.` in front for one label, `:port` behind. The proxy sends this credential only there.',
    () =>
      hostsInput.value
        .split('\n')
        .map((x) => x.trim())
        .filter((x) => x !== ''),
  );

  const expiresInput = h('input', { id: 'f-expires_at', type: 'datetime-local' });
  expiresInput.value = localInput(c?.expires_at ?? null);
  // A datetime-local value has no zone: the browser reads it as local time, the API gets UTC.
  const expires = shell('expires_at', expiresInput, 'Expires', 'In your time zone; empty: never.', () =>
    expiresInput.value ? new Date(expiresInput.value).toISOString() : null,
  );

  const testInput = h('input', { id: 'f-test_credential_enabled', type: 'checkbox', checked: c?.test_credential_enabled === true });
  const test = shell(
    'test_credential_enabled',
    testInput,
    'Test credential',
    'A second secret for tests, revealed and used on its own.',
    () => testInput.checked,
  );
  // A stored test secret is never sent to the page: with the box ticked, its fields show "set".
  const testSecret = typeFields(t, {
    secretOnly: true,
    slot: 'test_secret',
    ...(c ? { config: c.config, stored: c.test_credential_enabled ? c.secret_fields : [] } : {}),
  });
  // Out of the page while unticked: the test fields' labels stay off the live secret's.
  const testPlace = h('div', {});

  function sync(): void {
    shared.wrap.hidden = readInput.value !== 'SPECIFIC_TEAMS';
    folder.wrap.hidden = teamInput.value === '';
    if (testInput.checked && !testPlace.firstChild) testPlace.append(testSecret.el);
    if (!testInput.checked) testPlace.replaceChildren();
  }
  teamInput.addEventListener('change', () => {
    fillFolders(null);
    sync();
  });
  readInput.addEventListener('change', sync);
  testInput.addEventListener('change', sync);
  sync();

  const own = [team, folder, readAccess, shared, hosts, expires, test];
  const el = h('fieldset', { class: 'access-fields' }, h('legend', {}, 'Access'), ...own.map((f) => f.wrap), testPlace);
  return {
    el,
    fields: () => [...own, ...(testInput.checked ? testSecret.fields : [])],
    read() {
      const now: Record<string, unknown> = {
        team_id: team.read(),
        folder_id: folderInput.value === '' || folder.wrap.hidden ? null : folderInput.value,
        read_access: readAccess.read(),
        shared_team_slugs: shared.wrap.hidden ? [] : ((shared.read() as string[] | undefined) ?? []),
        allowed_hosts: hosts.read(),
        expires_at: expires.read(),
        test_credential_enabled: testInput.checked,
      };
      const ts = testInput.checked ? testSecret.read() : null;
      const body: Record<string, unknown> = {};
      if (!c) {
        for (const [k, v] of Object.entries(now)) if (v !== null && v !== undefined && v !== false && !same(v, [])) body[k] = v;
      } else {
        const was: Record<string, unknown> = {
          team_id: c.team_id,
          folder_id: c.folder_id,
          read_access: c.read_access,
          shared_team_slugs: c.shared_team_slugs,
          allowed_hosts: c.allowed_hosts,
          // Minutes are what the input holds: untouched, a stored time with seconds is not a change.
          expires_at: expiresInput.value === localInput(c.expires_at) ? now.expires_at : c.expires_at,
          test_credential_enabled: c.test_credential_enabled,
        };
        for (const [k, v] of Object.entries(now)) if (!same(v, was[k])) body[k] = v;
        // Unticked: the stored test secret goes too.
        if (body.test_credential_enabled === false) body.test_secret = null;
      }
      if (ts && Object.keys(ts.secret).length > 0) body.test_secret = ts.secret;
      return { body, issues: ts?.issues ?? [] };
    },
  };
}
