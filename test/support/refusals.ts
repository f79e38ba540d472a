import assert from 'node:assert/strict';
import type { ApiResponse, TestServer } from './server.ts';

/**
 * Refused requests (403, and 404 probes of secrets) are audited grouped by actor, action and
 * target over a window: each event stands for `1 + suppressed` attempts. The servers of the
 * hostile suite run with a short window so that its counts arrive within a test.
 */
export const WINDOW_SECONDS = 2;

/** At most two events per window (the first refusal, then the count), and attempts spanning `elapsedMs` open at most this many windows. */
export function maxEventsFor(elapsedMs: number): number {
  return 2 * (Math.floor(elapsedMs / (WINDOW_SECONDS * 1000)) + 1);
}

export function attemptsIn(events: ReadonlyArray<{ suppressed: number }>): number {
  return events.reduce((n, e) => n + 1 + e.suppressed, 0);
}

export interface RefusalFilter {
  actorId: string;
  outcome: 'denied' | 'not_found';
  action?: string;
}

/** Every matching event of the key's tenant, newest first. */
export async function refusalEvents(s: TestServer, key: string, f: RefusalFilter): Promise<any[]> {
  const out: any[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < 50; page++) {
    const q: string = `per_page=100&filter[actor_id]=${f.actorId}&filter[outcome]=${f.outcome}${f.action ? `&filter[action]=${f.action}` : ''}${cursor ? `&cursor=${cursor}` : ''}`;
    const r: ApiResponse = await s.request('GET', `/v1/audit-events?${q}`, { key });
    assert.equal(r.status, 200, r.text);
    out.push(...r.body.data);
    cursor = r.body.next_cursor;
    if (!cursor) return out;
  }
  throw new Error('too many pages of audit events');
}

/** Every event of the key's tenant as JSON text, for the canary scan. */
export async function auditText(s: TestServer, key: string): Promise<string> {
  const pages: string[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < 100; page++) {
    const r: ApiResponse = await s.request('GET', `/v1/audit-events?per_page=100${cursor ? `&cursor=${cursor}` : ''}`, { key });
    assert.equal(r.status, 200, r.text);
    pages.push(r.text);
    cursor = r.body.next_cursor;
    if (!cursor) return pages.join('\n');
  }
  throw new Error('too many pages of audit events');
}

/** Waits until the events account for `attempts` attempts (their windows closed); fails on more. */
export async function waitForAttempts(s: TestServer, key: string, f: RefusalFilter, attempts: number): Promise<any[]> {
  const until = Date.now() + WINDOW_SECONDS * 1000 + 20_000;
  for (;;) {
    const events = await refusalEvents(s, key, f);
    const n = attemptsIn(events);
    assert.ok(n <= attempts, `the events stand for ${n} attempts, not ${attempts}: ${JSON.stringify(events.map((e) => [e.request_id, e.suppressed]))}`);
    if (n === attempts) return events;
    assert.ok(Date.now() < until, `the events stand for ${n} of ${attempts} attempts: ${JSON.stringify(events.map((e) => [e.request_id, e.suppressed]))}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
