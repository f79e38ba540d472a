import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ok as okApi, runCli, smtpBody, startServer, type TestServer } from '../support/server.ts';
import { Latchkey } from '../../sdk/src/index.ts';
import { assertServerHoldsNoSecret } from '../support/canary.ts';
import { startReceiver, waitFor, type Receiver } from '../support/webhook-receiver.ts';

// `latchkey webhooks …` through the bundled CLI (bin/latchkey.js), as a user runs it, against a
// real server and a real receiver on loopback that verifies every delivery with the secret the
// CLI printed.

let s: TestServer;
let rx: Receiver;
let home: string;

before(async () => {
  rx = await startReceiver();
  s = await startServer({ env: { LATCHKEY_EGRESS_ALLOW: '127.0.0.1/32', LATCHKEY_AUDIT_SEAL_INTERVAL_MS: '20' } });
  home = mkdtempSync(join(tmpdir(), 'latchkey-webhooks-cli-'));
});

after(async () => {
  await s?.stop();
  await rx?.close();
});

const cli = (...args: string[]) => runCli(args, { HOME: home, XDG_CONFIG_HOME: join(home, 'config'), LATCHKEY_URL: s.url, LATCHKEY_TOKEN: s.ownerKey });

const ok = (r: { code: number | null; stdout: string; stderr: string }, what: string) => {
  assert.equal(r.code, 0, `${what} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r;
};

const secretIn = (stdout: string): string => {
  const m = /^secret: (whsec_\S+)$/m.exec(stdout);
  assert.ok(m?.[1], stdout);
  return m[1];
};

describe('latchkey webhooks', () => {
  it('create prints the secret once; list, get, update, deliveries, redeliver, rotate-secret, delete', async () => {
    const path = '/cli';
    const created = ok(await cli('webhooks', 'create', rx.url(path), '--event-type', 'credential.created', '--description', 'from the CLI'), 'create');
    const secret = secretIn(created.stdout);
    assert.match(created.stderr, /shown this once/);
    const id = /^id\s+(whk_\S+)$/m.exec(created.stdout)?.[1];
    assert.ok(id, created.stdout);
    rx.setSecrets(path, [secret]);

    // The secret is not shown again: not by list, get, or their JSON.
    const list = ok(await cli('webhooks', 'list'), 'list');
    assert.match(list.stdout, /^ID\s+URL\s+EVENTS/);
    assert.ok(list.stdout.includes(id) && list.stdout.includes('credential.created'));
    const get = ok(await cli('webhooks', 'get', id, '--json'), 'get');
    const shown = JSON.parse(get.stdout);
    assert.equal(shown.id, id);
    assert.deepEqual(shown.event_types, ['credential.created']);
    assert.equal(shown.description, 'from the CLI');
    for (const r of [list, get, ok(await cli('webhooks', 'list', '--json'), 'list --json')]) assert.equal((r.stdout + r.stderr).includes(secret), false);

    // A delivery arrives, signed with the printed secret, and is in the log.
    const c = await okApi(s.request('POST', '/v1/credentials', { body: smtpBody(`cli hook ${Date.now()}`) }));
    const got = await waitFor('the delivery', () => rx.accepted(path).find((r) => r.event?.data.object_id === c.id));
    const eventId = got.event?.id ?? '';
    const log = await waitFor('the log', async () => {
      const r = ok(await cli('webhooks', 'deliveries', id, '--json'), 'deliveries');
      const rows = JSON.parse(r.stdout) as Array<{ event_id: string; status: number }>;
      return rows.some((a) => a.event_id === eventId) ? rows : null;
    });
    assert.equal(log[0]?.status, 200);
    const table = ok(await cli('webhooks', 'deliveries', id), 'deliveries table');
    assert.match(table.stdout, /^AT\s+EVENT\s+TYPE\s+ATTEMPT\s+STATUS/);
    assert.ok(table.stdout.includes(eventId));

    const again = ok(await cli('webhooks', 'redeliver', id, eventId, '--json'), 'redeliver');
    assert.equal(JSON.parse(again.stdout).status, 200);
    assert.equal(JSON.parse(again.stdout).attempt, 2);
    await waitFor('the redelivery', () => rx.accepted(path).filter((r) => r.event?.id === eventId).length === 2);

    const paused = ok(await cli('webhooks', 'update', id, '--active', 'false', '--all-events', '--json'), 'update');
    assert.equal(JSON.parse(paused.stdout).active, false);
    assert.equal(JSON.parse(paused.stdout).event_types, null);
    assert.equal((await cli('webhooks', 'update', id)).code, 2, 'nothing to change is a usage error');

    // Rotate: a new secret, printed once; with no overlap the old one stops signing.
    const rotated = ok(await cli('webhooks', 'rotate-secret', id, '--overlap-seconds', '0'), 'rotate-secret');
    const next = secretIn(rotated.stdout);
    assert.notEqual(next, secret);
    assert.equal(ok(await cli('webhooks', 'get', id), 'get').stdout.includes(next), false);
    rx.setSecrets(path, [next]);
    const after = ok(await cli('webhooks', 'redeliver', id, eventId, '--json'), 'redeliver after rotation');
    assert.equal(JSON.parse(after.stdout).status, 200);
    const last = await waitFor('the delivery signed with the new secret', () =>
      rx
        .all(path)
        .filter((r) => r.event?.id === eventId)
        .at(2),
    );
    assert.deepEqual(last.verifiedWith, [0]);

    assert.match(ok(await cli('webhooks', 'delete', id), 'delete').stdout, new RegExp(`deleted ${id}`));
    const gone = await cli('webhooks', 'get', id);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /WEBHOOK_NOT_FOUND|not found/i);
    // The server never logs a signing secret.
    assert.equal(s.logs().includes(secret) || s.logs().includes(next), false);
  });

  it('refuses bad arguments before any request', async () => {
    assert.equal((await cli('webhooks', 'get', '../x')).code, 2);
    assert.equal((await cli('webhooks', 'rotate-secret', 'whk_x', '--overlap-seconds', '-1')).code, 2);
    assert.equal((await cli('webhooks', 'update', 'whk_x', '--team-id', 'team_1', '--tenant-wide')).code, 2);
  });
});

describe('lk.webhooks (the SDK)', () => {
  it('create answers the secret once; list, get, update, deliveries, redeliver, rotateSecret, delete', async () => {
    const lk = new Latchkey({ baseUrl: s.url, apiKey: s.ownerKey });
    const path = '/sdk';
    const created = await lk.webhooks.create({ url: rx.url(path), event_types: ['credential.created'], description: 'from the SDK' });
    assert.match(created.secret, /^whsec_/);
    assert.ok(created.etag);
    rx.setSecrets(path, [created.secret]);
    const listed = await lk.webhooks.list().toArray();
    assert.ok(listed.some((w) => w.id === created.id));
    const got = await lk.webhooks.get(created.id);
    assert.equal(got.description, 'from the SDK');
    assert.equal(JSON.stringify([listed, got]).includes(created.secret), false, 'the secret is shown once');

    const c = await okApi(s.request('POST', '/v1/credentials', { body: smtpBody(`sdk hook ${Date.now()}`) }));
    const delivered = await waitFor('the delivery', () => rx.accepted(path).find((r) => r.event?.data.object_id === c.id));
    const eventId = delivered.event?.id ?? '';
    const attempts = await waitFor('the log', async () => {
      const rows = await lk.webhooks.deliveries(created.id, { perPage: 1 }).toArray();
      return rows.some((a) => a.event_id === eventId) ? rows : null;
    });
    assert.equal(attempts.find((a) => a.event_id === eventId)?.status, 200);
    const again = await lk.webhooks.redeliver(created.id, eventId);
    assert.equal(again.status, 200);
    assert.equal(again.attempt, 2);

    // A stale etag is refused; the current one changes the subscription.
    const paused = await lk.webhooks.update(created.id, { active: false }, { ifMatch: got.etag });
    assert.equal(paused.active, false);
    await assert.rejects(lk.webhooks.update(created.id, { active: true }, { ifMatch: got.etag }), (err: { status?: number }) => err.status === 412);

    const rotated = await lk.webhooks.rotateSecret(created.id, { overlapSeconds: 0 });
    assert.match(rotated.secret, /^whsec_/);
    assert.notEqual(rotated.secret, created.secret);
    rx.setSecrets(path, [rotated.secret]);
    assert.equal((await lk.webhooks.redeliver(created.id, eventId)).status, 200);
    const last = await waitFor('the delivery signed with the new secret', () =>
      rx
        .all(path)
        .filter((r) => r.event?.id === eventId)
        .at(2),
    );
    assert.deepEqual(last.verifiedWith, [0]);

    await lk.webhooks.delete(created.id);
    await assert.rejects(lk.webhooks.get(created.id), (err: { status?: number }) => err.status === 404);
    await assertServerHoldsNoSecret(s, [created.secret, rotated.secret]);
  });
});
