// ffconcat lists: how a run of slices becomes one ffmpeg input. Each slice lasts up to the next one (a gap
// holds the last frame); a slice whose media runs into the next one's time is cut there by an out point in
// the slice's own clock (measured); a lead clip (black frames) may come first. The one writer of ffconcat
// text for merge, compose and snapshots.
import type { PlacedSlice } from '../core/types.js';

const sec = (ms: number) => (ms / 1000).toFixed(6);

/** Quotes a path for an ffconcat `file` line (any character, quotes and newlines included). */
export function concatQuote(file: string): string {
  if (/[\n\r]/.test(file)) throw new Error(`${file}: file names with line breaks cannot be concatenated`);
  return `'${file.replace(/'/g, `'\\''`)}'`;
}

/** One `file` entry: how long it lasts in the list, and where its own timestamps end (out point, seconds). */
export interface ConcatEntry {
  file: string;
  durationMs?: number;
  outpointS?: number;
}

/** The text of an ffconcat list. */
export function ffconcat(entries: ConcatEntry[]): string {
  const lines = ['ffconcat version 1.0'];
  for (const e of entries) {
    lines.push(`file ${concatQuote(e.file)}`);
    if (e.durationMs !== undefined) lines.push(`duration ${sec(e.durationMs)}`);
    if (e.outpointS !== undefined) lines.push(`outpoint ${e.outpointS.toFixed(6)}`);
  }
  return lines.join('\n') + '\n';
}

/** A clip put before the first slice (black frames before a late first picture), lasting up to it. */
export interface LeadClip {
  file: string;
  durationMs: number;
  /** The clip's first timestamp: its out point is counted from there. */
  startS: number;
}

/**
 * An ffconcat list that places each slice at its output offset: every entry lasts until the next slice
 * starts (so a gap holds the last frame). A slice whose media runs into the next one's time is cut there:
 * ffconcat out points are in the slice's own timestamps, so they need its measured start. `lead` puts a
 * clip before the first slice, lasting up to it.
 */
export function concatList(slices: PlacedSlice[], paths: Map<string, string>, cutOverlaps: boolean, lead?: LeadClip): string {
  const entries: ConcatEntry[] = [];
  // The lead clip may hold more frames than it should show (a clip of one or two frames cannot be probed).
  if (lead) entries.push({ file: lead.file, durationMs: lead.durationMs, outpointS: lead.startS + lead.durationMs / 1000 });
  slices.forEach((s, i) => {
    const next = slices[i + 1];
    const path = paths.get(s.key);
    if (!path) throw new Error(`${s.key}: no local file`);
    const cut = cutOverlaps && next && s.mediaStartS !== undefined && s.slotMs < s.durationMs - 0.5;
    entries.push({ file: path, durationMs: next ? next.offsetMs - s.offsetMs : s.slotMs, ...(cut ? { outpointS: s.mediaStartS! + s.slotMs / 1000 } : {}) });
  });
  return ffconcat(entries);
}
