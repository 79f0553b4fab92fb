// AAC frames out of an MPEG-TS slice, for the audio copy path: the frames are laid on the wall clock
// one by one, so their exact count per slice matters. Written here because no maintained npm package
// exposes ADTS frames from TS without a whole transmuxer; it is a small, well-specified format.
import { SliceUnreadableError } from '../core/errors.js';
import { scanTs } from './ts-scan.js';

const STREAM_TYPE_ADTS = 0x0f;

export interface AdtsConfig {
  /** MPEG-4 audio object type (2 = AAC-LC). */
  objectType: number;
  sampleRateIndex: number;
  channelConfig: number;
}

export interface AdtsFrames {
  config: AdtsConfig | null;
  /** Whole ADTS frames (header included), in order. */
  frames: Buffer[];
  /** Bytes that did not parse as ADTS (a truncated tail, garbage). */
  junkBytes: number;
}

export const SAMPLE_RATES = [96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350];

export class TsError extends SliceUnreadableError {
  override name = 'TsError';
}

/** Collects the payload of the ADTS audio elementary stream of a transport stream held in memory. */
export function tsAudioPayload(ts: Buffer): Buffer {
  const pes: Buffer[] = [];
  let audioPid: number | null = null;
  let scan;
  try {
    scan = scanTs(ts, (stream, data) => {
      if (stream.streamType !== STREAM_TYPE_ADTS) return;
      audioPid ??= stream.pid;
      if (stream.pid === audioPid) pes.push(data);
    });
  } catch (error) {
    throw new TsError((error as Error).message);
  }
  if (!scan.streams.some((s) => s.streamType === STREAM_TYPE_ADTS)) throw new TsError('no ADTS AAC audio stream');
  return Buffer.concat(pes);
}

/** Channels of an ADTS channel configuration (7 is 7.1: eight channels; 0 is a PCE we do not read). */
export const channelsOf = (channelConfig: number) => (channelConfig === 7 ? 8 : channelConfig);

/**
 * What makes a frame unusable in a recording (null when it is fine). The recorder writes AAC with one raw
 * data block a frame, mono or stereo (what a sender sends), at a listed sample rate: a header that says
 * otherwise is damage (ffmpeg decodes such frames into noise, shortens them or fails the whole output).
 */
export function unusualFrame(config: AdtsConfig, blocks: number): string | null {
  if (SAMPLE_RATES[config.sampleRateIndex] === undefined) return `ADTS sample-rate index ${config.sampleRateIndex} is reserved`;
  if (config.channelConfig < 1 || config.channelConfig > 2) {
    return `ADTS channel configuration ${config.channelConfig} (${channelsOf(config.channelConfig)} channels) where the recorder writes mono or stereo`;
  }
  if (blocks !== 1) return `ADTS frames of ${blocks} raw data blocks (ffmpeg decodes only the first)`;
  return null;
}

/** Why a frame cannot follow the stream's configuration (null when it can): only the channel count may change. */
export function unusualChange(from: AdtsConfig, to: AdtsConfig): string | null {
  if (from.objectType !== to.objectType) return `the AAC object type changes from ${from.objectType} to ${to.objectType}`;
  if (from.sampleRateIndex !== to.sampleRateIndex) return `the sample rate changes from ${SAMPLE_RATES[from.sampleRateIndex]} to ${SAMPLE_RATES[to.sampleRateIndex] ?? 'a reserved index'}`;
  return null;
}

const configOf = (data: Buffer, i: number): AdtsConfig => ({
  objectType: (data[i + 2]! >> 6) + 1,
  sampleRateIndex: (data[i + 2]! >> 2) & 0x0f,
  channelConfig: ((data[i + 2]! & 0x01) << 2) | (data[i + 3]! >> 6),
});

/**
 * Splits an ADTS byte stream pushed in pieces of any size into frames, skipping anything that is not a
 * frame. Only a partial frame is kept between pushes, so memory does not grow with the stream.
 */
export class AdtsSplitter {
  config: AdtsConfig | null = null;
  /** The configuration (its channel count) changed after the first frame. */
  configChanges = false;
  /** Why this stream cannot be used as it is (see unusualFrame, unusualChange); null when it can. */
  problem: string | null = null;
  frames = 0;
  /** Raw data blocks (x 1024 samples). */
  blocks = 0;
  junkBytes = 0;
  private carry: Buffer = Buffer.alloc(0);

  constructor(private readonly onFrame: (frame: Buffer, config: AdtsConfig) => void) {}

  push(chunk: Buffer): void {
    const data = this.carry.length > 0 ? Buffer.concat([this.carry, chunk]) : chunk;
    let i = 0;
    while (i + 7 <= data.length) {
      if (data[i] !== 0xff || (data[i + 1]! & 0xf6) !== 0xf0) {
        i++;
        this.junkBytes++;
        continue;
      }
      const length = ((data[i + 3]! & 0x03) << 11) | (data[i + 4]! << 3) | (data[i + 5]! >> 5);
      if (length < 7) {
        // A false sync word: skip it and keep looking.
        i++;
        this.junkBytes++;
        continue;
      }
      if (i + length > data.length) break; // the rest of this frame comes with the next push
      const config = configOf(data, i);
      const blocks = (data[i + 6]! & 0x03) + 1;
      if (!this.config) this.config = config;
      else if (!sameConfig(this.config, config)) {
        this.configChanges = true;
        this.problem ??= unusualChange(this.config, config);
      }
      this.problem ??= unusualFrame(config, blocks);
      this.frames++;
      this.blocks += blocks;
      this.onFrame(data.subarray(i, i + length), config);
      i += length;
    }
    this.carry = Buffer.from(data.subarray(i));
  }

  /** A truncated last frame counts as junk. */
  finish(): void {
    this.junkBytes += this.carry.length;
    this.carry = Buffer.alloc(0);
  }
}

/** Splits an ADTS byte stream held in memory into frames, skipping anything that is not a frame. */
export function splitAdts(data: Buffer): AdtsFrames {
  const frames: Buffer[] = [];
  const splitter = new AdtsSplitter((frame) => frames.push(frame));
  splitter.push(data);
  splitter.finish();
  return { config: splitter.config, frames, junkBytes: splitter.junkBytes };
}

export const sameConfig = (a: AdtsConfig, b: AdtsConfig) =>
  a.objectType === b.objectType && a.sampleRateIndex === b.sampleRateIndex && a.channelConfig === b.channelConfig;

/** Number of PCM samples one ADTS frame carries (raw data blocks x 1024). */
export const samplesInFrame = (frame: Buffer) => ((frame[6]! & 0x03) + 1) * 1024;
