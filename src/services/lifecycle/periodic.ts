import type { Logger } from 'pino';

/**
 * A job run every `intervalMs` from `start` until `stop`: a pass still running when the next is
 * due is not doubled, a failed pass is logged (its code only) and retried at the next tick, and
 * `stop` waits for the pass under way. The timer never keeps the process alive.
 */
export function periodic(runOnce: () => Promise<unknown>, logger: Logger, failed: string): { start(intervalMs: number): void; stop(): Promise<void> } {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> | null = null;
  return {
    start(intervalMs) {
      timer = setInterval(() => {
        if (running) return;
        running = runOnce()
          .catch((err: unknown) => logger.warn({ code: (err as { code?: string }).code }, failed))
          .finally(() => (running = null));
      }, intervalMs);
      timer.unref();
    },
    async stop() {
      if (timer) clearInterval(timer);
      await running;
    },
  };
}
