// What happened on an output's own clock (the `<output>.events.json` sidecar and `<output>.chapters.vtt`):
// joins and leaves of each track, gaps and how they were filled, rotation/size/codec changes, concealed
// undecodable leads, overlap cuts, slices missing from storage or unreadable, and how far the placement can be
// from the instants the sources carry. Built from the plan's facts (runs, gaps, cuts, leads, overlaps, absent
// slices), never from warning text. Pure.
import { GAP_TOLERANCE_MS } from './inventory.js';
import { rotationPieces } from './runs.js';
import { AUDIO_HARD_COMP_MS, toOutput, unionSpans } from './timeline.js';
import type { AudioPlan, Interval, MediaKind, OutputPlan, VideoPlan } from './types.js';

export const EVENTS_VERSION = 1;

export type EventType = 'join' | 'leave' | 'gap' | 'rotation' | 'size' | 'codec' | 'lead' | 'overlap' | 'missing' | 'unreadable';
export type GapFill = 'black' | 'freeze' | 'silence' | 'cut';

/** One event: `t` is seconds on the output's clock (from its first instant). */
export interface OutputEvent {
  t: number;
  type: EventType;
  track: MediaKind;
  /** Composites: whose event it is. */
  uid?: string;
  /** gap, lead, missing, unreadable: how long (seconds of output; for `cut`, of wall-clock time removed). */
  duration?: number;
  /** gap: what the output shows (video: black or the held last frame; audio: silence) or that the time was cut out. */
  fill?: GapFill;
  /** join (video): the picture it joins with; rotation: the new rotation and the one before. */
  rotation?: number;
  fromRotation?: number;
  width?: number;
  height?: number;
  fromWidth?: number;
  fromHeight?: number;
  codec?: string;
  fromCodec?: string;
  /** lead, overlap: media lost (ms). */
  lostMs?: number;
  /** overlap (video): frames dropped. */
  frames?: number;
  /** The slice it is about. */
  key?: string;
  reason?: string;
}

/** How far the merge's placement can be from the instants the sources carry (ms); null: no such track. */
export interface SyncBlock {
  /** The output's first instant (t = 0), UTC. */
  origin: string;
  /**
   * Audio: the largest distance between where a slice's first sample lands and its instant (copy path: the AAC frame
   * grid; re-encoded: the drift aresample lets through, up to AUDIO_HARD_COMP_MS).
   */
  audioMs: number | null;
  /** Video: the largest distance between where a frame lands and its instant (re-encoded: the output frame grid). */
  videoMs: number | null;
  /** The most audio and video can be apart from each other (audioMs + videoMs). */
  avMs: number | null;
  /** Whether every slice's media was measured (false: placed by names and #EXTINF alone). */
  measured: boolean;
}

export interface OutputEvents {
  version: number;
  /** The output's length (s). */
  duration: number;
  sync: SyncBlock;
  events: OutputEvent[];
}

const sec = (ms: number) => Math.round(ms) / 1000;
const round3 = (ms: number) => Math.round(ms * 1000) / 1000;

/** The order events of one instant are listed in: what ends before what starts. */
const ORDER: EventType[] = ['leave', 'overlap', 'gap', 'missing', 'unreadable', 'lead', 'join', 'codec', 'size', 'rotation'];

export function sortEvents(events: OutputEvent[]): OutputEvent[] {
  return [...events].sort((a, b) => a.t - b.t || ORDER.indexOf(a.type) - ORDER.indexOf(b.type) || a.track.localeCompare(b.track) || (a.uid ?? '').localeCompare(b.uid ?? ''));
}

/** An event in untrimmed output time (ms), before the trim window and rounding are applied. */
type Raw = Omit<OutputEvent, 't' | 'duration'> & { atMs: number; durationMs?: number };

/**
 * Where the user was present on a track (output time): runs (with their undecodable leads) and absent slices,
 * split where an absence was cut out (`cutsAtMs`: the user left and came back there, though nothing is between).
 */
