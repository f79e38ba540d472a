import { chmodSync, closeSync, existsSync, fstatSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync, constants } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import type { Command } from 'commander';
import { Latchkey } from '@latchkey/sdk';
import { CliFailure, UsageError } from './cli-errors.js';

/**
 * Where the CLI finds its server and token, strongest first:
 *   1. `--url`, `--token`, `--tenant-id` flags;
 *   2. `LATCHKEY_URL`, `LATCHKEY_TOKEN`, `LATCHKEY_TENANT_ID`;
 *   3. the profile file written by `latchkey login` (0600, in a 0700 directory).
 * The profile's token is only ever sent to the profile's URL: a URL from a flag or the environment
 * with no token beside it does not borrow the profile's token (that would hand the token to
 * whatever server the flag names).
 */

export interface Connection {
  url: string;
  token: string;
  tenantId: string | undefined;
}

export interface ConnectionFlags {
  url?: string;
  token?: string;
  tenantId?: string;
}

interface Profile {
  url: string;
  token: string;
  tenant_id?: string;
}

/** `$XDG_CONFIG_HOME/latchkey/profile.json` (an absolute XDG_CONFIG_HOME only, as the spec says), else `~/.config/…`. */
export function profilePath(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env.XDG_CONFIG_HOME;
  const base = xdg && isAbsolute(xdg) ? xdg : join(homedir(), '.config');
  return join(base, 'latchkey', 'profile.json');
}

/** Reads the profile, or null when there is none. Refuses a file other users can read or that someone else owns. */
export function readProfile(path = profilePath()): Profile | null {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    if ((err as NodeJS.ErrnoException).code === 'ELOOP') throw new CliFailure(`${path} is a symbolic link; refusing to read a token through it`);
    throw err;
  }
  try {
    const st = fstatSync(fd);
    if (process.platform !== 'win32') {
      if ((st.mode & 0o077) !== 0) {
        throw new CliFailure(
          `${path} is readable by other users (mode ${(st.mode & 0o777).toString(8)}); run \`chmod 600 ${path}\` or \`latchkey login\` again`,
        );
      }
      if (typeof process.getuid === 'function' && st.uid !== process.getuid()) throw new CliFailure(`${path} belongs to another user; refusing to use it`);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(fd, 'utf8'));
    } catch {
      throw new CliFailure(`${path} is not valid JSON; run \`latchkey login\` again`);
    }
    const p = parsed as Partial<Profile> | null;
    if (typeof p !== 'object' || p === null || typeof p.url !== 'string' || typeof p.token !== 'string') {
      throw new CliFailure(`${path} lacks url or token; run \`latchkey login\` again`);
    }
    return { url: p.url, token: p.token, ...(typeof p.tenant_id === 'string' ? { tenant_id: p.tenant_id } : {}) };
  } finally {
    closeSync(fd);
  }
}

/** Writes the profile atomically with 0600 (directory 0700); the file never exists with looser bits. */
export function writeProfile(profile: Profile, path = profilePath()): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  rmSync(tmp, { force: true });
  const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
  try {
    writeSync(fd, JSON.stringify(profile, null, 2) + '\n');
  } finally {
    closeSync(fd);
  }
  chmodSync(tmp, 0o600); // against an odd umask
  renameSync(tmp, path);
}

export function removeProfile(path = profilePath()): boolean {
  if (!existsSync(path)) return false;
  rmSync(path);
  return true;
}

export function checkUrl(raw: string, source: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UsageError(`${source} is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`${source} must be http:// or https://`);
  if (url.username || url.password || url.search || url.hash) throw new UsageError(`${source} must be a plain base URL (no credentials, query or fragment)`);
  return url.origin + url.pathname.replace(/\/+$/, '');
}

export function checkToken(raw: string, source: string): string {
  // A CR/LF would split the Authorization header; the message never quotes the token.
  if (raw.trim() === '' || raw !== raw.trim() || /[\r\n\0]/.test(raw)) throw new UsageError(`${source} is empty or contains whitespace or control characters`);
  return raw;
}

export function resolveConnection(flags: ConnectionFlags, env: NodeJS.ProcessEnv = process.env): Connection {
  const flagUrl = flags.url ?? (env.LATCHKEY_URL || undefined);
  const flagToken = flags.token ?? (env.LATCHKEY_TOKEN || undefined);
  const tenantId = flags.tenantId ?? (env.LATCHKEY_TENANT_ID || undefined);
  if (flagUrl !== undefined && flagToken !== undefined) {
    return {
      url: checkUrl(flagUrl, flags.url !== undefined ? '--url' : 'LATCHKEY_URL'),
      token: checkToken(flagToken, flags.token !== undefined ? '--token' : 'LATCHKEY_TOKEN'),
      tenantId,
    };
  }
  const profile = readProfile();
  if (profile && (flagUrl === undefined || checkUrl(flagUrl, 'the URL') === checkUrl(profile.url, 'the profile URL'))) {
    return {
      url: checkUrl(profile.url, 'the profile URL'),
      token: checkToken(flagToken ?? profile.token, 'the token'),
      tenantId: tenantId ?? profile.tenant_id,
    };
  }
  if (flagUrl === undefined) throw new UsageError('no server: set LATCHKEY_URL and LATCHKEY_TOKEN, pass --url and --token, or run `latchkey login`');
  throw new UsageError(`no token for ${flagUrl}: set LATCHKEY_TOKEN, pass --token, or \`latchkey login\` to that URL`);
}

/** The connection flags every API command takes. */
export function connectionOptions(cmd: Command): Command {
  return cmd
    .option('--url <url>', 'server base URL (default: LATCHKEY_URL, else the profile)')
    .option('--token <token>', 'access key or OIDC token (default: LATCHKEY_TOKEN, else the profile)')
    .option('--tenant-id <id>', 'act in this tenant of the principal (default: LATCHKEY_TENANT_ID, else the profile)');
}

/** The SDK client as the CLI uses it: a longer deadline than the SDK's default (an export reveals many versions). */
export function apiClient(c: Connection): Latchkey {
  return new Latchkey({ baseUrl: c.url, apiKey: c.token, tenantId: c.tenantId, timeoutMs: 30_000 });
}

export function clientFor(flags: ConnectionFlags): Latchkey {
  const c = resolveConnection(flags);
  // A bearer token over plain HTTP is readable by anyone on the path; loopback is the one safe case.
  const host = new URL(c.url).hostname;
  if (c.url.startsWith('http:') && !['localhost', '127.0.0.1', '[::1]', '::1'].includes(host) && !host.startsWith('127.')) {
    process.stderr.write(`latchkey: warning: ${c.url} is plain HTTP; the token and any revealed secret travel unencrypted\n`);
  }
  return apiClient(c);
}
