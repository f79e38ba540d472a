// A newcomer's first hour, through the built CLI and a real server: secrets typed at a terminal,
// the server's reasons, commands run in the wrong directory, start-up failures, a restart's log,
// an owner key issued on the server host, and `run` with a secret no environment can hold.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { assertServerHoldsNoSecret, canary } from '../support/canary.ts';
import { runCli, smtpBody, startServer, type TestServer } from '../support/server.ts';
import { TEST_STORE, makeStoreFixture } from '../support/store.ts';
import { tempDir } from '../support/temp.ts';

const BIN = resolve(import.meta.dirname, '../../bin/latchkey.js');

let s: TestServer;
let home: string;
const secrets: string[] = [];

const env = (extra: Record<string, string> = {}): Record<string, string> => ({
  HOME: home,
  XDG_CONFIG_HOME: join(home, 'config'),
  TMPDIR: join(home, 'tmp'),
  ...extra,
});
const loggedIn = (extra: Record<string, string> = {}) => env({ LATCHKEY_URL: s.url, LATCHKEY_TOKEN: s.ownerKey, ...extra });

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The CLI in a directory of our choosing, with stdin piped from `input`. */
async function cliIn(cwd: string, args: string[], e: Record<string, string>, input = ''): Promise<Run> {
  const proc = spawn(process.execPath, [BIN, ...args], { cwd, env: { PATH: process.env.PATH ?? '', ...e }, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  proc.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  proc.stdin.end(input);
  const [code] = (await once(proc, 'exit')) as [number | null];
  return { code, stdout, stderr };
}

/**
 * The CLI on a real pseudo-terminal (util-linux `script`): it answers each prompt with the next
 * line once the prompt has been printed, as a person would, and returns everything the terminal
 * showed. A character the CLI let the terminal echo would be in that text.
 */
async function cliOnTerminal(
  args: string[],
  e: Record<string, string>,
  answers: Array<{ prompt: string; line: string }>,
): Promise<{ code: number | null; screen: string }> {
  const command = [process.execPath, BIN, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const proc = spawn('script', ['-qefc', command, '/dev/null'], {
    cwd: join(home, 'work'),
    env: { PATH: process.env.PATH ?? '', TERM: 'dumb', ...e },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let screen = '';
  const pending = [...answers];
  const onData = (c: Buffer) => {
    screen += c.toString();
    const next = pending[0];
    if (next && screen.includes(next.prompt)) {
      pending.shift();
      proc.stdin.write(`${next.line}\r`);
    }
  };
  proc.stdout.on('data', onData);
  proc.stderr.on('data', onData);
  const [code] = (await once(proc, 'exit')) as [number | null];
  proc.stdin.end();
  assert.equal(pending.length, 0, `the CLI never asked for: ${pending.map((p) => p.prompt).join(', ')}\n${screen}`);
  return { code, screen };
}

before(async () => {
  home = tempDir('latchkey-first-hour-');
  for (const d of ['config', 'tmp', 'work']) mkdirSync(join(home, d));
  s = await startServer();
});

after(async () => {
  await assertServerHoldsNoSecret(s, secrets);
  await s.stop();
});

describe('secrets typed at a terminal', () => {
  it('script(1) is installed: these tests need a real pseudo-terminal', () => {
    assert.equal(spawnSync('script', ['--version']).status, 0, 'util-linux script is missing');
  });

  it('`login --token -` asks for the key without echo and saves the profile', async () => {
    const e = env({ XDG_CONFIG_HOME: join(home, 'config', 'tty-login') });
    const r = await cliOnTerminal(['login', '--url', s.url, '--token', '-'], e, [{ prompt: 'access key: ', line: s.ownerKey }]);
    assert.equal(r.code, 0, r.screen);
    assert.match(r.screen, /logged in to http:\/\/127\.0\.0\.1:\d+/);
    assert.equal(r.screen.includes(s.ownerKey), false, 'the key was echoed');
    const profile = JSON.parse(readFileSync(join(home, 'config', 'tty-login', 'latchkey', 'profile.json'), 'utf8'));
    assert.equal(profile.token, s.ownerKey);
  });

  it('`--secret password=@-` asks for the value without echo; the server stores exactly it', async () => {
    const password = canary('tty-secret');
    secrets.push(password);
    const name = `tty ${Date.now().toString(36)}`;
    const r = await cliOnTerminal(
      [
        'credentials',
        'create',
        '--name',
        name,
        '--type',
        'smtp',
        '--config',
        'host=smtp.example.com',
        '--config',
        'auth_type=login',
        '--config',
        'username=mailer',
        '--secret',
        'password=@-',
        '--json',
      ],
      loggedIn(),
      [{ prompt: 'password: ', line: password }],
    );
    assert.equal(r.code, 0, r.screen);
    assert.equal(r.screen.includes(password), false, 'the secret was echoed');
    const id = /"id": "(crd_\w+)"/.exec(r.screen)?.[1];
    assert.ok(id, r.screen);
    assert.equal((await s.request('GET', `/v1/credentials/${id}/secret`)).body.secret.password, password);
  });

  it('a whole document (`--from-file -`) is not typed blind at a terminal: refused, exit 2', async () => {
    const r = await cliOnTerminal(['credentials', 'create', '--from-file', '-'], loggedIn(), []);
    assert.equal(r.code, 2, r.screen);
    assert.match(r.screen, /--from-file reads stdin, which is a terminal: pipe the content in/);
  });

  it('a pipe is still read to its end', async () => {
    const e = env({ XDG_CONFIG_HOME: join(home, 'config', 'pipe-login') });
    const r = await cliIn(join(home, 'work'), ['login', '--url', s.url, '--token', '-'], e, `${s.ownerKey}\n`);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(readFileSync(join(home, 'config', 'pipe-login', 'latchkey', 'profile.json'), 'utf8')).token, s.ownerKey);
  });
});

describe("the server's reason", () => {
  it('a CONFLICT says which name is taken (details given as a sentence)', async () => {
    const name = `Clash ${Date.now().toString(36)}`;
    const password = canary('clash');
    secrets.push(password);
    assert.equal((await s.request('POST', '/v1/credentials', { body: smtpBody(name, password) })).status, 201);
    const r = await runCli(
      ['credentials', 'create', '--name', name, '--type', 'smtp', '--config', 'host=smtp.example.com', '--config', 'auth_type=none'],
      loggedIn(),
    );
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /^latchkey: CONFLICT: Conflict \(A credential named like "clash_[a-z0-9_]+" already exists among the credentials without a team \(smtp and api_key credentials\)\) \(request req_\w+\)\n$/,
    );
  });
});

describe('store commands run where there is no store', () => {
  const storeCommands = [['keys', 'status'], ['keys', 'rotate-data'], ['keys', 'reseal'], ['keys', 'rotate-root'], ['keys', 'issue-owner'], ['migrate']];

  it('refuse, name the setting, and create neither a store nor a root key', async () => {
    const dir = tempDir('latchkey-elsewhere-');
    // On PostgreSQL: a reachable, empty database is no store either.
    const fixture = TEST_STORE === 'postgres' ? await makeStoreFixture() : null;
    try {
      for (const args of storeCommands) {
        const r = await cliIn(dir, args, env(fixture?.env ?? {}));
        assert.equal(r.code, 1, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
        const setting = fixture ? 'LATCHKEY_DATABASE_URL' : 'LATCHKEY_DATA_DIR';
        assert.match(
          r.stderr,
          new RegExp(`^latchkey: no Latchkey store at \\S+ \\(${setting}\\): .*only \`latchkey serve\` and \`latchkey init\` create a store\\n$`),
          args.join(' '),
        );
        assert.deepEqual(readdirSync(dir), [], `${args.join(' ')} left files behind`);
      }
    } finally {
      await fixture?.drop();
    }
  });

  it('a store without its root key file is refused, not given a new key', async () => {
    const dataDir = tempDir('latchkey-keyless-');
    const fixture = TEST_STORE === 'postgres' ? await makeStoreFixture() : null;
    try {
      const e = env({ LATCHKEY_DATA_DIR: dataDir, ...fixture?.env });
      const init = await cliIn(home, ['init', '--json'], e);
      assert.equal(init.code, 0, init.stderr);
      const keyText = readFileSync(join(dataDir, 'root.key'));
      const r = await cliIn(home, ['keys', 'status'], { ...e, LATCHKEY_ROOT_KEY_FILE: join(dataDir, 'elsewhere.key') });
      assert.equal(r.code, 1);
      assert.match(r.stderr, /no root key at .*elsewhere\.key \(LATCHKEY_ROOT_KEY_FILE/);
      assert.equal(existsSync(join(dataDir, 'elsewhere.key')), false);
      assert.deepEqual(readFileSync(join(dataDir, 'root.key')), keyText);
    } finally {
      await fixture?.drop();
    }
  });
});

describe('start-up failures name the cause and the setting', () => {
  const refused = async (e: Record<string, string>, cwd = tempDir('latchkey-start-')) => {
    const r = await cliIn(cwd, ['serve'], { LATCHKEY_DATA_DIR: join(cwd, 'data'), LATCHKEY_PORT: '0', LATCHKEY_LOG_LEVEL: 'warn', ...e });
    assert.equal(r.code, 1, `${r.stdout}${r.stderr}`);
    return r.stderr.trim().split('\n').pop() ?? '';
  };

  it('a port in use: which one, and LATCHKEY_PORT', async () => {
    const port = new URL(s.url).port;
    assert.equal(
      await refused({ LATCHKEY_PORT: port }),
      `latchkey: cannot listen on 127.0.0.1:${port}: the port is in use (another Latchkey, or another program); stop it or set LATCHKEY_PORT to a free port`,
    );
  });

  it('a host name that does not resolve: LATCHKEY_HOST', async () => {
    assert.match(
      await refused({ LATCHKEY_HOST: 'no-such-host.invalid' }),
      /^latchkey: LATCHKEY_HOST no-such-host\.invalid does not resolve \((ENOTFOUND|EAI_AGAIN)\)/,
    );
  });

  it('PostgreSQL not listening: where, and LATCHKEY_DATABASE_URL (never its password)', async () => {
    const line = await refused({ LATCHKEY_DATABASE_URL: 'postgres://latchkey:hunter2-password@127.0.0.1:1/latchkey' });
    assert.equal(line, 'latchkey: cannot connect to PostgreSQL at 127.0.0.1:1 (ECONNREFUSED): is it running and reachable? (LATCHKEY_DATABASE_URL)');
  });

  it('a misspelt LATCHKEY_ variable is refused with the likely name, before anything is created', async () => {
    const cwd = tempDir('latchkey-typo-');
    const r = await cliIn(cwd, ['serve'], { LATCHKEY_DATA_DIRECTORY: join(cwd, 'mine'), LATCHKEY_PORT: '0' });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^latchkey: LATCHKEY_DATA_DIRECTORY is not a setting \(did you mean LATCHKEY_DATA_DIR\?\)/);
    assert.deepEqual(readdirSync(cwd), []);
    // The CLI's own variables are not server settings, and are not refused.
    const status = await cliIn(cwd, ['keys', 'status'], { LATCHKEY_URL: s.url, LATCHKEY_TOKEN: 'x', LATCHKEY_DATA_DIR: join(cwd, 'data') });
    assert.match(status.stderr, /no Latchkey store/);
  });
});

describe('the start-up log', () => {
  it('says "listening" once, and on every start which store and root key it opened (never the key)', async () => {
    const first = await startServer();
    let second: TestServer | null = null;
    try {
      const keyFile = join(first.dataDir, 'root.key');
      const keyText = readFileSync(keyFile, 'utf8').trim();
      const where = TEST_STORE === 'sqlite' ? join(first.dataDir, 'latchkey.db') : new URL(first.env.LATCHKEY_DATABASE_URL!).pathname;
      const opened = (logs: string) => logs.split('\n').filter((l) => l.includes('"msg":"opened the '));
      assert.equal(
        first
          .logs()
          .split('\n')
          .filter((l) => /listening/i.test(l)).length,
        1,
        first.logs(),
      );
      assert.equal(opened(first.logs()).length, 1, first.logs());
      assert.ok(opened(first.logs())[0]!.includes(where) && opened(first.logs())[0]!.includes(`with the root key from ${keyFile}`), first.logs());

      first.proc.kill('SIGTERM');
      await once(first.proc, 'exit');
      second = await startServer({ dataDir: first.dataDir, env: TEST_STORE === 'postgres' ? { LATCHKEY_DATABASE_URL: first.env.LATCHKEY_DATABASE_URL! } : {} });
      const restart = second.logs();
      assert.equal(restart.includes('created a new root key'), false, restart);
      assert.equal(opened(restart).length, 1, restart);
      assert.ok(opened(restart)[0]!.includes(where) && opened(restart)[0]!.includes(keyFile), restart);
      assert.equal(restart.split('\n').filter((l) => /listening/i.test(l)).length, 1, restart);
      for (const logs of [first.logs(), restart]) assert.equal(logs.includes(keyText), false, 'the root key is in the log');
    } finally {
      await second?.stop();
      await first.stop();
    }
  });
});

describe('an owner key issued on the server host', () => {
  it('`keys issue-owner` gives a tenant a working owner key, audited as issued on the host', async () => {
    const host = await startServer();
    let again: TestServer | null = null;
    try {
      const tenantId = (await host.request('GET', '/v1/tenants')).body.data[0].id as string;
      // Stopped first: the embedded store may belong to one process at a time.
      host.proc.kill('SIGTERM');
      await once(host.proc, 'exit');
      const cliEnv = { LATCHKEY_DATA_DIR: host.dataDir, ...(TEST_STORE === 'postgres' ? { LATCHKEY_DATABASE_URL: host.env.LATCHKEY_DATABASE_URL! } : {}) };
      const r = await cliIn(home, ['keys', 'issue-owner', '--json'], cliEnv);
      assert.equal(r.code, 0, r.stderr);
      const issued = JSON.parse(r.stdout) as { tenant_id: string; access_key_id: string; owner_access_key: string; platform_admin: boolean };
      assert.equal(issued.tenant_id, tenantId);
      assert.equal(issued.platform_admin, false);
      assert.match(issued.owner_access_key, /^lk_live_/);

      again = await startServer({ dataDir: host.dataDir, env: cliEnv });
      const keys = await again.request('GET', '/v1/access-keys', { key: issued.owner_access_key });
      assert.equal(keys.status, 200, keys.text);
      assert.ok(keys.body.data.some((k: { id: string; role: string }) => k.id === issued.access_key_id && k.role === 'owner'));
      // An owner of its tenant, not a platform admin: it may not make tenants.
      assert.equal((await again.request('POST', '/v1/tenants', { key: issued.owner_access_key, body: { name: 'nope' } })).status, 403);
      const events = await again.request('GET', `/v1/audit-events?filter[action]=access_key.issue&per_page=100`, { key: issued.owner_access_key });
      const event = events.body.data.find((e: { target: { id: string } }) => e.target.id === issued.access_key_id);
      assert.ok(event, events.text);
      assert.equal(event.actor.id, 'host');
      assert.match(JSON.stringify(event), /issued on the server host by `latchkey keys issue-owner`/);
      assert.equal((await again.request('GET', '/v1/audit-events/verify', { key: issued.owner_access_key })).body.ok, true);

      // With two tenants it must be told which one, and lists them.
      assert.equal((await again.request('POST', '/v1/tenants', { key: host.ownerKey, body: { name: `second ${Date.now()}` } })).status, 201);
      again.proc.kill('SIGTERM');
      await once(again.proc, 'exit');
      const which = await cliIn(home, ['keys', 'issue-owner'], cliEnv);
      assert.equal(which.code, 2);
      assert.match(which.stderr, /the store has 2 tenants; pick one with --tenant: ten_\w+ \(default\), ten_\w+ \(second/);
      const unknown = await cliIn(home, ['keys', 'issue-owner', '--tenant', 'ten_NOSUCHTENANT'], cliEnv);
      assert.equal(unknown.code, 1);
      assert.match(unknown.stderr, /No tenant ten_NOSUCHTENANT/);
    } finally {
      await again?.stop();
      await host.stop();
    }
  });
});

describe('latchkey run', () => {
  it('a secret holding a NUL is a clear error, not a TypeError, and the command does not start', async () => {
    const password = `${canary('nul')}\u0000tail`;
    secrets.push(password.split('\u0000')[0]!);
    const created = await s.request('POST', '/v1/credentials', { body: smtpBody(`nul ${Date.now().toString(36)}`, password) });
    assert.equal(created.status, 201, created.text);
    const marker = join(home, 'tmp', 'started');
    const r = await runCli(
      ['run', '--credential', created.body.id, '--', process.execPath, '-e', `require('fs').writeFileSync(${JSON.stringify(marker)}, '')`],
      loggedIn(),
    );
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`^latchkey: ${created.body.id}\\.password holds a NUL character, which an environment variable cannot hold`));
    assert.equal(r.stderr.includes('TypeError'), false);
    assert.equal(existsSync(marker), false, 'the command ran');
  });
});
