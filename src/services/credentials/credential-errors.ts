// The refusals of the credentials service that more than one of its operations gives.
import { LatchkeyError } from '../../domain/errors.js';
import type { CredentialRow } from '../../store/port.js';

export function notFound(id: string): LatchkeyError {
  return new LatchkeyError('CREDENTIAL_NOT_FOUND', `No credential ${id} in this tenant`);
}

export function cannotChange(id: string): LatchkeyError {
  return new LatchkeyError('FORBIDDEN', `Credential ${id} is readable to you but not yours to change: only its own team, or an owner or admin, may change it`);
}

export function nameTaken(c: Pick<CredentialRow, 'slug' | 'teamId' | 'integrationId' | 'type'>): LatchkeyError {
  // Names are unique per owning team (migration 7), where the writer sees every credential, and
  // within it per integration, or among the account's smtp/api_key credentials (migration 11).
  const team = c.teamId === null ? 'among the credentials without a team' : 'in this team';
  const among =
    c.integrationId !== null ? ` for integration ${c.integrationId}` : c.type === 'smtp' || c.type === 'api_key' ? ' (smtp and api_key credentials)' : '';
  return new LatchkeyError('CONFLICT', `A credential named like "${c.slug}" already exists ${team}${among}`);
}

export function lastAccountCredential(): LatchkeyError {
  // Held by the store for every route (docs/dialects.md, account-credentials).
  return new LatchkeyError('CONFLICT', 'There always has to be at least one credential in your account: this is its last smtp or api_key credential');
}
