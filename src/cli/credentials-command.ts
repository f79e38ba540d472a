import type { Command } from 'commander';
import type { Credential, CredentialCreateBody, CredentialPatchBody, CredentialStatus, JsonObject as Json, Latchkey, RevealedCredential } from '@latchkey/sdk';
import { CliFailure, UsageError } from './cli-errors.js';
import { act, oneOf, resourceId, timestamp, wholeNumber } from './command-kit.js';
import { collect, needsSchema, pairsToObject, parsePair, readJsonObject, schemasOf, type FieldPair } from './field-args.js';
import { clientFor, connectionOptions, type ConnectionFlags } from './login-state.js';
import { out, printFields, printJson, printTable, warn } from './output.js';

/**
 * `latchkey credentials list|get|create|update|delete|reveal|rotate|versions`.
 * Only `reveal` prints a secret. A secret the server generates on create/rotate is shown once by
 * the server; the CLI keeps it off the screen unless `--show-generated` asks for it (`reveal`
 * shows it later to a role that may reveal).
 */

const STATUSES = ['active', 'inactive', 'deactivated'] as const;

interface Common extends ConnectionFlags {
  json?: boolean;
}

interface BodyFlags extends Common {
  name?: string;
  type?: string;
  config?: FieldPair[];
  secret?: FieldPair[];
  metadata?: FieldPair[];
  description?: string;
  provider?: string;
  integrationId?: string;
  teamId?: string;
  allowedHost?: string[];
  expiresAt?: string;
  fromFile?: string;
}

function credentialRow(c: Credential): unknown[] {
  return [c.id, c.name, c.type, c.status, c.version, c.updated_at];
}

function printCredential(c: Credential): void {
  const pairs: Array<[string, unknown]> = [
    ['id', c.id],
    ['name', c.name],
    ['slug', c.slug],
    ['type', c.type],
    ['provider', c.provider],
    ['integration_id', c.integration_id],
    ['status', c.status],
    ['version', c.version],
    ['description', c.description],
  ];
  for (const [k, v] of Object.entries(c.config ?? {})) pairs.push([`config.${k}`, v]);
  pairs.push(
    ['secret_fields', (c.secret_fields ?? []).join(', ')],
    ['team_id', c.team_id],
    ['folder_id', c.folder_id],
    ['read_access', c.read_access],
    ['expires_at', c.expires_at],
    ['deactivation_time', c.deactivation_time],
    ['last_used_at', c.last_used_at],
    ['created_at', c.created_at],
    ['updated_at', c.updated_at],
  );
  printFields(pairs);
}

/** Drops `generated_secret` unless asked for: secrets leave the CLI only when the operator says so. */
function withoutGenerated<T extends { id: string; generated_secret?: Json }>(c: T, show: boolean | undefined): Omit<T, 'generated_secret'> {
  const { generated_secret, ...rest } = c;
  if (generated_secret !== undefined && !show)
    warn(`the server generated the secret; \`latchkey credentials reveal ${c.id}\` shows it (or pass --show-generated)`);
  return show && generated_secret !== undefined ? { ...rest, generated_secret } : rest;
}

function printCreated(c: Credential & { generated_secret?: Json }, opts: { json?: boolean; showGenerated?: boolean }): void {
  const shown = withoutGenerated(c, opts.showGenerated) as Credential & { generated_secret?: Json };
  if (opts.json) {
    printJson(shown);
    return;
  }
  printCredential(shown);
  for (const [k, v] of Object.entries(shown.generated_secret ?? {})) out(`generated.${k}  ${typeof v === 'string' ? v : JSON.stringify(v)}`);
}

