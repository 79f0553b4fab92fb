// The timing of an MPEG-TS slice read from its packets: which elementary streams it holds, the PTS/DTS
// of every access unit, and which units are keyframes. Reading a slice this way costs one pass over its
// bytes (no ffprobe process), so every slice of an output can be measured. Written here for the same
// reason as adts.ts: no maintained npm package exposes PES timing without a whole transmuxer.

const TS_PACKET = 188;
const PTS_WRAP = 2 ** 33;
/** How much of a video access unit is searched for its first picture NAL unit. */
const NAL_SEARCH_BYTES = 16 * 1024;

export type TsCodec = 'h264' | 'hevc' | 'aac' | 'mp3' | 'other';

const STREAM_TYPES: Record<number, { kind: 'video' | 'audio'; codec: TsCodec }> = {
  0x1b: { kind: 'video', codec: 'h264' },
  0x24: { kind: 'video', codec: 'hevc' },
  0x0f: { kind: 'audio', codec: 'aac' },
  0x03: { kind: 'audio', codec: 'mp3' },
  0x04: { kind: 'audio', codec: 'mp3' },
};

export interface TsUnit {
  /** Seconds (90 kHz clock, unwrapped), null when the PES header has none. */
  pts: number | null;
  dts: number | null;
  /** A random access point: an IDR/IRAP picture (or flagged so by the muxer). */
  key: boolean;
  /** Byte offset of the unit's first TS packet in the file. */
  offset: number;
}

export interface TsStream {
  pid: number;
  streamType: number;
  kind: 'video' | 'audio' | 'other';
  codec: TsCodec;
  units: TsUnit[];
}

export interface TsScan {
  streams: TsStream[];
  /** Bytes that were not whole TS packets (junk, a truncated tail). */
  junkBytes: number;
}

export class TsScanError extends Error {}

function readTimestamp(b: Buffer, i: number): number {
  // 33 bits spread over 5 bytes with marker bits.
  return (((b[i]! >> 1) & 0x07) * 2 ** 30 + ((b[i + 1]! << 7) | (b[i + 2]! >> 1)) * 2 ** 15 + ((b[i + 3]! << 7) | (b[i + 4]! >> 1)));
}

/** The type of the first picture (VCL) NAL unit of an Annex B access unit, or null. */
export function firstPictureNal(data: Buffer, codec: 'h264' | 'hevc'): number | null {
  let i = data.indexOf(1);
  while (i >= 2 && i + 1 < data.length) {
    if (data[i - 1] === 0 && data[i - 2] === 0) {
      const header = data[i + 1]!;
      const type = codec === 'h264' ? header & 0x1f : (header >> 1) & 0x3f;
      if (codec === 'h264' ? type >= 1 && type <= 5 : type <= 31) return type;
    }
    i = data.indexOf(1, i + 1);
  }
  return null;
}

const isKeyNal = (codec: 'h264' | 'hevc', type: number) => (codec === 'h264' ? type === 5 : type >= 16 && type <= 21);

interface Pending {
  stream: TsStream;
  unit: TsUnit;
  chunks: Buffer[];
  bytes: number;
  headerDone: boolean;
}

