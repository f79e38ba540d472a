import { InvalidArgumentError, type Command } from 'commander';
import type { Latchkey } from '@latchkey/sdk';
import { act, oneOf, resourceId, wholeNumber } from './command-kit.js';
import { collect } from './field-args.js';
import { clientFor, connectionOptions, type ConnectionFlags } from './login-state.js';
import { out, printFields, printJson, printTable, warn } from './output.js';

/**
 * `latchkey webhooks list|create|get|update|delete|rotate-secret|deliveries|redeliver`: the
 * tenant's webhook subscriptions (docs/events.md; needs webhooks:manage). The signing secret is
 * printed once, by create and rotate-secret, as the API hands it out once.
 */

interface Common extends ConnectionFlags {
  json?: boolean;
}

/** The API's view of a subscription (GET /v1/webhooks/{id}). */
interface Webhook {
  id: string;
  url: string;
  description: string;
  event_types: string[] | null;
  team_id: string | null;
  active: boolean;
  disabled_reason: string | null;
  previous_secret_expires_at: string | null;
  delivery: { failing_since: string | null; failures: number; next_attempt_at: string | null };
  created_at: string;
  updated_at: string;
}

interface Attempt {
  id: string;
  event_id: string;
  event_type: string;
  attempt: number;
  status: number | null;
  failure: string | null;
  latency_ms: number;
  manual: boolean;
  at: string;
}

interface Shape {
  eventType?: string[];
  allEvents?: boolean;
  teamId?: string;
  tenantWide?: boolean;
  description?: string;
  active?: string;
}

const path = (...parts: string[]): string => `/v1/webhooks${parts.map((p) => `/${encodeURIComponent(p)}`).join('')}`;

/** The flags that shape a subscription, as a create or update body (only what was given). */
function shapeBody(opts: Shape): Record<string, unknown> {
  if (opts.eventType && opts.allEvents) throw new InvalidArgumentError('give --event-type or --all-events, not both');
  if (opts.teamId !== undefined && opts.tenantWide) throw new InvalidArgumentError('give --team-id or --tenant-wide, not both');
  if (opts.teamId !== undefined) resourceId(opts.teamId);
  return {
    ...(opts.eventType ? { event_types: opts.eventType } : {}),
    ...(opts.allEvents ? { event_types: null } : {}),
    ...(opts.teamId !== undefined ? { team_id: opts.teamId } : {}),
    ...(opts.tenantWide ? { team_id: null } : {}),
    ...(opts.description !== undefined ? { description: opts.description } : {}),
    ...(opts.active !== undefined ? { active: opts.active === 'true' } : {}),
  };
}

function printWebhook(w: Webhook): void {
  printFields([
    ['id', w.id],
    ['url', w.url],
    ['description', w.description],
    ['event types', w.event_types === null ? 'all' : w.event_types.join(', ')],
    ['team', w.team_id ?? 'whole tenant'],
    ['active', w.active],
    ['disabled reason', w.disabled_reason],
    ['failing since', w.delivery.failing_since],
    ['failures', w.delivery.failures],
    ['next attempt', w.delivery.next_attempt_at],
    ['previous secret until', w.previous_secret_expires_at],
    ['created', w.created_at],
    ['updated', w.updated_at],
  ]);
}

/** Prints what create and rotate-secret answer: the subscription, then its secret this once. */
function printWithSecret(w: Webhook & { secret: string }, json: boolean | undefined): void {
  if (json) {
    printJson(w);
    return;
  }
  const { secret, ...rest } = w;
  printWebhook(rest);
  out(`secret: ${secret}`);
  warn('the signing secret is shown this once: store it now (receivers verify deliveries with it)');
}

const shapeOptions = (c: Command): Command =>
  c
    .option('--event-type <type>', 'an event type to deliver, e.g. credential.rotated (repeat; default: all)', collect)
    .option('--team-id <id>', "only events about this team's objects")
    .option('--description <text>', 'what the subscription is for');

