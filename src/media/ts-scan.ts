// The timing of an MPEG-TS slice read from its packets: which elementary streams it holds, the PTS/DTS
// of every access unit, and which units are keyframes. Reading a slice this way costs one pass over its
// bytes (no ffprobe process), so every slice of an output can be measured. Written here for the same
// reason as adts.ts: no maintained npm package exposes PES timing without a whole transmuxer.

import { SliceUnreadableError } from '../core/errors.js';
import { createReadStream, readFileSync, statSync } from 'node:fs';
import { opusChannels } from './opus-ts.js';

const TS_PACKET = 188;
/** A unit's payload is handed to the sink at least every this many bytes. */
const MAX_GATHER = 256 * 1024;
/** Bytes read at a time when a file is scanned as a stream. */
const READ_CHUNK = 1 << 20;
/** Files up to this size are read in one go. */
export const WHOLE_FILE_MAX = 8 << 20;
const PTS_WRAP = 2 ** 33;
/** How much of a video access unit is searched for its first picture NAL unit. */
const NAL_SEARCH_BYTES = 4 * 1024;

export type TsCodec = 'h264' | 'hevc' | 'aac' | 'mp3' | 'opus' | 'av1' | 'other';

const STREAM_TYPES: Record<number, { kind: 'video' | 'audio'; codec: TsCodec }> = {
  0x1b: { kind: 'video', codec: 'h264' },
  0x24: { kind: 'video', codec: 'hevc' },
  0x0f: { kind: 'audio', codec: 'aac' },
  0x03: { kind: 'audio', codec: 'mp3' },
  0x04: { kind: 'audio', codec: 'mp3' },
};
/** PES private data: what it holds is said by descriptors (an `Opus` registration descriptor, see opus-ts.ts). */
const STREAM_TYPE_PRIVATE = 0x06;
const DESCRIPTOR_REGISTRATION = 0x05;
const DESCRIPTOR_EXTENSION = 0x7f;
const EXTENSION_OPUS = 0x80;

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
  /** Opus: the channel count its extension descriptor gives (null when it gives none the scanner knows). */
  channels?: number | null;
}

/**
 * What the ES descriptors of a private stream say it is: Opus (with its channels); AV1 (an `AV01`
 * registration: raw mode may write it, and neither recmerge nor ffmpeg 5.1 reads it, so it is named
 * rather than guessed); or nothing known.
 */
function privateStream(descriptors: Buffer): { codec: 'opus' | 'av1'; channels: number | null } | null {
  let codec: 'opus' | 'av1' | null = null;
  let channels: number | null = null;
  for (let i = 0; i + 2 <= descriptors.length; i += 2 + descriptors[i + 1]!) {
    const tag = descriptors[i]!;
    const body = descriptors.subarray(i + 2, i + 2 + descriptors[i + 1]!);
    const id = tag === DESCRIPTOR_REGISTRATION ? body.toString('latin1', 0, 4) : '';
    if (id === 'Opus') codec = 'opus';
    if (id === 'AV01') codec = 'av1';
    if (tag === DESCRIPTOR_EXTENSION && body[0] === EXTENSION_OPUS && body.length >= 2) channels = opusChannels(body[1]!);
  }
  return codec ? { codec, channels } : null;
}

export interface TsScan {
  streams: TsStream[];
  /** Bytes that were not whole TS packets (junk, a truncated tail). */
  junkBytes: number;
}

export class TsScanError extends SliceUnreadableError {
  override name = 'TsScanError';
}

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
  /** The head of a video unit's payload (for its picture type). */
  chunks: Buffer[];
  bytes: number;
  headerDone: boolean;
  /** A PES header split across packets, until it is whole. */
  header: Buffer;
  /** Payload gathered for the sink (views into the current chunk: handed over before it is released). */
  out: Buffer[];
  outBytes: number;
}

/** Receives the elementary-stream bytes of a stream (PES headers removed), in order, as they are read. */
export type PayloadSink = (stream: TsStream, data: Buffer) => void;

/**
 * Scans a transport stream pushed in chunks of any size: programs, elementary streams, and the timing of
 * every access unit. Memory stays bounded whatever the file's size: payload bytes are handed to `onPayload`
 * (when given) and not kept, but for the head of each video access unit (searched for its picture type).
 */
export class TsScanner {
  private pmtPid = -1;
  private readonly streams = new Map<number, TsStream>();
  private readonly pending = new Map<number, Pending>();
  private junkBytes = 0;
  private firstTs: number | null = null;
  private carry: Buffer = Buffer.alloc(0);
  private offset = 0;

