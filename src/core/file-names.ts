// Output file names built from what a recording's keys say (cname, uid) must be safe to create: no
// control characters or escape sequences (they would reach file names and terminals), and short enough
// for every file system (255 bytes per name) even with the temporary-name prefix in front of them.
import { createHash } from 'node:crypto';

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
