import { call, describe, sessionEnded, type Session } from './api.js';
import { h, show, when } from './dom.js';

interface KeyStatus {
  root_key_id: string | null;
  provider_holds_root_key: boolean;
  root_rotation: { from: string; to: string; started_at: string } | null;
  last_root_rotation_at: string | null;
  data_key: {
    current_version: number;
    versions: number[];
    wrapped_by: string[];
    sealed_by_version: Record<string, number>;
    sealed_under_old_versions: number;
  };
}

const row = (term: string, ...value: Array<Node | string>) => [h('dt', {}, term), h('dd', {}, ...value)];
const badge = (cls: string, text: string) => h('span', { class: `badge ${cls}` }, text);

/** The owner's view of the tenant's keys: ids and counts only, never key material. */
export async function keyStatus(s: Session): Promise<void> {
  let k: KeyStatus;
  try {
    k = await call<KeyStatus>('GET', `/v1/tenants/${encodeURIComponent(s.principal.tenant_id)}/keys`);
  } catch (err) {
    if (sessionEnded(err)) return;
    show(h('h1', {}, 'Key status'), h('p', { class: 'error', role: 'alert' }, describe(err)));
    return;
  }
  const d = k.data_key;
  const rotation = k.root_rotation;
  show(
    h('h1', {}, 'Key status'),
    h(
      'dl',
      { class: 'meta', id: 'key-status' },
      ...row('Root key', k.root_key_id ?? '—', ' ', k.provider_holds_root_key ? badge('ok', 'held by the provider') : badge('bad', 'not held by the provider')),
      ...row(
        'Root key rotation',
        rotation ? badge('warn', 'in progress') : badge('ok', 'none in progress'),
        rotation ? ` ${rotation.from} → ${rotation.to}, since ${when(rotation.started_at)}` : '',
      ),
      ...row('Last root key rotation', when(k.last_root_rotation_at)),
      ...row('Data key', `version ${d.current_version} (new secrets are sealed under it)`),
      ...row('Data key versions', d.versions.join(', ')),
      ...row('Wrapped by', d.wrapped_by.join(', ')),
      ...row(
        'Under older versions',
        d.sealed_under_old_versions === 0
          ? badge('ok', 'none')
          : h('span', {}, badge('warn', `${d.sealed_under_old_versions} sealed values`), ' re-sealed by latchkey keys reseal'),
      ),
    ),
    h('h2', {}, 'Sealed values by data key version'),
    h(
      'table',
      { class: 'table', id: 'sealed' },
      h('thead', {}, h('tr', {}, h('th', {}, 'Version'), h('th', {}, 'Sealed values'))),
      h('tbody', {}, ...Object.entries(d.sealed_by_version).map(([v, n]) => h('tr', {}, h('td', {}, v), h('td', {}, n)))),
    ),
  );
}
