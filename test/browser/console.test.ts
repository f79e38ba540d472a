// The web console at /ui, used the way a person uses it: in Chromium (playwright-core driving
// Debian's chromium), against a server started as a user starts it. Each test names the behaviour
// it proves: sign-in, the session's end (logout, a revoked key), CSRF, the CSP, user text rendered
// as text, an audited reveal that hides again, and no reveal button for roles without reveal.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { startServer, smtpBody, type TestServer } from '../support/server.ts';
import { assertServerHoldsNoSecret, canaryJar } from '../support/canary.ts';
import { freshBrowser, nativeCaller } from '../support/browser.ts';

let s: TestServer;
const { secrets, secret } = canaryJar();
const contexts: BrowserContext[] = [];

const native = nativeCaller(() => s);

async function keyWithRole(role: string): Promise<{ id: string; key: string }> {
  const k = await native('POST', '/v1/access-keys', { name: `console ${role} ${Date.now()}`, role });
  secrets.push(k.key);
  return { id: k.id, key: k.key };
}

/** A fresh browser profile, signed in with `key` through the sign-in form. */
async function signedIn(key: string): Promise<{ context: BrowserContext; page: Page }> {
  const context = await freshBrowser();
  contexts.push(context);
  const page = context.pages()[0] ?? (await context.newPage());
  await page.goto(`${s.url}/ui/`);
  await page.getByLabel('Access key').fill(key);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Credentials' }).waitFor();
  return { context, page };
}

/** With LATCHKEY_SCREENSHOTS=1 the main pages are saved under docs/screenshots/ (the README shows them). */
async function screenshot(page: Page, name: string): Promise<void> {
  if (process.env.LATCHKEY_SCREENSHOTS !== '1') return;
  await page.screenshot({ path: join(resolve(import.meta.dirname, '../../docs/screenshots'), `${name}.png`), fullPage: true });
}

async function sessionCookie(context: BrowserContext): Promise<string> {
  const cookie = (await context.cookies(s.url)).find((c) => c.name === 'latchkey_session');
  assert.ok(cookie, 'the session cookie is set');
  return `${cookie.name}=${cookie.value}`;
}

before(async () => {
  s = await startServer();
});
after(async () => {
  for (const c of contexts) await c.close();
  await assertServerHoldsNoSecret(s, secrets);
  await s.stop();
});