export function addWebhooksCommands(program: Command): void {
  const hooks = program.command('webhooks').description('Webhook subscriptions: where the tenant’s credential events are delivered');
  const api = (opts: ConnectionFlags): Latchkey => clientFor(opts);

  connectionOptions(hooks.command('list').description('List the subscriptions (never their secrets)'))
    .option('--json', 'print a JSON array for scripts')
    .action(
      act(async (opts: Common) => {
        const { data } = await api(opts).request<{ data: Webhook[] }>('GET', path());
        if (opts.json) return printJson(data);
        printTable(
          ['ID', 'URL', 'EVENTS', 'TEAM', 'ACTIVE', 'FAILURES', 'CREATED'],
          data.map((w) => [
            w.id,
            w.url,
            w.event_types === null ? 'all' : w.event_types.join(','),
            w.team_id,
            w.active ? 'yes' : `no${w.disabled_reason ? ` (${w.disabled_reason})` : ''}`,
            w.delivery.failures,
            w.created_at,
          ]),
        );
      }),
    );

  shapeOptions(connectionOptions(hooks.command('create').description('Subscribe a URL; the signing secret is printed this once')))
    .argument('<url>', 'where deliveries are POSTed (public https://)')
    .option('--paused', 'create it paused (no deliveries until `update --active true`)')
    .option('--json', 'print JSON for scripts (with the secret)')
    .action(
      act(async (url: string, opts: Common & Shape & { paused?: boolean }) => {
        const body = { url, ...shapeBody(opts), ...(opts.paused ? { active: false } : {}) };
        printWithSecret(await api(opts).request<Webhook & { secret: string }>('POST', path(), { body }), opts.json);
      }),
    );

  connectionOptions(hooks.command('get').description('Show a subscription and where its delivery stands'))
    .argument('<id>', 'subscription id (whk_…)', resourceId)
    .option('--json', 'print JSON for scripts')
    .action(
      act(async (id: string, opts: Common) => {
        const w = await api(opts).request<Webhook>('GET', path(id));
        if (opts.json) return printJson(w);
        printWebhook(w);
      }),
    );

  shapeOptions(connectionOptions(hooks.command('update').description('Change a subscription: URL, events, team, description, pause or resume')))
    .argument('<id>', 'subscription id (whk_…)', resourceId)
    .option('--endpoint <url>', 'a new URL to deliver to (--url is the server’s)')
    .option('--all-events', 'deliver every event type (drops the --event-type filter)')
    .option('--tenant-wide', 'events of the whole tenant (drops the team scope)')
    .option('--active <bool>', 'false pauses delivery; true resumes it from the first event not delivered', oneOf('--active', ['true', 'false']))
    .option('--json', 'print JSON for scripts')
    .action(
      act(async (id: string, opts: Common & Shape & { endpoint?: string }) => {
        const body = { ...(opts.endpoint !== undefined ? { url: opts.endpoint } : {}), ...shapeBody(opts) };
        if (Object.keys(body).length === 0) throw new InvalidArgumentError('nothing to change: give --endpoint, --event-type, --active, …');
        const w = await api(opts).request<Webhook>('PATCH', path(id), { body });
        if (opts.json) return printJson(w);
        printWebhook(w);
      }),
    );

  connectionOptions(hooks.command('delete').description('Delete a subscription with its delivery log'))
    .argument('<id>', 'subscription id (whk_…)', resourceId)
    .option('--json', 'print JSON for scripts')
    .action(
      act(async (id: string, opts: Common) => {
        await api(opts).request('DELETE', path(id));
        if (opts.json) printJson({ id, deleted: true });
        else out(`deleted ${id}`);
      }),
    );

  connectionOptions(hooks.command('rotate-secret').description('A new signing secret, printed this once; the old one signs too during the overlap'))
    .argument('<id>', 'subscription id (whk_…)', resourceId)
    .option('--overlap-seconds <n>', 'how long the old secret signs too (default 86400; 0 = drop it now)', wholeNumber('--overlap-seconds', 0, 604_800))
    .option('--json', 'print JSON for scripts (with the secret)')
    .action(
      act(async (id: string, opts: Common & { overlapSeconds?: number }) => {
        const body = opts.overlapSeconds === undefined ? {} : { overlap_seconds: opts.overlapSeconds };
        printWithSecret(await api(opts).request<Webhook & { secret: string }>('POST', path(id, 'rotate-secret'), { body }), opts.json);
      }),
    );

  connectionOptions(hooks.command('deliveries').description('The delivery log, newest first: one line per attempt (never the receiver’s body)'))
    .argument('<id>', 'subscription id (whk_…)', resourceId)
    .option('--limit <n>', 'attempts to show (default 25)', wholeNumber('--limit', 1, 10_000))
    .option('--json', 'print a JSON array for scripts')
    .action(
      act(async (id: string, opts: Common & { limit?: number }) => {
        const limit = opts.limit ?? 25;
        const client = api(opts);
        const rows: Attempt[] = [];
        let cursor: string | null = null;
        do {
          const query: Record<string, string | number> = { per_page: Math.min(100, limit - rows.length), ...(cursor === null ? {} : { cursor }) };
          const page: { data: Attempt[]; next_cursor: string | null } = await client.request('GET', path(id, 'deliveries'), { query });
          rows.push(...page.data);
          cursor = page.next_cursor;
        } while (cursor !== null && rows.length < limit);
        if (opts.json) return printJson(rows);
        printTable(
          ['AT', 'EVENT', 'TYPE', 'ATTEMPT', 'STATUS', 'FAILURE', 'MS', 'MANUAL'],
          rows.map((a) => [a.at, a.event_id, a.event_type, a.attempt, a.status, a.failure, a.latency_ms, a.manual ? 'yes' : '']),
        );
      }),
    );

  connectionOptions(hooks.command('redeliver').description('Send one event to the subscription again, now (same webhook-id)'))
    .argument('<id>', 'subscription id (whk_…)', resourceId)
    .argument('<event-id>', 'event id (evt_…), as in the delivery log', resourceId)
    .option('--json', 'print JSON for scripts')
    .action(
      act(async (id: string, eventId: string, opts: Common) => {
        const a = await api(opts).request<Attempt>('POST', path(id, 'deliveries', eventId, 'redeliver'));
        if (opts.json) return printJson(a);
        printTable(['EVENT', 'TYPE', 'ATTEMPT', 'STATUS', 'FAILURE', 'MS'], [[a.event_id, a.event_type, a.attempt, a.status, a.failure, a.latency_ms]]);
        if (a.failure !== null) process.exitCode = 1;
      }),
    );
}