  constructor(private readonly onPayload?: PayloadSink) {}

  private unwrap(t: number): number {
    this.firstTs ??= t;
    // Timestamps that wrapped past 2^33 stay after the first one.
    return (t < this.firstTs - PTS_WRAP / 2 ? t + PTS_WRAP : t) / 90000;
  }

  /** Video streams whose muxer flags random access points: their flags are trusted, no NAL search. */
  private readonly flagged = new Set<number>();

  private needsNalSearch(p: Pending): boolean {
    return p.stream.kind === 'video' && !p.unit.key && !this.flagged.has(p.stream.pid) && (p.stream.codec === 'h264' || p.stream.codec === 'hevc');
  }

  private finishUnit(p: Pending): void {
    this.flushPayload(p);
    const { stream, unit } = p;
    if (unit.key && stream.kind === 'video') this.flagged.add(stream.pid);
    const codec = stream.codec;
    if (this.needsNalSearch(p) && (codec === 'h264' || codec === 'hevc')) {
      const data = Buffer.concat(p.chunks);
      const type = firstPictureNal(data.subarray(0, NAL_SEARCH_BYTES), codec);
      if (type !== null) unit.key = isKeyNal(codec, type);
    }
    stream.units.push(unit);
  }

  /** Reads the PES header once enough of it is there; returns the payload bytes that follow it. */
  private parsePesHeader(p: Pending, data: Buffer): Buffer | null {
    const head = p.header.length > 0 ? Buffer.concat([p.header, data]) : data;
    if (head.length < 9) {
      p.header = Buffer.from(head);
      return null;
    }
    p.headerDone = true;
    p.header = Buffer.alloc(0);
    if (head[0] !== 0 || head[1] !== 0 || head[2] !== 1) return head;
    const headerLength = head[8]!;
    if (head.length < 9 + headerLength) {
      p.headerDone = false;
      p.header = Buffer.from(head);
      return null;
    }
    const flags = head[7]! >> 6;
    if (flags & 2) p.unit.pts = this.unwrap(readTimestamp(head, 9));
    if (flags === 3) p.unit.dts = this.unwrap(readTimestamp(head, 14));
    else p.unit.dts = p.unit.pts;
    return head.subarray(9 + headerLength);
  }

  /** Hands a unit's gathered payload to the sink in one piece (one call per unit, not per packet). */
  private flushPayload(p: Pending): void {
    if (p.out.length === 0) return;
    const data = p.out.length === 1 ? p.out[0]! : Buffer.concat(p.out);
    p.out = [];
    p.outBytes = 0;
    this.onPayload?.(p.stream, data);
  }

  private payload(p: Pending, data: Buffer): void {
    if (data.length === 0) return;
    if (p.bytes < NAL_SEARCH_BYTES && this.needsNalSearch(p)) {
      p.chunks.push(data);
      p.bytes += data.length;
    }
    if (this.onPayload) {
      p.out.push(data);
      p.outBytes += data.length;
      if (p.outBytes >= MAX_GATHER) this.flushPayload(p);
    }
  }

  /** Whether a packet's payload is needed at all (most video packets are only counted). */
  private wants(p: Pending): boolean {
    return !p.headerDone || this.onPayload !== undefined || (p.bytes < NAL_SEARCH_BYTES && this.needsNalSearch(p));
  }

