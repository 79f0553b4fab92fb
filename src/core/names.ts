// Storage key names -> what they are, per the recording service's naming rules:
//   [bak<n>_]<sid>_<cname>__uid_s_<uid>__uid_e_<audio|video>[_<tick>_<index>].m3u8
//   [bak<n>_]<sid>_<cname>__uid_s_<uid>__uid_e_<audio|video>_<utc17>.ts|.webm
// cname may contain '_', so the name is split at the `__uid_s_` / `__uid_e_` markers.
import type { RecordingName } from './types.js';

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

export function parseRecordingName(key: string): NameResult {
  const slash = key.lastIndexOf('/');
  const dir = slash >= 0 ? key.slice(0, slash + 1) : '';
  let base = key.slice(slash + 1);

  const dot = base.lastIndexOf('.');
  if (dot < 0) return { ok: false, reason: 'no file extension' };
  const ext = base.slice(dot + 1);
  if (ext !== 'm3u8' && ext !== 'ts' && ext !== 'webm') return { ok: false, reason: `not a recording file (.${ext})` };
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

  const media = /^(audio|video)(?:_(.*))?$/.exec(tail);
  if (!media) {
    return { ok: false, reason: `track type "${tail}" is not audio or video (raw/standard recorder modes are not supported)` };
  }
  const kind = media[1] as 'audio' | 'video';
  const suffix = media[2];

  if (ext === 'm3u8') {
    if (suffix === undefined) {
      return { ok: true, name: { type: 'playlist', key, dir, backup, sid, cname, uid, media: kind, copy: null } };
    }
    const copy = /^(\d+)_(\d+)$/.exec(suffix);
    if (!copy) return { ok: false, reason: `playlist suffix "_${suffix}" is not _<tick>_<index>` };
    return {
      ok: true,
      name: { type: 'playlist', key, dir, backup, sid, cname, uid, media: kind, copy: { tick: copy[1]!, index: Number(copy[2]) } },
    };
  }

  if (suffix === undefined) return { ok: false, reason: 'slice name has no _<utc> start time' };
  const startMs = parseUtc17(suffix);
  if (startMs === null) return { ok: false, reason: `slice start "${suffix}" is not a 17-digit UTC time` };
  return { ok: true, name: { type: 'slice', key, dir, backup, sid, cname, uid, media: kind, container: ext, startMs } };
}
