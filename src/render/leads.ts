// What a copied or decoded run shows before its first picture: TS slices with an undecodable lead (the run
// starts mid-GOP) are read from a copy that starts at the keyframe, and a copied video that starts late gets
// black frames up to its first picture (players show the first frame during an MP4 empty edit). A muxed A+V
// slice (raw mode) is read by each track from a copy of its own stream; a TS slice too small for ffmpeg's
// format probe from a copy padded with null packets.
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { PlacedSlice } from '../core/types.js';
import { runFfmpeg } from '../ffmpeg/runner.js';
import { scanTs } from '../media/ts-scan.js';
import { dropLeadBeforeKeyframe, MIN_PROBED_TS_BYTES, padForProbe, streamOnly } from '../media/ts-trim.js';

/**
 * The video files of slices: TS slices with an undecodable lead (see PlacedSlice.leadMs) are read from a copy
 * that starts at the keyframe; a slice that also holds audio (raw mode's muxed A+V) from a copy of its video
 * alone, so that its first timestamp is the video's own (where the plan placed it); a TS slice too small for
 * ffmpeg's probe (see padForProbe) from a padded copy.
 */
export async function withLeadsCut(slices: PlacedSlice[], paths: Map<string, string>, workDir: string): Promise<Map<string, string>> {
  return trackCopies(slices, paths, workDir, 'video');
}

/** The audio files of slices: a slice that also holds video (raw mode's muxed A+V) is read from a copy of its audio alone; a tiny TS slice from a padded copy. */
export function audioFiles(slices: PlacedSlice[], paths: Map<string, string>, workDir: string): Promise<Map<string, string>> {
  return trackCopies(slices, paths, workDir, 'audio');
}

async function trackCopies(slices: PlacedSlice[], paths: Map<string, string>, workDir: string, kind: 'audio' | 'video'): Promise<Map<string, string>> {
  const out = new Map(paths);
  for (const [i, s] of slices.entries()) {
    const file = paths.get(s.key);
    const cutLead = kind === 'video' && s.leadMs !== undefined && s.leadMs > 0;
    if (!file || !file.endsWith('.ts')) continue;
    if (!(cutLead || s.muxed) && (await stat(file)).size >= MIN_PROBED_TS_BYTES) continue;
    let data: Buffer = await readFile(file);
    if (s.muxed) data = streamOnly(data, kind);
    if (cutLead) data = dropLeadBeforeKeyframe(data).data;
    data = padForProbe(data);
    const copy = path.join(workDir, `${kind}-copy-${i}.ts`);
    await writeFile(copy, data);
    out.set(s.key, copy);
  }
  return out;
}

/** A clip this short cannot be probed by ffmpeg's TS demuxer ("End of file"): leads are at least this long. */
const MIN_LEAD_FRAMES = 30;
/** Black frames per second in a lead clip: a copied track is variable-rate anyway. */
const LEAD_FPS = 1;

/** Frames of a lead clip that show for `durationMs` (its out point is compared with its frames' timestamps, one a second). */
export const leadClipFrames = (durationMs: number) => Math.ceil(((durationMs / 1000) * LEAD_FPS) - 1e-9);

export interface BlackClip {
  data: Buffer;
  /** The clip's first timestamp (its concat out point is counted from there). */
  startS: number;
}

/** Black lead clips by picture size, shared by the outputs of one run. */
export type BlackClips = Map<string, Promise<BlackClip>>;

/**
 * Black H.264 frames of the picture's size, one a second, for the time before a copied video's first picture.
 * A lead up to MIN_LEAD_FRAMES seconds (the common case: the camera starts a moment after the microphone)
 * uses one clip per picture size, encoded once per run; a longer one gets its own.
 */
export function blackLead(size: { width: number; height: number }, durationMs: number, cache: { dir: string; blackLeads: BlackClips }, signal?: AbortSignal): Promise<BlackClip> {
  const frames = Math.max(MIN_LEAD_FRAMES, Math.ceil((durationMs / 1000) * LEAD_FPS));
  if (frames > MIN_LEAD_FRAMES) return encodeBlackClip(size, frames, cache.dir, signal);
  const key = `${size.width}x${size.height}`;
  let clip = cache.blackLeads.get(key);
  if (!clip) {
    clip = encodeBlackClip(size, frames, cache.dir, signal);
    cache.blackLeads.set(key, clip);
    clip.catch(() => cache.blackLeads.delete(key));
  }
  return clip;
}

async function encodeBlackClip(size: { width: number; height: number }, frames: number, under: string, signal?: AbortSignal): Promise<BlackClip> {
  const dir = await mkdtemp(path.join(under, 'black-'));
  try {
    const file = path.join(dir, 'black.ts');
    await runFfmpeg(['-y', '-loglevel', 'error', '-f', 'lavfi', '-i', `color=c=black:s=${size.width}x${size.height}:r=${LEAD_FPS}`, '-frames:v', String(frames),
      '-c:v', 'libx264', '-preset', 'veryfast', '-tune', 'stillimage', '-pix_fmt', 'yuv420p', '-bf', '0', '-g', String(frames), '-f', 'mpegts', file], { signal });
    const data = await readFile(file);
    const first = scanTs(data).streams.find((s) => s.kind === 'video')?.units.find((u) => u.pts !== null)?.pts;
    if (first === undefined || first === null) throw new Error('the black lead clip has no timestamps');
    return { data, startS: first };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
