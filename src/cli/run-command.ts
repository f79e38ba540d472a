import { spawn } from 'node:child_process';
import { constants as osConstants } from 'node:os';
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import type { RevealedCredential } from '@latchkey/sdk';
import { CliFailure, UsageError } from './cli-errors.js';
import { act } from './command-kit.js';
import { clientFor, connectionOptions, type ConnectionFlags } from './login-state.js';

/**
 * `latchkey run --credential ID[=PREFIX] … -- command args`
 *
 * Reveals each credential (one audited reveal each) and starts the command with the fields in its
 * environment, nothing else: no file, no temp file, no change to this process's own environment.
 * With `--derived`, the child gets a short-lived token derived from each credential instead
 * (`POST /v1/credentials/{id}/token`, an audited use), so a program that cannot go through the
 * proxy still never holds the stored secret.
 *
 * Names: every config and secret field of a credential becomes `<PREFIX>_<FIELD>`, upper-cased,
 * with anything but A-Z, 0-9 and _ turned into _. PREFIX defaults to `LATCHKEY_<SLUG>` (the
 * credential's slug), so `smtp_prod`'s `password` is `LATCHKEY_SMTP_PROD_PASSWORD`. `ID=MAILER`
 * picks the prefix (`MAILER_PASSWORD`) and `ID=` gives bare names (`PASSWORD`).
 * There are no bare names by default: a field called `path` or `home` would replace PATH or HOME,
 * and adding a second credential would change the names the program reads. For the same reason a
 * name that is already set in the environment, or that two fields share, is refused (exit 2).
 *
 * The child does not inherit LATCHKEY_TOKEN or LATCHKEY_EXPORT_PASSPHRASE: it gets the
 * credentials it was given, not the key to the vault. Its exit code becomes ours; a signal sent to
 * us (SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2) is passed on to it, and if it dies of a
 * signal we die of the same one (a shell then sees 128 + n).
 */

interface CredentialSpec {
  id: string;
  prefix: string | undefined;
}

const FORWARDED: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];
const WITHHELD = ['LATCHKEY_TOKEN', 'LATCHKEY_EXPORT_PASSPHRASE'];

function credentialSpec(raw: string, previous: CredentialSpec[] = []): CredentialSpec[] {
  const eq = raw.indexOf('=');
  const id = eq === -1 ? raw : raw.slice(0, eq);
  const prefix = eq === -1 ? undefined : raw.slice(eq + 1);
  if (!/^[@~\-.\w]{1,50}$/.test(id)) throw new InvalidArgumentError('must be a credential id, optionally =PREFIX (crd_…=MAILER)');
  if (prefix !== undefined && prefix !== '' && !/^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(prefix))
    throw new InvalidArgumentError('PREFIX must be letters, digits and _ (not starting with a digit)');
  return [...previous, { id, prefix }];
}

export const envPart = (s: string): string => s.toUpperCase().replace(/[^A-Z0-9_]/g, '_');

/** `LATCHKEY_<SLUG>_<FIELD>` (or `<PREFIX>_<FIELD>`, or `<FIELD>` for an empty prefix). */
export function envNameOf(prefix: string, field: string): string {
  const name = prefix === '' ? envPart(field) : `${prefix}_${envPart(field)}`;
  return /^[0-9]/.test(name) ? `_${name}` : name;
}

const envValue = (v: unknown): string => (typeof v === 'string' ? v : JSON.stringify(v));

/** What a child is handed of one credential: its fields, by name. */
export interface Handed {
  id: string;
  slug: string;
  fields: Array<[string, unknown]>;
}

export const handedOfReveal = (r: RevealedCredential): Handed => ({
  id: r.id,
  slug: r.slug,
  fields: [...Object.entries(r.config ?? {}), ...Object.entries(r.secret ?? {})],
});

