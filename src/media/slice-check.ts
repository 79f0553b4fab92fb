// A cheap look at a slice before it goes into ffmpeg: a file that is not the container its name says
// (empty, garbage, an HTML error page saved by a failed upload) would otherwise fail the whole output.
import { open } from 'node:fs/promises';
import type { SliceContainer } from '../core/types.js';

const TS_PACKET = 188;
const EBML_MAGIC = Buffer.from([0x1a, 0x45, 0xdf, 0xa3]);

/** Null when a file's first bytes (up to three TS packets) look like its container, else what is wrong. */
export function checkSliceHead(head: Buffer, container: SliceContainer): string | null {
  const bytesRead = Math.min(head.length, TS_PACKET * 3);
  if (bytesRead === 0) return 'empty file';
  if (container === 'webm') return head.subarray(0, 4).equals(EBML_MAGIC) ? null : 'not a WebM file (no EBML header)';
  if (bytesRead < TS_PACKET) return `truncated to ${bytesRead} bytes (less than one MPEG-TS packet)`;
  for (let off = 0; off + TS_PACKET <= bytesRead; off += TS_PACKET) {
    if (head[off] !== 0x47) return 'not an MPEG-TS file (no sync byte)';
  }
  return null;
}

/** Null when the file looks like its container, else what is wrong with it. */
export async function checkSliceFile(file: string, container: SliceContainer): Promise<string | null> {
  const handle = await open(file, 'r');
  try {
    const head = Buffer.alloc(TS_PACKET * 3);
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    return checkSliceHead(head.subarray(0, bytesRead), container);
  } finally {
    await handle.close();
  }
}
