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
  /** How much of the clip is read (ms from its start; see copyJoinMs): its frames before that are shown. */
  showsMs?: number;
}

/**
 * The copy path's rule at a join, where frames are copied with their own timestamps: up to where (ms from
 * the earlier clip's output offset, compared with its decode timestamps) the earlier clip is read before
 * `next` (a slice) starts. No frame of it shares the output frame slot (the nearest multiple of `frameMs`)
 * of the next slice's first frame: two frames closer than a frame, where slice names overlap the media, are
 * one slot to any reader at the track's frame rate (ffmpeg's decode to `-f null` calls them non-monotonic
 * timestamps). `reorder` (a lead clip before the first slice): nothing of it is read once the next slice's
 * first frame is decoded, `reorderMs` before it is shown with B-frames. Slices of one run are not cut for
 * that: the next one may go on decoding from frames of this one (a mid-GOP cut), and the muxer moves such
 * a decode timestamp up by a tick. `earlierReorderMs` (the earlier clip's B-frame delay): see below.
 */
export function copyJoinMs(offsetMs: number, next: PlacedSlice, copy: CopyJoins, reorder = false, earlierReorderMs = 0): number {
  const { frameMs } = copy;
  // Offsets are output times already: a late video's `-itsoffset` is its first slice's offset.
  const nextFirst = next.offsetMs + (next.frameOffsetsMs?.[0] ?? 0);
  const decoded = reorder ? nextFirst - (next.reorderMs ?? 0) : Infinity;
  // Frames are moved by up to half a step of the copy grid (see copyTimeGrid), and an MP4 edit list (the
  // `-itsoffset` of a late video) is written in whole ms: the next slice's first frame may land up to a step
  // early, so its slot is counted from a step before it, and a margin of a step and a half keeps this clip's
  // frames below that slot.
  // Out points compare decode timestamps: a B-frame of this clip decoded before the cut is shown up to its
  // reordering delay later. Where the next slice starts on a keyframe (nothing of it is decoded from this
  // clip), the cut comes that much earlier, so what this clip shows stays below the slot.
  const shown = next.startsMidGop === true ? 0 : earlierReorderMs;
  const slot = (Math.round((nextFirst - COPY_GRID_MS) / frameMs) - 0.5) * frameMs - COPY_GRID_MS * 1.5 - shown;
  return Math.min(decoded, slot) - offsetMs;
}

/** The copy path's joins: the track's frame interval. */
export interface CopyJoins {
  frameMs: number;
}

/** The copy path's time grid (see copyTimeGrid) is no finer than this (ms). */
const COPY_GRID_MS = 1000 / 209.9;

/**
 * The step (in 1/90000 s, MPEG-TS's clock) every copied video timestamp is rounded to: the smallest divisor
 * of the frame interval that is at least COPY_GRID_MS (500 at 15 or 30 fps: 5.6 ms), so frames of a steady
 * rate stay exactly one interval apart. Frames placed on the wall clock are a few ms off any frame grid, and
 * ffmpeg guesses a copied MP4 track's frame rate from the greatest common divisor of its timestamp steps: a
 * divisor of a few ticks gives a rate above 210, for which it takes the average rate instead (below the real
 * one where a picture is held), and a decode then maps neighbouring frames onto one tick. On this grid the
 * guess is the grid's rate or a coarser one that still divides every step in what it reads.
 */
export function copyTimeGrid(fps: number): number {
  const frameTicks = Math.round(90000 / fps);
  const least = Math.ceil((COPY_GRID_MS / 1000) * 90000);
  for (let d = least; d <= frameTicks; d++) if (frameTicks % d === 0) return d;
  return Math.max(least, frameTicks);
}

/**
 * An ffconcat list that places each slice at its output offset: every entry lasts until the next slice
 * starts (so a gap holds the last frame). A slice whose media runs into the next one's time is cut there:
 * ffconcat out points are in the slice's own timestamps, so they need its measured start. `lead` puts a
 * clip before the first slice, lasting up to it. `copy` (the copy path: frames keep their own
 * timestamps) cuts every join by copyJoinMs.
 */
export function concatList(slices: PlacedSlice[], paths: Map<string, string>, cutOverlaps: boolean, lead?: LeadClip, copy?: CopyJoins): string {
  const entries: ConcatEntry[] = [];
  // The lead clip may hold more frames than it should show (a clip of one or two frames cannot be probed).
  if (lead) entries.push({ file: lead.file, durationMs: lead.durationMs, outpointS: lead.startS + (lead.showsMs ?? lead.durationMs) / 1000 });
  slices.forEach((s, i) => {
    const next = slices[i + 1];
    const path = paths.get(s.key);
    if (!path) throw new Error(`${s.key}: no local file`);
    const outMs = sliceOutMs(s, next, cutOverlaps, copy);
    entries.push({ file: path, durationMs: next ? next.offsetMs - s.offsetMs : s.slotMs, ...(outMs !== undefined ? { outpointS: s.mediaStartS! + outMs / 1000 } : {}) });
  });
  return ffconcat(entries);
}

/** Where a slice of a concat list is cut (ms of its own media from its start), or undefined when it is read whole. */
export function sliceOutMs(s: PlacedSlice, next: PlacedSlice | undefined, cutOverlaps: boolean, copy?: CopyJoins): number | undefined {
  if (!cutOverlaps || !next || s.mediaStartS === undefined) return undefined;
  const outMs = copy ? Math.min(s.slotMs, copyJoinMs(s.offsetMs, next, copy, false, s.reorderMs)) : s.slotMs;
  return outMs < s.durationMs - 0.5 ? outMs : undefined;
}
