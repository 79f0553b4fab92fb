// Public option and result shapes of the library (and so of the CLI, the queue worker, ...). Every entry
// point (mergeRecordings, composeRecordings, snapshotRecordings) takes RunOptions and reports RunProgress;
// what they add is their own.
import type { ChunkEncoder } from './merge/render.js';
import type { ComposePlanOptions, PlanOptions, SnapshotPlanOptions } from './core/options.js';
import type { OutputEvents } from './core/events.js';
import type { MergePath, Problem } from './core/types.js';
import type { SourceSpec, StorageOptions, TransferProgress } from './storage/source.js';

export type { SourceSpec, StorageOptions } from './storage/source.js';

export type { ComposePlanOptions, PlanOptions, SnapshotPlanOptions } from './core/options.js';
export type { EventType, GapFill, OutputEvent, OutputEvents, SyncBlock } from './core/events.js';


/** The phase an output is in. The work phase is named after the command: merge, compose, snapshot. */
export type RunPhase = 'download' | 'probe' | 'merge' | 'compose' | 'snapshot' | 'upload' | 'done' | 'failed' | 'skipped';

/** Progress of one output, as every command reports it. */
export interface RunProgress {
  /** Output id (`<sid>/<uid>`, a composite's `<sid>`, ...). */
  output: string;
  /** How the output is told apart on screen: `uid 1001`, `uid 1001 #2`, `composite math_7`, ... */
  label: string;
  fileName: string;
  /** The user (UID) the output is of; null for a composite (everyone's). */
  uid: string | null;
  /** The session (null for joined sessions). */
  sid: string | null;
  phase: RunPhase;
  /** 0..1 for the work phase. */
  fraction: number;
  /** Output-time position reached, milliseconds. */
  positionMs: number;
  durationMs: number;
  /** Encoding speed reported by ffmpeg (x real time), when known. */
  speed: number | null;
  transfer?: TransferProgress;
}

/** @deprecated the same as RunProgress (merge outputs always have a uid). */
export type MergeProgress = RunProgress;

/** What every planned output is, whatever the command (what onPlan and progress views see). */
export interface PlannedOutputSummary {
  id: string;
  label: string;
  fileName: string;
  uid: string | null;
  sid: string | null;
  durationMs: number;
}

export interface RunPlanSummary {
  outputs: PlannedOutputSummary[];
  failures: { sid: string; cname: string; uid: string | null; error: string }[];
}

/** What every command takes, beside its own options. */
export interface RunOptions extends StorageOptions {
  source: SourceSpec;
  outDir: string;
  /** Outputs made in parallel (merge and snapshots default: CPU count; compose: 1, one already uses every core). */
  concurrency?: number;
  /** Encoder settings where something is re-encoded: `recmerge` (the default: tuned libx264 settings, see render/encode.ts) or an x264 preset. */
  preset?: string;
  /** Redo outputs that already exist. */
  force?: boolean;
  /** Also upload finished files to `s3://bucket/prefix`. */
  upload?: string;
  onProgress?: (progress: RunProgress) => void;
  /** Called once every check made before any work has passed, as reading the source begins. */
  onStart?: () => void;
  /** Called once with the plan, before any output is started (e.g. to show how many there are). */
  onPlan?: (plan: RunPlanSummary) => void;
  /** Called with every ffmpeg/ffprobe command line (binary first) before it runs (`--verbose`). */
  onCommand?: (command: string[]) => void;
  signal?: AbortSignal;
}

export interface MergeOptions extends PlanOptions, RunOptions {
  /** Also write each MP4's audio as `.m4a` beside it (the service script's `-a`). */
  alsoAudio?: boolean;
  /**
   * Who encodes the chunks of a chunked output (`chunk`): default this machine's cores. The queue worker
   * hands them to the queue's workers (queue/chunk-job.ts).
   */
  chunkEncoder?: ChunkEncoder;
}

/** What every command's result for one output says. */
export interface ResultBase {
  id: string;
  sid: string | null;
  cname: string;
  /** Absolute path of the written file (also set when it already existed); null when it failed. */
  file: string | null;
  durationMs: number;
  /** The file existed already, made from the same inputs with the same options, and was left alone. */
  skipped: boolean;
  /** The file existed already and was made again: why (options or inputs changed, no record, ...). */
  remade?: string;
  warnings: string[];
  error: string | null;
  elapsedMs: number;
  /** Merged outputs and composites: what happened on the output's clock (also in `eventsFile`). */
  events?: OutputEvents;
  /** Absolute path of `<output>.events.json`, when written (or already present). */
  eventsFile?: string;
  /** Absolute path of `<output>.chapters.vtt` (joins and leaves as WebVTT chapters), when written (or already present). */
  chaptersFile?: string;
}

export interface OutputResult extends ResultBase {
  uid: string;
  kind: 'av' | 'audio' | 'video';
  /** Where it was uploaded, if `upload` was set. */
  uploaded?: string;
  /** The `.m4a` written beside the MP4 (`alsoAudio`). */
  audioFile?: string;
  videoPath: MergePath | null;
  audioPath: MergePath | null;
}

/** What every command's summary says. */
export interface SummaryBase<R> {
  results: R[];
  /** Non-recording keys that were ignored. */
  ignored: { key: string; reason: string }[];
  problems: Problem[];
  /** True when every planned output was written whole and nothing failed. */
  ok: boolean;
}

export type MergeSummary = SummaryBase<OutputResult>;

export interface ComposeOptions extends RunOptions, ComposePlanOptions {
  /** Draw each user's UID in its tile; a map gives names instead (uid -> name; missing uids show the UID). */
  labels?: boolean | Record<string, string>;
  /**
   * Video inputs one ffmpeg pass may open (default 40): each (user run, layout interval) piece is an input
   * holding a decoder, so a long class with many layout changes is encoded in chunks of intervals and joined.
   */
  maxPiecesPerPass?: number;
}

/** @deprecated the same as RunProgress. */
export type ComposeProgress = RunProgress;

export interface ComposeResult extends ResultBase {
  /** `<sid>` (or `<cname>` with joined sessions). */
  kind: 'av' | 'audio';
  layoutFile: string | null;
  uploaded?: string[];
  /** UIDs in the composite, in join order. */
  uids: string[];
  /** UIDs whose files could not be read, left out of the composite (the reasons are in `warnings`). */
  leftOut: string[];
}

export type ComposeSummary = SummaryBase<ComposeResult>;

export interface SnapshotOptions extends RunOptions, SnapshotPlanOptions {}

export interface SnapshotUserResult extends ResultBase {
  uid: string;
  /** Written (or already present) pictures, in time order. */
  files: string[];
  uploaded?: string[];
}

export type SnapshotSummary = SummaryBase<SnapshotUserResult>;
