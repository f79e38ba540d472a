import type { SqlRunner } from './sql-runner.js';

/**
 * Soft-deleted credentials by exact name, for the dialects whose clients restore a secret by its
 * name or path (Vault's undelete, AWS's RestoreSecret): lists leave deleted credentials out.
 * Ids only; the caller restores through the credentials service, which checks visibility.
 */
export interface DeletedNameStore {
  listDeletedCredentialIds(tenantId: string, name: string): Promise<string[]>;
}

export const DELETED_BY_NAME_SQL =
  'SELECT id FROM credentials WHERE tenant_id = ? AND name = ? AND deleted_at IS NOT NULL ORDER BY deleted_at DESC, id DESC LIMIT 20';

export function deletedNameStore(db: SqlRunner): DeletedNameStore {
  return {
    async listDeletedCredentialIds(tenantId, name) {
      return (await db.all(DELETED_BY_NAME_SQL, [tenantId, name])).map((r) => r.id as string);
    },
  };
}
