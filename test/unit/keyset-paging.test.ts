import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { MIGRATIONS } from '../../src/store/migrations/migrations.ts';
import { accessKeyListSql, auditListSql, credentialListSql, sqliteJsonArrayHasAny, type Sql } from '../../src/store/queries.ts';
import { VERSIONS_TO_RESEAL_SQL, versionsToResealParams } from '../../src/store/key-management-sql.ts';

// A cursor page must seek the list index to the cursor, not walk every newer entry to get there:
// with `a < ? OR (a = ? AND id < ?)` SQLite searched on tenant_id alone, so page n cost O(n).
function plan(db: Database.Database, q: Sql): string {
  return (db.prepare(`EXPLAIN QUERY PLAN ${q.text}`).all(...q.params) as Array<{ detail: string }>).map((r) => r.detail).join(' | ');
}

function migrated(): Database.Database {
  const db = new Database(':memory:');
  for (const m of MIGRATIONS) for (const s of m.statements({ bytes: 'BLOB' })) db.exec(s);
  return db;
}

const after = { createdAt: '2026-12-01T00:00:00.000Z', id: 'crd_01JZZZZZZZZZZZZZZZZZZZZZZZ' };

describe('keyset paging seeks the index to the cursor', () => {
  it('credentials: a cursor page searches credentials_list on (tenant_id, created_at, id)', () => {
    const db = migrated();
    const { rows } = credentialListSql('ten_a', { all: true }, {}, { limit: 25, after }, sqliteJsonArrayHasAny);
    assert.match(plan(db, rows), /USING INDEX credentials_list \(tenant_id=\? AND \(created_at,id\)<\(\?,\?\)\)/);
  });

  it('credentials seen through teams and shares: the same seek, the exact share test evaluated per row', () => {
    const db = migrated();
    const visibility = { all: false as const, teamIds: ['team_a', 'team_b'], teamSlugs: ['data-eng', 'data_eng'] };
    const { rows } = credentialListSql('ten_a', visibility, {}, { limit: 25, after }, sqliteJsonArrayHasAny);
    assert.match(plan(db, rows), /USING INDEX credentials_list \(tenant_id=\? AND \(created_at,id\)<\(\?,\?\)\)/);
    assert.doesNotMatch(rows.text, /LIKE/);
  });

  it('access keys and audit events: the same for their list indexes', () => {
    const db = migrated();
    assert.match(
      plan(db, accessKeyListSql('ten_a', {}, { limit: 25, after }).rows),
      /USING INDEX access_keys_list \(tenant_id=\? AND \(created_at,id\)<\(\?,\?\)\)/,
    );
    assert.match(plan(db, auditListSql('ten_a', {}, { limit: 25, after })), /USING INDEX audit_list \(tenant_id=\? AND \(at,id\)<\(\?,\?\)\)/);
  });

  it('re-sealing walks credential_versions from where the last batch ended', () => {
    const db = migrated();
    const q = { text: VERSIONS_TO_RESEAL_SQL, params: versionsToResealParams('ten_a', 2, { credentialId: 'crd_x', version: 3 }, 100) };
    assert.match(plan(db, q), /\(tenant_id=\? AND \(credential_id,version\)>\(\?,\?\)\)/);
  });
});
