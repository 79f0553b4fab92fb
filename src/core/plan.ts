// Inventory (+ facts probed from the media) -> merge plan: per output, the time origin, where each
// slice lands in output time, the gaps, the target size and rate, and whether to copy or transcode.
import { safeOutputName } from './file-names.js';
import { GAP_TOLERANCE_MS, mergeByUtc } from './inventory.js';
import { formatUtc17 } from './names.js';
import type {
  AudioFacts,
  AudioPlan,
  AudioRun,
  GapMode,
  Interval,
  Inventory,
  MediaFacts,
  MediaKind,
  MergePlan,
  OutputPlan,
  PlacedSlice,
  Rotation,
  Slice,
  SliceMedia,
  VideoFacts,
  VideoPlan,
  VideoRun,
} from './types.js';
import type { PlanOptions } from '../options.js';

export { GAP_TOLERANCE_MS };
export const DEFAULT_FPS = 15;
export const DEFAULT_SPLIT_GAP_S = 15;
/** A slice whose measured length differs from its #EXTINF by more than this is reported. */
export const EXTINF_WARN_MS = 500;
/** An absence longer than this (hours) splits a user's recording into separate outputs (`maxGapHours`). */
export const DEFAULT_MAX_GAP_H = 24;
/** A user's output may span at most this many hours (`maxSpanHours`); longer ones are refused. */
export const DEFAULT_MAX_SPAN_H = 48;

interface Unit {
  sid: string | null;
  sids: string[];
  cname: string;
  uid: string;
  audio: Slice[];
  video: Slice[];
  warnings: string[];
}

const endOf = (s: { startMs: number; durationMs: number }) => s.startMs + s.durationMs;

/** Math.min/max over a list without spreading it into arguments (which overflows the stack past ~100k). */
const minOf = (values: number[]) => values.reduce((a, b) => (b < a ? b : a), Infinity);
const maxOf = (values: number[]) => values.reduce((a, b) => (b > a ? b : a), -Infinity);
/** The highest of the rates that are known, or null. */
const maxRate = (rates: (number | null)[]) => {
  const known = rates.filter((r): r is number => r !== null);
  return known.length > 0 ? maxOf(known) : null;
};

/** Union of the slices' wall-clock spans, merging spans closer than the tolerance. */
export function coveredSpans(slices: Slice[], toleranceMs = GAP_TOLERANCE_MS): Interval[] {
  const sorted = [...slices].sort((a, b) => a.startMs - b.startMs);
  const spans: Interval[] = [];
  for (const s of sorted) {
    const last = spans.at(-1);
    if (last && s.startMs <= last.endMs + toleranceMs) last.endMs = Math.max(last.endMs, endOf(s));
    else spans.push({ startMs: s.startMs, endMs: endOf(s) });
  }
  return spans;
}

