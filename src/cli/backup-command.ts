import { closeSync, existsSync, openSync, readFileSync, renameSync, rmSync, writeFileSync, constants } from 'node:fs';
import type { Command } from 'commander';
import {
  LatchkeyApiError,
  type Credential,
  type CredentialReplaceBody,
  type CredentialVersion,
  type Folder,
  type JsonObject as Json,
  type Latchkey,
  type Team,
} from '@latchkey/sdk';
import { openBackup, sealBackup } from './backup-file.js';
import { CliFailure, UsageError } from './cli-errors.js';
import { act } from './command-kit.js';
import { clientFor, connectionOptions, resolveConnection, type ConnectionFlags } from './login-state.js';
import { out, printJson, printTable, warn } from './output.js';
import { backupPassphrase } from './passphrase-prompt.js';
import { progressBar } from './progress-bar.js';
import { readStdinDocument } from './stdin.js';

/**
 * `latchkey export --out FILE` and `latchkey import FILE`: an encrypted backup of a tenant's
 * credentials (and the teams and folders they are filed under), made and restored through the
 * API only — every secret is revealed with the caller's key (one audit event each), and import
 * recreates each credential under its own id with `PUT /v1/credentials/{id}`, then its later
 * versions in order.
 *
 * What the API lets a backup hold: a version can be revealed while it is current (or pending), or
 * previous within its grace period; older ("deprecated") versions are not revealable by anyone,
 * so the backup lists them as metadata only and import cannot recreate them. Import makes
 * version 1 from the oldest version in the backup, so when older ones were retired the numbers
 * shift down; the summary and `--json` give the mapping. Soft-deleted credentials are not
 * exported (the API does not show them).
 */

export interface BackupVersion {
  version: number;
  stage: CredentialVersion['stage'];
  expires_at: string | null;
  created_at: string;
  secret: Json;
  test_secret: Json | null;
}

export interface BackupCredential {
  id: string;
  metadata: Credential;
  versions: BackupVersion[];
  unreadable_versions: Array<{ version: number; stage: string; created_at: string }>;
}

export interface BackupPayload {
  format: 'latchkey-backup-payload';
  version: 1;
  exported_at: string;
  source: { url: string; tenant: { id: string; name: string } | null };
  teams: Team[];
  folders: Folder[];
  credentials: BackupCredential[];
}

/** Fields a PUT body may carry (the OpenAPI document); `status` and `deactivation_time` are set after the versions. */
const WRITABLE = [
  'name',
  'type',
  'provider',
  'integration_id',
  'description',
  'config',
  'metadata',
  'allowed_hosts',
  'proxy_rules',
  'team_id',
  'folder_id',
  'read_access',
  'shared_team_slugs',
  'test_credential_enabled',
  'expires_at',
  'rotation_interval_days',
] as const;

const MAX_GRACE_SECONDS = 30 * 86_400;

const readableNow = (v: CredentialVersion, now: number): boolean =>
  v.stage === 'current' || v.stage === 'pending' || (v.stage === 'previous' && v.expires_at !== null && Date.parse(v.expires_at) > now);

async function optional<T>(p: Promise<T>, fallback: T, what: string): Promise<T> {
  try {
    return await p;
  } catch (err) {
    if (err instanceof LatchkeyApiError && err.status === 403) {
      warn(`${what}: ${err.code} (the backup will not hold them)`);
      return fallback;
    }
    throw err;
  }
}

async function exportCredential(client: Latchkey, c: Credential): Promise<BackupCredential> {
  const now = Date.now();
  const versions = (await client.credentials.versions(c.id)).sort((a, b) => a.version - b.version);
  const entry: BackupCredential = { id: c.id, metadata: c, versions: [], unreadable_versions: [] };
  for (const v of versions) {
    const unreadable = { version: v.version, stage: v.stage, created_at: v.created_at };
    if (!readableNow(v, now)) {
      entry.unreadable_versions.push(unreadable);
      continue;
    }
    try {
      const r = await client.credentials.reveal(c.id, { version: v.version, allowInactive: c.status !== 'active' });
      // A test reveal answers with the test secret only (never the live one beside it): a second call.
      const test =
        c.test_credential_enabled && v.has_test_secret
          ? await client.credentials.reveal(c.id, { version: v.version, allowInactive: c.status !== 'active', variant: 'test' })
          : null;
      entry.versions.push({
        version: v.version,
        stage: v.stage,
        expires_at: v.expires_at,
        created_at: v.created_at,
        secret: r.secret ?? {},
        test_secret: test?.test_secret ?? null,
      });
    } catch (err) {
      // Its grace period ended between the listing and the reveal.
      if (err instanceof LatchkeyApiError && err.code === 'VERSION_NOT_FOUND' && v.stage === 'previous') entry.unreadable_versions.push(unreadable);
      else throw err;
    }
  }
  if (entry.versions.length === 0) throw new CliFailure(`credential ${c.id}: no version could be revealed`);
  return entry;
}

