// Counts files and bytes of one transfer and reports rate and ETA: on every finished file,
// and between those at most every `intervalMs` while bytes arrive.
import type { TransferProgress } from './source.js';

export class TransferMeter {
  private files = 0;
  private bytes = 0;
  /** Bytes that were already on disk: they count as done but not towards the rate. */
  private skippedBytes = 0;
  private readonly started: number;
  private lastReport = -Infinity;

  constructor(
    private readonly totalFiles: number,
    private readonly totalBytes: number,
    private readonly onProgress?: (progress: TransferProgress) => void,
    private readonly intervalMs = 100,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.started = now();
  }

  /** Bytes received for a file still in flight. */
  addBytes(n: number): void {
    this.bytes += n;
    this.report(false);
  }

  /** Takes back bytes of an attempt that failed and will be retried. */
  rollback(n: number): void {
    this.bytes -= n;
  }

  fileDone(): void {
    this.files += 1;
    this.report();
  }

  /** A file that needed no transfer (cache hit). */
  fileSkipped(size: number): void {
    this.skippedBytes += size;
    this.fileDone();
  }

  snapshot(): TransferProgress {
    const elapsed = (this.now() - this.started) / 1000;
    const rate = elapsed > 0 ? this.bytes / elapsed : 0;
    const done = this.bytes + this.skippedBytes;
    const left = Math.max(0, this.totalBytes - done);
    return {
      files: this.files,
      totalFiles: this.totalFiles,
      bytes: done,
      totalBytes: this.totalBytes,
      rate,
      etaSeconds: left === 0 ? 0 : rate > 0 ? left / rate : null,
    };
  }

  /** Reports now (unless throttled and not forced). */
  report(force = true): void {
    if (!this.onProgress) return;
    const t = this.now();
    if (!force && t - this.lastReport < this.intervalMs) return;
    this.lastReport = t;
    this.onProgress(this.snapshot());
  }
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

function formatSeconds(seconds: number): string {
  const s = Math.ceil(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const pad = (n: number) => String(n).padStart(2, '0');
  return h > 0 ? `${h}:${pad(m)}:${pad(s % 60)}` : `${m}:${pad(s % 60)}`;
}

/** One line for logs and progress bars: `12/40 files, 3.1 MB/10.0 MB, 5.2 MB/s, ETA 0:02`. */
export function formatTransfer(p: TransferProgress): string {
  const eta = p.etaSeconds === null ? 'ETA ?' : `ETA ${formatSeconds(p.etaSeconds)}`;
  return `${p.files}/${p.totalFiles} files, ${formatBytes(p.bytes)}/${formatBytes(p.totalBytes)}, ${formatBytes(p.rate)}/s, ${eta}`;
}
