import { InvalidArgumentError, type Command } from 'commander';
import { pino } from 'pino';
import { loadConfig } from '../config.js';
import { RootKeyUnavailable } from '../crypto/key-provider.js';
import { RootKeyError } from '../crypto/key-providers/local.js';
import { WrongRootKey } from '../crypto/keyring.js';
import { isLatchkeyError } from '../domain/errors.js';
import { NoStoreError, openRuntime, type Runtime } from '../main.js';
import type { KeyStatus, Progress } from '../services/keys/keys-service.js';
import { progressBar as sharedProgressBar } from './progress-bar.js';
import { sayIfServerHoldsStore } from './store-holder-notice.js';

/**
 * `latchkey keys …`: root-key rotation, data-key rotation and re-sealing, and a status report.
 * Each opens the store next to any running server (online); progress goes to stderr, results to
 * stdout (`--json` for scripts).
 */

function wholeNumber(name: string, max: number) {
  return (raw: string): number => {
    if (!/^\d+$/.test(raw) || Number(raw) > max) throw new InvalidArgumentError(`${name} must be a whole number from 0 to ${max}`);
    return Number(raw);
  };
}

function tenantId(raw: string): string {
  if (!/^ten_[A-Za-z0-9]{1,46}$/.test(raw)) throw new InvalidArgumentError('must be a tenant id (ten_…)');
  return raw;
}

/** The shared bar (progress-bar.ts) as the callback the key jobs report to. */
function progressBar(label: string, unit: string): Progress & { end(): void } {
  const bar = sharedProgressBar(label, unit);
  return Object.assign((done: number, total: number) => bar.update(done, total), { end: () => bar.end() });
}

/** Opens the runtime with logs on stderr, so stdout carries only the command's result. */
async function withRuntime(fn: (rt: Runtime) => Promise<void>): Promise<void> {
  const config = loadConfig();
  const logger = pino({ level: config.logLevel === 'info' ? 'warn' : config.logLevel, base: { service: 'latchkey' } }, pino.destination(2));
  let rt: Runtime;
  try {
    sayIfServerHoldsStore(config);
    rt = await openRuntime(config, { logger, mustExist: true });
  } catch (err) {
    plainFailure(err);
  }
  try {
    await fn(rt);
  } catch (err) {
    await rt.close().catch(() => undefined);
    plainFailure(err);
  }
  await rt.close();
}

/** Errors an operator can act on are said plainly; anything else goes to the CLI's generic handler. */
function plainFailure(err: unknown): never {
  if (isLatchkeyError(err)) {
    process.stderr.write(`latchkey: ${typeof err.details === 'string' ? err.details : err.message}\n`);
    process.exit(1);
  }
  if (err instanceof RootKeyError || err instanceof WrongRootKey || err instanceof RootKeyUnavailable || err instanceof NoStoreError) {
    process.stderr.write(`latchkey: ${err.message}\n`);
    process.exit(1);
  }
  throw err;
}

const out = (text: string): void => void process.stdout.write(text + '\n');

function printStatus(s: KeyStatus, detail: boolean): void {
  out(`root key: ${s.rootKeyId ?? '(not recorded yet)'}${s.providerHoldsRootKey ? '' : ' (NOT held by this process)'}`);
  out(
    s.rotation
      ? `root-key rotation: IN PROGRESS ${s.rotation.from} -> ${s.rotation.to} since ${s.rotation.startedAt} (run \`latchkey keys rotate-root\` to finish it)`
      : 'root-key rotation: none in progress',
  );
  if (s.lastRootRotationAt) out(`last root-key rotation: ${s.lastRootRotationAt}`);
  out('tenants by root key id:');
  for (const r of s.tenantsByRootKey) out(`  ${r.rootKeyId}  ${r.tenants} tenant(s), ${r.dataKeys} data key(s)`);
  out('tenants by current data-key version:');
  for (const v of s.tenantsByDataKeyVersion) out(`  v${v.version}  ${v.tenants} tenant(s)`);
  out(
    `sealed values still under an older data-key version: ${s.sealedUnderOldVersions} (in ${s.tenantsWithOldVersions} tenant(s))${s.sealedUnderOldVersions > 0 ? '; `latchkey keys reseal` moves them' : ''}`,
  );
  const shown = detail ? s.tenants : s.tenants.filter((t) => t.sealedUnderOldVersions > 0).slice(0, 50);
  for (const t of shown) {
    const sealed =
      Object.entries(t.sealedByVersion)
        .map(([v, n]) => `v${v}: ${n}`)
        .join(', ') || 'nothing sealed';
    out(`  ${t.tenantId}  data key v${t.currentVersion} (versions ${t.versions.join(', ')}; root ${t.rootKeyIds.join(', ')}); sealed ${sealed}`);
  }
}

