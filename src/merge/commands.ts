// Output plan -> ffmpeg inputs, filter graph and arguments. Pure: the executor writes the files.
import type { AudioPlan, GapMode, OutputPlan, PlacedSlice, VideoPlan, VideoRun } from '../core/types.js';

export const DEFAULT_PRESET = 'veryfast';

const sec = (ms: number) => (ms / 1000).toFixed(6);

/** Quotes a path for an ffconcat `file` line (any character, quotes and newlines included). */
export function concatQuote(file: string): string {
  if (/[\n\r]/.test(file)) throw new Error(`${file}: file names with line breaks cannot be concatenated`);
  return `'${file.replace(/'/g, `'\\''`)}'`;
}

/**
 * An ffconcat list that places each slice at its output offset: every entry lasts until the next
 * slice starts (so a gap holds the last frame), and a slice that overlaps the next is cut there.
 */
export function concatList(slices: PlacedSlice[], paths: Map<string, string>, cutOverlaps: boolean): string {
  const lines = ['ffconcat version 1.0'];
  slices.forEach((s, i) => {
    const next = slices[i + 1];
    const path = paths.get(s.key);
    if (!path) throw new Error(`${s.key}: no local file`);
    lines.push(`file ${concatQuote(path)}`);
    lines.push(`duration ${sec(next ? next.offsetMs - s.offsetMs : s.slotMs)}`);
    if (cutOverlaps && s.slotMs < s.durationMs - 1) lines.push(`outpoint ${sec(s.slotMs)}`);
  });
  return lines.join('\n') + '\n';
}

const frameAt = (ms: number, fps: number) => Math.round((ms / 1000) * fps);

/** Filters that turn a picture that was rotated anticlockwise by `rotation` back upright. */
export function uprightFilter(rotation: VideoRun['rotation']): string[] {
  switch (rotation) {
    case 90:
      return ['transpose=clock'];
    case 180:
      return ['hflip', 'vflip'];
    case 270:
      return ['transpose=cclock'];
    default:
      return [];
  }
}

/**
 * The transcode video graph: each run (one input each) is turned upright, scaled into the canvas
 * keeping its aspect ratio (padded, never stretched), set to the output rate, then padded in time
 * up to the next run: the last frame held (freeze) or black. Runs are then concatenated; every run
 * starts on the output frame nearest its wall-clock offset, so nothing drifts however many runs.
 */
export function videoGraph(video: VideoPlan, firstInput: number, durationMs: number, gapMode: GapMode): string {
  const fps = video.fps!;
  const { width: w, height: h } = video;
  const total = Math.max(1, frameAt(durationMs, fps));
  const starts = video.runs.map((run, k) => (k === 0 ? 0 : Math.min(total, frameAt(run.offsetMs, fps))));
  // A run shorter than half an output frame gets no frame of its own; the others keep their exact starts.
  const segments = video.runs
    .map((run, k) => ({ run, k, frames: (starts[k + 1] ?? total) - starts[k]! }))
    .filter((x) => x.frames > 0);
  const hold = gapMode === 'black' ? 'stop_mode=add:color=black' : 'stop_mode=clone';
  const parts = segments.map(({ run, k, frames }, n) => {
    const lead = n === 0 ? Math.min(frames, frameAt(run.offsetMs, fps)) : 0;
    const chain = [
      ...uprightFilter(run.rotation),
      `scale=${w}:${h}:force_original_aspect_ratio=decrease:force_divisible_by=2`,
      `pad=${w}:${h}:(ow-iw)/2:(oh-ih)/2:color=black`,
      'setsar=1',
      'format=yuv420p',
      `fps=${fps}`,
      ...(lead > 0 ? [`tpad=start=${lead}:start_mode=add:color=black`] : []),
      `tpad=stop=${frames + 2}:${hold}`,
      `trim=end_frame=${frames}`,
      'setpts=N/FRAME_RATE/TB',
    ];
    return `[${firstInput + k}:v:0]${chain.join(',')}[v${n}]`;
  });
  if (parts.length === 1) return parts[0]!.replace(/\[v0\]$/, '[vout]');
  parts.push(`${segments.map((_, n) => `[v${n}]`).join('')}concat=n=${segments.length}:v=1:a=0[vout]`);
  return parts.join(';');
}

/** The transcode audio graph: one placed input; gaps become silence, the start is padded from 0. */
export function audioGraph(audio: AudioPlan, input: number, durationMs: number): string {
  const rate = Math.max(...audio.runs.map((r) => r.sampleRate)) || 48000;
  return (
    `[${input}:a:0]aresample=${rate}:async=1:min_hard_comp=0.010:first_pts=0,` +
    `apad=whole_dur=${sec(durationMs)},atrim=end=${sec(durationMs)}[aout]`
  );
}

export interface MergeInputs {
  /** Copy path: one concat list of all video slices. Transcode: one list per run. */
  videoLists: string[];
  /** Output-time offset of the first video frame (copy path; the MP4 edit list delays it). */
  videoDelayMs: number;
  /** Placed ADTS file (audio copy path). */
  adtsFile: string | null;
  /** Concat list of audio slices (audio transcode path). */
  audioList: string | null;
  /** Output-time offset of the first audio slice (transcode path; silence fills up to it). */
  audioDelayMs: number;
}

export interface EncodeSettings {
  preset: string;
  threads?: number;
}

/** Where the untrimmed timeline must reach: the output's end, or the trim window's end. */
const timelineEnd = (plan: OutputPlan) => (plan.trim ? plan.trim.fromMs + plan.trim.durationMs : plan.durationMs);

export function mergeArgs(plan: OutputPlan, inputs: MergeInputs, outFile: string, enc: EncodeSettings): string[] {
  const args: string[] = ['-y', '-loglevel', 'error'];
  const graph: string[] = [];
  const maps: string[] = [];
  const codecs: string[] = [];
  let index = 0;

  const video = plan.video;
  if (video && video.path === 'copy') {
    args.push('-f', 'concat', '-safe', '0');
    if (inputs.videoDelayMs > 0) args.push('-itsoffset', sec(inputs.videoDelayMs));
    args.push('-i', inputs.videoLists[0]!);
    maps.push('-map', `${index}:v:0`);
    codecs.push('-c:v', 'copy');
    index++;
  } else if (video) {
    for (const list of inputs.videoLists) args.push('-f', 'concat', '-safe', '0', '-i', list);
    graph.push(videoGraph(video, index, timelineEnd(plan), plan.gapMode));
    maps.push('-map', '[vout]');
    codecs.push('-c:v', 'libx264', '-preset', enc.preset, '-crf', '23', '-pix_fmt', 'yuv420p', '-r', String(video.fps));
    if (enc.threads) codecs.push('-threads', String(enc.threads));
    index += inputs.videoLists.length;
  }

  const audio = plan.audio;
  if (audio && inputs.adtsFile) {
    args.push('-f', 'aac', '-i', inputs.adtsFile);
    maps.push('-map', `${index}:a:0`);
    codecs.push('-c:a', 'copy');
  } else if (audio && inputs.audioList) {
    args.push('-f', 'concat', '-safe', '0');
    if (inputs.audioDelayMs > 0) args.push('-itsoffset', sec(inputs.audioDelayMs));
    args.push('-i', inputs.audioList);
    graph.push(audioGraph(audio, index, timelineEnd(plan)));
    maps.push('-map', '[aout]');
    codecs.push('-c:a', 'aac', '-b:a', '128k');
  }

  if (graph.length > 0) args.push('-filter_complex', graph.join(';'));
  args.push(...maps, ...codecs);
  if (plan.trim) {
    if (plan.trim.fromMs > 0) args.push('-ss', sec(plan.trim.fromMs));
    args.push('-t', sec(plan.trim.durationMs));
  }
  args.push(
    '-map_metadata', '-1',
    '-metadata', `creation_time=${new Date(plan.originMs + (plan.trim?.fromMs ?? 0)).toISOString()}`,
    '-movflags', '+faststart',
    '-f', 'mp4',
    outFile,
  );
  return args;
}
