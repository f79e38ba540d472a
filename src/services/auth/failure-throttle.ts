/**
 * Holds back the answers to a source that keeps failing authentication. The first `free`
 * failures of a source in a second are answered at once (a client with a wrong key hears so
 * straight away); every further one in that second waits `delayMs` first. A flood of bad keys
 * then mostly waits on timers instead of taking the CPU that good requests need, and guessing
 * keys gets slower. Good requests from the same address are never held.
 */
export class AuthFailureThrottle {
  private readonly windows = new Map<string, { start: number; failures: number }>();

  constructor(
    private readonly delayMs: number,
    private readonly free = 10,
    private readonly maxSources = 10_000,
  ) {}

  /** Counts one failure of `source` and says how long to hold its answer (ms). */
  failed(source: string, nowMs: number): number {
    if (this.delayMs <= 0) return 0;
    let w = this.windows.get(source);
    if (!w || nowMs - w.start >= 1000) {
      // Bounded memory: many sources at once start every count afresh (which favours them, briefly).
      if (!w && this.windows.size >= this.maxSources) this.windows.clear();
      w = { start: nowMs, failures: 0 };
      this.windows.set(source, w);
    }
    w.failures += 1;
    return w.failures > this.free ? this.delayMs : 0;
  }
}
