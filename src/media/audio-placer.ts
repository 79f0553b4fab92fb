// Audio copy path: lays the slices' AAC frames on the wall clock and fills gaps with encoded silence
// of the same configuration, so every slice starts within half an AAC frame of its UTC.
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { PlacedSlice } from '../core/types.js';
import { type AdtsConfig, AdtsSplitter, SAMPLE_RATES, sameConfig, samplesInFrame, splitAdts, TsError, tsAudioPayload, unusualChange, unusualFrame } from './adts.js';
import { fileChunks, TsScanner } from './ts-scan.js';

export class AudioCopyError extends Error {
  override name = 'AudioCopyError';
}
/** Frames of a slice that this track cannot carry: the slice's time (from there) is silent. */
class UnusableSliceError extends Error {}

/** How many frames of a group (one configuration) the track can carry, and why not the next (see unusualFrame). */
function usableFrames(group: { frames: Buffer[]; config: AdtsConfig }, track: AdtsConfig | null): { count: number; problem: string | null } {
  const change = track && unusualChange(track, group.config);
  if (change) return { count: 0, problem: change };
  for (const [i, frame] of group.frames.entries()) {
    const problem = unusualFrame(group.config, samplesInFrame(frame) / 1024);
    if (problem) return { count: i, problem };
  }
  return { count: group.frames.length, problem: null };
}

/** Silent frames written at once when filling a gap (about 44 s at 48 kHz). */
const SILENCE_CHUNK_FRAMES = 2048;

export interface PlacedAudio {
  config: AdtsConfig;
  frames: number;
  sampleRate: number;
  warnings: string[];
  /** The files written, each of one configuration: the first from frame 0, each next from a channel change. */
  pieces: { file: string; startFrame: number; config: AdtsConfig }[];
}

/** Produces one silent ADTS frame for a configuration (the executor encodes it with ffmpeg once). */
export type SilenceSource = (config: AdtsConfig) => Promise<Buffer>;

export async function readSliceFrames(file: string) {
  return splitAdts(tsAudioPayload(await readFile(file)));
}

/** The AAC frames of a TS slice, a bounded batch at a time, read as a stream (memory does not follow the slice's size). */
async function* sliceFrames(file: string): AsyncGenerator<{ frames: Buffer[]; config: AdtsConfig }[], AdtsSplitter> {
  let batch: { frames: Buffer[]; config: AdtsConfig }[] = [];
  const splitter = new AdtsSplitter((frame, config) => {
    const last = batch.at(-1);
    if (last && sameConfig(last.config, config)) last.frames.push(frame);
    else batch.push({ frames: [frame], config });
  });
  let audioPid: number | null = null;
  const scanner = new TsScanner((stream, data) => {
    if (stream.kind !== 'audio' || stream.codec !== 'aac') return;
    audioPid ??= stream.pid;
    if (stream.pid === audioPid) splitter.push(data);
  });
  for await (const chunk of fileChunks(file)) {
    scanner.push(chunk);
    if (batch.length > 0) {
      yield batch;
      batch = [];
    }
  }
  const scan = scanner.finish();
  splitter.finish();
  if (batch.length > 0) yield batch;
  if (!scan.streams.some((x) => x.kind === 'audio' && x.codec === 'aac')) throw new TsError('no ADTS AAC audio stream');
  return splitter;
}

