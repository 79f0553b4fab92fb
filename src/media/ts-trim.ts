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
