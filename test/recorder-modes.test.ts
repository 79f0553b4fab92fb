// The other recorder modes' files, by name and index text (README "Recorder modes"): standard mode's av
// index cross-checked, raw mode's index and MPD turned into tracks (a muxed slice feeding both), the
// service's MP4s recognised, and which mode made a session. Pure: in-memory listings and texts.
import { describe, expect, it } from 'vitest';
import { parseAvPlaylist, parseMpd } from '../src/core/av-index.js';
import { buildInventory, classifyKeys, type PlaylistText } from '../src/core/inventory.js';
import { formatUtc17 } from '../src/core/names.js';
import { summarizeInventory } from '../src/core/summary.js';
import { planMerge } from '../src/core/plan.js';
import type { Inventory, MediaFacts, SliceMedia, UidRecording } from '../src/core/types.js';
import { formatInspect } from '../src/cli/report.js';

const SID = 'aaaa0000bbbb1111cccc2222dddd3333';
const CNAME = 'lesson_42';
const T0 = Date.UTC(2024, 0, 2, 3, 4, 5, 0);
const utc = (atMs: number) => formatUtc17(T0 + atMs);
const prefix = (uid: string) => `${SID}_${CNAME}__uid_s_${uid}__uid_e_`;
const pl = (uid: string, media: 'audio' | 'video') => `${prefix(uid)}${media}.m3u8`;
const sl = (uid: string, media: 'audio' | 'video', atMs: number, ext = 'ts') => `${prefix(uid)}${media}_${utc(atMs)}.${ext}`;
const av = (uid: string, ext = 'm3u8') => `${prefix(uid)}av.${ext}`;
const muxed = (uid: string, atMs: number, codec = 'h264') => `${prefix(uid)}${utc(atMs)}_${codec}.ts`;
const rawIndex = (uid: string, codec = 'h264', ext = 'm3u8') => `${prefix(uid)}${codec}.${ext}`;
const segment = (uid: string, stream: string, n: number | string, codec = 'vp8') => `${prefix(uid)}${stream}_${n}_${codec}.webm`;
const file = (key: string) => key.slice(key.lastIndexOf('/') + 1);

const m3u8 = (keys: string[], { dur = '5.000', endList = true } = {}) =>
  ['#EXTM3U', '#EXT-X-VERSION:3', '#EXT-X-TARGETDURATION:6', ...keys.flatMap((k) => [`#EXTINF:${dur}`, file(k)]), ...(endList ? ['#EXT-X-ENDLIST'] : [])].join('\n');
const avM3u8 = (uid: string) => ['#EXTM3U', '# Audio', '#EXT-X-VERSION:3', file(pl(uid, 'audio')), '# Video', file(pl(uid, 'video'))].join('\n');

interface MpdSegment {
  key: string;
  time?: string;
  extra?: string;
}
/** The MPD shape recmerge's fixtures write (a guess: no sample MPD is published). */
const mpd = (sets: { contentType: string; segments: MpdSegment[] }[]) =>
  [
    '<?xml version="1.0" encoding="utf-8"?>',
    '<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" profiles="urn:mpeg:dash:profile:full:2011">',
    '<Period start="PT0S">',
    ...sets.flatMap((s) => [
      `<AdaptationSet contentType="${s.contentType}" mimeType="${s.contentType}/webm"><Representation id="${s.contentType}"><SegmentList>`,
      ...s.segments.map((x) => `<SegmentURL media="${file(x.key)}"${x.time ? ` time="${x.time}"` : ''}${x.extra ? ` ${x.extra}` : ''}/>`),
      '</SegmentList></Representation></AdaptationSet>',
    ]),
    '</Period></MPD>',
  ].join('\n');

function inventoryOf(keys: string[], texts: Record<string, PlaylistText>, durations?: Map<string, number>): Inventory {
  return buildInventory(classifyKeys(keys), new Map(Object.entries(texts)), durations);
}
const uidOf = (inv: Inventory, uid: string): UidRecording => inv.sessions[0]!.uids.find((u) => u.uid === uid)!;
const starts = (inv: Inventory, uid: string, media: 'audio' | 'video') => uidOf(inv, uid)[media]?.slices.map((s) => s.startMs - T0);
const messages = (rec: UidRecording) => rec.problems.map((p) => `${p.severity} ${p.key ?? ''}: ${p.message}`);

