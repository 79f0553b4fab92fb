// Key names + playlist texts -> inventory: sessions -> UIDs -> tracks -> slices on the wall clock.
// Besides the legacy playlists (default/standard/original modes) it reads the other recorder modes'
// indexes (README "Recorder modes"): raw mode's index of muxed A+V slices and its DASH MPD of WebM
// segments become the UID's tracks; standard mode's av index is cross-checked against the playlists.
import { parseMpd, parseAvPlaylist, IndexError, type MpdEntry } from './av-index.js';
import { detectModes } from './modes.js';
import { parseRecordingName } from './names.js';
import { parsePlaylist, PlaylistError, type ParsedPlaylist } from './playlist.js';
import type {
  IndexName,
  Inventory,
  MediaKind,
  Mp4Name,
  MuxedSliceName,
  PlaylistName,
  Problem,
  RecognisedFile,
  RecordingName,
  RotateTag,
  Rotation,
  SegmentName,
  Session,
  Slice,
  SliceContainer,
  SliceName,
  Track,
  TrackEventTag,
  UidRecording,
} from './types.js';

/** Two slices starting this close together are the same slice (main and backup recorder). */
export const DUPLICATE_TOLERANCE_MS = 100;
/** Slices further apart than this leave a gap; closer ones are one continuous stream (recorder jitter). */
export const GAP_TOLERANCE_MS = 250;
/** A ROTATE TIME this close after a slice's start applies from the start (name jitter). */
export const TURN_TOLERANCE_MS = 50;

/** What a playlist lists: a slice of one track, or (raw mode) a slice holding audio and video. */
type StoredSlice = SliceName | MuxedSliceName;
/** What a track playlist holds: one media, or (raw mode's index) muxed slices feeding both. */
type TrackKind = MediaKind | 'muxed';
/** A playlist of slices: a track playlist or a raw-mode m3u8 index. */
type ListName = PlaylistName | IndexName;

export interface Classified {
  playlists: PlaylistName[];
  slices: SliceName[];
  /** Standard mode's av indexes and raw mode's indexes. */
  indexes: IndexName[];
  /** Raw mode's slices holding audio and video. */
  muxed: MuxedSliceName[];
  /** Raw mode's DASH WebM segments. */
  segments: SegmentName[];
  /** The service's own MP4s (raw mode, postponed transcoding): recognised, not merged. */
  mp4s: Mp4Name[];
  ignored: { key: string; reason: string }[];
}

