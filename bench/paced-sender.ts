// Open-loop load at a fixed rate: request k is due at start + k/rate, whether or not earlier
// answers have arrived, and its latency is measured from when it was due (so a stalled server
// is charged for the queue it causes: no coordinated omission).
//
// Why not autocannon's overallRate: it gives each connection a per-second quota that is
// released at the top of every second, so "1000 req/s" over 50 connections is a 50-wide burst
// followed by silence. Measured against the hello ceiling: p50 3.2 ms / p99 19.5 ms at
// "1000 req/s", worse than the same server flat out (p50 2.3 ms). That is not the latency at
// a steady 1000 req/s, which is what these rows are meant to show.
import http from 'node:http';
import { pickPath, requestBody, uniqueSuffixes } from './autocannon-sender.js';
import { signedHeaders } from './aws-sigv4-signer.js';
import { LatencyRecorder } from './latency-percentiles.js';
import type { LoadSpec } from './load-spec.js';
import type { PhaseOutcome } from './phase-outcome.js';

/** How long to wait, after the last request went out, for the answers still owed. */
const DRAIN_LIMIT_MS = 10_000;

/** A GetSecretValue of `secretId` signed anew (the AWS row's spec: the paths are secret names). */
function awsRequest(
  k: NonNullable<LoadSpec['awsSign']>,
  host: string,
  secretId: string,
  n: number,
): { path: string; body: string; headers: Record<string, string> } {
  const path = '/compat/aws-secretsmanager/';
  const body = JSON.stringify({ SecretId: secretId });
  const headers = signedHeaders(k, host, path, body, {
    'content-type': 'application/x-amz-json-1.1',
    'x-amz-target': k.target,
    'amz-sdk-invocation-id': `${process.pid}-paced-${n}`,
  });
  return { path, body, headers };
}

export function runPacedPhase(spec: LoadSpec, phase: 'warmup' | 'measure', seconds: number): Promise<PhaseOutcome> {
  const rate = spec.pacedRate;
  if (rate === undefined || rate <= 0) return Promise.reject(new Error('paced sender needs pacedRate'));
  const target = new URL(spec.origin);
  const agent = new http.Agent({ keepAlive: true, maxSockets: spec.connections });
  const latencies = new LatencyRecorder();
  const sendLags = new LatencyRecorder();
  const statusCounts: Record<string, number> = {};
  const nextSuffix = uniqueSuffixes(phase);
  const intervalMs = 1000 / rate;
  const total = Math.round(rate * seconds);
  const headers: Record<string, string> = spec.body === undefined ? { ...spec.headers } : { 'content-type': 'application/json', ...spec.headers };
  let errors = 0;
  let timeouts = 0;
  let sequence = 0;
  let sent = 0;
  let settled = 0;

  return new Promise((resolve) => {
    const start = performance.now();
    const finish = (): void => {
      agent.destroy();
      resolve({
        latencies,
        statusCounts,
        errors,
        timeouts,
        elapsedSeconds: (performance.now() - start) / 1000,
        autocannon: null,
        sendLagMs: (({ p99, max }) => ({ p99, max }))(sendLags.summarize()),
      });
    };
    let finished = false;
    const finishOnce = (): void => {
      if (finished) return;
      finished = true;
      // Whatever is still unanswered when we stop waiting counts as timed out (and so as an error).
      timeouts += total - settled;
      errors += total - settled;
      finish();
    };
    const settle = (): void => {
      settled += 1;
      if (settled === total) finishOnce();
    };
    const fire = (dueAt: number): void => {
      sendLags.record(performance.now() - dueAt);
      const signed = spec.awsSign === undefined ? null : awsRequest(spec.awsSign, target.host, pickPath(spec), (sequence += 1));
      const body = signed?.body ?? requestBody(spec, nextSuffix);
      const req = http.request(
        {
          agent,
          host: target.hostname,
          port: target.port,
          method: spec.method,
          path: signed?.path ?? pickPath(spec),
          headers: signed?.headers ?? headers,
          timeout: 10_000,
        },
        (res) => {
          res.resume();
          res.on('end', () => {
            latencies.record(performance.now() - dueAt);
            const key = String(res.statusCode ?? 0);
            statusCounts[key] = (statusCounts[key] ?? 0) + 1;
            settle();
          });
        },
      );
      req.on('timeout', () => {
        timeouts += 1;
        req.destroy(new Error('timeout'));
      });
      req.on('error', () => {
        errors += 1;
        settle();
      });
      req.end(body);
    };
    // A busy setImmediate loop: the load core does nothing else, and timers would add up to a
    // millisecond of send jitter that the latency figures would then wrongly include.
    const tick = (): void => {
      const now = performance.now();
      while (sent < total && start + sent * intervalMs <= now) {
        fire(start + sent * intervalMs);
        sent += 1;
      }
      if (sent < total) {
        setImmediate(tick);
        return;
      }
      // All sent. A server slower than the rate leaves a backlog: wait for it a bounded time.
      setTimeout(finishOnce, DRAIN_LIMIT_MS).unref();
    };
    if (total === 0) finishOnce();
    else tick();
  });
}
