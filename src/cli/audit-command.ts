import { once } from 'node:events';
import { closeSync, openSync, renameSync, rmSync, writeFileSync, constants } from 'node:fs';
import type { Command } from 'commander';
import type { AuditEvent } from '@latchkey/sdk';
import { CliFailure } from './cli-errors.js';
import { act, resourceId, timestamp, wholeNumber } from './command-kit.js';
import { clientFor, connectionOptions, type ConnectionFlags } from './login-state.js';
import { out, printFields, printJson, printTable } from './output.js';
import { progressBar } from './progress-bar.js';

/** `latchkey audit list|verify|export`: the tenant's hash-chained audit log (needs audit:read). */

interface Filters extends ConnectionFlags {
  credential?: string;
  action?: string;
  actor?: string;
  since?: string;
  until?: string;
}

function filterOf(o: Filters) {
  return { credential_id: o.credential, action: o.action, actor_id: o.actor, since: o.since, until: o.until };
}

function filterOptions(cmd: Command): Command {
  return cmd
    .option('--credential <id>', 'events about this credential', resourceId)
    .option('--action <action>', 'e.g. credential.reveal')
    .option('--actor <id>', 'events by this actor (key_… or a subject)', resourceId)
    .option('--since <time>', 'from this time (RFC 3339)', timestamp('--since'))
    .option('--until <time>', 'up to this time (RFC 3339)', timestamp('--until'));
}

export function addAuditCommands(program: Command): void {
  const audit = program.command('audit').description('The audit log: list, verify the hash chain, export as JSON lines');

  filterOptions(connectionOptions(audit.command('list').description('Recent audit events, newest first')))
    .option('--limit <n>', 'at most this many', wholeNumber('--limit', 1, 10_000_000), 50)
    .option('--json', 'print a JSON array for scripts')
    .action(
      act(async (opts: Filters & { limit: number; json?: boolean }) => {
        const events: AuditEvent[] = [];
        for await (const page of clientFor(opts)
          .auditEvents.list({ filter: filterOf(opts), perPage: Math.min(100, opts.limit) })
          .pages()) {
          events.push(...page.data.slice(0, opts.limit - events.length));
          if (events.length >= opts.limit) break;
        }
        if (opts.json) return printJson(events);
        printTable(
          ['AT', 'ACTION', 'OUTCOME', 'ACTOR', 'TARGET', 'REQUEST'],
          events.map((e) => [
            e.at,
            e.action,
            e.suppressed > 0 ? `${e.outcome} ×${e.suppressed + 1}` : e.outcome,
            `${e.actor.name} (${e.actor.id})`,
            e.target.id ?? e.target.type,
            e.request_id,
          ]),
        );
      }),
    );

  connectionOptions(audit.command('verify').description("Check the tenant's hash chain; exit 1 if an event was edited, removed or reordered"))
    .option('--json', 'print JSON for scripts')
    .action(
      act(async (opts: ConnectionFlags & { json?: boolean }) => {
        const r = await clientFor(opts).auditEvents.verify();
        if (opts.json) printJson(r);
        else printFields(Object.entries(r).map(([k, v]) => [k, v]));
        if (!r.ok)
          throw new CliFailure(
            `the audit chain does not verify${r.first_bad_event_id ? ` at ${r.first_bad_event_id}` : ''}${r.problem ? `: ${r.problem}` : ''}`,
          );
      }),
    );

  filterOptions(connectionOptions(audit.command('export').description('Every matching event as JSON lines (newest first), through cursor paging')))
    .option('--out <file>', 'write to this file (0600; written whole or not at all) instead of stdout')
    .option('--page-size <n>', 'events per request', wholeNumber('--page-size', 1, 100), 100)
    .option('--no-progress', 'no progress bar on stderr')
    .action(
      act(async (opts: Filters & { out?: string; pageSize: number; progress: boolean }) => {
        const client = clientFor(opts);
        const sink = opts.out !== undefined ? fileSink(opts.out) : stdoutSink();
        // A bar only once the export spans pages: a small export should print nothing extra.
        let bar: ReturnType<typeof progressBar> | null = null;
        let count = 0;
        try {
          for await (const page of client.auditEvents.list({ filter: filterOf(opts), perPage: opts.pageSize }).pages()) {
            if (page.data.length > 0) await sink.write(page.data.map((e) => JSON.stringify(e)).join('\n') + '\n');
            count += page.data.length;
            if (bar === null && page.next_cursor && opts.progress) bar = progressBar('audit export', 'events', { every: 1000 });
            bar?.update(count);
          }
          bar?.end();
          sink.commit();
        } catch (err) {
          sink.abort();
          throw err;
        }
        if (opts.out !== undefined) out(`exported ${count} event(s) to ${opts.out}`);
      }),
    );
}

interface Sink {
  write(text: string): Promise<void>;
  commit(): void;
  abort(): void;
}

function stdoutSink(): Sink {
  return {
    // Backpressure: a slow reader (| gzip, | ssh) must not make the whole export pile up in memory.
    async write(t) {
      if (!process.stdout.write(t)) await once(process.stdout, 'drain');
    },
    commit() {},
    abort() {},
  };
}

/** Written to `<file>.partial` and renamed at the end, so a failed export never looks complete. */
function fileSink(path: string): Sink {
  const tmp = `${path}.partial`;
  const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC, 0o600);
  let open = true;
  const close = () => {
    if (open) closeSync(fd);
    open = false;
  };
  return {
    write: async (t) => writeFileSync(fd, t),
    commit() {
      close();
      renameSync(tmp, path);
    },
    abort() {
      close();
      rmSync(tmp, { force: true });
    },
  };
}
