// Closed-loop load through autocannon's programmatic API: `connections` clients, each sending
// its next request when the previous answer arrives. Used for every saturation row.
import autocannon from 'autocannon';
import { LatencyRecorder } from './latency-percentiles.js';
import type { LoadSpec } from './load-spec.js';
import { signedHeaders } from './aws-sigv4-signer.js';
import type { PhaseOutcome } from './phase-outcome.js';

function pick<T>(items: readonly T[]): T {
  const item = items[Math.floor(Math.random() * items.length)];
  if (item === undefined) throw new Error('pick from empty list');
  return item;
}

export function requestBody(spec: LoadSpec, uniqueSuffix: () => string): string | undefined {
  const body = spec.body;
  if (body === undefined) return undefined;
  if (spec.uniqueName !== true) return JSON.stringify(body);
  const base = typeof body.name === 'string' ? body.name : 'bench';
  return JSON.stringify({ ...body, name: `${base}-${uniqueSuffix()}` });
}

export function uniqueSuffixes(phase: string): () => string {
  let counter = 0;
  return () => {
    counter += 1;
    return `${process.pid}-${phase}-${counter}`;
  };
}

export function pickPath(spec: LoadSpec): string {
  return spec.paths.length === 1 ? (spec.paths[0] ?? '/') : pick(spec.paths);
}

/**
 * Numbers the AWS requests of this worker across its phases: restarted per phase, the first
 * measured requests repeated the warm-up's last ones byte for byte within one second, and the
 * server refused them as replays (400).
 */
let awsSequence = 0;

/** A SigV4-signed JSON 1.1 request per send: the SecretId is picked from `paths`, the path is the dialect's. */
function buildAwsRequest(spec: LoadSpec & { awsSign: NonNullable<LoadSpec['awsSign']> }): autocannon.Request {
  const host = new URL(spec.origin).host;
  const path = '/compat/aws-secretsmanager/';
  const sign = (req: autocannon.Request): autocannon.Request => {
    awsSequence += 1;
    const n = awsSequence;
    req.method = 'POST';
    req.path = path;
    req.body = JSON.stringify({ SecretId: pickPath(spec) });
    req.headers = signedHeaders(spec.awsSign, host, path, req.body, {
      'content-type': 'application/x-amz-json-1.1',
      'x-amz-target': spec.awsSign.target,
      'amz-sdk-invocation-id': `${process.pid}-${n}`,
    });
    return req;
  };
  return { ...sign({}), setupRequest: sign };
}

function buildRequest(spec: LoadSpec, phase: string): autocannon.Request {
  if (spec.awsSign !== undefined) return buildAwsRequest({ ...spec, awsSign: spec.awsSign });
  const headers: Record<string, string> = spec.body === undefined ? { ...spec.headers } : { 'content-type': 'application/json', ...spec.headers };
  const nextSuffix = uniqueSuffixes(phase);
  const request: autocannon.Request = { method: spec.method, path: pickPath(spec), headers };
  const body = requestBody(spec, nextSuffix);
  if (body !== undefined) request.body = body;
  if (spec.paths.length > 1 || spec.uniqueName === true) {
    request.setupRequest = (req: autocannon.Request): autocannon.Request => {
      req.path = pickPath(spec);
      const nextBody = requestBody(spec, nextSuffix);
      if (nextBody !== undefined) req.body = nextBody;
      return req;
    };
  }
  return request;
}

export function runAutocannonPhase(spec: LoadSpec, phase: 'warmup' | 'measure', seconds: number): Promise<PhaseOutcome> {
  const latencies = new LatencyRecorder();
  const options: autocannon.Options = {
    url: spec.origin,
    connections: spec.connections,
    duration: seconds,
    timeout: 10,
    requests: [buildRequest(spec, phase)],
  };
  if (spec.overallRate !== undefined) options.overallRate = spec.overallRate;
  const started = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const instance = autocannon(options, (err: Error | null, result: autocannon.Result) => {
      if (err) {
        reject(err);
        return;
      }
      const statusCounts: Record<string, number> = {};
      for (const [status, stats] of Object.entries(result.statusCodeStats ?? {})) {
        statusCounts[status] = stats.count ?? 0;
      }
      resolve({
        latencies,
        statusCounts,
        errors: result.errors,
        timeouts: result.timeouts,
        elapsedSeconds: Number(process.hrtime.bigint() - started) / 1e9,
        autocannon: {
          requestsAverage: result.requests.average,
          latencyP50: result.latency.p50,
          latencyP99: result.latency.p99,
          non2xx: result.non2xx,
        },
        sendLagMs: null,
      });
    });
    instance.on('response', (_client: autocannon.Client, _status: number, _bytes: number, responseTime: number) => {
      latencies.record(responseTime);
    });
  });
}
