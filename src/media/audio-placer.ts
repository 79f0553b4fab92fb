// Audio copy path: lays the slices' AAC frames on the wall clock and fills gaps with encoded silence
// of the same configuration, so every slice starts within half an AAC frame of its UTC.
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { PlacedSlice } from '../core/types.js';
import { type AdtsConfig, SAMPLE_RATES, sameConfig, samplesInFrame, splitAdts, tsAudioPayload } from './adts.js';

export class AudioCopyError extends Error {}

/** A slice whose real length differs from its #EXTINF by more than this is reported. */
export const EXTINF_TOLERANCE_MS = 1000;
/** Silent frames written at once when filling a gap (about 44 s at 48 kHz). */
const SILENCE_CHUNK_FRAMES = 2048;

export interface PlacedAudio {
  config: AdtsConfig;
  frames: number;
  sampleRate: number;
  warnings: string[];
}

/** Produces one silent ADTS frame for a configuration (the executor encodes it with ffmpeg once). */
export type SilenceSource = (config: AdtsConfig) => Promise<Buffer>;

export async function readSliceFrames(file: string) {
  return splitAdts(tsAudioPayload(await readFile(file)));
}

export async function writePlacedAdts(
  slices: PlacedSlice[],
  paths: Map<string, string>,
  outFile: string,
  silence: SilenceSource,
  signal?: AbortSignal,
): Promise<PlacedAudio> {
  const out = createWriteStream(outFile);
  const warnings: string[] = [];
  let config: AdtsConfig | null = null;
  let silent: Buffer | null = null;
  let written = 0;
  const write = async (buf: Buffer) => {
    if (!out.write(buf)) await once(out, 'drain');
  };
  try {
    const ordered = [...slices].sort((a, b) => a.offsetMs - b.offsetMs);
    for (let i = 0; i < ordered.length; i++) {
      signal?.throwIfAborted();
      const slice = ordered[i]!;
      const file = paths.get(slice.key);
      if (!file) throw new AudioCopyError(`${slice.key}: no local file`);
      let parsed;
      let frameConfig: AdtsConfig;
      try {
        parsed = await readSliceFrames(file);
        if (!parsed.config || parsed.frames.length === 0) throw new Error('no AAC frames');
        frameConfig = parsed.config;
      } catch (error) {
        // An unreadable slice costs only its own time: silence fills it up to the next slice.
        warnings.push(`${slice.key}: ${(error as Error).message}; its time is silent`);
        continue;
      }
      if (!config) {
        config = frameConfig;
        if (config.objectType !== 2) throw new AudioCopyError(`${slice.key}: AAC object type ${config.objectType} is not AAC-LC`);
        if (SAMPLE_RATES[config.sampleRateIndex] === undefined) throw new AudioCopyError(`${slice.key}: bad sample rate index`);
        silent = await silence(config);
      } else if (!sameConfig(config, frameConfig)) {
        throw new AudioCopyError(`${slice.key}: AAC configuration changes mid-track`);
      }
      if (parsed.frames.some((f) => samplesInFrame(f) !== 1024)) throw new AudioCopyError(`${slice.key}: multi-block ADTS frames`);
      if (parsed.junkBytes > 0) warnings.push(`${slice.key}: ${parsed.junkBytes} bytes of audio did not parse and were skipped`);

      const frameMs = (1024 / SAMPLE_RATES[config.sampleRateIndex]!) * 1000;
      const realMs = parsed.frames.length * frameMs;
      if (Math.abs(realMs - slice.durationMs) > EXTINF_TOLERANCE_MS) {
        warnings.push(`${slice.key}: holds ${(realMs / 1000).toFixed(3)}s of audio but #EXTINF says ${(slice.durationMs / 1000).toFixed(3)}s; placed by its UTC, running until the next slice`);
      }
      const target = Math.round(slice.offsetMs / frameMs);
      const next = ordered[i + 1];
      // Silence is written in bounded chunks: memory does not grow with the length of a gap.
      while (written < target) {
        const n = Math.min(target - written, SILENCE_CHUNK_FRAMES);
        await write(Buffer.concat(new Array<Buffer>(n).fill(silent!)));
        written += n;
      }
      const skip = written - target;
      const limit = next ? Math.max(0, Math.round(next.offsetMs / frameMs) - written) : Infinity;
      const frames = parsed.frames.slice(skip, skip + limit);

      // One write per slice: a UID-hour is some 170,000 frames.
      await write(Buffer.concat(frames));
      written += frames.length;
    }
  } finally {
    out.end();
    await once(out, 'close');
  }
  if (!config) throw new AudioCopyError('no audio slice could be read');

  return { config, frames: written, sampleRate: SAMPLE_RATES[config.sampleRateIndex]!, warnings };
}