/** Sorts storage keys into playlists, slices, the other modes' files and everything else (with why it was ignored). */
export function classifyKeys(keys: string[]): Classified {
  const out: Classified = { playlists: [], slices: [], indexes: [], muxed: [], segments: [], mp4s: [], ignored: [] };
  for (const key of keys) {
    const r = parseRecordingName(key);
    if (!r.ok) {
      out.ignored.push({ key, reason: r.reason });
      continue;
    }
    const n = r.name;
    if (n.type === 'playlist') out.playlists.push(n);
    else if (n.type === 'slice') out.slices.push(n);
    else if (n.type === 'index') out.indexes.push(n);
    else if (n.type === 'muxed') out.muxed.push(n);
    else if (n.type === 'segment') out.segments.push(n);
    else out.mp4s.push(n);
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
const uidKey = (n: { sid: string; cname: string; uid: string }) => `${sessionKey(n)}\u0000${n.uid}`;
const trackKey = (n: { sid: string; cname: string; uid: string; media: TrackKind }) => `${uidKey(n)}\u0000${n.media}`;

/** A playlist's text as read from storage, or why it could not be read. */
export type PlaylistText = string | Error;

interface Candidate {
  name: ListName;
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

/** Why a parsed entry name cannot be a slice of this track, or null when it can. */
function wrongEntry(n: StoredSlice, kind: TrackKind, uid: string): string | null {
  const what = n.type === 'muxed' ? 'muxed audio+video' : n.media;
  const wanted = kind === 'muxed' ? 'muxed audio+video' : kind;
  return n.uid !== uid || what !== wanted ? `belongs to uid ${n.uid} ${what}, not uid ${uid} ${wanted}` : null;
}

function slicesFromPlaylist(
  cand: Candidate,
  kind: TrackKind,
  uid: string,
  present: Map<string, StoredSlice>,
  problems: Problem[],
  events: TrackEventTag[],
): Slice[] {
  const slices: Slice[] = [];
  const tags: PlacedRotateTag[] = [];
  let codedSize: { width: number; height: number } | null = null;
  for (const w of cand.parsed.warnings) problems.push({ severity: 'warning', key: cand.name.key, message: w });
  const seen = new Set<string>();
  let prev: { startMs: number; endMs: number } | null = null;
  for (const entry of cand.parsed.entries) {
    const key = entryKey(cand, entry.uri);
    // A slice in storage was parsed when the keys were classified: not again.
    const stored = present.get(key);
    const parsed = stored ? ({ ok: true, name: stored } as const) : parseRecordingName(key);
    const entryName = parsed.ok && (parsed.name.type === 'slice' || parsed.name.type === 'muxed') ? parsed.name : null;
    // ROTATE tags are applied at their TIME once every slice is known (see applyRotateTags).
    for (const r of entry.rotates) {
      codedSize = { width: r.width, height: r.height };
      tags.push({ tag: r, before: slices.length, entryStartMs: entryName?.startMs ?? null });
    }
    events.push(...entry.events);
    if (!entryName) {
      const what = !parsed.ok ? parsed.reason : parsed.name.type === 'playlist' ? 'a playlist' : `a ${parsed.name.type === 'segment' ? 'DASH segment' : parsed.name.type}`;
      problems.push({ severity: 'error', key: cand.name.key, message: `entry "${entry.uri}" is not a slice name (${what}); left out` });
      continue;
    }
    const n = entryName;
    const wrong = wrongEntry(n, kind, uid);
    if (wrong) {
      problems.push({ severity: 'error', key: cand.name.key, message: `entry "${entry.uri}" ${wrong}; left out` });
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
      rotation: 0,
      codedSize,
      backup: n.backup !== null,
      present: stored !== undefined,
      ...(n.type === 'muxed' ? { muxed: true as const, nameCodec: n.videoCodec } : {}),
    });
  }
  for (const r of cand.parsed.trailingRotates) tags.push({ tag: r, before: slices.length, entryStartMs: null });
  if (!cand.parsed.endList) {
    problems.push({ severity: 'warning', key: cand.name.key, message: 'playlist has no #EXT-X-ENDLIST (the recorder may have stopped abnormally)' });
  }
  return applyRotateTags(slices, tags, (message) => problems.push({ severity: 'warning', key: cand.name.key, message }));
}

/** A ROTATE tag as it stood in a playlist: before the slice `before` (an index of the listed slices; their count after the last). */
export interface PlacedRotateTag {
  tag: RotateTag;
  before: number;
  /** The UTC of the entry it stood before, when that entry is not a slice of the track (left out). */
  entryStartMs: number | null;
}

/**
 * The rotation of each slice and its turns, from the ROTATE tags at their TIME (wall clock). The recorder
 * does not cut a slice on rotation: the docs put the tag before the first slice after the turn, with a TIME
 * that may lie inside the previous slice; a TIME may also lie inside the slice it stands before (seen in
 * recorder-like output), and several tags may stand before one slice. Each tag turns the picture at its
 * TIME, held to where the tag stands: not before the start of the slice before it, not after the end of the
 * slice after it (a TIME outside is moved there, said in a warning). No TIME: at the start of the slice after
 * it. A TIME within TURN_TOLERANCE_MS of a slice's start applies from that start (name jitter). Pure.
 */
export function applyRotateTags(slices: Slice[], tags: PlacedRotateTag[], warn: (message: string) => void): Slice[] {
  const events: { atMs: number; rotation: Rotation }[] = [];
  let floor = -Infinity;
  for (const { tag, before, entryStartMs } of tags) {
    const after = slices[before];
    const prev = slices[before - 1];
    const fallback = entryStartMs ?? after?.startMs ?? (prev ? prev.startMs + prev.durationMs : null);
    let atMs = tag.timeMs ?? fallback;
    if (atMs === null) continue;
    const low = prev?.startMs ?? -Infinity;
    const high = after ? after.startMs + after.durationMs : prev ? prev.startMs + prev.durationMs : Infinity;
    if (atMs < low - TURN_TOLERANCE_MS || atMs > high + TURN_TOLERANCE_MS) {
      const moved = atMs < low ? low : (fallback ?? high);
      warn(`ROTATE=${tag.rotation} TIME ${new Date(atMs).toISOString()} lies outside the slices around the tag; applied from ${new Date(moved).toISOString()}`);
      atMs = moved;
    }
    // Tags are events in playlist order: a TIME before an earlier tag's is taken as that instant.
    atMs = Math.max(atMs, floor);
    floor = atMs;
    events.push({ atMs, rotation: tag.rotation });
  }
  if (events.length === 0) return slices;
  return slices.map((s) => {
    const startMs = s.startMs + TURN_TOLERANCE_MS;
    const endMs = s.startMs + s.durationMs - TURN_TOLERANCE_MS;
    let rotation: Rotation = 0;
    for (const e of events) if (e.atMs <= startMs) rotation = e.rotation;
    const turns: { atMs: number; rotation: Rotation }[] = [];
    for (const e of events) {
      if (e.atMs <= startMs || e.atMs >= endMs) continue;
      // Two tags at one instant: the later one stands.
      if (turns.at(-1)?.atMs === e.atMs) turns.pop();
      if ((turns.at(-1)?.rotation ?? rotation) !== e.rotation) turns.push({ atMs: e.atMs, rotation: e.rotation });
    }
    return turns.length > 0 ? { ...s, rotation, turns } : { ...s, rotation };
  });
}

/**
 * Merges main and backup recorder slices by UTC; a slice recorded by both is kept once. Only slices of two
 * recorders (two lists, or main and backup in one list) starting within DUPLICATE_TOLERANCE_MS are one slice:
 * one recorder's slices are distinct however close (a forced cut a frame or two before the next cut).
 */
export function mergeByUtc(lists: Slice[][]): Slice[] {
  const all = lists
    .flatMap((list, n) => list.map((slice) => ({ slice, recorder: `${n}/${slice.backup}` })))
    .sort((a, b) => a.slice.startMs - b.slice.startMs || Number(a.slice.backup) - Number(b.slice.backup));
  // Each kept slice with the recorders that hold it.
  const out: { slice: Slice; recorders: Set<string> }[] = [];
  for (const s of all) {
    // The kept slices that start close before it (sorted): the latest one its recorder does not hold is its twin.
    const close = (k: number) => k >= 0 && s.slice.startMs - out[k]!.slice.startMs <= DUPLICATE_TOLERANCE_MS;
    let k = out.length - 1;
    while (close(k) && out[k]!.recorders.has(s.recorder)) k--;
    if (close(k)) {
      const twin = out[k]!;
      twin.recorders.add(s.recorder);
      // Same slice twice: prefer one that reached storage, then the main recorder's.
      if (!twin.slice.present && s.slice.present) twin.slice = s.slice;
      continue;
    }
    out.push({ slice: s.slice, recorders: new Set([s.recorder]) });
  }
  // A twin put in its place may start a little after the slices kept behind it.
  return out.map((x) => x.slice).sort((a, b) => a.startMs - b.startMs);
}

/** A rebuilt slice with no measured length lasts until the next slice when that is at most this far. */
export const MAX_GUESSED_SLICE_MS = 20_000;

/** A slice to place without a playlist entry: by the UTC in its name, or (raw-mode DASH) by its MPD's time. */
interface Placeable {
  key: string;
  container: SliceContainer;
  startMs: number;
  backup: number | null;
  /** What its MPD says (raw-mode DASH); else the track's last rotation and size are inherited. */
  rotation?: Rotation;
  codedSize?: { width: number; height: number } | null;
  muxed?: true;
  /** The video codec a raw-mode name gives. */
  nameCodec?: string;
}

const placeableOf = (n: StoredSlice): Placeable =>
  n.type === 'muxed'
    ? { key: n.key, container: n.container, startMs: n.startMs, backup: n.backup, muxed: true, nameCodec: n.videoCodec }
    : { key: n.key, container: n.container, startMs: n.startMs, backup: n.backup };

/**
 * Slices that no playlist lists, placed by their start: slices in storage for a track whose playlist is
 * missing or was cut off (no #EXT-X-ENDLIST: the recorder stopped before listing them), or raw-mode DASH
 * segments placed by their MPD. Each lasts its measured length when `durations` has it, else up to the
 * next slice if that is close; the others are returned in `unmeasured` for the caller to probe. `said`
 * is the warning for how many were placed (null: none).
 */
function rebuildFromNames(
  orphans: Placeable[],
  inherit: Pick<Slice, 'rotation' | 'codedSize'>,
  durations: Map<string, number>,
  problems: Problem[],
  unmeasured: string[],
  said: ((count: number) => string) | null,
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
      rotation: n.rotation ?? inherit.rotation,
      codedSize: n.codedSize !== undefined ? n.codedSize : inherit.codedSize,
      backup: n.backup !== null,
      present: true,
      ...(n.muxed ? { muxed: true as const } : {}),
      ...(n.nameCodec ? { nameCodec: n.nameCodec } : {}),
    });
  });
  if (out.length > 0 && said) problems.push({ severity: 'warning', message: said(out.length) });
  return out;
}

