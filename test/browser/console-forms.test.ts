// The console's forms and actions, used the way a person uses them: Chromium (playwright-core
// driving Debian's chromium) against a server started as a user starts it, a real SMTP server that
// checks the login on verify, and a real OAuth/OpenID provider (node-oidc-provider) for Connect.
// Each test names the behaviour it proves: a form made from the type catalog with the API's 422
// on the field it names, edit with If-Match and its conflict, secrets that are write-only, rotate
// and its versions, verify, status changes, delete and restore, the OAuth connect flow, and roles.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { join, resolve } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { SMTPServer } from 'smtp-server';
import { startServer, smtpBody, type TestServer } from '../support/server.ts';
import { assertServerHoldsNoSecret, canaryJar } from '../support/canary.ts';
import { freePort, nativeCaller, signedInPage } from '../support/browser.ts';
import { CLIENT, startProvider, type TestProvider } from '../support/oauth-provider.ts';

let s: TestServer;
let provider: TestProvider;
let smtp: SMTPServer;
let smtpPort = 0;
/** The one password the SMTP server accepts for "mailer" (the test moves it along with rotations). */
let smtpPassword = '';
const { secrets, secret } = canaryJar();
const contexts: BrowserContext[] = [];

const native = nativeCaller(() => s);

async function signedIn(key: string): Promise<Page> {
  const { context, page } = await signedInPage(s.url, key);
  contexts.push(context);
  return page;
}

async function keyWithRole(role: string): Promise<string> {
  const k = await native('POST', '/v1/access-keys', { name: `forms ${role} ${Date.now()}`, role });
  secrets.push(k.key);
  return k.key;
}

/** With LATCHKEY_SCREENSHOTS=1 the pages are saved under docs/screenshots/ (docs/console.md shows them). */
async function screenshot(page: Page, name: string): Promise<void> {
  if (process.env.LATCHKEY_SCREENSHOTS !== '1') return;
  await page.screenshot({ path: join(resolve(import.meta.dirname, '../../docs/screenshots'), `${name}.png`), fullPage: true });
}

const errorOf = (page: Page, path: string) => page.locator(`[data-path="${path}"] .field-error`);
const versions = (page: Page) => page.locator('#versions').innerText();

async function open(page: Page, id: string): Promise<void> {
  await page.goto(`${s.url}/ui/#/credentials/${id}`);
  await page.locator('#credential-name').waitFor();
}

before(async () => {
  smtp = new SMTPServer({
    authMethods: ['PLAIN', 'LOGIN'],
    allowInsecureAuth: true,
    disabledCommands: ['STARTTLS'],
    onAuth: (auth, _session, cb) => {
      if (auth.username === 'mailer' && auth.password === smtpPassword) cb(null, { user: 'mailer' });
      else cb(new Error('Invalid username or password'));
    },
    logger: false,
  });
  smtp.listen(0, '127.0.0.1');
  await once(smtp.server, 'listening');
  smtpPort = (smtp.server.address() as { port: number }).port;
  // The OAuth callback sends the browser back to the console: its origin must be known before
  // the server starts, so the port is chosen here.
  const port = await freePort();
  s = await startServer({
    env: {
      LATCHKEY_PORT: String(port),
      LATCHKEY_EGRESS_ALLOW: '127.0.0.1/32',
      LATCHKEY_OAUTH_RETURN_ORIGINS: `http://127.0.0.1:${port}`,
    },
  });
  provider = await startProvider({ redirectUris: [`${s.url}/v1/oauth/callback`] });
});

after(async () => {
  for (const c of contexts) await c.close();
  await assertServerHoldsNoSecret(s, secrets);
  await s?.stop();
  await provider?.close();
  smtp?.close();
});

