// Copy or re-encode: what each track of an output can keep (stream copy) and what must be re-encoded, with
// the reasons, the picture size and the output frame rate. Pure.
import { evenSide as even, type PlanOptions } from './options.js';
import { gapsBetween, maxOf } from './timeline.js';
import type { AudioPlan, AudioRun, GapMode, SliceMedia, VideoPlan, VideoRun } from './types.js';

export const DEFAULT_FPS = 15;

const displaySize = (r: Pick<VideoRun, 'rotation' | 'width' | 'height'>) => (r.rotation === 90 || r.rotation === 270 ? { w: r.height, h: r.width } : { w: r.width, h: r.height });

export function planVideo(runs: VideoRun[], durationMs: number, gapMode: GapMode, trimmed: boolean, options: PlanOptions): VideoPlan {
  let width = 0;
  let height = 0;
  for (const r of runs) {
    for (const rotation of [r.rotation, ...r.turns.map((t) => t.rotation)]) {
      const d = displaySize({ ...r, rotation });
      if (d.w * d.h > width * height) ({ w: width, h: height } = d);
    }
  }
  if (options.size) ({ width, height } = options.size);
  width = even(width);
  height = even(height);

  const gaps = gapsBetween(runs, durationMs);
  const reasons: string[] = [];
  if (options.transcode) reasons.push('--transcode was given');
  if (runs.some((r) => r.container === 'webm')) reasons.push('WebM/VP8 slices cannot be copied into MP4');
  const codecs = new Set(runs.map((r) => r.codec));
  if ([...codecs].some((c) => c !== 'h264')) reasons.push(`video codec ${[...codecs].join('/')} is not H.264`);
  if (new Set(runs.map((r) => `${r.width}x${r.height}`)).size > 1) reasons.push('the picture size changes');
  // One rotation for the whole output (a phone held turned) is copied and written as the MP4 display matrix;
  // a turn inside the output can only be shown by turning the pictures themselves.
  const rotations = new Set(runs.flatMap((r) => [r.rotation, ...r.turns.map((t) => t.rotation)]));
  if (rotations.size > 1) reasons.push('the rotation changes inside the output (a phone turned): pictures are turned upright');
  if (options.size && runs.some((r) => displaySize(r).w !== width || displaySize(r).h !== height)) reasons.push('--size differs from the source size');
  if (options.fps) reasons.push('--fps asks for a constant frame rate');
  const innerGaps = gaps.filter((g) => g.startMs > 0);
  if (gapMode === 'black' && innerGaps.length > 0) reasons.push('--gaps black needs black frames in the gaps');
  if (trimmed) reasons.push('trimming needs a frame-exact cut');
  if (runs.some((r) => r.width === 0 || r.height === 0)) reasons.push('the picture size is unknown');

  const path = reasons.length === 0 ? 'copy' : 'transcode';
  // Copied video keeps its own coded size (odd sizes included) and says how it is shown.
  if (path === 'copy') ({ width, height } = runs[0]!);
  const displayRotation = path === 'copy' ? runs[0]!.rotation : 0;
  const sourceFps = maxOf([0, ...runs.map((r) => r.fps ?? 0)]);
  const fps = options.fps ?? (path === 'copy' ? null : sourceFps > 0 ? Math.round(sourceFps * 1000) / 1000 : DEFAULT_FPS);
  return { runs, width, height, fps, path, reasons, gaps, displayRotation, ...(path === 'transcode' && options.chunk !== undefined ? { chunkS: options.chunk } : {}) };
}

export function planAudio(runs: AudioRun[], durationMs: number, trimmed: boolean, options: PlanOptions, media: Map<string, SliceMedia> | undefined): AudioPlan {
  const reasons: string[] = [];
  const changesInside = runs.flatMap((r) => r.slices.map((s) => s.key)).filter((key) => media?.get(key)?.audio?.changes === true);
  if (changesInside.length > 0) reasons.push(`the channel count changes inside ${changesInside.length === 1 ? 'a slice' : `${changesInside.length} slices`}`);
  if (options.transcode) reasons.push('--transcode was given');
  if (runs.some((r) => r.codec !== 'aac')) reasons.push('audio is not AAC');
  if (runs.some((r) => r.profile !== null && r.profile !== 'LC')) reasons.push('audio is not AAC-LC');
  if (new Set(runs.map((r) => `${r.sampleRate}/${r.channels}`)).size > 1) reasons.push('sample rate or channel count changes');
  if (trimmed) reasons.push('trimming needs a sample-exact cut');
  if (options.audioFormat === 'wav' || options.audioFormat === 'flac') reasons.push(`--audio-format ${options.audioFormat} is not AAC`);
  if (options.loudnorm !== undefined && options.loudnorm !== false) reasons.push('--loudnorm levels it');
  return { runs, path: reasons.length === 0 ? 'copy' : 'transcode', reasons, gaps: gapsBetween(runs, durationMs), changesInside };
}
