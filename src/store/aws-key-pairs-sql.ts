import type { AccessKeyRow, AuditRow } from '../domain/records.js';
import { accessKeyFromRecord, type DbRecord } from './rows.js';
import type { QueryDialect, SqlRunner } from './sql-runner.js';
import { one, run, writeAudit, type WriteRunner } from './transaction-script.js';

/**
 * An AWS-style key pair given to an access key (migration 9): the access key id a SigV4 request
 * names, and the secret access key sealed under the tenant's keyring (a SigV4 check recomputes
 * the signature, so the server needs the secret itself, not a hash of it).
 */
export interface AwsKeyPairRow {
  accessKeyId: string;
  tenantId: string;
  /** The Latchkey access key (`key_…`) whose role, teams and expiry the pair acts with. */
  keyId: string;
  sealedSecret: Buffer;
  createdAt: string;
}

/** Storage of key pairs; each adapter runs this SQL (written once, `?` placeholders). */
export interface AwsKeyPairStore {
  /** Gives the access key its pair, replacing any it had. 'no_key' when the access key is gone. */
  putAwsKeyPair(tenantId: string, row: AwsKeyPairRow, audit: readonly AuditRow[]): Promise<'inserted' | 'no_key'>;
  /**
   * Authentication only, like `findAccessKeyByHash`: the one lookup of a pair not scoped by
   * tenant. Joined with its access key, so a revoked key's pair answers nothing.
   */
  findAwsKeyPair(accessKeyId: string): Promise<{ pair: AwsKeyPairRow; key: AccessKeyRow } | null>;
}

export const AWS_KEY_PAIR_INSERT_SQL = 'INSERT INTO aws_key_pairs (access_key_id, tenant_id, key_id, sealed_secret, created_at) VALUES (?, ?, ?, ?, ?)';
export const AWS_KEY_PAIR_DELETE_SQL = 'DELETE FROM aws_key_pairs WHERE tenant_id = ? AND key_id = ?';
export const AWS_KEY_PAIR_KEY_EXISTS_SQL = 'SELECT 1 AS x FROM access_keys WHERE tenant_id = ? AND id = ?';
export const AWS_KEY_PAIR_FIND_SQL =
  'SELECT k.*, p.access_key_id AS pair_access_key_id, p.sealed_secret AS pair_sealed_secret, p.created_at AS pair_created_at ' +
  'FROM aws_key_pairs p JOIN access_keys k ON k.tenant_id = p.tenant_id AND k.id = p.key_id WHERE p.access_key_id = ?';

export function awsKeyPairParams(row: AwsKeyPairRow): unknown[] {
  return [row.accessKeyId, row.tenantId, row.keyId, row.sealedSecret, row.createdAt];
}

export function awsKeyPairFromRecord(r: DbRecord): { pair: AwsKeyPairRow; key: AccessKeyRow } {
  const key = accessKeyFromRecord(r);
  const secret = r.pair_sealed_secret;
  return {
    key,
    pair: {
      accessKeyId: r.pair_access_key_id as string,
      tenantId: key.tenantId,
      keyId: key.id,
      sealedSecret: Buffer.isBuffer(secret) ? secret : Buffer.from(secret as Uint8Array),
      createdAt: r.pair_created_at as string,
    },
  };
}

/** Both adapters' key-pair methods, written once (sql-store.ts). */
export function awsKeyPairStore(db: SqlRunner, w: WriteRunner, d: QueryDialect): AwsKeyPairStore {
  return {
    async putAwsKeyPair(tenantId, row, audit) {
      return w.write(function* () {
        // The key's row is locked (PostgreSQL) so a revocation cannot slip between the check and the insert.
        if (!(yield* one(AWS_KEY_PAIR_KEY_EXISTS_SQL + d.forUpdate, [tenantId, row.keyId]))) return 'no_key' as const;
        yield* run(AWS_KEY_PAIR_DELETE_SQL, [tenantId, row.keyId]);
        yield* run(AWS_KEY_PAIR_INSERT_SQL, awsKeyPairParams(row));
        yield* writeAudit(audit);
        return 'inserted' as const;
      });
    },
    async findAwsKeyPair(accessKeyId) {
      const r = await db.one(AWS_KEY_PAIR_FIND_SQL, [accessKeyId]);
      return r ? awsKeyPairFromRecord(r) : null;
    },
  };
}