function presence(runs: { offsetMs: number; endMs: number; lead?: { atMs: number } }[], absent: Interval[], cutsAtMs: number[]): Interval[] {
  const spans = unionSpans([...runs.map((r) => ({ startMs: r.lead?.atMs ?? r.offsetMs, endMs: r.endMs })), ...absent], GAP_TOLERANCE_MS);
  return spans.flatMap((s) => {
    const inside = cutsAtMs.filter((c) => c > s.startMs + 0.5 && c < s.endMs - 0.5).sort((a, b) => a - b);
    const bounds = [s.startMs, ...inside, s.endMs];
    return inside.length === 0 ? [s] : bounds.slice(1).map((endMs, i) => ({ startMs: bounds[i]!, endMs }));
  });
}

const cutPoints = (plan: OutputPlan) => plan.cuts.map((c) => toOutput(c.startMs, plan.originMs, plan.cuts));

function videoEvents(plan: OutputPlan, video: VideoPlan): Raw[] {
  const out: Raw[] = [];
  const absent = plan.absent.filter((a) => a.track === 'video').map((a) => ({ startMs: a.atMs, endMs: a.atMs + a.durationMs }));
  const spans = presence(video.runs, absent, cutPoints(plan));
  for (const s of spans) {
    const run = video.runs.find((r) => r.endMs > s.startMs && r.offsetMs < s.endMs + GAP_TOLERANCE_MS);
    const shape = run ? { rotation: run.rotation, width: run.width, height: run.height, codec: run.codec } : {};
    out.push({ atMs: s.startMs, type: 'join', track: 'video', ...shape }, { atMs: s.endMs, type: 'leave', track: 'video' });
  }
  const first = spans[0]?.startMs ?? 0;
  for (const g of video.gaps) {
    const fill: GapFill = g.startMs < first + GAP_TOLERANCE_MS || plan.gapMode === 'black' ? 'black' : 'freeze';
    out.push({ atMs: g.startMs, durationMs: g.endMs - g.startMs, type: 'gap', track: 'video', fill });
  }
  let before: VideoPlan['runs'][number] | null = null;
  let rotation: number | null = null;
  for (const run of video.runs) {
    if (run.lead) out.push({ atMs: run.lead.atMs, durationMs: run.lead.lostMs, type: 'lead', track: 'video', lostMs: round3(run.lead.lostMs), key: run.lead.key });
    if (before && before.codec !== run.codec) out.push({ atMs: run.offsetMs, type: 'codec', track: 'video', codec: run.codec, fromCodec: before.codec });
    if (before && (before.width !== run.width || before.height !== run.height)) {
      out.push({ atMs: run.offsetMs, type: 'size', track: 'video', width: run.width, height: run.height, fromWidth: before.width, fromHeight: before.height });
    }
    for (const piece of rotationPieces(run)) {
      if (rotation !== null && piece.rotation !== rotation) out.push({ atMs: piece.fromMs, type: 'rotation', track: 'video', rotation: piece.rotation, fromRotation: rotation });
      rotation = piece.rotation;
    }
    before = run;
  }
  return out;
}

function audioEvents(plan: OutputPlan, audio: AudioPlan): Raw[] {
  const out: Raw[] = [];
  const absent = plan.absent.filter((a) => a.track === 'audio').map((a) => ({ startMs: a.atMs, endMs: a.atMs + a.durationMs }));
  for (const s of presence(audio.runs, absent, cutPoints(plan))) out.push({ atMs: s.startMs, type: 'join', track: 'audio' }, { atMs: s.endMs, type: 'leave', track: 'audio' });
  for (const g of audio.gaps) out.push({ atMs: g.startMs, durationMs: g.endMs - g.startMs, type: 'gap', track: 'audio', fill: 'silence' });
  let before: AudioPlan['runs'][number] | null = null;
  for (const run of audio.runs) {
    if (before && before.codec !== run.codec) out.push({ atMs: run.offsetMs, type: 'codec', track: 'audio', codec: run.codec, fromCodec: before.codec });
    before = run;
  }
  return out;
}

