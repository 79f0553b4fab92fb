// ADTS frames out of MPEG-TS: hand-built headers for the splitter, real ffmpeg-made TS for the demuxer.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveTool } from '../src/ffmpeg/runner.js';
import { SAMPLE_RATES, sameConfig, samplesInFrame, splitAdts, tsAudioPayload, TsError } from '../src/media/adts.js';

interface Header {
  objectType?: number;
  sampleRateIndex?: number;
  channelConfig?: number;
  rawBlocks?: number;
  crc?: boolean;
  mpeg2?: boolean;
}
/** One ADTS frame of `length` bytes (header included), payload bytes 0x00. */
function frame(length: number, h: Header = {}): Buffer {
  const { objectType = 2, sampleRateIndex = 3, channelConfig = 1, rawBlocks = 0, crc = false, mpeg2 = false } = h;
  const b = Buffer.alloc(length);
  b[0] = 0xff;
  b[1] = 0xf0 | (mpeg2 ? 0x08 : 0) | (crc ? 0 : 1);
  b[2] = ((objectType - 1) << 6) | (sampleRateIndex << 2) | (channelConfig >> 2);
  b[3] = ((channelConfig & 3) << 6) | ((length >> 11) & 3);
  b[4] = (length >> 3) & 0xff;
  b[5] = ((length & 7) << 5) | 0x1f;
  b[6] = 0xfc | (rawBlocks & 3);
  return b;
}
const lengths = (r: ReturnType<typeof splitAdts>) => r.frames.map((f) => f.length);
const junk = (n: number) => Buffer.alloc(n, 0x5a);

describe('splitAdts', () => {
  it('splits frames by their 13-bit length and reads the first header', () => {
    const r = splitAdts(Buffer.concat([frame(7), frame(200), frame(8191), frame(371)]));
    expect(lengths(r)).toEqual([7, 200, 8191, 371]);
    expect(r.config).toEqual({ objectType: 2, sampleRateIndex: 3, channelConfig: 1 });
    expect(r.junkBytes).toBe(0);
  });

  it.each<[string, Header, { objectType: number; sampleRateIndex: number; channelConfig: number }]>([
    ['AAC-LC 48 kHz mono', {}, { objectType: 2, sampleRateIndex: 3, channelConfig: 1 }],
    ['stereo 44.1 kHz', { sampleRateIndex: 4, channelConfig: 2 }, { objectType: 2, sampleRateIndex: 4, channelConfig: 2 }],
    ['7.1 (channel bits split across bytes)', { channelConfig: 7 }, { objectType: 2, sampleRateIndex: 3, channelConfig: 7 }],
    ['AAC Main, MPEG-2 id, with CRC', { objectType: 1, mpeg2: true, crc: true }, { objectType: 1, sampleRateIndex: 3, channelConfig: 1 }],
  ])('header fields: %s', (_what, h, config) => {
    const r = splitAdts(Buffer.concat([frame(100, h), frame(100, h)]));
    expect(r.config).toEqual(config);
    expect(r.frames).toHaveLength(2);
  });

  it.each<[string, Buffer, number[], number]>([
    ['junk before the first frame is skipped', Buffer.concat([junk(5), frame(50), frame(60)]), [50, 60], 5],
    ['junk between frames is skipped', Buffer.concat([frame(50), junk(9), frame(60)]), [50, 60], 9],
    ['a lone 0xFF that is not a sync word', Buffer.concat([Buffer.from([0xff, 0x00]), frame(50)]), [50], 2],
    ['fewer than 7 bytes at the end', Buffer.concat([frame(50), junk(3)]), [50], 3],
    ['nothing at all', Buffer.alloc(0), [], 0],
    ['only junk', junk(40), [], 40],
  ])('%s', (_what, data, expected, junkBytes) => {
    const r = splitAdts(data);
    expect(lengths(r)).toEqual(expected);
    expect(r.junkBytes).toBe(junkBytes);
  });

  it('a truncated last frame is not returned', () => {
    const r = splitAdts(Buffer.concat([frame(50), frame(100).subarray(0, 20)]));
    expect(lengths(r)).toEqual([50]);
    expect(r.junkBytes).toBeGreaterThan(0);
  });

  it('a truncated last frame counts its bytes as junk once', () => {
    const r = splitAdts(Buffer.concat([frame(50), frame(100).subarray(0, 20)]));
    expect(r.junkBytes).toBe(20);
  });

  it('a false sync word with an impossible length is skipped, the frames after it are kept', () => {
    const bogus = frame(7);
    bogus[4] = 0;
    bogus[5] = 0x1f; // length 0
    const r = splitAdts(Buffer.concat([frame(50), bogus.subarray(0, 7), frame(60), frame(70)]));
    expect(lengths(r)).toEqual([50, 60, 70]);
  });

  it('frames carry 1024 samples per raw data block', () => {
    expect([0, 1, 3].map((rawBlocks) => samplesInFrame(frame(20, { rawBlocks })))).toEqual([1024, 2048, 4096]);
  });

  it('sameConfig compares object type, rate and channels', () => {
    const c = { objectType: 2, sampleRateIndex: 3, channelConfig: 1 };
    expect(sameConfig(c, { ...c })).toBe(true);
    expect(sameConfig(c, { ...c, channelConfig: 2 })).toBe(false);
    expect(sameConfig(c, { ...c, sampleRateIndex: 4 })).toBe(false);
    expect(sameConfig(c, { ...c, objectType: 5 })).toBe(false);
    expect(SAMPLE_RATES[3]).toBe(48000);
  });
});

