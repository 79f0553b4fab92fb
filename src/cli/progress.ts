// Progress on the terminal: one bar per running output on a TTY, plain lines otherwise.
import cliProgress from 'cli-progress';
import type { MergeProgress } from '../options.js';
import { printable } from './printable.js';
import { formatTransfer } from '../storage/transfer-progress.js';

export interface ProgressView {
  update(progress: MergeProgress): void;
  stop(): void;
}

function detail(p: MergeProgress): string {
  if (p.phase === 'download' && p.transfer) return `download ${formatTransfer(p.transfer)}`;
  if (p.phase === 'merge') return `merge ${(p.positionMs / 1000).toFixed(1)}s/${(p.durationMs / 1000).toFixed(1)}s${p.speed ? ` at ${p.speed.toFixed(0)}x` : ''}`;
  return p.phase;
}

class BarView implements ProgressView {
  private readonly multi = new cliProgress.MultiBar(
    { format: '{bar} {percentage}% {name} {detail}', hideCursor: true, clearOnComplete: false, stream: process.stderr, barsize: 24 },
    cliProgress.Presets.shades_classic,
  );
  private readonly bars = new Map<string, cliProgress.SingleBar>();

  update(p: MergeProgress): void {
    let bar = this.bars.get(p.output);
    if (!bar) {
      bar = this.multi.create(100, 0, { name: printable(p.fileName), detail: '' });
      this.bars.set(p.output, bar);
    }
    const fraction = p.phase === 'download' && p.transfer ? p.transfer.bytes / Math.max(1, p.transfer.totalBytes) : p.fraction;
    bar.update(Math.round(fraction * 100), { name: printable(p.fileName), detail: detail(p) });
    if (p.phase === 'done' || p.phase === 'failed' || p.phase === 'skipped') {
      bar.update(p.phase === 'failed' ? bar.getProgress() * 100 : 100, { detail: p.phase });
      bar.stop();
    }
  }

  stop(): void {
    this.multi.stop();
  }
}

/** Plain lines: one per phase change, and one per 25% of merging, so logs stay short. */
class LineView implements ProgressView {
  private readonly last = new Map<string, string>();
  update(p: MergeProgress): void {
    const step = p.phase === 'merge' ? `merge${Math.floor(p.fraction * 4)}` : p.phase === 'download' ? `download${Math.floor(((p.transfer?.bytes ?? 0) / Math.max(1, p.transfer?.totalBytes ?? 1)) * 4)}` : p.phase;
    if (this.last.get(p.output) === step) return;
    this.last.set(p.output, step);
    process.stderr.write(`${printable(p.fileName)}: ${detail(p)}\n`);
  }
  stop(): void {}
}

export function progressView(quiet: boolean): ProgressView | null {
  if (quiet) return null;
  return process.stderr.isTTY ? new BarView() : new LineView();
}
