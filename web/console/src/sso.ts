import { call } from './api.js';
import { h } from './dom.js';

const OUTCOMES: Record<string, string> = {
  '#/sso-refused': 'Single sign-on did not sign you in. Start again from this page.',
  '#/sso-unavailable': 'Single sign-on is unavailable right now: the identity provider could not be reached.',
};

/**
 * "Sign in with SSO", when the server has an OIDC issuer for the console: a plain link, since the
 * sign-in is a full-page trip to the provider and back (GET /ui/oidc/start, then /ui/oidc/callback).
 * Also says why the last trip came back without a session.
 */
export function ssoChoice(): HTMLElement {
  const box = h('div', { id: 'sso' });
  const outcome = OUTCOMES[location.hash];
  if (outcome) box.append(h('p', { class: 'error', role: 'alert' }, outcome));
  call<{ sso: boolean }>('GET', '/ui/sign-in-options').then(
    (o) => {
      if (o.sso) box.append(h('p', {}, h('a', { href: '/ui/oidc/start', class: 'button', id: 'sso-link' }, 'Sign in with SSO')));
    },
    () => undefined,
  );
  return box;
}
