// Playlist text -> validated entries. Lexing is m3u8-parser's; this module registers the service's
// #EXT-X-AGORA-* tags and checks what the (lenient) parser returns.
import { Parser } from 'm3u8-parser';
import { parseTagTime } from './names.js';
import type { Rotation, RotateTag, TrackEventTag } from './types.js';

export interface PlaylistEntry {
  uri: string;
  /** Seconds, validated finite and > 0; null when the entry's duration is unusable. */
  durationSec: number | null;
  /** Why durationSec is null. */
  durationError: string | null;
  discontinuity: boolean;
  rotates: RotateTag[];
  events: TrackEventTag[];
}

export interface ParsedPlaylist {
  entries: PlaylistEntry[];
  /** ROTATE tags after the last slice (the docs put a tag after the turn: a turn in the last slice may leave one there). */
  trailingRotates: RotateTag[];
  endList: boolean;
  /** Problems with the playlist as a whole or with tags (not fatal). */
  warnings: string[];
}

export class PlaylistError extends Error {
  override name = 'PlaylistError';
}

const MAX_PLAYLIST_CHARS = 16 * 1024 * 1024;
const RAW_INF = '#RECMERGE-RAW-EXTINF:';

function parseAttributes(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of text.split(',')) {
    const eq = part.indexOf('=');
    if (eq > 0) out.set(part.slice(0, eq).trim().toUpperCase(), part.slice(eq + 1).trim());
  }
  return out;
}

function tagBody(line: string): string {
  const colon = line.indexOf(':');
  return colon < 0 ? '' : line.slice(colon + 1);
}

export function parseRotateTag(line: string): RotateTag | string {
  const a = parseAttributes(tagBody(line));
  const width = Number(a.get('WIDTH'));
  const height = Number(a.get('HEIGHT'));
  const rotate = Number(a.get('ROTATE') ?? '0');
  const time = a.get('TIME');
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) return `bad WIDTH/HEIGHT in "${line}"`;
  if (![0, 90, 180, 270].includes(rotate)) return `bad ROTATE in "${line}"`;
  return { width, height, rotation: rotate as Rotation, timeMs: time === undefined ? null : parseTagTime(time) };
}

export function parseTrackEventTag(line: string): TrackEventTag | string {
  const a = parseAttributes(tagBody(line));
  const event = a.get('EVENT');
  const trackType = a.get('TRACK_TYPE');
  if (!event || !trackType) return `bad track event "${line}"`;
  const time = a.get('TIME');
  return { event, trackType, timeMs: time === undefined ? null : parseTagTime(time) };
}

function checkDuration(raw: string | undefined): { value: number | null; error: string | null } {
  if (raw === undefined) return { value: null, error: 'no #EXTINF duration' };
  const text = raw.split(',')[0]!.trim();
  if (text === '') return { value: null, error: 'empty #EXTINF duration' };
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text)) return { value: null, error: `#EXTINF duration "${text}" is not a number` };
  const value = Number(text);
  if (!Number.isFinite(value)) return { value: null, error: `#EXTINF duration "${text}" is not finite` };
  if (value <= 0) return { value: null, error: `#EXTINF duration ${text} is not positive` };
  return { value, error: null };
}

interface SegmentCustom {
  rawInf?: string;
  rotates?: (RotateTag | string)[];
  events?: (TrackEventTag | string)[];
}

/**
 * The checks every index text passes before it is parsed (size, encoding; `header` when given): the text
 * without a byte order mark. Throws PlaylistError naming what is wrong.
 */
export function checkIndexText(text: string, what: string, header?: { start: string; name: string }): string {
  if (text.length > MAX_PLAYLIST_CHARS) throw new PlaylistError(`${what} is too large (${text.length} characters)`);
  if (text.includes('\uFFFD') || text.includes('\u0000')) throw new PlaylistError(`${what} is not UTF-8 text`);
  const body = text.replace(/^\uFEFF/, '');
  if (header && !body.trimStart().startsWith(header.start)) throw new PlaylistError(`not ${header.name} (no ${header.start} header)`);
  return body;
}

export const M3U8_HEADER = { start: '#EXTM3U', name: 'an M3U8 playlist' };

/** Parses one media playlist. Throws PlaylistError when the text is not a usable playlist at all. */
export function parsePlaylist(text: string): ParsedPlaylist {
  const body = checkIndexText(text, 'playlist', M3U8_HEADER);

  // Tags that can stand several times before one slice are collected here and handed to the
  // segment when its URI line passes (m3u8-parser keeps only the last custom value per slice).
  let rotates: (RotateTag | string)[] = [];
  let events: (TrackEventTag | string)[] = [];
  const parser = new Parser();
  parser.addTagMapper({
    // m3u8-parser drops an EXTINF it cannot read; keep the raw text so it can be validated here.
    expression: /^#EXTINF/,
    map: (line: string) => RAW_INF + tagBody(line),
  });
  // The parser's own listener has attached the collected tags to the slice by the time this runs.
  parser.parseStream.on('data', (entry: { type: string }) => {
    if (entry.type === 'uri') {
      rotates = [];
      events = [];
    }
  });
  parser.addParser({ expression: /^#RECMERGE-RAW-EXTINF:/, customType: 'rawInf', segment: true, dataParser: (l: string) => tagBody(l) });
  parser.addParser({
    expression: /^#EXT-X-AGORA-ROTATE/,
    customType: 'rotates',
    segment: true,
    dataParser: (l: string) => {
      rotates.push(parseRotateTag(l));
      return rotates;
    },
  });
  parser.addParser({
    expression: /^#EXT-X-AGORA-TRACK-EVENT/,
    customType: 'events',
    segment: true,
    dataParser: (l: string) => {
      events.push(parseTrackEventTag(l));
      return events;
    },
  });
  // m3u8-parser warns about the raw EXTINF stand-in, the AGORA tags and durations checked here: noise.
  const ownNoise = /RECMERGE-RAW-EXTINF|EXT-X-AGORA|#EXT-X-ALLOW-CACHE|defaulting segment duration/;
  const warnings: string[] = [];
  parser.on('warn', (w: { message: string }) => {
    if (!ownNoise.test(w.message)) warnings.push(w.message);
  });
  parser.push(body);
  parser.end();

  const manifest = parser.manifest as {
    segments?: { uri?: string; discontinuity?: boolean; custom?: SegmentCustom }[];
    endList?: boolean;
  };
  const entries: PlaylistEntry[] = [];
  for (const seg of manifest.segments ?? []) {
    if (typeof seg.uri !== 'string' || seg.uri.trim() === '') continue;
    const custom = seg.custom ?? {};
    const duration = checkDuration(custom.rawInf);
    const goodRotates = validRotates(custom.rotates ?? [], seg.uri, warnings);
    const goodEvents: TrackEventTag[] = [];
    for (const ev of custom.events ?? []) {
      if (typeof ev === 'string') warnings.push(`${seg.uri}: ${ev}`);
      else goodEvents.push(ev);
    }
    entries.push({
      uri: seg.uri.trim(),
      durationSec: duration.value,
      durationError: duration.error,
      discontinuity: seg.discontinuity === true,
      rotates: goodRotates,
      events: goodEvents,
    });
  }
  return { entries, trailingRotates: validRotates(rotates, 'after the last slice', warnings), endList: manifest.endList === true, warnings };
}

function validRotates(rotates: (RotateTag | string)[], where: string, warnings: string[]): RotateTag[] {
  const good: RotateTag[] = [];
  for (const r of rotates) {
    if (typeof r === 'string') warnings.push(`${where}: ${r}`);
    else good.push(r);
  }
  return good;
}
