// Exact latency percentiles from every recorded response time (autocannon's own histogram
// rounds to whole milliseconds, too coarse for sub-millisecond endpoints).
import type { LatencySummary } from './load-spec.js';

export class LatencyRecorder {
  private values = new Float64Array(1 << 16);
  private count = 0;

  record(ms: number): void {
    if (this.count === this.values.length) {
      const grown = new Float64Array(this.values.length * 2);
      grown.set(this.values);
      this.values = grown;
    }
    this.values[this.count] = ms;
    this.count += 1;
  }

  get size(): number {
    return this.count;
  }

  summarize(): LatencySummary {
    const sorted = this.values.slice(0, this.count).sort();
    const at = (q: number): number => {
      if (sorted.length === 0) return 0;
      // nearest-rank percentile
      const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
      return sorted[rank] ?? 0;
    };
    let total = 0;
    for (const v of sorted) total += v;
    return {
      p50: at(0.5),
      p90: at(0.9),
      p99: at(0.99),
      p999: at(0.999),
      max: sorted.length === 0 ? 0 : (sorted[sorted.length - 1] ?? 0),
      mean: sorted.length === 0 ? 0 : total / sorted.length,
    };
  }
}
