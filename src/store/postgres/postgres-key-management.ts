import { purgeTenant } from '../key-management-sql.js';
import type { KeyManagementStore } from '../port.js';
import { postgresDialect, type PgConnection } from './postgres-connection.js';

/**
 * What PostgreSQL does its own way in key management: purging a tenant reads its tables from the
 * catalog. Deleted tuples stay in the heap until VACUUM reuses their space, and in WAL archives
 * and base backups taken before: those hold wrapped keys, which the root key still opens.
 */
export function postgresKeyManagement(c: PgConnection): Pick<KeyManagementStore, 'purgeTenantRows'> {
  return {
    async purgeTenantRows(tenantId) {
      // Every table with a tenant_id column, read from the schema itself, so a table added later
      // cannot keep a purged tenant's rows.
      const tables = (
        await c.runner.all(
          `SELECT table_name AS name FROM information_schema.columns WHERE table_schema = current_schema() AND column_name = 'tenant_id' ORDER BY table_name`,
        )
      ).map((r) => r.name as string);
      return c.writes.write(() => purgeTenant(postgresDialect, tenantId, tables));
    },
  };
}
