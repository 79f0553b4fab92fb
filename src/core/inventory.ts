// Key names + playlist texts -> inventory: sessions -> UIDs -> tracks -> slices on the wall clock.
import { parseRecordingName } from './names.js';
import { parsePlaylist, PlaylistError, type ParsedPlaylist } from './playlist.js';
import type { Inventory, MediaKind, Problem, RecordingName, Rotation, Session, Slice, Track, TrackEventTag, UidRecording } from './types.js';

/** Two slices starting this close together are the same slice (main and backup recorder). */
export const DUPLICATE_TOLERANCE_MS = 100;
/** Slices further apart than this leave a gap; closer ones are one continuous stream (recorder jitter). */
export const GAP_TOLERANCE_MS = 250;
/** A ROTATE TIME this close after a slice's start applies from the start (name jitter). */
export const TURN_TOLERANCE_MS = 50;

type PlaylistName = Extract<RecordingName, { type: 'playlist' }>;
type SliceName = Extract<RecordingName, { type: 'slice' }>;

export interface Classified {
  playlists: PlaylistName[];
  slices: SliceName[];
  ignored: { key: string; reason: string }[];
}

/** Sorts storage keys into playlists, slices and everything else (with why it was ignored). */
export function classifyKeys(keys: string[]): Classified {
  const out: Classified = { playlists: [], slices: [], ignored: [] };
  for (const key of keys) {
    const r = parseRecordingName(key);
    if (!r.ok) out.ignored.push({ key, reason: r.reason });
    else if (r.name.type === 'playlist') out.playlists.push(r.name);
    else out.slices.push(r.name);
  }
  return out;
}

function groupBy<T>(items: T[], keyOf: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const k = keyOf(item);
    const group = groups.get(k);
    if (group) group.push(item);
    else groups.set(k, [item]);
  }
  return groups;
}

/** More problems with the same message than this become one counted problem. */
export const PROBLEMS_SHOWN_PER_MESSAGE = 3;

/**
 * Problems that say the same thing about many slices (100,000 missing slices, a tag broken on every
 * line) become one problem with a count, naming the first and the last slice, so that a report stays
 * readable and small. A few alike stay as they are. Order is kept (a group stands where its first was).
 */
export function collapseProblems(problems: Problem[]): Problem[] {
  const groups = groupBy(problems, (p) => `${p.severity}\u0000${p.message}`);
  if ([...groups.values()].every((g) => g.length <= PROBLEMS_SHOWN_PER_MESSAGE)) return problems;
  const out: Problem[] = [];
  const done = new Set<string>();
  for (const p of problems) {
    const k = `${p.severity}\u0000${p.message}`;
    const group = groups.get(k)!;
    if (group.length <= PROBLEMS_SHOWN_PER_MESSAGE) {
      out.push(p);
      continue;
    }
    if (done.has(k)) continue;
    done.add(k);
    const keys = group.filter((g) => g.key !== undefined).map((g) => g.key!);
    const which = keys.length > 0 ? `; first ${keys[0]}, last ${keys.at(-1)}` : '';
    out.push({
      severity: p.severity,
      ...(keys.length > 0 ? { key: keys[0] } : {}),
      message: `${p.message} (${group.length} times${which})`,
      count: group.length,
    });
  }
  return out;
}

const sessionKey = (n: { sid: string; cname: string }) => `${n.sid}\u0000${n.cname}`;
const trackKey = (n: { sid: string; cname: string; uid: string; media: MediaKind }) => `${sessionKey(n)}\u0000${n.uid}\u0000${n.media}`;

/** A playlist's text as read from storage, or why it could not be read. */
export type PlaylistText = string | Error;

interface Candidate {
  name: PlaylistName;
  parsed: ParsedPlaylist;
  size: number;
}

/** Among the plain playlist and its `_<tick>_<index>` copies, the one with the most content wins. */
function pickFullest(candidates: Candidate[]): Candidate | null {
  let best: Candidate | null = null;
  for (const c of candidates) {
    if (
      !best ||
      c.parsed.entries.length > best.parsed.entries.length ||
      (c.parsed.entries.length === best.parsed.entries.length && c.size > best.size) ||
      (c.parsed.entries.length === best.parsed.entries.length && c.size === best.size && c.name.copy === null)
    ) {
      best = c;
    }
  }
  return best;
}

