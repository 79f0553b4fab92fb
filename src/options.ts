// Public option and result shapes of the library (and so of the CLI, the queue worker, ...).
import type { S3Client } from '@aws-sdk/client-s3';
import type { MergePath } from './core/types.js';
import type { TransferProgress } from './storage/source.js';

/** How to reach S3-compatible storage (for `s3://bucket/prefix` sources and uploads). */
export interface StorageOptions {
  /** Use this client instead of building one. */
  s3Client?: S3Client;
  endpoint?: string;
  region?: string;
  forcePathStyle?: boolean;
  /** Parallel downloads (default 16). */
  downloadConcurrency?: number;
  /** Download cache folder (default `<outDir>/.recmerge-cache`). */
  cacheDir?: string;
  /** Keep the download cache after the run. */
  keepDownloads?: boolean;
}

/** A source: a local folder path, an `s3://bucket/prefix` URL, or an opened RecordingSource. */
export type SourceSpec = string | import('./storage/source.js').RecordingSource;

export type { PlanOptions } from './core/options.js';
import type { PlanOptions } from './core/options.js';

export interface MergeProgress {
  /** Output id (`<sid>/<uid>`...). */
  output: string;
  fileName: string;
  /** The user (UID) and session (null for joined sessions) this output is of. */
  uid: string;
  sid: string | null;
  phase: 'download' | 'probe' | 'merge' | 'upload' | 'done' | 'failed' | 'skipped';
  /** 0..1 for the merge phase. */
  fraction: number;
  /** Output-time position reached, milliseconds. */
  positionMs: number;
  durationMs: number;
  /** Encoding speed reported by ffmpeg (x real time), when known. */
  speed: number | null;
  transfer?: TransferProgress;
}

export interface MergeOptions extends PlanOptions, StorageOptions {
  source: SourceSpec;
  outDir: string;
  /** Outputs merged in parallel (default: CPU count). */
  concurrency?: number;
  /** x264 preset for the transcode path. */
  preset?: string;
  /** Redo outputs that already exist. */
  force?: boolean;
  /** Also upload finished files to `s3://bucket/prefix`. */
  upload?: string;
  /** Also write each MP4's audio as `.m4a` beside it (the service script's `-a`). */
  alsoAudio?: boolean;
  onProgress?: (progress: MergeProgress) => void;
  /** Called once with the plan, before any output is started (e.g. to show how many there are). */
  onPlan?: (plan: import('./core/types.js').MergePlan) => void;
  /** Called with every ffmpeg/ffprobe command line (binary first) before it runs (`--verbose`). */
  onCommand?: (command: string[]) => void;
  signal?: AbortSignal;
}

export interface OutputResult {
  id: string;
  sid: string | null;
  cname: string;
  uid: string;
  kind: 'av' | 'audio' | 'video';
  /** Absolute path of the written file (also set when it already existed). */
  file: string | null;
  /** Where it was uploaded, if `upload` was set. */
  uploaded?: string;
  /** The `.m4a` written beside the MP4 (`alsoAudio`). */
  audioFile?: string;
  durationMs: number;
  videoPath: MergePath | null;
  audioPath: MergePath | null;
  /** The file existed already, made from the same inputs with the same options, and was left alone. */
  skipped: boolean;
  /** The file existed already and was made again: why (options or inputs changed, no record, ...). */
  remade?: string;
  warnings: string[];
  error: string | null;
  elapsedMs: number;
}

export interface MergeSummary {
  results: OutputResult[];
  /** Non-recording keys that were ignored. */
  ignored: { key: string; reason: string }[];
  problems: import('./core/types.js').Problem[];
  /** True when every planned output was written and no UID failed. */
  ok: boolean;
}
