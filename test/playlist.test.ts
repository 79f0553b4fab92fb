// Playlist text -> validated entries: the service's own tags, lenient EXTINF, per-entry duration errors.
import { describe, expect, it } from 'vitest';
import { parsePlaylist, PlaylistError } from '../src/core/playlist.js';

const slice = (utc: string, media = 'video') => `sid713476478245_cnameagora__uid_s_123__uid_e_${media}_${utc}.ts`;
const HEAD = ['#EXTM3U', '#EXT-X-VERSION:3', '#EXT-X-MEDIA-SEQUENCE:0', '#EXT-X-TARGETDURATION:18'];
const playlist = (...lines: string[]) => [...HEAD, ...lines, '#EXT-X-ENDLIST'].join('\n') + '\n';
const T1 = '20190920125142485';
const T2 = '20190920125148817';
const T3 = '20190920125203000';

describe('parsePlaylist: the real example', () => {
  const text = [
    '#EXTM3U',
    '#EXT-X-VERSION:3',
    '#EXT-X-MEDIA-SEQUENCE:0',
    '#EXT-X-ALLOW-CACHE:YES',
    '#EXT-X-TARGETDURATION:18',
    '#EXT-X-DISCONTINUITY',
    `#EXT-X-AGORA-ROTATE:WIDTH=640,HEIGHT=480,ROTATE=90,TIME=${T1}`,
    `#EXT-X-AGORA-TRACK-EVENT:EVENT=START,TRACK_TYPE=VIDEO,TIME=${T1}`,
    '#EXTINF:6.332000',
    slice(T1),
    '#EXTINF:15.000000',
    slice(T2),
    '#EXT-X-ENDLIST',
  ].join('\n');
  const p = parsePlaylist(text);

  it('gives one entry per slice, with the tags on the first', () => {
    expect(p.endList).toBe(true);
    expect(p.entries).toEqual([
      {
        uri: slice(T1),
        durationSec: 6.332,
        durationError: null,
        discontinuity: true,
        rotates: [{ width: 640, height: 480, rotation: 90, timeMs: Date.UTC(2019, 8, 20, 12, 51, 42, 485) }],
        events: [{ event: 'START', trackType: 'VIDEO', timeMs: Date.UTC(2019, 8, 20, 12, 51, 42, 485) }],
      },
      { uri: slice(T2), durationSec: 15, durationError: null, discontinuity: false, rotates: [], events: [] },
    ]);
  });

  it('reports no warnings for the service\'s own tags', () => {
    expect(p.warnings).toEqual([]);
  });
});