/** Scans a transport stream: programs, elementary streams, and the timing of every access unit. */
export function scanTs(ts: Buffer): TsScan {
  let pmtPid = -1;
  const streams = new Map<number, TsStream>();
  const pending = new Map<number, Pending>();
  let junkBytes = 0;
  let firstTs: number | null = null;

  const unwrap = (t: number) => {
    firstTs ??= t;
    // Timestamps that wrapped past 2^33 stay after the first one.
    return (t < firstTs - PTS_WRAP / 2 ? t + PTS_WRAP : t) / 90000;
  };

  const finish = (p: Pending) => {
    const { stream, unit } = p;
    if (stream.kind === 'video' && !unit.key && (stream.codec === 'h264' || stream.codec === 'hevc')) {
      const data = Buffer.concat(p.chunks);
      // Skip the PES header.
      const start = data.length >= 9 ? 9 + data[8]! : data.length;
      const type = firstPictureNal(data.subarray(start, start + NAL_SEARCH_BYTES), stream.codec);
      if (type !== null) unit.key = isKeyNal(stream.codec, type);
    }
    stream.units.push(unit);
  };

  const parsePesHeader = (p: Pending) => {
    const head = p.chunks.length === 1 ? p.chunks[0]! : Buffer.concat(p.chunks);
    if (head.length < 9) return false;
    if (head[0] !== 0 || head[1] !== 0 || head[2] !== 1) {
      p.headerDone = true;
      return true;
    }
    const flags = head[7]! >> 6;
    if (head.length < 9 + (flags === 3 ? 10 : flags === 2 ? 5 : 0)) return false;
    if (flags & 2) p.unit.pts = unwrap(readTimestamp(head, 9));
    if (flags === 3) p.unit.dts = unwrap(readTimestamp(head, 14));
    else p.unit.dts = p.unit.pts;
    p.headerDone = true;
    return true;
  };

  let off = 0;
  while (off + TS_PACKET <= ts.length) {
    if (ts[off] !== 0x47) {
      const next = ts.indexOf(0x47, off + 1);
      const to = next < 0 ? ts.length : next;
      junkBytes += to - off;
      off = to;
      continue;
    }
    const pusi = (ts[off + 1]! & 0x40) !== 0;
    const pid = ((ts[off + 1]! & 0x1f) << 8) | ts[off + 2]!;
    const afc = (ts[off + 3]! >> 4) & 3;
    let p = off + 4;
    let randomAccess = false;
    if (afc & 2) {
      const afLength = ts[off + 4]!;
      if (afLength > 0) randomAccess = (ts[off + 5]! & 0x40) !== 0;
      p += 1 + afLength;
    }
    const end = off + TS_PACKET;
    if (afc & 1 && p < end) {
      const payload = ts.subarray(p, end);
      if (pid === 0 && pusi) {
        const s = 1 + payload[0]!;
        const sectionLength = ((payload[s + 1]! & 0x0f) << 8) | payload[s + 2]!;
        for (let i = s + 8; i + 4 <= s + 3 + sectionLength - 4 && i + 4 <= payload.length; i += 4) {
          const program = (payload[i]! << 8) | payload[i + 1]!;
          if (program !== 0) {
            pmtPid = ((payload[i + 2]! & 0x1f) << 8) | payload[i + 3]!;
            break;
          }
        }
      } else if (pid === pmtPid && pusi && streams.size === 0) {
        const s = 1 + payload[0]!;
        const sectionLength = ((payload[s + 1]! & 0x0f) << 8) | payload[s + 2]!;
        const infoLength = ((payload[s + 10]! & 0x0f) << 8) | payload[s + 11]!;
        let i = s + 12 + infoLength;
        const stop = Math.min(payload.length, s + 3 + sectionLength - 4);
        while (i + 5 <= stop) {
          const type = payload[i]!;
          const esPid = ((payload[i + 1]! & 0x1f) << 8) | payload[i + 2]!;
          const esInfo = ((payload[i + 3]! & 0x0f) << 8) | payload[i + 4]!;
          const known = STREAM_TYPES[type];
          streams.set(esPid, { pid: esPid, streamType: type, kind: known?.kind ?? 'other', codec: known?.codec ?? 'other', units: [] });
          i += 5 + esInfo;
        }
      } else {
        const stream = streams.get(pid);
        if (stream) {
          let cur = pending.get(pid);
          if (pusi) {
            if (cur) finish(cur);
            cur = { stream, unit: { pts: null, dts: null, key: randomAccess, offset: off }, chunks: [], bytes: 0, headerDone: false };
            pending.set(pid, cur);
          }
          if (cur) {
            const keep = stream.kind === 'video' ? cur.bytes < NAL_SEARCH_BYTES + 512 : !cur.headerDone;
            if (keep) {
              cur.chunks.push(payload);
              cur.bytes += payload.length;
            }
            if (!cur.headerDone) parsePesHeader(cur);
          }
        }
      }
    }
    off = end;
  }
  junkBytes += ts.length - off;
  for (const p of pending.values()) finish(p);
  if (pmtPid < 0) throw new TsScanError('no MPEG-TS program table');
  return { streams: [...streams.values()], junkBytes };
}
