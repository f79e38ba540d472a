import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assertNoSecret, canary } from '../support/canary.ts';
import { smtpBody, startServer, type ApiResponse, type TestServer } from '../support/server.ts';

/*
 * A full disk under a SQLite store, for real: the data directory lives on a 16 MiB tmpfs, which
 * the test then fills. Writes must answer 503 UNAVAILABLE with Retry-After (not 500), /readyz
 * must be red, reads and audit verification must still answer, no secret may leave without its
 * audit record, and once space is back the same process serves writes again.
 *
 * Mounting needs root (CI runs as root). Anywhere else every test says SKIPPED, loudly.
 * SQLite only: run-tests.mjs runs this file in the SQLite pass (PostgreSQL's disk is the
 * database server's).
 */

const mountPoint = mkdtempSync(join(tmpdir(), 'latchkey-full-'));
let mountProblem: string | null = null;
try {
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16m,mode=0700', 'tmpfs', mountPoint], { stdio: 'pipe' });
} catch (err) {
  mountProblem = String((err as { stderr?: Buffer }).stderr ?? (err as Error).message).trim() || 'mount failed';
  console.error(`\n*** SKIPPED: disk-full tests — cannot mount a small tmpfs (needs root): ${mountProblem} ***\n`);
}

/** Writes zeros until the filesystem refuses: ENOSPC, the condition under test. */
function fillUp(file: string): number {
  const fd = openSync(file, 'w');
  let written = 0;
  try {
    for (const size of [1 << 20, 1 << 12]) {
      const chunk = Buffer.alloc(size);
      for (;;) {
        try {
          written += writeSync(fd, chunk);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
          break;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
  return written;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('a full disk under the SQLite store', () => {
  let s: TestServer;
  const filler = join(mountPoint, 'filler');
  const secrets: string[] = [];
  before(async () => {
    if (mountProblem !== null) return;
    const dataDir = join(mountPoint, 'data');
    mkdirSync(dataDir, { mode: 0o700 });
    s = await startServer({ dataDir, env: { LATCHKEY_LOG_LEVEL: 'info' } });
  });
  after(async () => {
    if (mountProblem === null) {
      await s?.stop();
      execFileSync('umount', [mountPoint]);
    }
    rmSync(mountPoint, { recursive: true, force: true });
  });

  it('writes answer 503 with Retry-After, /readyz is red, reads and audit verify answer; space back, writes work in the same process', async (t) => {
    if (mountProblem !== null) return t.skip(`SKIPPED: cannot mount a tmpfs (${mountProblem})`);
    const pid = s.proc.pid;
    const secret = canary('full');
    secrets.push(secret);
    const kept = await s.request('POST', '/v1/credentials', { body: smtpBody('made before the disk filled', secret) });
    assert.equal(kept.status, 201, kept.text);
    assert.equal((await s.request('GET', '/readyz', { key: null })).status, 200);

    const filled = fillUp(filler);
    // Each write brings a few KiB; the WAL and the database file have to grow within a few
    // hundred writes at most, and then SQLite reports SQLITE_FULL.
    let refused: ApiResponse | null = null;
    let accepted = 0;
    for (let i = 0; i < 500 && refused === null; i++) {
      const r = await s.request('POST', '/v1/credentials', { body: smtpBody(`while full ${i}`, `pw-${i}-${'x'.repeat(3000)}`) });
      if (r.status === 201) accepted++;
      else refused = r;
    }
    t.diagnostic(`filled ${(filled / 2 ** 20).toFixed(1)} MiB; ${accepted} writes went through before the first refusal`);
    assert.ok(refused, 'no write was refused on a full disk');
    assert.equal(refused.status, 503, refused.text);
    assert.equal(refused.body.error.code, 'UNAVAILABLE');
    assert.equal(refused.headers.get('retry-after'), '10');
    assert.match(refused.body.error.details, /no space/);

    const ready = await s.request('GET', '/readyz', { key: null });
    assert.equal(ready.status, 503, ready.text);
    assert.equal(ready.body.store, 'unavailable');
    // Reads go on.
    const read = await s.request('GET', `/v1/credentials/${kept.body.id}`);
    assert.equal(read.status, 200, read.text);
    // A reveal either has its audit record written, or shows nothing (fail closed).
    const reveal = await s.request('GET', `/v1/credentials/${kept.body.id}/secret`);
    assert.ok(reveal.status === 200 || reveal.status === 503, reveal.text);
    if (reveal.status === 503) assertNoSecret({ 'refused reveal': reveal.text }, [secret]);
    // Verification answers for what is sealed.
    const verify = await s.request('GET', '/v1/audit-events/verify');
    assert.equal(verify.status, 200, verify.text);
    assert.equal(verify.body.ok, true, verify.text);

    rmSync(filler);
    let readyAgain = 0;
    for (let i = 0; i < 100 && readyAgain !== 200; i++) {
      readyAgain = (await s.request('GET', '/readyz', { key: null })).status;
      if (readyAgain !== 200) await sleep(100);
    }
    assert.equal(readyAgain, 200, '/readyz did not turn green once space was back');
    const after = await s.request('POST', '/v1/credentials', { body: smtpBody('made after space came back', 'pw-after') });
    assert.equal(after.status, 201, after.text);
    assert.equal((await s.request('GET', `/v1/credentials/${kept.body.id}/secret`)).body.secret.password, secret);
    const verified = await s.request('GET', '/v1/audit-events/verify');
    assert.equal(verified.body.ok, true, verified.text);
    assert.equal(s.proc.pid, pid);
    assert.equal(s.proc.exitCode, null, 'the server exited');
    assert.doesNotMatch(s.logs(), /"mapped":"INTERNAL"/);
    assertNoSecret({ 'server log': s.logs() }, secrets);
  });
});