/** The request body from `--from-file` (if any) with the flags laid over it. */
async function bodyFrom(client: Latchkey, opts: BodyFlags, patchOf?: { type: string }): Promise<Json> {
  const forPatch = patchOf !== undefined;
  const body: Json = opts.fromFile !== undefined ? await readJsonObject(opts.fromFile, '--from-file') : {};
  const set = (k: string, v: unknown) => {
    if (v !== undefined) body[k] = v;
  };
  set('name', opts.name);
  if (!forPatch) set('type', opts.type);
  set('description', opts.description);
  set('provider', opts.provider);
  set('integration_id', opts.integrationId);
  set('team_id', opts.teamId);
  set('allowed_hosts', opts.allowedHost);
  set('expires_at', opts.expiresAt);
  const pairs = [opts.config ?? [], opts.secret ?? []];
  if (pairs.some((p) => p.length > 0)) {
    const typeId = patchOf?.type ?? (typeof body.type === 'string' ? body.type : undefined);
    const schemas = needsSchema(pairs) && typeId !== undefined ? schemasOf(await client.credentials.types(), typeId) : {};
    if (opts.config?.length) body.config = { ...(body.config as Json | undefined), ...(await pairsToObject(opts.config, '--config', schemas.config)) };
    if (opts.secret?.length) body.secret = { ...(body.secret as Json | undefined), ...(await pairsToObject(opts.secret, '--secret', schemas.secret)) };
  }
  if (opts.metadata?.length) body.metadata = { ...(body.metadata as Json | undefined), ...(await pairsToObject(opts.metadata, '--metadata')) };
  return body;
}

function bodyOptions(cmd: Command): Command {
  return cmd
    .option('--config <key=value>', 'a config field (repeat; key:=<json> for JSON, key=@file to read a file)', parsePair())
    .option('--secret <key=value>', 'a secret field (repeat; key=@file or key=@- keeps it off the command line)', parsePair())
    .option('--metadata <key=value>', 'a metadata entry (repeat)', parsePair())
    .option('--description <text>', 'description')
    .option('--provider <name>', 'provider, e.g. google')
    .option('--integration-id <id>', 'the integration that uses it', resourceId)
    .option('--team-id <id>', 'owning team (team_…)', resourceId)
    .option('--allowed-host <host>', 'a host it may be sent to (repeat)', collect)
    .option('--expires-at <time>', 'when it expires (RFC 3339)', timestamp('--expires-at'))
    .option('--from-file <path>', 'the JSON body from a file, or - for stdin (flags override its fields)')
    .option('--json', 'print JSON for scripts');
}

