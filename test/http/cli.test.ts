import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { readTree, runCli, smtpBody, startServer, type TestServer } from '../support/server.ts';

// The built CLI, run as a user runs it: a child process of `bin/latchkey.js` against a real
// server process. Every CLI process gets its own HOME, XDG_CONFIG_HOME, TMPDIR and working
// directory under `home`, so the disk it could have written to is known and scanned.

const BIN = resolve(import.meta.dirname, '../../bin/latchkey.js');
const STARTED = Date.now();

let s: TestServer;
let home: string;
/** Files the test itself writes for the CLI to read (they hold secrets on purpose, so they live outside `home`). */
let inputs: string;
const secrets: string[] = [];

const secretOf = (tag: string): string => {
  const v = `SECRET-${tag}-${Math.random().toString(36).slice(2)}${Date.now().toString(36)}`;
  secrets.push(v);
  return v;
};
const unique = (tag: string) => `${tag} ${Date.now().toString(36)}${Math.random().toString(36).slice(2, 7)}`;

function baseEnv(extra: Record<string, string> = {}): Record<string, string> {
  return { HOME: home, XDG_CONFIG_HOME: join(home, 'config'), TMPDIR: join(home, 'tmp'), ...extra };
}
/** Logged in through the environment. */
const loggedIn = (extra: Record<string, string> = {}) => baseEnv({ LATCHKEY_URL: s.url, LATCHKEY_TOKEN: s.ownerKey, ...extra });

