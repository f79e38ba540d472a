/**
 * Progress on stderr, so stdout stays the command's result. On a terminal the bar is redrawn in
 * place (at most 10 times a second); on a pipe or a log file it prints a line per 10 % step (or
 * per `every` items when the total is unknown), so a supervising script can follow a long job
 * without drowning in carriage returns.
 */
export interface ProgressBar {
  /** Sets the count done (and the total, when it becomes known). */
  update(done: number, total?: number): void;
  /** Draws the final state and ends the line. */
  end(): void;
}

export function progressBar(label: string, unit: string, opts: { total?: number; enabled?: boolean; every?: number } = {}): ProgressBar {
  if (opts.enabled === false) return { update() {}, end() {} };
  const tty = process.stderr.isTTY === true;
  const started = Date.now();
  let total = opts.total;
  let done = 0;
  let lastDraw = 0;
  let lastStep = -1;
  let drawn = false;

  const render = (): string => {
    const secs = Math.max(0.001, (Date.now() - started) / 1000);
    const rate = `${Math.round(done / secs)}/s`;
    if (total === undefined) return `${label} ${done} ${unit} (${rate})`;
    const width = 30;
    const frac = total === 0 ? 1 : Math.min(1, done / total);
    const filled = Math.round(width * frac);
    return `${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} ${unit} (${Math.floor(frac * 100)}%, ${rate})`;
  };

  const draw = (final: boolean) => {
    if (tty) {
      const now = Date.now();
      if (!final && now - lastDraw < 100) return;
      lastDraw = now;
      process.stderr.write(`\r\u001b[K${render()}`);
      drawn = true;
      return;
    }
    const step = total === undefined ? Math.floor(done / (opts.every ?? 1000)) : total === 0 ? 10 : Math.floor((done * 10) / total);
    if (!final && step === lastStep) return;
    if (final && drawn && step === lastStep) return;
    lastStep = step;
    process.stderr.write(`${render()}\n`);
    drawn = true;
  };

  return {
    update(n, t) {
      done = n;
      if (t !== undefined) total = t;
      draw(false);
    },
    end() {
      draw(true);
      if (tty && drawn) process.stderr.write('\n');
    },
  };
}
