import { join } from 'node:path';
import type { Config } from '../config.js';
import type { Store } from './port.js';
import { openSqliteStore } from './sqlite/sqlite-store.js';

/** Picks the adapter from the configuration: PostgreSQL when a URL is set, else SQLite in the data dir. */
export async function openStore(config: Config): Promise<Store> {
  if (config.databaseUrl !== null) {
    const { openPostgresStore } = await import('./postgres/postgres-store.js');
    return openPostgresStore({ url: config.databaseUrl });
  }
  return openSqliteStore({ file: join(config.dataDir, 'latchkey.db'), synchronous: config.sqliteSynchronous });
}
