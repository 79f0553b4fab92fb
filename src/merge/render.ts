// A merge output plan -> its ffmpeg work: the input files (concat lists, lead cuts, a black lead, the placed
// AAC stream) and the arguments of the one ffmpeg run that writes the MP4. Built from the render layer.
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pLimit from 'p-limit';
import { rotationPieces } from '../core/runs.js';
import { type FrameRange, planChunks } from '../core/chunks.js';
import { runFfmpeg } from '../ffmpeg/runner.js';
import type { AudioPlan, AudioRun, GapMode, MergePath, OutputPlan, PlacedSlice, Rotation, VideoPlan } from '../core/types.js';
import { AudioCopyError, type PlacedAudio, writePlacedAdts } from '../media/audio-placer.js';
import type { LoudnessTarget } from '../core/loudness.js';
import { decideLevelling, levelFilters, measureLoudness, measureLoudnessFilter, placeAudio, silenceFrom } from '../render/audio.js';
import { concatList, copyJoinMs, copyTimeGrid, ffconcat, type LeadClip } from '../render/concat.js';
import { expectation, placedExpectation, type InputExpectation } from '../render/decoded.js';
import { audioFiles, blackLead, leadClipFrames, withLeadsCut } from '../render/leads.js';
import type { OutputWork } from '../pipeline/kind.js';
import { pieceSlices } from '../render/pieces.js';
import { displayRotationArgs, fitSize, shiftPts, uprightFilter } from '../render/picture.js';
import { displayRotationStyle, installedFfmpegMajor, type DisplayRotationStyle } from '../ffmpeg/version.js';
import { type EncodeSettings as VideoEncodeSettings, x264Args } from '../render/encode.js';
import { allSettledOrThrow } from '../render/settled.js';

/** `--also-audio` (the script's `-a`): the MP4's own audio track remuxed into an .m4a (no re-encoding). */
export const audioBesideArgs = (mp4: string, outFile: string) => [
  '-y', '-loglevel', 'error', '-i', mp4, '-map', '0:a:0', '-c', 'copy', '-map_metadata', '0', '-movflags', '+faststart', '-f', 'mp4', outFile,
];

const sec = (ms: number) => (ms / 1000).toFixed(6);
const frameAt = (ms: number, fps: number) => Math.round((ms / 1000) * fps);
/** Far enough from any output (s) for a frame placed there to stand for "before everything" / "never". */
const HOLD_S = 1e6;

/** One input of the transcode video graph: the part of a run shown with one rotation (a phone turned mid-run splits it). */
export interface VideoPiece {
  run: number;
  /** Output time [fromMs, toMs) the piece shows (toMs null: to the run's end). */
  fromMs: number;
  toMs: number | null;
  rotation: Rotation;
  /** The slices its input reads (from a slice that starts on a keyframe); the input's time 0 is the first one's start. */
  slices: PlacedSlice[];
}

/** The transcode path's video inputs: one per run, or one per rotation piece of a run that turns. */
export function videoPieces(video: VideoPlan): VideoPiece[] {
  return video.runs.flatMap((run, k) => {
    const pieces = rotationPieces(run);
    if (pieces.length === 1) return [{ run: k, ...pieces[0]!, slices: run.slices }];
    return pieces.map((p) => ({ run: k, ...p, slices: pieceSlices(run.slices, p.fromMs, p.toMs ?? run.endMs) }));
  });
}

/**
 * The transcode video graph. Each piece (one input each; `-reinit_filter 0`, so a size change inside a
 * stream is absorbed by `scale` instead of resetting the whole graph) is laid on a black canvas of the output
 * rate for the output frames its run owns: from the frame nearest its first picture up to the next run.
 * Frames keep their own timestamps, shifted by half an output frame, so each lands on the output frame
 * nearest its instant, an undecodable lead stays black, and nothing is renumbered. After a run's last frame
 * the picture is held (freeze) or the canvas shows (black). The pieces of a run that turns are laid over one
 * another, each turned upright on its own.
 */
/**
 * The output frame grid of the transcode path: the frames in all, and each run's segment (the output frames
 * it owns: from the frame nearest its offset to the next run's). A run shorter than half an output frame
 * gets no frame of its own; the others keep their exact starts.
 */
export function videoSegments(video: VideoPlan, durationMs: number): { total: number; starts: number[]; segments: Array<{ k: number; start: number; frames: number }> } {
  const fps = video.fps!;
  const total = Math.max(1, frameAt(durationMs, fps));
  const starts = video.runs.map((run, k) => (k === 0 ? 0 : Math.min(total, frameAt(run.offsetMs, fps))));
  const segments = video.runs.map((_, k) => ({ k, start: starts[k]!, frames: (starts[k + 1] ?? total) - starts[k]! })).filter((x) => x.frames > 0);
  return { total, starts, segments };
}

