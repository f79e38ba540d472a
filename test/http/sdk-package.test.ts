// The SDK as another project gets it: `npm pack -w sdk` in this repository, `npm install
// <tarball>` in a fresh project (offline: the SDK has no dependencies), then a plain Node script
// that imports `@latchkey/sdk` and calls a running server.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { assertServerHoldsNoSecret, canary } from '../support/canary.ts';
import { startServer, type TestServer } from '../support/server.ts';
import { tempDir } from '../support/temp.ts';

const ROOT = resolve(import.meta.dirname, '../..');

let s: TestServer;
const secrets: string[] = [];

async function run(cmd: string, args: string[], cwd: string, env: Record<string, string> = {}): Promise<{ code: number | null; out: string }> {
  const proc = spawn(cmd, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout.on('data', (c: Buffer) => (out += c.toString()));
  proc.stderr.on('data', (c: Buffer) => (out += c.toString()));
  const [code] = (await once(proc, 'exit')) as [number | null];
  return { code, out };
}

before(async () => {
  s = await startServer();
});
after(async () => {
  await assertServerHoldsNoSecret(s, secrets);
  await s.stop();
});

describe('the SDK from a packed tarball', () => {
  it('installs into a fresh project with one command and talks to a running server', async () => {
    const packs = tempDir('latchkey-sdk-pack-');
    const npmCache = tempDir('latchkey-npm-cache-');
    const packed = await run('npm', ['pack', '-w', 'sdk', '--pack-destination', packs], ROOT, { npm_config_cache: npmCache });
    assert.equal(packed.code, 0, packed.out);
    const tarball = readdirSync(packs).find((f) => f.endsWith('.tgz'));
    assert.ok(tarball, packed.out);

    const project = tempDir('latchkey-sdk-user-');
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'uses-latchkey', private: true, type: 'module' }));
    const installed = await run('npm', ['install', '--offline', '--no-audit', '--no-fund', join(packs, tarball)], project, { npm_config_cache: npmCache });
    assert.equal(installed.code, 0, installed.out);
    assert.match(JSON.parse(readFileSync(join(project, 'package.json'), 'utf8')).dependencies['@latchkey/sdk'], /latchkey-sdk-0\.1\.0\.tgz$/);

    const password = canary('sdk-package');
    secrets.push(password);
    writeFileSync(
      join(project, 'main.js'),
      `
import { Latchkey, NotFoundError } from '@latchkey/sdk';
const lk = new Latchkey({ baseUrl: process.env.LATCHKEY_URL, apiKey: process.env.LATCHKEY_TOKEN });
const created = await lk.credentials.create({ name: 'Packed SDK', type: 'smtp', config: { host: 'smtp.example.com', auth_type: 'login', username: 'mailer' }, secret: { password: process.env.PASSWORD } });
const { secret } = await lk.credentials.reveal(created.id);
const names = [];
for await (const c of lk.credentials.list({ filter: { type: 'smtp' } })) names.push(c.name);
let missing = null;
try { await lk.credentials.get('crd_missing'); } catch (e) { missing = e instanceof NotFoundError ? e.code : String(e); }
console.log(JSON.stringify({ id: created.id, same: secret.password === process.env.PASSWORD, names, missing }));
`,
    );
    // Only what a user's shell would hold: no TMPDIR tricks, no NODE_PATH into this repository.
    const proc = spawn(process.execPath, ['main.js'], {
      cwd: project,
      env: { PATH: process.env.PATH ?? '', LATCHKEY_URL: s.url, LATCHKEY_TOKEN: s.ownerKey, PASSWORD: password },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    proc.stdout.on('data', (c: Buffer) => (out += c.toString()));
    proc.stderr.on('data', (c: Buffer) => (out += c.toString()));
    const [code] = (await once(proc, 'exit')) as [number | null];
    assert.equal(code, 0, out);
    const result = JSON.parse(out) as { id: string; same: boolean; names: string[]; missing: string };
    assert.match(result.id, /^crd_/);
    assert.equal(result.same, true);
    assert.deepEqual(result.names, ['Packed SDK']);
    assert.equal(result.missing, 'CREDENTIAL_NOT_FOUND');
    assert.equal((await s.request('GET', `/v1/credentials/${result.id}`)).status, 200);
  });
});
