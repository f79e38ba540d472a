import { call, describe, send, sessionEnded, type Session } from './api.js';
import { credentialActions } from './credential-actions.js';
import { badges, type Credential } from './credentials-list.js';
import { h, show, when } from './dom.js';
import { takeFlash } from './notice.js';
import { connection } from './oauth-connect.js';

interface Version {
  version: number;
  stage: string;
  expires_at: string | null;
  created_at: string;
  created_by: { name: string };
}
interface AuditEvent {
  id: string;
  at: string;
  action: string;
  outcome: string;
  actor: { name: string; type: string };
  reason: string | null;
}

/** A revealed secret stays on screen this long, then is removed from the page. */
const REVEAL_SECONDS = 30;

function text(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v);
}

function pairs(o: Record<string, unknown>): HTMLElement {
  const keys = Object.keys(o);
  if (keys.length === 0) return h('p', { class: 'muted' }, 'none');
  return h('dl', { class: 'meta' }, ...keys.flatMap((k) => [h('dt', {}, k), h('dd', {}, text(o[k]))]));
}

async function auditTrail(id: string): Promise<HTMLElement> {
  try {
    const events = await call<{ data: AuditEvent[] }>('GET', `/v1/audit-events?filter[credential_id]=${encodeURIComponent(id)}&per_page=50`);
    return h(
      'table',
      { class: 'table', id: 'audit' },
      h('thead', {}, h('tr', {}, h('th', {}, 'When'), h('th', {}, 'Action'), h('th', {}, 'Outcome'), h('th', {}, 'Who'))),
      h('tbody', {}, ...events.data.map((e) => h('tr', {}, h('td', {}, when(e.at)), h('td', {}, e.action), h('td', {}, e.outcome), h('td', {}, e.actor.name)))),
    );
  } catch (err) {
    if (sessionEnded(err)) throw err;
    return h('p', { class: 'muted' }, describe(err));
  }
}

function revealPanel(id: string, refreshAudit: () => Promise<void>): HTMLElement {
  const panel = h('div', { id: 'reveal' });
  let timer: number | undefined;
  const hide = () => {
    window.clearTimeout(timer);
    panel.replaceChildren(button);
  };
  const button = h(
    'button',
    {
      type: 'button',
      id: 'reveal-button',
      onclick: async () => {
        try {
          const r = await call<{ secret: Record<string, unknown> }>('GET', `/v1/credentials/${encodeURIComponent(id)}/secret`);
          const fields = Object.entries(r.secret).map(([k, v]) =>
            h(
              'div',
              {},
              h('strong', {}, `${k}: `),
              h('span', { class: 'secret' }, text(v)),
              ' ',
              h('button', { type: 'button', class: 'plain', onclick: () => void navigator.clipboard.writeText(text(v)) }, 'Copy'),
            ),
          );
          panel.replaceChildren(
            h('p', { class: 'muted' }, `Shown for ${REVEAL_SECONDS} s; this reveal is in the audit log.`),
            ...fields,
            h('button', { type: 'button', class: 'plain', onclick: hide }, 'Hide'),
          );
          timer = window.setTimeout(hide, REVEAL_SECONDS * 1000);
          await refreshAudit();
        } catch (err) {
          if (sessionEnded(err)) return;
          panel.replaceChildren(button, h('p', { class: 'error', role: 'alert' }, describe(err)));
        }
      },
    },
    'Reveal secret',
  );
  panel.append(button);
  return panel;
}

export async function credentialDetail(id: string, session: Session): Promise<void> {
  const can = (p: string) => session.permissions.includes(p);
  let c: Credential;
  let etag: string | null;
  let versions: Version[];
  let trail: HTMLElement;
  try {
    [{ body: c, etag }, versions, trail] = await Promise.all([
      send<Credential>('GET', `/v1/credentials/${encodeURIComponent(id)}`),
      call<{ data: Version[] }>('GET', `/v1/credentials/${encodeURIComponent(id)}/versions`).then((v) => v.data),
      can('audit:read') ? auditTrail(id) : Promise.resolve(h('p', { class: 'muted' }, 'Your role does not read the audit log.')),
    ]);
  } catch (err) {
    if (sessionEnded(err)) return;
    show(h('p', {}, h('a', { href: '#/credentials' }, '← Credentials')), h('p', { class: 'error', role: 'alert' }, describe(err)));
    return;
  }
  const audit = h('div', {}, trail);
  const refreshAudit = async () => {
    if (can('audit:read')) audit.replaceChildren(await auditTrail(c.id));
  };
  const actions = await credentialActions(c, etag, session, () => credentialDetail(id, session));
  show(
    h('p', {}, h('a', { href: '#/credentials' }, '← Credentials')),
    takeFlash(),
    h('h1', { id: 'credential-name' }, c.name),
    badges(c),
    actions,
    h(
      'section',
      {},
      h('h2', {}, 'Metadata'),
      h(
        'dl',
        { class: 'meta' },
        ...(
          [
            ['id', c.id],
            ['type', c.type],
            ['slug', c.slug],
            ['description', c.description || '—'],
            ['integration', c.integration_id ?? '—'],
            ['team', c.team_id ?? '—'],
            ['folder', c.folder_id ?? '—'],
            ['read access', c.read_access],
            ['expires', when(c.expires_at)],
            ['next rotation', when(c.next_rotation_at)],
            ['last used', when(c.last_used_at)],
            ['last error', c.last_error ?? '—'],
            ['created', `${when(c.created_at)} by ${c.created_by.name}`],
            ['modified', `${when(c.updated_at)} by ${c.modified_by.name}`],
          ] as const
        ).flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]),
      ),
    ),
    c.type === 'oauth2' ? h('section', {}, h('h2', {}, 'Connection'), connection(c)) : null,
    h('section', {}, h('h2', {}, 'Configuration'), pairs(c.config)),
    h('section', {}, h('h2', {}, 'Metadata fields'), pairs(c.metadata)),
    h(
      'section',
      {},
      h('h2', {}, 'Secret'),
      h('p', {}, c.secret_fields.length === 0 ? 'No secret fields set.' : `Set: ${c.secret_fields.join(', ')}`),
      can('credentials:reveal') ? revealPanel(c.id, refreshAudit) : null,
    ),
    h(
      'section',
      {},
      h('h2', {}, 'Versions'),
      h(
        'table',
        { class: 'table', id: 'versions' },
        h('thead', {}, h('tr', {}, h('th', {}, 'Version'), h('th', {}, 'Stage'), h('th', {}, 'Created'), h('th', {}, 'By'), h('th', {}, 'Grace ends'))),
        h(
          'tbody',
          {},
          ...versions.map((v) =>
            h(
              'tr',
              {},
              h('td', {}, v.version),
              h('td', {}, v.stage),
              h('td', {}, when(v.created_at)),
              h('td', {}, v.created_by.name),
              h('td', {}, when(v.expires_at)),
            ),
          ),
        ),
      ),
    ),
    h('section', {}, h('h2', {}, 'Audit trail'), audit),
  );
}
