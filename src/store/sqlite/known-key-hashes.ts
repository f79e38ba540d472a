/**
 * Which access-key hashes the store may hold, as a set of 30-bit hash prefixes, so that a key
 * it cannot hold (a guess, a typo, a deleted key) is answered without reading the file. Without
 * it every unknown key cost an index lookup in a read transaction (locking the WAL index), which
 * made a 401 dearer than a metadata read served from the caches: a cheap way to load the server.
 *
 * The set may say yes wrongly (a shared prefix, about one in a thousand at a million keys, or a
 * deleted key's), which costs only the lookup it would have made anyway; it must not say no to a
 * key the store holds. So every insert here adds its hash, and a commit by another connection
 * (seen through `data_version`, which the store reads at most once a millisecond for this, so
 * such a key may be refused for up to 1 ms after its commit) makes it load afresh on its next use.
 */
export class KnownKeyHashes {
  private prefixes: Set<number> | null = null;

  constructor(private readonly loadAll: () => Iterable<Uint8Array>) {}

  mayHold(hash: Uint8Array): boolean {
    if (this.prefixes === null) {
      const prefixes = new Set<number>();
      for (const h of this.loadAll()) prefixes.add(prefixOf(h));
      this.prefixes = prefixes;
    }
    return this.prefixes.has(prefixOf(hash));
  }

  /** A key this connection is inserting (added before the commit: a yes too early is harmless). */
  add(hash: Uint8Array): void {
    this.prefixes?.add(prefixOf(hash));
  }

  /** Another connection wrote the file: whatever it inserted is read on the next lookup. */
  forget(): void {
    this.prefixes = null;
  }
}

/** The first 30 bits: a small integer, which V8 keeps unboxed in a Set. */
function prefixOf(hash: Uint8Array): number {
  return ((hash[0] ?? 0) << 22) | ((hash[1] ?? 0) << 14) | ((hash[2] ?? 0) << 6) | ((hash[3] ?? 0) >> 2);
}