export async function writePlacedAdts(
  slices: PlacedSlice[],
  paths: Map<string, string>,
  outFile: string,
  silence: SilenceSource,
  signal?: AbortSignal,
  /** Output time (ms) the audio must reach: silence is added after the last slice up to it. */
  endMs = 0,
  /**
   * Where to go on when the channel count changes (the piece's index -> its file). Without it such a
   * change is an AudioCopyError (one MP4 track has one configuration); with it, each configuration gets
   * its own file, for the transcode path. A change of sample rate or object type is an error either way.
   */
  pieceFile?: (index: number) => string,
  /** Cut the last slice at `endMs` (the frame nearest it): the track then holds exactly the frames up to the end. */
  cutAtEnd = false,
): Promise<PlacedAudio> {
  let out = createWriteStream(outFile);
  const pieces: PlacedAudio['pieces'] = [];
  const warnings: string[] = [];
  let config: AdtsConfig | null = null;
  let silent: Buffer | null = null;
  let written = 0;
  const write = async (buf: Buffer) => {
    if (!out.write(buf)) await once(out, 'drain');
  };
  const close = async () => {
    out.end();
    if (!out.closed) await once(out, 'close');
  };
  try {
    const ordered = [...slices].sort((a, b) => a.offsetMs - b.offsetMs);
    for (let i = 0; i < ordered.length; i++) {
      signal?.throwIfAborted();
      const slice = ordered[i]!;
      const file = paths.get(slice.key);
      if (!file) throw new AudioCopyError(`${slice.key}: no local file`);
      const next = ordered[i + 1];
      // Where this slice's frames go: from the frame nearest its offset up to the next slice's.
      let window: { skip: number; limit: number } | null = null;
      let index = 0;
      let copied = 0;
      const frames = sliceFrames(file);
      let result: IteratorResult<{ frames: Buffer[]; config: AdtsConfig }[], AdtsSplitter>;
      try {
        while (!(result = await frames.next()).done) {
          for (const whole of result.value) {
            // Frames this track cannot carry make the rest of the slice silent (see unusualFrame).
            const unusual = usableFrames(whole, config);
            if (unusual.count === 0) throw new UnusableSliceError(unusual.problem!);
            const group = { config: whole.config, frames: whole.frames.slice(0, unusual.count) };
            if (!config) {
              config = group.config;
              if (config.objectType !== 2) throw new AudioCopyError(`${slice.key}: AAC object type ${config.objectType} is not AAC-LC`);
              silent = await silence(config);
              pieces.push({ file: outFile, startFrame: 0, config });
            } else if (!sameConfig(config, group.config)) {
              if (!pieceFile) throw new AudioCopyError(`${slice.key}: the AAC channel count changes mid-track`);
              // A new piece from here, at the frame it starts on (the frame length does not change).
              await close();
              const file = pieceFile(pieces.length);
              out = createWriteStream(file);
              config = group.config;
              silent = await silence(config);
              pieces.push({ file, startFrame: written + copied, config });
            }
            if (!window) {
              const frameMs = (1024 / SAMPLE_RATES[config.sampleRateIndex]!) * 1000;
              const target = Math.round(slice.offsetMs / frameMs);
              // Silence is written in bounded chunks: memory does not grow with the length of a gap.
              while (written < target) {
                const n = Math.min(target - written, SILENCE_CHUNK_FRAMES);
                await write(Buffer.concat(new Array<Buffer>(n).fill(silent!)));
                written += n;
              }
              const until = next ? Math.round(next.offsetMs / frameMs) : cutAtEnd ? Math.round(endMs / frameMs) : Infinity;
              window = { skip: written - target, limit: Math.max(0, until - written) };
            }
            const from = Math.max(0, window.skip - index);
            const to = Math.min(group.frames.length, window.skip + window.limit - index);
            if (to > from) {
              await write(Buffer.concat(group.frames.slice(from, to)));
              copied += to - from;
            }
            index += group.frames.length;
            if (unusual.problem) throw new UnusableSliceError(unusual.problem);
          }
        }
      } catch (error) {
        if (error instanceof AudioCopyError) throw error;
        signal?.throwIfAborted();
        // An unreadable slice costs only its own time: silence fills it up to the next slice.
        warnings.push(`${slice.key}: ${(error as Error).message}; ${copied > 0 ? 'the rest of ' : ''}its time is silent`);
        written += copied;
        continue;
      }
      written += copied;
      if (index === 0) {
        warnings.push(`${slice.key}: no AAC frames; its time is silent`);
        continue;
      }
      if (result.value.junkBytes > 0) warnings.push(`${slice.key}: ${result.value.junkBytes} bytes of audio did not parse and were skipped`);
    }
    if (config && silent) {
      // The track runs to the end of the timeline, like the video: silence after the user's last word.
      const end = Math.round(endMs / ((1024 / SAMPLE_RATES[config.sampleRateIndex]!) * 1000));
      while (written < end) {
        const n = Math.min(end - written, SILENCE_CHUNK_FRAMES);
        await write(Buffer.concat(new Array<Buffer>(n).fill(silent)));
        written += n;
      }
    }
  } finally {
    await close();
  }
  if (!config) throw new AudioCopyError('no audio slice could be read');

  return { config, frames: written, sampleRate: SAMPLE_RATES[config.sampleRateIndex]!, warnings, pieces };
}
