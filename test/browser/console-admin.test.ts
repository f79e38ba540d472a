// The console's sign-in with SSO and its administration pages, used the way a person uses them: in
// Chromium (playwright-core driving Debian's chromium) against a server started as a user starts it,
// with a real OpenID Connect provider (node-oidc-provider) on loopback. SSO sign-in end to end and
// its refusals (a wrong state, a replayed code, a bad nonce, an identity that maps to no role), the
// hold on repeated bad sign-ins, teams with members and folders, the audit log with the chain's
// verify status, the owner's key status page, pages by role, and the whole at phone width.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { startServer, smtpBody, type TestServer } from '../support/server.ts';
import { assertServerHoldsNoSecret, canaryJar } from '../support/canary.ts';
import { freshBrowser, nativeCaller } from '../support/browser.ts';
import { CLIENT, startProvider, type TestProvider } from '../support/oauth-provider.ts';

let s: TestServer;
let p: TestProvider;
let tenantId = '';
const { secrets, secret } = canaryJar([CLIENT.secret]);
const contexts: BrowserContext[] = [];
/** What the provider says of each login: tenants and role claim values (the mapping below turns them into roles). */
const accounts: Record<string, { tenants: string[]; lk_role: string }> = {};

const ROLE_MAP = { 'vault-owner': 'owner', 'vault-admin': 'admin', 'vault-viewer': 'viewer' };

