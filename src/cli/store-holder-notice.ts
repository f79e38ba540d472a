import type { Config } from '../config.js';
import { dataDirHolder } from '../store/sqlite/data-dir-lock.js';

/**
 * `migrate` and the `keys` commands work next to a running SQLite server (WAL mode allows it, and
 * the server notices other connections' commits); the operator is told which server that is.
 */
export function sayIfServerHoldsStore(config: Config): void {
  if (config.databaseUrl !== null) return;
  const pid = dataDirHolder(config.dataDir);
  if (pid !== null) process.stderr.write(`latchkey: working next to the latchkey server (pid ${pid}) that holds ${config.dataDir}\n`);
}
