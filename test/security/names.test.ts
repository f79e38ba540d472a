// Names accepted bidi controls (`evil\u202Egnp.exe` shows as "evilexe.png") and confusables
// (`Pаyments` with a Cyrillic а beside `Payments`). Names now refuse control, format and bidi
// characters and words that mix scripts (UTS #39 "Highly Restrictive" per word), with 422 naming
// the field; names in any one script still work.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type TestServer } from '../support/server.ts';
import { assertServerHoldsNoSecret, canary } from '../support/canary.ts';

let s: TestServer;
const refusedSecrets: string[] = [];

/** Names a person would misread, each with why. */
const HOSTILE: Record<string, string> = {
  'right-to-left override': 'evil\u202egnp.exe',
  'left-to-right embedding': 'pay\u202aroll',
  'first strong isolate': 'pay\u2068roll\u2069',
  'right-to-left mark': 'pay\u200froll',
  'zero-width space': 'Pay\u200bments',
  'zero-width joiner': 'Pay\u200dments',
  'word joiner': 'Pay\u2060ments',
  'byte order mark': '\ufeffPayments',
  'soft hyphen': 'Pay\u00adments',
  'line separator': 'Pay\u2028ments',
  'C1 control': 'Pay\u0085ments',
  'Cyrillic а in a Latin word': 'P\u0430yments',
  'Greek ο in a Latin word': 'Pr\u03bfd database',
  'Cherokee Ꮲ in a Latin word': '\u13e2ayments',
};

const LEGITIMATE = [
  '日本語',
  'Crédit Agricole',
  'Сбербанк API',
  'Gmailのアカウント',
  '한국어 키',
  'Ελληνικά',
  'نام فارسی',
  'Zürich – Prod #2',
  'München Büro 🔑',
];

function issuesOf(r: { body: any }): Array<{ path: string; message: string }> {
  return Array.isArray(r.body?.error?.details) ? r.body.error.details : [];
}

let tenantId = '';

before(async () => {
  s = await startServer();
  tenantId = (await s.request('GET', '/v1/tenants')).body.data[0].id;
});

after(async () => {
  await s.stop();
});