/** Rebuilt slices of a track whose playlist is missing or cut off: the warning that says so. */
const placedByName = (what: string) => (count: number) =>
  `${count} ${what} slice(s) not in any playlist were placed by the UTC in their names (the playlist is missing or was cut off)`;

/** What building the tracks of one UID needs (the slices in storage, lengths measured so far, what is listed). */
interface Context {
  texts: Map<string, PlaylistText>;
  present: Map<string, StoredSlice>;
  durations: Map<string, number>;
  /** Slices still to measure (see buildInventory). */
  unmeasured: string[];
  /** Slices some playlist or index names (the others are reported as unlisted). */
  listed: Set<string>;
}

const trackLabel = (kind: TrackKind) => (kind === 'muxed' ? 'raw-mode index' : `${kind} playlist`);

/**
 * A track from its playlists (the fullest copy per recorder), plus the slices in storage that no playlist
 * lists when the playlist is missing or cut off. Sets rec.failed when no copy of the playlist can be read.
 */
function listedTrack(kind: TrackKind, uid: string, names: ListName[], stored: StoredSlice[], ctx: Context, rec: UidRecording): Track | null {
  const built = buildTrack(kind, uid, names, ctx, rec);
  if (rec.failed) {
    // Its slices are listed, only their playlist is unusable: not orphans.
    for (const x of stored) ctx.listed.add(x.key);
    return null;
  }
  let track = built?.track ?? null;
  if (!built || !built.complete) {
    const listedHere = new Set(track?.slices.map((x) => x.key));
    const orphans = stored.filter((x) => !listedHere.has(x.key)).map(placeableOf);
    const last = track?.slices.at(-1);
    const inherit = { rotation: last?.rotation ?? 0, codedSize: last?.codedSize ?? null };
    const what = kind === 'muxed' ? 'raw-mode audio+video' : kind;
    const rebuilt = orphans.length > 0 ? rebuildFromNames(orphans, inherit, ctx.durations, rec.problems, ctx.unmeasured, placedByName(what)) : [];
    if (rebuilt.length > 0) track = joinTracks(kind === 'muxed' ? 'video' : kind, track, rebuilt);
  }
  for (const x of track?.slices ?? []) ctx.listed.add(x.key);
  for (const key of built?.mentioned ?? []) ctx.listed.add(key);
  return track && track.slices.length > 0 ? track : null;
}

