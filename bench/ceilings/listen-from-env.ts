// Shared start-up for the ceiling servers: same bind rules and the same "listening on" line
// as Latchkey itself, so the harness launches every compared server the same way.
import type { FastifyInstance } from 'fastify';

export async function listenFromEnv(app: FastifyInstance, onClose: () => void = () => {}): Promise<void> {
  const host = process.env.BENCH_HOST ?? '127.0.0.1';
  const port = Number(process.env.BENCH_PORT ?? '0');
  const address = await app.listen({ host, port });
  process.stdout.write(`listening on ${address}\n`);

  const shutdown = (): void => {
    app.close().then(
      () => {
        onClose();
        process.exit(0);
      },
      () => process.exit(1),
    );
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
  // The harness keeps our stdin open; when it goes away (harness killed), so do we.
  process.stdin.on('end', shutdown);
  process.stdin.on('error', shutdown);
  process.stdin.resume();
}
