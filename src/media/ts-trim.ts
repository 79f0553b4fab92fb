// Cuts the undecodable lead off a TS video slice that starts mid-GOP: the video packets before its
// first keyframe are left out (program tables and other streams stay), so a copied stream starts on a
// picture a player can show. The slice itself is never modified: the result is a new buffer.
import { scanTs } from './ts-scan.js';

const TS_PACKET = 188;

/** The slice without the video access units that come before its first keyframe (decode order). */
export function dropLeadBeforeKeyframe(ts: Buffer): { data: Buffer; droppedUnits: number } {
  const video = scanTs(ts).streams.find((s) => s.kind === 'video');
  const keyIndex = video ? video.units.findIndex((u) => u.key) : -1;
  if (!video || keyIndex <= 0) return { data: ts, droppedUnits: 0 };
  const keyOffset = video.units[keyIndex]!.offset;
  const kept: Buffer[] = [];
  for (let off = 0; off + TS_PACKET <= ts.length; off += TS_PACKET) {
    const pid = ((ts[off + 1]! & 0x1f) << 8) | ts[off + 2]!;
    if (pid === video.pid && off < keyOffset) continue;
    kept.push(ts.subarray(off, off + TS_PACKET));
  }
  return { data: Buffer.concat(kept), droppedUnits: keyIndex };
}

/** CRC-32/MPEG-2 of a PSI section (poly 0x04C11DB7, no reflection, no final xor). */
function crc32Mpeg2(data: Buffer): number {
  let crc = 0xffffffff;
  for (const byte of data) {
    crc ^= byte << 24;
    for (let k = 0; k < 8; k++) crc = crc & 0x80000000 ? (crc << 1) ^ 0x04c11db7 : crc << 1;
  }
  return crc >>> 0;
}

/** A PMT packet whose section lists only the elementary streams `keep` allows (CRC made again); unchanged when its section does not fit the packet. */
function pmtKeeping(packet: Buffer, keep: (pid: number) => boolean): Buffer {
  const afc = (packet[3]! >> 4) & 3;
  let p = 4 + (afc & 2 ? 1 + packet[4]! : 0);
  if (!(packet[1]! & 0x40) || !(afc & 1) || p >= TS_PACKET) return packet;
  p += 1 + packet[p]!; // pointer field
  const sectionLength = ((packet[p + 1]! & 0x0f) << 8) | packet[p + 2]!;
  const end = p + 3 + sectionLength;
  if (end > TS_PACKET || sectionLength < 13) return packet;
  const infoLength = ((packet[p + 10]! & 0x0f) << 8) | packet[p + 11]!;
  const entries: Buffer[] = [];
  for (let i = p + 12 + infoLength; i + 5 <= end - 4; ) {
    const esPid = ((packet[i + 1]! & 0x1f) << 8) | packet[i + 2]!;
    const size = 5 + (((packet[i + 3]! & 0x0f) << 8) | packet[i + 4]!);
    if (keep(esPid)) entries.push(packet.subarray(i, i + size));
    i += size;
  }
  const head = Buffer.from(packet.subarray(p, p + 12 + infoLength));
  // The PCR was carried by a stream left out: none now (0x1FFF).
  if (!keep(((head[8]! & 0x1f) << 8) | head[9]!)) head.writeUInt16BE((head[8]! & 0xe0) << 8 | 0x1fff, 8);
  const body = Buffer.concat([head, ...entries]);
  const length = body.length - 3 + 4;
  body[1] = (body[1]! & 0xf0) | ((length >> 8) & 0x0f);
  body[2] = length & 0xff;
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32Mpeg2(body));
  const out = Buffer.alloc(TS_PACKET, 0xff);
  packet.copy(out, 0, 0, p);
  Buffer.concat([body, crc]).copy(out, p);
  return out;
}

/**
 * One stream of a slice that holds audio and video (raw mode's muxed A+V TS): the packets of the other
 * media's streams are left out and the program table names only what is left, so ffmpeg reads a plain audio
 * (or video) slice whose first timestamp is its stream's own. The timestamps and PES bytes are the slice's.
 */
export function streamOnly(ts: Buffer, kind: 'audio' | 'video'): Buffer {
  const scan = scanTs(ts);
  // Every other elementary stream goes (an AV1 or data stream ffmpeg would only stumble over included).
  const other = new Set(scan.streams.filter((s) => s.kind !== kind).map((s) => s.pid));
  if (other.size === 0) return ts;
  let pmtPid = -1;
  const kept: Buffer[] = [];
  for (let off = 0; off + TS_PACKET <= ts.length; off += TS_PACKET) {
    const packet = ts.subarray(off, off + TS_PACKET);
    const pid = ((packet[1]! & 0x1f) << 8) | packet[2]!;
    if (other.has(pid)) continue;
    if (pid === 0 && packet[1]! & 0x40 && pmtPid < 0) pmtPid = patPmtPid(packet);
    kept.push(pid === pmtPid ? pmtKeeping(packet, (esPid) => !other.has(esPid)) : packet);
  }
  return Buffer.concat(kept);
}

/** The PMT PID of the first program a PAT packet names (-1 when it names none). */
function patPmtPid(packet: Buffer): number {
  const afc = (packet[3]! >> 4) & 3;
  let p = 4 + (afc & 2 ? 1 + packet[4]! : 0);
  p += 1 + packet[p]!;
  const sectionLength = ((packet[p + 1]! & 0x0f) << 8) | packet[p + 2]!;
  for (let i = p + 8; i + 4 <= Math.min(TS_PACKET, p + 3 + sectionLength - 4); i += 4) {
    if (((packet[i]! << 8) | packet[i + 1]!) !== 0) return ((packet[i + 2]! & 0x1f) << 8) | packet[i + 3]!;
  }
  return -1;
}

/**
 * ffmpeg 5.1's MPEG-TS probe gives a file full marks only from 12 packets on (it counts 204-byte FEC packets
 * and wants more than 10): a shorter slice (a forced cut a frame or two before the next one leaves 8 packets)
 * is taken for MPEG-PS or not opened at all ("End of file"), and a concat list stops there.
 */
export const MIN_PROBED_TS_BYTES = 12 * TS_PACKET;

/** A TS slice padded with null packets (PID 0x1fff, which demuxers skip) up to MIN_PROBED_TS_BYTES. */
export function padForProbe(ts: Buffer): Buffer {
  const missing = Math.ceil((MIN_PROBED_TS_BYTES - ts.length) / TS_PACKET);
  if (missing <= 0) return ts;
  const nullPacket = Buffer.alloc(TS_PACKET, 0xff);
  nullPacket.set([0x47, 0x1f, 0xff, 0x10]);
  return Buffer.concat([ts, ...Array.from({ length: missing }, () => nullPacket)]);
}