/** Two sources of one track (legacy playlist and raw index, or extra slices) joined on the wall clock. */
function joinTracks(media: MediaKind, track: Track | null, more: Track | Slice[] | null): Track | null {
  if (!more || (Array.isArray(more) && more.length === 0)) return track;
  const add: Track = Array.isArray(more) ? { media, playlistKey: null, otherPlaylists: [], slices: more, events: [] } : more;
  if (!track) return { ...add, media, slices: mergeByUtc([add.slices]) };
  return {
    media,
    playlistKey: track.playlistKey ?? add.playlistKey,
    otherPlaylists: [...track.otherPlaylists, ...(track.playlistKey && add.playlistKey ? [add.playlistKey] : []), ...add.otherPlaylists],
    slices: mergeByUtc([track.slices, add.slices]),
    events: [...track.events, ...add.events],
  };
}

/**
 * Raw mode's muxed slices feed both tracks: the same slices (same key, start, length; `muxed: true`) in
 * the audio track and in the video track, each track keeping the TRACK-EVENT tags of its own type.
 */
function splitMuxed(track: Track | null): { audio: Track | null; video: Track | null } {
  if (!track) return { audio: null, video: null };
  const of = (media: MediaKind): Track => ({
    ...track,
    media,
    slices: track.slices.map((s) => ({ ...s })),
    events: track.events.filter((e) => e.trackType.toLowerCase() !== (media === 'audio' ? 'video' : 'audio')),
  });
  return { audio: of('audio'), video: of('video') };
}

