import { ApiError, call, describe, send, sessionEnded, type Session } from './api.js';
import { generatedOnce } from './credential-form.js';
import type { Credential } from './credentials-list.js';
import { h, show, when } from './dom.js';
import { flash } from './notice.js';
import { connectButton, presets } from './oauth-connect.js';
import { showIssues } from './schema-form.js';
import { typeFields } from './type-fields.js';
import { credentialTypes } from './type-rules.js';

/**
 * What a person may do to a credential from its page, each through the native API: edit, status
 * changes, rotate (new values, or one the server makes), verify, delete and restore, and Connect
 * for OAuth. Buttons show only for permissions the session's role has (`GET /ui/session`); what
 * the API still refuses (a team the key is not in) is shown as its error.
 */
interface VerifyResult {
  ok: boolean;
  checked_at: string;
  error?: string;
  status?: number | null;
}

const path = (c: Credential) => `/v1/credentials/${encodeURIComponent(c.id)}`;

/** A refused change names why; a 412 says plainly that the page is out of date. */
function explain(err: unknown): string {
  if (err instanceof ApiError && err.status === 412) return 'Conflict: the credential changed since this page was loaded. Reload it and try again.';
  return describe(err);
}

/** After a soft delete the credential is gone for everyone (404); this page can still undo it. */
function deletedPage(c: Credential, session: Session, reload: () => Promise<void>): void {
  const error = h('p', { class: 'error', role: 'alert' });
  show(
    h('p', {}, h('a', { href: '#/credentials' }, '← Credentials')),
    h('h1', { id: 'credential-name' }, c.name),
    h('p', { id: 'deleted', role: 'status' }, h('span', { class: 'badge bad' }, 'deleted'), ' It can be restored until the retention period ends.'),
    session.permissions.includes('credentials:delete')
      ? h(
          'button',
          {
            type: 'button',
            onclick: async () => {
              try {
                await call('POST', `${path(c)}/restore`);
                flash(`Restored ${c.name}.`);
                await reload();
              } catch (err) {
                if (!sessionEnded(err)) error.textContent = describe(err);
              }
            },
          },
          'Restore',
        )
      : null,
    error,
  );
}

/** A button that asks once more before it acts (permanent deactivation, delete). */
function confirmed(label: string, confirmLabel: string, act: () => Promise<void>): HTMLElement {
  const wrap = h('span', { class: 'confirm' });
  const first = h(
    'button',
    {
      type: 'button',
      class: 'plain',
      onclick: () => {
        wrap.replaceChildren(
          h('button', { type: 'button', class: 'danger', onclick: () => void act() }, confirmLabel),
          ' ',
          h('button', { type: 'button', class: 'plain', onclick: () => wrap.replaceChildren(first) }, 'Cancel'),
        );
        (wrap.firstChild as HTMLElement).focus();
      },
    },
    label,
  );
  wrap.append(first);
  return wrap;
}