export function addKeysCommands(program: Command): void {
  const keys = program
    .command('keys')
    .description('Root and data keys: rotation, re-sealing and a status report; owner keys issued on the server host (run next to a live server)');

  keys
    .command('rotate-root')
    .description('Re-wrap every tenant keyring under a new root key, online; run it again to finish one that was interrupted')
    .option('--keep-previous', 'keep the old root key as <key file>.previous (by default it is deleted: it must open nothing)')
    .option('--pause-ms <ms>', 'pause after each tenant, to spare a busy store', wholeNumber('--pause-ms', 60_000), 0)
    .option('--json', 'print JSON for scripts')
    .action(async (opts: { keepPrevious?: boolean; pauseMs: number; json?: boolean }) => {
      await withRuntime(async (rt) => {
        const bar = progressBar('rotate-root', 'tenants');
        const r = await rt.services.keys.rotateRoot({ keepPrevious: opts.keepPrevious === true, pauseMs: opts.pauseMs, onProgress: bar });
        bar.end();
        if (opts.json) {
          out(
            JSON.stringify({
              from: r.from,
              to: r.to,
              resumed: r.resumed,
              tenants_rewrapped: r.tenantsRewrapped,
              data_keys_rewrapped: r.dataKeysRewrapped,
              operator_action: r.operatorAction,
            }),
          );
          return;
        }
        out(
          `root key rotated: ${r.from} -> ${r.to}${r.resumed ? ' (finished an interrupted rotation)' : ''}; ${r.dataKeysRewrapped} data key(s) of ${r.tenantsRewrapped} tenant(s) re-wrapped by this run`,
        );
        if (r.operatorAction) out(`to do: ${r.operatorAction}`);
      });
    });

  keys
    .command('rotate-data')
    .description(
      'Add a data-key version for one tenant (or every tenant): new secrets are sealed under it at once, older ones when next written or by `keys reseal`',
    )
    .option('--tenant <id>', 'only this tenant (ten_…); default: every tenant', tenantId)
    .option('--reseal', 're-seal the older rows right away (as `keys reseal` does)')
    .option('--batch-size <n>', 'rows per transaction when re-sealing', wholeNumber('--batch-size', 10_000), 200)
    .option('--pause-ms <ms>', 'pause between batches when re-sealing', wholeNumber('--pause-ms', 60_000), 0)
    .option('--json', 'print JSON for scripts')
    .action(async (opts: { tenant?: string; reseal?: boolean; batchSize: number; pauseMs: number; json?: boolean }) => {
      await withRuntime(async (rt) => {
        const ids = opts.tenant !== undefined ? [opts.tenant] : (await rt.store.listTenants('all')).map((t) => t.id);
        const bar = ids.length > 1 ? progressBar('rotate-data', 'tenants') : null;
        const rotated = [];
        for (const id of ids) {
          rotated.push(await rt.services.keys.rotateDataKey(id));
          bar?.(rotated.length, ids.length);
        }
        bar?.end();
        let resealed = null;
        if (opts.reseal) {
          const rbar = progressBar('reseal', 'rows');
          resealed = await rt.services.keys.reseal({
            ...(opts.tenant !== undefined ? { tenantId: opts.tenant } : {}),
            batchSize: Math.max(1, opts.batchSize),
            pauseMs: opts.pauseMs,
            onProgress: rbar,
          });
          rbar.end();
        }
        if (opts.json) {
          out(
            JSON.stringify({
              rotated: rotated.map((r) => ({ tenant_id: r.tenantId, previous_version: r.previousVersion, data_key_version: r.version })),
              resealed: resealed && { tenants: resealed.tenants, rows: resealed.rows, values: resealed.valuesResealed },
            }),
          );
          return;
        }
        if (rotated.length === 1) out(`data key of ${rotated[0]?.tenantId} rotated: v${rotated[0]?.previousVersion} -> v${rotated[0]?.version}`);
        else out(`data keys rotated: ${rotated.length} tenant(s)`);
        if (resealed) out(`re-sealed ${resealed.valuesResealed} value(s) in ${resealed.rows} version row(s) of ${resealed.tenants} tenant(s)`);
        else out('older secrets are re-sealed when next written; `latchkey keys reseal` does them all now');
      });
    });

  keys
    .command('reseal')
    .description('Re-seal every secret still sealed under an older data-key version (same AAD, current data key), in batches, online')
    .option('--tenant <id>', 'only this tenant (ten_…); default: every tenant', tenantId)
    .option('--batch-size <n>', 'rows per transaction', wholeNumber('--batch-size', 10_000), 200)
    .option('--pause-ms <ms>', 'pause between batches, to spare a busy store', wholeNumber('--pause-ms', 60_000), 0)
    .option('--json', 'print JSON for scripts')
    .action(async (opts: { tenant?: string; batchSize: number; pauseMs: number; json?: boolean }) => {
      await withRuntime(async (rt) => {
        const bar = progressBar('reseal', 'rows');
        const r = await rt.services.keys.reseal({
          ...(opts.tenant !== undefined ? { tenantId: opts.tenant } : {}),
          batchSize: Math.max(1, opts.batchSize),
          pauseMs: opts.pauseMs,
          onProgress: bar,
        });
        bar.end();
        if (opts.json) out(JSON.stringify({ tenants: r.tenants, rows: r.rows, values: r.valuesResealed }));
        else out(`re-sealed ${r.valuesResealed} value(s) in ${r.rows} version row(s) of ${r.tenants} tenant(s)`);
      });
    });

  keys
    .command('issue-owner')
    .description(
      'Issue a new owner key for a tenant from the server host (the store and root key, not the API): for a tenant that lost its last managing key. Audited; the key is printed once',
    )
    .option('--tenant <id>', 'the tenant (ten_…); may be left out when the store has only one', tenantId)
    .option('--platform-admin', "make it a platform admin, as the first tenant's first key is (may create and purge tenants)")
    .option('--json', 'print JSON for scripts')
    .action(async (opts: { tenant?: string; platformAdmin?: boolean; json?: boolean }) => {
      await withRuntime(async (rt) => {
        let id = opts.tenant;
        if (id === undefined) {
          const tenants = await rt.store.listTenants('all');
          if (tenants.length !== 1) {
            const listed = tenants
              .slice(0, 20)
              .map((t) => `${t.id} (${t.name})`)
              .join(', ');
            process.stderr.write(`latchkey: the store has ${tenants.length} tenants; pick one with --tenant: ${listed}${tenants.length > 20 ? ', …' : ''}\n`);
            process.exit(2);
          }
          id = tenants[0]?.id as string;
        }
        const { keyRow, key } = await rt.services.tenants.issueOwnerKey(id, { platformAdmin: opts.platformAdmin === true });
        if (opts.json) return out(JSON.stringify({ tenant_id: id, access_key_id: keyRow.id, platform_admin: keyRow.platformAdmin, owner_access_key: key }));
        out(`owner access key: ${key}`);
        process.stderr.write(
          `latchkey: issued ${keyRow.id} for tenant ${id}${keyRow.platformAdmin ? ' (platform admin)' : ''}; it is shown this once, store it now\n`,
        );
      });
    });

  keys
    .command('status')
    .description('Root key id, any rotation under way, tenants by root key, data-key versions and what is still sealed under older ones')
    .option('--tenant <id>', 'only this tenant (ten_…), with its details', tenantId)
    .option('--json', 'print JSON for scripts')
    .action(async (opts: { tenant?: string; json?: boolean }) => {
      await withRuntime(async (rt) => {
        const s = await rt.services.keys.status(opts.tenant !== undefined ? { tenantId: opts.tenant } : {});
        if (!opts.json) return printStatus(s, opts.tenant !== undefined);
        out(
          JSON.stringify({
            root_key_id: s.rootKeyId,
            provider_holds_root_key: s.providerHoldsRootKey,
            rotation: s.rotation && { from: s.rotation.from, to: s.rotation.to, started_at: s.rotation.startedAt },
            last_root_rotation_at: s.lastRootRotationAt,
            tenants_by_root_key: s.tenantsByRootKey.map((r) => ({ root_key_id: r.rootKeyId, tenants: r.tenants, data_keys: r.dataKeys })),
            tenants_by_data_key_version: s.tenantsByDataKeyVersion,
            sealed_under_old_versions: s.sealedUnderOldVersions,
            tenants_with_old_versions: s.tenantsWithOldVersions,
            tenants: s.tenants.map((t) => ({
              tenant_id: t.tenantId,
              data_key_version: t.currentVersion,
              versions: t.versions,
              root_key_ids: t.rootKeyIds,
              sealed_by_version: t.sealedByVersion,
              sealed_under_old_versions: t.sealedUnderOldVersions,
            })),
          }),
        );
      });
    });
}