/**
 * The video inputs of the transcode graph, in input order: every piece (see videoPieces); for a chunk
 * (output frames [fromFrame, toFrame)) only the pieces of the runs it shows, each reading only the slices
 * that hold the chunk's time (from one that starts on a keyframe: see pieceSlices), a frame either side.
 */
export function graphPieces(video: VideoPlan, durationMs: number, chunk?: FrameRange): VideoPiece[] {
  const all = videoPieces(video);
  if (!chunk) return all;
  const fps = video.fps!;
  const { segments } = videoSegments(video, durationMs);
  return segments.flatMap(({ k, start, frames }) => {
    const from = Math.max(chunk.fromFrame, start);
    const to = Math.min(chunk.toFrame, start + frames);
    if (from >= to) return [];
    const [fromMs, toMs] = [((from - 1) * 1000) / fps, ((to + 1) * 1000) / fps];
    return all.filter((p) => p.run === k).map((p) => ({ ...p, slices: pieceSlices(p.slices, fromMs, toMs) }));
  });
}

export function videoGraph(video: VideoPlan, firstInput: number, durationMs: number, gapMode: GapMode, chunk?: FrameRange): string {
  const fps = video.fps!;
  const canvas = { width: video.width, height: video.height };
  const { starts, segments: all } = videoSegments(video, durationMs);
  const pieces = graphPieces(video, durationMs, chunk).map((p, i) => ({ ...p, input: firstInput + i }));
  // A chunk shows the part of each segment inside it: its frames [first, end) counted from the segment's start.
  const segments = all
    .map((x) => ({ ...x, run: video.runs[x.k]!, first: chunk ? Math.max(0, chunk.fromFrame - x.start) : 0, end: chunk ? Math.min(x.frames, chunk.toFrame - x.start) : x.frames }))
    .filter((x) => x.first < x.end);
  const cut = (x: { first: number; end: number }) => (x.first > 0 ? `trim=start_frame=${x.first}:end_frame=${x.end},setpts=PTS-STARTPTS` : `trim=end_frame=${x.end}`);
  const parts: string[] = [];
  segments.forEach((segment, n) => {
    const { run, k } = segment;
    const mine = pieces.filter((p) => p.run === k);
    mine.forEach((piece, j) => {
      const inputStartMs = piece.slices[0]!.offsetMs;
      const window = mine.length > 1
        ? [`trim=start=${sec(Math.max(0, piece.fromMs - inputStartMs))}${piece.toMs !== null ? `:end=${sec(piece.toMs - inputStartMs)}` : ''}`]
        : [];
      const fit = fitSize(run, piece.rotation, canvas);
      const chain = [
        ...window,
        `scale=${fit.width}:${fit.height}`,
        ...uprightFilter(piece.rotation),
        `pad=${canvas.width}:${canvas.height}:(ow-iw)/2:(oh-ih)/2:color=black`,
        'setsar=1',
        'format=yuv420p',
        shiftPts(inputStartMs / 1000 - starts[k]! / fps - 0.5 / fps),
      ];
      parts.push(`[${piece.input}:v:0]${chain.join(',')}[r${n}p${j}]`);
    });
    if (mine.length === 1) {
      // One piece (nearly every run): no canvas to lay it on. The frames go onto the output grid with `fps`
      // (round=up: output frame i shows the last frame shifted to at most i / fps, the rule overlay follows),
      // between black frames: one long before (the output frames before its first picture stay black), one
      // long after (the last picture is held up to the segment's end), and with --gaps black one at the run's
      // end. interleave hands frames on in microseconds: settb brings them back to 90 kHz (exact for TS and
      // WebM times and for the output grid) before fps rounds, so a frame half-way between two output frames
      // (a tie) goes to the earlier one as overlay's <= does, not to either by a microsecond's rounding.
      // An overlay on a black canvas gives the same frames at the cost of a full-frame blend each
      // (+50 % of the whole encode at 720p: see the README's re-encoding bench).
      const black = `color=c=black:s=${canvas.width}x${canvas.height}:r=${fps},format=yuv420p,trim=end_frame=1`;
      const at = [-HOLD_S, ...(gapMode === 'black' ? [run.endMs / 1000 - starts[k]! / fps - 0.5 / fps] : []), HOLD_S];
      const labels = at.map((t, j) => {
        parts.push(`${black},${shiftPts(t)}[b${n}_${j}]`);
        return `[b${n}_${j}]`;
      });
      const inputs = [labels[0], `[r${n}p0]`, ...labels.slice(1)];
      parts.push(`${inputs.join('')}interleave=nb_inputs=${inputs.length},settb=1/90000,fps=${fps}:start_time=0:round=up,${cut(segment)}[o${n}]`);
      return;
    }
    let below = `c${n}`;
    parts.push(`color=c=black:s=${canvas.width}x${canvas.height}:r=${fps},trim=end_frame=${segment.end}[${below}]`);
    mine.forEach((_, j) => {
      // Earlier pieces are held under later ones; the last one is held or not as the gap mode says.
      const last = j === mine.length - 1;
      const eof = !last || gapMode !== 'black' ? 'repeat' : 'pass';
      const out = last ? `o${n}` : `c${n}_${j}`;
      parts.push(`[${below}][r${n}p${j}]overlay=eof_action=${eof}:format=yuv420${last ? `,${cut(segment)}` : ''}[${out}]`);
      below = out;
    });
  });
  if (segments.length === 1) return parts.join(';').replace(/\[o0\]$/, '[vout]');
  parts.push(`${segments.map((_, n) => `[o${n}]`).join('')}concat=n=${segments.length}:v=1:a=0[vout]`);
  return parts.join(';');
}