export async function credentialActions(c: Credential, etag: string | null, session: Session, reload: () => Promise<void>): Promise<HTMLElement> {
  const can = (p: string) => session.permissions.includes(p);
  const error = h('p', { class: 'error', role: 'alert', id: 'action-error' });
  const panel = h('div', { id: 'action-panel' });
  const run = async (what: () => Promise<unknown>, done?: string) => {
    error.textContent = '';
    try {
      await what();
      if (done) flash(done);
      await reload();
    } catch (err) {
      if (!sessionEnded(err)) error.textContent = explain(err);
    }
  };
  const status = (to: string, done: string) => () => run(() => send('PATCH', path(c), { status: to }, etag), done);
  const buttons: Array<HTMLElement | null> = [];

  if (can('credentials:write') && c.status !== 'deactivated') {
    buttons.push(h('a', { href: `#/credentials/${encodeURIComponent(c.id)}/edit`, class: 'button', id: 'edit' }, 'Edit'));
    buttons.push(
      c.status === 'active'
        ? h('button', { type: 'button', class: 'plain', onclick: status('inactive', 'Deactivated: it is paused until reactivated.') }, 'Deactivate')
        : h('button', { type: 'button', class: 'plain', onclick: status('active', 'Reactivated.') }, 'Reactivate'),
    );
    buttons.push(confirmed('Deactivate permanently', 'Yes, deactivate for good', status('deactivated', 'Deactivated permanently.')));
  }
  const t = (await credentialTypes().catch(() => [])).find((x) => x.id === c.type);
  if (can('credentials:rotate') && c.status !== 'deactivated' && t?.capabilities.rotatable) {
    buttons.push(
      h(
        'button',
        {
          type: 'button',
          class: 'plain',
          id: 'rotate',
          onclick: () => {
            const fields = typeFields(t, { secretOnly: true, config: c.config });
            const general = h('p', { class: 'error', role: 'alert' });
            const rotate = (secret?: Record<string, unknown>) => async () => {
              try {
                const r = await call<{ generated_secret?: Record<string, unknown> }>('POST', `${path(c)}/rotate`, secret ? { secret } : {});
                if (r.generated_secret) {
                  const done = h('button', { type: 'button', onclick: () => void reload() }, 'Done');
                  panel.replaceChildren(generatedOnce(r.generated_secret, done));
                } else {
                  flash('Rotated: the new version is current; the old one stays readable for the grace period.');
                  await reload();
                }
              } catch (err) {
                if (!sessionEnded(err)) showIssues(fields.fields, general, err);
              }
            };
            const self = t.capabilities.generatable || c.type === 'oauth2';
            panel.replaceChildren(
              h(
                'form',
                {
                  class: 'credential-form',
                  id: 'rotate-form',
                  novalidate: true,
                  onsubmit: (e: Event) => {
                    e.preventDefault();
                    const v = fields.read();
                    void rotate(v.secret)();
                  },
                },
                h('h3', {}, 'Rotate'),
                h('p', { class: 'hint' }, 'The new version holds exactly the values given here; the current one becomes previous for an hour.'),
                fields.el,
                general,
                h('button', { type: 'submit' }, 'Rotate with these values'),
                ' ',
                self
                  ? h('button', { type: 'button', class: 'plain', onclick: rotate() }, c.type === 'oauth2' ? 'Refresh tokens now' : 'Generate a new secret')
                  : null,
                ' ',
                h('button', { type: 'button', class: 'plain', onclick: () => panel.replaceChildren() }, 'Cancel'),
              ),
            );
            fields.fields.find((f) => !f.wrap.hidden)?.input.focus();
          },
        },
        'Rotate',
      ),
    );
  }
  if (can('credentials:rotate') && t?.capabilities.verifiable) {
    const result = h('span', { id: 'verify-result', role: 'status' });
    buttons.push(
      h(
        'span',
        {},
        h(
          'button',
          {
            type: 'button',
            class: 'plain',
            onclick: async () => {
              result.textContent = 'Checking…';
              try {
                const r = await call<VerifyResult>('POST', `${path(c)}/verify`);
                const code = r.status === undefined || r.status === null ? '' : `, status ${r.status}`;
                result.replaceChildren(
                  h('span', { class: `badge ${r.ok ? 'ok' : 'bad'}` }, r.ok ? 'verified' : 'failed'),
                  r.ok ? `checked ${when(r.checked_at)}${code}` : `${r.error ?? 'failed'}${code}, checked ${when(r.checked_at)}`,
                );
              } catch (err) {
                if (!sessionEnded(err)) result.textContent = explain(err);
              }
            },
          },
          'Verify',
        ),
        ' ',
        result,
      ),
    );
  }
  if (can('credentials:write') && c.type === 'oauth2' && c.status !== 'deactivated' && (c.config.grant_type ?? 'authorization_code') === 'authorization_code') {
    buttons.push(connectButton(c, await presets(), error));
  }
  if (can('credentials:delete')) {
    buttons.push(
      confirmed('Delete', 'Yes, delete it', async () => {
        error.textContent = '';
        try {
          await send('DELETE', path(c), undefined, etag);
          deletedPage(c, session, reload);
        } catch (err) {
          if (!sessionEnded(err)) error.textContent = explain(err);
        }
      }),
    );
  }
  const shown = buttons.filter((b): b is HTMLElement => b !== null);
  if (shown.length === 0) return h('p', { class: 'muted', id: 'actions' }, 'Your role only reads credentials.');
  return h('section', { id: 'actions' }, h('h2', {}, 'Actions'), h('div', { class: 'actions' }, ...shown), error, panel);
}
