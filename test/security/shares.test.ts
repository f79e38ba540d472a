// Hole 5 of issue 24 and "exact matching of shares": a SPECIFIC_TEAMS share names team slugs, and
// only a team whose slug is exactly one of them may read through it. The SQL list once matched
// shares with an unescaped LIKE, so team `data_eng` (`_` matches any character) listed and, through
// the integration reveal paths that trusted that list, revealed a credential shared with
// `data-eng`. A team's slug also outlived the team in every share, so a new team of that slug
// inherited them.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type ApiResponse, type TestServer, ok } from '../support/server.ts';
import { assertNoSecret, assertServerHoldsNoSecret, canary } from '../support/canary.ts';

let s: TestServer;
let tenantId = '';
const secrets: string[] = [];
const teams: Record<string, { id: string; slug: string }> = {};
const keys: Record<string, string> = {};

async function team(name: string, slug: string) {
  return (teams[slug] = await ok(s.request('POST', '/v1/teams', { body: { name, slug } })));
}

async function key(name: string, role: string, teamSlugs: string[]) {
  return (keys[name] = (await ok(s.request('POST', '/v1/access-keys', { body: { name, role, team_ids: teamSlugs.map((t) => teams[t]!.id) } }))).key);
}

async function credential(name: string, extra: Record<string, unknown>) {
  const value = canary(`share-${name}`);
  secrets.push(value);
  const c = await ok(s.request('POST', '/v1/credentials', { body: { name, type: 'text', secret: { value }, ...extra } }));
  return { id: c.id as string, value };
}

/** Every path that reveals a credential of integration `integration`, as the key `who`. */
function revealPaths(who: string, integration: string, id: string): Array<[string, () => Promise<ApiResponse>]> {
  const dialect = { accept: 'application/json', 'x-tenantid': tenantId };
  return [
    ['native reveal', () => s.request('GET', `/v1/credentials/${id}/secret`, { key: keys[who]! })],
    ['integration secret', () => s.request('GET', `/v1/integrations/${integration}/secret`, { key: keys[who]! })],
    ['integration secret by id', () => s.request('GET', `/v1/integrations/${integration}/secret?credential_id=${id}`, { key: keys[who]! })],
    [
      'integration-credentials dialect',
      () => s.request('GET', `/compat/integration-credentials/api/v1/credentials/${integration}`, { key: keys[who]!, headers: dialect }),
    ],
  ];
}

before(async () => {
  s = await startServer();
  tenantId = (await s.request('GET', '/v1/tenants')).body.data[0].id;
  await team('Platform', 'platform');
  await team('Data engineering', 'data-eng');
  await team('Data eng (underscore)', 'data_eng');
  await key('data-eng service', 'service', ['data-eng']);
  await key('data_eng service', 'service', ['data_eng']);
  await key('data_eng integration admin', 'integration_admin', ['data_eng']);
});

after(async () => {
  await assertServerHoldsNoSecret(s, secrets);
  await s.stop();
});

describe('SPECIFIC_TEAMS shares match team slugs exactly', () => {
  it('team data_eng neither lists nor reveals (native, integration, dialect) a credential shared with data-eng', async () => {
    const c = await credential('Warehouse loader', {
      team_id: teams.platform!.id,
      read_access: 'SPECIFIC_TEAMS',
      shared_team_slugs: ['data-eng'],
      integration_id: 'warehouse',
    });
    for (const who of ['data_eng service', 'data_eng integration admin']) {
      const listed = await s.request('GET', '/v1/credentials?per_page=100', { key: keys[who]! });
      assert.equal(listed.status, 200);
      assert.deepEqual(
        listed.body.data.map((x: any) => x.id),
        [],
        `${who} lists it`,
      );
      const byIntegration = await s.request('GET', '/v1/integrations/warehouse/credentials', { key: keys[who]! });
      assert.equal(byIntegration.body.total, 0, `${who} lists it by integration`);
      for (const [path, call] of revealPaths(who, 'warehouse', c.id)) {
        const r = await call();
        assert.equal(r.status, 404, `${who} ${path}: ${r.text}`);
        assertNoSecret({ [`${who} ${path}`]: r.text }, [c.value]);
      }
    }
    // The team it is shared with reads it on every path (the test above is not vacuous).
    for (const [path, call] of revealPaths('data-eng service', 'warehouse', c.id)) {
      const r = await call();
      assert.equal(r.status, 200, `data-eng ${path}: ${r.text}`);
      assert.ok(r.text.includes(c.value), path);
    }
  });

  it('a share naming a slug with the other separator, or a prefix of it, grants nothing either', async () => {
    await team('Data', 'data');
    await key('data service', 'service', ['data']);
    const c = await credential('Lake writer', {
      team_id: teams.platform!.id,
      read_access: 'SPECIFIC_TEAMS',
      shared_team_slugs: ['data_eng'],
      integration_id: 'lake',
    });
    for (const who of ['data-eng service', 'data service']) {
      for (const [path, call] of revealPaths(who, 'lake', c.id)) assert.equal((await call()).status, 404, `${who} ${path}`);
      assert.equal((await s.request('GET', '/v1/credentials?filter[integration_id]=lake', { key: keys[who]! })).body.total, 0, who);
    }
    assert.equal((await revealPaths('data_eng service', 'lake', c.id)[1]![1]()).status, 200);
  });
});

