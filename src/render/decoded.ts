// What ffmpeg really read from each input, held against what the slices were measured to hold. The readers
// of slice bytes (our TS scanner, mediabunny's demuxers) and ffmpeg's demuxers and decoders can disagree on a
// damaged slice: a video slice whose packets ffmpeg cannot parse, an audio slice whose codec data ffmpeg cannot
// decode. The output is still made (those frames are held over, that audio is silent), but never without a
// word: every input that came out short is looked at slice by slice, and each slice that lost media is named.
import type { PlacedSlice } from '../core/types.js';
import { sliceOutMs, type CopyJoins } from './concat.js';
import pLimit from 'p-limit';
import { FfmpegError, runFfmpeg, type InputStats } from '../ffmpeg/runner.js';
import { allSettledOrThrow } from './settled.js';

/** What one ffmpeg input (a concat list) should give, from the measured slices it lists. */
export interface InputExpectation {
  /** Its index among the command's inputs. */
  input: number;
  media: 'video' | 'audio';
  slices: PlacedSlice[];
  /** Video: packets the demuxer should read (frames of the slices, within their out points, plus a lead clip's). */
  packets?: number;
  /** How many fewer may come without anything being wrong (out points compare DTS, not PTS; a trimmed input stops early). */
  allowance: number;
  /** Audio: milliseconds of audio the decoder should give, at this sample rate. */
  audioMs?: number;
  sampleRate?: number;
}

/** Frames an out point (or a trimmed input's end) may take or leave at an edge: it compares DTS, and B-frames reorder. */
const EDGE_FRAMES = 2;
/** Audio a slice may give less of at its edges (decoders drop priming and pre-skip). */
const EDGE_AUDIO_MS = 30;

/**
 * The expectation of a concat input of `slices` (see render/concat.ts concatList: a slice is cut at the next
 * one's start when it runs into it). Null when a slice was not measured: nothing to hold ffmpeg to.
 */
export function expectation(
  input: number,
  media: 'video' | 'audio',
  slices: PlacedSlice[],
  /** leadFrames: a lead clip's frames first; untilMs: the input is read only up to this (output ms; a trimmed piece); copy: the list's joins are the copy path's (concatList). */
  extra: { leadFrames?: number; sampleRate?: number; untilMs?: number; copy?: CopyJoins } = {},
): InputExpectation | null {
  if (media === 'video') {
    let packets = extra.leadFrames ?? 0;
    const until = extra.untilMs ?? Infinity;
    let edges = until < Infinity ? 1 : 0;
    for (const [i, s] of slices.entries()) {
      if (!s.frameOffsetsMs) return null;
      const outMs = sliceOutMs(s, slices[i + 1], true, extra.copy);
      if (outMs !== undefined) edges++;
      packets += s.frameOffsetsMs.filter((o) => (outMs === undefined || o < outMs) && s.offsetMs + o < until).length;
    }
    return { input, media, slices, packets, allowance: 1 + EDGE_FRAMES * edges };
  }
  if (slices.some((s) => s.mediaStartS === undefined)) return null;
  const audioMs = slices.reduce((sum, s, i) => sum + (i + 1 < slices.length ? Math.min(s.durationMs, s.slotMs) : s.durationMs), 0);
  return { input, media, slices, audioMs, sampleRate: extra.sampleRate ?? 48000, allowance: EDGE_AUDIO_MS * slices.length };
}

/**
 * The expectation of the copy path's placed ADTS (see media/audio-placer.ts): every frame placed, slices' and
 * silence's alike, decodes to 1024 samples; `slices` are the ones to look at when fewer come.
 */
export function placedExpectation(input: number, slices: PlacedSlice[], placed: { frames: number; sampleRate: number }): InputExpectation {
  const frameMs = (1024 / placed.sampleRate) * 1000;
  return { input, media: 'audio', slices, audioMs: placed.frames * frameMs, sampleRate: placed.sampleRate, allowance: frameMs / 2 };
}

const short = (got: number, want: number, allowance: number) => got < want - allowance;

/** What ffmpeg reads (and, with `decode`, decodes: audio always) of one slice alone. */
async function readAlone(file: string, media: 'video' | 'audio', signal?: AbortSignal, decode = media === 'audio'): Promise<InputStats | null> {
  const args = ['-y', '-loglevel', 'error', '-i', file, '-map', `0:${media === 'video' ? 'v' : 'a'}:0`, ...(decode ? [] : ['-c', 'copy']), '-f', 'null', '-'];
  const { inputs } = await runFfmpeg(args, { signal, inputStats: true });
  return inputs?.find((s) => s.file === 0 && s.kind === media) ?? null;
}

