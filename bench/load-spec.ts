// The contract between the orchestrator (run.ts) and a load worker (load.ts): what to fire,
// and what comes back. Passed as one JSON argument, answered as JSON lines on stdout.

export type HttpMethod = 'GET' | 'POST' | 'PATCH';

export interface LoadSpec {
  /** Row label, e.g. "metadata GET". */
  label: string;
  /** Origin only, e.g. http://127.0.0.1:41234 — must be loopback. */
  origin: string;
  method: HttpMethod;
  /** One path, or several picked at random per request (spreads reads over many rows). */
  paths: string[];
  headers: Record<string, string>;
  /** JSON body; with uniqueName, its `name` gets a unique suffix per request. */
  body?: Record<string, unknown>;
  uniqueName?: boolean;
  /**
   * Each request signed with SigV4 for the AWS Secrets Manager dialect (aws-sigv4-signer.ts), a
   * fresh signature every time (the server accepts a signature once); the body comes from `awsBody`.
   */
  awsSign?: { accessKeyId: string; secretAccessKey: string; region: string; service: string; target: string };
  connections: number;
  durationSeconds: number;
  warmupSeconds: number;
  /** Fixed overall request rate through autocannon's overallRate (bursty: see paced-sender.ts). */
  overallRate?: number;
  /** Fixed request rate from the open-loop paced sender instead of autocannon. */
  pacedRate?: number;
  /** Status a correct answer has; anything else counts as unexpected. */
  expectStatus: number;
}

export interface LatencySummary {
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}

export interface LoadSummary {
  label: string;
  responses: number;
  durationSeconds: number;
  rps: number;
  latencyMs: LatencySummary;
  statusCounts: Record<string, number>;
  errors: number;
  timeouts: number;
  /** Responses with another status than expectStatus, plus connection errors. */
  unexpected: number;
  /** autocannon's own figures, for cross-checking (its latency histogram has 1 ms resolution). */
  autocannon: { requestsAverage: number; latencyP50: number; latencyP99: number; non2xx: number } | null;
  sender: 'autocannon' | 'paced';
  /** Paced sender only: lateness of sends (p99, max); more than a few ms means the sender was starved. */
  sendLagMs: { p99: number; max: number } | null;
}

export type LoadWorkerEvent = { event: 'measure-start' } | { event: 'result'; summary: LoadSummary } | { event: 'error'; message: string };

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isStringRecord(value: unknown): value is Record<string, string> {
  return isRecord(value) && Object.values(value).every((v) => typeof v === 'string');
}

function positiveNumber(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new Error(`load spec: ${name} must be a non-negative number`);
  }
  return value;
}

/** Only loopback targets: this harness must never send load anywhere else. */
export function assertLoopbackOrigin(origin: string): void {
  const url = new URL(origin);
  if (url.protocol !== 'http:' || !['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname)) {
    throw new Error(`refusing non-loopback target ${origin}`);
  }
}

export function parseLoadSpec(input: unknown): LoadSpec {
  if (!isRecord(input)) throw new Error('load spec: not an object');
  const {
    label,
    origin,
    method,
    paths,
    headers,
    body,
    uniqueName,
    awsSign,
    connections,
    durationSeconds,
    warmupSeconds,
    overallRate,
    pacedRate,
    expectStatus,
  } = input;
  if (typeof label !== 'string') throw new Error('load spec: label');
  if (typeof origin !== 'string') throw new Error('load spec: origin');
  assertLoopbackOrigin(origin);
  if (method !== 'GET' && method !== 'POST' && method !== 'PATCH') throw new Error('load spec: method');
  if (awsSign !== undefined && !(isStringRecord(awsSign) && ['accessKeyId', 'secretAccessKey', 'region', 'service', 'target'].every((k) => k in awsSign))) {
    throw new Error('load spec: awsSign');
  }
  // Signed AWS requests all go to the dialect's one path; their `paths` are the SecretIds to pick from.
  const isPath = (p: unknown): p is string => typeof p === 'string' && (awsSign !== undefined || p.startsWith('/'));
  if (!Array.isArray(paths) || paths.length === 0 || !paths.every(isPath)) {
    throw new Error('load spec: paths');
  }
  if (!isStringRecord(headers)) throw new Error('load spec: headers');
  if (body !== undefined && !isRecord(body)) throw new Error('load spec: body');
  if (uniqueName !== undefined && typeof uniqueName !== 'boolean') throw new Error('load spec: uniqueName');
  const spec: LoadSpec = {
    label,
    origin,
    method,
    paths,
    headers,
    connections: Math.max(1, Math.floor(positiveNumber(connections, 'connections'))),
    durationSeconds: positiveNumber(durationSeconds, 'durationSeconds'),
    warmupSeconds: positiveNumber(warmupSeconds, 'warmupSeconds'),
    expectStatus: positiveNumber(expectStatus, 'expectStatus'),
  };
  if (body !== undefined) spec.body = body;
  if (uniqueName !== undefined) spec.uniqueName = uniqueName;
  if (awsSign !== undefined) spec.awsSign = awsSign as NonNullable<LoadSpec['awsSign']>;
  if (overallRate !== undefined) spec.overallRate = positiveNumber(overallRate, 'overallRate');
  if (pacedRate !== undefined) spec.pacedRate = positiveNumber(pacedRate, 'pacedRate');
  if (spec.pacedRate !== undefined && spec.pacedRate > 20_000) throw new Error('load spec: pacedRate above 20000/s');
  if (spec.durationSeconds > 600 || spec.warmupSeconds > 120) throw new Error('load spec: durations are bounded (600 s run, 120 s warm-up)');
  return spec;
}
