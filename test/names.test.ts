// Storage key names -> what they are (the naming rules of recording-format.md), and the time formats.
import { describe, expect, it } from 'vitest';
import { formatUtc17, parseRecordingName, parseTagTime, parseUtc17 } from '../src/core/names.js';
import type { RecordingName } from '../src/core/types.js';

const SID = '0123456789abcdef0123456789abcdef';
const T = Date.UTC(2019, 5, 11, 7, 32, 46, 73); // 20190611073246073

const parsed = (key: string): RecordingName => {
  const r = parseRecordingName(key);
  if (!r.ok) throw new Error(`${key}: ${r.reason}`);
  return r.name;
};

describe('parseUtc17 / formatUtc17', () => {
  it.each([
    ['20190611073246073', T],
    ['20190920125142485', Date.UTC(2019, 8, 20, 12, 51, 42, 485)],
    ['20200229235959999', Date.UTC(2020, 1, 29, 23, 59, 59, 999)], // leap day
    ['20191231235959000', Date.UTC(2019, 11, 31, 23, 59, 59, 0)],
  ])('%s is a real instant and formats back to itself', (text, ms) => {
    expect(parseUtc17(text)).toBe(ms);
    expect(formatUtc17(ms)).toBe(text);
  });

  it.each([
    ['20190231120000000', '31 February'],
    ['20190229120000000', '29 February of a non-leap year'],
    ['20190431120000000', '31 April'],
    ['20191301120000000', 'month 13'],
    ['20190001120000000', 'month 0'],
    ['20190100120000000', 'day 0'],
    ['20190101240000000', 'hour 24'],
    ['20190101126000000', 'minute 60'],
    ['20190101120060000', 'second 60'],
    ['2019061107324607', '16 digits'],
    ['201906110732460730', '18 digits'],
    ['2019061107324607x', 'a letter'],
    ['', 'empty'],
  ])('%s is rejected (%s)', (text) => {
    expect(parseUtc17(text)).toBeNull();
  });

  it('formats fractional milliseconds to the nearest millisecond', () => {
    expect(formatUtc17(T + 0.6)).toBe('20190611073246074');
  });

  // Date.UTC maps years 0..99 to 1900..1999, so "0050..." comes back as 1950.
  it('a year below 100 is not shifted to the 20th century', () => {
    const t = parseUtc17('00500101000000000');
    expect(t === null || formatUtc17(t) === '00500101000000000').toBe(true);
  });
});

describe('parseTagTime', () => {
  it.each([
    ['20190611073246073', T],
    [String(T), T], // 13-digit Unix milliseconds
    ['1568983902485', 1568983902485],
    ['20190231120000000', null],
    ['156898390248', null], // 12 digits
    ['15689839024850', null], // 14 digits
    ['-1568983902485', null],
    ['1568983902485.5', null],
    ['', null],
  ])('%s -> %s', (text, ms) => {
    expect(parseTagTime(text)).toBe(ms);
  });
});

