import { ApiError, call, describe, useSession, type Session } from './api.js';
import { accessKeys } from './access-keys.js';
import { ADMIN_PATHS, adminLinks, adminRoute } from './admin-pages.js';
import { credentialDetail } from './credential-detail.js';
import { editCredentialPage, newCredentialPage } from './credential-form.js';
import { credentialsList } from './credentials-list.js';
import { h, show } from './dom.js';
import { takeOAuthReturn } from './oauth-connect.js';
import { ssoChoice } from './sso.js';

let session: Session | null = null;

function nav(): void {
  const el = document.getElementById('nav');
  if (!el) return;
  el.replaceChildren();
  if (session === null) return;
  el.append(
    h('a', { href: '#/credentials' }, 'Credentials'),
    session.permissions.includes('credentials:write') ? h('a', { href: '#/credentials/new' }, 'New credential') : '',
    session.permissions.includes('access_keys:manage') ? h('a', { href: '#/access-keys' }, 'Access keys') : '',
    ...adminLinks(session),
    h('span', { class: 'muted', id: 'who' }, `${session.principal.name} (${session.principal.role})`),
    h('button', { type: 'button', class: 'plain', id: 'sign-out', onclick: () => void signOut() }, 'Sign out'),
  );
}

function ended(message: string): void {
  session = null;
  useSession(null, () => undefined);
  nav();
  signInPage(message);
}

async function signOut(): Promise<void> {
  await call('DELETE', '/ui/session').catch(() => undefined);
  ended('Signed out.');
}

function signInPage(notice?: string): void {
  const key = h('input', { id: 'key', type: 'password', name: 'key', autocomplete: 'off', spellcheck: 'false', required: true });
  const error = h('p', { class: 'error', role: 'alert' });
  const form = h(
    'form',
    {
      class: 'signin',
      method: 'post',
      onsubmit: async (e: Event) => {
        e.preventDefault();
        const value = key.value.trim();
        // The key leaves the page now: only the HttpOnly cookie stands for it afterwards.
        key.value = '';
        try {
          start(await call<Session>('POST', '/ui/session', { key: value }));
        } catch (err) {
          error.textContent = err instanceof ApiError && err.status === 401 ? 'That access key was not accepted.' : describe(err);
        }
      },
    },
    h('label', { for: 'key' }, 'Access key'),
    key,
    h('p', { class: 'muted' }, 'Paste it once; the browser then keeps only a session cookie that scripts cannot read.'),
    h('button', { type: 'submit' }, 'Sign in'),
    error,
  );
  show(h('h1', {}, 'Sign in'), notice ? h('p', { id: 'notice', role: 'status' }, notice) : null, form, ssoChoice());
}

function start(s: Session): void {
  session = s;
  useSession(s, () => ended('Your session ended. Sign in again.'));
  nav();
  if (!/^#\/(credentials|access-keys)/.test(location.hash) && !ADMIN_PATHS.test(location.hash)) location.hash = '#/credentials';
  else void route();
}

async function route(): Promise<void> {
  if (session === null) return;
  const [path = '', query = ''] = location.hash.slice(1).split('?');
  if (await adminRoute(path, query, session)) return;
  const detail = /^\/credentials\/(.+)$/.exec(path);
  const edit = /^\/credentials\/(.+)\/edit$/.exec(path);
  if (path === '/access-keys') await accessKeys(session);
  else if (path === '/credentials/new') await newCredentialPage(new URLSearchParams(query));
  else if (edit?.[1]) await editCredentialPage(decodeURIComponent(edit[1]), session);
  else if (detail?.[1]) await credentialDetail(decodeURIComponent(detail[1]), session);
  else await credentialsList(new URLSearchParams(query));
}

window.addEventListener('hashchange', () => void route());
takeOAuthReturn();
call<Session>('GET', '/ui/session').then(start, () => signInPage());
