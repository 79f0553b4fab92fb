// Key names + playlist texts -> inventory: sessions -> UIDs -> tracks -> slices on the wall clock.
import { parseRecordingName } from './names.js';
import { parsePlaylist, PlaylistError, type ParsedPlaylist } from './playlist.js';
import type { Inventory, MediaKind, Problem, RecordingName, Rotation, Session, Slice, Track, TrackEventTag, UidRecording } from './types.js';

/** Two slices starting this close together are the same slice (main and backup recorder). */
export const DUPLICATE_TOLERANCE_MS = 100;

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

function slicesFromPlaylist(
  cand: Candidate,
  media: MediaKind,
  uid: string,
  present: Set<string>,
  problems: Problem[],
  events: TrackEventTag[],
): Slice[] {
  const slices: Slice[] = [];
  let rotation: Rotation = 0;
  let codedSize: { width: number; height: number } | null = null;
  for (const w of cand.parsed.warnings) problems.push({ severity: 'warning', key: cand.name.key, message: w });
  for (const entry of cand.parsed.entries) {
    const last = entry.rotates.at(-1);
    if (last) {
      rotation = last.rotation;
      codedSize = { width: last.width, height: last.height };
    }
    events.push(...entry.events);
    // Slice URIs are file names relative to the playlist.
    const key = cand.name.dir + entry.uri.replace(/^\.\//, '');
    const parsed = parseRecordingName(key);
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
    slices.push({
      key,
      container: n.container,
      startMs: n.startMs,
      durationMs: entry.durationSec * 1000,
      discontinuity: entry.discontinuity,
      rotation,
      codedSize,
      backup: n.backup !== null,
      present: present.has(key),
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

export function buildInventory(classified: Classified, texts: Map<string, PlaylistText>): Inventory {
  const problems: Problem[] = [];
  const present = new Set(classified.slices.map((s) => s.key));
  const listed = new Set<string>();

  const byTrack = new Map<string, PlaylistName[]>();
  for (const p of classified.playlists) {
    const k = trackKey(p);
    byTrack.set(k, [...(byTrack.get(k) ?? []), p]);
  }
  // Slices whose track has no playlist at all still make the UID known, so it can be reported.
  const uidsSeen = new Map<string, { sid: string; cname: string; dir: string; uid: string }>();
  for (const n of [...classified.playlists, ...classified.slices]) {
    const k = `${sessionKey(n)}\u0000${n.uid}`;
    if (!uidsSeen.has(k)) uidsSeen.set(k, { sid: n.sid, cname: n.cname, dir: n.dir, uid: n.uid });
  }

  const sessions = new Map<string, Session>();
  for (const info of [...uidsSeen.values()].sort((a, b) => (a.sid + a.uid).localeCompare(b.sid + b.uid, 'en', { numeric: true }))) {
    const sk = sessionKey(info);
    let session = sessions.get(sk);
    if (!session) {
      session = { sid: info.sid, cname: info.cname, dir: info.dir, uids: [] };
      sessions.set(sk, session);
    }
    const rec: UidRecording = { uid: info.uid, audio: null, video: null, problems: [], failed: null };
    for (const media of ['audio', 'video'] as const) {
      const names = byTrack.get(trackKey({ ...info, media })) ?? [];
      const track = buildTrack(media, info.uid, names, texts, present, rec);
      for (const s of track?.slices ?? []) listed.add(s.key);
      for (const key of [track?.playlistKey, ...(track?.otherPlaylists ?? [])]) if (key) listed.add(key);
      if (track && track.slices.length > 0) rec[media] = track;
      else if (names.length === 0 && classified.slices.some((s) => s.uid === info.uid && s.sid === info.sid && s.cname === info.cname && s.media === media)) {
        rec.problems.push({ severity: 'error', message: `uid ${info.uid}: ${media} slices found but no ${media} playlist; the ${media} track is left out` });
      }
    }
    if (!rec.failed && !rec.audio && !rec.video) rec.failed = rec.failed ?? `uid ${info.uid}: no usable audio or video track`;
    session.uids.push(rec);
  }

  for (const s of classified.slices) {
    if (!listed.has(s.key)) problems.push({ severity: 'warning', key: s.key, message: 'slice is not listed in any playlist; ignored' });
  }
  return { sessions: [...sessions.values()], ignored: classified.ignored, problems };
}

function buildTrack(
  media: MediaKind,
  uid: string,
  names: PlaylistName[],
  texts: Map<string, PlaylistText>,
  present: Set<string>,
  rec: UidRecording,
): Track | null {
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
    media,
    playlistKey: main.name.key,
    otherPlaylists: [...others, ...chosen.filter((c) => c !== main).map((c) => c.name.key)],
    slices,
    events,
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
