// Slugs (document 001: "an underscored representation of the credential name"), read the way
// its client reads them (GET /api/v1/user_credentials/{id}): accents transliterated, not split;
// non-Latin names get a readable slug of their own, not the id; and names that differ only where
// the old slug split an accent no longer collide.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type TestServer } from '../support/server.ts';
import { assertServerHoldsNoSecret, canary } from '../support/canary.ts';

const UC = '/compat/user-credentials';
let s: TestServer;
const secrets: string[] = [];

async function made(name: string) {
  const value = canary('slug');
  secrets.push(value);
  const r = await s.request('POST', '/v1/credentials', { body: { name, type: 'text', secret: { value } } });
  assert.equal(r.status, 201, r.text);
  return r.body;
}

async function slugThroughDialect(id: string): Promise<string> {
  const r = await s.request('GET', `${UC}/api/v1/user_credentials/${id}`, { headers: { 'content-type': 'application/json' } });
  assert.equal(r.status, 200, r.text);
  assert.equal(typeof r.body.slug, 'string');
  return r.body.slug;
}

before(async () => {
  s = await startServer();
});
after(async () => {
  await assertServerHoldsNoSecret(s, secrets);
  await s.stop();
});

describe('slugs are transliterated, readable and stable', () => {
  it('gives Latin names with accents, and names in other scripts, readable underscored slugs', async () => {
    const cases: Array<[string, string]> = [
      ['Crédit Agricole', 'credit_agricole'],
      ['Zürich – Prod #2', 'zurich_prod_2'],
      ['Москва Банк', 'moskva_bank'],
      ['日本語', 'ribenyu'],
      ['tines_github_credential', 'tines_github_credential'],
    ];
    for (const [name, slug] of cases) {
      const c = await made(name);
      assert.equal(await slugThroughDialect(c.id), slug, name);
      assert.equal(c.slug, slug, name);
    }
  });

  it('is the same slug for the same name every time (in another team), and "Cre dit" no longer collides with "Crédit"', async () => {
    const team = (await s.request('POST', '/v1/teams', { body: { name: 'Slug team' } })).body;
    const value = canary('slug-team');
    secrets.push(value);
    const again = await s.request('POST', '/v1/credentials', { body: { name: '日本語', type: 'text', team_id: team.id, secret: { value } } });
    assert.equal(again.status, 201, again.text);
    assert.equal(await slugThroughDialect(again.body.id), 'ribenyu');
    const split = await made('Cre dit Agricole');
    assert.equal(split.slug, 'cre_dit_agricole');
  });
});
