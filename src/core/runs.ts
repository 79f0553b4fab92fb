// Runs: the stretches of a track that decode as one stream (contiguous, same container, codec, size; audio:
// same configuration), with what each hides (an undecodable lead), how it turns (ROTATE), its real frame
// rate, and what overlapping slices cost. Pure.
import { GAP_TOLERANCE_MS } from './inventory.js';
import { maxOf } from './timeline.js';
import type { AudioFacts, AudioRun, MediaFacts, MediaKind, PlacedSlice, Rotation, Slice, SliceMedia, SliceOverlap, VideoFacts, VideoRun } from './types.js';

/** The highest of the rates that are known, or null. */
const maxRate = (rates: (number | null)[]) => {
  const known = rates.filter((r): r is number => r !== null);
  return known.length > 0 ? maxOf(known) : null;
};

export function factsFor(slices: Slice[], facts: Map<string, MediaFacts>): (MediaFacts | undefined)[] {
  let last: MediaFacts | undefined;
  return slices.map((s) => {
    last = facts.get(s.key) ?? last;
    return last;
  });
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
    // The copy read starts at the keyframe: its frames are those from there on.
    if (p.frameOffsetsMs) shifted.frameOffsetsMs = p.frameOffsetsMs.filter((o) => o >= cut - 0.5).map((o) => o - cut);
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

export function videoRuns(placed: PlacedSlice[], slices: Map<string, Slice>, facts: Map<string, MediaFacts>, media: Map<string, SliceMedia> | undefined, warnings: string[]): VideoRun[] {
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
    const leadFacts = lead.leadMs > 0 ? { lead: { atMs: placed[run[0]!]!.offsetMs, lostMs: lead.leadMs, key: s.key } } : {};
    runs.push({
      ...leadFacts,
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

export function audioRuns(placed: PlacedSlice[], slices: Map<string, Slice>, facts: Map<string, MediaFacts>, media: Map<string, SliceMedia> | undefined): AudioRun[] {
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
      // Unprobed (the slice before it was dropped): what its container holds from this recorder.
      codec: af?.codec ?? (slices.get(placed[run[0]!]!.key)?.container === 'webm' ? 'opus' : 'aac'),
      sampleRate: config[run[0]!]!.sampleRate,
      channels: config[run[0]!]!.channels,
      profile: af?.profile ?? null,
    };
  });
}

/** Where slices overlap their successor, the overlap is cut: each cut as a fact (video: only those that drop frames). */
export function sliceOverlaps(kind: MediaKind, placed: PlacedSlice[], media: Map<string, SliceMedia> | undefined): SliceOverlap[] {
  const out: SliceOverlap[] = [];
  for (const p of placed) {
    const overlap = p.durationMs - p.slotMs;
    if (overlap <= 0.5) continue;
    const cut: SliceOverlap = { track: kind, key: p.key, atMs: p.offsetMs + p.slotMs, lostMs: overlap };
    if (kind === 'video') {
      const offsets = media?.get(p.key)?.frameOffsetsMs;
      // Only frames that start inside the next slice's time are dropped; a shorter last frame is not a loss.
      const lost = offsets ? offsets.filter((o) => o >= p.slotMs - 0.5).length : 0;
      if (lost === 0) continue;
      cut.frames = lost;
    }
    out.push(cut);
  }
  return out;
}

/** What the overlaps of a track cost, said once per track (null: none). */
export function overlapWarning(kind: MediaKind, overlaps: SliceOverlap[]): string | null {
  const mine = overlaps.filter((o) => o.track === kind);
  if (mine.length === 0) return null;
  const totalMs = mine.reduce((a, o) => a + o.lostMs, 0);
  const largestMs = maxOf(mine.map((o) => o.lostMs));
  const frames = mine.reduce((a, o) => a + (o.frames ?? 0), 0);
  const what = kind === 'video' ? `${frames} frame(s) in the overlaps were dropped` : 'the overlapping audio was dropped';
  return `${kind}: ${mine.length} slice(s) overlap the next one (by up to ${Math.round(largestMs)} ms, ${Math.round(totalMs)} ms in all; slice names and lengths disagree); each is cut where the next starts: ${what}`;
}

/**
 * A run's pictures by rotation: [fromMs, toMs) in output time (toMs null: to the run's end). The stream
 * decodes on across a turn; each piece is turned upright on its own. The one rule for merge, compose and
 * snapshots: a turn at or before a piece's start changes that piece's rotation.
 */
export function rotationPieces(run: Pick<VideoRun, 'offsetMs' | 'rotation' | 'turns'>): { fromMs: number; toMs: number | null; rotation: Rotation }[] {
  const pieces: { fromMs: number; toMs: number | null; rotation: Rotation }[] = [{ fromMs: run.offsetMs, toMs: null, rotation: run.rotation }];
  for (const t of run.turns) {
    const at = Math.max(run.offsetMs, t.atMs);
    const last = pieces.at(-1)!;
    if (at <= last.fromMs) last.rotation = t.rotation;
    else {
      last.toMs = at;
      pieces.push({ fromMs: at, toMs: null, rotation: t.rotation });
    }
  }
  return pieces;
}

/** The rotation in force at output time `atMs` of a run. */
export function rotationAt(run: Pick<VideoRun, 'offsetMs' | 'rotation' | 'turns'>, atMs: number): Rotation {
  let rotation = run.rotation;
  for (const piece of rotationPieces(run)) if (piece.fromMs <= atMs) rotation = piece.rotation;
  return rotation;
}