/**
 * The transcode audio graph: one input per run (a run has one sample rate and channel count), each laid on
 * the output clock (see placeAudio) over the samples it owns: from its offset to the next run.
 */
export function audioGraph(audio: AudioPlan, firstInput: number, durationMs: number): string {
  const { rate, layout } = audioFormat(audio);
  const total = Math.max(1, Math.round((durationMs / 1000) * rate));
  const starts = audio.runs.map((run, k) => (k === 0 ? 0 : Math.min(total, Math.round((run.offsetMs / 1000) * rate))));
  const segments = audio.runs.map((run, k) => ({ run, k, samples: (starts[k + 1] ?? total) - starts[k]! })).filter((x) => x.samples > 0);
  const parts = segments.map(({ run, k, samples }, n) => {
    const chain = placeAudio({ rate, layout, channels: run.channels, startS: run.offsetMs / 1000 - starts[k]! / rate, samples });
    return `[${firstInput + k}:a:0]${chain.join(',')}[a${n}]`;
  });
  if (segments.length === 1) return parts[0]!.replace(/\[a0\]$/, '[aout]');
  parts.push(`${segments.map((_, n) => `[a${n}]`).join('')}concat=n=${segments.length}:v=0:a=1[aout]`);
  return parts.join(';');
}

export interface MergeInputs {
  /** Copy path: one concat list of all video slices. Transcode: one list per video piece (see videoPieces). */
  videoLists: string[];
  /** Output-time offset of the copy path's first video frame (an MP4 edit list delays it). */
  videoDelayMs: number;
  /** Placed ADTS file (audio copy path). */
  adtsFile: string | null;
  /**
   * Copy path: the placed ADTS is also decoded (see adtsDecodeArgs) so that frames whose payload does not
   * decode are found and named (their headers parse, so the copy alone would carry them silently).
   */
  decodeAdts?: boolean;
  /** Concat lists of audio slices, one per run (audio transcode path). */
  audioLists: string[];
  /** The transcoded video already encoded in chunks (see encodeChunks): a concat list of them, copied. */
  videoChunks?: string;
}

/** The index of a merge command's first audio input: after the video's (one list of chunks, or its lists). */
const firstAudioInput = (inputs: MergeInputs) => (inputs.videoChunks ? 1 : inputs.videoLists.length);

/** The video encoder's settings (render/encode.ts), and what only a merge has. */
export interface EncodeSettings extends VideoEncodeSettings {
  /** Filters that level the audio (--loudnorm: see levelFilters); the audio is then re-encoded. */
  level?: string[];
  /** How this ffmpeg writes a copied stream's display matrix (needed when the plan has a displayRotation). */
  rotationStyle?: DisplayRotationStyle;
}

/** Where the untrimmed timeline must reach: the output's end, or the trim window's end. */
const timelineEnd = (plan: OutputPlan) => (plan.trim ? plan.trim.fromMs + plan.trim.durationMs : plan.durationMs);

/** The output's audio rate and layout in the transcode graph: the highest rate, stereo when any run has two channels. */
export function audioFormat(audio: AudioPlan): { rate: number; layout: 'mono' | 'stereo' } {
  return { rate: audio.runs.reduce((r, run) => Math.max(r, run.sampleRate), 0) || 48000, layout: audio.runs.some((r) => r.channels >= 2) ? 'stereo' : 'mono' };
}

