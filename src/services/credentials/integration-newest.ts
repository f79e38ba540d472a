import type { CredentialRow, Keyset, Visibility } from '../../domain/records.js';
import type { CredentialStore } from '../../store/port.js';
import { canSee } from './visibility.js';

/**
 * The most recently updated credential of an integration that `v` may see: the active one, and
 * of any status. Reads every page (the list is in creation order, the rule is by update time);
 * the list query is the SQL form of visibility, and `canSee` checks each row again.
 */
export async function newestOfIntegration(
  store: Pick<CredentialStore, 'listCredentials'>,
  v: Visibility,
  tenantId: string,
  integrationId: string,
): Promise<{ active: CredentialRow | undefined; any: CredentialRow | undefined }> {
  const newer = (a: CredentialRow | undefined, b: CredentialRow) =>
    a === undefined || b.updatedAt > a.updatedAt || (b.updatedAt === a.updatedAt && b.id > a.id);
  let active: CredentialRow | undefined;
  let any: CredentialRow | undefined;
  const limit = 500;
  for (let after: Keyset | undefined; ; ) {
    const { rows } = await store.listCredentials(tenantId, v, { integrationId }, { limit, ...(after ? { after } : {}) });
    for (const r of rows.filter((row) => canSee(v, row))) {
      if (r.status === 'active' && newer(active, r)) active = r;
      if (newer(any, r)) any = r;
    }
    const last = rows[rows.length - 1];
    if (rows.length < limit || last === undefined) break;
    after = { createdAt: last.createdAt, id: last.id };
  }
  return { active, any };
}