describe('console: sign-in and the session', () => {
  it('sign-in: a pasted access key becomes an HttpOnly, SameSite=Strict session cookie that page scripts cannot read', async () => {
    const { context, page } = await signedIn(s.ownerKey);
    const cookies = await context.cookies(s.url);
    const session = cookies.find((c) => c.name === 'latchkey_session');
    assert.ok(session);
    assert.equal(session.httpOnly, true);
    assert.equal(session.sameSite, 'Strict');
    assert.equal(session.secure, false, 'plain HTTP on loopback: Secure would drop it (over HTTPS the cookie is __Host- and Secure)');
    assert.ok(session.expires > Date.now() / 1000, 'the session expires');
    assert.equal(session.value.includes(s.ownerKey), false);
    // Nothing a script on the page can reach holds the key or the session token.
    // Evaluated in the page (a string: this file is type-checked without the DOM library).
    const visible: Record<string, string> = await page.evaluate(
      '({ cookie: document.cookie, local: JSON.stringify(localStorage), sessionStore: JSON.stringify(sessionStorage), url: location.href, html: document.documentElement.outerHTML })',
    );
    assert.equal(visible.cookie, '');
    for (const v of Object.values(visible)) {
      assert.equal(v.includes(s.ownerKey), false);
      assert.equal(v.includes(session.value), false);
    }
    assert.match(await page.locator('#who').innerText(), /\(owner\)/);
  });

  it('a wrong key is refused on the form and sets no cookie', async () => {
    const context = await freshBrowser();
    contexts.push(context);
    const page = context.pages()[0] ?? (await context.newPage());
    await page.goto(`${s.url}/ui/`);
    await page.getByLabel('Access key').fill('lk_test_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText('That access key was not accepted.').waitFor();
    assert.equal((await context.cookies(s.url)).length, 0);
  });

  it('logout ends the session: the old cookie no longer authenticates anything', async () => {
    const { context, page } = await signedIn(s.ownerKey);
    const cookie = await sessionCookie(context);
    const csrf = ((await (await fetch(`${s.url}/ui/session`, { headers: { cookie } })).json()) as { csrf_token: string }).csrf_token;
    assert.equal((await fetch(`${s.url}/v1/credentials`, { headers: { cookie, 'x-csrf-token': csrf } })).status, 200);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    assert.equal((await fetch(`${s.url}/v1/credentials`, { headers: { cookie, 'x-csrf-token': csrf } })).status, 401);
    assert.equal((await fetch(`${s.url}/ui/session`, { headers: { cookie } })).status, 401);
  });

  it('revoked key ends session: the next request after the revocation signs the page out', async () => {
    const admin = await keyWithRole('admin');
    const { context, page } = await signedIn(admin.key);
    const cookie = await sessionCookie(context);
    await native('DELETE', `/v1/access-keys/${admin.id}`);
    await page.reload();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    assert.equal((await fetch(`${s.url}/ui/session`, { headers: { cookie } })).status, 401);
    // An open page learns it on its next call.
    const other = await keyWithRole('admin');
    const second = await signedIn(other.key);
    await native('DELETE', `/v1/access-keys/${other.id}`);
    await second.page.getByRole('button', { name: 'Filter' }).click();
    await second.page.getByText('Your session ended. Sign in again.').waitFor();
  });
});

describe('console: sessions expire', () => {
  it('a session ends after LATCHKEY_CONSOLE_SESSION_SECONDS, and its cookie says so', async () => {
    const short = await startServer({ env: { LATCHKEY_CONSOLE_SESSION_SECONDS: '1' } });
    try {
      const r = await fetch(`${short.url}/ui/session`, {
        method: 'POST',
        headers: { origin: short.url, 'content-type': 'application/json' },
        body: JSON.stringify({ key: short.ownerKey }),
      });
      assert.equal(r.status, 201);
      const setCookie = r.headers.get('set-cookie') ?? '';
      assert.match(setCookie, /Max-Age=1;/);
      assert.match(setCookie, /HttpOnly/);
      assert.match(setCookie, /SameSite=Strict/);
      const cookie = setCookie.split(';')[0]!;
      const csrf = ((await r.json()) as { csrf_token: string }).csrf_token;
      assert.equal(r.headers.get('cache-control'), 'no-store');
      let status = 200;
      // The row's expires_at is one second after sign-in: within ten the session must be over.
      for (let i = 0; i < 40 && status === 200; i++) {
        await new Promise((done) => setTimeout(done, 250));
        status = (await fetch(`${short.url}/v1/credentials`, { headers: { cookie, 'x-csrf-token': csrf } })).status;
      }
      assert.equal(status, 401);
      assert.equal((await fetch(`${short.url}/ui/session`, { headers: { cookie } })).status, 401);
    } finally {
      await short.stop();
    }
  });
});

describe('console: hardening', () => {
  it('CSP header: every console answer has a strict Content-Security-Policy without inline script, and frame-ancestors none', async () => {
    for (const path of ['/ui', '/ui/', '/ui/assets/app.js', '/ui/assets/app.css', '/ui/session']) {
      const r = await fetch(`${s.url}${path}`);
      const csp = r.headers.get('content-security-policy') ?? '';
      assert.match(csp, /default-src 'none'/, path);
      assert.match(csp, /script-src 'self'(;|$)/, path);
      assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/, path);
      assert.match(csp, /frame-ancestors 'none'/, path);
      assert.equal(r.headers.get('x-frame-options'), 'DENY', path);
      assert.equal(r.headers.get('cache-control'), 'no-store', path);
    }
    const html = await (await fetch(`${s.url}/ui/`)).text();
    assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/, 'no inline script in the page');
    // The page works under its own policy: nothing it does is refused.
    const context = await freshBrowser();
    contexts.push(context);
    const page = context.pages()[0] ?? (await context.newPage());
    const refused: string[] = [];
    page.on('console', (m) => {
      if (/Content Security Policy/i.test(m.text())) refused.push(m.text());
    });
    await page.goto(`${s.url}/ui/`);
    await page.getByLabel('Access key').waitFor();
    await screenshot(page, 'console-sign-in');
    assert.deepEqual(refused, []);
  });

  it("CSRF refusal: a cookie request without the session's token is 403, and a cross-site form post changes nothing", async () => {
    const { context, page } = await signedIn(s.ownerKey);
    const cookie = await sessionCookie(context);
    const before = (await native('GET', '/v1/credentials?per_page=1')).total;
    const body = JSON.stringify(smtpBody('Forged', secret('forged')));
    const forged = await fetch(`${s.url}/v1/credentials`, { method: 'POST', headers: { cookie, 'content-type': 'application/json' }, body });
    assert.equal(forged.status, 403);
    assert.equal(((await forged.json()) as { error: { code: string } }).error.code, 'FORBIDDEN');
    const wrong = await fetch(`${s.url}/v1/credentials`, {
      method: 'POST',
      headers: { cookie, 'content-type': 'application/json', 'x-csrf-token': 'x'.repeat(43) },
      body,
    });
    assert.equal(wrong.status, 403);
    // A page of another site (localhost is another site than 127.0.0.1) posts a form at the API
    // and at sign-out in the signed-in browser.
    const target = new URL(s.url);
    const evil: Server = createServer((_req, res) => {
      res.setHeader('content-type', 'text/html');
      res.end(`<form id="f" method="post" action="${s.url}/v1/credentials" enctype="text/plain"><input name='{"name":"Forged","type":"text","secret":{"value":"x"},"x":"' value='"}'></form>
        <form id="g" method="post" action="${s.url}/ui/session"><input name="key" value="x"></form>
        <script>document.getElementById('f').submit()</script>`);
    });
    await new Promise<void>((r) => evil.listen(0, '127.0.0.1', r));
    try {
      const answer = page.waitForResponse((r) => r.url().startsWith(`${s.url}/v1/credentials`));
      await page.goto(`http://localhost:${(evil.address() as AddressInfo).port}/`);
      const r = await answer;
      assert.ok([401, 403, 415].includes(r.status()), `refused: ${r.status()}`);
      assert.notEqual(target.hostname, 'localhost');
    } finally {
      evil.close();
    }
    assert.equal((await native('GET', '/v1/credentials?per_page=1')).total, before, 'no credential was created');
    // Sign-in from another origin is refused too (login CSRF).
    const signIn = await fetch(`${s.url}/ui/session`, {
      method: 'POST',
      headers: { origin: 'http://localhost:1', 'content-type': 'application/json' },
      body: JSON.stringify({ key: s.ownerKey }),
    });
    assert.equal(signIn.status, 403);
    assert.equal(signIn.headers.get('set-cookie'), null);
  });

  it('a name with <script> is rendered as text and runs nothing', async () => {
    const name = '<img src=x onerror=alert(1)><script>window.pwned=1</script>';
    const made = await native('POST', '/v1/credentials', {
      name,
      type: 'text',
      description: '<b onmouseover=alert(2)>bold</b>',
      secret: { value: secret('xss') },
      metadata: { note: '<svg onload=alert(3)>' },
    });
    const { page } = await signedIn(s.ownerKey);
    let dialogs = 0;
    page.on('dialog', (d) => {
      dialogs++;
      void d.dismiss();
    });
    await page.getByLabel('Name').fill('img src');
    await page.getByRole('button', { name: 'Filter' }).click();
    const link = page.getByRole('link', { name });
    await link.waitFor();
    assert.equal(await link.innerText(), name);
    await link.click();
    await page.locator('#credential-name').waitFor();
    assert.equal(await page.locator('#credential-name').innerText(), name);
    await page.getByText('<svg onload=alert(3)>').waitFor();
    assert.equal(await page.locator('main img, main script, main svg, main b').count(), 0);
    assert.equal(await page.evaluate('window.pwned'), undefined);
    assert.equal(dialogs, 0);
    assert.ok(made.id);
  });
});

