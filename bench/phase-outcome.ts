// What one load phase (warm-up or measured) yields, whichever sender produced it.
import type { LatencyRecorder } from './latency-percentiles.js';
import type { LoadSpec } from './load-spec.js';

export interface PhaseOutcome {
  latencies: LatencyRecorder;
  statusCounts: Record<string, number>;
  errors: number;
  timeouts: number;
  elapsedSeconds: number;
  autocannon: { requestsAverage: number; latencyP50: number; latencyP99: number; non2xx: number } | null;
  /** Paced sender only: how late requests went out versus when they were due (a starved sender shows here). */
  sendLagMs: { p99: number; max: number } | null;
}

export type PhaseRunner = (spec: LoadSpec, phase: 'warmup' | 'measure', seconds: number) => Promise<PhaseOutcome>;
