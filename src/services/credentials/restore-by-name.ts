import { LatchkeyError } from '../../domain/errors.js';
import type { RequestContext } from '../../domain/principal.js';
import { can } from '../../domain/roles.js';
import type { CredentialRow, Store } from '../../store/port.js';
import type { CredentialsService } from './credentials-service.js';

export type RestoreByName = (ctx: RequestContext, name: string) => Promise<CredentialRow>;

/**
 * Restores the most recently deleted credential named `name` that the caller could restore by id
 * (`credentials.restore` checks visibility and write scope for each candidate); otherwise the
 * 404 of a credential that never existed. For clients that restore by name or path.
 */
export function createRestoreByName(deps: { store: Pick<Store, 'listDeletedCredentialIds'>; credentials: Pick<CredentialsService, 'restore'> }): RestoreByName {
  return async (ctx, name) => {
    if (!can(ctx.principal.role, 'credentials:delete')) throw new LatchkeyError('FORBIDDEN', `Role ${ctx.principal.role} lacks credentials:delete`);
    for (const id of await deps.store.listDeletedCredentialIds(ctx.principal.tenantId, name)) {
      try {
        return await deps.credentials.restore(ctx, id);
      } catch (err) {
        if (!(err instanceof LatchkeyError && err.code === 'CREDENTIAL_NOT_FOUND')) throw err;
      }
    }
    throw new LatchkeyError('CREDENTIAL_NOT_FOUND', `No deleted credential named ${name} in this tenant`);
  };
}