/** Slice URIs are file names relative to the playlist. */
const entryKey = (cand: Candidate, uri: string) => cand.name.dir + uri.replace(/^\.\//, '');

function slicesFromPlaylist(
  cand: Candidate,
  media: MediaKind,
  uid: string,
  present: Map<string, SliceName>,
  problems: Problem[],
  events: TrackEventTag[],
): Slice[] {
  const slices: Slice[] = [];
  let rotation: Rotation = 0;
  let codedSize: { width: number; height: number } | null = null;
  for (const w of cand.parsed.warnings) problems.push({ severity: 'warning', key: cand.name.key, message: w });
  const seen = new Set<string>();
  let prev: { startMs: number; endMs: number } | null = null;
  for (const entry of cand.parsed.entries) {
    const key = entryKey(cand, entry.uri);
    // A slice in storage was parsed when the keys were classified: not again.
    const stored = present.get(key);
    const parsed = stored ? ({ ok: true, name: stored } as const) : parseRecordingName(key);
    // A ROTATE tag whose TIME falls inside the slice turns the picture there, not at the slice's start.
    const sliceStart = parsed.ok && parsed.name.type === 'slice' ? parsed.name.startMs : null;
    const turns: { atMs: number; rotation: Rotation }[] = [];
    let startRotation: Rotation | null = null;
    for (const r of entry.rotates) {
      codedSize = { width: r.width, height: r.height };
      if (r.timeMs !== null && sliceStart !== null && r.timeMs > sliceStart + TURN_TOLERANCE_MS && entry.durationSec !== null && r.timeMs < sliceStart + entry.durationSec * 1000) {
        if ((turns.at(-1)?.rotation ?? startRotation ?? rotation) !== r.rotation) turns.push({ atMs: r.timeMs, rotation: r.rotation });
      } else {
        startRotation = r.rotation;
      }
    }
    if (startRotation !== null) rotation = startRotation;
    const sliceRotation = rotation;
    if (turns.length > 0) rotation = turns.at(-1)!.rotation;
    events.push(...entry.events);
    if (!parsed.ok || parsed.name.type !== 'slice') {
      problems.push({ severity: 'error', key: cand.name.key, message: `entry "${entry.uri}" is not a slice name (${parsed.ok ? 'a playlist' : parsed.reason}); left out` });
      continue;
    }
    const n = parsed.name;
    if (n.uid !== uid || n.media !== media) {
      problems.push({ severity: 'error', key: cand.name.key, message: `entry "${entry.uri}" belongs to uid ${n.uid} ${n.media}, not uid ${uid} ${media}; left out` });
      continue;
    }
    if (entry.durationSec === null) {
      problems.push({ severity: 'error', key, message: `${entry.durationError ?? 'bad duration'} in ${cand.name.key}; slice left out (its time becomes a gap)` });
      continue;
    }
    if (seen.has(key)) {
      problems.push({ severity: 'warning', key, message: `listed twice in ${cand.name.key}; used once` });
      continue;
    }
    seen.add(key);
    const endMs = n.startMs + entry.durationSec * 1000;
    if (prev && n.startMs < prev.startMs) {
      problems.push({ severity: 'warning', key, message: `listed after a slice that starts later (UTC goes backwards) in ${cand.name.key}; placed by its own UTC` });
    } else if (prev && n.startMs < prev.endMs - GAP_TOLERANCE_MS) {
      problems.push({ severity: 'warning', key, message: `starts ${Math.round(prev.endMs - n.startMs)} ms before the previous slice ends; the previous slice is cut where this one starts` });
    }
    prev = { startMs: n.startMs, endMs };
    slices.push({
      key,
      container: n.container,
      startMs: n.startMs,
      durationMs: entry.durationSec * 1000,
      discontinuity: entry.discontinuity,
      rotation: sliceRotation,
      codedSize,
      backup: n.backup !== null,
      present: stored !== undefined,
      ...(turns.length > 0 ? { turns } : {}),
    });
  }
  if (!cand.parsed.endList) {
    problems.push({ severity: 'warning', key: cand.name.key, message: 'playlist has no #EXT-X-ENDLIST (the recorder may have stopped abnormally)' });
  }
  return slices;
}

/** Merges main and backup recorder slices by UTC; a slice recorded by both is kept once. */
export function mergeByUtc(lists: Slice[][]): Slice[] {
  const all = lists.flat().sort((a, b) => a.startMs - b.startMs || Number(a.backup) - Number(b.backup));
  const out: Slice[] = [];
  for (const s of all) {
    const prev = out.at(-1);
    if (prev && Math.abs(s.startMs - prev.startMs) <= DUPLICATE_TOLERANCE_MS) {
      // Same slice twice: prefer one that reached storage, then the main recorder's.
      if (!prev.present && s.present) out[out.length - 1] = s;
      continue;
    }
    out.push(s);
  }
  return out;
}

/** A rebuilt slice with no measured length lasts until the next slice when that is at most this far. */
export const MAX_GUESSED_SLICE_MS = 20_000;

/**
 * Slices in storage that no playlist lists, for a track whose playlist is missing or was cut off
 * (no #EXT-X-ENDLIST: the recorder stopped before listing them), placed by the UTC in their names.
 * Each lasts its measured length when `durations` has it, else up to the next slice if that is close;
 * the others are returned in `unmeasured` for the caller to probe.
 */
function rebuildFromNames(
  orphans: SliceName[],
  inherit: Pick<Slice, 'rotation' | 'codedSize'>,
  durations: Map<string, number>,
  problems: Problem[],
  unmeasured: string[],
): Slice[] {
  const sorted = [...orphans].sort((a, b) => a.startMs - b.startMs);
  const out: Slice[] = [];
  let j = 0;
  sorted.forEach((n, i) => {
    // The next distinct slice: a backup recorder's copy of this one starts within the duplicate tolerance.
    // Starts are sorted, so the index of the next distinct one only moves forward (linear overall).
    j = Math.max(j, i + 1);
    while (j < sorted.length && sorted[j]!.startMs - n.startMs <= DUPLICATE_TOLERANCE_MS) j++;
    const next = sorted[j];
    const guess = next && next.startMs - n.startMs <= MAX_GUESSED_SLICE_MS ? next.startMs - n.startMs : undefined;
    const durationMs = durations.get(n.key) ?? guess;
    if (durationMs === undefined || !(durationMs > 0)) {
      unmeasured.push(n.key);
      return;
    }
    out.push({
      key: n.key,
      container: n.container,
      startMs: n.startMs,
      durationMs,
      discontinuity: i === 0,
      ...inherit,
      backup: n.backup !== null,
      present: true,
    });
  });
  if (out.length > 0) {
    problems.push({
      severity: 'warning',
      message: `${out.length} ${sorted[0]!.media} slice(s) not in any playlist were placed by the UTC in their names (the playlist is missing or was cut off)`,
    });
  }
  return out;
}

/**
 * Builds the inventory. `durations` holds measured lengths (ms) of slices that must be placed without a
 * playlist entry; the inventory's `unmeasured` lists those still needed (probe them and call again).
 */
export function buildInventory(classified: Classified, texts: Map<string, PlaylistText>, durations = new Map<string, number>()): Inventory {
  const problems: Problem[] = [];
  const present = new Map(classified.slices.map((s) => [s.key, s]));
  const listed = new Set<string>();
  const unmeasured: string[] = [];

  const byTrack = groupBy(classified.playlists, trackKey);
  const slicesByTrack = groupBy(classified.slices, trackKey);
  const unmeasuredSet = new Set<string>();
  // Slices whose track has no playlist at all still make the UID known, so it can be reported.
  const uidsSeen = new Map<string, { sid: string; cname: string; dir: string; uid: string }>();
  for (const n of [...classified.playlists, ...classified.slices]) {
    const k = `${sessionKey(n)}\u0000${n.uid}`;
    if (!uidsSeen.has(k)) uidsSeen.set(k, { sid: n.sid, cname: n.cname, dir: n.dir, uid: n.uid });
  }

  const sessions = new Map<string, Session>();
  const collator = new Intl.Collator('en', { numeric: true });
  for (const info of [...uidsSeen.values()].sort((a, b) => collator.compare(a.sid + a.uid, b.sid + b.uid))) {
    const sk = sessionKey(info);
    let session = sessions.get(sk);
    if (!session) {
      session = { sid: info.sid, cname: info.cname, dir: info.dir, uids: [] };
      sessions.set(sk, session);
    }
    const rec: UidRecording = { uid: info.uid, audio: null, video: null, problems: [], failed: null };
    for (const media of ['audio', 'video'] as const) {
      const tk = trackKey({ ...info, media });
      const names = byTrack.get(tk) ?? [];
      const built = buildTrack(media, info.uid, names, texts, present, rec);
      if (rec.failed) {
        // Its slices are listed, only their playlist is unusable: not orphans.
        for (const m of ['audio', 'video'] as const) for (const x of slicesByTrack.get(trackKey({ ...info, media: m })) ?? []) listed.add(x.key);
        break;
      }
      let track = built?.track ?? null;
      if (!built || !built.complete) {
        const listedHere = new Set(track?.slices.map((x) => x.key));
        const orphans = (slicesByTrack.get(tk) ?? []).filter((x) => !listedHere.has(x.key));
        const last = track?.slices.at(-1);
        const inherit = { rotation: last?.rotation ?? 0, codedSize: last?.codedSize ?? null };
        const rebuilt = orphans.length > 0 ? rebuildFromNames(orphans, inherit, durations, rec.problems, unmeasured) : [];
        if (rebuilt.length > 0) {
          track = {
            media,
            playlistKey: track?.playlistKey ?? null,
            otherPlaylists: track?.otherPlaylists ?? [],
            slices: mergeByUtc([track?.slices ?? [], rebuilt]),
            events: track?.events ?? [],
          };
        }
      }
      for (const x of track?.slices ?? []) listed.add(x.key);
      for (const key of built?.mentioned ?? []) listed.add(key);
      if (track && track.slices.length > 0) rec[media] = track;
    }
    if (!rec.failed && !rec.audio && !rec.video) rec.failed = `uid ${info.uid}: no usable audio or video track`;
    rec.problems = collapseProblems(rec.problems);
    session.uids.push(rec);
  }

  for (const key of unmeasured) unmeasuredSet.add(key);
  for (const x of classified.slices) {
    if (!listed.has(x.key) && !unmeasuredSet.has(x.key)) {
      problems.push({ severity: 'warning', key: x.key, message: 'slice is not listed in its playlist (which is complete); ignored' });
    }
  }
  return { sessions: [...sessions.values()], ignored: classified.ignored, problems: collapseProblems(problems), unmeasured };
}

function buildTrack(
  media: MediaKind,
  uid: string,
  names: PlaylistName[],
  texts: Map<string, PlaylistText>,
  present: Map<string, SliceName>,
  rec: UidRecording,
): { track: Track; complete: boolean; mentioned: string[] } | null {
  if (names.length === 0) return null;
  const byRecorder = new Map<number, Candidate[]>();
  const broken: string[] = [];
  for (const name of names) {
    const text = texts.get(name.key);
    if (text === undefined) continue;
    if (text instanceof Error) {
      broken.push(`${name.key}: ${text.message}`);
      continue;
    }
    try {
      const parsed = parsePlaylist(text);
      const recorder = name.backup ?? -1;
      byRecorder.set(recorder, [...(byRecorder.get(recorder) ?? []), { name, parsed, size: text.length }]);
    } catch (error) {
      if (!(error instanceof PlaylistError)) throw error;
      broken.push(`${name.key}: ${error.message}`);
    }
  }
  if (byRecorder.size === 0) {
    rec.failed = `uid ${uid}: ${media} playlist cannot be used: ${broken.join('; ') || 'not readable'}`;
    return null;
  }
  for (const b of broken) rec.problems.push({ severity: 'warning', message: `${b} (another copy was used)` });

  const chosen: Candidate[] = [];
  const others: string[] = [];
  for (const candidates of byRecorder.values()) {
    const best = pickFullest(candidates)!;
    chosen.push(best);
    for (const c of candidates) if (c !== best) others.push(c.name.key);
  }
  const events: TrackEventTag[] = [];
  const lists = chosen.map((c) => slicesFromPlaylist(c, media, uid, present, rec.problems, events));
  const slices = mergeByUtc(lists);
  for (const s of slices) {
    if (!s.present) rec.problems.push({ severity: 'error', key: s.key, message: 'listed in the playlist but not in storage; its time becomes a gap' });
  }
  const main = chosen.find((c) => c.name.backup === null) ?? chosen[0]!;
  return {
    track: {
      media,
      playlistKey: main.name.key,
      otherPlaylists: [...others, ...chosen.filter((c) => c !== main).map((c) => c.name.key)],
      slices,
      events,
    },
    complete: chosen.some((c) => c.parsed.endList),
    // Every slice a playlist names counts as listed, also those dropped as duplicates or for bad data.
    mentioned: [...byRecorder.values()].flat().flatMap((c) => c.parsed.entries.map((e) => entryKey(c, e.uri))),
  };
}

/** A copy of the inventory in which these slices count as absent (unreadable, failed to download). */
export function markMissing(inventory: Inventory, reasons: Map<string, string>): Inventory {
  if (reasons.size === 0) return inventory;
  return {
    ...inventory,
    sessions: inventory.sessions.map((session) => ({
      ...session,
      uids: session.uids.map((rec) => {
        const problems = [...rec.problems];
        const mark = (track: Track | null): Track | null => {
          if (!track) return null;
          return {
            ...track,
            slices: track.slices.map((s) => {
              const reason = reasons.get(s.key);
              if (reason === undefined || !s.present) return s;
              problems.push({ severity: 'error', key: s.key, message: `${reason}; its time becomes a gap` });
              return { ...s, present: false };
            }),
          };
        };
        const audio = mark(rec.audio);
        const video = mark(rec.video);
        return { ...rec, audio, video, problems };
      }),
    })),
  };
}
