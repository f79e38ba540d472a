import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import type { TestServer } from './server.ts';
import { tempDir } from './temp.ts';

/**
 * Debian's chromium (`apt-get install chromium`; .ci/run installs it when missing), driven by
 * playwright-core: no browser is downloaded. Each context gets a fresh profile directory, and
 * nothing reaches the network beyond the servers the test starts on loopback.
 */
export const CHROMIUM = '/usr/bin/chromium';

export async function freshBrowser(): Promise<BrowserContext> {
  return chromium.launchPersistentContext(tempDir('latchkey-chromium-'), {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/** A fresh browser profile at `${url}/ui/`, signed in with `key` through the console's sign-in form. */
export async function signedInPage(url: string, key: string): Promise<{ context: BrowserContext; page: Page }> {
  const context = await freshBrowser();
  const page = context.pages()[0] ?? (await context.newPage());
  await page.goto(`${url}/ui/`);
  await page.getByLabel('Access key').fill(key);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Credentials' }).waitFor();
  return { context, page };
}

/** A port free on loopback now, for a server whose URL must be known before it starts (an OAuth return origin). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

/** An API call the browser tests make beside the page (setup and checks): any 2xx, else the test fails. */
export function nativeCaller(server: () => TestServer) {
  return async (method: string, path: string, body?: unknown, key?: string) => {
    const r = await server().request(method, path, { body, key });
    assert.ok(r.status < 300, `${method} ${path}: ${r.status} ${r.text}`);
    return r.body;
  };
}