describe('deleting a team takes its slug out of every share', () => {
  it('in the same change: the share is gone, the ETag moves, and a new team of that slug inherits nothing', async () => {
    const ops = await team('Operations', 'ops');
    const live = await credential('Pager token', {
      team_id: teams.platform!.id,
      read_access: 'SPECIFIC_TEAMS',
      shared_team_slugs: ['ops', 'data-eng'],
      integration_id: 'pager',
    });
    const gone = await credential('Old pager token', { team_id: teams.platform!.id, read_access: 'SPECIFIC_TEAMS', shared_team_slugs: ['ops'] });
    await ok(s.request('DELETE', `/v1/credentials/${gone.id}`), 204);
    const before = await s.request('GET', `/v1/credentials/${live.id}`);

    await ok(s.request('DELETE', `/v1/teams/${ops.id}`), 204);
    const after = await s.request('GET', `/v1/credentials/${live.id}`);
    assert.deepEqual(after.body.shared_team_slugs, ['data-eng']);
    assert.notEqual(after.headers.get('etag'), before.headers.get('etag'), 'the share list changed, so the revision must');
    // A soft-deleted credential loses the share too, so a restore does not bring it back.
    await ok(s.request('POST', `/v1/credentials/${gone.id}/restore`), 200);
    assert.deepEqual((await s.request('GET', `/v1/credentials/${gone.id}`)).body.shared_team_slugs, []);

    await team('Operations again', 'ops');
    await key('new ops service', 'service', ['ops']);
    assert.equal((await s.request('GET', '/v1/credentials?per_page=100', { key: keys['new ops service']! })).body.total, 0);
    for (const id of [live.id, gone.id]) {
      for (const [path, call] of revealPaths('new ops service', 'pager', id)) {
        const r = await call();
        assert.equal(r.status, 404, `${path} ${id}: ${r.text}`);
        assertNoSecret({ [path]: r.text }, [live.value, gone.value]);
      }
    }
    const events = await s.request('GET', `/v1/audit-events?filter[action]=team.delete`);
    assert.ok(events.body.data.some((e: any) => e.target.id === ops.id));
  });

  it('a team created with a slug that a stale share still names starts without that share', async () => {
    // Another process's team cache may accept a share for a few seconds after the team went;
    // the only way to plant one from a test is to write the row, as that process would have.
    const c = await credential('Ghost share', {
      team_id: teams.platform!.id,
      read_access: 'SPECIFIC_TEAMS',
      shared_team_slugs: ['data-eng'],
      integration_id: 'ghost',
    });
    const sql = await s.sql();
    await sql.run('UPDATE credentials SET shared_team_slugs = ? WHERE id = ?', JSON.stringify(['data-eng', 'ghost']), c.id);
    await sql.close();
    await team('Ghost', 'ghost');
    await key('ghost service', 'service', ['ghost']);
    assert.equal((await s.request('GET', '/v1/credentials?per_page=100', { key: keys['ghost service']! })).body.total, 0);
    for (const [path, call] of revealPaths('ghost service', 'ghost', c.id)) assert.equal((await call()).status, 404, path);
    assert.deepEqual((await s.request('GET', `/v1/credentials/${c.id}`)).body.shared_team_slugs, ['data-eng']);
  });
});
