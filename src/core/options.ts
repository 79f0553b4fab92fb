// What a merge, a composite and a set of snapshots can be asked for, and the one table of limits every
// entry point checks them against (the library, the CLI through it, and queue jobs). Pure.
import { UsageError } from './errors.js';
import type { AlignClock, AudioFormat, GapMode, MergeMode, NameStyle } from './types.js';

export interface PlanOptions {
  mode?: MergeMode;
  gaps?: GapMode;
  /** Output size `{width, height}`; default: the largest slice size. */
  size?: { width: number; height: number };
  /** Constant output frame rate; default keeps the source rate. */
  fps?: number;
  /** Only these UIDs. */
  uids?: string[];
  /** Trim: start offset in seconds (output time). */
  from?: number;
  /** Trim: duration in seconds. */
  duration?: number;
  /** Join the same cname+uid across sessions into one output. */
  joinSessions?: boolean;
  /** `segments` mode: absence (seconds) that starts a new file (default 15). */
  splitGap?: number;
  names?: NameStyle;
  /** Force re-encoding of video and audio. */
  transcode?: boolean;
  /** Re-encoded video longer than this many seconds is encoded in chunks of about this length, at once on the cores, then joined by stream copy. */
  chunk?: number;
  /** An absence longer than this many hours splits a user's output into separate files (default 24). */
  maxGapHours?: number;
  /** A user's output may span at most this many hours; longer ones fail for that user (default 48). */
  maxSpanHours?: number;
  /**
   * `session` (mode audio only): every user's file on the session's clock (its first instant, its length;
   * with joinSessions the channel's), silence where the user was absent. Default `user`: from the user's first instant.
   */
  align?: AlignClock;
  /** Mode audio: `m4a` (AAC, default), `wav` (PCM 16-bit) or `flac`. */
  audioFormat?: AudioFormat;
  /** Level the audio to EBU R128: true for -16 LUFS, or a target in LUFS (true peak -1.5 dBTP); only audio is re-encoded. */
  loudnorm?: boolean | number;
}

export type ComposeMode = 'av' | 'mix-audio';

export interface ComposePlanOptions {
  /** 'av' (default): the composite MP4; 'mix-audio': only the mixed audio, one .m4a per session. */
  mode?: ComposeMode;
  /** Default 1280x720. */
  size?: { width: number; height: number };
  /** Default 15. */
  fps?: number;
  /** Video gaps inside a user's presence: the last frame (freeze, default) or black. */
  gaps?: 'freeze' | 'black';
  /** Default 16: beyond that, the most recently audible users are shown. */
  maxTiles?: number;
  /** Users with audio but no video get a black tile. */
  audioTiles?: boolean;
  /** One composite per cname across sessions (sids). */
  joinSessions?: boolean;
  /** Only these users. */
  uids?: string[];
  /** Level each voice, then the mix, to EBU R128: true for -16 LUFS, or a target in LUFS (true peak -1.5 dBTP). */
  loudnorm?: boolean | number;
  /** 'grid' (default): everyone alike; 'speaker': the speaking user big, the others in a strip below; 'vertical': big, the others in a column. */
  layout?: ComposeLayoutMode;
}

export type ComposeLayoutMode = 'grid' | 'speaker' | 'vertical';
export const COMPOSE_LAYOUTS: readonly ComposeLayoutMode[] = ['grid', 'speaker', 'vertical'];

export interface SnapshotPlanOptions {
  /** Seconds of wall clock between two pictures of a user (on the session's grid: its first instant + k * every). */
  every?: number;
  /** Or: pictures at exactly these wall-clock instants (epoch ms), of every user whose video is present then. */
  at?: number[];
  /** Only these users. */
  uids?: string[];
  /** Join the same cname+uid across sessions (their pictures share one instant grid). */
  joinSessions?: boolean;
}

/** Frame rates above this are refused everywhere (merge, compose, jobs). */
export const MAX_FPS = 240;
/** Picture sizes, in pixels per side. */
export const MIN_SIDE = 16;
export const MAX_SIDE = 8192;
export const MAX_TILES = 64;
/** Loudness targets (LUFS) --loudnorm accepts (ffmpeg's loudnorm's range). */
export const MIN_LUFS = -70;
export const MAX_LUFS = -5;
/** The shortest snapshot interval, seconds. */
export const MIN_EVERY_S = 0.1;

/** A check: null when the value is acceptable, else what was expected. */
export type Check = (value: unknown) => string | null;

const num = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const positive: Check = (v) => (num(v) && v > 0 ? null : 'a positive number');
const positiveInt: Check = (v) => (Number.isInteger(v) && (v as number) > 0 ? null : 'a whole number of 1 or more');
const isBool: Check = (v) => (typeof v === 'boolean' ? null : 'true or false');
const oneOf =
  (values: readonly string[]): Check =>
  (v) =>
    typeof v === 'string' && values.includes(v) ? null : `one of ${values.join(', ')}`;
