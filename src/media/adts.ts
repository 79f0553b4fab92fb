// AAC frames out of an MPEG-TS slice, for the audio copy path: the frames are laid on the wall clock
// one by one, so their exact count per slice matters. Written here because no maintained npm package
// exposes ADTS frames from TS without a whole transmuxer; it is a small, well-specified format.

const TS_PACKET = 188;
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

export class TsError extends Error {}

/** Collects the payload of the ADTS audio elementary stream of a transport stream. */
export function tsAudioPayload(ts: Buffer): Buffer {
  let pmtPid = -1;
  let audioPid = -1;
  const pes: Buffer[] = [];
  let current: Buffer[] | null = null;

  const flush = () => {
    if (!current) return;
    const packet = Buffer.concat(current);
    current = null;
    if (packet.length < 9 || packet[0] !== 0 || packet[1] !== 0 || packet[2] !== 1) return;
    const headerLength = packet[8]!;
    if (9 + headerLength <= packet.length) pes.push(packet.subarray(9 + headerLength));
  };

  let off = ts.indexOf(0x47);
  while (off >= 0 && off + TS_PACKET <= ts.length) {
    if (ts[off] !== 0x47) {
      off = ts.indexOf(0x47, off + 1);
      continue;
    }
    const pusi = (ts[off + 1]! & 0x40) !== 0;
    const pid = ((ts[off + 1]! & 0x1f) << 8) | ts[off + 2]!;
    const afc = (ts[off + 3]! >> 4) & 3;
    let p = off + 4;
    if (afc & 2) p += 1 + ts[off + 4]!;
    const end = off + TS_PACKET;
    if (afc & 1 && p < end) {
      const payload = ts.subarray(p, end);
      if (pid === 0 && pusi) {
        // PAT: pointer field, then 8-byte section header, then (program, pid) pairs.
        const s = 1 + payload[0]!;
        const sectionLength = ((payload[s + 1]! & 0x0f) << 8) | payload[s + 2]!;
        for (let i = s + 8; i + 4 <= s + 3 + sectionLength - 4; i += 4) {
          const program = (payload[i]! << 8) | payload[i + 1]!;
          if (program !== 0) {
            pmtPid = ((payload[i + 2]! & 0x1f) << 8) | payload[i + 3]!;
            break;
          }
        }
      } else if (pid === pmtPid && pusi && audioPid < 0) {
        const s = 1 + payload[0]!;
        const sectionLength = ((payload[s + 1]! & 0x0f) << 8) | payload[s + 2]!;
        const infoLength = ((payload[s + 10]! & 0x0f) << 8) | payload[s + 11]!;
        let i = s + 12 + infoLength;
        const stop = Math.min(payload.length, s + 3 + sectionLength - 4);
        while (i + 5 <= stop) {
          const type = payload[i]!;
          const esPid = ((payload[i + 1]! & 0x1f) << 8) | payload[i + 2]!;
          const esInfo = ((payload[i + 3]! & 0x0f) << 8) | payload[i + 4]!;
          if (type === STREAM_TYPE_ADTS) {
            audioPid = esPid;
            break;
          }
          i += 5 + esInfo;
        }
      } else if (pid === audioPid) {
        if (pusi) {
          flush();
          current = [];
        }
        current?.push(payload);
      }
    }
    off = end;
  }
  flush();
  if (pmtPid < 0) throw new TsError('no MPEG-TS program table');
  if (audioPid < 0) throw new TsError('no ADTS AAC audio stream');
  return Buffer.concat(pes);
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
  /** The configuration changed after the first frame. */
  configChanges = false;
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
      if (!this.config) this.config = config;
      else if (!sameConfig(this.config, config)) this.configChanges = true;
      this.frames++;
      this.blocks += (data[i + 6]! & 0x03) + 1;
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
