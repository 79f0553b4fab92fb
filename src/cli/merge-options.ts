// The merge and storage flags, shared by `merge` and `enqueue`, and their translation to library options.
import { type Command, InvalidArgumentError, Option } from 'commander';
import type { AlignClock, AudioFormat, GapMode, MergeMode, NameStyle } from '../core/types.js';
import type { PlanOptions, StorageOptions } from '../options.js';
import { DEFAULT_PRESET, TUNED_PRESET } from '../core/options.js';

const number = (what: string) => (value: string) => {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError(`${what} must be a number.`);
  return n;
};

const integer = (what: string) => (value: string) => {
  const n = number(what)(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${what} must be a whole number of 1 or more.`);
  return n;
};

export function parseSize(value: string): { width: number; height: number } {
  const m = /^(\d+)[x:](\d+)$/i.exec(value.trim());
  if (!m) throw new InvalidArgumentError('size must look like 1280x720.');
  return { width: Number(m[1]), height: Number(m[2]) };
}

/** `--loudnorm [LUFS]` (merge and compose): true alone, else the target. */
export const loudnormOption = (what: string) =>
  new Option('--loudnorm [LUFS]', `level ${what} to EBU R128: -16 LUFS (or this target), true peak -1.5 dBTP; only audio is re-encoded`).argParser(number('loudnorm'));

export function addPlanOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--mode <mode>', 'av: one MP4 per user; audio: .m4a; video: video-only MP4; segments: a file per presence').choices(['av', 'audio', 'video', 'segments']).default('av'))
    .addOption(new Option('--gaps <how>', 'fill absences with the last frame (freeze), black, or cut them out').choices(['freeze', 'black', 'cut']).default('freeze'))
    .option('--size <WxH>', 'output size (default: the largest slice size; smaller pictures are fitted, never stretched)', parseSize)
    .option('--fps <n>', 'constant output frame rate (default: keep the source rate)', number('fps'))
    .option('--uid <uid...>', 'only these UIDs')
    .option('--from <seconds>', 'trim: start this many seconds into the output', number('from'))
    .option('--duration <seconds>', 'trim: keep this many seconds', number('duration'))
    .option('--join-sessions', 'join the same cname+uid across recording sessions (sids) into one file')
    .option('--split-gap <seconds>', 'segments mode: an absence longer than this starts a new file', number('split-gap'), 15)
    .addOption(new Option('--names <style>', "output names: recmerge's, or the service script's (<uid>_0_merge_av.mp4 ...)").choices(['recmerge', 'script']).default('recmerge'))
    .option('--max-gap <hours>', 'an absence longer than this splits a user into separate outputs', number('max-gap'), 24)
    .option('--max-span <hours>', "refuse a user's output that would span more than this", number('max-span'), 48)
    .addOption(new Option('--align <clock>', "mode audio: user: from the user's first instant; session: every user on the session's clock (same origin and length, silence where absent)").choices(['user', 'session']).default('user'))
    .addOption(new Option('--audio-format <format>', 'mode audio: m4a (AAC), wav (PCM 16-bit) or flac').choices(['m4a', 'wav', 'flac']).default('m4a'))
    .option('--transcode', 'always re-encode (default: stream-copy whatever can be copied)')
    .addOption(loudnormOption("each user's audio"))
    .option('--chunk <seconds>', 're-encoded video longer than this is encoded in chunks of about this length at once on the cores, then joined', number('chunk'))
    .option('--preset <preset>', `encoder settings for re-encoding: ${TUNED_PRESET} (tuned, see README) or an x264 preset`, DEFAULT_PRESET);
}

export function addStorageOptions(cmd: Command): Command {
  return cmd
    .option('--endpoint <url>', 'S3-compatible endpoint (MinIO, OSS, COS, ...)')
    .option('--region <region>', 'S3 region')
    .option('--path-style', 'path-style S3 addressing (MinIO and most self-hosted stores)')
    .option('--download-concurrency <n>', 'parallel downloads', integer('download-concurrency'), 16)
    .option('--cache <dir>', 'download cache folder (default: <out>/.recmerge-cache)')
    .option('--keep-downloads', 'keep the download cache after the run');
}

export interface PlanFlags {
  mode: MergeMode;
  gaps: GapMode;
  size?: { width: number; height: number };
  fps?: number;
  uid?: string[];
  from?: number;
  duration?: number;
  joinSessions?: boolean;
  splitGap: number;
  names: NameStyle;
  transcode?: boolean;
  chunk?: number;
  preset: string;
  maxGap: number;
  maxSpan: number;
  align?: AlignClock;
  audioFormat?: AudioFormat;
  loudnorm?: boolean | number;
}

export interface StorageFlags {
  endpoint?: string;
  region?: string;
  pathStyle?: boolean;
  downloadConcurrency: number;
  cache?: string;
  keepDownloads?: boolean;
}

export function planOptionsFrom(flags: PlanFlags): PlanOptions & { preset: string } {
  return {
    mode: flags.mode,
    gaps: flags.gaps,
    size: flags.size,
    fps: flags.fps,
    uids: flags.uid,
    from: flags.from,
    duration: flags.duration,
    joinSessions: flags.joinSessions ?? false,
    splitGap: flags.splitGap,
    names: flags.names,
    transcode: flags.transcode ?? false,
    chunk: flags.chunk,
    preset: flags.preset,
    maxGapHours: flags.maxGap,
    maxSpanHours: flags.maxSpan,
    align: flags.align,
    audioFormat: flags.audioFormat,
    loudnorm: flags.loudnorm,
  };
}

export function storageOptionsFrom(flags: StorageFlags): StorageOptions {
  return {
    endpoint: flags.endpoint,
    region: flags.region,
    forcePathStyle: flags.pathStyle,
    downloadConcurrency: flags.downloadConcurrency,
    cacheDir: flags.cache,
    keepDownloads: flags.keepDownloads,
  };
}
