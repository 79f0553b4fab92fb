// Storage key names -> what they are, per the recording service's naming rules:
//   [bak<n>_]<sid>_<cname>__uid_s_<uid>__uid_e_<audio|video>[_<tick>_<index>].m3u8
//   [bak<n>_]<sid>_<cname>__uid_s_<uid>__uid_e_<audio|video>_<utc17>.ts|.webm
// and the other recorder modes' names (README "Recorder modes"):
//   standard: __uid_e_av.m3u8 (names the audio and video playlists), __uid_e_av.mpd (DASH naming WebM slices)
//   raw:      __uid_e_<videocodec>.m3u8|.mpd (index), __uid_e_<utc17>_<videocodec>.ts (audio AND video),
//             __uid_e_<stream>_<segment>_<videocodec>.webm (DASH segment), __uid_e_<index>_<videocodec>.mp4
//   postponed transcoding (the service's own MP4s): __uid_e_<index>.mp4
// cname may contain '_', so the name is split at the `__uid_s_` / `__uid_e_` markers.
import type { NameBase, RecordingName } from './types.js';

const UID_START = '__uid_s_';
const UID_END = '__uid_e_';

export type NameResult = { ok: true; name: RecordingName } | { ok: false; reason: string };

/** Parses `YYYYMMDDhhmmssSSS` (UTC) into epoch ms, or null when it is not a real instant. */
export function parseUtc17(text: string): number | null {
  if (!/^\d{17}$/.test(text)) return null;
  const n = (a: number, b: number) => Number(text.slice(a, b));
  const [y, mo, d, h, mi, s, ms] = [n(0, 4), n(4, 6), n(6, 8), n(8, 10), n(10, 12), n(12, 14), n(14, 17)];
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 59) return null;
  // setUTCFullYear, unlike Date.UTC, does not map years 0-99 to 1900-1999.
  const date = new Date(0);
  date.setUTCFullYear(y, mo - 1, d);
  date.setUTCHours(h, mi, s, ms);
  // Reject 31 February and the like: the date must survive the round trip.
  if (date.getUTCDate() !== d) return null;
  return date.getTime();
}

export function formatUtc17(ms: number): string {
  const d = new Date(Math.round(ms));
  const p = (v: number, w: number) => String(v).padStart(w, '0');
  return (
    p(d.getUTCFullYear(), 4) + p(d.getUTCMonth() + 1, 2) + p(d.getUTCDate(), 2) +
    p(d.getUTCHours(), 2) + p(d.getUTCMinutes(), 2) + p(d.getUTCSeconds(), 2) + p(d.getUTCMilliseconds(), 3)
  );
}

/** A TIME= value: 17-digit UTC or 13-digit Unix milliseconds (both are documented). */
export function parseTagTime(text: string): number | null {
  if (/^\d{17}$/.test(text)) return parseUtc17(text);
  if (/^\d{13}$/.test(text)) return Number(text);
  return null;
}

/**
 * Video codec tokens a raw-mode name may carry. The migration page writes `{videocodec}` and lists
 * H.264/H.265/AV1 for HLS and VP8/VP9 for DASH; the spelling of the tokens is a guess (no sample files are
 * published), so the usual spellings are all accepted.
 */
export const RAW_VIDEO_CODECS: ReadonlySet<string> = new Set(['h264', 'avc', 'h265', 'hevc', 'av1', 'vp8', 'vp9']);

const EXTENSIONS = new Set(['m3u8', 'mpd', 'ts', 'webm', 'mp4']);

const copySuffix = (suffix: string) => {
  const copy = /^(\d+)_(\d+)$/.exec(suffix);
  return copy ? { tick: copy[1]!, index: Number(copy[2]) } : null;
};

/** Names of the legacy individual modes (default, standard, original): `__uid_e_<audio|video|av>...`. */
function legacyName(base: NameBase, ext: string, kind: string, suffix: string | undefined): NameResult {
  if (kind === 'av') {
    // standard mode's merged index; an av slice is not a thing the docs describe.
    if ((ext !== 'm3u8' && ext !== 'mpd') || (suffix !== undefined && (ext === 'mpd' || !copySuffix(suffix)))) {
      return { ok: false, reason: `"av" names an index (.m3u8/.mpd), not "${suffix === undefined ? '' : `_${suffix}`}.${ext}"` };
    }
    return { ok: true, name: { ...base, type: 'index', mode: 'standard', format: ext, videoCodec: null, copy: suffix === undefined ? null : copySuffix(suffix) } };
  }
  const media = kind as 'audio' | 'video';
  if (ext === 'mpd') return { ok: false, reason: `an ${media} MPD is not a file the recorder writes (its DASH index is __uid_e_av.mpd)` };
  if (ext === 'mp4') return { ok: false, reason: 'not a recording file (.mp4)' };
  if (ext === 'm3u8') {
    if (suffix === undefined) return { ok: true, name: { ...base, type: 'playlist', media, copy: null } };
    const copy = copySuffix(suffix);
    if (!copy) return { ok: false, reason: `playlist suffix "_${suffix}" is not _<tick>_<index>` };
    return { ok: true, name: { ...base, type: 'playlist', media, copy } };
  }
  if (suffix === undefined) return { ok: false, reason: 'slice name has no _<utc> start time' };
  const startMs = parseUtc17(suffix);
  if (startMs === null) return { ok: false, reason: `slice start "${suffix}" is not a 17-digit UTC time` };
  return { ok: true, name: { ...base, type: 'slice', media, container: ext as 'ts' | 'webm', startMs } };
}

