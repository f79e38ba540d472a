import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import type { AuditSink } from './audit-sink.js';

/** JSON lines on standard output; acknowledged once the write has been handed to the OS. */
export function createStdoutSink(out: NodeJS.WritableStream = process.stdout): AuditSink {
  return {
    id: 'stdout',
    label: 'stdout',
    deliver(lines) {
      return new Promise<void>((resolve, reject) => {
        out.write(lines.join('\n') + '\n', (err) => (err ? reject(err) : resolve()));
      });
    },
    async close() {},
  };
}

/**
 * JSON lines appended to a file, fsynced before the cursor moves. The file is opened for each
 * batch, so a log rotation that renames it is followed without a signal. A line cut short by a
 * crash mid-write is closed with a newline before the next batch, so it spoils only itself.
 */
export function createFileSink(path: string): AuditSink {
  return {
    id: `file:${createHash('sha256').update(path).digest('hex').slice(0, 24)}`,
    label: `file ${path}`,
    async deliver(lines) {
      const fh = await open(path, 'a+', 0o600);
      try {
        const { size } = await fh.stat();
        let body = lines.join('\n') + '\n';
        if (size > 0) {
          const last = Buffer.alloc(1);
          await fh.read(last, 0, 1, size - 1);
          if (last[0] !== 0x0a) body = '\n' + body;
        }
        await fh.appendFile(body, 'utf8');
        await fh.datasync();
      } finally {
        await fh.close();
      }
    },
    async close() {},
  };
}