describe('names that hide what they say → 422 naming the field, nothing stored', () => {
  it('credential create (native) refuses each hostile name', async () => {
    for (const [what, name] of Object.entries(HOSTILE)) {
      const secret = canary('names');
      refusedSecrets.push(secret);
      const r = await s.request('POST', '/v1/credentials', { body: { name, type: 'text', secret: { value: secret } } });
      assert.equal(r.status, 422, `${what}: ${r.text}`);
      assert.equal(r.body.error.code, 'VALIDATION_FAILED', what);
      assert.deepEqual(
        issuesOf(r).map((i) => i.path),
        ['name'],
        what,
      );
      assert.match(issuesOf(r)[0]!.message, /bidi|script/, what);
    }
    const names = (await s.request('GET', '/v1/credentials?per_page=100')).body.data.map((c: { name: string }) => c.name);
    for (const name of Object.values(HOSTILE)) assert.equal(names.includes(name), false, JSON.stringify(name));
  });

  it('a look-alike of an existing credential is refused, also as a rename', async () => {
    const real = await s.request('POST', '/v1/credentials', { body: { name: 'Payments', type: 'text', secret: { value: canary('names-real') } } });
    assert.equal(real.status, 201, real.text);
    const other = await s.request('POST', '/v1/credentials', { body: { name: 'Payroll', type: 'text', secret: { value: canary('names-other') } } });
    assert.equal(other.status, 201, other.text);
    const rename = await s.request('PATCH', `/v1/credentials/${other.body.id}`, { body: { name: 'P\u0430yments' } });
    assert.equal(rename.status, 422, rename.text);
    assert.deepEqual(
      issuesOf(rename).map((i) => i.path),
      ['name'],
    );
    assert.equal((await s.request('GET', `/v1/credentials/${other.body.id}`)).body.name, 'Payroll');
  });

  it('team, folder, access key and tenant names refuse them the same way', async () => {
    const team = await s.request('POST', '/v1/teams', { body: { name: 'Names Team' } });
    assert.equal(team.status, 201, team.text);
    const calls: Array<[string, string, (name: string) => unknown]> = [
      ['POST', '/v1/teams', (name) => ({ name })],
      ['PATCH', `/v1/teams/${team.body.id}`, (name) => ({ name })],
      ['POST', '/v1/folders', (name) => ({ name, team_id: team.body.id })],
      ['POST', '/v1/access-keys', (name) => ({ name, role: 'viewer' })],
      ['POST', '/v1/tenants', (name) => ({ name })],
    ];
    for (const [method, path, body] of calls) {
      for (const what of ['right-to-left override', 'zero-width space', 'Cyrillic а in a Latin word']) {
        const r = await s.request(method, path, { body: body(HOSTILE[what]!) });
        assert.equal(r.status, 422, `${method} ${path} ${what}: ${r.text}`);
        assert.deepEqual(
          issuesOf(r).map((i) => i.path),
          ['name'],
          `${method} ${path} ${what}`,
        );
      }
    }
    assert.equal((await s.request('GET', `/v1/teams/${team.body.id}`)).body.name, 'Names Team');
    const keys = (await s.request('GET', '/v1/access-keys?per_page=100')).body.data.map((k: { name: string }) => k.name);
    assert.equal(
      keys.some((n: string) => /[\u0430\u200b\u202e]/.test(n)),
      false,
    );
  });

  it('a description refuses bidi overrides and isolates but keeps line breaks and RTL marks', async () => {
    const bad = await s.request('POST', '/v1/credentials', {
      body: { name: 'Described', type: 'text', description: 'pays \u202eeulav eurt\u202c out', secret: { value: canary('names-desc') } },
    });
    assert.equal(bad.status, 422, bad.text);
    assert.deepEqual(
      issuesOf(bad).map((i) => i.path),
      ['description'],
    );
    const good = await s.request('POST', '/v1/credentials', {
      body: { name: 'Described', type: 'text', description: 'line one\nשלום \u200fAPI', secret: { value: canary('names-desc-ok') } },
    });
    assert.equal(good.status, 201, good.text);
    assert.equal(good.body.description, 'line one\nשלום \u200fAPI');
  });

  it('dialects refuse them too (integration-credentials credentialName, account-credentials name)', async () => {
    const ic = await s.request('POST', '/compat/integration-credentials/api/v1/credentials', {
      headers: { 'x-tenantid': tenantId },
      body: { integrationId: 'names-int', credentialName: HOSTILE['right-to-left override'], authType: 'text', accessToken: canary('names-ic') },
    });
    assert.equal(ic.status, 422, ic.text);
    const ac = await s.request('POST', '/compat/account-credentials/v1/credentials', { body: { name: HOSTILE['Cyrillic а in a Latin word'], type: 'api' } });
    assert.equal(ac.status, 422, ac.text);
  });

  it('names in one script each, and words of different scripts side by side, still work', async () => {
    for (const name of LEGITIMATE) {
      const c = await s.request('POST', '/v1/credentials', { body: { name, type: 'text', secret: { value: canary('names-ok') } } });
      assert.equal(c.status, 201, `${name}: ${c.text}`);
      assert.equal(c.body.name, name);
      const k = await s.request('POST', '/v1/access-keys', { body: { name, role: 'viewer' } });
      assert.equal(k.status, 201, `${name}: ${k.text}`);
      const t = await s.request('POST', '/v1/teams', { body: { name, slug: `t${LEGITIMATE.indexOf(name)}` } });
      assert.equal(t.status, 201, `${name}: ${t.text}`);
    }
  });

  it('no refused secret is anywhere on the server', async () => {
    await assertServerHoldsNoSecret(s, refusedSecrets);
  });
});