describe('parsePlaylist: EXTINF durations', () => {
  it.each([
    ['#EXTINF:6.332000', 6.332],
    ['#EXTINF:6.332000,', 6.332],
    ['#EXTINF:6.332,title text', 6.332],
    ['#EXTINF:15', 15],
    ['#EXTINF: 4.5 ', 4.5],
    ['#EXTINF:.5', 0.5],
    ['#EXTINF:1e1', 10],
  ])('"%s" -> %s s', (inf, sec) => {
    const [e] = parsePlaylist(playlist(inf, slice(T1))).entries;
    expect(e).toMatchObject({ durationSec: sec, durationError: null });
  });

  it.each([
    ['(no EXTINF)', null, /no #EXTINF duration/],
    ['zero', '#EXTINF:0', /not positive/],
    ['zero with comma', '#EXTINF:0.000,', /not positive/],
    ['negative', '#EXTINF:-1.5', /not positive/],
    ['NaN', '#EXTINF:NaN', /not a number/],
    ['Infinity', '#EXTINF:Infinity', /not a number/],
    ['overflow', '#EXTINF:1e999', /not finite/],
    ['empty', '#EXTINF:', /empty #EXTINF duration/],
    ['comma only', '#EXTINF:,', /empty #EXTINF duration/],
    ['text', '#EXTINF:six', /"six" is not a number/],
    ['hex', '#EXTINF:0x10', /not a number/],
    ['two dots', '#EXTINF:1.2.3', /not a number/],
  ])('%s: durationSec null with a reason, the other slices intact', (_what, inf, error) => {
    const lines = [...(inf ? [inf] : []), slice(T1), '#EXTINF:5.0', slice(T2)];
    const { entries } = parsePlaylist(playlist(...lines));
    expect(entries).toHaveLength(2);
    expect(entries[0]!.durationSec).toBeNull();
    expect(entries[0]!.durationError).toMatch(error);
    expect(entries[1]).toMatchObject({ durationSec: 5, durationError: null });
  });

  it('a bad EXTINF does not leak its error, and a good one does not leak its value, to the next slice', () => {
    const { entries } = parsePlaylist(playlist('#EXTINF:7.0', slice(T1), slice(T2), '#EXTINF:-1', slice(T3)));
    expect(entries.map((e) => e.durationSec)).toEqual([7, null, null]);
    expect(entries[1]!.durationError).toMatch(/no #EXTINF/);
    expect(entries[2]!.durationError).toMatch(/not positive/);
  });
});

describe('parsePlaylist: AGORA tags attach to the right slice', () => {
  const rot = (w: number, h: number, r: number, t = T1) => `#EXT-X-AGORA-ROTATE:WIDTH=${w},HEIGHT=${h},ROTATE=${r},TIME=${t}`;
  const ev = (type = 'AUDIO', t = T1) => `#EXT-X-AGORA-TRACK-EVENT:EVENT=START,TRACK_TYPE=${type},TIME=${t}`;

  it.each([
    ['ROTATE then TRACK-EVENT', [rot(640, 480, 90), ev('VIDEO')]],
    ['TRACK-EVENT then ROTATE', [ev('VIDEO'), rot(640, 480, 90)]],
    ['TRACK-EVENT before EXTINF, ROTATE after', [ev('VIDEO'), '#EXTINF:5', rot(640, 480, 90)]],
  ])('%s', (_what, tags) => {
    const withInf = tags.some((t) => t.startsWith('#EXTINF')) ? tags : [...tags, '#EXTINF:5'];
    const { entries } = parsePlaylist(playlist('#EXT-X-DISCONTINUITY', ...withInf, slice(T1), '#EXTINF:5', slice(T2)));
    expect(entries[0]).toMatchObject({ durationSec: 5, rotates: [{ width: 640, height: 480, rotation: 90 }], events: [{ event: 'START', trackType: 'VIDEO' }] });
    expect(entries[1]).toMatchObject({ rotates: [], events: [] });
  });

  it('keeps every ROTATE before one slice, in order', () => {
    const { entries } = parsePlaylist(playlist(rot(640, 480, 0), rot(640, 480, 90), rot(480, 640, 270), '#EXTINF:5', slice(T1)));
    expect(entries[0]!.rotates.map((r) => [r.width, r.height, r.rotation])).toEqual([
      [640, 480, 0],
      [640, 480, 90],
      [480, 640, 270],
    ]);
  });

  it('keeps every TRACK-EVENT before one slice', () => {
    const { entries } = parsePlaylist(playlist(ev('AUDIO'), ev('VIDEO'), '#EXTINF:5', slice(T1)));
    expect(entries[0]!.events.map((e) => e.trackType)).toEqual(['AUDIO', 'VIDEO']);
  });

  it('tags before the third slice stay on the third slice', () => {
    const { entries } = parsePlaylist(
      playlist(rot(640, 480, 90), '#EXTINF:5', slice(T1), '#EXTINF:5', slice(T2), '#EXT-X-DISCONTINUITY', ev('VIDEO', T3), rot(320, 240, 180, T3), '#EXTINF:5', slice(T3)),
    );
    expect(entries.map((e) => e.rotates.map((r) => r.rotation))).toEqual([[90], [], [180]]);
    expect(entries.map((e) => e.events.length)).toEqual([0, 0, 1]);
    expect(entries.map((e) => e.discontinuity)).toEqual([false, false, true]);
  });

  it.each([
    [`TIME=${T1}`, Date.UTC(2019, 8, 20, 12, 51, 42, 485)],
    ['TIME=1568983902485', 1568983902485],
    ['TIME=garbage', null],
    ['', null],
  ])('track event %s -> timeMs %s', (time, ms) => {
    const tag = `#EXT-X-AGORA-TRACK-EVENT:EVENT=START,TRACK_TYPE=AUDIO${time ? `,${time}` : ''}`;
    const { entries } = parsePlaylist(playlist(tag, '#EXTINF:5', slice(T1)));
    expect(entries[0]!.events).toEqual([{ event: 'START', trackType: 'AUDIO', timeMs: ms }]);
  });

  it.each([
    ['WIDTH=0,HEIGHT=480,ROTATE=90', /bad WIDTH\/HEIGHT/],
    ['WIDTH=640.5,HEIGHT=480,ROTATE=90', /bad WIDTH\/HEIGHT/],
    ['HEIGHT=480,ROTATE=90', /bad WIDTH\/HEIGHT/],
    ['WIDTH=640,HEIGHT=480,ROTATE=45', /bad ROTATE/],
  ])('a bad ROTATE (%s) is not applied and does not cost the slice', (attrs) => {
    const { entries } = parsePlaylist(playlist(`#EXT-X-AGORA-ROTATE:${attrs}`, '#EXTINF:5', slice(T1)));
    expect(entries[0]!.rotates).toEqual([]);
    expect(entries[0]!.durationSec).toBe(5);
  });

  it.each([
    ['WIDTH=0,HEIGHT=480,ROTATE=90', /bad WIDTH\/HEIGHT/],
    ['WIDTH=640,HEIGHT=480,ROTATE=45', /bad ROTATE/],
  ])('a bad ROTATE (%s) is reported as a warning', (attrs, warning) => {
    const { warnings } = parsePlaylist(playlist(`#EXT-X-AGORA-ROTATE:${attrs}`, '#EXTINF:5', slice(T1)));
    expect(warnings.join('\n')).toMatch(warning);
  });

  it('a ROTATE without ROTATE= means 0 degrees', () => {
    const { entries } = parsePlaylist(playlist('#EXT-X-AGORA-ROTATE:WIDTH=640,HEIGHT=480', '#EXTINF:5', slice(T1)));
    expect(entries[0]!.rotates).toEqual([{ width: 640, height: 480, rotation: 0, timeMs: null }]);
  });

  it('a track event without TRACK_TYPE is left out', () => {
    const { entries } = parsePlaylist(playlist('#EXT-X-AGORA-TRACK-EVENT:EVENT=START', '#EXTINF:5', slice(T1)));
    expect(entries[0]!.events).toEqual([]);
    expect(entries[0]!.durationSec).toBe(5);
  });

  it('a track event without TRACK_TYPE is reported as a warning', () => {
    const { warnings } = parsePlaylist(playlist('#EXT-X-AGORA-TRACK-EVENT:EVENT=START', '#EXTINF:5', slice(T1)));
    expect(warnings.join('\n')).toMatch(/bad track event/);
  });
});

describe('parsePlaylist: structure', () => {
  it('DISCONTINUITY flags only the slice it stands before', () => {
    const { entries } = parsePlaylist(playlist('#EXT-X-DISCONTINUITY', '#EXTINF:5', slice(T1), '#EXTINF:5', slice(T2), '#EXT-X-DISCONTINUITY', '#EXTINF:5', slice(T3)));
    expect(entries.map((e) => e.discontinuity)).toEqual([true, false, true]);
  });

  it('no ENDLIST: entries still parsed, endList false', () => {
    const text = [...HEAD, '#EXTINF:5', slice(T1), '#EXTINF:5', slice(T2)].join('\n');
    const p = parsePlaylist(text);
    expect(p.endList).toBe(false);
    expect(p.entries).toHaveLength(2);
  });

  it.each([
    ['CRLF', (s: string) => s.replace(/\n/g, '\r\n')],
    ['a BOM', (s: string) => '\uFEFF' + s],
    ['a BOM and CRLF', (s: string) => '\uFEFF' + s.replace(/\n/g, '\r\n')],
    ['blank lines and indentation', (s: string) => s.replace(/\n/g, '\n\n  ')],
  ])('%s parses like the plain text', (_what, transform) => {
    const text = playlist('#EXT-X-DISCONTINUITY', `#EXT-X-AGORA-ROTATE:WIDTH=640,HEIGHT=480,ROTATE=270,TIME=${T1}`, '#EXTINF:6.332000', slice(T1), '#EXTINF:5,', slice(T2));
    const plain = parsePlaylist(text);
    const other = parsePlaylist(transform(text));
    expect(other).toEqual(plain);
    expect(other.entries[0]).toMatchObject({ uri: slice(T1), durationSec: 6.332, rotates: [{ rotation: 270, timeMs: Date.UTC(2019, 8, 20, 12, 51, 42, 485) }] });
    expect(other.endList).toBe(true);
  });

  it('an empty playlist (header only) has no entries', () => {
    expect(parsePlaylist('#EXTM3U\n#EXT-X-ENDLIST\n')).toEqual({ trailingRotates: [], entries: [], endList: true, warnings: [] });
  });
});

describe('parsePlaylist: unusable text throws PlaylistError', () => {
  it.each([
    ['empty', '', /no #EXTM3U header/],
    ['HTML', '<html><body>Access Denied</body></html>', /not an M3U8 playlist/],
    ['S3 XML error', '<?xml version="1.0"?><Error><Code>NoSuchKey</Code></Error>', /not an M3U8/],
    ['slice list without header', `#EXTINF:5\n${slice(T1)}\n`, /not an M3U8/],
    ['replacement character (bytes that were not UTF-8)', '#EXTM3U\n#EXTINF:5\nab\uFFFDcd.ts\n', /not UTF-8/],
    ['NUL byte', '#EXTM3U\n#EXTINF:5\n\u0000\n', /not UTF-8/],
    ['huge', '#EXTM3U\n' + '#'.repeat(16 * 1024 * 1024), /too large/],
  ])('%s', (_what, text, message) => {
    expect(() => parsePlaylist(text)).toThrow(PlaylistError);
    expect(() => parsePlaylist(text)).toThrow(message);
  });
});