describe('standard mode: the av index is read and cross-checked', () => {
  const keys = [pl('1', 'audio'), sl('1', 'audio', 0), pl('1', 'video'), sl('1', 'video', 0)];
  const texts = { [pl('1', 'audio')]: m3u8([sl('1', 'audio', 0)]), [pl('1', 'video')]: m3u8([sl('1', 'video', 0)]) };

  it('an av.m3u8 naming both playlists: recognised, nothing to report', () => {
    const inv = inventoryOf([...keys, av('1')], { ...texts, [av('1')]: avM3u8('1') });
    expect(inv.ignored).toEqual([]);
    const rec = uidOf(inv, '1');
    expect(rec.indexes).toEqual([av('1')]);
    expect(rec.problems).toEqual([]);
    expect(rec.failed).toBeNull();
    expect(inv.sessions[0]!.modes).toEqual([expect.objectContaining({ mode: 'standard', guess: false, uids: ['1'] })]);
  });

  it('a playlist the av.m3u8 names that never reached storage is a warning naming both; the UID merges', () => {
    const inv = inventoryOf([pl('1', 'audio'), sl('1', 'audio', 0), av('1')], { [pl('1', 'audio')]: texts[pl('1', 'audio')]!, [av('1')]: avM3u8('1') });
    const rec = uidOf(inv, '1');
    expect(rec.failed).toBeNull();
    expect(rec.audio?.slices).toHaveLength(1);
    expect(messages(rec)).toEqual([`warning ${av('1')}: names ${file(pl('1', 'video'))}, which is not in storage (that video playlist never reached storage)`]);
  });

  it('an av.m3u8 naming another uid, a slice, or junk: warnings; garbage or unreadable: a warning, never a failure', () => {
    const odd = ['#EXTM3U', file(pl('1', 'audio')), '# Video', file(pl('2', 'video')), '# Audio', file(sl('1', 'audio', 0))].join('\n');
    const inv = inventoryOf([...keys, av('1')], { ...texts, [av('1')]: odd });
    expect(messages(uidOf(inv, '1'))).toEqual([
      `warning ${av('1')}: names "${file(pl('1', 'audio'))}" outside a # Audio / # Video block`,
      `warning ${av('1')}: names "${file(pl('2', 'video'))}" as uid 1's video playlist, but it is uid 2's video playlist`,
      `warning ${av('1')}: names "${file(sl('1', 'audio', 0))}", which is not an audio or video playlist name`,
    ]);
    for (const bad of ['<html>Access denied</html>', new Error('read failed: 503')]) {
      const rec = uidOf(inventoryOf([...keys, av('1')], { ...texts, [av('1')]: bad }), '1');
      expect(rec.failed).toBeNull();
      expect(rec.audio && rec.video).toBeTruthy();
      expect(messages(rec)).toEqual([expect.stringMatching(new RegExp(`^warning ${av('1')}: cannot be used: .*; the audio and video playlists are read without it$`))]);
    }
  });

  it('an av.mpd naming WebM slices the playlists lack: a warning per slice naming the MPD (counted when many)', () => {
    const webm = [0, 5000, 10000].map((t) => sl('1', 'video', t, 'webm'));
    const audio = [0, 5000, 10000].map((t) => sl('1', 'audio', t, 'webm'));
    const text = mpd([
      { contentType: 'audio', segments: audio.map((key, i) => ({ key, time: utc(i * 5000) })) },
      { contentType: 'video', segments: webm.map((key, i) => ({ key, time: utc(i * 5000), extra: 'width="640" height="480" rotate="90"' })) },
    ]);
    const inv = inventoryOf([pl('1', 'audio'), pl('1', 'video'), ...audio, ...webm.slice(0, 2), av('1', 'mpd')], {
      [pl('1', 'audio')]: m3u8(audio),
      [pl('1', 'video')]: m3u8(webm.slice(0, 1)),
      [av('1', 'mpd')]: text,
    });
    const rec = uidOf(inv, '1');
    expect(rec.failed).toBeNull();
    expect(messages(rec)).toEqual([
      `warning ${webm[1]}: named by ${av('1', 'mpd')}, but the video playlist does not list it`,
      `warning ${webm[2]}: named by ${av('1', 'mpd')}, but the video playlist does not list it, and storage does not have it`,
    ]);
    expect(inv.sessions[0]!.modes?.map((m) => m.mode)).toEqual(['standard']);
    expect(summarizeInventory(inv).sessions[0]!.uids[0]!.tracks.map((t) => t.codecs)).toEqual([['Opus'], ['VP8']]);
  });

  it('WebM audio without an av index: standard mode, as a visible guess', () => {
    const inv = inventoryOf([pl('1', 'audio'), sl('1', 'audio', 0, 'webm')], { [pl('1', 'audio')]: m3u8([sl('1', 'audio', 0, 'webm')]) });
    expect(inv.sessions[0]!.modes).toEqual([expect.objectContaining({ mode: 'standard', guess: true, why: expect.stringMatching(/WebM audio slices.*no av index/) })]);
  });
});

