import { call, describe, sessionEnded } from './api.js';
import { h, pager, show, when } from './dom.js';

interface AuditEvent {
  id: string;
  at: string;
  action: string;
  outcome: string;
  actor: { type: string; id: string; name: string };
  target: { type: string; id: string | null };
  reason: string | null;
  /** Facts of the change (type, team, version, status…); never a secret. */
  detail: Record<string, string | number | boolean | null> | null;
  suppressed: number;
}
interface Verify {
  ok: boolean;
  events_checked: number;
  first_bad_event_id?: string;
  problem?: string;
  unsealed: number;
}

const PER_PAGE = 25;
/** Page parameter → API filter; since/until are kept as RFC 3339 in the page's address. */
const FILTERS = [
  ['action', 'filter[action]'],
  ['outcome', 'filter[outcome]'],
  ['credential', 'filter[credential_id]'],
  ['actor', 'filter[actor_id]'],
  ['since', 'filter[since]'],
  ['until', 'filter[until]'],
] as const;

/** A datetime-local value is the browser's local time; the API takes UTC. */
const toIso = (local: string) => (local ? new Date(local).toISOString() : '');
const toLocal = (iso: string | null) => {
  if (!iso) return '';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? '' : new Date(d.getTime() - d.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
};

/** The chain's state first: the audit log is only worth reading if nobody edited it. */
async function chainStatus(): Promise<HTMLElement> {
  try {
    const v = await call<Verify>('GET', '/v1/audit-events/verify');
    const pending = v.unsealed > 0 ? ` (${v.unsealed} newer events not sealed yet)` : '';
    return v.ok
      ? h('p', { id: 'chain', class: 'banner ok', role: 'status' }, `Chain verified: ok, ${v.events_checked} events checked${pending}.`)
      : h(
          'p',
          { id: 'chain', class: 'banner bad', role: 'alert' },
          `Chain broken: ${v.problem ?? 'verification failed'}${v.first_bad_event_id ? ` at ${v.first_bad_event_id}` : ''}. Events may have been edited or deleted.`,
        );
  } catch (err) {
    if (sessionEnded(err)) throw err;
    return h('p', { id: 'chain', class: 'banner bad', role: 'alert' }, `Chain not verified: ${describe(err)}`);
  }
}

function target(e: AuditEvent): Node | string {
  if (e.target.id === null) return e.target.type;
  if (e.target.type === 'credential') return h('a', { href: `#/credentials/${encodeURIComponent(e.target.id)}` }, e.target.id);
  return `${e.target.type} ${e.target.id}`;
}

/** The tenant's audit log: filters, cursor paging, and the hash chain's verify status on top. */
export async function auditLog(params: URLSearchParams): Promise<void> {
  const query = new URLSearchParams({ per_page: String(PER_PAGE) });
  for (const [param, filter] of FILTERS) {
    const v = params.get(param);
    if (v) query.set(filter, v);
  }
  const cursor = params.get('cursor');
  if (cursor) query.set('cursor', cursor);

  const input = (id: string, value: string, attrs: Record<string, string> = {}) => h('input', { id, value, ...attrs });
  const action = input('a-action', params.get('action') ?? '', { placeholder: 'credential.reveal', pattern: '[a-z_.]+' });
  const outcome = h(
    'select',
    { id: 'a-outcome' },
    ...['', 'success', 'denied', 'not_found', 'failure'].map((o) => h('option', { value: o, selected: (params.get('outcome') ?? '') === o }, o || 'any')),
  );
  const credential = input('a-credential', params.get('credential') ?? '', { placeholder: 'crd_…' });
  const actor = input('a-actor', params.get('actor') ?? '', { placeholder: 'key_… or usr_…' });
  const since = input('a-since', toLocal(params.get('since')), { type: 'datetime-local' });
  const until = input('a-until', toLocal(params.get('until')), { type: 'datetime-local' });
  const filters = h(
    'form',
    {
      class: 'filters',
      role: 'search',
      onsubmit: (e: Event) => {
        e.preventDefault();
        const next = new URLSearchParams();
        const values = { action: action.value.trim(), outcome: outcome.value, credential: credential.value.trim(), actor: actor.value.trim() };
        for (const [k, v] of Object.entries({ ...values, since: toIso(since.value), until: toIso(until.value) })) if (v) next.set(k, v);
        location.hash = `#/audit?${next}`;
      },
    },
    h('div', {}, h('label', { for: 'a-action' }, 'Action'), action),
    h('div', {}, h('label', { for: 'a-outcome' }, 'Outcome'), outcome),
    h('div', {}, h('label', { for: 'a-credential' }, 'Credential'), credential),
    h('div', {}, h('label', { for: 'a-actor' }, 'Actor'), actor),
    h('div', {}, h('label', { for: 'a-since' }, 'Since'), since),
    h('div', {}, h('label', { for: 'a-until' }, 'Until'), until),
    h('button', { type: 'submit' }, 'Filter'),
  );

  let chain: HTMLElement;
  let events: { data: AuditEvent[]; next_cursor: string | null };
  try {
    [chain, events] = await Promise.all([chainStatus(), call<typeof events>('GET', `/v1/audit-events?${query}`)]);
  } catch (err) {
    if (sessionEnded(err)) return;
    show(h('h1', {}, 'Audit log'), filters, h('p', { class: 'error', role: 'alert' }, describe(err)));
    return;
  }
  show(
    h('h1', {}, 'Audit log'),
    chain,
    filters,
    events.data.length === 0 ? h('p', { class: 'muted' }, 'No events match.') : null,
    h(
      'table',
      { class: 'table', id: 'events' },
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          h('th', {}, 'When'),
          h('th', {}, 'Action'),
          h('th', {}, 'Outcome'),
          h('th', {}, 'Actor'),
          h('th', {}, 'Target'),
          h('th', {}, 'Reason'),
          h('th', {}, 'Detail'),
        ),
      ),
      h(
        'tbody',
        {},
        ...events.data.map((e) =>
          h(
            'tr',
            { 'data-id': e.id },
            h('td', {}, when(e.at)),
            h('td', {}, e.action),
            h('td', {}, h('span', { class: `badge ${e.outcome === 'success' ? 'ok' : 'bad'}` }, e.outcome), e.suppressed > 0 ? ` ×${e.suppressed + 1}` : ''),
            h('td', {}, e.actor.name, h('span', { class: 'muted' }, ` ${e.actor.type} ${e.actor.id}`)),
            h('td', {}, target(e)),
            h('td', {}, e.reason ?? ''),
            h(
              'td',
              { class: 'detail' },
              e.detail === null
                ? ''
                : Object.entries(e.detail)
                    .map(([k, v]) => `${k}: ${String(v)}`)
                    .join(', '),
            ),
          ),
        ),
      ),
    ),
    pager('audit', params, events.next_cursor),
  );
}