describe('tsAudioPayload (TS made by ffmpeg)', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'recmerge-adts-'));
  const files = { audio: path.join(dir, 'a.ts'), av: path.join(dir, 'av.ts'), video: path.join(dir, 'v.ts') };
  let packets = 0;

  const ffmpeg = (args: string[]) => {
    const r = spawnSync(resolveTool('ffmpeg'), ['-v', 'error', '-y', ...args]);
    if (r.status !== 0) throw new Error(`ffmpeg ${args.join(' ')}: ${String(r.stderr)}`);
  };
  beforeAll(() => {
    ffmpeg(['-f', 'lavfi', '-i', 'sine=d=1:r=48000', '-c:a', 'aac', '-f', 'mpegts', files.audio]);
    ffmpeg(['-f', 'lavfi', '-i', 'testsrc=d=1:s=64x64:r=15', '-f', 'lavfi', '-i', 'sine=d=1:r=48000', '-c:v', 'mpeg2video', '-c:a', 'aac', '-ac', '2', '-f', 'mpegts', files.av]);
    ffmpeg(['-f', 'lavfi', '-i', 'testsrc=d=0.5:s=64x64:r=15', '-c:v', 'mpeg2video', '-f', 'mpegts', files.video]);
    const probe = spawnSync(resolveTool('ffprobe'), ['-v', 'error', '-count_packets', '-select_streams', 'a:0', '-show_entries', 'stream=nb_read_packets', '-of', 'csv=p=0', files.audio]);
    packets = Number(String(probe.stdout).trim().split(/\s+/)[0]);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('1 s of 48 kHz AAC gives about 47 frames, the same count ffprobe reads, no junk', () => {
    const r = splitAdts(tsAudioPayload(readFileSync(files.audio)));
    expect(r.frames.length).toBe(packets);
    expect(r.frames.length).toBeGreaterThanOrEqual(47);
    expect(r.frames.length).toBeLessThanOrEqual(49);
    expect(r.junkBytes).toBe(0);
    expect(r.config).toEqual({ objectType: 2, sampleRateIndex: 3, channelConfig: 1 });
  });

  it('finds the audio stream next to a video stream', () => {
    const r = splitAdts(tsAudioPayload(readFileSync(files.av)));
    expect(r.frames.length).toBeGreaterThanOrEqual(47);
    expect(r.config?.channelConfig).toBe(2);
    expect(r.junkBytes).toBe(0);
  });

  it('a TS cut in the middle gives fewer whole frames, without throwing', () => {
    const full = readFileSync(files.audio);
    const half = full.subarray(0, Math.floor(full.length / 2));
    const r = splitAdts(tsAudioPayload(half));
    expect(r.frames.length).toBeGreaterThan(5);
    expect(r.frames.length).toBeLessThan(packets);
  });

  it('leading garbage before the first sync byte is skipped', () => {
    const r = splitAdts(tsAudioPayload(Buffer.concat([Buffer.from('garbage!'), readFileSync(files.audio)])));
    expect(r.frames.length).toBe(packets);
  });

  it.each([
    ['a TS without audio', () => readFileSync(files.video), /no ADTS AAC audio stream/],
    ['not a TS at all', () => Buffer.from('not a transport stream'), /no MPEG-TS program table/],
    ['empty', () => Buffer.alloc(0), /no MPEG-TS program table/],
  ])('%s -> TsError', (_what, data, message) => {
    expect(() => tsAudioPayload(data())).toThrow(TsError);
    expect(() => tsAudioPayload(data())).toThrow(message);
  });
});