/** The largest distance (ms) between where the merge places media and the instants its sources carry. */
export function syncOf(plan: Pick<OutputPlan, 'video' | 'audio'>): Pick<SyncBlock, 'audioMs' | 'videoMs' | 'avMs' | 'measured'> {
  let measured = true;
  let audioMs: number | null = null;
  if (plan.audio) {
    audioMs = 0;
    for (const run of plan.audio.runs) {
      // Re-encoded: a run's samples play on from slice to slice, and are put back on a slice's instant only where
      // they are more than AUDIO_HARD_COMP_MS off it (the run itself starts on its sample).
      let playedMs = run.offsetMs;
      run.slices.forEach((s, i) => {
        if (s.mediaStartS === undefined) measured = false;
        if (plan.audio!.path === 'copy') {
          // Copy path: each slice starts on the AAC frame nearest its instant.
          const frameMs = (1024 / run.sampleRate) * 1000;
          audioMs = Math.max(audioMs!, Math.abs(Math.round(s.offsetMs / frameMs) * frameMs - s.offsetMs));
          return;
        }
        if (Math.abs(playedMs - s.offsetMs) > AUDIO_HARD_COMP_MS) playedMs = s.offsetMs;
        audioMs = Math.max(audioMs!, Math.abs(playedMs - s.offsetMs), 500 / run.sampleRate);
        // A slice that runs into the next one's time is cut where the next starts (see concatList).
        playedMs += run.slices[i + 1] && s.slotMs < s.durationMs - 0.5 ? s.slotMs : s.durationMs;
      });
    }
  }
  let videoMs: number | null = null;
  if (plan.video) {
    videoMs = 0;
    const fps = plan.video.fps;
    for (const run of plan.video.runs) {
      for (const s of run.slices) {
        if (s.mediaStartS === undefined) measured = false;
        // Copied frames keep their own timestamps; re-encoded ones go to the output frame nearest their instant.
        if (fps === null) continue;
        const frameMs = 1000 / fps;
        if (!s.frameOffsetsMs) {
          videoMs = Math.max(videoMs, frameMs / 2);
          continue;
        }
        for (const o of s.frameOffsetsMs) {
          if (o >= s.slotMs) break;
          const at = s.offsetMs + o;
          videoMs = Math.max(videoMs, Math.abs(Math.round(at / frameMs) * frameMs - at));
        }
      }
    }
  }
  const r = (v: number | null) => (v === null ? null : round3(v));
  return { audioMs: r(audioMs), videoMs: r(videoMs), avMs: audioMs !== null && videoMs !== null ? round3(audioMs + videoMs) : null, measured };
}

/** The wall-clock instant of output time `outMs` (the inverse of toOutput: cut intervals are skipped). */
export function wallOf(outMs: number, originMs: number, cuts: Interval[]): number {
  let wall = originMs + outMs;
  for (const c of [...cuts].sort((a, b) => a.startMs - b.startMs)) if (c.startMs <= wall) wall += c.endMs - c.startMs;
  return wall;
}

/** Raw events -> events on the output's clock: the trim window applied (a track present at its start joins at 0). */
function onClock(raw: Raw[], fromMs: number, durationMs: number): OutputEvent[] {
  const out: OutputEvent[] = [];
  const endMs = fromMs + durationMs;
  for (const e of raw) {
    const { atMs, durationMs: lengthMs, ...rest } = e;
    let startMs = atMs;
    let length = lengthMs;
    if (e.type === 'join' && atMs < fromMs) startMs = fromMs;
    if (e.type === 'leave' && atMs > endMs) startMs = endMs;
    if (length !== undefined && e.fill !== 'cut') {
      const stopMs = Math.min(endMs, startMs + length);
      startMs = Math.max(startMs, fromMs);
      length = stopMs - startMs;
      if (length <= 0.5) continue;
    }
    if (startMs < fromMs - 0.5 || startMs > endMs + 0.5) continue;
    out.push({ t: sec(startMs - fromMs), ...(length !== undefined ? { duration: sec(length) } : {}), ...rest });
  }
  return out;
}

/** The events of a merged output, on its own clock. */
export function mergeEvents(plan: OutputPlan): OutputEvents {
  const raw: Raw[] = [];
  if (plan.video) raw.push(...videoEvents(plan, plan.video));
  if (plan.audio) raw.push(...audioEvents(plan, plan.audio));
  for (const c of plan.cuts) {
    const atMs = toOutput(c.startMs, plan.originMs, plan.cuts);
    for (const track of tracksOf(plan)) raw.push({ atMs, durationMs: c.endMs - c.startMs, type: 'gap', track, fill: 'cut' });
  }
  for (const o of plan.overlaps) {
    if (!(o.track === 'video' ? plan.video : plan.audio)) continue;
    raw.push({ atMs: o.atMs, type: 'overlap', track: o.track, lostMs: round3(o.lostMs), ...(o.frames !== undefined ? { frames: o.frames } : {}), key: o.key });
  }
  for (const a of plan.absent) raw.push({ atMs: a.atMs, durationMs: a.durationMs, type: a.kind, track: a.track, key: a.key, reason: a.reason });
  const fromMs = plan.trim?.fromMs ?? 0;
  return {
    version: EVENTS_VERSION,
    duration: sec(plan.durationMs),
    sync: { origin: new Date(wallOf(fromMs, plan.originMs, plan.cuts)).toISOString(), ...syncOf(plan) },
    events: sortEvents(onClock(raw, fromMs, plan.durationMs)),
  };
}

