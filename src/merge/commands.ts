// Output plan -> ffmpeg inputs, filter graph and arguments. Pure: the executor writes the files.
import type { AudioPlan, GapMode, OutputPlan, PlacedSlice, Rotation, VideoPlan, VideoRun } from '../core/types.js';

export const DEFAULT_PRESET = 'veryfast';

const sec = (ms: number) => (ms / 1000).toFixed(6);

/** Quotes a path for an ffconcat `file` line (any character, quotes and newlines included). */
export function concatQuote(file: string): string {
  if (/[\n\r]/.test(file)) throw new Error(`${file}: file names with line breaks cannot be concatenated`);
  return `'${file.replace(/'/g, `'\\''`)}'`;
}

/**
 * An ffconcat list that places each slice at its output offset: every entry lasts until the next
 * slice starts (so a gap holds the last frame). A slice whose media runs into the next one's time is
 * cut there: ffconcat out points are in the slice's own timestamps, so they need its measured start.
 * `lead` puts a clip (black frames) before the first slice, lasting up to it.
 */
export function concatList(
  slices: PlacedSlice[],
  paths: Map<string, string>,
  cutOverlaps: boolean,
  lead?: { file: string; durationMs: number; startS: number },
): string {
  const lines = ['ffconcat version 1.0'];
  // The lead clip may hold more frames than it should show (a clip of one or two frames cannot be probed).
  if (lead) lines.push(`file ${concatQuote(lead.file)}`, `duration ${sec(lead.durationMs)}`, `outpoint ${(lead.startS + lead.durationMs / 1000).toFixed(6)}`);
  slices.forEach((s, i) => {
    const next = slices[i + 1];
    const path = paths.get(s.key);
    if (!path) throw new Error(`${s.key}: no local file`);
    lines.push(`file ${concatQuote(path)}`);
    lines.push(`duration ${sec(next ? next.offsetMs - s.offsetMs : s.slotMs)}`);
    if (cutOverlaps && next && s.mediaStartS !== undefined && s.slotMs < s.durationMs - 0.5) {
      lines.push(`outpoint ${(s.mediaStartS + s.slotMs / 1000).toFixed(6)}`);
    }
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

const even = (n: number) => Math.max(2, Math.round(n / 2) * 2);
const sideways = (rotation: Rotation) => rotation === 90 || rotation === 270;

/** The coded size a run's pictures are scaled to so that, once turned upright, they fit the canvas. */
export function fitSize(run: { width: number; height: number }, rotation: Rotation, canvas: { width: number; height: number }): { width: number; height: number } {
  const [dw, dh] = sideways(rotation) ? [run.height, run.width] : [run.width, run.height];
  const f = Math.min(canvas.width / Math.max(1, dw), canvas.height / Math.max(1, dh));
  const w = Math.min(canvas.width, even(dw * f));
  const h = Math.min(canvas.height, even(dh * f));
  return sideways(rotation) ? { width: h, height: w } : { width: w, height: h };
}

/** A run's pictures by rotation: [from, to) in the run's own time (seconds from its first slice). */
export function rotationPieces(run: VideoRun): { fromS: number; toS: number | null; rotation: Rotation }[] {
  const pieces: { fromS: number; toS: number | null; rotation: Rotation }[] = [{ fromS: 0, toS: null, rotation: run.rotation }];
  for (const t of run.turns) {
    const at = Math.max(0, (t.atMs - run.offsetMs) / 1000);
    const last = pieces.at(-1)!;
    if (at <= last.fromS) last.rotation = t.rotation;
    else {
      last.toS = at;
      pieces.push({ fromS: at, toS: null, rotation: t.rotation });
    }
  }
  return pieces;
}

/**
 * The transcode video graph. Each run (one input each; `-reinit_filter 0`, so a size change inside a
 * stream is absorbed by `scale` instead of resetting the whole graph) is overlaid on a black canvas of
 * the output rate for the output frames it owns: from the frame nearest its first picture up to the next
 * run. Frames keep their own timestamps, shifted by half an output frame, so each lands on the output
 * frame nearest its instant, an undecodable lead stays black, and nothing is renumbered. After a run's
 * last frame the picture is held (freeze) or the canvas shows (black). A turn inside a run (a phone
 * turned mid-slice) splits it into pieces with their own rotation, each laid over the one before.
 */
export function videoGraph(video: VideoPlan, firstInput: number, durationMs: number, gapMode: GapMode): string {
  const fps = video.fps!;
  const canvas = { width: video.width, height: video.height };
  const total = Math.max(1, frameAt(durationMs, fps));
  const starts = video.runs.map((run, k) => (k === 0 ? 0 : Math.min(total, frameAt(run.offsetMs, fps))));
  // A run shorter than half an output frame gets no frame of its own; the others keep their exact starts.
  const segments = video.runs
    .map((run, k) => ({ run, k, frames: (starts[k + 1] ?? total) - starts[k]! }))
    .filter((x) => x.frames > 0);
  const parts: string[] = [];
  segments.forEach(({ run, k, frames }, n) => {
    const shift = run.offsetMs / 1000 - starts[k]! / fps - 0.5 / fps;
    const pieces = rotationPieces(run);
    const labels = pieces.map((_, j) => `r${n}p${j}`);
    const source = `[${firstInput + k}:v:0]`;
    if (pieces.length > 1) parts.push(`${source}split=${pieces.length}${labels.map((l) => `[${l}in]`).join('')}`);
    pieces.forEach((piece, j) => {
      const fit = fitSize(run, piece.rotation, canvas);
      const window = pieces.length > 1 ? [`trim=start=${piece.fromS.toFixed(6)}${piece.toS !== null ? `:end=${piece.toS.toFixed(6)}` : ''}`] : [];
      const chain = [
        ...window,
        `scale=${fit.width}:${fit.height}`,
        ...uprightFilter(piece.rotation),
        `pad=${canvas.width}:${canvas.height}:(ow-iw)/2:(oh-ih)/2:color=black`,
        'setsar=1',
        'format=yuv420p',
        `setpts=PTS${shift >= 0 ? '+' : '-'}${Math.abs(shift).toFixed(6)}/TB`,
      ];
      parts.push(`${pieces.length > 1 ? `[${labels[j]}in]` : source}${chain.join(',')}[${labels[j]}]`);
    });
    let below = `c${n}`;
    parts.push(`color=c=black:s=${canvas.width}x${canvas.height}:r=${fps},trim=end_frame=${frames}[${below}]`);
    pieces.forEach((_, j) => {
      // Earlier pieces are held under later ones; the last one is held or not as the gap mode says.
      const eof = j < pieces.length - 1 || gapMode !== 'black' ? 'repeat' : 'pass';
      const out = j === pieces.length - 1 ? `o${n}` : `c${n}_${j}`;
      parts.push(`[${below}][${labels[j]}]overlay=eof_action=${eof}:format=yuv420${j === pieces.length - 1 ? `,trim=end_frame=${frames}` : ''}[${out}]`);
      below = out;
    });
  });
  if (segments.length === 1) return parts.join(';').replace(/\[o0\]$/, '[vout]');
  parts.push(`${segments.map((_, n) => `[o${n}]`).join('')}concat=n=${segments.length}:v=1:a=0[vout]`);
  return parts.join(';');
}

/**
 * The transcode audio graph: one input per run (a run has one sample rate and channel count), each
 * converted to the output layout and laid, by its timestamps, over the samples it owns: from its
 * offset to the next run, silence before and after. Gaps inside a run are filled by aresample.
 */
export function audioGraph(audio: AudioPlan, firstInput: number, durationMs: number): string {
  const rate = Math.max(...audio.runs.map((r) => r.sampleRate)) || 48000;
  const layout = audio.runs.some((r) => r.channels >= 2) ? 'stereo' : 'mono';
  const total = Math.max(1, Math.round((durationMs / 1000) * rate));
  const starts = audio.runs.map((run, k) => (k === 0 ? 0 : Math.min(total, Math.round((run.offsetMs / 1000) * rate))));
  const segments = audio.runs.map((run, k) => ({ run, k, samples: (starts[k + 1] ?? total) - starts[k]! })).filter((x) => x.samples > 0);
  const parts = segments.map(({ run, k, samples }, n) => {
    const shift = run.offsetMs / 1000 - starts[k]! / rate;
    return (
      `[${firstInput + k}:a:0]aformat=sample_fmts=fltp:sample_rates=${rate}:channel_layouts=${layout},` +
      `asetpts=PTS${shift >= 0 ? '+' : '-'}${Math.abs(shift).toFixed(6)}/TB,` +
      `aresample=async=1:min_hard_comp=0.010:first_pts=0,apad=whole_len=${samples},atrim=end_sample=${samples}[a${n}]`
    );
  });
  if (segments.length === 1) return parts[0]!.replace(/\[a0\]$/, '[aout]');
  parts.push(`${segments.map((_, n) => `[a${n}]`).join('')}concat=n=${segments.length}:v=0:a=1[aout]`);
  return parts.join(';');
}

export interface MergeInputs {
  /** Copy path: one concat list of all video slices. Transcode: one list per run. */
  videoLists: string[];
  /** Output-time offset of the copy path's first video frame (an MP4 edit list delays it). */
  videoDelayMs: number;
  /** Placed ADTS file (audio copy path). */
  adtsFile: string | null;
  /** Concat lists of audio slices, one per run (audio transcode path). */
  audioLists: string[];
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
    for (const list of inputs.videoLists) args.push('-reinit_filter', '0', '-f', 'concat', '-safe', '0', '-i', list);
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
  } else if (audio && inputs.audioLists.length > 0) {
    for (const list of inputs.audioLists) args.push('-reinit_filter', '0', '-f', 'concat', '-safe', '0', '-i', list);
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