/** Where a wall-clock instant lands in output time, once `cuts` are removed. */
function toOutput(wallMs: number, originMs: number, cuts: Interval[]): number {
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
    if (m) p.mediaStartS = m.startS;
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
function measured(slice: Slice, media: Map<string, SliceMedia> | undefined, warnings: string[]): Slice {
  const m = media?.get(slice.key);
  if (m?.junkBytes) warnings.push(`${slice.key}: ${m.junkBytes} bytes are not ${slice.container === 'ts' ? 'MPEG-TS packets' : 'media'} (junk, a broken upload) and were skipped`);
  if (!m || !(m.lengthMs > 0)) return slice;
  if (Math.abs(m.lengthMs - slice.durationMs) > EXTINF_WARN_MS) {
    warnings.push(`${slice.key}: holds ${(m.lengthMs / 1000).toFixed(3)}s of media but #EXTINF says ${(slice.durationMs / 1000).toFixed(3)}s; its measured length is used`);
  }
  return { ...slice, durationMs: m.lengthMs };
}

function unitsOf(inventory: Inventory, options: PlanOptions, media?: Map<string, SliceMedia>): { units: Unit[]; failures: MergePlan['failures'] } {
  const failures: MergePlan['failures'] = [];
  const units: Unit[] = [];
  const wanted = options.uids && options.uids.length > 0 ? new Set(options.uids) : null;
  for (const session of inventory.sessions) {
    for (const rec of session.uids) {
      if (wanted && !wanted.has(rec.uid)) continue;
      if (rec.failed) {
        failures.push({ sid: session.sid, cname: session.cname, uid: rec.uid, error: rec.failed });
        continue;
      }
      const warnings = rec.problems.map((p) => (p.key ? `${p.key}: ${p.message}` : p.message));
      const present = (slices: Slice[] | undefined) => (slices ?? []).filter((s) => s.present).map((s) => measured(s, media, warnings));
      units.push({
        sid: session.sid,
        sids: [session.sid],
        cname: session.cname,
        uid: rec.uid,
        audio: present(rec.audio?.slices),
        video: present(rec.video?.slices),
        warnings,
      });
    }
  }
  if (!options.joinSessions) return { units, failures };
  const joined = new Map<string, Unit>();
  for (const u of units) {
    const k = `${u.cname}\u0000${u.uid}`;
    const prev = joined.get(k);
    if (!prev) joined.set(k, { ...u, sid: null });
    else {
      prev.sids.push(...u.sids);
      prev.audio = mergeByUtc([prev.audio, u.audio]);
      prev.video = mergeByUtc([prev.video, u.video]);
      prev.warnings.push(...u.warnings);
    }
  }
  return { units: [...joined.values()], failures };
}

/** Splits a unit wherever the user was absent (no audio and no video) for longer than `gapMs`. */
function splitSegments(unit: Unit, gapMs: number): Unit[] {
  const spans = coveredSpans([...unit.audio, ...unit.video], gapMs);
  return spans.map((span) => {
    const inside = (s: Slice) => s.startMs >= span.startMs && s.startMs < span.endMs;
    return { ...unit, audio: unit.audio.filter(inside), video: unit.video.filter(inside) };
  });
}

function factsFor(slices: Slice[], facts: Map<string, MediaFacts>): (MediaFacts | undefined)[] {
  let last: MediaFacts | undefined;
  return slices.map((s) => {
    last = facts.get(s.key) ?? last;
    return last;
  });
}

/** The slices whose media must be probed: the first of every stretch that may differ from the one before. */
export function keysToProbe(inventory: Inventory, options: PlanOptions = {}): string[] {
  const keys: string[] = [];
  const { units } = unitsOf(inventory, options);
  const tracks = (u: Unit) => (options.mode === 'audio' ? [u.audio] : options.mode === 'video' ? [u.video] : [u.audio, u.video]);
  for (const u of units) {
    for (const slices of tracks(u)) {
      slices.forEach((s, i) => {
        const prev = slices[i - 1];
        if (!prev || s.discontinuity || s.container !== prev.container || s.rotation !== prev.rotation || s.startMs > endOf(prev) + GAP_TOLERANCE_MS) {
          keys.push(s.key);
        }
      });
    }
  }
  return [...new Set(keys)];
}

/**
 * Splits placed slices into runs (as index lists): a slice joins the current run when it follows it
 * without a gap and `sameStream(i)` says nothing else changed from the slice before it.
 */
function splitRuns(placed: PlacedSlice[], sameStream: (i: number) => boolean): number[][] {
  const runs: number[][] = [];
  let endMs = -Infinity;
  placed.forEach((p, i) => {
    const run = runs.at(-1);
    if (run && p.offsetMs <= endMs + GAP_TOLERANCE_MS && sameStream(i)) run.push(i);
    else runs.push([i]);
    endMs = p.offsetMs + p.slotMs;
  });
  return runs;
}

/** The slices of a run and the output time it spans. */
function span(placed: PlacedSlice[], run: number[]) {
  const slices = run.map((i) => placed[i]!);
  const last = slices.at(-1)!;
  return { slices, offsetMs: slices[0]!.offsetMs, endMs: last.offsetMs + last.slotMs };
}

const sameVideo = (a: VideoFacts | undefined, b: VideoFacts | undefined) =>
  a?.codec === b?.codec && a?.width === b?.width && a?.height === b?.height;

/**
 * Rotation changes of a run in output time: a slice whose starting rotation differs from what was in
 * force, and turns inside slices (a phone turned mid-slice). Runs are not split on rotation: the stream
 * goes on decoding across the turn, and the picture is turned from that instant.
 */
function turnsOf(placed: PlacedSlice[], ordered: Slice[], run: number[]): { atMs: number; rotation: Rotation }[] {
  const turns: { atMs: number; rotation: Rotation }[] = [];
  let current = ordered[run[0]!]!.rotation;
  for (const i of run) {
    const slice = ordered[i]!;
    if (slice.rotation !== current) turns.push({ atMs: placed[i]!.offsetMs, rotation: (current = slice.rotation) });
    for (const t of placed[i]!.turns ?? []) if (t.rotation !== current) turns.push({ atMs: t.atMs, rotation: (current = t.rotation) });
  }
  return turns;
}

/**
 * A run that starts mid-GOP cannot show anything before its first keyframe: slices with no keyframe at
 * all are left out and the first slice with one starts at it (TS slices are cut there by the executor;
 * a WebM slice is decoded from its start and the decoder drops the lead). Returns what was concealed.
 */
function skipUndecodableLead(slices: PlacedSlice[], containers: Slice[], media: Map<string, SliceMedia> | undefined): { slices: PlacedSlice[]; leadMs: number } {
  if (!media) return { slices, leadMs: 0 };
  let leadMs = 0;
  for (let i = 0; i < slices.length; i++) {
    const p = slices[i]!;
    const m = media.get(p.key);
    if (!m || m.startsOnKey !== false) return { slices: slices.slice(i), leadMs };
    if (m.firstKeyMs === null || m.firstKeyMs === undefined || m.firstKeyMs >= p.slotMs) {
      leadMs += p.slotMs;
      continue;
    }
    leadMs += m.firstKeyMs;
    if (containers[i]!.container !== 'ts') return { slices: slices.slice(i), leadMs };
    const cut = m.firstKeyMs;
    const shifted: PlacedSlice = { ...p, offsetMs: p.offsetMs + cut, slotMs: p.slotMs - cut, durationMs: p.durationMs - cut, leadMs: cut };
    if (p.mediaStartS !== undefined) shifted.mediaStartS = p.mediaStartS + cut / 1000;
    return { slices: [shifted, ...slices.slice(i + 1)], leadMs };
  }
  return { slices: [], leadMs };
}

/** Frame rates a sender commonly uses: a measured rate within 1.5 % of the nearest one is taken as it. */
const COMMON_RATES = [5, 6, 7.5, 10, 12, 12.5, 15, 20, 24000 / 1001, 24, 25, 30000 / 1001, 30, 48, 50, 60000 / 1001, 60];

/** A slice's frame rate from its frames' spacing (the median, so that drops and jitter do not count); null under 3 frames. */
export function measuredRate(m: SliceMedia | undefined): number | null {
  const offsets = m?.frameOffsetsMs;
  if (!offsets || offsets.length < 3) return null;
  const deltas: number[] = [];
  for (let i = 1; i < offsets.length; i++) if (offsets[i]! - offsets[i - 1]! > 0.5) deltas.push(offsets[i]! - offsets[i - 1]!);
  if (deltas.length < 2) return null;
  deltas.sort((a, b) => a - b);
  const rate = 1000 / deltas[Math.floor(deltas.length / 2)]!;
  if (!(rate > 0 && rate <= 240)) return null;
  const nearest = COMMON_RATES.reduce((a, b) => (Math.abs(rate - b) < Math.abs(rate - a) ? b : a));
  return Math.abs(rate - nearest) / nearest < 0.015 ? nearest : Math.round(rate * 1000) / 1000;
}

function videoRuns(placed: PlacedSlice[], slices: Map<string, Slice>, facts: Map<string, MediaFacts>, media: Map<string, SliceMedia> | undefined, warnings: string[]): VideoRun[] {
  const ordered = placed.map((p) => slices.get(p.key)!);
  const f = factsFor(ordered, facts);
  const same = (i: number) => ordered[i]!.container === ordered[i - 1]!.container && sameVideo(f[i]?.video, f[i - 1]?.video);
  const runs: VideoRun[] = [];
  for (const run of splitRuns(placed, same)) {
    const s = ordered[run[0]!]!;
    const vf = f[run[0]!]?.video;
    const lead = skipUndecodableLead(run.map((i) => placed[i]!), run.map((i) => ordered[i]!), media);
    if (lead.leadMs > 0) {
      warnings.push(
        `video: ${(lead.leadMs / 1000).toFixed(3)}s from ${(placed[run[0]!]!.offsetMs / 1000).toFixed(3)}s cannot be decoded (the stream starts without a keyframe, ${s.key}); ` +
          (lead.slices.length > 0 && runs.length > 0 ? 'the previous picture is held there' : 'shown as black'),
      );
    }
    if (lead.slices.length === 0) continue;
    const first = lead.slices[0]!;
    const last = lead.slices.at(-1)!;
    runs.push({
      slices: lead.slices,
      offsetMs: first.offsetMs,
      endMs: last.offsetMs + last.slotMs,
      container: s.container,
      rotation: s.rotation,
      turns: turnsOf(placed, ordered, run),
      width: vf?.width ?? s.codedSize?.width ?? 0,
      height: vf?.height ?? s.codedSize?.height ?? 0,
      codec: vf?.codec ?? (s.container === 'webm' ? 'vp8' : 'h264'),
      // The fastest rate any of its slices really has: a sender that speeds up inside a run (WebRTC adapts)
      // must not lose every other frame to the rate its first slice had.
      fps: maxRate([vf?.fps ?? null, ...lead.slices.map((p) => measuredRate(media?.get(p.key)))]),
    });
  }
  return runs;
}

const sameAudio = (a: AudioFacts | undefined, b: AudioFacts | undefined) =>
  a?.codec === b?.codec && a?.sampleRate === b?.sampleRate && a?.channels === b?.channels && a?.profile === b?.profile;

function audioRuns(placed: PlacedSlice[], slices: Map<string, Slice>, facts: Map<string, MediaFacts>, media: Map<string, SliceMedia> | undefined): AudioRun[] {
  const f = factsFor(placed.map((p) => slices.get(p.key)!), facts);
  // What each slice's own frames say beats the probe of the first slice of its stretch.
  const config = placed.map((p, i) => {
    const m = media?.get(p.key)?.audio;
    const af = f[i]?.audio;
    return { sampleRate: m?.sampleRate ?? af?.sampleRate ?? 48000, channels: m?.channels ?? af?.channels ?? 0 };
  });
  const same = (i: number) =>
    sameAudio(f[i]?.audio, f[i - 1]?.audio) && config[i]!.sampleRate === config[i - 1]!.sampleRate && config[i]!.channels === config[i - 1]!.channels;
  return splitRuns(placed, same).map((run) => {
    const af = f[run[0]!]?.audio;
    return {
      ...span(placed, run),
      codec: af?.codec ?? 'aac',
      sampleRate: config[run[0]!]!.sampleRate,
      channels: config[run[0]!]!.channels,
      profile: af?.profile ?? null,
    };
  });
}

/** Where slices overlap their successor, the overlap is cut: what that costs, said once per track. */
function overlapWarning(kind: MediaKind, placed: PlacedSlice[], media: Map<string, SliceMedia> | undefined): string | null {
  let count = 0;
  let totalMs = 0;
  let largestMs = 0;
  let frames = 0;
  for (const p of placed) {
    const overlap = p.durationMs - p.slotMs;
    if (overlap <= 0.5) continue;
    const offsets = media?.get(p.key)?.frameOffsetsMs;
    if (kind === 'video') {
      // Only frames that start inside the next slice's time are dropped; a shorter last frame is not a loss.
      const lost = offsets ? offsets.filter((o) => o >= p.slotMs - 0.5).length : 0;
      if (lost === 0) continue;
      frames += lost;
    }
    count++;
    totalMs += overlap;
    largestMs = Math.max(largestMs, overlap);
  }
  if (count === 0) return null;
  const what = kind === 'video' ? `${frames} frame(s) in the overlaps were dropped` : 'the overlapping audio was dropped';
  return `${kind}: ${count} slice(s) overlap the next one (by up to ${Math.round(largestMs)} ms, ${Math.round(totalMs)} ms in all; slice names and lengths disagree); each is cut where the next starts: ${what}`;
}

/** Output-time intervals inside [0, duration) that no run covers. */
function gapsBetween(runs: { offsetMs: number; endMs: number }[], durationMs: number): Interval[] {
  const gaps: Interval[] = [];
  let t = 0;
  for (const r of runs) {
    if (r.offsetMs > t + GAP_TOLERANCE_MS) gaps.push({ startMs: t, endMs: r.offsetMs });
    t = Math.max(t, r.endMs);
  }
  if (durationMs > t + GAP_TOLERANCE_MS) gaps.push({ startMs: t, endMs: durationMs });
  return gaps;
}

const even = (n: number) => Math.max(2, Math.ceil(n / 2) * 2);
const displaySize = (r: Pick<VideoRun, 'rotation' | 'width' | 'height'>) => (r.rotation === 90 || r.rotation === 270 ? { w: r.height, h: r.width } : { w: r.width, h: r.height });

function planVideo(runs: VideoRun[], durationMs: number, gapMode: GapMode, trimmed: boolean, options: PlanOptions): VideoPlan {
  let width = 0;
  let height = 0;
  for (const r of runs) {
    for (const rotation of [r.rotation, ...r.turns.map((t) => t.rotation)]) {
      const d = displaySize({ ...r, rotation });
      if (d.w * d.h > width * height) ({ w: width, h: height } = d);
    }
  }
  if (options.size) ({ width, height } = options.size);
  width = even(width);
  height = even(height);

  const gaps = gapsBetween(runs, durationMs);
  const reasons: string[] = [];
  if (options.transcode) reasons.push('--transcode was given');
  if (runs.some((r) => r.container === 'webm')) reasons.push('WebM/VP8 slices cannot be copied into MP4');
  const codecs = new Set(runs.map((r) => r.codec));
  if ([...codecs].some((c) => c !== 'h264')) reasons.push(`video codec ${[...codecs].join('/')} is not H.264`);
  if (new Set(runs.map((r) => `${r.width}x${r.height}`)).size > 1) reasons.push('the picture size changes');
  if (runs.some((r) => r.rotation !== 0 || r.turns.length > 0)) reasons.push('rotated slices must be turned upright');
  if (options.size && runs.some((r) => r.width !== width || r.height !== height)) reasons.push('--size differs from the source size');
  if (options.fps) reasons.push('--fps asks for a constant frame rate');
  const innerGaps = gaps.filter((g) => g.startMs > 0);
  if (gapMode === 'black' && innerGaps.length > 0) reasons.push('--gaps black needs black frames in the gaps');
  if (trimmed) reasons.push('trimming needs a frame-exact cut');
  if (runs.some((r) => r.width === 0 || r.height === 0)) reasons.push('the picture size is unknown');

  const path = reasons.length === 0 ? 'copy' : 'transcode';
  // Copied video keeps its own size (odd sizes included).
  if (path === 'copy') ({ width, height } = runs[0]!);
  const sourceFps = maxOf([0, ...runs.map((r) => r.fps ?? 0)]);
  const fps = options.fps ?? (path === 'copy' ? null : sourceFps > 0 ? Math.round(sourceFps * 1000) / 1000 : DEFAULT_FPS);
  return { runs, width, height, fps, path, reasons, gaps };
}

function planAudio(runs: AudioRun[], durationMs: number, trimmed: boolean, options: PlanOptions, media: Map<string, SliceMedia> | undefined): AudioPlan {
  const reasons: string[] = [];
  const changesInside = runs.flatMap((r) => r.slices.map((s) => s.key)).filter((key) => media?.get(key)?.audio?.changes === true);
  if (changesInside.length > 0) reasons.push(`the channel count changes inside ${changesInside.length === 1 ? 'a slice' : `${changesInside.length} slices`}`);
  if (options.transcode) reasons.push('--transcode was given');
  if (runs.some((r) => r.codec !== 'aac')) reasons.push('audio is not AAC');
  if (runs.some((r) => r.profile !== null && r.profile !== 'LC')) reasons.push('audio is not AAC-LC');
  if (new Set(runs.map((r) => `${r.sampleRate}/${r.channels}`)).size > 1) reasons.push('sample rate or channel count changes');
  if (trimmed) reasons.push('trimming needs a sample-exact cut');
  return { runs, path: reasons.length === 0 ? 'copy' : 'transcode', reasons, gaps: gapsBetween(runs, durationMs), changesInside };
}

/** Names come from the recording's keys: made safe to create and to print (see file-names.ts). */
const fileNameOf = (...args: Parameters<typeof rawFileNameOf>) => safeOutputName(rawFileNameOf(...args));

function rawFileNameOf(unit: Unit, kind: OutputPlan['kind'], options: PlanOptions, segmentStart: number | null, multiSession: boolean): string {
  const ext = kind === 'audio' ? 'm4a' : 'mp4';
  if (options.names === 'script') {
    const dir = multiSession && unit.sid ? `${unit.sid}/` : '';
    if (segmentStart !== null) return `${dir}${unit.uid}_${formatUtc17(segmentStart)}${kind === 'audio' ? '.m4a' : kind === 'video' ? '.mp4' : '_av.mp4'}`;
    return `${dir}${unit.uid}_0_merge${kind === 'av' ? '_av' : ''}.${ext}`;
  }
  const head = unit.sid === null ? `${unit.cname}__uid_s_${unit.uid}__uid_e_` : `${unit.sid}_${unit.cname}__uid_s_${unit.uid}__uid_e_`;
  return `${head}${kind}${segmentStart !== null ? `_${formatUtc17(segmentStart)}` : ''}.${ext}`;
}

function planUnit(
  unit: Unit,
  facts: Map<string, MediaFacts>,
  options: PlanOptions,
  segment: boolean,
  multiSession: boolean,
  media: Map<string, SliceMedia> | undefined,
): OutputPlan | string {
  const mode = options.mode ?? 'av';
  const audio = mode === 'video' ? [] : unit.audio;
  const video = mode === 'audio' ? [] : unit.video;
  if (audio.length === 0 && video.length === 0) {
    return mode === 'audio' ? 'no audio to merge' : mode === 'video' ? 'no video to merge' : 'no slice could be read';
  }
  const all = [...audio, ...video];
  const originMs = minOf(all.map((s) => s.startMs));
  const endMs = maxOf(all.map(endOf));
  const gapMode = options.gaps ?? 'freeze';

  // --gaps cut: the time the user was absent (no audio and no video) is removed from both tracks alike.
  const cuts: Interval[] = [];
  if (gapMode === 'cut') {
    const spans = coveredSpans(all);
    for (let i = 1; i < spans.length; i++) cuts.push({ startMs: spans[i - 1]!.endMs, endMs: spans[i]!.startMs });
  }
  let durationMs = toOutput(endMs, originMs, cuts);

  let trim: OutputPlan['trim'] = null;
  let placedAudio = placeSlices(audio, originMs, cuts, media);
  let placedVideo = placeSlices(video, originMs, cuts, media);
  const fromMs = Math.max(0, (options.from ?? 0) * 1000);
  const windowMs = Math.min(durationMs - fromMs, options.duration !== undefined ? options.duration * 1000 : Infinity);
  if (fromMs > 0 || windowMs < durationMs) {
    if (fromMs >= durationMs) return `--from ${options.from}s is past the end (${(durationMs / 1000).toFixed(3)}s)`;
    trim = { fromMs, durationMs: windowMs };
    const inside = (p: PlacedSlice) => p.offsetMs < fromMs + windowMs && p.offsetMs + p.slotMs > fromMs;
    placedAudio = placedAudio.filter(inside);
    placedVideo = placedVideo.filter(inside);
    durationMs = windowMs;
  }
  const bySlice = new Map(all.map((s) => [s.key, s]));
  // Cutting the start needs frame-exact decoding; cutting only the end does not.
  const cutsStart = trim !== null && trim.fromMs > 0;
  // Plans are in untrimmed output time; the executor cuts [from, from + duration] at the end.
  const fullDuration = trim ? trim.fromMs + trim.durationMs : durationMs;
  const warnings = [...unit.warnings];
  const vRuns = videoRuns(placedVideo, bySlice, facts, media, warnings);
  const aRuns = audioRuns(placedAudio, bySlice, facts, media);
  for (const w of [overlapWarning('video', placedVideo, media), overlapWarning('audio', placedAudio, media)]) if (w) warnings.push(w);
  const videoPlan = vRuns.length > 0 ? planVideo(vRuns, fullDuration, gapMode, cutsStart, options) : null;
  const audioPlan = aRuns.length > 0 ? planAudio(aRuns, fullDuration, cutsStart, options, media) : null;
  for (const key of audioPlan?.changesInside ?? []) {
    warnings.push(`audio: the channel count changes inside ${key} (another device?): it is split at the change and re-encoded`);
  }
  if (!videoPlan && !audioPlan) return 'nothing inside the trim window';
  // What the output holds decides its kind (a trim window may hold one track only).
  const kind: OutputPlan['kind'] = videoPlan && audioPlan ? 'av' : audioPlan ? 'audio' : 'video';

  const segmentStart = segment ? originMs : null;
  const idBase = `${unit.sid ?? unit.cname}/${unit.uid}`;
  if (videoPlan?.path === 'transcode' && videoPlan.reasons.length > 0) warnings.push(`video is re-encoded: ${videoPlan.reasons.join('; ')}`);
  return {
    id: segmentStart !== null ? `${idBase}/${formatUtc17(segmentStart)}` : idBase,
    sid: unit.sid,
    sids: unit.sids,
    cname: unit.cname,
    uid: unit.uid,
    kind,
    fileName: fileNameOf(unit, kind, options, segmentStart, multiSession),
    originMs,
    durationMs,
    cuts,
    gapMode,
    trim,
    video: videoPlan,
    audio: audioPlan,
    inputs: [...placedVideo, ...placedAudio].map((p) => p.key),
    warnings,
  };
}

/**
 * The merge plan. `media` holds what reading the slices measured (see SliceMedia); without it slices
 * are placed by their names and #EXTINF alone (what `--dry-run` shows before anything is downloaded).
 */
export function planMerge(inventory: Inventory, facts: Map<string, MediaFacts>, options: PlanOptions = {}, media?: Map<string, SliceMedia>): MergePlan {
  const { units, failures } = unitsOf(inventory, options, media);
  const outputs: OutputPlan[] = [];
  const multiSession = new Set(units.map((u) => u.sid)).size > 1;
  const maxGapMs = (options.maxGapHours ?? DEFAULT_MAX_GAP_H) * 3_600_000;
  const maxSpanMs = (options.maxSpanHours ?? DEFAULT_MAX_SPAN_H) * 3_600_000;
  for (const unit of units) {
    const segments = options.mode === 'segments';
    let parts = segments ? splitSegments(unit, (options.splitGap ?? DEFAULT_SPLIT_GAP_S) * 1000) : [unit];
    // Instants far apart (a slice named a year later) would make one output of mostly nothing, hours of
    // encoding and a file nobody wants: such a recording becomes separate outputs, said in their warnings.
    let split = false;
    if (!segments) {
      const far = splitSegments(unit, maxGapMs);
      if (far.length > 1) {
        split = true;
        const bounds = far.map((p) => coveredSpans([...p.audio, ...p.video], maxGapMs)[0]!);
        const note = `uid ${unit.uid}: absent for more than ${maxGapMs / 3_600_000} h (${bounds.slice(1).map((b, i) => `${formatUtc17(bounds[i]!.endMs)} to ${formatUtc17(b.startMs)}`).join(', ')}): written as ${far.length} separate outputs named by their start`;
        parts = far.map((p) => ({ ...p, warnings: [...p.warnings, note] }));
      }
    }
    for (const part of parts) {
      const all = [...part.audio, ...part.video];
      // By the names only: an #EXTINF is not trusted before the slice is measured.
      const spanMs = all.length > 0 ? maxOf(all.map((x) => x.startMs)) - minOf(all.map((x) => x.startMs)) : 0;
      const result =
        spanMs > maxSpanMs
          ? `spans ${(spanMs / 3_600_000).toFixed(1)} h, more than the ${maxSpanMs / 3_600_000} h allowed (maxSpanHours / --max-span); refused`
          : planUnit(part, facts, { ...options, mode: segments ? 'av' : options.mode }, segments || split, multiSession, media);
      if (typeof result === 'string') failures.push({ sid: unit.sid ?? unit.sids.join('+'), cname: unit.cname, uid: unit.uid, error: `uid ${unit.uid}: ${result}` });
      else outputs.push(result);
    }
  }
  return { outputs, failures };
}