describe('console: a credential made and changed through its form', () => {
  it('create an SMTP credential from the catalog form: a wrong port shows the API error on the port field; fixed, it saves and lists', async () => {
    const page = await signedIn(s.ownerKey);
    await page.getByRole('link', { name: 'New credential' }).click();
    await page.getByRole('heading', { name: 'New credential' }).waitFor();
    await page.getByLabel('Type', { exact: true }).selectOption('smtp');
    // auth_type defaults to none: the login fields only matter once a mechanism is chosen.
    assert.equal(await page.getByLabel('Username').isVisible(), false);
    assert.equal(await page.getByLabel('Password').isVisible(), false);
    assert.equal(await page.getByLabel('Port').inputValue(), '25', 'the schema default');
    assert.deepEqual(await page.getByLabel('Encryption').locator('option').allInnerTexts(), ['none', 'tls', 'ssl'], 'an enum is a select of its values');
    await page.getByLabel('Auth type').selectOption('login');
    assert.match(await page.locator('label[for="f-config-username"]').innerText(), /\(required\)/, 'required by the if/else of the schema');
    assert.match(await page.locator('label[for="f-secret-password"]').innerText(), /\(required\)/, 'required by the rule');
    const name = `Form SMTP ${Date.now()}`;
    await page.getByLabel(/^Name/).fill(name);
    await page.getByLabel(/^Host/).fill('127.0.0.1');
    await page.getByLabel('Port').fill('70000');
    await page.getByLabel('Username').fill('mail');
    smtpPassword = secret('smtp-first');
    await page.getByLabel('Password').fill(smtpPassword);
    await page.getByRole('button', { name: 'Create credential' }).click();
    await errorOf(page, 'config.port').getByText('65535').waitFor();
    assert.equal(await page.getByLabel('Port').getAttribute('aria-invalid'), 'true');
    assert.equal(await page.evaluate('document.activeElement.id'), 'f-config-port', 'focus moves to the field in error');
    await screenshot(page, 'console-credential-form');
    await page.getByLabel('Port').fill('twenty-five');
    await page.getByRole('button', { name: 'Create credential' }).click();
    await errorOf(page, 'config.port').getByText('integer').waitFor();
    await page.getByLabel('Port').fill(String(smtpPort));
    await page.getByRole('button', { name: 'Create credential' }).click();
    await page.locator('#credential-name').getByText(name).waitFor();
    await page.getByText(`Created ${name}.`).waitFor();
    assert.match(await versions(page), /1\s+current/);
    await page.getByRole('link', { name: '← Credentials' }).click();
    await page.getByLabel('Name').fill('Form SMTP');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.getByRole('link', { name }).waitFor();
  });

  it('edit a config field, replace the write-only secret, rotate and see the versions, then verify against a real SMTP server', async () => {
    const first = secret('smtp-edit-first');
    const c = await native('POST', '/v1/credentials', {
      name: `Form edit ${Date.now()}`,
      type: 'smtp',
      config: { host: '127.0.0.1', port: smtpPort, auth_type: 'login', username: 'mail' },
      secret: { password: first },
    });
    const page = await signedIn(s.ownerKey);
    await open(page, c.id);
    await page.getByRole('link', { name: 'Edit' }).click();
    await page.getByLabel('Username').waitFor();
    assert.equal(await page.getByLabel('Username').inputValue(), 'mail');
    // The secret is shown as set, with no value anywhere on the page.
    assert.match(await page.locator('[data-path="secret.password"]').innerText(), /\bset\b/);
    assert.equal(await page.locator('#f-secret-password').isVisible(), false);
    assert.equal((await page.content()).includes(first), false);
    await page.getByLabel('Username').fill('mailer');
    await page.getByRole('button', { name: 'Save changes' }).click();
    await page.getByText('Saved.', { exact: true }).waitFor();
    assert.equal((await native('GET', `/v1/credentials/${c.id}`)).config.username, 'mailer');
    assert.match(await versions(page), /^\D*1\s+current/m, 'a config change is no new version');

    await page.getByRole('link', { name: 'Edit' }).click();
    await page.getByRole('button', { name: 'Replace password' }).click();
    const replaced = secret('smtp-replaced');
    await page.locator('#f-secret-password').fill(replaced);
    await page.getByRole('button', { name: 'Save changes' }).click();
    await page.getByText('Saved: the new secret is the current version.').waitFor();
    assert.match(await versions(page), /2\s+current[\s\S]*1\s+previous/);

    await page.getByRole('button', { name: 'Rotate', exact: true }).click();
    smtpPassword = secret('smtp-rotated');
    await page.locator('#rotate-form #f-secret-password').fill(smtpPassword);
    await page.getByRole('button', { name: 'Rotate with these values' }).click();
    await page.getByText('Rotated: the new version is current').waitFor();
    assert.match(await versions(page), /3\s+current[\s\S]*2\s+previous/);
    const revealed = (await native('GET', `/v1/credentials/${c.id}/secret`)).secret;
    assert.equal(revealed.password, smtpPassword);

    await page.getByRole('button', { name: 'Verify' }).click();
    await page.locator('#verify-result').getByText('verified').waitFor();
    await screenshot(page, 'console-credential-actions');
    smtpPassword = 'not-the-stored-one';
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.locator('#verify-result').getByText('failed').waitFor();
    assert.doesNotMatch(await page.locator('#verify-result').innerText(), /Invalid username/, "the SMTP server's own text is not repeated");
    const html = await page.content();
    for (const v of secrets) assert.equal(html.includes(v), false, 'no secret is ever on the page');
  });

  it('edit conflict: a change made elsewhere after the form opened is refused (If-Match) and shown as a conflict', async () => {
    const c = await native('POST', '/v1/credentials', smtpBody(`Form conflict ${Date.now()}`, secret('conflict')));
    const page = await signedIn(s.ownerKey);
    await page.goto(`${s.url}/ui/#/credentials/${c.id}/edit`);
    await page.getByLabel('Username').fill('someone-else-was-first');
    await native('PATCH', `/v1/credentials/${c.id}`, { description: 'changed meanwhile' });
    await page.getByRole('button', { name: 'Save changes' }).click();
    await page.locator('#conflict').getByText('Conflict').waitFor();
    assert.equal((await native('GET', `/v1/credentials/${c.id}`)).config.username, 'mailer', 'nothing was overwritten');
    await page.getByRole('button', { name: 'Load the current version' }).click();
    await page.locator('#conflict').waitFor({ state: 'detached' });
    assert.equal(await page.getByLabel('Description').inputValue(), 'changed meanwhile');
  });

  it('a generatable type made with the keyboard alone: the generated secret is shown once; the form fits a 390 px phone', async () => {
    const page = await signedIn(s.ownerKey);
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`${s.url}/ui/#/credentials/new?type=oauth2`);
    await page.getByLabel('Provider').waitFor();
    assert.equal(await page.evaluate('document.documentElement.scrollWidth <= 390'), true, 'the longest form fits 390 px');
    await page.goto(`${s.url}/ui/#/credentials/new?type=text`);
    // Same heading as the oauth2 form: wait until that form is gone, or the keys land in it.
    await page.getByLabel('Provider').waitFor({ state: 'detached' });
    await page.getByRole('heading', { name: 'New credential' }).waitFor();
    await page.getByLabel(/^Name/).focus();
    await page.keyboard.type(`Form keyboard ${Date.now()}`);
    await page.keyboard.press('Tab');
    await page.keyboard.type('typed, never clicked');
    assert.equal(await page.evaluate('document.documentElement.scrollWidth <= 390'), true, 'no sideways scrolling at 390 px');
    await page.getByLabel(/^Name/).press('Enter');
    const shown = page.locator('#generated .secret');
    await shown.waitFor();
    secrets.push(await shown.innerText());
    await page.getByRole('link', { name: /^Open / }).click();
    await page.locator('#credential-name').waitFor();
    assert.equal(await page.evaluate('document.documentElement.scrollWidth <= 390'), true, 'the detail page fits too');
    assert.equal(await page.locator('#generated').count(), 0, 'shown once');
  });

  it('create in a team with allowed_hosts and an expiry: the API stores them; an invalid host shows the API error on allowed_hosts', async () => {
    const team = await native('POST', '/v1/teams', { name: `Forms team ${Date.now()}` });
    const page = await signedIn(s.ownerKey);
    await page.goto(`${s.url}/ui/#/credentials/new?type=smtp`);
    await page.getByRole('heading', { name: 'New credential' }).waitFor();
    const name = `Form access ${Date.now()}`;
    await page.getByLabel(/^Name/).fill(name);
    await page.getByLabel(/^Host/).fill('127.0.0.1');
    assert.equal(await page.getByLabel('Folder').isVisible(), false, 'no folder without a team');
    await page.getByLabel('Team', { exact: true }).selectOption(team.id);
    assert.equal(await page.getByLabel('Shared with teams').isVisible(), false, 'only for SPECIFIC_TEAMS');
    await page.getByLabel('Allowed hosts').fill('mail.example.com\nnot a host!');
    await page.getByLabel('Expires').fill('2031-05-04T10:30');
    await page.getByRole('button', { name: 'Create credential' }).click();
    await errorOf(page, 'allowed_hosts').getByText('allowed_hosts.1').waitFor();
    assert.equal(await page.getByLabel('Allowed hosts').getAttribute('aria-invalid'), 'true');
    assert.equal(await page.evaluate('document.activeElement.id'), 'f-allowed_hosts', 'focus moves to the field in error');
    await page.getByLabel('Allowed hosts').fill('mail.example.com\n*.vendor.example:8443\n');
    await page.getByRole('button', { name: 'Create credential' }).click();
    await page.locator('#credential-name').getByText(name).waitFor();
    const id = decodeURIComponent(new URL(page.url()).hash.replace('#/credentials/', ''));
    const stored = await native('GET', `/v1/credentials/${id}`);
    assert.equal(stored.team_id, team.id);
    assert.equal(stored.read_access, 'TEAM', 'the default with a team');
    assert.deepEqual(stored.allowed_hosts, ['mail.example.com', '*.vendor.example:8443']);
    // The input is the browser's local time; the API holds the same instant in UTC.
    const expected = await page.evaluate("new Date('2031-05-04T10:30').getTime()");
    assert.equal(Date.parse(stored.expires_at), expected);
  });
});

