// Load worker: runs in its own process (the harness pins it to the load core), first a
// warm-up, then the measured run, and prints JSON lines: measure-start, then result.
// Usage: node --import tsx bench/load.ts '<LoadSpec JSON>'
import { runAutocannonPhase } from './autocannon-sender.js';
import { parseLoadSpec } from './load-spec.js';
import type { LoadSpec, LoadSummary, LoadWorkerEvent } from './load-spec.js';
import { runPacedPhase } from './paced-sender.js';
import type { PhaseOutcome, PhaseRunner } from './phase-outcome.js';

function emit(event: LoadWorkerEvent): void {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}

function summarize(spec: LoadSpec, outcome: PhaseOutcome): LoadSummary {
  const responses = outcome.latencies.size;
  const expected = outcome.statusCounts[String(spec.expectStatus)] ?? 0;
  return {
    label: spec.label,
    responses,
    durationSeconds: outcome.elapsedSeconds,
    rps: outcome.elapsedSeconds > 0 ? responses / outcome.elapsedSeconds : 0,
    latencyMs: outcome.latencies.summarize(),
    statusCounts: outcome.statusCounts,
    errors: outcome.errors,
    timeouts: outcome.timeouts,
    unexpected: responses - expected + outcome.errors,
    autocannon: outcome.autocannon,
    sender: outcome.autocannon === null ? 'paced' : 'autocannon',
    sendLagMs: outcome.sendLagMs,
  };
}

async function main(): Promise<void> {
  const raw = process.argv[2];
  if (raw === undefined) throw new Error('usage: load.ts <LoadSpec JSON>');
  const spec = parseLoadSpec(JSON.parse(raw) as unknown);
  // Bounded no matter what: a stuck run ends the worker.
  const limitMs = (spec.warmupSeconds + spec.durationSeconds + 30) * 1000;
  setTimeout(() => {
    emit({ event: 'error', message: `load worker exceeded ${limitMs} ms` });
    process.exit(2);
  }, limitMs).unref();

  const runPhase: PhaseRunner = spec.pacedRate === undefined ? runAutocannonPhase : runPacedPhase;
  if (spec.warmupSeconds > 0) await runPhase(spec, 'warmup', spec.warmupSeconds);
  emit({ event: 'measure-start' });
  const outcome = await runPhase(spec, 'measure', spec.durationSeconds);
  emit({ event: 'result', summary: summarize(spec, outcome) });
}

process.once('SIGTERM', () => process.exit(143));
process.once('SIGINT', () => process.exit(130));

main().then(
  () => process.exit(0),
  (err: unknown) => {
    emit({ event: 'error', message: err instanceof Error ? err.message : String(err) });
    process.exit(1);
  },
);