/**
 * The audio inputs of a merge (from input `index` on) and, when it is decoded, its graph ending in [aout]:
 * the placed ADTS copied as it is, or the transcode graph; either then levelled by `level` (--loudnorm).
 */
function audioPart(plan: OutputPlan, inputs: MergeInputs, index: number, level?: string[]): { args: string[]; graph: string | null; map: string } | null {
  const audio = plan.audio;
  if (!audio) return null;
  const levelled = level && level.length > 0 ? level : null;
  if (inputs.adtsFile) {
    const args = ['-f', 'aac', '-i', inputs.adtsFile];
    if (!levelled) return { args, graph: null, map: `${index}:a:0` };
    // The placed frames (a copy path that had to be re-encoded) decode to the output clock from their first sample.
    return { args, graph: `[${index}:a:0]${levelled.join(',')}[aout]`, map: '[aout]' };
  }
  if (inputs.audioLists.length === 0) return null;
  const args = inputs.audioLists.flatMap((list) => ['-reinit_filter', '0', '-f', 'concat', '-safe', '0', '-i', list]);
  const graph = audioGraph(audio, index, timelineEnd(plan));
  if (!levelled) return { args, graph, map: '[aout]' };
  return { args, graph: `${graph.replace(/\[aout\]$/, '[aplaced]')};[aplaced]${levelled.join(',')}[aout]`, map: '[aout]' };
}

/**
 * A measuring pass of a merge's audio (see measureLoudness): the same inputs and graph, levelled by
 * `level`, cut to the trim window, into loudnorm's report.
 */
export function mergeMeasureArgs(plan: OutputPlan, inputs: MergeInputs, level: string[], target: LoudnessTarget): string[] {
  const part = audioPart(plan, inputs, 0, ['anull'])!;
  const window = plan.trim ? [`atrim=start=${sec(plan.trim.fromMs)}:duration=${sec(plan.trim.durationMs)}`] : [];
  const { rate, layout } = audioFormat(plan.audio!);
  const graph = `${part.graph};[aout]${[...window, ...level, measureLoudnessFilter(target, rate, layout)].join(',')}[ameasured]`;
  return ['-y', '-loglevel', 'info', ...part.args, '-filter_complex', graph, '-map', '[ameasured]', '-f', 'null', '-'];
}

export function mergeArgs(plan: OutputPlan, inputs: MergeInputs, outFile: string, enc: EncodeSettings): string[] {
  const args: string[] = ['-y', '-loglevel', 'error'];
  const graph: string[] = [];
  const maps: string[] = [];
  const codecs: string[] = [];
  let index = 0;

  const video = plan.video;
  if (video && video.path === 'copy') {
    // A phone held turned the whole output: the pictures are copied as they are and the MP4 display matrix
    // shows them upright.
    const rotate = displayRotationArgs(video.displayRotation, enc.rotationStyle ?? 'metadata');
    args.push('-f', 'concat', '-safe', '0', ...rotate.input);
    if (inputs.videoDelayMs > 0) args.push('-itsoffset', sec(inputs.videoDelayMs));
    args.push('-i', inputs.videoLists[0]!);
    maps.push('-map', `${index}:v:0`);
    codecs.push('-c:v', 'copy', ...rotate.output);
    // Every timestamp goes on the copy grid (see copyTimeGrid). The track runs to the end of the timeline:
    // when the audio goes on after the picture ends, or B-frames make the packet decoded last end a reordering
    // delay early (an MP4 track ends at its last DTS + duration), that packet gets a duration up to the end,
    // so the last picture is shown and held. `pts=` is spelled out: ffmpeg 5.1's setts otherwise writes
    // PTS = DTS, and B-frames come out of order.
    const last = video.runs.at(-1)!;
    const frameS = 1 / (last.fps ?? 15);
    const endS = timelineEnd(plan) / 1000;
    const reorderS = (last.slices.at(-1)?.reorderMs ?? 0) / 1000;
    const grid = copyTimeGrid(video.runs[0]!.fps ?? 15);
    const onGrid = (ts: string) => `round(${ts}*TB*90000/${grid})*${grid}/(TB*90000)`;
    let duration = 'DURATION';
    if (endS - last.endMs / 1000 > frameS / 2 || reorderS > 0) {
      // Each such packet lasts up to the end from where it is shown (its PTS): the MP4 track ends at the latest
      // PTS + duration, so B-frames (shown after they are decoded) do not push it past the end.
      const from = (last.endMs / 1000 - reorderS - 1.5 * frameS).toFixed(6);
      duration = `if(gte(DTS*TB,${from}),(${endS.toFixed(6)}-${onGrid('PTS')}*TB)/TB,DURATION)`;
    }
    codecs.push('-bsf:v', `setts=pts='${onGrid('PTS')}':dts='${onGrid('DTS')}':duration='${duration}'`);
    index++;
  } else if (video && inputs.videoChunks) {
    args.push('-f', 'concat', '-safe', '0', '-i', inputs.videoChunks);
    maps.push('-map', `${index}:v:0`);
    codecs.push('-c:v', 'copy');
    index++;
  } else if (video) {
    for (const list of inputs.videoLists) args.push('-reinit_filter', '0', '-f', 'concat', '-safe', '0', '-i', list);
    graph.push(videoGraph(video, index, timelineEnd(plan), plan.gapMode));
    maps.push('-map', '[vout]');
    codecs.push(...x264Args(enc, video.fps!));
    index += inputs.videoLists.length;
  }

  const audio = audioPart(plan, inputs, index, enc.level);
  if (audio) {
    args.push(...audio.args);
    if (audio.graph) graph.push(audio.graph);
    maps.push('-map', audio.map);
    codecs.push(...(!audio.graph ? ['-c:a', 'copy'] : plan.audioFormat === 'wav' ? ['-c:a', 'pcm_s16le'] : plan.audioFormat === 'flac' ? ['-c:a', 'flac'] : ['-c:a', 'aac', '-b:a', '128k']));
  }

  if (graph.length > 0) args.push('-filter_complex', graph.join(';'));
  args.push(...maps, ...codecs);
  if (plan.trim) {
    if (plan.trim.fromMs > 0) args.push('-ss', sec(plan.trim.fromMs));
    args.push('-t', sec(plan.trim.durationMs));
  }
  // WAV and FLAC carry no creation time ffmpeg writes (the events sidecar has the origin).
  if (plan.audioFormat) args.push('-map_metadata', '-1', '-f', plan.audioFormat, outFile);
  else {
    args.push(
      '-map_metadata', '-1',
      '-metadata', `creation_time=${new Date(plan.originMs + (plan.trim?.fromMs ?? 0)).toISOString()}`,
      '-movflags', '+faststart',
      '-f', 'mp4',
      outFile,
    );
  }
  return args;
}