/** Slices read at once when looking for those ffmpeg cannot read. */
const ALONE_AT_ONCE = 4;

/**
 * The slices ffmpeg cannot read at all, each read (and decoded) alone, with why: looked for only when an
 * ffmpeg run over them failed, so that the one bad slice becomes a gap and not the whole output's failure.
 */
export async function unreadableSlices(
  keys: string[],
  paths: Map<string, string>,
  containers: Map<string, { media: 'audio' | 'video' }>,
  signal?: AbortSignal,
): Promise<Map<string, string>> {
  const bad = new Map<string, string>();
  const limit = pLimit(ALONE_AT_ONCE);
  await allSettledOrThrow(
    keys.map((key) =>
      limit(async () => {
        const file = paths.get(key);
        const media = containers.get(key)?.media;
        if (!file || !media) return;
        try {
          await readAlone(file, media, signal, true);
        } catch (error) {
          signal?.throwIfAborted();
          const said = (error instanceof FfmpegError ? error.message.replace(/^ffmpeg [^:]*: /, '') : (error as Error).message).replace(/\[\w+ @ 0x[0-9a-f]+\] /g, '');
          bad.set(key, `ffmpeg cannot read it (${said.split('\n')[0]})`);
        }
      }),
    ),
  );
  return bad;
}

/**
 * Warnings for every input that came out short of its expectation, naming each slice that lost media (each
 * one read alone by ffmpeg, against what the slice was measured to hold).
 */
export async function checkDecoded(expected: (InputExpectation | null)[], stats: InputStats[] | undefined, paths: Map<string, string>, signal?: AbortSignal): Promise<string[]> {
  if (!stats) return [];
  const warnings: string[] = [];
  for (const e of expected) {
    if (!e) continue;
    const got = stats.find((s) => s.file === e.input && s.kind === e.media);
    const n = e.slices.length;
    const rate = e.sampleRate ?? 48000;
    const lacking = e.media === 'video' ? short(got?.packets ?? 0, e.packets!, e.allowance) : short(((got?.samples ?? 0) / rate) * 1000, e.audioMs!, e.allowance);
    if (!lacking) continue;
    const named: string[] = [];
    for (const s of e.slices) {
      const file = paths.get(s.key);
      if (!file) continue;
      let alone: InputStats | null;
      try {
        alone = await readAlone(file, e.media, signal);
      } catch (error) {
        signal?.throwIfAborted();
        named.push(`${s.key}: ffmpeg cannot read it (${(error as Error).message.split('\n')[0]}); its ${(s.durationMs / 1000).toFixed(3)} s of ${e.media} ${e.media === 'video' ? 'show the picture before' : 'are silent'}`);
        continue;
      }
      if (e.media === 'video' && s.frameOffsetsMs) {
        const want = s.frameOffsetsMs.length;
        const read = alone?.packets ?? 0;
        if (short(read, want, 0)) named.push(`${s.key}: ffmpeg read ${read} of the ${want} frames it holds (${want - read} lost; the picture before is held over them)`);
      } else if (e.media === 'audio') {
        const readMs = alone?.samples ? (alone.samples / rate) * 1000 : 0;
        if (short(readMs, s.durationMs, EDGE_AUDIO_MS)) {
          named.push(`${s.key}: ffmpeg decoded ${(readMs / 1000).toFixed(3)} s of the ${(s.durationMs / 1000).toFixed(3)} s of audio it holds (the rest is silent)`);
        }
      }
    }
    if (named.length > 0) warnings.push(...named);
    else {
      const what = e.media === 'video' ? `${got?.packets ?? 0} of ${e.packets} frames` : `${((got?.samples ?? 0) / rate).toFixed(3)} s of ${(e.audioMs! / 1000).toFixed(3)} s of audio`;
      warnings.push(`${e.media}: ffmpeg read only ${what} from ${e.slices[0]!.key}${n > 1 ? ` … ${e.slices.at(-1)!.key} (${n} slices)` : ''}; no one slice alone is short`);
    }
  }
  return warnings;
}