describe('parseRecordingName: what a key is', () => {
  it.each<[string, Partial<RecordingName>]>([
    [`${SID}_room1__uid_s_123__uid_e_audio.m3u8`, { type: 'playlist', dir: '', backup: null, sid: SID, cname: 'room1', uid: '123', media: 'audio', copy: null }],
    [`${SID}_room1__uid_s_123__uid_e_video.m3u8`, { type: 'playlist', media: 'video', copy: null }],
    [`${SID}_room1__uid_s_123__uid_e_video_22194679897_3.m3u8`, { type: 'playlist', media: 'video', copy: { tick: '22194679897', index: 3 } }],
    [`bak0_${SID}_room1__uid_s_123__uid_e_audio.m3u8`, { type: 'playlist', backup: 0, sid: SID, cname: 'room1' }],
    [`bak12_${SID}_room1__uid_s_123__uid_e_audio_5_0.m3u8`, { type: 'playlist', backup: 12, copy: { tick: '5', index: 0 } }],
    [`${SID}_room1__uid_s_123__uid_e_audio_20190611073246073.ts`, { type: 'slice', sid: SID, cname: 'room1', uid: '123', media: 'audio', container: 'ts', startMs: T, backup: null }],
    [`${SID}_room1__uid_s_123__uid_e_video_20190611073246073.webm`, { type: 'slice', media: 'video', container: 'webm', startMs: T }],
    [`bak1_${SID}_room1__uid_s_123__uid_e_video_20190611073246073.ts`, { type: 'slice', backup: 1, sid: SID }],
    // cname may contain '_' (even '__') and '-' (special characters were replaced by '-')
    [`${SID}_lesson_42__uid_s_7__uid_e_audio.m3u8`, { cname: 'lesson_42', sid: SID, uid: '7' }],
    [`${SID}_a__b-c_d__uid_s_7__uid_e_video_20190611073246073.ts`, { cname: 'a__b-c_d', sid: SID, uid: '7' }],
    [`${SID}_-__uid_s_0__uid_e_audio.m3u8`, { cname: '-', uid: '0' }],
    // fileNamePrefix directories
    [`dir1/dir2/${SID}_room1__uid_s_9__uid_e_audio_20190611073246073.ts`, { type: 'slice', dir: 'dir1/dir2/', sid: SID, uid: '9', startMs: T }],
    [`dir1/bak0_${SID}_room1__uid_s_9__uid_e_video.m3u8`, { type: 'playlist', dir: 'dir1/', backup: 0 }],
    // the contract's own example
    [
      'sid713476478245_cnameagora__uid_s_123__uid_e_video_20190920125142485.ts',
      { type: 'slice', sid: 'sid713476478245', cname: 'cnameagora', uid: '123', media: 'video', container: 'ts', startMs: Date.UTC(2019, 8, 20, 12, 51, 42, 485) },
    ],
  ])('%s', (key, expected) => {
    const name = parsed(key);
    expect(name).toMatchObject({ key, ...expected });
  });

  // The other recorder modes (README "Recorder modes"); raw mode's names are built from the docs' description.
  it.each<[string, Partial<RecordingName>]>([
    [`${SID}_room1__uid_s_123__uid_e_av.m3u8`, { type: 'index', mode: 'standard', format: 'm3u8', uid: '123', videoCodec: null, copy: null }],
    [`${SID}_room1__uid_s_123__uid_e_av_22194679897_3.m3u8`, { type: 'index', mode: 'standard', format: 'm3u8', copy: { tick: '22194679897', index: 3 } }],
    [`bak0_${SID}_room1__uid_s_123__uid_e_av.mpd`, { type: 'index', mode: 'standard', format: 'mpd', backup: 0 }],
    [`${SID}_room1__uid_s_123__uid_e_audio_20190611073246073.webm`, { type: 'slice', media: 'audio', container: 'webm', startMs: T }],
    [`${SID}_room1__uid_s_123__uid_e_h264.m3u8`, { type: 'index', mode: 'raw', format: 'm3u8', videoCodec: 'h264', copy: null }],
    [`${SID}_room1__uid_s_123__uid_e_h265_5_1.m3u8`, { type: 'index', mode: 'raw', format: 'm3u8', videoCodec: 'h265', copy: { tick: '5', index: 1 } }],
    [`${SID}_room_1__uid_s_123__uid_e_vp9.mpd`, { type: 'index', mode: 'raw', format: 'mpd', videoCodec: 'vp9', cname: 'room_1' }],
    [`${SID}_room1__uid_s_123__uid_e_20190611073246073_h264.ts`, { type: 'muxed', container: 'ts', startMs: T, videoCodec: 'h264', uid: '123' }],
    [`${SID}_room1__uid_s_123__uid_e_20190611073246073_av1.ts`, { type: 'muxed', videoCodec: 'av1' }],
    [`${SID}_room1__uid_s_123__uid_e_video_3_vp8.webm`, { type: 'segment', stream: 'video', segment: '3', videoCodec: 'vp8', startMs: null }],
    [`${SID}_room1__uid_s_123__uid_e_1_0_vp9.webm`, { type: 'segment', stream: '1', segment: '0', videoCodec: 'vp9', startMs: null }],
    [`${SID}_room1__uid_s_123__uid_e_audio_20190611073246073_vp8.webm`, { type: 'segment', stream: 'audio', startMs: T }],
    [`${SID}_room1__uid_s_123__uid_e_0_h264.mp4`, { type: 'mp4', index: 0, videoCodec: 'h264' }],
    [`${SID}_room1__uid_s_123__uid_e_2.mp4`, { type: 'mp4', index: 2, videoCodec: null }],
  ])('%s', (key, expected) => {
    expect(parsed(key)).toMatchObject({ key, ...expected });
  });

  it('keeps the whole key (directories included) as the key', () => {
    const key = `a/b/c/${SID}_r__uid_s_1__uid_e_audio.m3u8`;
    expect(parsed(key)).toMatchObject({ key, dir: 'a/b/c/' });
  });
});

