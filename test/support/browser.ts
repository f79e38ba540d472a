import { chromium, type BrowserContext } from 'playwright-core';
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
