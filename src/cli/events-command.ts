import { once } from 'node:events';
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import type { EventType, LatchkeyEvent } from '@latchkey/sdk';
import { act, resourceId, timestamp, wholeNumber } from './command-kit.js';
import { clientFor, connectionOptions, type ConnectionFlags } from './login-state.js';

/** `latchkey events tail`: the tenant's events as they happen, over the SSE feed (needs audit:read). */

interface TailFlags extends ConnectionFlags {
  type?: string[];
  credential?: string;
  since?: string;
  after?: number;
  json?: boolean;
}

/** Fields every event has; the rest of `data` are its facts, printed as key=value. */
const BASE = new Set(['tenant_id', 'object', 'object_id', 'actor', 'request_id', 'seq']);

/** One line per event: time, type, object, actor, facts, position. Never a secret (events hold none). */
export function eventLine(e: LatchkeyEvent): string {
  const facts = Object.entries(e.data)
    .filter(([k]) => !BASE.has(k))
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`);
  const d = e.data;
  return [e.timestamp, e.type, `${d.object}:${d.object_id ?? '-'}`, `by ${d.actor.name} (${d.actor.id})`, ...facts, `#${d.seq}`].join('  ');
}

const eventType = (raw: string, previous: string[] | undefined): string[] => {
  if (!/^[a-z_]+\.[a-z_]+$/.test(raw)) throw new InvalidArgumentError('must be an event type such as credential.expiring (docs/events.md)');
  return [...(previous ?? []), raw];
};

export function addEventsCommands(program: Command): void {
  const events = program.command('events').description('The event feed: credential and access key events as they happen');

  connectionOptions(events.command('tail').description('Print events as they are sealed, one line each, until interrupted (reconnects on its own)'))
    .option('--type <type>', 'only this event type (repeat for several)', eventType)
    .option('--credential <id>', 'only events about this credential', resourceId)
    .option('--since <time>', 'start with the events from this time (RFC 3339) instead of now', timestamp('--since'))
    .option('--after <position>', "start after this chain position (a line's #n, an event's data.seq)", wholeNumber('--after', 0, Number.MAX_SAFE_INTEGER))
    .option('--json', 'one JSON object per line (JSON lines) for scripts')
    .action(
      act(async (opts: TailFlags) => {
        const controller = new AbortController();
        // Ctrl-C ends the tail cleanly (exit 0): it is how a tail is meant to stop.
        const stop = () => controller.abort();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        const filter = {
          ...(opts.type ? { type: opts.type as EventType[] } : {}),
          ...(opts.credential ? { credential_id: opts.credential } : {}),
          ...(opts.since ? { since: opts.since } : {}),
        };
        try {
          for await (const e of clientFor(opts).events.stream({
            filter,
            ...(opts.after !== undefined ? { after: opts.after } : {}),
            signal: controller.signal,
          })) {
            const line = `${opts.json ? JSON.stringify(e) : eventLine(e)}\n`;
            if (!process.stdout.write(line)) await once(process.stdout, 'drain');
          }
        } finally {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
        }
      }),
    );
}