const uidList: Check = (v) => (Array.isArray(v) && v.length > 0 && v.every((u) => typeof u === 'string' && /^\d+$/.test(u)) ? null : 'a list of decimal UIDs');
const isPlain = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v) && [Object.prototype, null].includes(Object.getPrototypeOf(v));

/** The limits of every option, by name: one rule each, for every command and for queue jobs. */
export const OPTION_CHECKS = {
  fps: (v) => (num(v) && v > 0 && v <= MAX_FPS ? null : `a frame rate above 0 and up to ${MAX_FPS}`),
  size: (v) =>
    isPlain(v) && Object.keys(v).length === 2 && [v.width, v.height].every((n) => Number.isInteger(n) && (n as number) >= MIN_SIDE && (n as number) <= MAX_SIDE)
      ? null
      : `{ width, height }: whole numbers of pixels from ${MIN_SIDE} to ${MAX_SIDE}`,
  uids: uidList,
  from: (v) => (num(v) && v >= 0 ? null : '0 or more seconds'),
  duration: positive,
  splitGap: positive,
  maxGapHours: positive,
  maxSpanHours: positive,
  joinSessions: isBool,
  transcode: isBool,
  chunk: (v) => (num(v) && v >= 1 ? null : 'at least 1 second'),
  names: oneOf(['recmerge', 'script']),
  gaps: oneOf(['freeze', 'black', 'cut']),
  maxTiles: (v) => (Number.isInteger(v) && (v as number) >= 1 && (v as number) <= MAX_TILES ? null : `a whole number from 1 to ${MAX_TILES}`),
  audioTiles: isBool,
  loudnorm: (v) => (typeof v === 'boolean' || (num(v) && v >= MIN_LUFS && v <= MAX_LUFS) ? null : `true, false or a target from ${MIN_LUFS} to ${MAX_LUFS} LUFS`),
  layout: oneOf(['grid', 'speaker', 'vertical']),
  every: (v) => (num(v) && v >= MIN_EVERY_S ? null : `at least ${MIN_EVERY_S} seconds`),
  at: (v) => (Array.isArray(v) && v.length > 0 && v.length <= 100_000 && v.every((t) => Number.isInteger(t) && t > 0) ? null : 'a list of wall-clock instants (epoch milliseconds)'),
  concurrency: positiveInt,
  force: isBool,
  alsoAudio: isBool,
  align: oneOf(['user', 'session']),
  audioFormat: oneOf(['m4a', 'wav', 'flac']),
  labels: (v) => (typeof v === 'boolean' || (isPlain(v) && Object.entries(v).every(([k, n]) => /^\d+$/.test(k) && typeof n === 'string')) ? null : 'true, false or { "<uid>": "<name>" }'),
} satisfies Record<string, Check>;

/** libx264's presets (`-preset`). */
export const X264_PRESETS = ['ultrafast', 'superfast', 'veryfast', 'faster', 'fast', 'medium', 'slow', 'slower', 'veryslow', 'placebo'];
/** recmerge's own encoder settings (render/encode.ts), tuned on camera-like content: the default. */
export const TUNED_PRESET = 'recmerge';
export const DEFAULT_PRESET = TUNED_PRESET;
/** What `--preset` / `preset` accepts: recmerge's tuned settings or one of libx264's presets. */
export const PRESETS = [TUNED_PRESET, ...X264_PRESETS];

/** Modes per command: `merge` modes, and a composite's. */
export const MERGE_MODES: readonly MergeMode[] = ['av', 'audio', 'video', 'segments'];
export const COMPOSE_MODES: readonly ComposeMode[] = ['av', 'mix-audio'];

/**
 * Checks an options object against the table (every option it sets; unset ones are not checked) and
 * throws a UsageError that names each bad field. A field named like a property every object inherits
 * (`__proto__`, `constructor`, `isPrototypeOf`, ...) is refused: it can only be a mistake or an attack.
 */
export function checkOptions(options: object, extra: Partial<Record<string, Check>> = {}, label = 'option'): void {
  const problems: string[] = [];
  for (const key of Object.keys(options)) {
    if (key in Object.prototype || key === '__proto__' || key === 'prototype') problems.push(`${label} "${key}" is not an option (a name every object inherits)`);
  }
  const values = options as Record<string, unknown>;
  const checks: Record<string, Check | undefined> = { ...OPTION_CHECKS, ...extra };
  for (const [key, check] of Object.entries(checks)) {
    if (!check || !Object.hasOwn(values, key) || values[key] === undefined) continue;
    const expected = check(values[key]);
    if (expected) problems.push(`${key} must be ${expected} (got ${show(values[key])})`);
  }
  if (problems.length > 0) throw new UsageError(problems.join('; '));
}

function show(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/** A picture side rounded up to even (4:2:0 video needs even sizes). */
export const evenSide = (n: number) => Math.max(2, Math.ceil(n / 2) * 2);