export function addCredentialsCommands(program: Command): void {
  const credentials = program.command('credentials').alias('creds').description('Credentials: list, inspect, create, change, reveal, rotate');

  connectionOptions(credentials.command('list').description('List credentials (newest first)'))
    .option('--name <text>', 'name contains (case-insensitive)')
    .option('--type <type>', 'only this type, e.g. smtp')
    .option('--status <status>', 'active, inactive or deactivated', oneOf('--status', STATUSES))
    .option('--provider <name>', 'only this provider')
    .option('--integration-id <id>', 'only this integration', resourceId)
    .option('--team-id <id>', 'only this team', resourceId)
    .option('--limit <n>', 'at most this many (default: all)', wholeNumber('--limit', 1, 10_000_000))
    .option('--json', 'print a JSON array for scripts')
    .action(
      act(
        async (
          opts: Common & { name?: string; type?: string; status?: string; provider?: string; integrationId?: string; teamId?: string; limit?: number },
        ) => {
          const client = clientFor(opts);
          const filter = {
            name: opts.name,
            type: opts.type,
            status: opts.status as CredentialStatus | undefined,
            provider: opts.provider,
            integration_id: opts.integrationId,
            team_id: opts.teamId,
          };
          const limit = opts.limit ?? Infinity;
          const items: Credential[] = [];
          let total: number | undefined;
          for await (const page of client.credentials.list({ filter, perPage: Math.min(100, limit) }).pages()) {
            total ??= page.total;
            items.push(...page.data.slice(0, limit - items.length));
            if (items.length >= limit) break;
          }
          if (opts.json) return printJson(items);
          printTable(['ID', 'NAME', 'TYPE', 'STATUS', 'VERSION', 'UPDATED'], items.map(credentialRow));
          if (total !== undefined && total > items.length) process.stderr.write(`(${items.length} of ${total}; --limit to change)\n`);
        },
      ),
    );

  connectionOptions(credentials.command('get').description('Show one credential (metadata; never a secret)'))
    .argument('<id>', 'credential id', resourceId)
    .option('--json', 'print JSON for scripts')
    .action(
      act(async (id: string, opts: Common) => {
        const c = await clientFor(opts).credentials.get(id);
        if (opts.json) printJson(c);
        else printCredential(c);
      }),
    );

  bodyOptions(connectionOptions(credentials.command('create').description('Create a credential (flags, or --from-file body.json / - for stdin)')))
    .option('--name <name>', 'name (required unless in --from-file)')
    .option('--type <type>', 'type from `GET /v1/credential-types`, e.g. smtp (required unless in --from-file)')
    .option('--id <id>', 'a caller-chosen id (PUT /v1/credentials/{id}); fails if it exists', resourceId)
    .option('--show-generated', 'print a secret the server generates (it is shown this once)')
    .action(
      act(async (opts: BodyFlags & { id?: string; showGenerated?: boolean }) => {
        const client = clientFor(opts);
        const body = await bodyFrom(client, opts);
        if (typeof body.name !== 'string' || typeof body.type !== 'string')
          throw new UsageError('credentials create needs --name and --type (or both in --from-file)');
        let created: Credential & { generated_secret?: Json };
        if (opts.id !== undefined) {
          const existing = await client.credentials.get(opts.id).then(
            () => true,
            (err: { status?: number }) => (err.status === 404 ? false : Promise.reject(err)),
          );
          if (existing) throw new CliFailure(`credential ${opts.id} exists; use \`latchkey credentials update ${opts.id}\``);
          // Bodies come from flags and files: the server checks them against the contract, not the CLI.
          created = await client.credentials.put(opts.id, body as CredentialCreateBody);
        } else {
          created = await client.credentials.create(body as CredentialCreateBody);
        }
        printCreated(created, opts);
      }),
    );

  bodyOptions(
    connectionOptions(credentials.command('update').description('Change a credential (PATCH: only the fields given; a new --secret makes a new version)')),
  )
    .argument('<id>', 'credential id', resourceId)
    .option('--name <name>', 'new name')
    .option('--status <status>', 'active, inactive or deactivated (deactivated is for good)', oneOf('--status', STATUSES))
    .option('--deactivation-time <time>', 'schedule deactivation (RFC 3339)', timestamp('--deactivation-time'))
    .option('--if-match <etag>', 'fail with 412 if the credential changed since this ETag')
    .action(
      act(async (id: string, opts: BodyFlags & { status?: string; deactivationTime?: string; ifMatch?: string }) => {
        const client = clientFor(opts);
        // k=v pairs are typed by the credential's schema, so its type is needed first.
        const type = needsSchema([opts.config ?? [], opts.secret ?? []]) ? (await client.credentials.get(id)).type : '';
        const body = await bodyFrom(client, opts, { type });
        if (opts.status !== undefined) body.status = opts.status;
        if (opts.deactivationTime !== undefined) body.deactivation_time = opts.deactivationTime;
        if (Object.keys(body).length === 0) throw new UsageError('credentials update needs at least one field to change');
        const c = await client.credentials.update(id, body as CredentialPatchBody, { ifMatch: opts.ifMatch });
        if (opts.json) printJson(c);
        else printCredential(c);
      }),
    );

  connectionOptions(credentials.command('delete').description('Delete a credential (restorable for the retention period; --purge destroys it)'))
    .argument('<id>', 'credential id', resourceId)
    .option('--purge', 'destroy it and its key material now (owners; cannot be undone)')
    .option('--yes', 'confirm --purge')
    .option('--json', 'print JSON for scripts')
    .action(
      act(async (id: string, opts: Common & { purge?: boolean; yes?: boolean }) => {
        if (opts.purge && !opts.yes) throw new UsageError('--purge destroys the credential for good; add --yes to confirm');
        await clientFor(opts).credentials.delete(id, { purge: opts.purge === true });
        if (opts.json) printJson({ id, deleted: true, purged: opts.purge === true });
        else out(`${opts.purge ? 'purged' : 'deleted'} ${id}`);
      }),
    );

  connectionOptions(credentials.command('reveal').description('Print the decrypted secret (audited; needs credentials:reveal)'))
    .argument('<id>', 'credential id', resourceId)
    .option('--version <n>', 'an older version (readable while current or previous within its grace period)', wholeNumber('--version', 1, 2_147_483_647))
    .option('--test', 'reveal the test secret instead of the live one')
    .option('--allow-inactive', 'reveal an inactive or deactivated credential (owners)')
    .option('--field <name>', 'print only this field, raw (a secret field, else a config field)')
    .option('--json', 'print JSON for scripts')
    .action(
      act(async (id: string, opts: Common & { version?: number; test?: boolean; allowInactive?: boolean; field?: string }) => {
        const r = await clientFor(opts).credentials.reveal(id, {
          ...(opts.version !== undefined ? { version: opts.version } : {}),
          ...(opts.test ? { variant: 'test' as const } : {}),
          allowInactive: opts.allowInactive === true,
        });
        if (opts.field !== undefined) return printField(r, opts.field);
        if (opts.json) return printJson({ ...r, revealed_version: opts.version ?? r.version });
        const pairs: Array<[string, unknown]> = [
          ['id', r.id],
          ['name', r.name],
          ['type', r.type],
          ['version', opts.version ?? r.version],
        ];
        // A test reveal's answer holds the test secret only, in `secret` and again in `test_secret`.
        if (opts.test) for (const [k, v] of Object.entries(r.test_secret ?? {})) pairs.push([`test_secret.${k}`, v]);
        else for (const [k, v] of Object.entries(r.secret ?? {})) pairs.push([`secret.${k}`, v]);
        printFields(pairs);
      }),
    );

  connectionOptions(
    credentials.command('rotate').description('Make a new secret version (given, or made by the type); the old one stays readable for the grace period'),
  )
    .argument('<id>', 'credential id', resourceId)
    .option('--secret <key=value>', 'a field of the new secret (repeat; key=@file or key=@- to keep it off the command line)', parsePair())
    .option('--from-file <path>', 'the new secret as a JSON object, or - for stdin')
    .option('--grace-period <seconds>', 'how long the old version stays readable (server default 3600)', wholeNumber('--grace-period', 0, 30 * 86_400))
    .option('--show-generated', 'print a secret the server generates (it is shown this once)')
    .option('--json', 'print JSON for scripts')
    .action(
      act(async (id: string, opts: Common & { secret?: FieldPair[]; fromFile?: string; gracePeriod?: number; showGenerated?: boolean }) => {
        const client = clientFor(opts);
        let secret: Json | undefined = opts.fromFile !== undefined ? await readJsonObject(opts.fromFile, '--from-file') : undefined;
        if (opts.secret?.length) {
          const schema = needsSchema([opts.secret]) ? schemasOf(await client.credentials.types(), (await client.credentials.get(id)).type).secret : undefined;
          secret = { ...secret, ...(await pairsToObject(opts.secret, '--secret', schema)) };
        }
        const r = await client.credentials.rotate(id, {
          ...(secret ? { secret } : {}),
          ...(opts.gracePeriod !== undefined ? { gracePeriodSeconds: opts.gracePeriod } : {}),
        });
        if (!opts.json && !opts.showGenerated) {
          withoutGenerated(r, false);
          return out(`rotated ${r.id}: version ${r.version} is current`);
        }
        printCreated(r, opts);
      }),
    );

  connectionOptions(credentials.command('versions').description("List a credential's secret versions (metadata only)"))
    .argument('<id>', 'credential id', resourceId)
    .option('--json', 'print JSON for scripts')
    .action(
      act(async (id: string, opts: Common) => {
        const versions = await clientFor(opts).credentials.versions(id);
        if (opts.json) return printJson(versions);
        printTable(
          ['VERSION', 'STAGE', 'EXPIRES', 'TEST SECRET', 'CREATED'],
          versions.map((v) => [v.version, v.stage, v.expires_at, v.has_test_secret, v.created_at]),
        );
      }),
    );
}

function printField(r: RevealedCredential, field: string): void {
  const from = [r.secret, r.test_secret, r.config].find((o) => o !== undefined && Object.hasOwn(o, field));
  if (!from) throw new CliFailure(`credential ${r.id} has no field ${field}`);
  const v = from[field];
  process.stdout.write(`${typeof v === 'string' ? v : JSON.stringify(v)}\n`);
}
