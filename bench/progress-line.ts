// A one-line progress bar on stderr (\r-redrawn on a terminal; otherwise a line every 10 % or 30 s).
export class ProgressLine {
  private readonly started = performance.now();
  private lastDraw = 0;
  private lastDecile = -1;
  private readonly tty = process.stderr.isTTY === true;

  constructor(
    private readonly label: string,
    private readonly total: number,
  ) {}

  elapsedSeconds(): number {
    return (performance.now() - this.started) / 1000;
  }

  update(done: number, force = false): void {
    const now = performance.now();
    const decile = Math.floor((done / Math.max(1, this.total)) * 10);
    if (this.tty) {
      if (!force && now - this.lastDraw < 200) return;
    } else if (!force && decile === this.lastDecile && now - this.lastDraw < 30_000) {
      return;
    }
    this.lastDraw = now;
    this.lastDecile = decile;
    const fraction = Math.min(1, done / Math.max(1, this.total));
    const width = 30;
    const filled = Math.round(fraction * width);
    const elapsed = this.elapsedSeconds();
    const rate = elapsed > 0 ? done / elapsed : 0;
    const eta = rate > 0 ? (this.total - done) / rate : Infinity;
    const text =
      `${this.label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${this.total} ` +
      `${(fraction * 100).toFixed(0)}%  ${rate.toFixed(0)}/s  eta ${Number.isFinite(eta) ? `${eta.toFixed(0)}s` : '?'}`;
    process.stderr.write(this.tty ? `\r${text}\x1b[K` : `${text}\n`);
  }

  finish(done: number): void {
    this.update(done, true);
    if (this.tty) process.stderr.write('\n');
  }
}
