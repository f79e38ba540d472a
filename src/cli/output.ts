/**
 * What the CLI prints on stdout: aligned tables for people, JSON for scripts (`--json`).
 * Progress and warnings go to stderr, so `--json` output can always be piped.
 */

export const out = (text: string): void => void process.stdout.write(text + '\n');
export const warn = (text: string): void => void process.stderr.write(`latchkey: ${text}\n`);

export function printJson(value: unknown): void {
  out(JSON.stringify(value, null, 2));
}

/** One cell: strings as they are, null/undefined as `-`, anything else as compact JSON; control characters made visible. */
export function cell(v: unknown): string {
  const s =
    v === null || v === undefined || v === ''
      ? '-'
      : typeof v === 'string'
        ? v
        : typeof v === 'number' || typeof v === 'boolean'
          ? String(v)
          : JSON.stringify(v);
  // A name with an escape sequence must not repaint the operator's terminal.
  return s.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** A table with a header row; columns padded to their widest cell. */
export function printTable(headers: string[], rows: unknown[][]): void {
  const text = rows.map((r) => headers.map((_, i) => cell(r[i])));
  const widths = headers.map((h, i) => Math.max(h.length, ...text.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  out(line(headers));
  for (const r of text) out(line(r));
}

/** Field/value pairs, one per line (for a single object). */
export function printFields(pairs: Array<[string, unknown]>): void {
  const width = Math.max(0, ...pairs.map(([k]) => k.length));
  for (const [k, v] of pairs) out(`${k.padEnd(width)}  ${cell(v)}`);
}
