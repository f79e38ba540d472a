import type { Store } from '../../store/port.js';
import { ANCHOR_ACTION, GENESIS_HASH, checkChainPage, openCheckpoint, parseAnchor, type ChainCursor } from './audit-chain.js';

const PAGE = 1000;

export interface VerifyReport {
  ok: boolean;
  events_checked: number;
  /** The first event that is wrong, or — for a cut-off end — the sealed head that is gone. */
  first_bad_event_id?: string;
  /** What is wrong, in words (never event content). */
  problem?: string;
  unsealed: number;
  /**
   * The newest sealed event as verified. Keeping this outside the database (a ticket, the sink)
   * is what catches a rollback of the whole table, which the database alone cannot.
   */
  head: { seq: number; hash: string; event_id: string | null };
  /** Where verification started when the start of the chain was purged by retention. */
  anchor?: { event_id: string; through_seq: number; through_hash: string };
}

type ChainStore = Pick<Store, 'readSealedAudit' | 'latestSealedAudit' | 'getAuditChainState'>;

export interface Walk {
  cursor: ChainCursor;
  lastId: string | null;
  checked: number;
  bad?: { id: string; problem: string };
}

/** Where the retained chain starts: genesis, or what the newest sealed retention anchor vouches for. */
export async function chainStart(
  store: ChainStore,
  tenantId: string,
): Promise<{ cursor: ChainCursor; anchor?: VerifyReport['anchor']; bad?: { id: string; problem: string } }> {
  const event = await store.latestSealedAudit(tenantId, ANCHOR_ACTION);
  if (!event) return { cursor: { seq: 0, hash: GENESIS_HASH } };
  const claim = parseAnchor(event);
  // An anchor always comes after what it replaced; one claiming its own position or later would
  // skip itself and so vouch for nothing. Its content is checked when the walk reaches it.
  if (!claim || event.seq === null || claim.throughSeq >= event.seq) {
    return { cursor: { seq: 0, hash: GENESIS_HASH }, bad: { id: event.id, problem: `retention anchor ${event.id} does not hold a valid claim` } };
  }
  return {
    cursor: { seq: claim.throughSeq, hash: claim.throughHash },
    anchor: { event_id: event.id, through_seq: claim.throughSeq, through_hash: claim.throughHash },
  };
}

/** Follows the chain from `from` up to `untilSeq` (inclusive) or its end, stopping at the first break. */
export async function walkChain(store: ChainStore, tenantId: string, from: Walk, untilSeq = Number.MAX_SAFE_INTEGER): Promise<Walk> {
  let { cursor, lastId, checked } = from;
  for (;;) {
    const limit = Math.min(PAGE, untilSeq - cursor.seq);
    if (limit <= 0) return { cursor, lastId, checked };
    const page = await store.readSealedAudit(tenantId, cursor.seq, limit);
    if (page.length === 0) return { cursor, lastId, checked };
    const r = checkChainPage(cursor, page);
    checked += r.checked;
    lastId = r.lastId ?? lastId;
    if (r.bad !== null) {
      const found = page.find((e) => e.id === r.bad);
      const problem =
        r.kind === 'missing'
          ? `events are missing before ${r.bad}: expected seq ${r.cursor.seq + 1}, found seq ${found?.seq ?? '?'} (deleted rows, or the chain start was purged without an anchor)`
          : `event ${r.bad} at seq ${found?.seq ?? '?'} does not match its hash or its link to seq ${r.cursor.seq} (edited, moved or reordered)`;
      return { cursor: r.cursor, lastId, checked, bad: { id: r.bad, problem } };
    }
    cursor = r.cursor;
    if (page.length < limit) return { cursor, lastId, checked };
  }
}

/**
 * Verifies a tenant's sealed chain: every link from the start (or the retention anchor) to the
 * end, then the end against the keyed checkpoint. `key` is the tenant's checkpoint key, null for
 * chains that have none (then a cut-off end cannot be told from a short chain).
 */
export async function verifyChain(store: ChainStore, tenantId: string, key: Buffer | null, unsealed: () => Promise<number>): Promise<VerifyReport> {
  const start = await chainStart(store, tenantId);
  const report = (w: Walk, bad?: { id?: string; problem: string }): Promise<VerifyReport> =>
    unsealed().then((n) => ({
      ok: bad === undefined,
      events_checked: w.checked,
      ...(bad?.id !== undefined ? { first_bad_event_id: bad.id } : {}),
      ...(bad ? { problem: bad.problem } : {}),
      unsealed: n,
      head: { seq: w.cursor.seq, hash: w.cursor.hash, event_id: w.lastId },
      ...(start.anchor ? { anchor: start.anchor } : {}),
    }));
  let walk: Walk = { cursor: start.cursor, lastId: null, checked: 0 };
  if (start.bad) return report(walk, start.bad);
  walk = await walkChain(store, tenantId, walk);
  if (walk.bad) return report(walk, walk.bad);
  if (key === null) return report(walk);

  // The checkpoint is read after the walk: seals commit events and checkpoint together, so it is
  // at least as new as anything walked. One that is ahead may be a seal that landed meanwhile:
  // walk on once before calling it a cut.
  let state = await store.getAuditChainState(tenantId);
  if (state.checkpoint === null) {
    if (walk.cursor.seq === 0) return report(walk);
    return report(walk, { problem: 'the chain has sealed events but no checkpoint (its checkpoint row was deleted, or the chain predates checkpoints)' });
  }
  let cp = openCheckpoint(key, tenantId, state.checkpoint);
  if (cp && cp.seq > walk.cursor.seq) {
    walk = await walkChain(store, tenantId, walk);
    if (walk.bad) return report(walk, walk.bad);
    state = await store.getAuditChainState(tenantId);
    cp = state.checkpoint === null ? null : openCheckpoint(key, tenantId, state.checkpoint);
  }
  if (!cp) return report(walk, { problem: 'the chain checkpoint does not verify under the tenant key (edited or forged)' });
  if (cp.seq > walk.cursor.seq) {
    return report(walk, {
      id: cp.eventId,
      problem: `the chain was cut: it ends at seq ${walk.cursor.seq}, but its sealed head was ${cp.eventId} at seq ${cp.seq}`,
    });
  }
  const atCheckpoint =
    cp.seq === walk.cursor.seq
      ? { id: walk.lastId, hash: walk.cursor.hash }
      : ((await store.readSealedAudit(tenantId, cp.seq - 1, 1)).find((e) => e.seq === cp.seq) ?? null);
  if (!atCheckpoint || atCheckpoint.id !== cp.eventId || atCheckpoint.hash !== cp.hash) {
    return report(walk, {
      id: cp.eventId,
      problem: `the sealed head ${cp.eventId} at seq ${cp.seq} is gone or was replaced (the end of the chain was cut or rewritten)`,
    });
  }
  if (walk.cursor.seq > cp.seq) {
    const after = (await store.readSealedAudit(tenantId, cp.seq, 1))[0];
    return report(walk, {
      ...(after ? { id: after.id } : {}),
      problem: `events after the sealed head (seq ${cp.seq}) were not sealed by Latchkey, or were sealed after an earlier break`,
    });
  }
  return report(walk);
}
