// The composite's layout timeline: who is on screen when, and where. Pure: wall-clock presence spans of
// every user in, output-frame intervals with one tile rectangle per shown user out.
//
// Rules: a user is shown while their video is present (with `audioTiles`, while their audio is present too);
// the grid re-flows only when the set of shown users changes; tiles are in join order (the user's first
// instant in the session); beyond `maxTiles` users, the most recently audible ones are shown.
import { unionSpans } from './timeline.js';
import type { ComposeLayoutMode } from './options.js';
import type { Interval } from './types.js';

/** Pauses in a user's video shorter than this do not take the tile away (they are filled per --gaps). */
export const PRESENCE_JOIN_MS = 1000;
export const DEFAULT_MAX_TILES = 16;

export interface LayoutUser {
  /** The session the user belongs to (several joined by '+' when sessions are joined). */
  sid: string;
  uid: string;
  /** Wall-clock spans in which the user's video is present. */
  video: Interval[];
  /** Wall-clock spans in which the user's audio is present. */
  audio: Interval[];
}

export interface LayoutOptions {
  width: number;
  height: number;
  fps: number;
  /** Default 16. */
  maxTiles?: number;
  /** Users with audio but no video get a (black) tile. */
  audioTiles?: boolean;
}

export interface Rect {
  x: number;
  y: number;
  w: number;
  h: number;
}

export interface Tile extends Rect {
  sid: string;
  uid: string;
}

export interface LayoutInterval {
  /** Output frames [startFrame, endFrame). */
  startFrame: number;
  endFrame: number;
  startMs: number;
  endMs: number;
  tiles: Tile[];
  /** `speaker`/`vertical` layouts: the user in the big tile (the first of `tiles`); null when nobody is shown. */
  main?: { sid: string; uid: string } | null;
}

export interface Layout {
  width: number;
  height: number;
  fps: number;
  /** Wall clock of output time 0. */
  originMs: number;
  frames: number;
  durationMs: number;
  /** Consecutive, covering [0, frames) exactly. */
  intervals: LayoutInterval[];
  /** Default 'grid' (see core/speaker.ts for the others). */
  mode?: ComposeLayoutMode;
}

/** A user's presence: the union of their media's spans, joining pauses shorter than `joinMs`. */
export const presenceSpans = (spans: Interval[], joinMs = PRESENCE_JOIN_MS): Interval[] => unionSpans(spans.filter((s) => s.endMs > s.startMs), joinMs);

const evenDown = (n: number) => Math.max(2, Math.floor(n / 2) * 2);
const evenNear = (n: number) => Math.max(0, Math.round(n / 2) * 2);

/**
 * Grid cells for `n` tiles on a width x height canvas: the column count that gives a 16:9 picture the
 * largest area (ties: fewer empty cells, then more columns); the grid is centred, an incomplete last
 * row too. Cells have even sizes and positions (4:2:0 chroma).
 */
export function gridCells(n: number, width: number, height: number, aspect = 16 / 9): Rect[] {
  if (n <= 0) return [];
  let best = { cols: 1, rows: n, area: -1, empty: 0 };
  for (let cols = 1; cols <= n; cols++) {
    const rows = Math.ceil(n / cols);
    const cw = width / cols;
    const ch = height / rows;
    const fitted = Math.min(cw, ch * aspect);
    const area = Math.round(fitted * (fitted / aspect));
    const empty = cols * rows - n;
    if (area > best.area || (area === best.area && empty <= best.empty)) best = { cols, rows, area, empty };
  }
  const { cols, rows } = best;
  const cw = evenDown(width / cols);
  const ch = evenDown(height / rows);
  const x0 = evenNear((width - cols * cw) / 2);
  const y0 = evenNear((height - rows * ch) / 2);
  const cells: Rect[] = [];
  for (let i = 0; i < n; i++) {
    const row = Math.floor(i / cols);
    const col = i % cols;
    const inRow = row === rows - 1 ? n - row * cols : cols;
    const rowX = x0 + evenNear(((cols - inRow) * cw) / 2);
    cells.push({ x: rowX + col * cw, y: y0 + row * ch, w: cw, h: ch });
  }
  return cells;
}

const inside = (spans: Interval[], t: number) => spans.some((s) => s.startMs <= t && t < s.endMs);