/** A URI an index names -> the storage key it stands for (relative to the index; a URL's last part). */
function namedKey(dir: string, uri: string): string {
  const path = uri.replace(/[?#].*$/, '');
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(path) ? dir + path.slice(path.lastIndexOf('/') + 1) : dir + path.replace(/^\.\//, '');
}

/** An index's text parsed, or null with a warning on the UID (an index never fails a UID on its own). */
function readIndex<T>(index: IndexName, ctx: Context, rec: UidRecording, parse: (text: string) => T, consequence: string): T | null {
  const text = ctx.texts.get(index.key);
  if (text === undefined) return null;
  try {
    if (text instanceof Error) throw new IndexError(text.message);
    return parse(text);
  } catch (error) {
    if (!(error instanceof IndexError)) throw error;
    rec.problems.push({ severity: 'warning', key: index.key, message: `cannot be used: ${error.message}; ${consequence}` });
    return null;
  }
}

/**
 * Raw mode's DASH: the WebM segments the MPDs name, placed by the MPD's `time` (or a UTC in the segment's
 * name), with the size and rotation the MPD gives; segments no MPD names are placed by a UTC in their name
 * when they have one. Built from the docs' description: no sample MPD is published.
 */
function dashTracks(mpds: IndexName[], segments: SegmentName[], ctx: Context, rec: UidRecording): Record<MediaKind, Track | null> {
  const named = new Map<string, { entry: MpdEntry; mpd: IndexName }>();
  for (const mpd of mpds) {
    const parsed = readIndex(mpd, ctx, rec, parseMpd, 'the segments it names cannot be placed');
    for (const w of parsed?.warnings ?? []) rec.problems.push({ severity: 'warning', key: mpd.key, message: w });
    for (const entry of parsed?.entries ?? []) {
      const key = namedKey(mpd.dir, entry.uri);
      if (!named.has(key)) named.set(key, { entry, mpd });
    }
  }
  const stored = new Map(segments.map((x) => [x.key, x]));
  const placeables: Record<MediaKind, Placeable[]> = { audio: [], video: [] };
  const streamMedia = (stream: string): MediaKind | null => (stream === 'audio' || stream === 'video' ? stream : null);
  for (const [key, { entry, mpd }] of named) {
    ctx.listed.add(key);
    const r = parseRecordingName(key);
    const fail = (message: string) => rec.problems.push({ severity: 'error', key, message: `${message}; left out` });
    if (!r.ok || r.name.type !== 'segment') {
      fail(`named by ${mpd.key}, but not a raw-mode WebM segment name (${r.ok ? `a ${r.name.type}` : r.reason})`);
      continue;
    }
    const n = r.name;
    if (n.uid !== rec.uid) {
      fail(`named by ${mpd.key} (uid ${rec.uid}), but belongs to uid ${n.uid}`);
      continue;
    }
    const media = streamMedia(n.stream) ?? entry.media;
    if (!media) {
      fail(`cannot tell whether it is audio or video: stream "${n.stream}", and ${mpd.key} gives it no contentType or mimeType`);
      continue;
    }
    const startMs = entry.timeMs ?? n.startMs;
    if (startMs === null) {
      fail(`cannot be placed: ${mpd.key} gives it no time attribute and its name no UTC (raw-mode DASH is read as the docs describe it; no sample MPD is published)`);
      continue;
    }
    if (!stored.has(key)) {
      rec.problems.push({ severity: 'error', key, message: `listed in ${mpd.key} but not in storage; its time becomes a gap` });
      continue;
    }
    const codedSize = entry.width !== null && entry.height !== null ? { width: entry.width, height: entry.height } : undefined;
    placeables[media].push({
      key, container: 'webm', startMs, backup: n.backup, ...(media === 'video' ? { nameCodec: n.videoCodec } : {}),
      ...(entry.rotation !== null ? { rotation: entry.rotation } : {}), ...(codedSize ? { codedSize } : {}),
    });
  }
  const byName: Record<MediaKind, Placeable[]> = { audio: [], video: [] };
  for (const n of segments) {
    if (named.has(n.key)) continue;
    const media = streamMedia(n.stream);
    if (media && n.startMs !== null) byName[media].push({ key: n.key, container: 'webm', startMs: n.startMs, backup: n.backup, ...(media === 'video' ? { nameCodec: n.videoCodec } : {}) });
    else rec.problems.push({ severity: 'warning', key: n.key, message: 'raw-mode WebM segment that no MPD names, and its name gives no UTC and no audio/video: cannot be placed; ignored' });
  }
  const place = (media: MediaKind): Track | null => {
    const out: Slice[] = [];
    const inherit = { rotation: 0 as Rotation, codedSize: null };
    const fromMpd = rebuildFromNames(placeables[media], inherit, ctx.durations, rec.problems, ctx.unmeasured, (count) =>
      `${count} raw-mode ${media} WebM segment(s) were placed by the times their MPD gives (raw-mode DASH is read as the docs describe it; no sample files are published)`,
    );
    out.push(...fromMpd, ...rebuildFromNames(byName[media], inherit, ctx.durations, rec.problems, ctx.unmeasured, placedByName(`raw-mode ${media} WebM`)));
    for (const x of out) ctx.listed.add(x.key);
    if (out.length === 0) return null;
    const [first, ...others] = mpds.map((m) => m.key);
    return { media, playlistKey: first ?? null, otherPlaylists: others, slices: mergeByUtc([out]), events: [] };
  };
  return { audio: place('audio'), video: place('video') };
}

/**
 * Standard mode's av index, cross-checked against the UID's playlists: a playlist the av.m3u8 names that
 * is not in storage, or a slice the av.mpd names that the audio or video playlist does not list, is a
 * warning naming both files. The av index is never needed to merge (the playlists have everything).
 */
function checkAvIndexes(indexes: IndexName[], playlists: Set<string>, ctx: Context, rec: UidRecording): void {
  const warn = (key: string, message: string) => rec.problems.push({ severity: 'warning', key, message });
  const listedIn = { audio: new Set(rec.audio?.slices.map((x) => x.key)), video: new Set(rec.video?.slices.map((x) => x.key)) };
  const consequence = 'the audio and video playlists are read without it';
  for (const index of indexes) {
    if (index.format === 'm3u8') {
      const parsed = readIndex(index, ctx, rec, parseAvPlaylist, consequence);
      for (const w of parsed?.warnings ?? []) warn(index.key, w);
      for (const p of parsed?.playlists ?? []) {
        const key = namedKey(index.dir, p.uri);
        const r = parseRecordingName(key);
        if (!r.ok || r.name.type !== 'playlist') warn(index.key, `names "${p.uri}", which is not an audio or video playlist name`);
        else if (r.name.uid !== rec.uid || (p.media !== null && r.name.media !== p.media)) {
          warn(index.key, `names "${p.uri}"${p.media ? ` as uid ${rec.uid}'s ${p.media} playlist` : ''}, but it is uid ${r.name.uid}'s ${r.name.media} playlist`);
        } else if (!playlists.has(key)) warn(index.key, `names ${p.uri}, which is not in storage (that ${r.name.media} playlist never reached storage)`);
      }
    } else {
      const parsed = readIndex(index, ctx, rec, parseMpd, consequence);
      for (const w of parsed?.warnings ?? []) warn(index.key, w);
      for (const entry of parsed?.entries ?? []) {
        const key = namedKey(index.dir, entry.uri);
        const r = parseRecordingName(key);
        if (!r.ok || r.name.type !== 'slice') warn(index.key, `names "${entry.uri}", which is not a slice name`);
        else if (r.name.uid !== rec.uid) warn(index.key, `names "${entry.uri}", a slice of uid ${r.name.uid}`);
        else if (!listedIn[r.name.media].has(key)) {
          warn(key, `named by ${index.key}, but the ${r.name.media} playlist does not list it${ctx.present.has(key) ? '' : ', and storage does not have it'}`);
        }
      }
    }
  }
}

/** What a recognised MP4 of the service is (reported, not merged). */
function describeMp4(n: Mp4Name): RecognisedFile {
  return {
    key: n.key,
    what:
      n.videoCodec === null
        ? `the service's own MP4 from postponed transcoding (uid ${n.uid}, part ${n.index}): not merged (recmerge merges slices)`
        : `a raw-mode MP4 (uid ${n.uid}, part ${n.index}, ${n.videoCodec}): not merged (recmerge merges slices; raw mode is read as the docs describe it)`,
  };
}

/**
 * Builds the inventory. `durations` holds measured lengths (ms) of slices that must be placed without a
 * playlist entry; the inventory's `unmeasured` lists those still needed (probe them and call again).
 */
export function buildInventory(classified: Classified, texts: Map<string, PlaylistText>, durations = new Map<string, number>()): Inventory {
  const problems: Problem[] = [];
  const ctx: Context = {
    texts,
    present: new Map<string, StoredSlice>([...classified.slices, ...classified.muxed].map((x) => [x.key, x])),
    durations,
    unmeasured: [],
    listed: new Set<string>(),
  };

  const byTrack = groupBy(classified.playlists, trackKey);
  const slicesByTrack = groupBy(classified.slices, trackKey);
  const indexesByUid = groupBy(classified.indexes, uidKey);
  const muxedByUid = groupBy(classified.muxed, uidKey);
  const segmentsByUid = groupBy(classified.segments, uidKey);
  const playlistKeys = new Set(classified.playlists.map((x) => x.key));
  // Slices whose track has no playlist at all still make the UID known, so it can be reported.
  const uidsSeen = new Map<string, { sid: string; cname: string; dir: string; uid: string }>();
  const names = [...classified.playlists, ...classified.slices, ...classified.indexes, ...classified.muxed, ...classified.segments];
  for (const n of names) {
    const k = uidKey(n);
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
    const uk = uidKey(info);
    const indexes = indexesByUid.get(uk) ?? [];
    for (const media of ['audio', 'video'] as const) {
      const tk = trackKey({ ...info, media });
      const other = trackKey({ ...info, media: media === 'audio' ? 'video' : 'audio' });
      rec[media] = listedTrack(media, info.uid, byTrack.get(tk) ?? [], slicesByTrack.get(tk) ?? [], ctx, rec);
      if (rec.failed) {
        for (const x of slicesByTrack.get(other) ?? []) ctx.listed.add(x.key);
        break;
      }
    }
    const rawLists = indexes.filter((x) => x.mode === 'raw' && x.format === 'm3u8');
    const muxed = muxedByUid.get(uk) ?? [];
    if (rec.failed) for (const x of muxed) ctx.listed.add(x.key);
    else if (rawLists.length > 0 || muxed.length > 0) {
      const both = splitMuxed(listedTrack('muxed', info.uid, rawLists, muxed, ctx, rec));
      if (!rec.failed) {
        rec.audio = joinTracks('audio', rec.audio, both.audio);
        rec.video = joinTracks('video', rec.video, both.video);
      }
    }
    const mpds = indexes.filter((x) => x.mode === 'raw' && x.format === 'mpd');
    const segments = segmentsByUid.get(uk) ?? [];
    if (!rec.failed && (mpds.length > 0 || segments.length > 0)) {
      const dash = dashTracks(mpds, segments, ctx, rec);
      rec.audio = joinTracks('audio', rec.audio, dash.audio);
      rec.video = joinTracks('video', rec.video, dash.video);
    }
    if (!rec.failed) checkAvIndexes(indexes.filter((x) => x.mode === 'standard'), playlistKeys, ctx, rec);
    if (indexes.length > 0) rec.indexes = indexes.map((x) => x.key);
    if (!rec.failed && !rec.audio && !rec.video) rec.failed = `uid ${info.uid}: no usable audio or video track`;
    rec.problems = collapseProblems(rec.problems);
    session.uids.push(rec);
  }

  const namesBySession = groupBy<RecordingName>([...names, ...classified.mp4s], sessionKey);
  for (const [sk, session] of sessions) session.modes = detectModes(namesBySession.get(sk) ?? []);

  const unmeasuredSet = new Set(ctx.unmeasured);
  for (const x of [...classified.slices, ...classified.muxed]) {
    if (!ctx.listed.has(x.key) && !unmeasuredSet.has(x.key)) {
      problems.push({ severity: 'warning', key: x.key, message: 'slice is not listed in its playlist (which is complete); ignored' });
    }
  }
  return {
    sessions: [...sessions.values()],
    ignored: classified.ignored,
    problems: collapseProblems(problems),
    unmeasured: ctx.unmeasured,
    recognised: classified.mp4s.map(describeMp4),
  };
}

function buildTrack(
  kind: TrackKind,
  uid: string,
  names: ListName[],
  ctx: Context,
  rec: UidRecording,
): { track: Track; complete: boolean; mentioned: string[] } | null {
  if (names.length === 0) return null;
  const byRecorder = new Map<number, Candidate[]>();
  const broken: string[] = [];
  for (const name of names) {
    const text = ctx.texts.get(name.key);
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
    rec.failed = `uid ${uid}: ${trackLabel(kind)} cannot be used: ${broken.join('; ') || 'not readable'}`;
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
  const lists = chosen.map((c) => slicesFromPlaylist(c, kind, uid, ctx.present, rec.problems, events));
  const slices = mergeByUtc(lists);
  for (const x of slices) {
    if (!x.present) rec.problems.push({ severity: 'error', key: x.key, message: `listed in the ${kind === 'muxed' ? 'raw-mode index' : 'playlist'} but not in storage; its time becomes a gap` });
  }
  const main = chosen.find((c) => c.name.backup === null) ?? chosen[0]!;
  return {
    track: {
      media: kind === 'muxed' ? 'video' : kind,
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
export function markMissing(inventory: Inventory, reasons: Map<string, string>, unreadable?: ReadonlySet<string>): Inventory {
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
              return unreadable?.has(s.key) ? { ...s, present: false, unreadable: true as const } : { ...s, present: false };
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