describe('console: credentials', () => {
  it('lists credentials with status at a glance, filters by name, and pages with the cursor', async () => {
    for (let i = 0; i < 27; i++)
      await native('POST', '/v1/credentials', { name: `Paged ${String(i).padStart(2, '0')}`, type: 'text', secret: { value: secret('paged') } });
    await native('POST', '/v1/credentials', {
      name: 'Paged soon',
      type: 'text',
      secret: { value: secret('soon') },
      expires_at: new Date(Date.now() + 3 * 86_400_000).toISOString(),
    });
    const inactive = await native('POST', '/v1/credentials', { name: 'Paged off', type: 'text', secret: { value: secret('off') }, status: 'inactive' });
    const { page } = await signedIn(s.ownerKey);
    await page.getByLabel('Name').fill('Paged');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.getByText('29 credentials').waitFor();
    assert.equal(await page.locator('tbody tr').count(), 25);
    const soon = page.locator('tr', { has: page.getByRole('link', { name: 'Paged soon' }) });
    assert.match(await soon.innerText(), /expiring soon/);
    assert.match(await page.locator(`tr[data-id="${inactive.id}"]`).innerText(), /inactive/);
    await page.getByRole('link', { name: 'Next page' }).click();
    await page.getByRole('link', { name: 'First page' }).waitFor();
    assert.equal(await page.locator('tbody tr').count(), 4);
    await screenshot(page, 'console-credentials');
    await page.getByLabel('Status').selectOption('inactive');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.getByText('1 credential', { exact: true }).waitFor();
  });

  it('reveal audited: the secret shows on a click, the reveal is in the audit trail, and the value hides again', async () => {
    const password = secret('reveal');
    const c = await native('POST', '/v1/credentials', smtpBody('Console reveal', password));
    await native('POST', `/v1/credentials/${c.id}/rotate`, { secret: { password: secret('rotated') } });
    const { page } = await signedIn(s.ownerKey);
    await page.clock.install();
    await page.goto(`${s.url}/ui/#/credentials/${c.id}`);
    await page.locator('#credential-name').waitFor();
    assert.match(await page.locator('#versions').innerText(), /2\s+current[\s\S]*1\s+previous/);
    assert.equal(await page.getByText(password).count(), 0, 'nothing secret before the click');
    await page.getByRole('button', { name: 'Reveal secret' }).click();
    await page.locator('#reveal .secret').first().waitFor();
    const shown = await page.locator('#reveal').innerText();
    assert.equal(shown.includes(password), false, 'the current version, not the first');
    assert.match(shown, /password: /);
    await page.locator('#audit').getByText('credential.reveal').waitFor();
    await screenshot(page, 'console-credential-revealed');
    const events = (await native('GET', `/v1/audit-events?filter[credential_id]=${c.id}&filter[action]=credential.reveal`)).data;
    assert.equal(events.length, 1);
    assert.equal(events[0].actor.type, 'access_key');
    await page.clock.fastForward(31_000);
    await page.getByRole('button', { name: 'Reveal secret' }).waitFor();
    assert.equal(await page.locator('#reveal .secret').count(), 0, 'hidden again');
    const html = await page.content();
    for (const v of secrets) assert.equal(html.includes(v), false);
  });

  it("member sees no reveal button, and the API refuses a member's reveal anyway", async () => {
    const member = await keyWithRole('member');
    const c = await native('POST', '/v1/credentials', smtpBody('Member view', secret('member')));
    const { context, page } = await signedIn(member.key);
    await page.goto(`${s.url}/ui/#/credentials/${c.id}`);
    await page.locator('#credential-name').waitFor();
    assert.equal(await page.getByRole('button', { name: 'Reveal secret' }).count(), 0);
    await page.getByText('Your role does not read the audit log.').waitFor();
    const cookie = await sessionCookie(context);
    const csrf = ((await (await fetch(`${s.url}/ui/session`, { headers: { cookie } })).json()) as { csrf_token: string }).csrf_token;
    assert.equal((await fetch(`${s.url}/v1/credentials/${c.id}/secret`, { headers: { cookie, 'x-csrf-token': csrf } })).status, 403);
  });
});