const tracksOf = (plan: Pick<OutputPlan, 'video' | 'audio'>): MediaKind[] => [...(plan.video ? ['video' as const] : []), ...(plan.audio ? ['audio' as const] : [])];

/**
 * A composite's events: each user's merge events moved onto the composite's clock (`uid` says whose), and the
 * sync block of the users' worst. `gapFill` is what a user's tile shows in a gap (compose: freeze or black).
 */
export function composeEvents(users: { uid: string; plan: OutputPlan }[], originMs: number, durationMs: number, gapFill: 'freeze' | 'black', picture: boolean): OutputEvents {
  const events: OutputEvent[] = [];
  const syncs = users.map((u) => syncOf({ audio: u.plan.audio, video: picture ? u.plan.video : null }));
  for (const { uid, plan } of users) {
    const own = mergeEvents(picture ? plan : { ...plan, video: null });
    const shiftS = (plan.originMs - originMs) / 1000;
    for (const e of own.events) {
      const moved: OutputEvent = { ...e, t: Math.round((e.t + shiftS) * 1000) / 1000, uid };
      if (moved.type === 'gap' && moved.track === 'video' && moved.fill !== 'cut') moved.fill = moved.fill === 'black' ? 'black' : gapFill;
      events.push(moved);
    }
  }
  const worst = (pick: (s: (typeof syncs)[number]) => number | null) => {
    const known = syncs.map(pick).filter((v): v is number => v !== null);
    return known.length > 0 ? Math.max(...known) : null;
  };
  return {
    version: EVENTS_VERSION,
    duration: sec(durationMs),
    sync: { origin: new Date(originMs).toISOString(), audioMs: worst((s) => s.audioMs), videoMs: worst((s) => s.videoMs), avMs: worst((s) => s.avMs), measured: syncs.every((s) => s.measured) },
    events: sortEvents(events.filter((e) => e.t <= durationMs / 1000 + 0.001)),
  };
}

/** A WebVTT timestamp (hh:mm:ss.mmm). */
export function vttTime(seconds: number): string {
  const ms = Math.max(0, Math.round(seconds * 1000));
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor(ms / 60_000) % 60;
  const s = Math.floor(ms / 1000) % 60;
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${pad(h)}:${pad(m)}:${pad(s)}.${pad(ms % 1000, 3)}`;
}

/** Joins and leaves closer than this (ms) are one chapter (audio and video of one arrival are a few ms apart). */
export const CHAPTER_JOIN_MS = 250;

/**
 * Joins and leaves as WebVTT chapters: one cue from each join or leave (those within CHAPTER_JOIN_MS of the first
 * of a group count as one) to the next (the last to the end), titled by what changed there ("audio joins, video
 * joins", "uid 3 video leaves", ...).
 */
export function chaptersVtt(events: OutputEvents): string {
  const marks = events.events.filter((e) => (e.type === 'join' || e.type === 'leave') && e.t < events.duration);
  const groups: OutputEvent[][] = [];
  for (const e of marks) {
    const last = groups.at(-1);
    if (last && (e.t - last[0]!.t) * 1000 < CHAPTER_JOIN_MS) last.push(e);
    else groups.push([e]);
  }
  const lines = ['WEBVTT', ''];
  groups.forEach((group, i) => {
    const t = group[0]!.t;
    const end = groups[i + 1]?.[0]!.t ?? events.duration;
    const title = [...new Set(group.map((e) => `${e.uid !== undefined ? `uid ${e.uid} ` : ''}${e.track} ${e.type === 'join' ? 'joins' : 'leaves'}`))]
      .sort()
      .join(', ');
    lines.push(`${i + 1}`, `${vttTime(t)} --> ${vttTime(end)}`, title, '');
  });
  return lines.join('\n');
}