/** When the user was last audible at wall-clock t: t itself while audio is present, else the end of the last span before t. */
function lastAudible(user: LayoutUser, t: number): number {
  let last = -Infinity;
  for (const s of user.audio) {
    if (s.startMs <= t && t < s.endMs) return t;
    if (s.endMs <= t) last = Math.max(last, s.endMs);
  }
  return last;
}

/** Output frame of a wall-clock instant. */
export const frameOf = (wallMs: number, originMs: number, fps: number) => Math.round(((wallMs - originMs) * fps) / 1000);
/** Output time (ms, 3 decimals) of the start of a frame. */
export const msOfFrame = (frame: number, fps: number) => Math.round((frame * 1e6) / fps) / 1000;

/**
 * The layout timeline of a composite spanning [originMs, endMs) on the wall clock. Boundaries are snapped
 * to output frames; intervals hold the same tiles throughout and together cover the whole output.
 */
export function computeLayout(users: LayoutUser[], originMs: number, endMs: number, options: LayoutOptions): Layout {
  const { width, height, fps } = options;
  const maxTiles = options.maxTiles ?? DEFAULT_MAX_TILES;
  const frames = Math.max(1, frameOf(endMs, originMs, fps));
  const firstInstant = (u: LayoutUser) => Math.min(...[...u.video, ...(options.audioTiles ? u.audio : [])].map((s) => s.startMs), Infinity);
  const joinOrder = users
    .map((u, i) => ({ u, i, first: firstInstant(u) }))
    .sort((a, b) => a.first - b.first || a.i - b.i)
    .map((x) => x.u);
  const rank = new Map(joinOrder.map((u, i) => [u, i]));

  const cuts = new Set<number>([0, frames]);
  for (const u of users) {
    for (const s of [...u.video, ...u.audio]) {
      for (const t of [s.startMs, s.endMs]) cuts.add(Math.min(frames, Math.max(0, frameOf(t, originMs, fps))));
    }
  }
  const bounds = [...cuts].sort((a, b) => a - b);

  const intervals: LayoutInterval[] = [];
  let previousKey: string | null = null;
  for (let i = 0; i + 1 < bounds.length; i++) {
    const startFrame = bounds[i]!;
    const endFrame = bounds[i + 1]!;
    // What is true over [startFrame, endFrame) is what is true at its middle.
    const mid = originMs + (((startFrame + endFrame) / 2) * 1000) / fps;
    let shown = joinOrder.filter((u) => inside(u.video, mid) || (options.audioTiles === true && inside(u.audio, mid)));
    if (shown.length > maxTiles) {
      const chosen = new Set(
        [...shown].sort((a, b) => lastAudible(b, mid) - lastAudible(a, mid) || rank.get(a)! - rank.get(b)!).slice(0, maxTiles),
      );
      shown = shown.filter((u) => chosen.has(u));
    }
    const key = shown.map((u) => rank.get(u)).join(',');
    const last = intervals.at(-1);
    if (last && key === previousKey) {
      last.endFrame = endFrame;
      last.endMs = msOfFrame(endFrame, fps);
      continue;
    }
    const cells = gridCells(shown.length, width, height);
    intervals.push({
      startFrame,
      endFrame,
      startMs: msOfFrame(startFrame, fps),
      endMs: msOfFrame(endFrame, fps),
      tiles: shown.map((u, k) => ({ sid: u.sid, uid: u.uid, ...cells[k]! })),
    });
    previousKey = key;
  }
  return { width, height, fps, originMs, frames, durationMs: msOfFrame(frames, fps), intervals };
}

/** The `<output>.layout.json` sidecar. */
export function layoutJson(layout: Layout, formatUtc: (ms: number) => string): string {
  return JSON.stringify(
    {
      width: layout.width,
      height: layout.height,
      fps: layout.fps,
      originUtc: formatUtc(layout.originMs),
      layout: layout.mode ?? 'grid',
      intervals: layout.intervals.map((i) => ({
        startMs: i.startMs,
        endMs: i.endMs,
        ...(i.main !== undefined ? { main: i.main } : {}),
        tiles: i.tiles.map((t) => ({ sid: t.sid, uid: t.uid, x: t.x, y: t.y, w: t.w, h: t.h })),
      })),
    },
    null,
    2,
  );
}