export function credentialEnv(specs: CredentialSpec[], revealed: Handed[], parent: NodeJS.ProcessEnv): Record<string, string> {
  const vars: Record<string, string> = {};
  const origin: Record<string, string> = {};
  specs.forEach((spec, i) => {
    const r = revealed[i];
    if (!r) return;
    const prefix = spec.prefix ?? `LATCHKEY_${envPart(r.slug || r.id)}`;
    const fields = r.fields;
    for (const [field, value] of fields) {
      if (value === null || value === undefined) continue;
      const name = envNameOf(prefix, field);
      const from = `${r.id}.${field}`;
      if (origin[name] !== undefined && origin[name] !== from) {
        throw new UsageError(`${origin[name]} and ${from} would both be ${name}; give one credential its own prefix (--credential ${r.id}=PREFIX)`);
      }
      if (parent[name] !== undefined)
        throw new UsageError(`${name} (from ${from}) is already set in the environment; choose another prefix (--credential ${r.id}=PREFIX)`);
      origin[name] = from;
      vars[name] = envValue(value);
      // The server stores any string, but the environment is C strings: spawn would throw a TypeError.
      if (vars[name].includes('\0'))
        throw new CliFailure(
          `${from} holds a NUL character, which an environment variable cannot hold; read it with \`latchkey credentials reveal ${r.id} --field ${field}\` instead`,
        );
    }
  });
  return vars;
}

export function addRunCommand(program: Command): void {
  connectionOptions(program.command('run').description("Run a command with credentials' fields in its environment (nothing is written to disk)"))
    .requiredOption(
      '--credential <id[=prefix]>',
      'credential to expose (repeat); =PREFIX names its variables PREFIX_<FIELD>, = alone gives bare <FIELD>',
      credentialSpec,
    )
    .option('--allow-inactive', 'use an inactive or deactivated credential (owners)')
    .option(
      '--derived',
      "hand the command a short-lived token derived from each credential (an OAuth2 access token, a minted JWT, an assumed role's session: <PREFIX>_<FIELD> and <PREFIX>_EXPIRES_AT) instead of its secret; needs credentials:use, not reveal",
    )
    .argument('<command...>', 'the command and its arguments, after --')
    .addHelpText('after', '\nExample:\n  latchkey run --credential crd_01J…=SMTP -- node mailer.js   # SMTP_HOST, SMTP_PASSWORD, …')
    .action(
      act(async (command: string[], opts: ConnectionFlags & { credential: CredentialSpec[]; allowInactive?: boolean; derived?: boolean }) => {
        const client = clientFor(opts);
        if (opts.derived === true && opts.allowInactive === true) throw new UsageError('--derived uses active credentials only; drop --allow-inactive');
        const revealed: Handed[] = [];
        for (const spec of opts.credential) {
          if (opts.derived === true) {
            const meta = await client.credentials.get(spec.id);
            const t = await client.credentials.derivedToken(spec.id);
            revealed.push({ id: meta.id, slug: meta.slug, fields: [...Object.entries(t.token), ['expires_at', t.expires_at]] });
          } else {
            revealed.push(handedOfReveal(await client.credentials.reveal(spec.id, { allowInactive: opts.allowInactive === true })));
          }
        }
        const vars = credentialEnv(opts.credential, revealed, process.env);
        const env: NodeJS.ProcessEnv = { ...process.env };
        for (const name of WITHHELD) delete env[name];
        Object.assign(env, vars);
        const [file, ...args] = command;
        if (file === undefined) throw new UsageError('run needs a command after --');
        process.exitCode = await runChild(file, args, env);
      }),
    );
}

function runChild(file: string, args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: 'inherit', env });
    const forward = (signal: NodeJS.Signals) => () => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    };
    const handlers = FORWARDED.map((s) => [s, forward(s)] as const);
    for (const [s, h] of handlers) process.on(s, h);
    const cleanup = () => {
      for (const [s, h] of handlers) process.removeListener(s, h);
    };
    child.on('error', (err: NodeJS.ErrnoException) => {
      cleanup();
      // The shell's codes for "not found" and "not executable".
      if (err.code === 'ENOENT') return reject(new CliFailure(`${file}: command not found`, 127));
      if (err.code === 'EACCES') return reject(new CliFailure(`${file}: permission denied`, 126));
      reject(new CliFailure(`${file}: cannot start (${err.code ?? 'error'})`));
    });
    child.on('exit', (code, signal) => {
      cleanup();
      if (signal !== null) {
        // Die of the same signal, so whoever started us sees what happened to the command
        // (not SIGUSR1: Node would open its inspector instead).
        if (signal !== 'SIGUSR1') process.kill(process.pid, signal);
        const n = (osConstants.signals as Record<string, number>)[signal] ?? 0;
        return resolve(128 + n);
      }
      resolve(code ?? 1);
    });
  });
}
