// Output time: where wall-clock instants and slices land in an output (once absences are cut), the union
// of spans, and a slice's length as its media says. Pure; the one place these rules live.
import { GAP_TOLERANCE_MS } from './inventory.js';
import type { Interval, MediaKind, PlacedSlice, Slice, SliceMedia } from './types.js';

/**
 * Decoded audio is laid on its timestamps by `aresample` only where it is off by more than this (ms): a smaller
 * jump between slices is played on without a cut. 1 ms, not more: slice-to-slice errors under a larger threshold
 * add up (WebM Opus slices each lack their dropped 6.5 ms pre-skip; jittered Opus-in-TS drifted 5 ms). See
 * render/audio.ts.
 */
export const AUDIO_HARD_COMP_MS = 1;

/** A slice whose measured length differs from its #EXTINF by more than this is reported. */
export const EXTINF_WARN_MS = 500;

export const endOf = (s: { startMs: number; durationMs: number }) => s.startMs + s.durationMs;

/** Math.min/max over a list without spreading it into arguments (which overflows the stack past ~100k). */
export const minOf = (values: number[]) => values.reduce((a, b) => (b < a ? b : a), Infinity);
export const maxOf = (values: number[]) => values.reduce((a, b) => (b > a ? b : a), -Infinity);

/** Union of spans, joining those closer than `joinMs` (spans that end before they start are dropped). */
export function unionSpans(spans: Interval[], joinMs: number): Interval[] {
  const sorted = spans.filter((s) => s.endMs >= s.startMs).sort((a, b) => a.startMs - b.startMs);
  const out: Interval[] = [];
  for (const s of sorted) {
    const last = out.at(-1);
    if (last && s.startMs <= last.endMs + joinMs) last.endMs = Math.max(last.endMs, s.endMs);
    else out.push({ startMs: s.startMs, endMs: s.endMs });
  }
  return out;
}

/** Union of the slices' wall-clock spans, merging spans closer than the tolerance. */
export const coveredSpans = (slices: Slice[], toleranceMs = GAP_TOLERANCE_MS): Interval[] =>
  unionSpans(slices.map((s) => ({ startMs: s.startMs, endMs: endOf(s) })), toleranceMs);

/** Where a wall-clock instant lands in output time, once `cuts` are removed. */
export function toOutput(wallMs: number, originMs: number, cuts: Interval[]): number {
  let t = wallMs - originMs;
  for (const c of cuts) {
    if (c.endMs <= wallMs) t -= c.endMs - c.startMs;
    else if (c.startMs < wallMs) t -= wallMs - c.startMs;
  }
  return t;
}

/** Places slices in output time; each owns the time up to the next slice when they are contiguous. */
export function placeSlices(slices: Slice[], originMs: number, cuts: Interval[], media?: Map<string, SliceMedia>): PlacedSlice[] {
  const sorted = [...slices].sort((a, b) => a.startMs - b.startMs);
  const placed: PlacedSlice[] = [];
  sorted.forEach((s, i) => {
    const offsetMs = toOutput(s.startMs, originMs, cuts);
    const next = sorted[i + 1];
    let slotMs = s.durationMs;
    if (next) {
      const nextOffset = toOutput(next.startMs, originMs, cuts);
      // Contiguous (or overlapping): the slice runs exactly up to the next one.
      if (nextOffset - offsetMs <= s.durationMs + GAP_TOLERANCE_MS) slotMs = nextOffset - offsetMs;
    }
    if (slotMs <= 0) return;
    const p: PlacedSlice = { key: s.key, offsetMs, slotMs, durationMs: s.durationMs, startMs: s.startMs };
    const m = media?.get(s.key);
    if (s.muxed) p.muxed = true;
    if (m) p.mediaStartS = m.startS;
    if (m?.frameOffsetsMs) p.frameOffsetsMs = m.frameOffsetsMs;
    if (m?.reorderMs) p.reorderMs = m.reorderMs;
    if (m?.startsOnKey === false) p.startsMidGop = true;
    if (s.turns) p.turns = s.turns.map((t) => ({ atMs: toOutput(t.atMs, originMs, cuts), rotation: t.rotation }));
    placed.push(p);
  });
  return placed;
}

/**
 * A slice as its media says: the length is the measured one (an #EXTINF that disagrees is reported
 * when the difference is more than rounding and jitter).
 */
export function measuredSlice(slice: Slice, media: Map<string, SliceMedia> | undefined, warnings: string[]): Slice {
  const m = media?.get(slice.key);
  if (m?.junkBytes) warnings.push(`${slice.key}: ${m.junkBytes} bytes are not ${slice.container === 'ts' ? 'MPEG-TS packets' : 'media'} (junk, a broken upload) and were skipped`);
  if (!m || !(m.lengthMs > 0)) return slice;
  // A muxed slice's name labels the file's first timestamp (its earlier stream's): each stream starts
  // where its own first timestamp lies after that (README "Recorder modes").
  const startMs = slice.muxed && m.fileStartS !== undefined ? slice.startMs + Math.max(0, m.startS - m.fileStartS) * 1000 : slice.startMs;
  if (Math.abs(m.lengthMs - slice.durationMs) > EXTINF_WARN_MS) {
    warnings.push(`${slice.key}: holds ${(m.lengthMs / 1000).toFixed(3)}s of media but #EXTINF says ${(slice.durationMs / 1000).toFixed(3)}s; its measured length is used`);
  }
  return { ...slice, startMs, durationMs: m.lengthMs };
}

/**
 * The measurements one track reads: a slice that feeds both tracks (raw mode's muxed A+V) is measured once
 * per stream (SliceMedia.streams), and each track sees its own stream's; a stream that cannot be used is
 * left out here and listed by unusableStreams.
 */
export function trackMedia(media: Map<string, SliceMedia> | undefined, kind: MediaKind): Map<string, SliceMedia> | undefined {
  if (!media) return media;
  let views = trackViews.get(media);
  if (!views || views.size !== media.size) {
    views = { size: media.size, audio: media, video: media };
    if ([...media.values()].some((m) => m.streams)) {
      for (const k of ['audio', 'video'] as const) {
        const out = new Map<string, SliceMedia>();
        for (const [key, m] of media) {
          const own = m.streams ? m.streams[k] : m;
          if (!('unusable' in own)) out.set(key, own);
        }
        views[k] = out;
      }
    }
    trackViews.set(media, views);
  }
  return views[kind];
}
/** The views of a measurement map per track, made once per map (and again if it grew). */
const trackViews = new WeakMap<Map<string, SliceMedia>, Record<MediaKind, Map<string, SliceMedia>> & { size: number }>();

/** Slices (raw mode's muxed A+V) whose `kind` stream cannot be used, with why: their time is a gap in that track only. */
export function unusableStreams(media: Map<string, SliceMedia> | undefined, kind: MediaKind): Map<string, string> {
  const out = new Map<string, string>();
  for (const [key, m] of media ?? []) {
    const own = m.streams?.[kind];
    if (own && 'unusable' in own) out.set(key, own.unusable);
  }
  return out;
}

/** Output-time intervals inside [0, duration) that no run covers. */
export function gapsBetween(runs: { offsetMs: number; endMs: number }[], durationMs: number): Interval[] {
  const gaps: Interval[] = [];
  let t = 0;
  for (const r of runs) {
    if (r.offsetMs > t + GAP_TOLERANCE_MS) gaps.push({ startMs: t, endMs: r.offsetMs });
    t = Math.max(t, r.endMs);
  }
  if (durationMs > t + GAP_TOLERANCE_MS) gaps.push({ startMs: t, endMs: durationMs });
  return gaps;
}