/**
 * The copied audio decoded once, whole (see MergeInputs.decodeAdts), by a second ffmpeg that runs beside the
 * one that writes the MP4 (on another core: ffmpeg 5.1 decodes and muxes in one thread); its input statistics
 * count as those of the MP4 command's input `input`. Null when nothing is copied (levelled audio is decoded anyway).
 */
export function adtsDecodeArgs(plan: OutputPlan, inputs: MergeInputs, level?: string[]): { args: string[]; input: number } | null {
  if (!plan.audio || !inputs.adtsFile || !inputs.decodeAdts || (level && level.length > 0)) return null;
  return { args: ['-y', '-loglevel', 'error', '-f', 'aac', '-i', inputs.adtsFile, '-map', '0:a:0', '-f', 'null', '-'], input: firstAudioInput(inputs) };
}

export type MergeWork = Pick<OutputWork, 'paths' | 'workDir' | 'cache' | 'preset' | 'threads' | 'signal'> &
  Partial<Pick<OutputWork, 'onProgress'>> & {
    /** Who encodes a chunked output's chunks (default: this machine's cores, see localChunks). */
    chunkEncoder?: ChunkEncoder;
  };

/** One chunk of a chunked output, as handed to a ChunkEncoder. */
export interface ChunkRequest {
  /** The output's id (PlannedOutput.id). */
  outputId: string;
  index: number;
  count: number;
  range: FrameRange;
  /** The hash of what the chunks are encoded from (chunkFingerprint): whoever encodes it must get the same. */
  fingerprint: string;
  /** Output seconds the chunk lasts. */
  durationMs: number;
}

/**
 * Encodes the chunks of one output and resolves to their files, in order: this machine's cores (localChunks),
 * or the queue's workers (queue/chunk-job.ts). `encodeLocally(c, file)` is the one encode of chunk c.
 */
export type ChunkEncoder = (
  chunks: ChunkRequest[],
  encodeLocally: (index: number, outFile: string, threads?: number, onProgress?: (outMs: number) => void) => Promise<void>,
  work: { workDir: string; signal?: AbortSignal; threads?: number; onProgress?: (positionMs: number, speed: number | null) => void },
) => Promise<string[]>;