describe('console: access keys', () => {
  it('issue a key: shown once with a copy button; revoking the signed-in key from the page ends the session', async () => {
    const admin = await keyWithRole('admin');
    const { context, page } = await signedIn(admin.key);
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: s.url });
    await page.getByRole('link', { name: 'Access keys' }).click();
    await page.getByRole('heading', { name: 'Access keys' }).waitFor();
    await page.getByLabel('Name').fill('Console issued');
    await page.getByLabel('Role').selectOption('viewer');
    await page.getByRole('button', { name: 'Issue key' }).click();
    const shown = await page.locator('#new-key').innerText();
    secrets.push(shown);
    assert.match(shown, /^lk_[a-z0-9]+_[A-Za-z0-9]{43}$/);
    await page.getByRole('button', { name: 'Copy key' }).click();
    assert.equal(await page.evaluate('navigator.clipboard.readText()'), shown);
    assert.equal((await s.request('GET', '/v1/credentials', { key: shown })).status, 200, 'the issued key works');
    // Shown once: the list after "Done" has the key's prefix, never the key.
    await page.getByRole('button', { name: 'Done' }).click();
    const row = page.locator('tr', { hasText: 'Console issued' });
    await row.waitFor();
    assert.equal((await page.content()).includes(shown), false);
    const mine = page.locator(`tr[data-id="${admin.id}"]`);
    assert.match(await mine.innerText(), /you/);
    await mine.getByRole('button', { name: /^Revoke/ }).click();
    await page.getByText('Your session ended. Sign in again.').waitFor();
    assert.equal((await s.request('GET', '/v1/credentials', { key: admin.key })).status, 401);
  });

  it('roles without access_keys:manage see no access keys link', async () => {
    const viewer = await keyWithRole('viewer');
    const { page } = await signedIn(viewer.key);
    assert.equal(await page.getByRole('link', { name: 'Access keys' }).count(), 0);
  });
});
