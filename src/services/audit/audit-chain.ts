import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { AuditRow, ChainHead, Seal } from '../../store/port.js';

/** The hash of the first event's predecessor: 64 zeros, like a genesis block. */
export const GENESIS_HASH = '0'.repeat(64);

/** The action of the event the retention job writes when it purges the start of a chain. */
export const ANCHOR_ACTION = 'audit.anchor';

/**
 * Canonical form of an event for hashing: a fixed field order, so the same event always hashes
 * the same. Every field of the event is in it (the actor's email too; the denormalised
 * `actor_id` column is checked against the actor instead), and so are the chain position
 * (`seq`) and the previous hash, which is what makes reordering and deletion visible, not only
 * edits. The hash is a plain SHA-256 on purpose: anyone holding an export can check the links
 * without a key. What a plain hash cannot stop (rewriting the whole tail consistently, or
 * cutting it off) is the checkpoint's job, below.
 */
function canonical(e: AuditRow, seq: number, prevHash: string): string {
  const fields: unknown[] = [
    e.id,
    e.tenantId,
    e.at,
    e.actor.type,
    e.actor.id,
    e.actor.name,
    e.actor.email,
    e.action,
    e.targetType,
    e.targetId,
    e.outcome,
    e.reason,
    e.requestId,
    e.ip,
    e.userAgent,
    seq,
    prevHash,
  ];
  // A grouped refusal's count is hashed too; events that stand for themselves hash as they did
  // before the count existed, so chains sealed then still verify.
  if (e.suppressed !== undefined && e.suppressed > 0) fields.push(e.suppressed);
  // Likewise the detail, as entries in key order (the stored JSON's own order is not relied on).
  if (e.detail !== undefined) fields.push(Object.entries(e.detail).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return JSON.stringify(fields);
}

export function eventHash(e: AuditRow, seq: number, prevHash: string): string {
  return createHash('sha256')
    .update(canonical(e, seq, prevHash))
    .digest('hex');
}

export function sealEvents(head: ChainHead | null, events: readonly AuditRow[]): Seal[] {
  let seq = head?.seq ?? 0;
  let prev = head?.hash ?? GENESIS_HASH;
  return events.map((e) => {
    seq += 1;
    const hash = eventHash(e, seq, prev);
    const seal = { id: e.id, seq, hash, prevHash: prev };
    prev = hash;
    return seal;
  });
}

export interface ChainCursor {
  seq: number;
  hash: string;
}

export type ChainBreak = 'edited' | 'missing';

/**
 * Checks one page of the chain continuing from `cursor`; returns the first bad event's id, if
 * any. An event whose seq skips ahead means the events between were deleted ('missing'); any
 * other mismatch (content, link or position) means the row was edited or moved ('edited').
 */
export function checkChainPage(
  cursor: ChainCursor,
  events: ReadonlyArray<AuditRow & { actorIdColumn?: string }>,
): { bad: string | null; kind?: ChainBreak; checked: number; cursor: ChainCursor; lastId: string | null } {
  let { seq, hash } = cursor;
  let lastId: string | null = null;
  let checked = 0;
  for (const e of events) {
    if (e.seq !== null && e.seq > seq + 1) return { bad: e.id, kind: 'missing', checked, cursor: { seq, hash }, lastId };
    // The actor_id column is outside the hash but must say what the hashed actor says.
    const actorAgrees = e.actorIdColumn === undefined || e.actorIdColumn === e.actor.id;
    if (e.seq !== seq + 1 || e.prevHash !== hash || !actorAgrees || e.hash !== eventHash(e, seq + 1, hash))
      return { bad: e.id, kind: 'edited', checked, cursor: { seq, hash }, lastId };
    seq += 1;
    hash = e.hash;
    lastId = e.id;
    checked += 1;
  }
  return { bad: null, checked, cursor: { seq, hash }, lastId };
}

/**
 * The chain head as of the last seal, authenticated with the tenant's checkpoint key (which only
 * the keyring can open). It lives in another row than the events, is written in the same
 * transaction as the seals, and so always names the newest sealed event: an event deleted from
 * the end, or a tail rewritten with fresh hashes, no longer matches it.
 */
export interface Checkpoint {
  seq: number;
  eventId: string;
  hash: string;
  mac: string;
}

function checkpointMac(key: Buffer, tenantId: string, seq: number, eventId: string, hash: string): string {
  return createHmac('sha256', key)
    .update(JSON.stringify(['lk-audit-checkpoint-v1', tenantId, seq, eventId, hash]))
    .digest('hex');
}

export function makeCheckpoint(key: Buffer, tenantId: string, head: { seq: number; id: string; hash: string }): string {
  return JSON.stringify({ seq: head.seq, event_id: head.id, hash: head.hash, mac: checkpointMac(key, tenantId, head.seq, head.id, head.hash) });
}

/** The checkpoint if its MAC holds under `key`, else null (forged, edited or not a checkpoint at all). */
export function openCheckpoint(key: Buffer, tenantId: string, stored: string): Checkpoint | null {
  let v: unknown;
  try {
    v = JSON.parse(stored);
  } catch {
    return null;
  }
  if (typeof v !== 'object' || v === null) return null;
  const { seq, event_id: eventId, hash, mac } = v as Record<string, unknown>;
  if (typeof seq !== 'number' || typeof eventId !== 'string' || typeof hash !== 'string' || typeof mac !== 'string') return null;
  const expected = Buffer.from(checkpointMac(key, tenantId, seq, eventId, hash), 'hex');
  const given = Buffer.from(mac, 'hex');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
  return { seq, eventId, hash, mac };
}

/** What an anchor event says about the events it replaced; its `reason` holds this as JSON. */
export interface AnchorClaim {
  fromSeq: number;
  throughSeq: number;
  throughHash: string;
  olderThan: string;
}

export function anchorReason(a: AnchorClaim): string {
  return JSON.stringify({ from_seq: a.fromSeq, through_seq: a.throughSeq, through_hash: a.throughHash, older_than: a.olderThan });
}

export function parseAnchor(e: AuditRow): AnchorClaim | null {
  if (e.action !== ANCHOR_ACTION || e.reason === null) return null;
  try {
    const v = JSON.parse(e.reason) as Record<string, unknown>;
    const { from_seq: fromSeq, through_seq: throughSeq, through_hash: throughHash, older_than: olderThan } = v;
    if (typeof fromSeq !== 'number' || typeof throughSeq !== 'number' || typeof throughHash !== 'string' || typeof olderThan !== 'string') return null;
    if (!/^[0-9a-f]{64}$/.test(throughHash) || throughSeq < fromSeq) return null;
    return { fromSeq, throughSeq, throughHash, olderThan };
  } catch {
    return null;
  }
}