/** One chunk's ffmpeg arguments: its pieces' inputs, the graph of its frames, video only, exactly its frames long. */
export function chunkArgs(video: VideoPlan, durationMs: number, gapMode: GapMode, chunk: FrameRange, lists: string[], outFile: string, enc: EncodeSettings): string[] {
  const args = ['-y', '-loglevel', 'error'];
  for (const list of lists) args.push('-reinit_filter', '0', '-f', 'concat', '-safe', '0', '-i', list);
  args.push('-filter_complex', videoGraph(video, 0, durationMs, gapMode, chunk), '-map', '[vout]', ...x264Args(enc, video.fps!));
  args.push('-frames:v', String(chunk.toFrame - chunk.fromFrame), '-an', '-map_metadata', '-1', '-f', 'mp4', outFile);
  return args;
}

/** The chunks of an output (the core's rule: planChunks) and the fingerprint of what they are encoded from. */
export function outputChunks(plan: OutputPlan): ChunkRequest[] {
  const video = plan.video;
  if (!video || video.path !== 'transcode' || video.chunkS === undefined || plan.trim) return [];
  const durationMs = timelineEnd(plan);
  const fps = video.fps!;
  const { total, segments } = videoSegments(video, durationMs);
  const ranges = planChunks(total, fps, video.chunkS, segments.map((x) => x.start));
  if (ranges.length < 2) return [];
  const fingerprint = createHash('sha256').update(JSON.stringify({ video, durationMs, gapMode: plan.gapMode, ranges })).digest('hex').slice(0, 24);
  return ranges.map((range, index) => ({ outputId: plan.id, index, count: ranges.length, range, fingerprint, durationMs: ((range.toFrame - range.fromFrame) * 1000) / fps }));
}

export class ChunkPlanError extends Error {
  override name = 'ChunkPlanError';
}

/**
 * Encodes chunk `index` of an output into `outFile` (the one encode of a chunk: the local path and a queue
 * chunk job both come here). `paths` must already have the lead cuts (withLeadsCut). With `fingerprint`, the
 * chunk is refused (ChunkPlanError) when this plan's chunks are not those it names.
 */
export async function encodeChunk(
  plan: OutputPlan,
  index: number,
  paths: Map<string, string>,
  outFile: string,
  work: { workDir: string; preset: string; threads?: number; signal?: AbortSignal; onProgress?: (outMs: number) => void },
  fingerprint?: string,
): Promise<void> {
  const chunks = outputChunks(plan);
  const chunk = chunks[index];
  if (!chunk || (fingerprint !== undefined && chunk.fingerprint !== fingerprint)) {
    throw new ChunkPlanError(`chunk ${index + 1} of ${plan.id}: this worker's plan of the output differs (${chunks.length} chunk(s), fingerprint ${chunks[0]?.fingerprint ?? 'none'}, asked ${fingerprint ?? 'any'}): refused rather than encoding other frames`);
  }
  const video = plan.video!;
  const durationMs = timelineEnd(plan);
  const lists: string[] = [];
  for (const [i, piece] of graphPieces(video, durationMs, chunk.range).entries()) {
    const file = path.join(work.workDir, `chunk-${index}-video-${i}.ffconcat`);
    await writeFile(file, concatList(piece.slices, paths, true));
    lists.push(file);
  }
  const enc: EncodeSettings = { preset: work.preset, threads: work.threads };
  await runFfmpeg(chunkArgs(video, durationMs, plan.gapMode, chunk.range, lists, outFile, enc), {
    signal: work.signal,
    onProgress: (p) => work.onProgress?.(p.outTimeMs),
  });
}

/** A queue chunk job's encode: chunk `index` of the output from the slices as had (`paths`: their lead cuts made here). */
export async function encodePlannedChunk(
  plan: OutputPlan,
  index: number,
  fingerprint: string,
  paths: Map<string, string>,
  outFile: string,
  work: { workDir: string; preset: string; threads?: number; signal?: AbortSignal; onProgress?: (outMs: number) => void },
): Promise<void> {
  const cut = plan.video ? await withLeadsCut(plan.video.runs.flatMap((r) => r.slices), paths, work.workDir) : paths;
  await encodeChunk(plan, index, cut, outFile, work, fingerprint);
}

/**
 * The default ChunkEncoder: every chunk at once on this machine's cores (each one libx264 thread when several
 * run), into the work folder.
 */