const cli = (args: string[], env: Record<string, string> = loggedIn()) => runCli(args, env);

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** runCli with stdin, a working directory, and the process handle (for signals). */
function spawnCli(args: string[], env: Record<string, string>, opts: { input?: string; cwd?: string } = {}): { proc: ChildProcess; done: Promise<Run> } {
  const proc = spawn(process.execPath, [BIN, ...args], {
    env: { PATH: process.env.PATH ?? '', ...env },
    cwd: opts.cwd ?? join(home, 'work'),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  proc.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
  proc.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  proc.stdin!.end(opts.input ?? '');
  const done = once(proc, 'exit').then(([code, signal]) => ({ code: code as number | null, signal: signal as NodeJS.Signals | null, stdout, stderr }));
  return { proc, done };
}

const ok = (r: { code: number | null; stdout: string; stderr: string }, what = '') => {
  assert.equal(r.code, 0, `${what} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r;
};

async function createCredential(name: string, extra: Record<string, unknown> = {}, server: TestServer = s) {
  const r = await server.request('POST', '/v1/credentials', { body: { ...smtpBody(name, secretOf('api')), ...extra } });
  assert.equal(r.status, 201, r.text);
  return r.body as { id: string; slug: string; version: number };
}

/** Every file under a directory (recursively), for the "nothing on disk" checks. */
function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    const st = statSync(p);
    return st.isDirectory() ? filesUnder(p) : st.isFile() ? [p] : [];
  });
}

before(async () => {
  home = mkdtempSync(join(tmpdir(), 'latchkey-cli-'));
  inputs = mkdtempSync(join(tmpdir(), 'latchkey-cli-input-'));
  for (const d of ['config', 'tmp', 'work']) mkdirSync(join(home, d));
  s = await startServer();
});

after(async () => {
  await s.stop();
  // No secret this suite handled may sit in plaintext in anything the CLI or the server wrote,
  // backups excepted only in their encrypted form (they are in `home` too, and scanned).
  const haystacks = [Buffer.from(s.logs()), ...readTree(s.dataDir), ...filesUnder(home).map((f) => readFileSync(f))];
  for (const secret of secrets) for (const h of haystacks) assert.equal(h.includes(secret), false, `secret ${secret.slice(0, 14)}… found on disk`);
  rmSync(inputs, { recursive: true, force: true });
  rmSync(home, { recursive: true, force: true });
});

describe('credentials: table output for people, --json for scripts', () => {
  it('creates from flags (config typed by the schema), lists as a table and as JSON, never showing the secret', async () => {
    const password = secretOf('create');
    const name = unique('CLI SMTP');
    const created = ok(
      await cli([
        'credentials',
        'create',
        '--name',
        name,
        '--type',
        'smtp',
        '--config',
        'host=smtp.example.com',
        '--config',
        'port=587',
        '--config',
        'auth_type=login',
        '--config',
        'username=mailer',
        '--secret',
        `password=${password}`,
        '--metadata',
        'env=prod',
        '--json',
      ]),
      'create',
    );
    const c = JSON.parse(created.stdout);
    assert.match(c.id, /^crd_/);
    assert.equal(c.config.port, 587, 'port=587 became a number because the smtp schema says integer');
    assert.deepEqual(c.metadata, { env: 'prod' });
    assert.equal(created.stdout.includes(password), false);
    assert.equal('secret' in c, false);

    const table = ok(await cli(['credentials', 'list']));
    const lines = table.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^ID\s+NAME\s+TYPE\s+STATUS\s+VERSION\s+UPDATED$/);
    const row = lines.find((l) => l.startsWith(c.id));
    assert.ok(row, table.stdout);
    assert.match(row, new RegExp(`^${c.id}\\s+${name}\\s+smtp\\s+active\\s+1\\s+\\d{4}-`));
    assert.equal(table.stdout.includes(password), false);

    const json = JSON.parse(ok(await cli(['credentials', 'list', '--json', '--name', name])).stdout);
    assert.ok(Array.isArray(json));
    assert.deepEqual(
      json.map((x: { id: string }) => x.id),
      [c.id],
    );

    const get = ok(await cli(['credentials', 'get', c.id]));
    assert.match(get.stdout, /^config\.host\s+smtp\.example\.com$/m);
    assert.match(get.stdout, /^secret_fields\s+password$/m);
    assert.equal(get.stdout.includes(password), false);
    const getJson = JSON.parse(ok(await cli(['credentials', 'get', c.id, '--json'])).stdout);
    const direct = await s.request('GET', `/v1/credentials/${c.id}`);
    assert.deepEqual(getJson, direct.body);
  });

  it('shows a secret only on reveal: as a table, as JSON, or one raw field', async () => {
    const password = secretOf('reveal');
    const c = await createCredential(unique('Reveal me'), { secret: { password } });
    for (const args of [
      ['credentials', 'get', c.id],
      ['credentials', 'get', c.id, '--json'],
      ['credentials', 'list', '--json'],
      ['credentials', 'versions', c.id, '--json'],
    ]) {
      assert.equal(ok(await cli(args)).stdout.includes(password), false, args.join(' '));
    }
    const table = ok(await cli(['credentials', 'reveal', c.id]));
    assert.match(table.stdout, new RegExp(`^secret\\.password\\s+${password}$`, 'm'));
    const json = JSON.parse(ok(await cli(['credentials', 'reveal', c.id, '--json'])).stdout);
    assert.equal(json.secret.password, password);
    assert.equal((await cli(['credentials', 'reveal', c.id, '--field', 'password'])).stdout, `${password}\n`);
    assert.equal((await cli(['credentials', 'reveal', c.id, '--field', 'host'])).stdout, 'smtp.example.com\n');
    const missing = await cli(['credentials', 'reveal', c.id, '--field', 'nope']);
    assert.equal(missing.code, 1);
  });

  it('creates from --from-file and from stdin, with a caller-chosen id', async () => {
    const fromFile = join(inputs, 'body.json');
    const pw1 = secretOf('file');
    writeFileSync(fromFile, JSON.stringify({ ...smtpBody(unique('From file'), pw1), description: 'from a file' }));
    const a = JSON.parse(ok(await cli(['credentials', 'create', '--from-file', fromFile, '--description', 'flag wins', '--json'])).stdout);
    assert.equal(a.description, 'flag wins');
    const pw2 = secretOf('stdin');
    const id = `cli-stdin-${Date.now().toString(36)}`;
    const b = await spawnCli(['credentials', 'create', '--id', id, '--from-file', '-', '--json'], loggedIn(), {
      input: JSON.stringify(smtpBody(unique('From stdin'), pw2)),
    }).done;
    ok(b, 'create from stdin');
    assert.equal(JSON.parse(b.stdout).id, id);
    assert.equal((await cli(['credentials', 'reveal', id, '--field', 'password'])).stdout, `${pw2}\n`);
    const again = await spawnCli(['credentials', 'create', '--id', id, '--from-file', '-'], loggedIn(), { input: JSON.stringify(smtpBody(unique('again'))) })
      .done;
    assert.equal(again.code, 1, 'an existing id is not silently replaced');
    const bad = await spawnCli(['credentials', 'create', '--from-file', '-'], loggedIn(), { input: `{"name": "x", "secret": {"password": "${pw2}"` }).done;
    assert.equal(bad.code, 2);
    assert.equal(bad.stderr.includes(pw2), false, 'a JSON error does not quote the input');
  });

  it('updates, rotates (secret read from a file), lists versions and reveals an older one', async () => {
    const old = secretOf('old');
    const c = await createCredential(unique('Rotate me'), { secret: { password: old } });
    const upd = JSON.parse(ok(await cli(['credentials', 'update', c.id, '--description', 'changed', '--config', 'port=2525', '--json'])).stdout);
    assert.equal(upd.description, 'changed');
    assert.equal(upd.config.port, 2525);
    assert.equal(upd.version, 1, 'metadata changes make no new version');
    const next = secretOf('new');
    const secretFile = join(inputs, 'pw.txt');
    writeFileSync(secretFile, `${next}\n`);
    const rot = ok(await cli(['credentials', 'rotate', c.id, '--secret', `password=@${secretFile}`, '--grace-period', '600']));
    assert.match(rot.stdout, /version 2 is current/);
    assert.equal(rot.stdout.includes(next), false);
    const versions = ok(await cli(['credentials', 'versions', c.id])).stdout;
    assert.match(versions, /^2\s+current\s/m);
    assert.match(versions, /^1\s+previous\s/m);
    assert.equal((await cli(['credentials', 'reveal', c.id, '--field', 'password'])).stdout, `${next}\n`, 'one trailing newline of the file is dropped');
    assert.equal((await cli(['credentials', 'reveal', c.id, '--version', '1', '--field', 'password'])).stdout, `${old}\n`);
  });

  it('deletes (soft), and purges only with --yes', async () => {
    const c = await createCredential(unique('Delete me'));
    assert.equal((await cli(['credentials', 'delete', c.id, '--purge'])).code, 2);
    ok(await cli(['credentials', 'delete', c.id]));
    assert.equal((await s.request('GET', `/v1/credentials/${c.id}`)).status, 404);
  });
});

describe('exit codes: 0 ok, 1 failure, 2 usage', () => {
  it('1 on a 404, with `latchkey: <code>: <message> (request <id>)` on stderr', async () => {
    const r = await cli(['credentials', 'get', 'crd_00000000000000000000000000']);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^latchkey: CREDENTIAL_NOT_FOUND: .+ \(request req_[0-9A-Z]+\)\n$/);
  });

  it('1 on other API errors: a bad token (401), an inactive credential (409), a validation error (422, with its details)', async () => {
    const bad = await cli(['credentials', 'list'], loggedIn({ LATCHKEY_TOKEN: 'lk_live_notarealkeynotarealkeynotarealkey00' }));
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^latchkey: UNAUTHENTICATED: .+ \(request req_\w+\)\n$/);
    const c = await createCredential(unique('Paused'));
    ok(await cli(['credentials', 'update', c.id, '--status', 'inactive']));
    const inactive = await cli(['credentials', 'reveal', c.id]);
    assert.equal(inactive.code, 1);
    assert.match(inactive.stderr, /^latchkey: CREDENTIAL_INACTIVE: /);
    const invalid = await cli([
      'credentials',
      'create',
      '--name',
      unique('Bad port'),
      '--type',
      'smtp',
      '--config',
      'host=h.example.com',
      '--config',
      'port:=70000',
    ]);
    assert.equal(invalid.code, 1);
    assert.match(invalid.stderr, /^latchkey: VALIDATION_FAILED: .*config\.port/);
  });

  it('1 when the server cannot be reached', async () => {
    const r = await cli(['credentials', 'list'], loggedIn({ LATCHKEY_URL: 'http://127.0.0.1:9' }));
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^latchkey: cannot reach http:\/\/127\.0\.0\.1:9/);
  });

  it('2 on bad usage, before any request', async () => {
    const cases: string[][] = [
      ['credentials', 'frobnicate'],
      ['credentials', 'get'],
      ['credentials', 'get', 'not an id!'],
      ['credentials', 'list', '--limit', 'many'],
      ['credentials', 'list', '--no-such-flag'],
      ['credentials', 'create', '--type', 'smtp'],
      ['credentials', 'create', '--name', 'x', '--type', 'smtp', '--config', 'novalue'],
      ['credentials', 'update', 'crd_x'],
      ['run', '--credential', 'crd_x'],
      ['completion', 'fish'],
      ['nonsense'],
    ];
    for (const args of cases) {
      const r = await cli(args);
      assert.equal(r.code, 2, `${args.join(' ')} → ${r.code}\n${r.stderr}`);
      assert.notEqual(r.stderr, '', args.join(' '));
    }
    const noLogin = await cli(['credentials', 'list'], baseEnv());
    assert.equal(noLogin.code, 2);
    assert.match(noLogin.stderr, /LATCHKEY_URL/);
  });

  it('0 for --help', async () => {
    const r = ok(await cli(['credentials', '--help']));
    assert.match(r.stdout, /reveal/);
  });
});

describe('login state: environment, flags and a 0600 profile', () => {
  it('login checks the token, writes the profile 0600 in a 0700 directory, and commands use it', async () => {
    const cfg = mkdtempSync(join(home, 'config', 'login-'));
    const env = baseEnv({ XDG_CONFIG_HOME: cfg });
    const failed = await cli(['login', '--url', s.url, '--token', 'lk_live_wrongwrongwrongwrongwrongwrongwrong00'], env);
    assert.equal(failed.code, 1, 'a token the server refuses is not saved');
    assert.equal(existsSync(join(cfg, 'latchkey', 'profile.json')), false);
    const login = await spawnCli(['login', '--url', s.url, '--token', '-'], env, { input: `${s.ownerKey}\n` }).done;
    ok(login, 'login');
    const file = join(cfg, 'latchkey', 'profile.json');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(statSync(join(cfg, 'latchkey')).mode & 0o777, 0o700);
    assert.equal(JSON.parse(readFileSync(file, 'utf8')).url, s.url);
    ok(await cli(['credentials', 'list'], env), 'list with the profile');
    const who = JSON.parse(ok(await cli(['whoami', '--json'], env)).stdout);
    assert.equal(who.source, 'profile');
    assert.equal(JSON.stringify(who).includes(s.ownerKey), false, 'whoami never prints the token');

    // The profile's token goes only to the profile's URL.
    const elsewhere = await cli(['credentials', 'list'], { ...env, LATCHKEY_URL: 'http://127.0.0.1:9' });
    assert.equal(elsewhere.code, 2);
    assert.match(elsewhere.stderr, /no token for http:\/\/127\.0\.0\.1:9/);
    // Flags beat the environment, which beats the profile.
    const flags = await cli(['credentials', 'list', '--url', s.url, '--token', 'lk_live_wrongwrongwrongwrongwrongwrongwrong00'], env);
    assert.equal(flags.code, 1);
    assert.match(flags.stderr, /UNAUTHENTICATED/);

    chmodSync(file, 0o640);
    const loose = await cli(['credentials', 'list'], env);
    assert.equal(loose.code, 1);
    assert.match(loose.stderr, /readable by other users/);
    chmodSync(file, 0o600);
    ok(await cli(['logout'], env));
    assert.equal(existsSync(file), false);
  });
});

describe('access-keys', () => {
  it('creates (key printed once), lists as a table and JSON without keys, and revokes', async () => {
    const name = unique('cli key');
    const created = JSON.parse(ok(await cli(['access-keys', 'create', '--name', name, '--role', 'service', '--json'])).stdout);
    assert.match(created.key, /^lk_/);
    const table = ok(await cli(['access-keys', 'list'])).stdout;
    assert.match(table, /^ID\s+NAME\s+ROLE\s+PREFIX/);
    assert.ok(table.includes(created.id));
    assert.equal(table.includes(created.key), false);
    const list = JSON.parse(ok(await cli(['access-keys', 'list', '--json'])).stdout);
    assert.equal(JSON.stringify(list).includes(created.key), false);
    // The new key works, then stops working once revoked.
    ok(await cli(['credentials', 'list'], loggedIn({ LATCHKEY_TOKEN: created.key })));
    ok(await cli(['access-keys', 'revoke', created.id]));
    assert.equal((await cli(['credentials', 'list'], loggedIn({ LATCHKEY_TOKEN: created.key }))).code, 1);
    assert.equal((await cli(['access-keys', 'create', '--name', 'x', '--role', 'emperor'])).code, 2);
  });
});

describe('audit list | verify | export', () => {
  it('lists events as a table and JSON, verifies the chain, and exports every event as JSON lines through cursor paging', async () => {
    const c = await createCredential(unique('Audited'));
    for (let i = 0; i < 3; i++) ok(await cli(['credentials', 'reveal', c.id, '--field', 'password']));
    const table = ok(await cli(['audit', 'list', '--credential', c.id])).stdout;
    assert.match(table, /^AT\s+ACTION\s+OUTCOME\s+ACTOR\s+TARGET\s+REQUEST$/m);
    assert.equal(table.split('\n').filter((l) => l.includes('credential.reveal')).length, 3);
    const json = JSON.parse(ok(await cli(['audit', 'list', '--credential', c.id, '--action', 'credential.reveal', '--json'])).stdout);
    assert.equal(json.length, 3);

    await new Promise((r) => setTimeout(r, 500)); // let the sealer chain the newest events
    const verify = JSON.parse(ok(await cli(['audit', 'verify', '--json'])).stdout);
    assert.equal(verify.ok, true);

    // Everything, by cursor, 7 per page: the same events as walking the API directly.
    const all: string[] = [];
    for (let cursor: string | null = null; ; ) {
      const page: { body: { data: Array<{ id: string }>; next_cursor: string | null } } = await s.request(
        'GET',
        `/v1/audit-events?per_page=100${cursor ? `&cursor=${cursor}` : ''}`,
      );
      all.push(...page.body.data.map((e) => e.id));
      cursor = page.body.next_cursor;
      if (!cursor) break;
    }
    const stdout = ok(await cli(['audit', 'export', '--page-size', '7']));
    const lines = stdout.stdout
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as { id: string });
    assert.deepEqual(
      lines.map((e) => e.id),
      all,
    );
    assert.match(stdout.stderr, /audit export \d+ events/, 'a multi-page export shows progress on stderr');

    const outFile = join(home, 'work', 'audit.jsonl');
    const toFile = ok(await cli(['audit', 'export', '--out', outFile, '--no-progress']));
    assert.equal(toFile.stderr, '');
    assert.match(toFile.stdout, new RegExp(`exported ${all.length} event`));
    assert.equal(statSync(outFile).mode & 0o777, 0o600);
    assert.deepEqual(
      readFileSync(outFile, 'utf8')
        .trimEnd()
        .split('\n')
        .map((l) => (JSON.parse(l) as { id: string }).id),
      all,
    );
  });
});

describe('run -- command', () => {
  it("starts the command with the credential's fields in its environment; the parent's environment, the CLI's and the disk never hold them", async () => {
    const password = secretOf('run');
    const c = await createCredential(unique('Run Me'), { secret: { password } });
    const prefix = `LATCHKEY_${c.slug.toUpperCase().replace(/[^A-Z0-9_]/g, '_')}`;
    const script = [
      'const fs = require("fs");',
      'const mine = Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith("LATCHKEY_")));',
      // What the `latchkey` process itself was started with (Linux only).
      // biome-ignore lint/suspicious/noTemplateCurlyInString: the child script's own template literal
      'let parent = null; try { parent = fs.readFileSync(`/proc/${process.ppid}/environ`, "utf8"); } catch {}',
      'console.log(JSON.stringify({ mine, parentHasSecret: parent === null ? null : parent.includes(process.env.' + `${prefix}_PASSWORD) }));`,
    ].join('\n');
    const r = await spawnCli(['run', '--credential', c.id, '--', process.execPath, '-e', script], loggedIn()).done;
    ok(r, 'run');
    const seen = JSON.parse(r.stdout) as { mine: Record<string, string>; parentHasSecret: boolean | null };
    assert.equal(seen.mine[`${prefix}_PASSWORD`], password);
    assert.equal(seen.mine[`${prefix}_HOST`], 'smtp.example.com');
    assert.equal(seen.mine[`${prefix}_USERNAME`], 'mailer');
    assert.equal(seen.mine.LATCHKEY_TOKEN, undefined, 'the child gets the credential, not the key to the vault');
    if (seen.parentHasSecret !== null) assert.equal(seen.parentHasSecret, false);
    // The test process (the parent) never had it either.
    assert.equal(
      Object.values(process.env).some((v) => v?.includes(password)),
      false,
    );
    // Nothing the CLI could write: its HOME (profile dir, TMPDIR) and working directory, and new files in the system temp dir.
    for (const f of filesUnder(home)) assert.equal(readFileSync(f).includes(password), false, f);
    for (const n of readdirSync(tmpdir())) {
      const p = join(tmpdir(), n);
      try {
        const st = statSync(p);
        if (st.isFile() && st.mtimeMs >= STARTED) assert.equal(readFileSync(p).includes(password), false, p);
      } catch {
        // gone meanwhile (another suite's file)
      }
    }
  });

  it('names variables PREFIX_FIELD with =PREFIX, bare with =, and refuses a name that would clash', async () => {
    const a = await createCredential(unique('Run A'), { secret: { password: secretOf('runa') } });
    const b = await createCredential(unique('Run B'), { secret: { password: secretOf('runb') } });
    const print = `console.log(JSON.stringify([process.env.MAIL_PASSWORD, process.env.PASSWORD, process.env.HOST]))`;
    const r = ok(await cli(['run', '--credential', `${a.id}=MAIL`, '--credential', `${b.id}=`, '--', process.execPath, '-e', print]));
    const [mail, bare, host] = JSON.parse(r.stdout) as string[];
    assert.equal(mail, (await s.request('GET', `/v1/credentials/${a.id}/secret`)).body.secret.password);
    assert.equal(bare, (await s.request('GET', `/v1/credentials/${b.id}/secret`)).body.secret.password);
    assert.equal(host, 'smtp.example.com');
    const clash = await cli(['run', '--credential', `${a.id}=X`, '--credential', `${b.id}=X`, '--', process.execPath, '-e', '']);
    assert.equal(clash.code, 2);
    assert.match(clash.stderr, /would both be X_/);
    const parentClash = await cli(['run', '--credential', `${a.id}=`, '--', process.execPath, '-e', ''], loggedIn({ HOST: 'mine' }));
    assert.equal(parentClash.code, 2);
    assert.match(parentClash.stderr, /HOST .* is already set/);
  });

  it("makes the command's exit code ours (127 when it does not exist), and dies of the signal that killed it", async () => {
    const c = await createCredential(unique('Run exit'));
    assert.equal((await cli(['run', '--credential', c.id, '--', process.execPath, '-e', 'process.exit(7)'])).code, 7);
    assert.equal((await cli(['run', '--credential', c.id, '--', 'no-such-command-here'])).code, 127);
    const killed = await spawnCli(['run', '--credential', c.id, '--', process.execPath, '-e', 'process.kill(process.pid, "SIGTERM")'], loggedIn()).done;
    assert.equal(killed.signal, 'SIGTERM');
    const missing = await cli(['run', '--credential', 'crd_00000000000000000000000000', '--', process.execPath, '-e', '']);
    assert.equal(missing.code, 1, 'a credential that cannot be revealed: the command does not start');
  });

  it('forwards SIGTERM to the command and waits for it', async () => {
    const c = await createCredential(unique('Run signal'));
    const script = 'process.on("SIGTERM", () => { console.log("got SIGTERM"); process.exit(42); }); console.log("ready"); setInterval(() => {}, 1000);';
    const { proc, done } = spawnCli(['run', '--credential', c.id, '--', process.execPath, '-e', script], loggedIn());
    await new Promise<void>((res) => proc.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && res()));
    proc.kill('SIGTERM');
    const r = await done;
    assert.equal(r.code, 42);
    assert.match(r.stdout, /got SIGTERM/);
  });
});

describe('export → import into a fresh server', () => {
  it('round-trips every credential and every revealable version, with teams and folders; the file holds no plaintext', async () => {
    // A source tenant with what a backup must carry: rotated credentials (previous within its
    // grace period), a retired version, test secrets, an inactive one, a generated secret, a team and a folder.
    const team = await s.request('POST', '/v1/teams', { body: { name: unique('Payments') } });
    assert.equal(team.status, 201, team.text);
    const folder = await s.request('POST', '/v1/folders', { body: { name: 'prod', team_id: team.body.id } });
    assert.equal(folder.status, 201, folder.text);
    const rotated = await createCredential(unique('Rotated'), { metadata: { owner: 'ops' }, allowed_hosts: ['smtp.example.com'] });
    assert.equal(
      (await s.request('POST', `/v1/credentials/${rotated.id}/rotate`, { body: { secret: { password: secretOf('r2') }, grace_period_seconds: 3600 } })).status,
      200,
    );
    const retired = await createCredential(unique('Retired'));
    for (const tag of ['t2', 't3']) {
      assert.equal(
        (await s.request('POST', `/v1/credentials/${retired.id}/rotate`, { body: { secret: { password: secretOf(tag) }, grace_period_seconds: 3600 } })).status,
        200,
      );
    }
    const withTest = await createCredential(unique('With test'), { test_credential_enabled: true, test_secret: { password: secretOf('test') } });
    assert.equal((await s.request('POST', `/v1/credentials/${withTest.id}/rotate`, { body: { secret: { password: secretOf('w2') } } })).status, 200);
    const inactive = await createCredential(unique('Inactive'));
    assert.equal((await s.request('PATCH', `/v1/credentials/${inactive.id}`, { body: { status: 'inactive' } })).status, 200);
    await createCredential(unique('Filed'), { team_id: team.body.id, folder_id: folder.body.id, read_access: 'TEAM' });
    const hook = await s.request('POST', '/v1/credentials', { body: { name: unique('Hook'), type: 'webhook', config: { url: 'https://example.com/hook' } } });
    assert.equal(hook.status, 201, hook.text);
    secrets.push(...Object.values(hook.body.generated_secret as Record<string, string>));

    const file = join(home, 'work', 'tenant.lkbackup');
    const passphrase = 'correct horse battery staple';
    const exp = ok(await cli(['export', '--out', file], loggedIn({ LATCHKEY_EXPORT_PASSPHRASE: passphrase })), 'export');
    assert.match(exp.stdout, /exported \d+ credential\(s\)/);
    assert.match(exp.stderr, /export \[#+\] \d+\/\d+ credentials/, 'a progress bar on stderr');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const backup = readFileSync(file);
    for (const secret of secrets) assert.equal(backup.includes(secret), false, 'the backup is encrypted');
    assert.equal(JSON.parse(backup.toString()).kdf.name, 'scrypt');
    assert.equal((await cli(['export', '--out', file], loggedIn({ LATCHKEY_EXPORT_PASSPHRASE: passphrase }))).code, 2, 'no overwrite without --force');
    assert.equal((await cli(['export', '--out', join(home, 'work', 'x')], loggedIn({ LATCHKEY_EXPORT_PASSPHRASE: 'short' }))).code, 2);

    const fresh = await startServer();
    try {
      const target = (extra: Record<string, string> = {}) => baseEnv({ LATCHKEY_URL: fresh.url, LATCHKEY_TOKEN: fresh.ownerKey, ...extra });
      const wrong = await cli(['import', file], target({ LATCHKEY_EXPORT_PASSPHRASE: 'not the passphrase at all' }));
      assert.equal(wrong.code, 1);
      assert.match(wrong.stderr, /wrong passphrase/);
      // The header is authenticated (GCM additional data): even a field the key does not depend on breaks the tag.
      const tampered = join(home, 'work', 'tampered.lkbackup');
      const doc = JSON.parse(backup.toString());
      writeFileSync(tampered, JSON.stringify({ ...doc, created_at: '2020-01-01T00:00:00.000Z' }));
      const weak = await cli(['import', tampered], target({ LATCHKEY_EXPORT_PASSPHRASE: passphrase }));
      assert.equal(weak.code, 1);
      assert.match(weak.stderr, /the file was changed/);
      const imp = ok(await cli(['import', file, '--json'], target({ LATCHKEY_EXPORT_PASSPHRASE: passphrase })), 'import');
      const summary = JSON.parse(imp.stdout) as {
        imported: Array<{ id: string; source_versions: number[]; target_versions: number[]; missing_versions: number[] }>;
      };
      assert.match(imp.stderr, /import \[#+\] \d+\/\d+ credentials/);

      // Every credential of the source, with the same id, metadata and, version by version, the same secrets.
      const sourceList = await listAll(s);
      const targetList = await listAll(fresh);
      assert.deepEqual(targetList.map((c) => c.id).sort(), sourceList.map((c) => c.id).sort());
      const targetTeams = (await fresh.request('GET', '/v1/teams')).body.data as Array<{ id: string; slug: string }>;
      for (const src of sourceList) {
        const dst = targetList.find((c) => c.id === src.id)!;
        for (const k of [
          'name',
          'slug',
          'type',
          'status',
          'config',
          'metadata',
          'allowed_hosts',
          'description',
          'read_access',
          'test_credential_enabled',
          'expires_at',
          'provider',
          'integration_id',
        ]) {
          assert.deepEqual(dst[k], src[k], `${src.id} ${k}`);
        }
        if (src.team_id) assert.equal(targetTeams.find((t) => t.id === dst.team_id)?.slug, team.body.slug);
        const a = await revealAll(s, src);
        const b = await revealAll(fresh, dst);
        assert.deepEqual(
          b.map((v) => [v.secret, v.test_secret]),
          a.map((v) => [v.secret, v.test_secret]),
          `${src.id}: the secrets of every revealable version, in order`,
        );
        const item = summary.imported.find((i) => i.id === src.id)!;
        if (item.missing_versions.length === 0)
          assert.deepEqual(
            b.map((v) => v.version),
            a.map((v) => v.version),
            `${src.id}: same version numbers`,
          );
        else
          assert.deepEqual(
            item.source_versions,
            a.map((v) => v.version),
          );
      }
      assert.deepEqual(summary.imported.find((i) => i.id === retired.id)?.missing_versions, [1], 'the retired version is reported');
      assert.equal((await revealAll(fresh, targetList.find((c) => c.id === rotated.id)!)).length, 2, 'the previous version is still readable on the target');

      const again = await cli(['import', file], target({ LATCHKEY_EXPORT_PASSPHRASE: passphrase }));
      assert.equal(again.code, 1, 'existing ids fail the import before anything is written');
      const skip = ok(await cli(['import', file, '--skip-existing'], target({ LATCHKEY_EXPORT_PASSPHRASE: passphrase })));
      assert.match(skip.stdout, /imported 0 credential\(s\)/);
    } finally {
      await fresh.stop();
      const haystacks = [Buffer.from(fresh.logs()), ...readTree(fresh.dataDir)];
      for (const secret of secrets) for (const h of haystacks) assert.equal(h.includes(secret), false, 'no plaintext on the target disk');
    }
  });
});

async function listAll(server: TestServer): Promise<Array<Record<string, any>>> {
  const out: Array<Record<string, any>> = [];
  for (let cursor: string | null = null; ; ) {
    const page: { body: { data: Array<Record<string, any>>; next_cursor: string | null } } = await server.request(
      'GET',
      `/v1/credentials?per_page=100${cursor ? `&cursor=${cursor}` : ''}`,
    );
    out.push(...page.body.data);
    cursor = page.body.next_cursor;
    if (!cursor) return out;
  }
}

/** Every version the API will reveal (current, and previous within its grace period), oldest first. */
async function revealAll(server: TestServer, c: Record<string, any>) {
  const versions = (
    (await server.request('GET', `/v1/credentials/${c.id}/versions`)).body.data as Array<{ version: number; stage: string; expires_at: string | null }>
  )
    .filter((v) => v.stage === 'current' || (v.stage === 'previous' && v.expires_at !== null && Date.parse(v.expires_at) > Date.now()))
    .sort((x, y) => x.version - y.version);
  const out: Array<{ version: number; secret: unknown; test_secret: unknown }> = [];
  for (const v of versions) {
    const q = `version=${v.version}&allow_inactive=true`;
    const r = await server.request('GET', `/v1/credentials/${c.id}/secret?${q}`);
    assert.equal(r.status, 200, r.text);
    // A test reveal answers with the test secret only: one more call for it.
    const t = c.test_credential_enabled ? await server.request('GET', `/v1/credentials/${c.id}/secret?${q}&variant=test`) : null;
    out.push({ version: v.version, secret: r.body.secret, test_secret: t?.body.test_secret ?? null });
  }
  return out;
}

describe('keys server-status', () => {
  it('prints what the server reports on /readyz, and fails when it is not there', async () => {
    const r = ok(await cli(['keys', 'server-status'], baseEnv({ LATCHKEY_URL: s.url })));
    assert.match(r.stdout, /^ready\s+true$/m);
    assert.match(r.stdout, /^root_key_id\s+\S+/m);
    const json = JSON.parse(ok(await cli(['keys', 'server-status', '--json', '--url', s.url], baseEnv())).stdout);
    assert.equal(json.ok, true);
    assert.equal(json.store, 'ok');
    assert.equal((await cli(['keys', 'server-status', '--url', 'http://127.0.0.1:9'], baseEnv())).code, 1);
    assert.equal((await cli(['keys', 'server-status'], baseEnv())).code, 2);
  });
});

describe('completion', () => {
  it('bash: prints a script that bash accepts and that completes commands, subcommands and flags', async () => {
    const r = ok(await cli(['completion', 'bash'], baseEnv()));
    assert.match(r.stdout, /complete -o default -F _latchkey latchkey/);
    const script = join(home, 'work', 'latchkey.bash');
    writeFileSync(script, r.stdout);
    const probe = `source ${script}
t() { COMP_WORDS=("$@"); COMP_CWORD=$(( \${#COMP_WORDS[@]} - 1 )); _latchkey; echo "\${COMPREPLY[*]}"; }
t latchkey credent; t latchkey credentials re; t latchkey credentials reveal --fi; t latchkey audit ex`;
    const bash = spawnSync('bash', ['-c', probe], { encoding: 'utf8' });
    if (bash.error) return; // no bash on this machine
    assert.equal(bash.status, 0, bash.stderr);
    assert.deepEqual(bash.stdout.trimEnd().split('\n'), ['credentials', 'reveal', '--field', 'export']);
  });

  it('zsh: prints a #compdef script (checked by zsh -n when zsh is installed)', async () => {
    const r = ok(await cli(['completion', 'zsh'], baseEnv()));
    assert.match(r.stdout, /^#compdef latchkey/);
    assert.match(r.stdout, /credentials:Credentials/);
    const zsh = spawnSync('zsh', ['-n'], { input: r.stdout, encoding: 'utf8' });
    if (!zsh.error) assert.equal(zsh.status, 0, zsh.stderr);
  });
});