describe('console: status, delete and restore', () => {
  it('deactivate and reactivate; delete, then restore from the page', async () => {
    const c = await native('POST', '/v1/credentials', smtpBody(`Form status ${Date.now()}`, secret('status')));
    const page = await signedIn(s.ownerKey);
    await open(page, c.id);
    await page.getByRole('button', { name: 'Deactivate', exact: true }).click();
    await page.getByText('Deactivated: it is paused until reactivated.').waitFor();
    assert.equal((await native('GET', `/v1/credentials/${c.id}`)).status, 'inactive');
    await page.getByRole('button', { name: 'Reactivate' }).click();
    // Exact: the notice before says "…until reactivated."
    await page.getByText('Reactivated.', { exact: true }).waitFor();
    assert.equal((await native('GET', `/v1/credentials/${c.id}`)).status, 'active');
    await page.getByRole('button', { name: 'Delete' }).click();
    await page.getByRole('button', { name: 'Yes, delete it' }).click();
    await page.locator('#deleted').waitFor();
    assert.equal((await s.request('GET', `/v1/credentials/${c.id}`)).status, 404);
    await page.getByRole('button', { name: 'Restore' }).click();
    await page.getByText(`Restored ${c.name}.`).waitFor();
    assert.equal((await native('GET', `/v1/credentials/${c.id}`)).status, 'active');
    const actions = (await native('GET', `/v1/audit-events?filter[credential_id]=${c.id}&per_page=20`)).data.map((e: { action: string }) => e.action);
    for (const a of ['credential.deactivate_temporarily', 'credential.activate', 'credential.delete', 'credential.restore']) assert.ok(actions.includes(a), a);
  });
});

