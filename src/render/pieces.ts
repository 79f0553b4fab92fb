// Which slices an input must read to show a stretch of a run: the slices that hold it, and before them
// those that must be decoded first because the stretch starts in a slice cut mid-GOP (its frames before the
// first keyframe reference pictures of the slice before). The one rule for compose's pieces, merge's
// rotation pieces and snapshots.
import type { PlacedSlice } from '../core/types.js';

/**
 * The slices of `run` (in order) that hold output time [fromMs, toMs) (an instant when they are equal),
 * extended back over slices that start mid-GOP to one that starts on a keyframe (or the run's first).
 * A stretch after the run's last slice (its held last frame) reads the last slice.
 */
export function pieceSlices(run: PlacedSlice[], fromMs: number, toMs: number): PlacedSlice[] {
  let first = run.findIndex((s) => s.offsetMs + s.slotMs > fromMs);
  if (first < 0) first = run.length - 1;
  let last = first;
  while (last + 1 < run.length && run[last + 1]!.offsetMs < toMs) last++;
  while (first > 0 && run[first]!.startsMidGop) first--;
  return run.slice(first, last + 1);
}
