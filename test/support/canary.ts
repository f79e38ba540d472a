import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readTree, type TestServer } from './server.ts';

/** A fresh secret that no fixture, id or timestamp could contain by chance. */
export function canary(label = 'canary'): string {
  return `${label}-${randomBytes(9).toString('hex')}`;
}

/**
 * Every form in which a secret has left a server in an attack we reproduced: as it is,
 * URL-encoded, hex, and base64/base64url — also inside a larger encoded value such as SMTP AUTH
 * PLAIN's `\0user\0pass` or HTTP Basic's `user:pass`. Base64 of a value depends on its byte offset
 * modulo 3 within the encoded text, so each of the three alignments is searched by the groups
 * made of the secret's bytes alone, which encode the same whatever surrounds them.
 */
export function encodingsOf(secret: string): string[] {
  const raw = Buffer.from(secret);
  const hex = raw.toString('hex');
  const forms = new Set<string>([secret, encodeURIComponent(secret), hex, hex.toUpperCase()]);
  for (let pad = 0; pad < 3; pad++) {
    const bytes = Buffer.concat([Buffer.alloc(pad, 0x20), raw]);
    const from = Math.ceil(pad / 3) * 4;
    const to = Math.floor(bytes.length / 3) * 4;
    if (to - from < 12) throw new Error(`canary ${secret} is too short to find in base64`);
    forms.add(bytes.toString('base64').slice(from, to));
    forms.add(bytes.toString('base64url').slice(from, to));
  }
  return [...forms];
}

/** Fails naming the place where any form of any secret was found. */
export function assertNoSecret(places: Record<string, string | Buffer>, secrets: readonly string[]): void {
  for (const secret of secrets) {
    for (const form of encodingsOf(secret)) {
      for (const [where, text] of Object.entries(places)) {
        assert.equal(text.includes(form), false, `a form of secret ${secret.slice(0, 10)}… (${JSON.stringify(form.slice(0, 16))}) is in ${where}`);
      }
    }
  }
}

/**
 * The server's log, every file of its data directory, its audit log through the API, and extra
 * places. `ownerKey` is for a server restarted on an existing store, which prints no key.
 */
export async function assertServerHoldsNoSecret(
  s: TestServer,
  secrets: readonly string[],
  extra: Record<string, string | Buffer> = {},
  ownerKey = s.ownerKey,
): Promise<void> {
  const places: Record<string, string | Buffer> = { 'server log': s.logs(), ...extra };
  for (const [i, b] of readTree(s.dataDir).entries()) places[`data file #${i}`] = b;
  // The newest events of the server's first tenant; pass other tenants' events in `extra`.
  const audit = await s.request('GET', '/v1/audit-events?per_page=100', { key: ownerKey });
  assert.equal(audit.status, 200, audit.text);
  places['audit events'] = audit.text;
  assertNoSecret(places, secrets);
}

/** Canaries a test file plants, kept so that it can search the server for every one at the end. */
export function canaryJar(initial: readonly string[] = []): { secrets: string[]; secret(label: string): string } {
  const secrets = [...initial];
  return {
    secrets,
    secret(label) {
      const v = canary(label);
      secrets.push(v);
      return v;
    },
  };
}
