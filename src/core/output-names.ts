// Every output file name (merged files, composites, snapshots, sidecars), and the one rule that makes the
// names built from what a recording's keys say (cname, uid) must be safe to create: no
// control characters or escape sequences (they would reach file names and terminals), and short enough
// for every file system (255 bytes per name) even with the temporary-name prefix in front of them.
import { createHash } from 'node:crypto';
import { formatUtc17 } from './names.js';
import type { AudioFormat, NameStyle } from './types.js';

/**
 * Longest output file name, in UTF-8 bytes. A temporary name adds `.recmerge-partial-<tag>-<pid>-<rand>-`
 * (at most ~50 bytes) in front, and file systems allow 255.
 */
export const MAX_NAME_BYTES = 180;

// C0 and C1 controls, DEL, and the Unicode bidirectional overrides/isolates that reorder what a name shows.
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/** The service replaces special characters with '-'; so do we, for those it let through. */
const clean = (part: string) => part.replace(UNSAFE, '-');

/** The longest start of `text` that fits in `bytes` UTF-8 bytes, never splitting a character. */
function headBytes(text: string, bytes: number): string {
  let used = 0;
  let out = '';
  for (const ch of text) {
    const n = Buffer.byteLength(ch);
    if (used + n > bytes) break;
    used += n;
    out += ch;
  }
  return out;
}

const tailBytes = (text: string, bytes: number) => [...headBytes([...text].reverse().join(''), bytes)].reverse().join('');

/**
 * `name` (already cleaned) when it is short enough and nothing was replaced; otherwise a name that carries
 * a hash of the original, so that two names that differ only in what was cut or replaced stay apart.
 */
function shorten(name: string, original: string): string {
  if (name === original && Buffer.byteLength(name) <= MAX_NAME_BYTES) return name;
  const dot = name.lastIndexOf('.');
  const ext = dot > 0 && name.length - dot <= 6 ? name.slice(dot) : '';
  const stem = name.slice(0, name.length - ext.length);
  // The end says whose file it is (`__uid_s_<uid>__uid_e_av`): keep it when it is reasonably short.
  const marker = stem.lastIndexOf('__uid_s_');
  const wantedTail = marker >= 0 && Buffer.byteLength(stem.slice(marker)) <= 80 ? stem.slice(marker) : tailBytes(stem, 40);
  // The hash of the whole original name keeps two long names that share a beginning apart.
  const hash = `~${createHash('sha256').update(original).digest('hex').slice(0, 12)}~`;
  const room = MAX_NAME_BYTES - Buffer.byteLength(wantedTail) - Buffer.byteLength(hash) - Buffer.byteLength(ext);
  return `${headBytes(stem.slice(0, stem.length - wantedTail.length), room)}${hash}${wantedTail}${ext}`;
}

/** A relative output path ('/'-separated) made safe part by part. Names that are fine stay as they are. */
export function safeOutputName(relativePath: string): string {
  return relativePath
    .split('/')
    .map((part) => shorten(clean(part), part))
    .join('/');
}

/** What an output file name is built from: the recording's own words (made safe below). */
export interface NameParts {
  sid: string | null;
  cname: string;
  uid: string;
}

/**
 * A merged output's name: recmerge's (`<sid>_<cname>__uid_s_<uid>__uid_e_<kind>[_<utc>].<ext>`, without the sid
 * for joined sessions) or the service script's (`<uid>_0_merge_av.mp4`, `<uid>_<utc>_av.mp4`, ...).
 */
export function mergeFileName(
  unit: NameParts,
  kind: 'av' | 'audio' | 'video',
  style: NameStyle | undefined,
  segmentStart: number | null,
  multiSession: boolean,
  audioFormat: AudioFormat = 'm4a',
): string {
  const ext = kind === 'audio' ? audioFormat : 'mp4';
  if (style === 'script') {
    const dir = multiSession && unit.sid ? `${unit.sid}/` : '';
    if (segmentStart !== null) return safeOutputName(`${dir}${unit.uid}_${formatUtc17(segmentStart)}${kind === 'audio' ? `.${ext}` : kind === 'video' ? '.mp4' : '_av.mp4'}`);
    return safeOutputName(`${dir}${unit.uid}_0_merge${kind === 'av' ? '_av' : ''}.${ext}`);
  }
  const head = unit.sid === null ? `${unit.cname}__uid_s_${unit.uid}__uid_e_` : `${unit.sid}_${unit.cname}__uid_s_${unit.uid}__uid_e_`;
  return safeOutputName(`${head}${kind}${segmentStart !== null ? `_${formatUtc17(segmentStart)}` : ''}.${ext}`);
}

/** A session's composite (`<sid>_<cname>__composite.mp4`) or audio mix (`…__mix.m4a`); joined sessions drop the sid. */
export function composeFileName(sid: string | null, cname: string, kind: 'av' | 'audio'): string {
  const head = sid === null ? cname : `${sid}_${cname}`;
  return safeOutputName(kind === 'audio' ? `${head}__mix.m4a` : `${head}__composite.mp4`);
}

/** A snapshot: `<sid>_<cname>__uid_s_<uid>__<utc of the instant>.jpg`. */
export const snapshotFileName = (sid: string, cname: string, uid: string, instantMs: number) => safeOutputName(`${sid}_${cname}__uid_s_${uid}__${formatUtc17(instantMs)}.jpg`);

/** The events sidecar beside a merged output or composite (see core/events.ts). */
export const eventsFileName = (fileName: string) => `${fileName}.events.json`;

/** The WebVTT chapters (joins and leaves) beside a merged output or composite. */
export const chaptersFileName = (fileName: string) => `${fileName}.chapters.vtt`;

/** Both sidecars every merged output and composite has, in the order they are listed after it. */
export const eventSidecars = (fileName: string) => [eventsFileName(fileName), chaptersFileName(fileName)];

/** The layout sidecar beside a composite. */
export const layoutFileName = (fileName: string) => `${fileName}.layout.json`;

/**
 * `--also-audio`: the name of the audio file beside a merged MP4, in the same naming style: `…__uid_e_av[_<utc>].mp4`
 * -> `…__uid_e_audio[_<utc>].m4a`; the script's `<uid>_0_merge_av.mp4` -> `<uid>_0_merge.m4a` and
 * `<uid>_<utc>_av.mp4` -> `<uid>_<utc>.m4a`. Null for a name that holds no audio.
 */
export function audioBesideName(fileName: string): string | null {
  const recmerge = /^(.*__uid_e_)av((?:_\d{17})?)\.mp4$/.exec(fileName);
  if (recmerge) return `${recmerge[1]}audio${recmerge[2]}.m4a`;
  const script = /^(.*)_av\.mp4$/.exec(fileName);
  if (script) return `${script[1]}.m4a`;
  return null;
}
