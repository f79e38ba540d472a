import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join, resolve } from 'node:path';
import { canary, assertServerHoldsNoSecret } from '../support/canary.ts';
import { runCli, smtpBody, startServer, type TestServer } from '../support/server.ts';

/*
 * One server per SQLite data directory (SQLite only: run-tests.mjs runs this file in the SQLite
 * pass). A second server on the same files served what the first had changed long before: a
 * deactivated credential's secret, a revoked key for 30 s. The first server holds an OS lock on
 * the directory; a second `serve` exits 1 with one line naming the holder, and the lock goes with
 * the process, kill -9 included.
 */

const BIN = join(resolve(import.meta.dirname, '../..'), 'bin/latchkey.js');

/** Runs `latchkey serve` expecting it to refuse; kills it if it starts anyway. */
async function secondServe(env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const proc = spawn(process.execPath, [BIN, 'serve'], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  proc.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000);
  const [code] = (await once(proc, 'exit')) as [number | null];
  clearTimeout(timer);
  return { code, stdout, stderr };
}

describe('one server per SQLite data directory', () => {
  let s: TestServer;
  const secret = canary('lock');
  let credentialId = '';
  before(async () => {
    s = await startServer();
    const c = await s.request('POST', '/v1/credentials', { body: smtpBody('held store', secret) });
    assert.equal(c.status, 201, c.text);
    credentialId = c.body.id;
  });
  after(async () => {
    await s.stop();
  });

  it("a second `serve` on a held data directory exits 1 with one line naming the holder's pid", async () => {
    const second = await secondServe(s.env);
    assert.equal(second.code, 1, second.stdout + second.stderr);
    assert.equal(
      second.stderr,
      `latchkey: the data directory ${s.dataDir} is in use by another latchkey server (pid ${s.proc.pid}); stop it first, or give this one its own LATCHKEY_DATA_DIR\n`,
    );
    assert.doesNotMatch(second.stdout, /listening|owner access key/);
    // The first one is untouched and still serves.
    const got = await s.request('GET', `/v1/credentials/${credentialId}/secret`);
    assert.equal(got.status, 200, got.text);
    assert.equal(got.body.secret.password, secret);
  });

  it('migrate and keys status work next to it and say which server holds the store', async () => {
    for (const args of [['migrate'], ['keys', 'status']]) {
      const r = await runCli(args, { ...s.env, LATCHKEY_LOG_LEVEL: 'warn' });
      assert.equal(r.code, 0, r.stderr);
      assert.match(
        r.stderr,
        new RegExp(
          `^latchkey: working next to the latchkey server \\(pid ${s.proc.pid}\\) that holds ${s.dataDir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`,
          'm',
        ),
      );
    }
  });

  it('the lock goes with the process: after kill -9 a new server opens the same directory', async () => {
    const ownerKey = s.ownerKey;
    assert.equal(await s.stop('SIGKILL'), null);
    s = await startServer({ dataDir: s.dataDir });
    const got = await s.request('GET', `/v1/credentials/${credentialId}/secret`, { key: ownerKey });
    assert.equal(got.status, 200, got.text);
    assert.equal(got.body.secret.password, secret);
    // And that one is the holder now.
    const second = await secondServe(s.env);
    assert.equal(second.code, 1);
    assert.match(second.stderr, new RegExp(`in use by another latchkey server \\(pid ${s.proc.pid}\\)`));
    // A clean stop leaves the directory free, with no pid file behind.
    await s.stop();
    const migrate = await runCli(['migrate'], { ...s.env, LATCHKEY_LOG_LEVEL: 'warn' });
    assert.equal(migrate.code, 0, migrate.stderr);
    assert.doesNotMatch(migrate.stderr, /working next to/);
    s = await startServer({ dataDir: s.dataDir });
    await assertServerHoldsNoSecret(s, [secret], { 'second serve': second.stderr }, ownerKey);
  });
});