  private packet(ts: Buffer, off: number, fileOffset: number): void {
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
    if (!(afc & 1) || p >= end) return;
    if (pid !== 0 && pid !== this.pmtPid && !pusi) {
      // The common case, kept cheap: a continuation packet of a stream.
      const cur = this.pending.get(pid);
      if (!cur || !this.wants(cur)) return;
    }
    const payload = ts.subarray(p, end);
    if (pid === 0 && pusi) {
      const s = 1 + payload[0]!;
      const sectionLength = ((payload[s + 1]! & 0x0f) << 8) | payload[s + 2]!;
      for (let i = s + 8; i + 4 <= s + 3 + sectionLength - 4 && i + 4 <= payload.length; i += 4) {
        const program = (payload[i]! << 8) | payload[i + 1]!;
        if (program !== 0) {
          this.pmtPid = ((payload[i + 2]! & 0x1f) << 8) | payload[i + 3]!;
          break;
        }
      }
    } else if (pid === this.pmtPid && pusi && this.streams.size === 0) {
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
        const priv = type === STREAM_TYPE_PRIVATE ? privateStream(payload.subarray(i + 5, Math.min(stop, i + 5 + esInfo))) : null;
        if (priv?.codec === 'opus') this.streams.set(esPid, { pid: esPid, streamType: type, kind: 'audio', codec: priv.codec, units: [], channels: priv.channels });
        else if (priv) this.streams.set(esPid, { pid: esPid, streamType: type, kind: 'other', codec: priv.codec, units: [] });
        else this.streams.set(esPid, { pid: esPid, streamType: type, kind: known?.kind ?? 'other', codec: known?.codec ?? 'other', units: [] });
        i += 5 + esInfo;
      }
    } else {
      const stream = this.streams.get(pid);
      if (!stream) return;
      let cur = this.pending.get(pid);
      if (pusi) {
        if (cur) this.finishUnit(cur);
        cur = { stream, unit: { pts: null, dts: null, key: randomAccess, offset: fileOffset }, chunks: [], bytes: 0, headerDone: false, header: Buffer.alloc(0), out: [], outBytes: 0 };
        this.pending.set(pid, cur);
      }
      if (!cur) return;
      if (cur.headerDone) this.payload(cur, payload);
      else {
        const rest = this.parsePesHeader(cur, payload);
        if (rest) this.payload(cur, rest);
      }
    }
  }

  push(chunk: Buffer): void {
    const ts = this.carry.length > 0 ? Buffer.concat([this.carry, chunk]) : chunk;
    const base = this.offset - this.carry.length;
    let off = 0;
    while (off + TS_PACKET <= ts.length) {
      if (ts[off] !== 0x47) {
        const next = ts.indexOf(0x47, off + 1);
        const to = next < 0 ? ts.length : next;
        this.junkBytes += to - off;
        off = to;
        continue;
      }
      this.packet(ts, off, base + off);
      off += TS_PACKET;
    }
    // Keep what is not yet a whole packet (copied: the chunk it came from is not kept alive).
    this.carry = Buffer.from(ts.subarray(off));
    this.offset += chunk.length;
  }

  finish(): TsScan {
    this.junkBytes += this.carry.length;
    this.carry = Buffer.alloc(0);
    for (const p of this.pending.values()) this.finishUnit(p);
    this.pending.clear();
    if (this.pmtPid < 0) throw new TsScanError('no MPEG-TS program table');
    return { streams: [...this.streams.values()], junkBytes: this.junkBytes };
  }
}

/** Scans a whole transport stream held in memory. */
export function scanTs(ts: Buffer, onPayload?: PayloadSink): TsScan {
  const scanner = new TsScanner(onPayload);
  scanner.push(ts);
  return scanner.finish();
}

/**
 * A file's bytes in chunks: small files (every ordinary slice) in one read, large ones as a stream, so
 * memory does not grow with the file and the common case pays no stream overhead.
 */
export async function* fileChunks(file: string): AsyncGenerator<Buffer> {
  // One synchronous read for an ordinary slice (well under a millisecond; the thread-pool round trips of
  // open/stat/read/close cost more than the read itself, over thousands of slices).
  if (statSync(file).size <= WHOLE_FILE_MAX) {
    yield readFileSync(file);
    return;
  }
  for await (const chunk of createReadStream(file, { highWaterMark: READ_CHUNK })) yield chunk as Buffer;
}

/** Scans a TS file; memory does not grow with the file. */
export async function scanTsFile(file: string, onPayload?: PayloadSink): Promise<TsScan> {
  const scanner = new TsScanner(onPayload);
  for await (const chunk of fileChunks(file)) scanner.push(chunk);
  return scanner.finish();
}

/** The payload bytes (PES header included) of the access unit of `pid` whose first packet is at `offset`. */
export function unitBytes(ts: Buffer, pid: number, offset: number): Buffer {
  const parts: Buffer[] = [];
  for (let off = offset; off + TS_PACKET <= ts.length; off += TS_PACKET) {
    if (ts[off] !== 0x47) break;
    if ((((ts[off + 1]! & 0x1f) << 8) | ts[off + 2]!) !== pid) continue;
    const pusi = (ts[off + 1]! & 0x40) !== 0;
    if (pusi && off !== offset) break;
    const afc = (ts[off + 3]! >> 4) & 3;
    let p = off + 4;
    if (afc & 2) p += 1 + ts[off + 4]!;
    if (afc & 1 && p < off + TS_PACKET) parts.push(ts.subarray(p, off + TS_PACKET));
  }
  const data = Buffer.concat(parts);
  // Skip the PES header.
  return data.length >= 9 && data[0] === 0 && data[1] === 0 && data[2] === 1 ? data.subarray(9 + data[8]!) : data;
}
