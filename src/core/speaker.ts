// `compose --layout speaker|vertical`: who holds the big tile when, from each user's audio levels, and the
// tiles of one big picture beside a strip (speaker: below it) or a column (vertical: to its right). Pure: the
// levels are measured by ffmpeg (compose/render.ts), the decisions are made here.
//
// Voice activity: a user's level is the RMS of their audio over the last SPEAKER_SMOOTH_MS (from windows of
// SPEAKER_WINDOW_MS); a user at or above SPEAKER_ACTIVE_DB is speaking. The loudest speaking user takes the
// big tile when nobody holds it, when its holder is no longer shown, or, once the holder has had it for
// SPEAKER_HOLD_MS, when the holder has stopped speaking or the challenger is SPEAKER_MARGIN_DB louder
// (hysteresis: two voices of about the same level do not trade the tile back and forth).
import type { ComposeLayoutMode } from './options.js';
import { frameOf, gridCells, msOfFrame, type Layout, type LayoutInterval, type Rect } from './layout.js';

/** Length of one level measurement, ms. */
export const SPEAKER_WINDOW_MS = 100;
/** Voice activity is judged over this much audio (the last windows), ms. */
export const SPEAKER_SMOOTH_MS = 500;
/** The big tile changes hands at most once per this long, ms. */
export const SPEAKER_HOLD_MS = 2000;
/** RMS (dBFS) at or above which a user is speaking (speech sits around -30 to -15; room noise below -50). */
export const SPEAKER_ACTIVE_DB = -45;
/** How much louder a challenger must be than a holder who is still speaking, dB. */
export const SPEAKER_MARGIN_DB = 6;

export interface SpeakerOptions {
  windowMs?: number;
  smoothMs?: number;
  holdMs?: number;
  activeDb?: number;
  marginDb?: number;
}

/** A stretch of output time [startMs, endMs) in which `main` (an index of the users measured) holds the big tile. */
export interface SpeakerSpan {
  startMs: number;
  endMs: number;
  main: number | null;
}

const energy = (db: number) => (Number.isFinite(db) ? 10 ** (db / 10) : 0);
const level = (e: number) => (e > 0 ? 10 * Math.log10(e) : -Infinity);

/**
 * Who holds the big tile, window by window, merged into spans. `levels[u][i]`: user u's RMS (dBFS, -Infinity
 * for silence or absence) over window i (output time [i * windowMs, (i + 1) * windowMs)); `shown(i)`: the users
 * with a tile in window i, in join order (the first of them holds the tile while nobody has spoken).
 */
export function speakerSpans(levels: number[][], shown: (window: number) => number[], options: SpeakerOptions = {}): SpeakerSpan[] {
  const windowMs = options.windowMs ?? SPEAKER_WINDOW_MS;
  const smooth = Math.max(1, Math.round((options.smoothMs ?? SPEAKER_SMOOTH_MS) / windowMs));
  const hold = Math.round((options.holdMs ?? SPEAKER_HOLD_MS) / windowMs);
  const active = options.activeDb ?? SPEAKER_ACTIVE_DB;
  const margin = options.marginDb ?? SPEAKER_MARGIN_DB;
  const windows = Math.max(0, ...levels.map((l) => l.length));
  // Running sums of energy: the RMS over the last `smooth` windows of each user.
  const sums = levels.map((l) => {
    const s = [0];
    for (let i = 0; i < windows; i++) s.push(s[i]! + energy(l[i] ?? -Infinity));
    return s;
  });
  const smoothed = (u: number, i: number) => level((sums[u]![i + 1]! - sums[u]![Math.max(0, i + 1 - smooth)]!) / Math.min(smooth, i + 1));
  const spans: SpeakerSpan[] = [];
  let main: number | null = null;
  let since = 0;
  for (let i = 0; i < windows; i++) {
    const here = shown(i);
    const speaking = here.filter((u) => smoothed(u, i) >= active);
    // The loudest speaker (ties: join order).
    const loudest = speaking.reduce<number | null>((best, u) => (best === null || smoothed(u, i) > smoothed(best, i) ? u : best), null);
    if (here.length === 0) main = null;
    else if (main === null || !here.includes(main)) {
      main = loudest ?? here[0]!;
      since = i;
    } else if (i - since >= hold && loudest !== null && loudest !== main) {
      const holder = smoothed(main, i);
      if (holder < active || smoothed(loudest, i) >= holder + margin) {
        main = loudest;
        since = i;
      }
    }
    const last = spans.at(-1);
    if (last && last.main === main) last.endMs = (i + 1) * windowMs;
    else spans.push({ startMs: i * windowMs, endMs: (i + 1) * windowMs, main });
  }
  return spans;
}

