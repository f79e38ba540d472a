import { ApiError, call, describe, sessionEnded } from './api.js';
import type { Credential } from './credentials-list.js';
import { h, when } from './dom.js';
import { flash } from './notice.js';
import { type Field, labelOf } from './schema-form.js';

/**
 * OAuth 2.0 in the console. A provider preset (`GET /v1/oauth/providers`) fills an oauth2 form's
 * endpoints, scopes and client authentication; "Connect" on an oauth2 credential starts the
 * authorization code flow (`POST /v1/oauth/connect`): the browser goes to the provider, which
 * sends it to Latchkey's callback, which sends it back here (`return_to`, an origin the operator
 * lists in LATCHKEY_OAUTH_RETURN_ORIGINS) with `status` and `credential_id` in the query.
 */
export interface Preset {
  id: string;
  title: string;
  params: Record<string, { pattern: string; default: string | null; description: string }>;
  authorization_endpoint: string | null;
  token_endpoint: string | null;
  default_scopes: string[];
  token_endpoint_auth_method: string;
  pkce: boolean;
}

let cached: Promise<Preset[]> | null = null;

export function presets(): Promise<Preset[]> {
  cached ??= call<{ data: Preset[] }>('GET', '/v1/oauth/providers').then(
    (r) => r.data,
    () => {
      cached = null;
      return [];
    },
  );
  return cached;
}

/**
 * The provider select of a new oauth2 credential. Choosing a preset fills the fields it knows;
 * its template values (`{tenant}`, `{instance}`) get inputs of their own and are put into the
 * endpoints here, so what is stored is the plain oauth2 config the catalog defines.
 */
export function presetPicker(list: Preset[], fields: Field[], changed: () => void): { el: HTMLElement; value(): string | null } {
  const byPath = (p: string) => fields.find((f) => f.path === `config.${p}`);
  const params = h('div', {});
  const select = h('select', { id: 'c-provider' }, h('option', { value: '' }, 'none'), ...list.map((p) => h('option', { value: p.id }, p.title)));
  let filled = new Map<string, string>();
  const set = (name: string, value: string) => {
    const f = byPath(name);
    if (!f) return;
    // Only fields still holding what the last preset put there (or nothing) are overwritten.
    const before = filled.get(name);
    if (!(f.input instanceof HTMLSelectElement) && f.input.value !== '' && f.input.value !== before) return;
    f.input.value = value;
    filled.set(name, value);
  };
  const apply = () => {
    const p = list.find((x) => x.id === select.value);
    if (!p) return;
    const values = Object.fromEntries([...params.querySelectorAll('input')].map((i) => [i.name, i.value]));
    const fill = (t: string) => t.replace(/\{([a-z_]+)\}/g, (_m, n: string) => values[n] || `{${n}}`);
    if (p.authorization_endpoint) set('authorization_endpoint', fill(p.authorization_endpoint));
    if (p.token_endpoint) set('token_endpoint', fill(p.token_endpoint));
    if (p.default_scopes.length > 0) set('scopes', p.default_scopes.join(', '));
    set('token_endpoint_auth_method', p.token_endpoint_auth_method);
    const pkce = byPath('pkce')?.input;
    if (pkce instanceof HTMLInputElement) pkce.checked = p.pkce;
    changed();
  };
  select.addEventListener('change', () => {
    filled = new Map();
    const p = list.find((x) => x.id === select.value);
    params.replaceChildren(
      ...Object.entries(p?.params ?? {}).map(([name, spec]) =>
        h(
          'div',
          { class: 'field' },
          h('label', { for: `c-param-${name}` }, labelOf(name)),
          h('input', { id: `c-param-${name}`, name, value: spec.default ?? '', oninput: apply, 'aria-describedby': `c-param-${name}-hint` }),
          h('span', { class: 'hint', id: `c-param-${name}-hint` }, spec.description),
        ),
      ),
    );
    apply();
  });
  const el = h(
    'div',
    { class: 'field' },
    h('label', { for: 'c-provider' }, 'Provider'),
    select,
    h('span', { class: 'hint' }, 'A preset fills the endpoints and client settings; Connect on the credential signs in at the provider.'),
    params,
  );
  return { el, value: () => select.value || null };
}

/** The connected account and token expiry of an oauth2 credential, as its config holds them. */
export function connection(c: Credential): HTMLElement {
  const acct = (c.config.account ?? {}) as { sub?: string; email?: string; name?: string };
  const who = [acct.name, acct.email ? `<${acct.email}>` : null, acct.sub ? `(${acct.sub})` : null].filter(Boolean).join(' ');
  const expires = typeof c.config.access_token_expires_at === 'string' ? c.config.access_token_expires_at : null;
  return h(
    'dl',
    { class: 'meta', id: 'connection' },
    h('dt', {}, 'account'),
    h('dd', {}, who || 'not connected'),
    h('dt', {}, 'access token'),
    h('dd', {}, c.secret_fields.includes('access_token') ? `expires ${when(expires)}` : 'none'),
    h('dt', {}, 'refresh token'),
    h('dd', {}, c.secret_fields.includes('refresh_token') ? 'set' : 'none'),
  );
}

/** "Connect with <provider>": starts the flow for this credential and sends the browser to the provider. */
export function connectButton(c: Credential, list: Preset[], error: HTMLElement): HTMLElement {
  const title = list.find((p) => p.id === c.provider)?.title ?? 'the provider';
  const connected = c.secret_fields.includes('access_token');
  return h(
    'button',
    {
      type: 'button',
      id: 'connect',
      onclick: async () => {
        error.textContent = '';
        const returnTo = `${location.origin}${location.pathname}#/credentials/${encodeURIComponent(c.id)}`;
        try {
          const r = await call<{ authorization_url: string }>('POST', '/v1/oauth/connect', { credential_id: c.id, return_to: returnTo });
          location.assign(r.authorization_url);
        } catch (err) {
          if (sessionEnded(err)) return;
          const returnRefused =
            err instanceof ApiError && Array.isArray(err.details) && (err.details as Array<{ path?: string }>).some((d) => d.path === 'return_to');
          error.textContent = returnRefused
            ? `This server does not send browsers back to ${location.origin}: its operator adds that origin to LATCHKEY_OAUTH_RETURN_ORIGINS.`
            : describe(err);
        }
      },
    },
    `${connected ? 'Reconnect' : 'Connect'} with ${title}`,
  );
}

/** Back from the provider: the callback's `status` (and `error`) become a notice, and the query leaves the address bar. */
export function takeOAuthReturn(): void {
  const q = new URLSearchParams(location.search);
  const status = q.get('status');
  if (status === null) return;
  if (status === 'connected') flash('Connected: the provider granted access and the tokens are stored.');
  else flash(`The connection failed: ${q.get('error') ?? 'refused'}.`, true);
  history.replaceState(null, '', `${location.pathname}${location.hash}`);
}
