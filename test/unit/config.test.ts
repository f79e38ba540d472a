import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CONFIG_VARIABLES } from '../../src/config.ts';

const BIN = join(import.meta.dirname, '..', '..', 'bin/latchkey.js');

function serve(env: Record<string, string>) {
  return spawnSync(process.execPath, [BIN, 'serve'], {
    env: { PATH: process.env.PATH ?? '', LATCHKEY_PORT: '0', LATCHKEY_DATA_DIR: mkdtempSync(join(tmpdir(), 'latchkey-config-')), ...env },
    encoding: 'utf8',
    timeout: 15_000,
  });
}

describe('configuration', () => {
  it('the README documents every variable the server reads', () => {
    const readme = readFileSync(join(import.meta.dirname, '..', '..', 'README.md'), 'utf8');
    const missing = CONFIG_VARIABLES.map(([name]) => name).filter((name) => !readme.includes(`| \`${name}\` |`));
    assert.deepEqual(missing, []);
  });

  it('refuses a return_to origin list that is not made of origins, with a one-line message and exit code 1', () => {
    for (const bad of ['https://app.example.com/done', 'app.example.com', 'ftp://files.example.com']) {
      const r = serve({ LATCHKEY_OAUTH_RETURN_ORIGINS: bad });
      assert.equal(r.status, 1, `${bad}: ${r.stderr}`);
      assert.match(r.stderr, /LATCHKEY_OAUTH_RETURN_ORIGINS: .* origin/);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    }
  });
});