describe('parseAvPlaylist / parseMpd', () => {
  it('reads blocks and #EXT-X-MEDIA URIs; an empty one says so', () => {
    expect(parseAvPlaylist('#EXTM3U\r\n#  video \r\nv.m3u8\r\n#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="a",URI="a.m3u8"\n').playlists).toEqual([
      { uri: 'v.m3u8', media: 'video' },
      { uri: 'a.m3u8', media: 'audio' },
    ]);
    expect(parseAvPlaylist('#EXTM3U\n# Audio\n').warnings).toEqual(['names no playlist']);
    expect(() => parseAvPlaylist('hello')).toThrow(/no #EXTM3U header/);
  });

  it('inherits attributes from ancestors, the nearest winning; BaseURL names a file too; templates are reported', () => {
    const text = `<MPD><Period><AdaptationSet mimeType="video/webm" width="320" height="240" time="${utc(0)}">
      <Representation><BaseURL>one.webm</BaseURL></Representation>
      <Representation rotate="270"><SegmentList><SegmentURL media="two.webm" width="640" height="480" time="${T0 + 5000}"/></SegmentList></Representation>
      <Representation><SegmentTemplate media="seg_$Number$.webm"/></Representation>
    </AdaptationSet></Period></MPD>`;
    const { entries, warnings } = parseMpd(text);
    expect(entries).toEqual([
      { uri: 'one.webm', media: 'video', timeMs: T0, width: 320, height: 240, rotation: null },
      { uri: 'two.webm', media: 'video', timeMs: T0 + 5000, width: 640, height: 480, rotation: 270 },
    ]);
    expect(warnings).toEqual([expect.stringMatching(/1 SegmentTemplate name pattern/)]);
  });

  it('names what is wrong: bad attributes, not XML, not an MPD; an entity bomb stays small', () => {
    expect(parseMpd('<MPD><SegmentURL media="a.webm" rotate="45" width="-1" time="yesterday"/></MPD>').warnings).toEqual([
      'a.webm: rotate="45" is not 0, 90, 180 or 270',
      'a.webm: time="yesterday" is not a 17-digit UTC or 13-digit ms time',
      'a.webm: width="-1" is not a positive whole number',
    ]);
    expect(() => parseMpd('<MPD><Period></MPD>')).toThrow(/not well-formed XML \(line 1/);
    expect(() => parseMpd('<html><body/></html>')).toThrow(/no <MPD> element/);
    const bomb = `<?xml version="1.0"?><!DOCTYPE MPD [<!ENTITY a "${'x'.repeat(50)}">${[...Array(20).keys()].map((i) => `<!ENTITY b${i} "&a;&a;&a;&a;&a;&a;&a;&a;">`).join('')}]><MPD><SegmentURL media="&b19;"/></MPD>`;
    // Untrusted text: nested DOCTYPE entities are not expanded (what comes back stays small).
    expect(JSON.stringify(parseMpd(bomb)).length).toBeLessThan(1000);
  });
});

describe('raw mode (built from the docs description): one index, slices holding audio and video', () => {
  it('a muxed slice stands in both tracks (same key, start, length), flagged muxed, with the codec its name gives', () => {
    const slices = [0, 15000].map((t) => muxed('7', t, 'h265'));
    const inv = inventoryOf([rawIndex('7', 'h265'), ...slices], { [rawIndex('7', 'h265')]: m3u8(slices, { dur: '15.000' }) });
    const rec = uidOf(inv, '7');
    expect(rec.failed).toBeNull();
    expect(rec.problems).toEqual([]);
    for (const media of ['audio', 'video'] as const) {
      expect(rec[media]).toMatchObject({ media, playlistKey: rawIndex('7', 'h265') });
      expect(rec[media]!.slices.map((s) => ({ key: s.key, startMs: s.startMs - T0, durationMs: s.durationMs, muxed: s.muxed, nameCodec: s.nameCodec }))).toEqual(
        slices.map((key, i) => ({ key, startMs: i * 15000, durationMs: 15000, muxed: true, nameCodec: 'h265' })),
      );
    }
    expect(rec.audio!.slices[0]).not.toBe(rec.video!.slices[0]);
    expect(inv.sessions[0]!.modes).toEqual([expect.objectContaining({ mode: 'raw', guess: true, uids: ['7'] })]);
    const track = summarizeInventory(inv).sessions[0]!.uids[0]!.tracks;
    expect(track.map((t) => [t.media, t.codecs, t.muxedSlices])).toEqual([['audio', ['AAC'], 2], ['video', ['H.265'], 2]]);
  });

  it('without its index, muxed slices are placed by their names; missing, unlisted and foreign entries are reported', () => {
    const orphans = [0, 15000].map((t) => muxed('7', t));
    const rebuilt = inventoryOf(orphans, {}, new Map([[orphans[1]!, 9000]]));
    expect(starts(rebuilt, '7', 'audio')).toEqual([0, 15000]);
    expect(uidOf(rebuilt, '7').video!.slices.map((s) => s.durationMs)).toEqual([15000, 9000]);
    expect(messages(uidOf(rebuilt, '7'))).toEqual([expect.stringMatching(/2 raw-mode audio\+video slice\(s\) not in any playlist were placed by the UTC/)]);

    const listedKeys = [muxed('7', 0), muxed('7', 5000), sl('7', 'audio', 10000)];
    const inv = inventoryOf([rawIndex('7'), muxed('7', 0), muxed('7', 20000)], { [rawIndex('7')]: m3u8(listedKeys) });
    expect(starts(inv, '7', 'video')).toEqual([0, 5000]);
    expect(messages(uidOf(inv, '7'))).toEqual([
      `error ${rawIndex('7')}: entry "${file(sl('7', 'audio', 10000))}" belongs to uid 7 audio, not uid 7 muxed audio+video; left out`,
      `error ${muxed('7', 5000)}: listed in the raw-mode index but not in storage; its time becomes a gap`,
    ]);
    expect(inv.problems).toEqual([{ severity: 'warning', key: muxed('7', 20000), message: 'slice is not listed in its playlist (which is complete); ignored' }]);
  });

  it('the plan places each stream of a muxed slice where its own first timestamp lies after the file\'s; a stream that cannot be used is a gap in its track only, said', () => {
    const slices = [0, 2000, 4000].map((t) => muxed('7', t));
    const inv = inventoryOf([rawIndex('7'), ...slices], { [rawIndex('7')]: m3u8(slices, { dur: '2.000' }) });
    const facts = new Map<string, MediaFacts>(slices.map((k) => [k, { video: { codec: 'h264', width: 160, height: 90, fps: 15, rotation: 0 }, audio: { codec: 'aac', sampleRate: 48000, channels: 1, profile: 'LC' } }]));
    // Each file starts with its audio; its video starts 40, 200 and 10 ms later (a TS cut on PES boundaries).
    const stream = (startS: number, lengthMs: number, fileStartS: number): SliceMedia => ({ hasVideo: true, hasAudio: true, startS, lengthMs, fileStartS });
    const media = new Map<string, SliceMedia>(
      [0.04, 0.2, 0.01].map((lead, i) => {
        const file = 100 + i * 2;
        const video = { ...stream(file + lead, 2000 - lead * 1000, file), startsOnKey: true, firstKeyMs: 0 };
        const audio = { ...stream(file, 2000, file), audio: { sampleRate: 48000, channels: 1, frames: 94, changes: false } };
        return [slices[i]!, { ...video, streams: { audio: i === 2 ? { unusable: 'holds no audio stream' } : audio, video } }];
      }),
    );
    const plan = planMerge(inv, facts, {}, media).outputs[0]!;
    expect(plan.audio!.runs.flatMap((r) => r.slices.map((s) => [s.offsetMs, s.mediaStartS, s.muxed]))).toEqual([[0, 100, true], [2000, 102, true]]);
    expect(plan.video!.runs.flatMap((r) => r.slices.map((s) => [Math.round(s.offsetMs), s.mediaStartS]))).toEqual([[40, 100.04], [2200, 102.2], [4010, 104.01]]);
    expect(plan.warnings).toContain(`${slices[2]}: its audio cannot be used (holds no audio stream); its time is a gap in the audio (the video is merged)`);
    expect(plan.inputs).toEqual(slices);

    // AV1 in TS (raw mode's HLS may carry it) cannot be read: every slice's video is a gap, said once; the audio merges.
    const av1 = 'holds AV1 video in MPEG-TS, which recmerge cannot read yet (nor can ffmpeg 5.1)';
    const noVideo = new Map<string, SliceMedia>(
      slices.map((k, i) => {
        const audio = { ...stream(100 + i * 2, 2000, 100 + i * 2), audio: { sampleRate: 48000, channels: 1, frames: 94, changes: false } };
        return [k, { ...audio, streams: { audio, video: { unusable: av1 } } }];
      }),
    );
    const audioOnly = planMerge(inv, facts, {}, noVideo).outputs[0]!;
    expect([audioOnly.kind, audioOnly.video, audioOnly.audio!.runs.flatMap((r) => r.slices.map((x) => x.key))]).toEqual(['audio', null, slices]);
    expect(audioOnly.warnings.filter((x) => x.includes('cannot be used'))).toEqual([
      `3 slices (${slices[0]} … ${slices[2]}): their video cannot be used (${av1}); their time is a gap in the video (the audio is merged)`,
    ]);
  });

  it('an unreadable raw index fails only its UID', () => {
    const inv = inventoryOf([rawIndex('7'), muxed('7', 0), pl('8', 'audio'), sl('8', 'audio', 0)], { [rawIndex('7')]: 'junk', [pl('8', 'audio')]: m3u8([sl('8', 'audio', 0)]) });
    expect(uidOf(inv, '7').failed).toMatch(/uid 7: raw-mode index cannot be used: .*no #EXTM3U header/);
    expect(uidOf(inv, '8').failed).toBeNull();
    expect(inv.problems).toEqual([]);
  });

  it('DASH: WebM segments placed by the MPD time, with its size and rotation; what cannot be placed is said', () => {
    const a = [0, 1].map((n) => segment('9', 'audio', n));
    const v = [0, 1].map((n) => segment('9', 'video', n));
    const numbered = segment('9', '3', 0);
    const noTime = segment('9', 'video', 7);
    const unnamed = segment('9', 'video', 8);
    const missing = segment('9', 'audio', 2);
    const text = mpd([
      { contentType: 'audio', segments: [...a.map((key, i) => ({ key, time: utc(i * 10000) })), { key: missing, time: utc(20000) }] },
      { contentType: 'video', segments: [...v.map((key, i) => ({ key, time: String(T0 + i * 10000), extra: 'width="640" height="360" rotate="90"' })), { key: noTime }] },
      { contentType: 'video', segments: [{ key: numbered, time: utc(30000) }] },
    ]);
    const keys = [rawIndex('9', 'vp8', 'mpd'), ...a, ...v, numbered, noTime, unnamed];
    const inv = inventoryOf(keys, { [rawIndex('9', 'vp8', 'mpd')]: text }, new Map([...a, ...v, numbered].map((k) => [k, 9500])));
    const rec = uidOf(inv, '9');
    expect(starts(inv, '9', 'audio')).toEqual([0, 10000]);
    expect(starts(inv, '9', 'video')).toEqual([0, 10000, 30000]);
    expect(rec.video!.slices[0]).toMatchObject({ container: 'webm', rotation: 90, codedSize: { width: 640, height: 360 }, durationMs: 9500 });
    expect(rec.video!.slices[2]).toMatchObject({ key: numbered, rotation: 0, codedSize: null, nameCodec: 'vp8' });
    expect(rec.video).toMatchObject({ playlistKey: rawIndex('9', 'vp8', 'mpd') });
    expect(messages(rec)).toEqual([
      `error ${missing}: listed in ${rawIndex('9', 'vp8', 'mpd')} but not in storage; its time becomes a gap`,
      expect.stringMatching(new RegExp(`^error ${noTime}: cannot be placed: .* gives it no time attribute and its name no UTC .*; left out$`)),
      `warning ${unnamed}: raw-mode WebM segment that no MPD names, and its name gives no UTC and no audio/video: cannot be placed; ignored`,
      expect.stringMatching(/^warning : 2 raw-mode audio WebM segment\(s\) were placed by the times their MPD gives/),
      expect.stringMatching(/^warning : 3 raw-mode video WebM segment\(s\) were placed by the times their MPD gives/),
    ]);
    expect(inv.problems).toEqual([]);
  });

  it('the service MP4s are recognised, reported, and not merged', () => {
    const raw = `${prefix('7')}0_h264.mp4`;
    const postponed = `${prefix('7')}1.mp4`;
    const inv = inventoryOf([raw, postponed], {});
    expect(inv.sessions).toEqual([]);
    expect(inv.ignored).toEqual([]);
    expect(inv.recognised).toEqual([
      { key: raw, what: expect.stringMatching(/^a raw-mode MP4 \(uid 7, part 0, h264\): not merged/) },
      { key: postponed, what: expect.stringMatching(/^the service's own MP4 from postponed transcoding \(uid 7, part 1\): not merged/) },
    ]);
  });
});

describe('which recorder mode made the folder', () => {
  const legacy = (uid: string, media: 'audio' | 'video') => ({ keys: [pl(uid, media), sl(uid, media, 0)], texts: { [pl(uid, media)]: m3u8([sl(uid, media, 0)]) } });
  const join = (...parts: { keys: string[]; texts: Record<string, string> }[]) =>
    inventoryOf(parts.flatMap((p) => p.keys), Object.assign({}, ...parts.map((p) => p.texts)) as Record<string, string>);

  it('audio and video playlists: default; audio only: default or original (a guess); a mix is one line', () => {
    const def = join(legacy('1', 'audio'), legacy('1', 'video'));
    expect(summarizeInventory(def).mode).toBe('default');
    const audioOnly = join(legacy('1', 'audio'));
    expect(audioOnly.sessions[0]!.modes).toEqual([expect.objectContaining({ mode: 'default', or: ['original'], guess: true, why: expect.stringMatching(/same names.*Opus/) })]);
    expect(summarizeInventory(audioOnly).mode).toBe('default (or original) [guess]');
    const slices = [muxed('2', 0)];
    const mix = join(legacy('1', 'audio'), legacy('1', 'video'), { keys: [rawIndex('2'), ...slices], texts: { [rawIndex('2')]: m3u8(slices) } });
    expect(summarizeInventory(mix).mode).toBe('mix: default + raw [guess]');
    const text = formatInspect(summarizeInventory(mix));
    expect(text).toMatch(/^recorder mode: mix: default \+ raw \[guess\]$/m);
    expect(text).toMatch(/^ {2}made by the default recorder mode: audio and video playlists without an av index, e\.g\. .*; uid 1$/m);
    expect(text).toMatch(/^ {2}made by the raw recorder mode \(a guess\): raw-mode names \(mode=raw is read as .*no sample files are published\), e\.g\. .*; uid 2$/m);
    expect(text).toMatch(new RegExp(`^ {4}index: ${rawIndex('2')}$`, 'm'));
    expect(text).toMatch(/^ {4}audio: 1 slices \(1 holding audio and video\), AAC,/m);
  });

  it('inspect text lists the recognised MP4s apart from the ignored files', () => {
    const inv = inventoryOf([pl('1', 'audio'), sl('1', 'audio', 0), `${prefix('1')}0.mp4`, 'notes.txt'], { [pl('1', 'audio')]: m3u8([sl('1', 'audio', 0)]) });
    const text = formatInspect(summarizeInventory(inv));
    expect(text).toContain(`Recognised 1 file(s) of the recorder that are not merged:\n  ${prefix('1')}0.mp4: the service's own MP4`);
    expect(text).toContain('Ignored 1 file(s) that are not recording files:\n  notes.txt: not a recording file (.txt)');
  });
});