/** Tile rectangles with one big tile (index 0) and the others in a strip below it (speaker) or a column to its right (vertical). */
export function speakerCells(n: number, width: number, height: number, mode: Exclude<ComposeLayoutMode, 'grid'>, aspect = 16 / 9): Rect[] {
  if (n <= 0) return [];
  if (n === 1) return gridCells(1, width, height, aspect);
  const k = n - 1;
  const even = (v: number) => Math.max(2, Math.floor(v / 2) * 2);
  const evenNear = (v: number) => Math.max(0, Math.round(v / 2) * 2);
  if (mode === 'speaker') {
    const strip = even(height / 5);
    const w = even(Math.min(width / k, strip * aspect));
    const x0 = evenNear((width - k * w) / 2);
    return [{ x: 0, y: 0, w: width, h: height - strip }, ...Array.from({ length: k }, (_, i) => ({ x: x0 + i * w, y: height - strip, w, h: strip }))];
  }
  const column = even(width / 5);
  const h = even(Math.min(height / k, column / aspect));
  const y0 = evenNear((height - k * h) / 2);
  return [{ x: 0, y: 0, w: width - column, h: height }, ...Array.from({ length: k }, (_, i) => ({ x: width - column, y: y0 + i * h, w: column, h }))];
}

/** Users (by `sid/uid`) shown in each layout interval. */
const key = (t: { sid: string; uid: string }) => `${t.sid}/${t.uid}`;

/**
 * The layout with one big tile: each interval split where the holder of the big tile changes (on output
 * frames), the holder in the big tile, the others in join order in the strip or column. `spans` (from
 * speakerSpans, `main` an index of `users`) say who holds it; without spans the first shown user does.
 */
export function speakerLayout(grid: Layout, mode: Exclude<ComposeLayoutMode, 'grid'>, users: { sid: string; uid: string }[] = [], spans: SpeakerSpan[] = []): Layout {
  const cuts = spans.slice(1).map((s) => Math.min(grid.frames, Math.max(0, frameOf(s.startMs, 0, grid.fps))));
  const intervals: LayoutInterval[] = [];
  for (const iv of grid.intervals) {
    const bounds = [iv.startFrame, ...cuts.filter((f) => f > iv.startFrame && f < iv.endFrame), iv.endFrame];
    for (let b = 0; b + 1 < bounds.length; b++) {
      const [startFrame, endFrame] = [bounds[b]!, bounds[b + 1]!];
      const midMs = (((startFrame + endFrame) / 2) * 1000) / grid.fps;
      const span = spans.find((s) => s.startMs <= midMs && midMs < s.endMs) ?? spans.at(-1);
      const wanted = span?.main != null ? users[span.main] : undefined;
      const holder = (wanted && iv.tiles.find((t) => key(t) === key(wanted))) ?? iv.tiles[0];
      const order = holder ? [holder, ...iv.tiles.filter((t) => t !== holder)] : [];
      const cells = speakerCells(order.length, grid.width, grid.height, mode);
      const tiles = order.map((t, k) => ({ sid: t.sid, uid: t.uid, ...cells[k]! }));
      const main = holder ? { sid: holder.sid, uid: holder.uid } : null;
      const last = intervals.at(-1);
      if (last && last.endFrame === startFrame && JSON.stringify(last.tiles) === JSON.stringify(tiles)) {
        last.endFrame = endFrame;
        last.endMs = msOfFrame(endFrame, grid.fps);
        continue;
      }
      intervals.push({ startFrame, endFrame, startMs: msOfFrame(startFrame, grid.fps), endMs: msOfFrame(endFrame, grid.fps), tiles, main });
    }
  }
  return { ...grid, mode, intervals };
}

/**
 * Levels out of ffmpeg's `ametadata=mode=print` of `lavfi.astats.Overall.RMS_level` (one frame per window):
 * dBFS per window, by the frame's pts_time; windows it does not mention are silent (-Infinity).
 */
export function parseLevels(text: string, windowMs = SPEAKER_WINDOW_MS): number[] {
  const levels: number[] = [];
  let window: number | null = null;
  for (const line of text.split('\n')) {
    const at = /pts_time:(-?[\d.]+)/.exec(line);
    if (at) {
      window = Math.round((Number(at[1]) * 1000) / windowMs);
      continue;
    }
    const value = /^lavfi\.astats\.Overall\.RMS_level=(.+)$/.exec(line.trim());
    if (value && window !== null && window >= 0) {
      const db = Number(value[1]);
      while (levels.length < window) levels.push(-Infinity);
      levels[window] = Number.isFinite(db) ? db : -Infinity;
    }
  }
  return levels;
}
