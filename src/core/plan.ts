// Inventory (+ facts probed from the media) -> merge plan: per output, the time origin, where each
// slice lands in output time, the gaps, the target size and rate, and whether to copy or transcode.
// The rules themselves live in timeline.ts (output time), runs.ts (runs), paths.ts (copy or re-encode)
// and output-names.ts (file names); this file puts a user's slices through them.
import { GAP_TOLERANCE_MS, mergeByUtc } from './inventory.js';
import { formatUtc17 } from './names.js';
import type { PlanOptions } from './options.js';
import { mergeFileName } from './output-names.js';
import { planAudio, planVideo } from './paths.js';
import { audioRuns, overlapWarning, sliceOverlaps, videoRuns } from './runs.js';
import { coveredSpans, endOf, maxOf, measuredSlice, minOf, placeSlices, toOutput, trackMedia, unusableStreams } from './timeline.js';
import type { AbsentSlice, Interval, Inventory, MediaFacts, MediaKind, MergePlan, OutputPlan, PlacedSlice, Slice, SliceMedia } from './types.js';

export { GAP_TOLERANCE_MS };
export { coveredSpans, placeSlices } from './timeline.js';
export { measuredRate } from './runs.js';
export { DEFAULT_FPS } from './paths.js';
export const DEFAULT_SPLIT_GAP_S = 15;
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
  /** Listed slices that are not there (missing from storage, unreadable), with why. */
  absent: { track: 'audio' | 'video'; slice: Slice; reason: string }[];
  warnings: string[];
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
      const present = (slices: Slice[] | undefined, kind: MediaKind) => {
        // A muxed slice (raw mode) whose stream of this track cannot be used: a gap in this track only.
        const unusable = unusableStreams(media, kind);
        const gaps = new Map<string, string[]>();
        const usable = (slices ?? []).filter((s) => {
          const why = s.present ? unusable.get(s.key) : undefined;
          if (why) gaps.set(why, [...(gaps.get(why) ?? []), s.key]);
          return s.present && why === undefined;
        });
        // One line per reason (an AV1 sender makes every slice's video unusable), naming the first and last slice.
        for (const [why, keys] of gaps) {
          const which = keys.length === 1 ? keys[0]! : `${keys.length} slices (${keys[0]} … ${keys.at(-1)})`;
          warnings.push(`${which}: ${keys.length === 1 ? 'its' : 'their'} ${kind} cannot be used (${why}); ${keys.length === 1 ? 'its' : 'their'} time is a gap in the ${kind} (the ${kind === 'audio' ? 'video' : 'audio'} is merged)`);
        }
        const own = trackMedia(media, kind);
        return usable.map((s) => measuredSlice(s, own, warnings));
      };
      const absent = (['audio', 'video'] as const).flatMap((track) =>
        (rec[track]?.slices ?? [])
          .filter((s) => !s.present)
          .map((slice) => ({ track, slice, reason: rec.problems.findLast((p) => p.key === slice.key)?.message ?? 'not in storage' })),
      );
      units.push({
        sid: session.sid,
        sids: [session.sid],
        cname: session.cname,
        uid: rec.uid,
        audio: present(rec.audio?.slices, 'audio'),
        video: present(rec.video?.slices, 'video'),
        absent,
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
      prev.absent.push(...u.absent);
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
    return { ...unit, audio: unit.audio.filter(inside), video: unit.video.filter(inside), absent: unit.absent.filter((a) => inside(a.slice)) };
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
 * `--align session`: the clock of each session (with joined sessions, of each channel): from its first instant to
 * its last, over every user and track, by the slices' names and #EXTINF (so that every user's output, measured
 * apart, gets the same origin and length).
 */
function sessionClocks(inventory: Inventory, joinSessions: boolean | undefined): Map<string, Interval> {
  const clocks = new Map<string, Interval>();
  for (const session of inventory.sessions) {
    const key = joinSessions ? session.cname : session.sid;
    for (const rec of session.uids) {
      if (rec.failed) continue;
      for (const s of [...(rec.audio?.slices ?? []), ...(rec.video?.slices ?? [])]) {
        if (!s.present) continue;
        const clock = clocks.get(key);
        if (!clock) clocks.set(key, { startMs: s.startMs, endMs: endOf(s) });
        else {
          clock.startMs = Math.min(clock.startMs, s.startMs);
          clock.endMs = Math.max(clock.endMs, endOf(s));
        }
      }
    }
  }
  return clocks;
}

function planUnit(
  unit: Unit,
  facts: Map<string, MediaFacts>,
  options: PlanOptions,
  segment: boolean,
  multiSession: boolean,
  media: Map<string, SliceMedia> | undefined,
  clock: Interval | null,
): OutputPlan | string {
  const mode = options.mode ?? 'av';
  const audio = mode === 'video' ? [] : unit.audio;
  const video = mode === 'audio' ? [] : unit.video;
  if (audio.length === 0 && video.length === 0) {
    return mode === 'audio' ? 'no audio to merge' : mode === 'video' ? 'no video to merge' : 'no slice could be read';
  }
  const all = [...audio, ...video];
  // On the session's clock every user starts at the session's first instant and lasts as long as it.
  const originMs = clock ? clock.startMs : minOf(all.map((s) => s.startMs));
  const endMs = clock ? clock.endMs : maxOf(all.map(endOf));
  const gapMode = options.gaps ?? 'freeze';

  // --gaps cut: the time the user was absent (no audio and no video) is removed from both tracks alike.
  const cuts: Interval[] = [];
  if (gapMode === 'cut') {
    const spans = coveredSpans(all);
    for (let i = 1; i < spans.length; i++) cuts.push({ startMs: spans[i - 1]!.endMs, endMs: spans[i]!.startMs });
  }
  let durationMs = toOutput(endMs, originMs, cuts);

  let trim: OutputPlan['trim'] = null;
  // Each track reads its own stream's measurements (a muxed slice feeds both: see trackMedia).
  const audioMedia = trackMedia(media, 'audio');
  const videoMedia = trackMedia(media, 'video');
  let placedAudio = placeSlices(audio, originMs, cuts, audioMedia);
  let placedVideo = placeSlices(video, originMs, cuts, videoMedia);
  const fromMs = Math.max(0, (options.from ?? 0) * 1000);
  const windowMs = Math.min(durationMs - fromMs, options.duration !== undefined ? options.duration * 1000 : Infinity);
  // Aligned outputs are cut at exactly the session's length (media measured past its last listed instant included).
  if (fromMs > 0 || windowMs < durationMs || clock) {
    if (fromMs >= durationMs) return `--from ${options.from}s is past the end (${(durationMs / 1000).toFixed(3)}s)`;
    trim = { fromMs, durationMs: windowMs };
    const inside = (p: PlacedSlice) => p.offsetMs < fromMs + windowMs && p.offsetMs + p.slotMs > fromMs;
    placedAudio = placedAudio.filter(inside);
    placedVideo = placedVideo.filter(inside);
    durationMs = windowMs;
  }
  const byAudio = new Map(audio.map((s) => [s.key, s]));
  const byVideo = new Map(video.map((s) => [s.key, s]));
  // Cutting the start needs frame-exact decoding; cutting only the end does not.
  const cutsStart = trim !== null && trim.fromMs > 0;
  // Plans are in untrimmed output time; the executor cuts [from, from + duration] at the end.
  const fullDuration = trim ? trim.fromMs + trim.durationMs : durationMs;
  const warnings = [...unit.warnings];
  const vRuns = videoRuns(placedVideo, byVideo, facts, videoMedia, warnings);
  const aRuns = audioRuns(placedAudio, byAudio, facts, audioMedia);
  const overlaps = [...sliceOverlaps('video', placedVideo, videoMedia), ...sliceOverlaps('audio', placedAudio, audioMedia)];
  for (const w of [overlapWarning('video', overlaps), overlapWarning('audio', overlaps)]) if (w) warnings.push(w);
  const videoPlan = vRuns.length > 0 ? planVideo(vRuns, fullDuration, gapMode, cutsStart, options) : null;
  const audioPlan = aRuns.length > 0 ? planAudio(aRuns, fullDuration, cutsStart, options, audioMedia) : null;
  for (const key of audioPlan?.changesInside ?? []) {
    warnings.push(`audio: the channel count changes inside ${key} (another device?): it is split at the change and re-encoded`);
  }
  if (!videoPlan && !audioPlan) return 'nothing inside the trim window';
  // What the output holds decides its kind (a trim window may hold one track only).
  const kind: OutputPlan['kind'] = videoPlan && audioPlan ? 'av' : audioPlan ? 'audio' : 'video';
  // Listed slices that are not there, in untrimmed output time (only those inside the output's span).
  const absent: AbsentSlice[] = unit.absent
    .filter((a) => (a.track === 'audio' ? audioPlan : videoPlan) !== null && a.slice.startMs >= originMs && a.slice.startMs < endMs)
    .map((a) => ({
      track: a.track,
      key: a.slice.key,
      kind: a.slice.unreadable ? 'unreadable' : 'missing',
      atMs: toOutput(a.slice.startMs, originMs, cuts),
      durationMs: a.slice.durationMs,
      reason: a.reason,
    }));

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
    fileName: mergeFileName(unit, kind, options.names, segmentStart, multiSession, kind === 'audio' ? options.audioFormat : undefined),
    originMs,
    ...(kind === 'audio' && (options.audioFormat === 'wav' || options.audioFormat === 'flac') ? { audioFormat: options.audioFormat } : {}),
    ...(clock ? { aligned: true as const } : {}),
    durationMs,
    cuts,
    gapMode,
    trim,
    video: videoPlan,
    audio: audioPlan,
    inputs: [...new Set([...placedVideo, ...placedAudio].map((p) => p.key))],
    warnings,
    overlaps,
    absent,
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
  const clocks = options.align === 'session' ? sessionClocks(inventory, options.joinSessions) : null;
  for (const unit of units) {
    const clock = clocks?.get(options.joinSessions ? unit.cname : unit.sid!) ?? null;
    const segments = options.mode === 'segments';
    let parts = segments ? splitSegments(unit, (options.splitGap ?? DEFAULT_SPLIT_GAP_S) * 1000) : [unit];
    // Instants far apart (a slice named a year later) would make one output of mostly nothing, hours of
    // encoding and a file nobody wants: such a recording becomes separate outputs, said in their warnings.
    let split = false;
    // One clock for everyone: a user is never split (the span limit below holds the session to its bound).
    if (!segments && !clock) {
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
      const spanMs = clock ? clock.endMs - clock.startMs : all.length > 0 ? maxOf(all.map((x) => x.startMs)) - minOf(all.map((x) => x.startMs)) : 0;
      const result =
        spanMs > maxSpanMs
          ? `spans ${(spanMs / 3_600_000).toFixed(1)} h, more than the ${maxSpanMs / 3_600_000} h allowed (maxSpanHours / --max-span); refused`
          : planUnit(part, facts, { ...options, mode: segments ? 'av' : options.mode }, segments || split, multiSession, media, clock);
      if (typeof result === 'string') failures.push({ sid: unit.sid ?? unit.sids.join('+'), cname: unit.cname, uid: unit.uid, error: `uid ${unit.uid}: ${result}` });
      else outputs.push(result);
    }
  }
  return { outputs, failures };
}