export const localChunks: ChunkEncoder = async (chunks, encodeLocally, work) => {
  const parallel = Math.max(1, Math.min(chunks.length, os.availableParallelism(), work.threads ?? os.availableParallelism()));
  const threads = parallel > 1 ? Math.max(1, Math.floor((work.threads ?? os.availableParallelism()) / parallel)) : work.threads;
  const done = new Map<number, number>();
  const limit = pLimit(parallel);
  return allSettledOrThrow(
    chunks.map((chunk) =>
      limit(async () => {
        const file = path.join(work.workDir, `chunk-${chunk.index}.mp4`);
        await encodeLocally(chunk.index, file, threads, (outMs) => {
          done.set(chunk.index, outMs);
          work.onProgress?.([...done.values()].reduce((a, b) => a + b, 0), null);
        });
        return file;
      }),
    ),
  );
};

/**
 * A long transcoded video in chunks (see outputChunks), encoded by the work's ChunkEncoder (default: at once
 * on the cores), then listed for the join by stream copy. Returns the list, or null when the output is one chunk.
 */
async function encodeChunks(plan: OutputPlan, paths: Map<string, string>, work: MergeWork): Promise<string | null> {
  const chunks = outputChunks(plan);
  if (chunks.length < 2) return null;
  const encodeLocally = (index: number, outFile: string, threads?: number, onProgress?: (outMs: number) => void) =>
    encodeChunk(plan, index, paths, outFile, { workDir: work.workDir, preset: work.preset, threads, signal: work.signal, onProgress });
  const files = await (work.chunkEncoder ?? localChunks)(chunks, encodeLocally, work);
  const list = path.join(work.workDir, 'video-chunks.ffconcat');
  await writeFile(list, ffconcat(files.map((file, i) => ({ file, durationMs: chunks[i]!.durationMs }))));
  return list;
}

/** Pieces of placed audio (see writePlacedAdts) as transcode runs: each from its first frame to the next piece. */
function piecesAsRuns(placed: PlacedAudio, frameMs: number): AudioRun[] {
  return placed.pieces.map((piece, i) => ({
    slices: [],
    offsetMs: piece.startFrame * frameMs,
    endMs: (placed.pieces[i + 1]?.startFrame ?? placed.frames) * frameMs,
    codec: 'aac',
    sampleRate: placed.sampleRate,
    channels: piece.config.channelConfig,
    profile: 'LC',
  }));
}

/**
 * Writes the inputs of one merge output into `work.workDir` and returns the ffmpeg arguments that write it
 * to `outFile`, with what was learnt on the way (warnings; the audio falls back to re-encoding when its
 * frames cannot be copied).
 */
