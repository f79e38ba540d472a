import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Temporary directories and files a test file makes, removed when its process exits (node
 * --test runs each file in a process of its own), so a test may still read them after the
 * server that wrote them stopped. A file killed by the suite's time limit leaves its own behind;
 * scripts/run-tests.mjs also gives every test process a TMPDIR of its own and removes it.
 */
const made: string[] = [];
let hooked = false;

export function removeAtExit(path: string): string {
  made.push(path);
  if (!hooked) {
    hooked = true;
    process.on('exit', () => {
      for (const p of made) rmSync(p, { recursive: true, force: true });
    });
  }
  return path;
}

/** A new directory under the system temp dir, removed at exit. */
export function tempDir(prefix: string): string {
  return removeAtExit(mkdtempSync(join(tmpdir(), prefix)));
}
