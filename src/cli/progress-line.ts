// The text of the progress display, pure: one line per running output that tells users apart by UID and
// shows phase, position, speed and ETA, and one overall line; every line fits the terminal's width.
import type { RunProgress } from '../options.js';
import { formatBytes } from '../storage/transfer-progress.js';

export function clock(seconds: number): string {
  const s = Math.max(0, Math.ceil(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const pad = (n: number) => String(n).padStart(2, '0');
  return h > 0 ? `${h}:${pad(m)}:${pad(s % 60)}` : `${m}:${pad(s % 60)}`;
}

export interface OutputState {
  label: string;
  progress: RunProgress;
  /** When the current phase began (ms, performance.now()). */
  phaseStartedMs: number;
}

function bar(fraction: number, width: number): string {
  if (width <= 0) return '';
  const filled = Math.round(Math.min(1, Math.max(0, fraction)) * width);
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}]`;
}

const pct = (f: number) => `${Math.floor(Math.min(1, Math.max(0, f)) * 100)}%`.padStart(4);

/** fraction, position text, speed text, ETA seconds of one output's current phase. */
export function phaseFigures(p: RunProgress, elapsedInPhaseS: number): { fraction: number; position: string; speed: string; etaS: number | null } {
  if (p.phase === 'download' && p.transfer) {
    const t = p.transfer;
    return {
      fraction: t.bytes / Math.max(1, t.totalBytes),
      position: `${formatBytes(t.bytes)}/${formatBytes(t.totalBytes)}`,
      speed: `${formatBytes(t.rate)}/s`,
      etaS: t.etaSeconds,
    };
  }
  if (p.phase === 'merge' || p.phase === 'compose' || p.phase === 'snapshot') {
    const remainingS = Math.max(0, p.durationMs - p.positionMs) / 1000;
    const etaS = p.speed && p.speed > 0 ? remainingS / p.speed : p.fraction > 0.02 ? (elapsedInPhaseS * (1 - p.fraction)) / p.fraction : null;
    return {
      fraction: p.fraction,
      position: `${(p.positionMs / 1000).toFixed(1)}/${(p.durationMs / 1000).toFixed(1)}s`,
      speed: p.speed ? `${p.speed >= 10 ? p.speed.toFixed(0) : p.speed.toFixed(1)}x` : '',
      etaS,
    };
  }
  const finished = p.phase === 'done' || p.phase === 'skipped' || p.phase === 'upload';
  return { fraction: finished ? 1 : p.fraction, position: '', speed: '', etaS: null };
}

/** `uid 1001   merge    [#####-----]  48% 14.2/29.6s   312x  ETA 0:01`, at most `width` characters. */
export function outputLine(state: OutputState, width: number, labelWidth: number, nowMs: number): string {
  const p = state.progress;
  const f = phaseFigures(p, (nowMs - state.phaseStartedMs) / 1000);
  const label = state.label.length > labelWidth ? state.label.slice(0, labelWidth) : state.label.padEnd(labelWidth);
  const phase = p.phase.padEnd(8);
  const eta = f.etaS === null ? '' : `ETA ${clock(f.etaS)}`;
  const tail = ` ${pct(f.fraction)} ${f.position.padStart(15)} ${f.speed.padStart(9)} ${eta.padStart(9)}`;
  const fixed = label.length + 1 + phase.length + 1 + tail.length;
  const barWidth = Math.min(30, width - fixed - 2);
  const line = barWidth >= 5 ? `${label} ${phase} ${bar(f.fraction, barWidth)}${tail}` : `${label} ${phase}${tail}`;
  return line.trimEnd().slice(0, width);
}

export interface OverallState {
  source: string;
  startedMs: number;
  planned: { total: number; startedMs: number } | null;
  done: number;
  failed: number;
  /** Sum over started outputs of their fraction. */
  fractions: number;
}

/** `all 3/8 done, 1 failed [####------] 41% elapsed 0:12 ETA 0:17` (or what is being read, before the plan). */
export function overallLine(s: OverallState, width: number, nowMs: number): string {
  const elapsed = `elapsed ${clock((nowMs - s.startedMs) / 1000)}`;
  if (!s.planned) {
    const head = 'recmerge: reading ';
    const tail = ` (listing, playlists, probing)  ${elapsed}`;
    const room = Math.max(10, width - head.length - tail.length);
    const source = s.source.length > room ? `…${s.source.slice(-(room - 1))}` : s.source;
    return `${head}${source}${tail}`.slice(0, width);
  }
  const total = s.planned.total;
  const fraction = total ? s.fractions / total : 1;
  const sincePlanS = (nowMs - s.planned.startedMs) / 1000;
  const eta = fraction > 0.02 && fraction < 1 ? `ETA ${clock((sincePlanS * (1 - fraction)) / fraction)}` : '';
  const counts = `all ${s.done}/${total} done${s.failed ? `, ${s.failed} failed` : ''}`;
  const tail = ` ${pct(fraction)}  ${elapsed}${eta ? `  ${eta}` : ''}`;
  const barWidth = Math.min(30, width - counts.length - tail.length - 3);
  const line = barWidth >= 5 ? `${counts} ${bar(fraction, barWidth)}${tail}` : `${counts}${tail}`;
  return line.slice(0, width);
}
