import { accessKeyStore } from './access-keys-sql.js';
import { awsKeyPairStore } from './aws-key-pairs-sql.js';
import { deletedNameStore } from './deleted-names-sql.js';
import { auditSinkStore, auditStore } from './audit-sql.js';
import { consoleSessionStore } from './console-sessions-sql.js';
import { credentialStore } from './credentials-sql.js';
import { eventFeedStore } from './events-sql.js';
import { expiryStore } from './expiry-sql.js';
import { idempotencyStore } from './idempotency-sql.js';
import { keyManagementStore } from './key-management-sql.js';
import { oauthStore } from './oauth-sql.js';
import type { QueryDialect, SqlRunner } from './sql-runner.js';
import { tenancyStore } from './tenancy-sql.js';
import type { WriteRunner } from './transaction-script.js';
import { webhookStore } from './webhooks-sql.js';

/**
 * Every store method written once (the `*-sql.ts` files), for an adapter's connection: its
 * `SqlRunner` for reads, its `WriteRunner` for compound writes, its dialect hooks. The adapter
 * adds what it does its own way: lifecycle, coordination, the reads of every request (SQLite's
 * row cache, PostgreSQL's named statements), usage touches, audit appends and seals, bulk refresh
 * claims, and reading its schema to purge a tenant.
 */
export function sqlStore(db: SqlRunner, w: WriteRunner, d: QueryDialect) {
  return {
    ...tenancyStore(db, w, d),
    ...accessKeyStore(db, w, d),
    ...credentialStore(db, w, d),
    ...auditStore(db, w, d),
    ...auditSinkStore(db),
    ...expiryStore(db, w),
    ...eventFeedStore(db),
    ...idempotencyStore(db, w, d),
    ...keyManagementStore(db, w, d),
    ...oauthStore(db, w),
    ...consoleSessionStore(db),
    ...awsKeyPairStore(db, w, d),
    ...deletedNameStore(db),
    ...webhookStore(db, w),
  };
}
