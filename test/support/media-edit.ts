// Byte-level edits of real slices, for tests that need a slice broken in one precise way: the ADTS headers
// of a TS slice's audio rewritten in place (frames, lengths and timestamps stay where they are), and the
// EBML structure of a WebM slice changed (unknown sizes, zeroed IDs, deep nesting). Used by the fuzz tests.
const TS_PACKET = 188;

/** The file offset of every payload byte of one PID's PES payloads (PES headers left out), in order. */
function payloadOffsets(ts: Buffer, pid: number): number[] {
  const offsets: number[] = [];
  let headerLeft = 0;
  for (let off = 0; off + TS_PACKET <= ts.length; off += TS_PACKET) {
    if (ts[off] !== 0x47 || (((ts[off + 1]! & 0x1f) << 8) | ts[off + 2]!) !== pid) continue;
    const afc = (ts[off + 3]! >> 4) & 3;
    if (!(afc & 1)) continue;
    let p = off + 4 + (afc & 2 ? 1 + ts[off + 4]! : 0);
    if (ts[off + 1]! & 0x40) headerLeft = 9 + ts[p + 8]!;
    for (; p < off + TS_PACKET; p++) {
      if (headerLeft > 0) headerLeft--;
      else offsets.push(p);
    }
  }
  return offsets;
}

/** The PID of the first ADTS (stream type 0x0f) stream in the program table. */
function adtsPid(ts: Buffer): number {
  for (let off = 0; off + TS_PACKET <= ts.length; off += TS_PACKET) {
    const pid = ((ts[off + 1]! & 0x1f) << 8) | ts[off + 2]!;
    if (pid !== 0x1000 || !(ts[off + 1]! & 0x40)) continue;
    const s = off + 4 + 1 + ts[off + 4]!;
    const infoLength = ((ts[s + 10]! & 0x0f) << 8) | ts[s + 11]!;
    for (let i = s + 12 + infoLength; i + 5 <= off + TS_PACKET; i += 5 + (((ts[i + 3]! & 0x0f) << 8) | ts[i + 4]!)) {
      if (ts[i] === 0x0f) return ((ts[i + 1]! & 0x1f) << 8) | ts[i + 2]!;
    }
  }
  throw new Error('no ADTS stream in the program table (PMT expected on PID 0x1000, as ffmpeg writes it)');
}

export interface AdtsHeaderEdit {
  sampleRateIndex?: number;
  channelConfig?: number;
  /** Raw data blocks in the frame (1..4). */
  blocks?: number;
  /** The 13-bit frame_length field. */
  frameLength?: number;
}

/**
 * Rewrites fields of the ADTS headers of a TS slice's audio in place: every frame, or those `which`
 * picks (by index). Returns how many headers were edited.
 */
export function editAdtsHeaders(ts: Buffer, edit: AdtsHeaderEdit, which: (index: number, count: number) => boolean = () => true): number {
  const at = payloadOffsets(ts, adtsPid(ts));
  const byte = (i: number) => ts[at[i]!]!;
  const set = (i: number, value: number) => (ts[at[i]!] = value);
  const starts: number[] = [];
  for (let i = 0; i + 7 <= at.length; ) {
    if (byte(i) !== 0xff || (byte(i + 1) & 0xf6) !== 0xf0) {
      i++;
      continue;
    }
    const length = ((byte(i + 3) & 0x03) << 11) | (byte(i + 4) << 3) | (byte(i + 5) >> 5);
    starts.push(i);
    i += Math.max(length, 7);
  }
  let edited = 0;
  for (const [n, i] of starts.entries()) {
    if (!which(n, starts.length)) continue;
    if (edit.sampleRateIndex !== undefined) set(i + 2, (byte(i + 2) & 0xc3) | (edit.sampleRateIndex << 2));
    if (edit.channelConfig !== undefined) {
      set(i + 2, (byte(i + 2) & 0xfe) | (edit.channelConfig >> 2));
      set(i + 3, (byte(i + 3) & 0x3f) | ((edit.channelConfig & 3) << 6));
    }
    if (edit.blocks !== undefined) set(i + 6, (byte(i + 6) & 0xfc) | ((edit.blocks - 1) & 3));
    if (edit.frameLength !== undefined) {
      const length = edit.frameLength;
      set(i + 3, (byte(i + 3) & 0xfc) | ((length >> 11) & 3));
      set(i + 4, (length >> 3) & 0xff);
      set(i + 5, (byte(i + 5) & 0x1f) | ((length & 7) << 5));
    }
    edited++;
  }
  return edited;
}

const SEGMENT_ID = Buffer.from([0x18, 0x53, 0x80, 0x67]);
const CUES_ID = Buffer.from([0x1c, 0x53, 0xbb, 0x6b]);

/** Length of the EBML variable-size integer whose first byte is `b` (1..8). */
const vintLength = (b: number) => Math.clz32(b) - 23;

/** An 8-byte EBML size. */
function size8(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n) | (1n << 56n));
  return b;
}

/** Where the Segment's size field is: [offset, length]. */
function segmentSize(webm: Buffer): [number, number] {
  const at = webm.indexOf(SEGMENT_ID);
  if (at < 0) throw new Error('no Segment element');
  return [at + 4, vintLength(webm[at + 4]!)];
}

/** The Segment's size set to "unknown" (all value bits one), as a live recorder writes it. */
export function unknownSizeSegment(webm: Buffer): Buffer {
  const out = Buffer.from(webm);
  const [at, length] = segmentSize(out);
  out[at] = 0xff >> (length - 1);
  out.fill(0xff, at + 1, at + length);
  return out;
}

/** The last Cues element with its ID zeroed (the SeekHead still points at it). */
export function zeroedCuesId(webm: Buffer): Buffer {
  const out = Buffer.from(webm);
  const at = out.lastIndexOf(CUES_ID);
  if (at < 0) throw new Error('no Cues element');
  out.fill(0, at, at + 4);
  return out;
}

/** `depth` ChapterAtom elements nested in each other, appended inside the Segment (its size grown to hold them). */
export function nestedAtoms(webm: Buffer, depth: number): Buffer {
  let inner = Buffer.alloc(0);
  for (let i = 0; i < depth; i++) inner = Buffer.concat([Buffer.from([0xb6]), size8(inner.length), inner]);
  const out = Buffer.concat([webm, inner]);
  const [at, length] = segmentSize(out);
  if (length === 8) {
    const old = Number(out.readBigUInt64BE(at) & ((1n << 56n) - 1n));
    if (old !== 2 ** 56 - 1) size8(old + inner.length).copy(out, at);
  }
  return out;
}