describe('parseRecordingName: rejections carry a reason', () => {
  it.each([
    ['README', /no file extension/],
    ['notes.txt', /not a recording file \(\.txt\)/],
    ['convert.log', /not a recording file/],
    [`${SID}_room1__uid_s_1__uid_e_audio_20190611073246073.mp4`, /not a recording file \(\.mp4\)/],
    [`${SID}_room1__uid_s_1__uid_e_audio_20190611073246073.TS`, /not a recording file/],
    ['random.m3u8', /no __uid_s_<uid>__uid_e_ part/],
    [`${SID}_room1__uid_s_1.m3u8`, /no __uid_s_<uid>__uid_e_ part/],
    // names of no mode the docs describe
    [`${SID}_room1__uid_s_1__uid_e_opus.m3u8`, /track type "opus"/],
    [`${SID}_room1__uid_s_1__uid_e_audiox.m3u8`, /track type "audiox"/],
    [`${SID}_room1__uid_s_1__uid_e_audio.mpd`, /audio MPD is not a file the recorder writes/],
    [`${SID}_room1__uid_s_1__uid_e_av_20190611073246073.ts`, /"av" names an index/],
    [`${SID}_room1__uid_s_1__uid_e_av_1_2.mpd`, /"av" names an index/],
    [`${SID}_room1__uid_s_1__uid_e_h264_x.m3u8`, /raw-mode index suffix "_x" is not _<tick>_<index>/],
    [`${SID}_room1__uid_s_1__uid_e_20190231120000000_h264.ts`, /raw-mode slice start "20190231120000000" is not a 17-digit UTC/],
    [`${SID}_room1__uid_s_1__uid_e_1_20190611073246073_h264.ts`, /raw-mode slice "1_20190611073246073_h264" is not <utc>_<videocodec>/],
    [`${SID}_room1__uid_s_1__uid_e_video_vp8.webm`, /raw-mode segment "video_vp8" is not <stream>_<segment>_<videocodec>/],
    [`${SID}_room1__uid_s_1__uid_e_x_3_vp8.webm`, /is not <stream>_<segment>_<videocodec>/],
    [`${SID}_room1__uid_s_1__uid_e_20190611073246073_mpeg2.ts`, /track type "20190611073246073_mpeg2"/],
    [`${SID}_room1__uid_s_1__uid_e_1_mpeg2.mp4`, /track type/],
    [`${SID}_room1__uid_s_1__uid_e_x.mp4`, /track type "x"/],
    // uid must be decimal
    [`${SID}_room1__uid_s_12a__uid_e_audio.m3u8`, /uid "12a" is not a decimal number/],
    [`${SID}_room1__uid_s___uid_e_audio.m3u8`, /is not a decimal number/],
    [`${SID}_room1__uid_s_-1__uid_e_audio.m3u8`, /uid "-1"/],
    // sid / cname
    [`room1__uid_s_1__uid_e_audio.m3u8`, /no <sid>_<cname> part/],
    [`${SID}___uid_s_1__uid_e_audio.m3u8`, /no <sid>_<cname> part/],
    [`_room__uid_s_1__uid_e_audio.m3u8`, /no <sid>_<cname> part/],
    [`ab-cd_room__uid_s_1__uid_e_audio.m3u8`, /sid "ab-cd" is not alphanumeric/],
    // slice start time
    [`${SID}_room1__uid_s_1__uid_e_audio.ts`, /slice name has no _<utc> start time/],
    [`${SID}_room1__uid_s_1__uid_e_audio_20190231120000000.ts`, /not a 17-digit UTC time/],
    [`${SID}_room1__uid_s_1__uid_e_audio_2019061107324607.ts`, /not a 17-digit UTC time/],
    [`${SID}_room1__uid_s_1__uid_e_audio_22194679897_3.ts`, /not a 17-digit UTC time/], // slices never get copy suffixes
    // playlist suffix
    [`${SID}_room1__uid_s_1__uid_e_audio_20190611073246073.m3u8`, /is not _<tick>_<index>/],
    [`${SID}_room1__uid_s_1__uid_e_audio_x_1.m3u8`, /is not _<tick>_<index>/],
  ])('%s', (key, reason) => {
    const r = parseRecordingName(key);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(reason);
  });
});
