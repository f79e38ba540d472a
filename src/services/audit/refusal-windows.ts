import type { AuditRow } from '../../store/port.js';

/**
 * Refusals (403 denials, 404 probes of ids the caller cannot see) grouped by actor, action,
 * outcome and target over a time window (and by route: the reason names the method and route
 * pattern, so a flood of one refused route does not hold back a refusal on another), so that a client repeating one refused request cannot
 * flood the log or the hash chain, and cannot hide its attempts either: nothing the caller sends
 * (a request id, a header) decides what is written.
 *
 * The first refusal of a group is written at once. Later ones in the same window are counted;
 * when the window closes the latest of them is written with `suppressed` = how many more it
 * stands for. Every event thus stands for `1 + suppressed` refusals, and the sum over a group's
 * events is the number of attempts. The next refusal after the window opens a new one.
 *
 * An actor sweeping ids opens one group per id; past `maxTargets` open groups of one actor and
 * action, further ids are counted together in one group without a target id, so a sweep is
 * bounded too. Groups live in this process: N processes write up to N times as many events,
 * with counts that still add up. A process that dies loses the counts of its open windows.
 */
export class RefusalWindows {
  private readonly groups = new Map<string, Group>();
  /** Open groups with a target id, per actor and action. */
  private readonly targeted = new Map<string, number>();

  constructor(
    private readonly windowMs: number,
    private readonly write: (event: AuditRow) => void,
    private readonly maxGroups = 10_000,
    private readonly maxTargets = 20,
  ) {}

  record(event: AuditRow): void {
    const actor = actorKey(event);
    let key = `${actor}\u0000${event.targetType}\u0000${event.targetId ?? ''}`;
    let e = event;
    if (e.targetId !== null && !this.groups.has(key) && (this.targeted.get(actor) ?? 0) >= this.maxTargets) {
      key = `${actor}\u0000${e.targetType}\u0000`;
      e = {
        ...e,
        targetId: null,
        reason: `${e.reason ?? ''} (one of more than ${this.maxTargets} ${e.targetType} ids in this window, counted together)`.trim(),
      };
    }
    const open = this.groups.get(key);
    if (open) {
      open.held += 1;
      open.last = e;
      return;
    }
    // Full: the oldest window closes early (its count is written, not lost).
    if (this.groups.size >= this.maxGroups) this.close(this.groups.keys().next().value as string);
    this.write(e);
    const timer = setTimeout(() => this.close(key), this.windowMs);
    timer.unref();
    this.groups.set(key, { actor, targeted: e.targetId !== null, held: 0, last: e, timer });
    if (e.targetId !== null) this.targeted.set(actor, (this.targeted.get(actor) ?? 0) + 1);
  }

  /** Closes every open window now (shutdown): each count is written. */
  closeAll(): void {
    for (const key of [...this.groups.keys()]) this.close(key);
  }

  private close(key: string): void {
    const g = this.groups.get(key);
    if (!g) return;
    this.groups.delete(key);
    clearTimeout(g.timer);
    if (g.targeted) {
      const n = (this.targeted.get(g.actor) ?? 1) - 1;
      if (n > 0) this.targeted.set(g.actor, n);
      else this.targeted.delete(g.actor);
    }
    if (g.held > 0) this.write({ ...g.last, suppressed: g.held - 1 });
  }
}

interface Group {
  actor: string;
  targeted: boolean;
  /** Refusals after the first, not written yet. */
  held: number;
  last: AuditRow;
  timer: NodeJS.Timeout;
}

/** Who was refused what: an anonymous caller is told apart by its address only. */
function actorKey(e: AuditRow): string {
  const who = e.actor.type === 'anonymous' ? `anonymous@${e.ip}` : `${e.actor.type}:${e.actor.id}`;
  return `${e.tenantId}\u0000${who}\u0000${e.action}\u0000${e.outcome}\u0000${e.reason ?? ''}`;
}