describe('console: OAuth connect', () => {
  it('connect an oauth2 credential made from a provider preset: the browser signs in at the provider and comes back to the connected account and token expiry', async () => {
    const page = await signedIn(s.ownerKey);
    await page.goto(`${s.url}/ui/#/credentials/new?type=oauth2`);
    await page.getByLabel('Provider').selectOption('oauth2');
    const name = `Form OAuth ${Date.now()}`;
    await page.getByLabel(/^Name/).fill(name);
    await page.getByLabel('Client id').fill(CLIENT.id);
    await page.getByLabel('Authorization endpoint').fill(`${provider.issuer}/auth`);
    await page.locator('#f-config-token_endpoint').fill(`${provider.issuer}/token`);
    await page.getByLabel('Scopes').fill('openid, email, profile');
    secrets.push(CLIENT.secret);
    await page.getByLabel('Client secret').fill(CLIENT.secret);
    await page.getByRole('button', { name: 'Create credential' }).click();
    await page.locator('#credential-name').getByText(name).waitFor();
    assert.match(await page.locator('#connection').innerText(), /not connected/);
    await page.getByRole('button', { name: /^Connect with / }).click();
    // node-oidc-provider's own login and consent pages, in the same browser.
    await page.locator('input[name="login"]').fill('alice');
    await page.locator('input[name="password"]').fill('any');
    await page.locator('button[type="submit"]').click();
    await page.locator('input[name="login"]').waitFor({ state: 'detached' });
    await page.locator('button[type="submit"]').click();
    await page.getByText('Connected: the provider granted access').waitFor();
    assert.equal(new URL(page.url()).search, '', 'the callback query left the address bar');
    const shown = await page.locator('#connection').innerText();
    assert.match(shown, /alice@example\.test/);
    assert.match(shown, /expires \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC/);
    const stored = await native('GET', '/v1/credentials?filter[name]=Form%20OAuth');
    assert.equal(stored.data[0].config.account.email, 'alice@example.test');
    assert.ok(stored.data[0].secret_fields.includes('refresh_token'));
  });
});