export async function renderMerge(
  plan: OutputPlan,
  outFile: string,
  work: MergeWork,
  /** --loudnorm: the audio levelled to this (measured, then re-encoded). */
  loudness: LoudnessTarget | null = null,
): Promise<{ args: string[]; decode: { args: string[]; input: number } | null; warnings: string[]; videoPath: MergePath | null; audioPath: MergePath | null; expected: (InputExpectation | null)[] }> {
  const { workDir } = work;
  const warnings: string[] = [];
  const inputs: MergeInputs = { videoLists: [], videoDelayMs: 0, adtsFile: null, audioLists: [] };
  /** What each ffmpeg input should give (held against what ffmpeg read: see render/decoded.ts). */
  const expected: (InputExpectation | null)[] = [];
  const list = async (name: string, text: string) => {
    const file = path.join(workDir, name);
    await writeFile(file, text);
    return file;
  };
  const video = plan.video;
  // The video's inputs and the audio's are made at once (a black lead and a silent frame are each an ffmpeg
  // run; the audio is read and placed in Node): the audio's expectations are numbered once the video's inputs are known.
  const videoInputs = async () => {
    if (!video) return;
    const paths = await withLeadsCut(video.runs.flatMap((r) => r.slices), work.paths, workDir);
    if (video.path === 'copy') {
      // Black before a late first picture: players show the first frame during an MP4 empty edit.
      const first = video.runs[0]!;
      const fps = first.fps ?? 15;
      let lead: LeadClip | undefined;
      const frameMs = 1000 / fps;
      const firstSlice = first.slices[0]!;
      // The lead shows its black frames (one a second, from 0) up to the copy path's join with the first slice
      // (at least its first frame: a lead shorter than the first slice's reordering delay keeps main's behaviour).
      const leadShowsMs = copyJoinMs(0, firstSlice, { frameMs }, true);
      if (first.offsetMs >= frameMs) {
        const file = path.join(workDir, 'black-lead.ts');
        const clip = await blackLead(first, first.offsetMs, work.cache, work.signal);
        await writeFile(file, clip.data);
        lead = { file, durationMs: first.offsetMs, startS: clip.startS, showsMs: Math.min(first.offsetMs, Math.max(1, leadShowsMs)) };
      } else {
        inputs.videoDelayMs = first.offsetMs;
      }
      const slices = video.runs.flatMap((r) => r.slices);
      inputs.videoLists.push(await list('video-0.ffconcat', concatList(slices, paths, true, lead, { frameMs })));
      expected.push(expectation(0, 'video', slices, { leadFrames: lead ? leadClipFrames(lead.showsMs!) : 0, copy: { frameMs } }));
    } else if ((inputs.videoChunks = (await encodeChunks(plan, paths, work)) ?? undefined)) {
      // Encoded in chunks: the final pass copies them (what ffmpeg read was read by the chunks' passes).
    } else {
      for (const [i, piece] of videoPieces(video).entries()) {
        inputs.videoLists.push(await list(`video-${i}.ffconcat`, concatList(piece.slices, paths, true)));
        expected.push(expectation(i, 'video', piece.slices, { untilMs: piece.toMs ?? Infinity }));
      }
    }
  };

  let audioPath: MergePath | null = plan.audio?.path ?? null;
  let audioPlan = plan.audio;
  /** The audio's expectations, given the index of its first input. */
  let audioExpected: (first: number) => (InputExpectation | null)[] = () => [];
  const audioInputs = async () => {
    if (!plan.audio) return;
    const slices = plan.audio.runs.flatMap((r) => r.slices);
    const silence = silenceFrom(work.cache, work.signal);
    const endMs = timelineEnd(plan);
    if (plan.audio.path === 'copy') {
      const adts = path.join(workDir, 'audio.aac');
      try {
        // On the session's clock every user's track holds exactly the frames up to the session's end (same length).
        const placed = await writePlacedAdts(slices, work.paths, adts, silence, work.signal, endMs, undefined, plan.aligned === true);
        warnings.push(...placed.warnings);
        inputs.adtsFile = adts;
        inputs.decodeAdts = true;
        audioExpected = (first) => [placedExpectation(first, slices, placed)];
      } catch (error) {
        if (!(error instanceof AudioCopyError)) throw error;
        warnings.push(`audio is re-encoded: ${error.message}`);
        audioPath = 'transcode';
      }
    } else if (plan.audio.changesInside.length > 0) {
      // The channel count changes inside a slice: ffmpeg cannot change an input's layout mid-stream, so
      // the frames are laid on the wall clock in Node and split at every change, one input per piece.
      const placed = await writePlacedAdts(slices, work.paths, path.join(workDir, 'audio-piece-0.aac'), silence, work.signal, endMs, (i) =>
        path.join(workDir, `audio-piece-${i}.aac`),
      );
      warnings.push(...placed.warnings);
      audioPlan = { ...plan.audio, runs: piecesAsRuns(placed, (1024 / placed.sampleRate) * 1000) };
      for (const [i, piece] of placed.pieces.entries()) inputs.audioLists.push(await list(`audio-${i}.ffconcat`, ffconcat([{ file: piece.file }])));
    }
    if (!inputs.adtsFile && inputs.audioLists.length === 0) {
      const audioPaths = await audioFiles(slices, work.paths, workDir);
      const runs = plan.audio.runs;
      for (const [i, run] of runs.entries()) inputs.audioLists.push(await list(`audio-${i}.ffconcat`, concatList(run.slices, audioPaths, true)));
      audioExpected = (first) => runs.map((run, i) => expectation(first + i, 'audio', run.slices, { sampleRate: run.sampleRate }));
    }
  };
  await allSettledOrThrow([videoInputs(), audioInputs()]);
  expected.push(...audioExpected(firstAudioInput(inputs)));
  const planned = { ...plan, audio: audioPlan };
  let level: string[] | undefined;
  if (loudness && audioPlan && (inputs.adtsFile || inputs.audioLists.length > 0)) {
    // --loudnorm: measured first (audio only), then levelled as it is encoded; the video is untouched.
    const { rate, layout } = audioFormat(audioPlan);
    const levelling = await decideLevelling(loudness, (filters) => measureLoudness(mergeMeasureArgs(planned, inputs, filters, loudness), work.signal), rate, layout);
    if (levelling) {
      level = levelFilters(levelling, loudness, rate, layout);
      audioPath = 'transcode';
    } else warnings.push('--loudnorm: the audio holds nothing to level (silence); left as it is');
  }
  const rotationStyle = video?.path === 'copy' && video.displayRotation !== 0 ? displayRotationStyle(await installedFfmpegMajor(work.signal)) : undefined;
  const args = mergeArgs(planned, inputs, outFile, { preset: work.preset, threads: work.threads, level, ...(rotationStyle ? { rotationStyle } : {}) });
  return { args, decode: adtsDecodeArgs(planned, inputs, level), warnings, videoPath: video?.path ?? null, audioPath, expected };
}
