// What a command (merge, compose, snapshots) gives the run pipeline: how to plan its outputs from an
// inventory, and how to render one output into files. Everything else (checks before any work, reading,
// records, temporary names, verification, renaming, uploads, progress, cancellation, the summary) is the
// pipeline's, the same for every command.
import type { OutputEvents } from '../core/events.js';
import type { Inventory, MediaFacts, SliceMedia } from '../core/types.js';
import type { PlanOptions } from '../core/options.js';
import type { SilenceFrames } from '../render/audio.js';
import type { BlackClips } from '../render/leads.js';
import type { ResultBase, RunOptions, RunPhase } from '../options.js';

/** One output as planned: the files it writes (relative to the output folder) and the slices it reads. */
export interface PlannedOutput {
  id: string;
  /** Final names, relative to the output folder; the first is the output itself (its record is kept beside it). */
  files: string[];
  sid: string | null;
  cname: string;
  /** The user it is of; null for a composite. */
  uid: string | null;
  durationMs: number;
  /** Keys of every slice it reads. */
  inputs: string[];
  warnings: string[];
}

export interface PlanFailure {
  sid: string;
  cname: string;
  uid: string | null;
  error: string;
}

export interface KindPlan<P extends PlannedOutput> {
  outputs: P[];
  failures: PlanFailure[];
}

/** What the renderers of one run share: silent AAC frames and black lead clips, each made once, in a folder of the run's. */
export interface RenderCache {
  /** A work folder of the run (removed at its end) where shared clips are made. */
  dir: string;
  silence: SilenceFrames;
  blackLeads: BlackClips;
}

/** What rendering one output may use. */
export interface OutputWork {
  /** Slice key -> local file. */
  paths: Map<string, string>;
  /** Slice key -> why it could not be had (its time becomes a gap). */
  missing: Map<string, string>;
  /** A folder of this output's own (concat lists, cut leads, ...), removed after it. */
  workDir: string;
  /** The temporary path each final name (one of `files`) is written to; renamed into place by the pipeline. */
  temp(file: string): string;
  cache: RenderCache;
  preset: string;
  /** Encoder threads (outputs running at once share the cores). */
  threads?: number;
  signal?: AbortSignal;
  /** Where the work is (output time, ms) and how fast (x real time). */
  onProgress(positionMs: number, speed: number | null): void;
}

/** What rendering one output wrote. */
export interface Rendered {
  /** Final names whose temporary files were written (all of `files`, or fewer when some could not be made). */
  written: string[];
  /** The output's length (replaced by the length read back from the first media file). */
  durationMs: number;
  /** Media files among `written` and the streams each must have (read back before it is renamed into place). */
  media?: Record<string, { video: boolean; audio: boolean }>;
  warnings: string[];
  /** Problems that cost part of the output (a snapshot that could not be taken): the output is not whole. */
  losses?: string[];
  /** Anything the command reports in its result. */
  extra?: Record<string, unknown>;
  /** The events written beside the output (set by the pipeline). */
  events?: OutputEvents;
}

/** What became of an output, for its result. */
export interface Done {
  /** What rendering wrote (null: skipped, or it failed before). */
  rendered: Rendered | null;
  /** Absolute paths of its files that stand under their final names (written now, or left as they were). */
  files: string[];
  /** Where they were uploaded. */
  uploaded: string[];
}

export interface Kind<O extends RunOptions, P extends PlannedOutput, R extends ResultBase> {
  /** `merge`, `compose`, `snapshots`: in messages. */
  name: string;
  /** The work phase's name in progress. */
  phase: RunPhase;
  /** Option checks beyond the shared table (modes, ...): throws UsageError. */
  check(options: O): void;
  /** Which users and tracks the plan reads (facts are probed for these). */
  scope(options: O): Pick<PlanOptions, 'mode' | 'uids' | 'joinSessions'>;
  /** Default outputs at once. */
  concurrency(options: O): number;
  plan(inventory: Inventory, facts: Map<string, MediaFacts>, options: O, media?: Map<string, SliceMedia>): KindPlan<P>;
  /** The labels that tell outputs apart on screen. */
  labels(outputs: P[]): Map<string, string>;
  /** The options that change an output's bytes (kept in its record: a rerun with other ones remakes it). */
  byteOptions(options: O, output: P): Record<string, unknown>;
  render(output: P, work: OutputWork, options: O): Promise<Rendered>;
  /**
   * What happened on the output's clock: the pipeline writes it beside the output (`<output>.events.json` and
   * `<output>.chapters.vtt`, which must be among `files`) and puts it in the result. Merge and compose have it.
   */
  events?(output: P): OutputEvents;
  result(output: P, base: ResultBase, done: Done): R;
  failure(failure: PlanFailure, options: O): R;
  /** Whether a result is whole (compose: nobody left out). Default: no error. */
  whole?(result: R): boolean;
}
