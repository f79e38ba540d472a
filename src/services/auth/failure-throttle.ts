/**
 * Failed authentications per source (client address), counted in windows of `windowMs`
 * (one second unless the operator says otherwise).
 *
 * The first failure of a window is the one to audit: a flood must not flood the log (or the
 * chain). The first `free` failures of a window are answered at once (a client with a wrong key
 * hears so straight away); every further one waits `delayMs` first, so a flood of bad keys
 * mostly waits on timers instead of taking the CPU that good requests need, and guessing keys
 * gets slower. Good requests from the same address are never held.
 */
export class AuthFailureThrottle {
  private readonly windows = new Map<string, { start: number; failures: number }>();

  constructor(
    private readonly delayMs: number,
    private readonly windowMs = 1000,
    private readonly free = 10,
    private readonly maxSources = 10_000,
  ) {}

  /** Counts one failure of `source`: whether it opens a window, and how long to hold its answer (ms). */
  failed(source: string, nowMs: number): { first: boolean; holdMs: number } {
    let w = this.windows.get(source);
    if (!w || nowMs - w.start >= this.windowMs) {
      // Bounded memory: many sources at once start every count afresh (which favours them, briefly).
      if (!w && this.windows.size >= this.maxSources) this.windows.clear();
      w = { start: nowMs, failures: 0 };
      this.windows.set(source, w);
    }
    w.failures += 1;
    return { first: w.failures === 1, holdMs: this.delayMs > 0 && w.failures > this.free ? this.delayMs : 0 };
  }
}