/** A port for Latchkey chosen before it starts: the provider must know the callback, and Latchkey the issuer. */
async function freePort(): Promise<number> {
  const srv = createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const port = (srv.address() as AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}

const native = nativeCaller(() => s);

async function keyWithRole(role: string, name = `admin-console ${role} ${Date.now()}`): Promise<{ id: string; key: string }> {
  const k = await native('POST', '/v1/access-keys', { name, role });
  secrets.push(k.key);
  return { id: k.id, key: k.key };
}

async function freshPage(viewport?: { width: number; height: number }): Promise<{ context: BrowserContext; page: Page }> {
  const context = await freshBrowser();
  contexts.push(context);
  const page = context.pages()[0] ?? (await context.newPage());
  if (viewport) await page.setViewportSize(viewport);
  return { context, page };
}

/** Signed in with an access key through the sign-in form. */
async function signedIn(key: string, viewport?: { width: number; height: number }): Promise<{ context: BrowserContext; page: Page }> {
  const { context, page } = await freshPage(viewport);
  await page.goto(`${s.url}/ui/`);
  await page.getByLabel('Access key').fill(key);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Credentials' }).waitFor();
  return { context, page };
}

/** Signed in with SSO: the console's button, the provider's own login and consent pages, and back. */
async function ssoSignedIn(login: string): Promise<{ context: BrowserContext; page: Page }> {
  const { context, page } = await freshPage();
  await page.goto(`${s.url}/ui/`);
  await page.getByRole('link', { name: 'Sign in with SSO' }).click();
  await page.locator('input[name="login"]').fill(login);
  await page.locator('input[name="password"]').fill('any');
  await page.getByRole('button', { name: 'Sign-in' }).click();
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.getByRole('heading', { name: 'Credentials' }).waitFor();
  return { context, page };
}

async function screenshot(page: Page, name: string, fullPage = true): Promise<void> {
  if (process.env.LATCHKEY_SCREENSHOTS !== '1') return;
  // Showing a page focuses its main area, which scrolls the bar out of a first-screen shot.
  await page.evaluate('window.scrollTo(0, 0)');
  await page.screenshot({ path: join(resolve(import.meta.dirname, '../../docs/screenshots'), `${name}.png`), fullPage });
}

async function sessionCookie(context: BrowserContext, url = s.url): Promise<{ cookie: string; csrf: string }> {
  const c = (await context.cookies(url)).find((x) => x.name === 'latchkey_session');
  assert.ok(c, 'the session cookie is set');
  const cookie = `${c.name}=${c.value}`;
  const csrf = ((await (await fetch(`${url}/ui/session`, { headers: { cookie } })).json()) as { csrf_token: string }).csrf_token;
  return { cookie, csrf };
}

/** The server logged this (the log is written asynchronously: it is waited for, up to 20 s). */
async function logged(re: RegExp): Promise<void> {
  for (let i = 0; i < 200 && !re.test(s.logs()); i++) await new Promise((r) => setTimeout(r, 100));
  assert.match(s.logs(), re);
}

/** Set-Cookie lines as one Cookie header (name=value of each, in order). */
const cookiesOf = (res: Response) =>
  res.headers
    .getSetCookie()
    .map((l) => l.split(';')[0]!)
    .join('; ');

/** The sign-in's first stop, as a browser makes it: the login cookie and where the provider is. */
async function startSso(): Promise<{ loginCookie: string; authorizationUrl: string }> {
  const res = await fetch(`${s.url}/ui/oidc/start`, { redirect: 'manual' });
  assert.equal(res.status, 303);
  const setCookie = res.headers.get('set-cookie') ?? '';
  assert.match(setCookie, /^latchkey_oidc_login=[A-Za-z0-9_-]{43};/);
  assert.match(setCookie, /HttpOnly/);
  assert.match(setCookie, /SameSite=Lax/);
  return { loginCookie: cookiesOf(res), authorizationUrl: res.headers.get('location')! };
}

/** The callback as the browser sends it; the answer's redirect and any session cookie. */
async function callback(url: URL | string, loginCookie: string | null): Promise<{ location: string; session: string | null }> {
  const res = await fetch(url, { redirect: 'manual', headers: loginCookie ? { cookie: loginCookie } : {} });
  assert.equal(res.status, 303);
  const session = res.headers.getSetCookie().find((l) => l.startsWith('latchkey_session='));
  return { location: res.headers.get('location')!, session: session ? session.split(';')[0]! : null };
}

before(async () => {
  const port = await freePort();
  p = await startProvider({
    redirectUris: [`http://127.0.0.1:${port}/ui/oidc/callback`],
    extraClaims: { scope: 'latchkey', names: ['tenants', 'lk_role'], of: (id) => accounts[id] ?? {} },
  });
  s = await startServer({
    env: {
      LATCHKEY_PORT: String(port),
      LATCHKEY_LOG_LEVEL: 'info',
      LATCHKEY_OIDC_ISSUERS: JSON.stringify([
        { issuer: p.issuer, audience: 'https://latchkey.test', tenant_claim: 'tenants', role_claim: 'lk_role', role_map: ROLE_MAP },
      ]),
      LATCHKEY_CONSOLE_OIDC_ISSUER: p.issuer,
      LATCHKEY_CONSOLE_OIDC_CLIENT_ID: CLIENT.id,
      LATCHKEY_CONSOLE_OIDC_CLIENT_SECRET: CLIENT.secret,
      LATCHKEY_CONSOLE_OIDC_SCOPES: 'openid profile email latchkey',
    },
  });
  tenantId = (await native('GET', '/v1/tenants')).data[0].id;
  accounts.alice = { tenants: [tenantId], lk_role: 'vault-owner' };
  accounts.vera = { tenants: [tenantId], lk_role: 'vault-viewer' };
  accounts.mallory = { tenants: [tenantId], lk_role: 'owner' };
});

after(async () => {
  for (const c of contexts) await c.close();
  if (s) await assertServerHoldsNoSecret(s, secrets);
  await s?.stop();
  await p?.close();
});

describe('console: sign-in with SSO (OpenID Connect)', () => {
  it('SSO sign-in end to end: the provider signs the person in, the console sets the same HttpOnly SameSite=Strict cookie, the role comes from role_map', async () => {
    const { context, page } = await ssoSignedIn('alice');
    assert.equal(await page.locator('#who').innerText(), 'User alice (owner)');
    const cookies = await context.cookies(s.url);
    const session = cookies.find((c) => c.name === 'latchkey_session');
    assert.ok(session);
    assert.equal(session.httpOnly, true);
    assert.equal(session.sameSite, 'Strict');
    assert.equal(
      cookies.some((c) => c.name === 'latchkey_oidc_login'),
      false,
      'the login cookie dies with the callback',
    );
    assert.equal(await page.evaluate('document.cookie'), '');
    // The session works like a key's: the API answers the page, and the sign-in is audited as the person.
    const { cookie, csrf } = await sessionCookie(context);
    assert.equal((await fetch(`${s.url}/v1/credentials`, { headers: { cookie, 'x-csrf-token': csrf } })).status, 200);
    const signIns = (await native('GET', '/v1/audit-events?filter[action]=console.sign_in&per_page=5')).data;
    const mine = signIns.find((e: { actor: { name: string } }) => e.actor.name === 'User alice');
    assert.ok(mine, 'console.sign_in by the person');
    assert.equal(mine.actor.type, 'user');
    assert.match(mine.actor.id, /^usr_[0-9a-f]{26}$/);
    // Sign-out ends it on the server.
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    assert.equal((await fetch(`${s.url}/v1/credentials`, { headers: { cookie, 'x-csrf-token': csrf } })).status, 401);
  });

  it('the session ends when the identity no longer maps to a tenant: its tenant purged, the next request is 401', async () => {
    const other = await native('POST', '/v1/tenants', { name: `SSO purge ${Date.now()}` });
    secrets.push(other.owner_access_key.key);
    accounts.bob = { tenants: [other.tenant.id], lk_role: 'vault-admin' };
    const { context, page } = await ssoSignedIn('bob');
    assert.equal(await page.locator('#who').innerText(), 'User bob (admin)');
    const { cookie, csrf } = await sessionCookie(context);
    assert.equal((await fetch(`${s.url}/v1/credentials`, { headers: { cookie, 'x-csrf-token': csrf } })).status, 200);
    await native('DELETE', `/v1/tenants/${other.tenant.id}`);
    assert.equal((await fetch(`${s.url}/v1/credentials`, { headers: { cookie, 'x-csrf-token': csrf } })).status, 401);
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.getByText('Your session ended. Sign in again.').waitFor();
  });

  it('wrong state refused: a callback whose state is not the login cookie’s sets no session, and the right one still works once', async () => {
    const { loginCookie, authorizationUrl } = await startSso();
    const url = new URL(authorizationUrl);
    assert.equal(url.searchParams.get('code_challenge_method'), 'S256');
    assert.match(url.searchParams.get('code_challenge') ?? '', /^[A-Za-z0-9_-]{43}$/);
    assert.ok(url.searchParams.get('nonce'));
    const back = await p.authorize(authorizationUrl, 'alice');
    const state = back.searchParams.get('state')!;
    const wrong = new URL(back);
    wrong.searchParams.set('state', `${state.slice(0, -1)}${state.endsWith('A') ? 'B' : 'A'}`);
    assert.deepEqual(await callback(wrong, loginCookie), { location: '/ui/#/sso-refused', session: null });
    // The right state in another browser (no login cookie) is refused too: it did not start this sign-in.
    assert.deepEqual(await callback(back, null), { location: '/ui/#/sso-refused', session: null });
    await logged(/"reason":"state does not match"/);
    await logged(/"reason":"no sign-in under way in this browser"/);
    const ok = await callback(back, loginCookie);
    assert.equal(ok.location, '/ui/#/credentials');
    assert.ok(ok.session);
    // Replayed: the same callback again finds its state taken.
    assert.deepEqual(await callback(back, loginCookie), { location: '/ui/#/sso-refused', session: null });
    await logged(/"reason":"state used or expired"/);
  });

  it('replayed code refused: a used code under a fresh sign-in’s state fails at the provider (and PKCE)', async () => {
    const first = await startSso();
    const back = await p.authorize(first.authorizationUrl, 'alice');
    assert.ok((await callback(back, first.loginCookie)).session);
    const second = await startSso();
    const fresh = new URL(await p.authorize(second.authorizationUrl, 'alice'));
    fresh.searchParams.set('code', back.searchParams.get('code')!);
    assert.deepEqual(await callback(fresh, second.loginCookie), { location: '/ui/#/sso-refused', session: null });
    await logged(/"reason":"token endpoint answered 400"/);
  });

  it('bad nonce refused: an ID token minted for another nonce (an injected code) sets no session', async () => {
    const { loginCookie, authorizationUrl } = await startSso();
    const tampered = new URL(authorizationUrl);
    tampered.searchParams.set('nonce', 'a-nonce-of-another-sign-in');
    const back = await p.authorize(tampered.toString(), 'alice');
    assert.deepEqual(await callback(back, loginCookie), { location: '/ui/#/sso-refused', session: null });
    await logged(/"reason":"nonce does not match"/);
  });

  it('an identity whose claims map to no role is refused (a claim value spelled like a role grants nothing), and the page says so', async () => {
    const { page } = await freshPage();
    await page.goto(`${s.url}/ui/`);
    await page.getByRole('link', { name: 'Sign in with SSO' }).click();
    await page.locator('input[name="login"]').fill('mallory');
    await page.locator('input[name="password"]').fill('any');
    await page.getByRole('button', { name: 'Sign-in' }).click();
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByText('Single sign-on did not sign you in.').waitFor();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    assert.equal((await page.context().cookies(s.url)).filter((c) => c.name === 'latchkey_session').length, 0);
    await logged(/"reason":"the identity maps to no tenant and role"/);
  });
});

describe('console: a source that keeps failing sign-in is held back', () => {
  it('POST /ui/session: the first 10 bad keys of a window are answered at once, the rest held like bad API keys; a good sign-in meanwhile is not', async () => {
    const HOLD_MS = 5000;
    const t = await startServer({ env: { LATCHKEY_AUTH_FAILURE_DELAY_MS: String(HOLD_MS), LATCHKEY_AUTH_FAILURE_WINDOW_MS: '600000' } });
    try {
      // Order, not speed: a held answer waits HOLD_MS by a timer, longer than any stall of a loaded machine.
      const answered: string[] = [];
      const signIn = async (key: string, label: string) => {
        const r = await fetch(`${t.url}/ui/session`, {
          method: 'POST',
          headers: { origin: t.url, 'content-type': 'application/json' },
          body: JSON.stringify({ key }),
        });
        answered.push(label);
        return { status: r.status, body: await r.text(), cookie: r.headers.get('set-cookie') };
      };
      const flood = Array.from({ length: 15 }, (_, i) => signIn(`lk_live_${'A'.repeat(42)}${'BCDEFGHIJKLMNOP'[i]}`, 'bad'));
      while (answered.length < 10) await new Promise((r) => setTimeout(r, 10));
      const good = await signIn(t.ownerKey, 'good');
      const bad = await Promise.all(flood);
      assert.equal(good.status, 201);
      assert.deepEqual(answered.slice(0, 10), Array(10).fill('bad'));
      assert.equal(answered[10], 'good', 'the good sign-in was answered before the held failures');
      assert.equal(answered.length, 16);
      for (const b of bad) {
        assert.equal(b.status, 401);
        assert.equal(b.cookie, null);
      }
      const bodies = new Set(bad.map((b) => b.body.replace(/req_[A-Za-z0-9]+/g, 'req')));
      assert.equal(bodies.size, 1, 'held and prompt refusals look the same');
    } finally {
      await t.stop();
    }
  });
});

describe('console: teams, members and folders', () => {
  it('create a team, add a member, create a folder, remove the member: each through the native API, names shown as text', async () => {
    const member = await keyWithRole('viewer', 'Teams page viewer');
    const { page } = await signedIn(s.ownerKey);
    await page.getByRole('link', { name: 'Teams' }).click();
    await page.getByRole('heading', { name: 'Teams' }).waitFor();
    const name = `Ops <img src=x onerror=alert(1)> ${Date.now()}`;
    await page.getByLabel('Team name').fill(name);
    await page.getByRole('button', { name: 'Create team' }).click();
    const link = page.getByRole('link', { name });
    await link.waitFor();
    const team = (await native('GET', '/v1/teams')).data.find((t: { name: string }) => t.name === name);
    assert.ok(team, 'the team exists in the API');
    await link.click();
    assert.equal(await page.locator('#team-name').innerText(), name);
    assert.equal(await page.locator('main img').count(), 0);

    await page.getByLabel('Access key').selectOption(member.id);
    await page.getByRole('button', { name: 'Add member' }).click();
    await page.locator(`#members tr[data-id="${member.id}"]`).waitFor();
    assert.match(await page.locator(`#members tr[data-id="${member.id}"]`).innerText(), /Teams page viewer\s+viewer/);
    assert.deepEqual(
      (await native('GET', `/v1/teams/${team.id}/members`)).data.map((k: { id: string }) => k.id),
      [member.id],
    );

    await page.getByLabel('Folder name').fill('Payments');
    await page.getByRole('button', { name: 'Create folder' }).click();
    await page.locator('#folders').getByText('Payments').waitFor();
    const folders = (await native('GET', '/v1/folders')).data.filter((f: { team_id: string }) => f.team_id === team.id);
    assert.deepEqual(
      folders.map((f: { name: string }) => f.name),
      ['Payments'],
    );
    await screenshot(page, 'console-team');

    await page.getByRole('button', { name: 'Remove Teams page viewer' }).click();
    await page.getByText('No members yet.').waitFor();
    assert.deepEqual((await native('GET', `/v1/teams/${team.id}/members`)).data, []);

    // A team with a folder is not deleted: the API's refusal is shown on the page.
    await page.getByRole('link', { name: 'All teams' }).click();
    await page.getByRole('button', { name: `Delete team ${name}` }).click();
    await page.locator('main .error').filter({ hasText: /\S/ }).waitFor();
    await screenshot(page, 'console-teams');
  });
});

describe('console: the audit log', () => {
  it('reveal audited on the audit page: a reveal from the reveal button is found by its filters, with the chain verified ok', async () => {
    const c = await native('POST', '/v1/credentials', smtpBody(`Audit page ${Date.now()}`, secret('audit-page')));
    const { page } = await signedIn(s.ownerKey);
    await page.goto(`${s.url}/ui/#/credentials/${c.id}`);
    await page.getByRole('button', { name: 'Reveal secret' }).click();
    await page.locator('#reveal .secret').first().waitFor();
    await page.getByRole('button', { name: 'Hide' }).click();

    await page.getByRole('link', { name: 'Audit log' }).click();
    await page.getByRole('heading', { name: 'Audit log' }).waitFor();
    assert.match(await page.locator('#chain').innerText(), /^Chain verified: ok, \d+ events checked/);
    await page.locator('#events tbody tr').first().waitFor();
    // The first screen of the log: the chain's status, the filters, the newest events.
    await screenshot(page, 'console-audit', false);
    await page.getByLabel('Action').fill('credential.reveal');
    await page.getByLabel('Credential').fill(c.id);
    // The unfiltered table is marked, so the wait below is for the filtered one.
    await page.evaluate("document.getElementById('events').dataset.stale = '1'");
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.waitForURL(/#\/audit\?action=credential\.reveal&credential=/);
    const rows = page.locator('#events:not([data-stale]) tbody tr');
    await rows.first().waitFor();
    assert.equal(await rows.count(), 1);
    const row = await rows.first().innerText();
    assert.match(row, /credential\.reveal/);
    assert.match(row, /success/);
    assert.ok(row.includes(c.id));
    const event = (await native('GET', `/v1/audit-events?filter[credential_id]=${c.id}&filter[action]=credential.reveal`)).data[0];
    assert.equal(await rows.first().getAttribute('data-id'), event.id);
    // Another outcome finds nothing; the chain's status stays on top.
    await page.getByLabel('Outcome').selectOption('denied');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.getByText('No events match.').waitFor();
    assert.match(await page.locator('#chain').innerText(), /Chain verified: ok/);
    // An event with facts shows them: the create's type and the rest of its detail.
    await page.getByLabel('Outcome').selectOption('');
    await page.getByLabel('Action').fill('credential.create');
    await page.evaluate("document.getElementById('events').dataset.stale = '1'");
    await page.getByRole('button', { name: 'Filter' }).click();
    await rows.first().waitFor();
    const created = (await native('GET', `/v1/audit-events?filter[credential_id]=${c.id}&filter[action]=credential.create`)).data[0];
    assert.equal(created.detail?.type, 'smtp', JSON.stringify(created));
    const shown = await rows.first().locator('td.detail').innerText();
    for (const [k, v] of Object.entries(created.detail)) assert.ok(shown.includes(`${k}: ${String(v)}`), `${k} missing from "${shown}"`);
    const html = await page.content();
    for (const v of secrets) assert.equal(html.includes(v), false);
  });

  it('filters by actor and time, and pages with the cursor', async () => {
    const writer = await keyWithRole('admin', 'Audit pager');
    const since = new Date(Date.now() - 1000).toISOString();
    for (let i = 0; i < 27; i++) await native('POST', '/v1/teams', { name: `Paged team ${Date.now()} ${i}` }, writer.key);
    const { page } = await signedIn(s.ownerKey);
    await page.goto(`${s.url}/ui/#/audit?actor=${writer.id}&since=${encodeURIComponent(since)}`);
    await page.locator('#events tbody tr').first().waitFor();
    assert.equal(await page.getByLabel('Actor').inputValue(), writer.id);
    assert.equal(await page.locator('#events tbody tr').count(), 25);
    await page.getByRole('link', { name: 'Next page' }).click();
    await page.getByRole('link', { name: 'First page' }).waitFor();
    assert.equal(await page.locator('#events tbody tr').count(), 2);
    for (const text of await page.locator('#events tbody tr').allInnerTexts()) assert.match(text, /Audit pager/);
    // Until a moment before the first event: nothing.
    await page.goto(`${s.url}/ui/#/audit?actor=${writer.id}&until=${encodeURIComponent(since)}`);
    await page.getByText('No events match.').waitFor();
  });
});

describe('console: key status and pages by role', () => {
  it('owner sees key status: the root key id, the data key version and what is sealed under it', async () => {
    const { page } = await signedIn(s.ownerKey);
    await page.getByRole('link', { name: 'Key status' }).click();
    await page.getByRole('heading', { name: 'Key status' }).waitFor();
    const readyz = (await (await fetch(`${s.url}/readyz`)).json()) as { keys: { root_key_id: string } };
    const status = await page.locator('#key-status').innerText();
    assert.ok(status.includes(readyz.keys.root_key_id), status);
    assert.match(status, /held by the provider/);
    assert.match(status, /none in progress/);
    assert.match(status, /version 1 \(new secrets are sealed under it\)/);
    await native('POST', `/v1/tenants/${tenantId}/keys/rotate`);
    await page.reload();
    await page.locator('#key-status').waitFor();
    assert.match(await page.locator('#key-status').innerText(), /version 2 \(new secrets/);
    assert.match(await page.locator('#key-status').innerText(), /sealed values\s+re-sealed by latchkey keys reseal/);
    assert.ok((await page.locator('#sealed tbody tr').count()) >= 1);
  });

  it('member/viewer does not see key status: no link, a clear message at the address, and the API refuses', async () => {
    for (const role of ['viewer', 'member', 'admin']) {
      const k = await keyWithRole(role);
      const { page } = await signedIn(k.key);
      assert.equal(await page.getByRole('link', { name: 'Key status' }).count(), 0, role);
      const pages = role === 'admin' ? [] : ['Teams', 'Audit log'];
      for (const name of pages) assert.equal(await page.getByRole('link', { name }).count(), 0, `${role}: ${name}`);
      await page.goto(`${s.url}/ui/#/keys`);
      await page.locator('#denied', { hasText: `Your role (${role}) cannot see the tenant's keys (owners only).` }).waitFor();
      if (role !== 'admin') {
        await page.goto(`${s.url}/ui/#/audit`);
        await page.locator('#denied', { hasText: `Your role (${role}) cannot read the audit log.` }).waitFor();
      }
      assert.equal((await s.request('GET', `/v1/tenants/${tenantId}/keys`, { key: k.key })).status, 403);
    }
    // A person signed in with SSO as a viewer gets the same.
    const { page } = await ssoSignedIn('vera');
    assert.equal(await page.getByRole('link', { name: 'Key status' }).count(), 0);
    await page.goto(`${s.url}/ui/#/teams`);
    await page.locator('#denied', { hasText: 'Your role (viewer) cannot manage teams.' }).waitFor();
  });
});

describe('console: phone width', () => {
  it('at 390px every admin page fits the screen and works: teams, audit log, key status', async () => {
    const phone = { width: 390, height: 844 };
    const { page } = await signedIn(s.ownerKey, phone);
    const fits = async (what: string) => {
      const width = (await page.evaluate('document.documentElement.scrollWidth')) as number;
      assert.ok(width <= phone.width, `${what}: ${width}px wide`);
    };
    await fits('credentials');
    await page.getByRole('link', { name: 'Teams' }).click();
    await page.getByLabel('Team name').fill(`Phone team ${Date.now()}`);
    await page.getByRole('button', { name: 'Create team' }).click();
    await page.getByRole('link', { name: /^Phone team/ }).click();
    await page.getByLabel('Folder name').fill('Phone folder');
    await page.getByRole('button', { name: 'Create folder' }).click();
    await page.locator('#folders').getByText('Phone folder').waitFor();
    await fits('team');
    await page.getByRole('link', { name: 'Audit log' }).click();
    await page.locator('#chain').waitFor();
    await page.getByLabel('Action').fill('folder.create');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.locator('#events tbody tr').first().waitFor();
    await fits('audit log');
    await screenshot(page, 'console-audit-phone', false);
    await page.getByRole('link', { name: 'Key status' }).click();
    await page.locator('#key-status').waitFor();
    await fits('key status');
  });
});