/** Writes `<file>.partial` (0600) and renames it, so a backup on disk is always a whole one. */
function writeWhole(path: string, data: Buffer): void {
  const tmp = `${path}.partial`;
  rmSync(tmp, { force: true });
  const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
  try {
    writeFileSync(fd, data);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

function checkPayload(v: unknown): BackupPayload {
  const p = v as Partial<BackupPayload> | null;
  const fail = (what: string): never => {
    throw new CliFailure(`the backup's content is not a Latchkey tenant export (${what})`);
  };
  if (typeof p !== 'object' || p === null || p.format !== 'latchkey-backup-payload' || p.version !== 1) fail('format');
  if (!Array.isArray(p?.credentials) || !Array.isArray(p?.teams) || !Array.isArray(p?.folders)) fail('lists');
  for (const c of p?.credentials ?? []) {
    if (typeof c?.id !== 'string' || !/^[@~\-.\w]{1,50}$/.test(c.id) || typeof c.metadata !== 'object' || !Array.isArray(c.versions) || c.versions.length === 0)
      fail('a credential');
    for (const ver of c.versions) if (!Number.isInteger(ver?.version) || typeof ver.secret !== 'object' || ver.secret === null) fail(`a version of ${c.id}`);
  }
  return p as BackupPayload;
}

/** Teams by slug and folders by (team, name) on the target: found, or made. Returns source id → target id. */
async function mapPlacement(client: Latchkey, payload: BackupPayload, dryRun: boolean): Promise<Map<string, string>> {
  const ids = new Map<string, string>();
  const used = new Set(payload.credentials.flatMap((c) => [c.metadata.team_id, c.metadata.folder_id]).filter((x): x is string => typeof x === 'string'));
  if (payload.teams.length === 0 && used.size === 0) return ids;
  const teams = await client.teams.list().toArray();
  for (const t of payload.teams) {
    const found = teams.find((x) => x.slug === t.slug);
    ids.set(t.id, found ? found.id : dryRun ? `(new team ${t.slug})` : (await client.teams.create({ name: t.name, slug: t.slug })).id);
  }
  if (payload.folders.length > 0) {
    const folders = await client.folders.list().toArray();
    for (const f of payload.folders) {
      const teamId = ids.get(f.team_id);
      if (teamId === undefined) continue;
      const found = folders.find((x) => x.team_id === teamId && x.name === f.name);
      ids.set(f.id, found ? found.id : dryRun ? `(new folder ${f.name})` : (await client.folders.create({ name: f.name, team_id: teamId })).id);
    }
  }
  for (const id of used)
    if (!ids.has(id))
      throw new CliFailure(`the backup files credentials under ${id}, but holds no such team or folder (export them with a key that may list teams)`);
  return ids;
}

/** `{ a: 1 }` → `{ b: 2 }` as a PATCH merge: keys that went away are sent as null (the server merges shallowly). */
function mergePatch(from: Json | null, to: Json): Json {
  const patch: Json = { ...to };
  for (const k of Object.keys(from ?? {})) if (!(k in to)) patch[k] = null;
  return patch;
}

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);

interface Imported {
  id: string;
  name: string;
  source_versions: number[];
  target_versions: number[];
  missing_versions: number[];
}

async function importCredential(client: Latchkey, c: BackupCredential, placement: Map<string, string>): Promise<Imported> {
  const versions = [...c.versions].sort((a, b) => a.version - b.version);
  const first = versions[0] as BackupVersion;
  const last = versions[versions.length - 1] as BackupVersion;
  const body: Json = {};
  for (const k of WRITABLE) if (c.metadata[k] !== undefined) body[k] = c.metadata[k];
  for (const k of ['team_id', 'folder_id'] as const) if (typeof body[k] === 'string') body[k] = placement.get(body[k] as string);
  body.secret = first.secret;
  if (c.metadata.test_credential_enabled) body.test_secret = first.test_secret ?? last.test_secret;
  const targetVersions: number[] = [];
  let made = false;
  try {
    const created = await client.credentials.put(c.id, body as CredentialReplaceBody);
    made = true;
    targetVersions.push(created.version);
    let previous = first;
    for (const v of versions.slice(1)) {
      let r: Credential;
      if (c.metadata.test_credential_enabled && !same(previous.test_secret, v.test_secret) && v.test_secret !== null) {
        // Rotate keeps the current test secret; a version with its own needs PATCH (its predecessor gets no grace period).
        r = await client.credentials.update(c.id, {
          secret: mergePatch(previous.secret, v.secret),
          test_secret: mergePatch(previous.test_secret, v.test_secret),
        });
      } else {
        // The version before this one stays readable as long as it was on the source.
        const grace = previous.stage === 'previous' && previous.expires_at ? Math.ceil((Date.parse(previous.expires_at) - Date.now()) / 1000) : 0;
        r = await client.credentials.rotate(c.id, { secret: v.secret, gracePeriodSeconds: Math.min(MAX_GRACE_SECONDS, Math.max(0, grace)) });
      }
      targetVersions.push(r.version);
      previous = v;
    }
    const { status, deactivation_time } = c.metadata;
    if (status !== 'active' || deactivation_time !== null) {
      await client.credentials.update(c.id, { status, ...(deactivation_time !== null ? { deactivation_time } : {}) });
    }
  } catch (err) {
    // Leave nothing half-made: a rerun with --skip-existing would otherwise skip it as done.
    if (made)
      await client.credentials
        .delete(c.id, { purge: true })
        .catch(() => warn(`credential ${c.id} is half imported and could not be purged; remove it before importing again`));
    throw err;
  }
  return {
    id: c.id,
    name: c.metadata.name,
    source_versions: versions.map((v) => v.version),
    target_versions: targetVersions,
    missing_versions: c.unreadable_versions.map((v) => v.version),
  };
}

export function addBackupCommands(program: Command): void {
  connectionOptions(program.command('export').description("Encrypted backup of the tenant's credentials, every revealable version, teams and folders"))
    .requiredOption('--out <file>', 'the backup file to write (0600)')
    .option('--force', 'replace an existing file')
    .option('--skip-errors', 'leave out a credential that cannot be read (e.g. inactive, without owner rights) instead of failing')
    .option('--no-progress', 'no progress bar on stderr')
    .option('--json', 'print the summary as JSON')
    .addHelpText('after', '\nThe passphrase comes from LATCHKEY_EXPORT_PASSPHRASE, else a prompt (twice). scrypt + AES-256-GCM.')
    .action(
      act(async (opts: ConnectionFlags & { out: string; force?: boolean; skipErrors?: boolean; progress: boolean; json?: boolean }) => {
        if (existsSync(opts.out) && !opts.force) throw new UsageError(`${opts.out} exists; pass --force to replace it`);
        const client = clientFor(opts);
        const passphrase = await backupPassphrase({ confirm: true });
        const tenants = await optional(client.tenants.list(), [], 'tenants');
        const tenant = tenants.length === 1 ? tenants[0] : tenants.find((t) => t.id === (opts.tenantId ?? process.env.LATCHKEY_TENANT_ID));
        const teams = await optional(client.teams.list().toArray(), [], 'teams');
        const folders = await optional(client.folders.list().toArray(), [], 'folders');

        const bar = progressBar('export', 'credentials', { enabled: opts.progress });
        const credentials: BackupCredential[] = [];
        const skipped: Array<{ id: string; error: string }> = [];
        let seen = 0;
        for await (const page of client.credentials.list({ perPage: 100 }).pages()) {
          for (const c of page.data) {
            try {
              credentials.push(await exportCredential(client, c));
            } catch (err) {
              if (!(opts.skipErrors && err instanceof LatchkeyApiError)) {
                bar.end();
                throw err;
              }
              skipped.push({ id: c.id, error: err.code });
              warn(`skipped ${c.id}: ${err.code}: ${err.message}`);
            }
            bar.update(++seen, page.total);
          }
        }
        bar.end();
        const payload: BackupPayload = {
          format: 'latchkey-backup-payload',
          version: 1,
          exported_at: new Date().toISOString(),
          source: { url: resolveConnection(opts).url, tenant: tenant ? { id: tenant.id, name: tenant.name } : null },
          teams,
          folders,
          credentials,
        };
        writeWhole(opts.out, await sealBackup(payload, passphrase));
        const versions = credentials.reduce((n, c) => n + c.versions.length, 0);
        const retired = credentials.reduce((n, c) => n + c.unreadable_versions.length, 0);
        if (opts.json)
          return printJson({
            file: opts.out,
            credentials: credentials.length,
            versions,
            retired_versions: retired,
            teams: teams.length,
            folders: folders.length,
            skipped,
          });
        out(`exported ${credentials.length} credential(s), ${versions} version(s), ${teams.length} team(s), ${folders.length} folder(s) to ${opts.out}`);
        if (retired > 0) warn(`${retired} retired version(s) are not revealable through the API and are listed without their secret`);
        if (skipped.length > 0) warn(`${skipped.length} credential(s) skipped`);
      }),
    );

  connectionOptions(program.command('import').description('Restore a backup made by `latchkey export` into this server (credentials keep their ids)'))
    .argument('<file>', 'the backup file, or - for stdin (then the passphrase must be in LATCHKEY_EXPORT_PASSPHRASE)')
    .option('--skip-existing', 'leave credentials whose id exists on the target alone (default: fail before writing anything)')
    .option('--dry-run', 'decrypt and check the backup and the target, write nothing')
    .option('--no-progress', 'no progress bar on stderr')
    .option('--json', 'print the summary as JSON')
    .action(
      act(async (file: string, opts: ConnectionFlags & { skipExisting?: boolean; dryRun?: boolean; progress: boolean; json?: boolean }) => {
        const client = clientFor(opts);
        const data = file === '-' ? Buffer.from(await readStdinDocument('import -'), 'utf8') : readFileSync(file);
        const payload = checkPayload(await openBackup(data, await backupPassphrase({ confirm: false, stdinBusy: file === '-' })));

        // Every id is checked before anything is written: a clash fails the import, not half of it.
        const existing: string[] = [];
        for (const c of payload.credentials) {
          const found = await client.credentials.get(c.id).then(
            () => true,
            (err: unknown) => (err instanceof LatchkeyApiError && err.status === 404 ? false : Promise.reject(err)),
          );
          if (found) existing.push(c.id);
        }
        if (existing.length > 0 && !opts.skipExisting) {
          throw new CliFailure(
            `${existing.length} credential id(s) exist on the target (${existing.slice(0, 5).join(', ')}${existing.length > 5 ? ', …' : ''}); pass --skip-existing to leave them alone`,
          );
        }
        const placement = await mapPlacement(client, payload, opts.dryRun === true);
        // Oldest first, so the target lists them in the same (newest-first) order as the source.
        const todo = payload.credentials
          .filter((c) => !existing.includes(c.id))
          .sort((a, b) => String(a.metadata.created_at).localeCompare(String(b.metadata.created_at)) || a.id.localeCompare(b.id));
        if (opts.dryRun) {
          if (opts.json) return printJson({ dry_run: true, credentials: todo.length, skipped_existing: existing });
          printTable(
            ['ID', 'NAME', 'TYPE', 'VERSIONS'],
            todo.map((c) => [c.id, c.metadata.name, c.metadata.type, c.versions.map((v) => v.version).join(',')]),
          );
          return out(`dry run: would import ${todo.length} credential(s); ${existing.length} exist on the target`);
        }

        const bar = progressBar('import', 'credentials', { total: todo.length, enabled: opts.progress });
        const done: Imported[] = [];
        try {
          for (const c of todo) {
            done.push(await importCredential(client, c, placement));
            bar.update(done.length);
          }
        } finally {
          bar.end();
        }
        const versions = done.reduce((n, c) => n + c.target_versions.length, 0);
        const shifted = done.filter((c) => c.missing_versions.length > 0);
        if (opts.json) return printJson({ imported: done, skipped_existing: existing });
        out(`imported ${done.length} credential(s) with ${versions} version(s); ${existing.length} skipped (exist on the target)`);
        for (const c of shifted) {
          warn(
            `${c.id}: source version(s) ${c.missing_versions.join(', ')} were retired before the export; source ${c.source_versions.join(', ')} are target ${c.target_versions.join(', ')}`,
          );
        }
      }),
    );
}
