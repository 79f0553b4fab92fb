// Progress of every recording command (merge, compose, snapshots). On a terminal: one line per running output (by UID: phase, position, speed,
// ETA) and one overall line, redrawn in place (cli-progress), shown from the first moment. In logs: plain
// lines, one per phase change and per quarter of merging. For programs: one JSON event per line.
import { createWriteStream, type WriteStream } from 'node:fs';
import cliProgress from 'cli-progress';
import type { ResultBase, RunPlanSummary, RunProgress, SummaryBase } from '../options.js';
import { printable } from './printable.js';
import { outputLine, overallLine, phaseFigures, type OutputState, type OverallState } from './progress-line.js';

export interface ProgressView {
  /** The checks before any work have passed: reading begins. */
  start(): void;
  plan(plan: RunPlanSummary): void;
  update(progress: RunProgress): void;
  /** A line to show above the display (e.g. a `--verbose` command line, a warning). */
  log(line: string, kind?: string): void;
  finish(summary: SummaryBase<ResultBase> | null): void;
}

const FINISHED = new Set(['done', 'failed', 'skipped']);
/** The work phase of each command. */
const WORK = new Set(['merge', 'compose', 'snapshot']);

/** What every view keeps: labels, per-output state, the overall counts. */
class Tracker {
  outputs = new Map<string, OutputState>();
  overall: OverallState;
  constructor(source: string) {
    const now = performance.now();
    this.overall = { source, startedMs: now, planned: null, done: 0, failed: 0, fractions: 0 };
  }
  plan(plan: RunPlanSummary): void {
    this.overall.planned = { total: plan.outputs.length, startedMs: performance.now() };
  }
  /** Records an event; returns whether the output's phase changed. */
  update(p: RunProgress): { state: OutputState; phaseChanged: boolean } {
    const now = performance.now();
    let state = this.outputs.get(p.output);
    const phaseChanged = state?.progress.phase !== p.phase;
    // A composite's label holds its cname, which comes from the recording: printed escaped.
    if (!state) state = { label: printable(p.label), progress: p, phaseStartedMs: now };
    if (phaseChanged) state.phaseStartedMs = now;
    state.progress = p;
    this.outputs.set(p.output, state);
    if (phaseChanged && FINISHED.has(p.phase)) {
      if (p.phase === 'failed') this.overall.failed++;
      else this.overall.done++;
    }
    this.overall.fractions = [...this.outputs.values()].reduce((sum, s) => sum + (FINISHED.has(s.progress.phase) ? 1 : overallShare(s.progress)), 0);
    return { state, phaseChanged };
  }
}

/** How far an output is, counting download as the first tenth of its work and merging as the rest. */
function overallShare(p: RunProgress): number {
  const f = phaseFigures(p, 0).fraction;
  if (p.phase === 'download') return 0.1 * f;
  if (WORK.has(p.phase)) return 0.1 + 0.85 * f;
  if (p.phase === 'upload') return 0.95;
  return 0;
}

const width = (stream: NodeJS.WriteStream) => Math.max(40, (stream.columns || 80) - 1);

class BarView implements ProgressView {
  private readonly tracker: Tracker;
  private readonly multi: cliProgress.MultiBar;
  private readonly bars = new Map<string, cliProgress.SingleBar>();
  private labelWidth = 8;

  constructor(source: string, private readonly stream: NodeJS.WriteStream = process.stderr) {
    this.tracker = new Tracker(source);
    this.multi = new cliProgress.MultiBar({
      stream,
      hideCursor: true,
      clearOnComplete: false,
      linewrap: false,
      fps: 5,
      format: (_options, _params, payload: { render: () => string }) => payload.render(),
    });
    // The overall line, from the first moment (reading a big recording can take a while).
    this.multi.create(1, 0, { render: () => overallLine(this.tracker.overall, width(this.stream), performance.now()) });
  }

  start(): void {}

  plan(plan: RunPlanSummary): void {
    this.tracker.plan(plan);
    this.labelWidth = Math.min(20, plan.outputs.reduce((w, o) => Math.max(w, printable(o.label).length), 8));
  }

  update(p: RunProgress): void {
    const { state } = this.tracker.update(p);
    let bar = this.bars.get(p.output);
    if (FINISHED.has(p.phase)) {
      if (bar) this.multi.remove(bar);
      this.bars.delete(p.output);
      return;
    }
    if (!bar) {
      bar = this.multi.create(1, 0, { render: () => outputLine(state, width(this.stream), this.labelWidth, performance.now()) });
      this.bars.set(p.output, bar);
    }
    bar.update(0);
  }