/**
 * Names of the current API's raw mode, and the service's own MP4s. Built from the migration page's
 * description (no sample files are published): see README "Recorder modes".
 */
function rawName(base: NameBase, ext: string, tail: string): NameResult | null {
  const parts = tail.split('_');
  const codec = parts.at(-1)!;
  const isCodec = RAW_VIDEO_CODECS.has(codec);
  if (ext === 'mp4') {
    if (parts.length === 1 && /^\d+$/.test(tail)) return { ok: true, name: { ...base, type: 'mp4', index: Number(tail), videoCodec: null } };
    if (parts.length === 2 && /^\d+$/.test(parts[0]!) && isCodec) return { ok: true, name: { ...base, type: 'mp4', index: Number(parts[0]), videoCodec: codec } };
    return null;
  }
  if (ext === 'm3u8' || ext === 'mpd') {
    if (!RAW_VIDEO_CODECS.has(parts[0]!)) return null;
    if (parts.length === 1) return { ok: true, name: { ...base, type: 'index', mode: 'raw', format: ext, videoCodec: parts[0]!, copy: null } };
    // A re-uploaded raw index is guessed to take the suffix legacy playlists take: <videocodec>_<tick>_<index>.
    const copy = ext === 'm3u8' ? copySuffix(parts.slice(1).join('_')) : null;
    if (!copy) return { ok: false, reason: `raw-mode index suffix "_${parts.slice(1).join('_')}" is not _<tick>_<index>` };
    return { ok: true, name: { ...base, type: 'index', mode: 'raw', format: ext, videoCodec: parts[0]!, copy } };
  }
  if (!isCodec) return null;
  if (ext === 'ts') {
    if (parts.length !== 2) return { ok: false, reason: `raw-mode slice "${tail}" is not <utc>_<videocodec>` };
    const startMs = parseUtc17(parts[0]!);
    if (startMs === null) return { ok: false, reason: `raw-mode slice start "${parts[0]}" is not a 17-digit UTC time` };
    return { ok: true, name: { ...base, type: 'muxed', container: 'ts', startMs, videoCodec: codec } };
  }
  if (ext === 'webm') {
    if (parts.length !== 3 || !/^(audio|video|\d+)$/.test(parts[0]!) || !/^\d+$/.test(parts[1]!)) {
      return { ok: false, reason: `raw-mode segment "${tail}" is not <stream>_<segment>_<videocodec>` };
    }
    const startMs = parts[1]!.length === 17 ? parseUtc17(parts[1]!) : null;
    return { ok: true, name: { ...base, type: 'segment', container: 'webm', stream: parts[0]!, segment: parts[1]!, videoCodec: codec, startMs } };
  }
  return null;
}

export function parseRecordingName(key: string): NameResult {
  const slash = key.lastIndexOf('/');
  const dir = slash >= 0 ? key.slice(0, slash + 1) : '';
  let base = key.slice(slash + 1);

  const dot = base.lastIndexOf('.');
  if (dot < 0) return { ok: false, reason: 'no file extension' };
  const ext = base.slice(dot + 1);
  if (!EXTENSIONS.has(ext)) return { ok: false, reason: `not a recording file (.${ext})` };
  base = base.slice(0, dot);

  let backup: number | null = null;
  const bak = /^bak(\d+)_/.exec(base);
  if (bak) {
    backup = Number(bak[1]);
    base = base.slice(bak[0].length);
  }

  const s = base.indexOf(UID_START);
  const e = base.indexOf(UID_END, s + UID_START.length);
  if (s < 0 || e < 0) return { ok: false, reason: 'name has no __uid_s_<uid>__uid_e_ part' };
  const head = base.slice(0, s);
  const uid = base.slice(s + UID_START.length, e);
  const tail = base.slice(e + UID_END.length);

  const sep = head.indexOf('_');
  if (sep <= 0 || sep === head.length - 1) return { ok: false, reason: 'name has no <sid>_<cname> part' };
  const sid = head.slice(0, sep);
  const cname = head.slice(sep + 1);
  if (!/^[A-Za-z0-9]+$/.test(sid)) return { ok: false, reason: `sid "${sid}" is not alphanumeric` };
  if (!/^\d+$/.test(uid)) return { ok: false, reason: `uid "${uid}" is not a decimal number` };

  const common: NameBase = { key, dir, backup, sid, cname, uid };
  const legacy = /^(audio|video|av)(?:_(.*))?$/.exec(tail);
  // `<audio|video>_<segment>_<videocodec>.webm` is a raw-mode DASH segment, not a legacy slice.
  const rawSegment = ext === 'webm' && legacy?.[2] !== undefined && RAW_VIDEO_CODECS.has(tail.slice(tail.lastIndexOf('_') + 1));
  if (legacy && !rawSegment) return legacyName(common, ext, legacy[1]!, legacy[2]);
  return (
    rawName(common, ext, tail) ?? {
      ok: false,
      reason: `track type "${tail}" is not audio, video, av or a raw-mode name (<videocodec>, <utc>_<videocodec>, <stream>_<segment>_<videocodec>, <index>[_<videocodec>].mp4)`,
    }
  );
}