describe('console: what a role may do', () => {
  it('a viewer sees no New, Edit, Rotate or Delete; a member sees Edit but no Rotate or Delete, and the API refuses what is hidden', async () => {
    const c = await native('POST', '/v1/credentials', smtpBody(`Form roles ${Date.now()}`, secret('roles')));
    const viewer = await signedIn(await keyWithRole('viewer'));
    assert.equal(await viewer.getByRole('link', { name: 'New credential' }).count(), 0);
    await open(viewer, c.id);
    await viewer.getByText('Your role only reads credentials.').waitFor();
    for (const name of ['Edit', 'Rotate', 'Delete', 'Deactivate', 'Verify'])
      assert.equal(
        await viewer
          .getByRole('button', { name, exact: true })
          .or(viewer.getByRole('link', { name, exact: true }))
          .count(),
        0,
        name,
      );
    // A typed address still meets the API, which says no on the form.
    await viewer.goto(`${s.url}/ui/#/credentials/new?type=text`);
    await viewer.getByLabel(/^Name/).fill('viewer tries');
    await viewer.getByRole('button', { name: 'Create credential' }).click();
    await viewer
      .locator('#form-error')
      .getByText(/lacks credentials:write/)
      .waitFor();

    const memberKey = await keyWithRole('member');
    const member = await signedIn(memberKey);
    await open(member, c.id);
    await member.getByRole('link', { name: 'Edit' }).waitFor();
    for (const name of ['Rotate', 'Delete', 'Verify']) assert.equal(await member.getByRole('button', { name, exact: true }).count(), 0, name);
    assert.equal((await s.request('POST', `/v1/credentials/${c.id}/rotate`, { key: memberKey, body: { secret: { password: 'x' } } })).status, 403);
  });
});