  log(line: string): void {
    this.multi.log(line.endsWith('\n') ? line : `${line}\n`);
  }

  finish(): void {
    this.multi.stop();
  }
}

/** Plain lines for logs: one per phase change, and one per 25% of merging, so logs stay short. */
class LineView implements ProgressView {
  private readonly tracker: Tracker;
  private readonly last = new Map<string, string>();
  constructor(
    source: string,
    private readonly write: (line: string) => void,
  ) {
    this.tracker = new Tracker(source);
  }
  start(): void {
    this.write(`recmerge: reading ${printable(this.tracker.overall.source)}`);
  }
  plan(plan: RunPlanSummary): void {
    this.tracker.plan(plan);
    this.write(`recmerge: ${plan.outputs.length} output(s) to make${plan.failures.length ? `, ${plan.failures.length} UID(s) cannot be merged` : ''}`);
  }
  update(p: RunProgress): void {
    const { state } = this.tracker.update(p);
    const f = phaseFigures(p, 0);
    const step = WORK.has(p.phase) || p.phase === 'download' ? `${p.phase}${Math.floor(f.fraction * 4)}` : p.phase;
    if (this.last.get(p.output) === step) return;
    this.last.set(p.output, step);
    const o = this.tracker.overall;
    const detail = [f.position, f.speed && `at ${f.speed}`].filter(Boolean).join(' ');
    const counts = o.planned ? ` [${o.done}/${o.planned.total} done]` : '';
    this.write(`${state.label}: ${p.phase}${FINISHED.has(p.phase) ? '' : ` ${Math.floor(f.fraction * 100)}%`}${detail ? ` ${detail}` : ''}${counts}`);
  }
  log(line: string): void {
    this.write(line);
  }
  finish(): void {}
}

/** One JSON object per line: start, plan, progress, command, end. */
class JsonView implements ProgressView {
  constructor(
    source: string,
    private readonly write: (line: string) => void,
  ) {
    this.emit({ event: 'start', source });
  }
  start(): void {}
  private emit(event: Record<string, unknown>): void {
    this.write(JSON.stringify({ ...event, time: new Date().toISOString() }));
  }
  plan(plan: RunPlanSummary): void {
    this.emit({
      event: 'plan',
      outputs: plan.outputs.map((o) => ({ output: o.id, label: o.label, uid: o.uid, sid: o.sid, fileName: o.fileName, durationMs: o.durationMs })),
      failures: plan.failures.map((f) => ({ uid: f.uid, sid: f.sid, error: f.error })),
    });
  }
  update(p: RunProgress): void {
    this.emit({ event: 'progress', ...p });
  }
  log(line: string, kind?: string): void {
    this.emit({ event: 'message', ...(kind ? { kind } : {}), text: line.trim() });
  }
  /** Commands as argument arrays (what `--verbose` shows as text). */
  command(command: string[]): void {
    this.emit({ event: 'command', command });
  }
  finish(summary: SummaryBase<ResultBase> | null): void {
    if (summary) this.emit({ event: 'end', ok: summary.ok, outputs: summary.results.length, failed: summary.results.filter((r) => r.error).length });
  }
}

export interface ProgressChoice {
  source: string;
  /** No progress at all (`-q`). */
  quiet: boolean;
  /** `--progress-json`: the file descriptor to write JSON events to (2 = stderr). */
  jsonFd?: number;
  /** stdout carries JSON (`--json`): progress only where it cannot mix with it. */
  json?: boolean;
}

export function progressView(choice: ProgressChoice): (ProgressView & { command?(command: string[]): void }) | null {
  if (choice.jsonFd !== undefined) {
    let stream: NodeJS.WritableStream | WriteStream = process.stderr;
    if (choice.jsonFd === 1) stream = process.stdout;
    else if (choice.jsonFd !== 2) stream = createWriteStream('', { fd: choice.jsonFd, autoClose: false });
    return new JsonView(choice.source, (line) => stream.write(`${line}\n`));
  }
  if (choice.quiet) return null;
  if (process.stderr.isTTY) return new BarView(choice.source);
  return new LineView(choice.source, (line) => process.stderr.write(`${line}\n`));
}
