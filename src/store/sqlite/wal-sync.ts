import { open, type FileHandle } from 'node:fs/promises';

/**
 * Makes commits durable without blocking the event loop: a transaction committed with
 * `synchronous = NORMAL` is in the WAL but not yet on disk, and `fdatasync` of the WAL file
 * (on libuv's thread pool) puts it there, which is what `synchronous = FULL` would have done
 * inside the commit call. Callers that arrive while a sync runs share the next one, since the
 * running one may have started before their commit.
 */
export interface WalSync {
  /** Resolves once everything committed before the call is on disk. */
  sync(): Promise<void>;
  close(): Promise<void>;
}

export function createWalSync(walPath: string): WalSync {
  let handle: Promise<FileHandle> | null = null;
  let running: Promise<void> | null = null;
  let next: Promise<void> | null = null;

  const start = (): Promise<void> => {
    // The WAL file stays in place (same inode) while this process holds the database open.
    handle ??= open(walPath, 'r+').catch((err: unknown) => {
      handle = null;
      throw err;
    });
    running = handle.then((h) => h.datasync()).finally(() => (running = null));
    return running;
  };

  return {
    sync() {
      if (running === null) return start();
      next ??= running
        .catch(() => undefined)
        .then(() => {
          next = null;
          return start();
        });
      return next;
    },
    async close() {
      await Promise.allSettled([running, next]);
      const h = handle;
      handle = null;
      if (h) await (await h).close();
    },
  };
}
