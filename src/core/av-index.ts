// The per-UID indexes of the other recorder modes (README "Recorder modes"), read for what they name:
// - standard mode's `__uid_e_av.m3u8`: master style, blocks under `# Audio` / `# Video` comment lines, each
//   ending in the name of the audio or video playlist (read line by line: it is not a media playlist, and
//   m3u8-parser would take the playlist names for segments);
// - standard mode's `__uid_e_av.mpd` and raw mode's `__uid_e_<videocodec>.mpd`: DASH, parsed with
//   fast-xml-parser. No sample MPD is published: the docs say it names the WebM slices
//   (`media="..._uid_e_<audio|video>_<utc>.webm"`) and can carry width/height/rotate/time attributes, but
//   not on which elements. So every element with a `media` attribute (SegmentURL, in DASH) or a BaseURL
//   text is taken as a named file, and the attributes it and its ancestors carry are inherited (the
//   nearest wins): contentType/mimeType say audio or video, width/height/rotate and time (17-digit UTC or
//   13-digit ms, as in the playlists' tags) describe it. A SegmentTemplate ($Number$ names) is reported,
//   not expanded: the docs describe named slices.
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { parseTagTime } from './names.js';
import { checkIndexText, M3U8_HEADER, PlaylistError } from './playlist.js';
import type { MediaKind, Rotation } from './types.js';

export { PlaylistError as IndexError };

/** A playlist an av.m3u8 names, with the block it stands in (null: outside any `# Audio`/`# Video` block). */
export interface AvPlaylistEntry {
  uri: string;
  media: MediaKind | null;
}

/** Parses standard mode's av.m3u8. Throws IndexError (PlaylistError) when it is not an M3U8 text at all. */
export function parseAvPlaylist(text: string): { playlists: AvPlaylistEntry[]; warnings: string[] } {
  const body = checkIndexText(text, 'av index', M3U8_HEADER);
  const playlists: AvPlaylistEntry[] = [];
  const warnings: string[] = [];
  let media: MediaKind | null = null;
  for (const raw of body.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '') continue;
    const block = /^#\s*(audio|video)\s*$/i.exec(line);
    if (block) {
      media = block[1]!.toLowerCase() as MediaKind;
      continue;
    }
    // A real master playlist's #EXT-X-MEDIA:TYPE=AUDIO,URI="..." names a playlist too.
    const tagged = /^#EXT-X-MEDIA:.*\bTYPE=(AUDIO|VIDEO)\b.*\bURI="([^"]+)"/i.exec(line);
    if (tagged) {
      playlists.push({ uri: tagged[2]!, media: tagged[1]!.toLowerCase() as MediaKind });
      continue;
    }
    if (line.startsWith('#')) continue;
    if (media === null) warnings.push(`names "${line}" outside a # Audio / # Video block`);
    playlists.push({ uri: line, media });
  }
  if (playlists.length === 0) warnings.push('names no playlist');
  return { playlists, warnings };
}

/** A file an MPD names, with what its element and ancestors say about it. */
export interface MpdEntry {
  uri: string;
  /** From contentType / mimeType (null when neither says). */
  media: MediaKind | null;
  /** The `time` attribute: 17-digit UTC or 13-digit epoch ms (null when absent or unreadable). */
  timeMs: number | null;
  width: number | null;
  height: number | null;
  rotation: Rotation | null;
}

const XML = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '',
  preserveOrder: true,
  removeNSPrefix: true,
  parseAttributeValue: false,
  parseTagValue: false,
  trimValues: true,
  // Untrusted text: entities stay few and small (no "billion laughs").
  processEntities: { enabled: true, maxEntityCount: 16, maxEntitySize: 1024, maxTotalExpansions: 1024 },
});

type XmlNode = Record<string, unknown> & { ':@'?: Record<string, string> };

const INHERITED = ['contentType', 'mimeType', 'width', 'height', 'rotate', 'rotation', 'time'] as const;

function mediaOf(attrs: Map<string, string>): MediaKind | null {
  const type = (attrs.get('contentType') ?? attrs.get('mimeType') ?? '').toLowerCase();
  if (type.startsWith('audio')) return 'audio';
  if (type.startsWith('video')) return 'video';
  return null;
}

function entryOf(uri: string, attrs: Map<string, string>, warnings: string[]): MpdEntry {
  const int = (name: string): number | null => {
    const text = attrs.get(name);
    if (text === undefined) return null;
    const n = Number(text);
    if (Number.isInteger(n) && n > 0) return n;
    warnings.push(`${uri}: ${name}="${text}" is not a positive whole number`);
    return null;
  };
  const rotateText = attrs.get('rotate') ?? attrs.get('rotation');
  let rotation: Rotation | null = null;
  if (rotateText !== undefined) {
    const r = Number(rotateText);
    if ([0, 90, 180, 270].includes(r)) rotation = r as Rotation;
    else warnings.push(`${uri}: rotate="${rotateText}" is not 0, 90, 180 or 270`);
  }
  const timeText = attrs.get('time');
  const timeMs = timeText === undefined ? null : parseTagTime(timeText);
  if (timeText !== undefined && timeMs === null) warnings.push(`${uri}: time="${timeText}" is not a 17-digit UTC or 13-digit ms time`);
  return { uri, media: mediaOf(attrs), timeMs, width: int('width'), height: int('height'), rotation };
}

/** Parses a DASH MPD for the files it names. Throws IndexError when it is not XML (or not an MPD). */
export function parseMpd(text: string): { entries: MpdEntry[]; warnings: string[] } {
  const body = checkIndexText(text, 'MPD');
  const valid = XMLValidator.validate(body);
  if (valid !== true) throw new PlaylistError(`not well-formed XML (line ${valid.err.line}: ${valid.err.msg})`);
  let tree: XmlNode[];
  try {
    tree = XML.parse(body) as XmlNode[];
  } catch (error) {
    throw new PlaylistError(`cannot be read as XML (${error instanceof Error ? error.message : String(error)})`);
  }
  const entries: MpdEntry[] = [];
  const warnings: string[] = [];
  let isMpd = false;
  let templates = 0;
  const walk = (nodes: XmlNode[], inherited: Map<string, string>, depth: number): void => {
    if (depth > 64) throw new PlaylistError('nests elements deeper than 64 levels');
    for (const node of nodes) {
      const tag = Object.keys(node).find((k) => k !== ':@');
      if (tag === undefined || tag === '#text' || tag.startsWith('?')) continue;
      if (tag === 'MPD') isMpd = true;
      const own = node[':@'] ?? {};
      const attrs = new Map(inherited);
      for (const name of INHERITED) if (own[name] !== undefined) attrs.set(name, String(own[name]));
      const children = (node[tag] as XmlNode[] | undefined) ?? [];
      const media = own.media;
      if (media !== undefined) {
        if (media.includes('$')) templates++;
        else entries.push(entryOf(media, attrs, warnings));
      }
      if (tag === 'BaseURL') {
        const uri = children.map((c) => c['#text']).filter((t) => typeof t === 'string').join('').trim();
        if (uri !== '' && !uri.endsWith('/')) entries.push(entryOf(uri, attrs, warnings));
      }
      walk(children, attrs, depth + 1);
    }
  };
  walk(tree, new Map(), 0);
  if (!isMpd) throw new PlaylistError('not a DASH MPD (no <MPD> element)');
  if (templates > 0) warnings.push(`uses ${templates} SegmentTemplate name pattern(s), which recmerge does not expand (the docs describe named WebM slices)`);
  if (entries.length === 0) warnings.push('names no file');
  return { entries, warnings };
}
