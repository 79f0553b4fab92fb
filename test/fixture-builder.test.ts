import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { audioRms, beepTimes, cornerLuma, probe, whiteFrameTimes } from './support/measure.js';
import {
  playlistName,
  sliceName,
  utc17,
  writeRecording,
  type FixtureRecording,
  type FixtureVideoRun,
  type WrittenRecording,
  type WrittenSlice,
} from './support/recording-fixture.js';

const execFileAsync = promisify(execFile);

const T0 = Date.UTC(2024, 4, 6, 7, 8, 9, 123);
const SID = '8f3a1c5e9b7d4f2a6c0e1b3d5f7a9c2e';
const CNAME = 'room_42';
const UID = '1234';
const MARKERS = [T0 + 1000, T0 + 3000, T0 + 9500];
const AAC_FRAME_S = 1024 / 48000;

const recording: FixtureRecording = {
  sid: SID,
  cname: CNAME,
  dir: 'directory1/directory2',
  users: [
    {
      uid: UID,
      markers: MARKERS,
      audio: [
        { startMs: T0, durationMs: 6000 },
        { startMs: T0 + 8000, durationMs: 3000, channels: 2 },
      ],
      video: [
        { startMs: T0, durationMs: 6000, width: 160, height: 90, fps: 10 },
        { startMs: T0 + 8000, durationMs: 3000, width: 90, height: 160, fps: 15, codec: 'vp8', rotation: 90 },
      ],
    },
  ],
};

const SLICE_NAME = /^(?:bak\d+_)?(\w+?)_(.+)__uid_s_(\d+)__uid_e_(audio|video)_(\d{17})\.(ts|webm)$/;

function utcToMs(utc: string): number {
  const [, y, mo, d, h, mi, s, ms] = /^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d{3})$/.exec(utc)!.map(Number);
  return Date.UTC(y!, mo! - 1, d!, h!, mi!, s!, ms!);
}

interface PlaylistSlice {
  name: string;
  durationS: number;
  tags: string[];
}

function parsePlaylist(text: string): { header: string[]; slices: PlaylistSlice[]; last: string } {
  const lines = text.trim().split('\n');
  const slices: PlaylistSlice[] = [];
  let tags: string[] = [];
  let durationS = NaN;
  for (const line of lines.slice(5, -1)) {
    if (line.startsWith('#EXTINF:')) durationS = Number(line.slice('#EXTINF:'.length));
    else if (line.startsWith('#')) tags.push(line);
    else {
      slices.push({ name: line, durationS, tags });
      tags = [];
    }
  }
  return { header: lines.slice(0, 5), slices, last: lines.at(-1)! };
}

interface Packet {
  startS: number;
  endS: number;
  key: boolean;
}

async function packets(file: string): Promise<Packet[]> {
  const { stdout } = await execFileAsync('ffprobe', ['-v', 'error', '-show_entries', 'packet=pts_time,duration_time,flags', '-of', 'json', file]);
  const raw = (JSON.parse(stdout) as { packets: { pts_time: string; duration_time: string; flags: string }[] }).packets;
  return raw.map((p) => ({ startS: Number(p.pts_time), endS: Number(p.pts_time) + Number(p.duration_time), key: p.flags.startsWith('K') }));
}

async function decodedFrames(file: string): Promise<number> {
  const { stdout } = await execFileAsync('ffprobe', ['-v', 'quiet', '-select_streams', 'v:0', '-count_frames', '-show_entries', 'stream=nb_read_frames', '-of', 'csv=p=0', file]);
  // A TS stream is listed twice (under its program and on its own).
  return Number(stdout.trim().split('\n')[0]);
}

/**
 * White frames by the ffmpeg CLI, which re-creates its filter graph when the coded size changes;
 * whiteFrameTimes reads through a movie= source, which stops at the first size change.
 */
async function whiteFrameTimesAcrossSizes(file: string): Promise<number[]> {
  const { stdout } = await execFileAsync('ffmpeg', [
    // settb: pts in microseconds (pts_time is printed with 6 significant digits only).
    '-v', 'error', '-copyts', '-i', file, '-vf', 'settb=1/1000000,signalstats,metadata=mode=print:key=lavfi.signalstats.YAVG:file=-', '-f', 'null', '-',
  ], { maxBuffer: 1 << 26 });
  const times: number[] = [];
  let t = NaN;
  let inMarker = false;
  for (const line of stdout.split('\n')) {
    const frame = /pts:(-?\d+)/.exec(line);
    if (frame) t = Number(frame[1]) / 1e6;
    const luma = /YAVG=(\S+)/.exec(line);
    if (!luma) continue;
    const white = Number(luma[1]) > 150;
    if (white && !inMarker) times.push(t);
    inMarker = white;
  }
  return times;
}

interface StreamFacts {
  codec_name: string;
  profile: string;
  has_b_frames: number;
  width: number;
}

async function streamFacts(file: string): Promise<StreamFacts> {
  const { stdout } = await execFileAsync('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'stream=codec_name,profile,has_b_frames,width', '-of', 'json', file]);
  return (JSON.parse(stdout) as { streams: StreamFacts[] }).streams[0]!;
}

/** Decoded frames' coded sizes, presentation times and key flags. */
async function frameSizes(file: string): Promise<{ t: number; width: number; height: number; key: boolean }[]> {
  const { stdout } = await execFileAsync('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'frame=pts_time,width,height,key_frame', '-of', 'json', file], { maxBuffer: 1 << 26 });
  const frames = (JSON.parse(stdout) as { frames: { pts_time: string; width: number; height: number; key_frame: number }[] }).frames;
  return frames.map((f) => ({ t: Number(f.pts_time), width: f.width, height: f.height, key: f.key_frame === 1 }));
}

/** Time from the first packet's timestamp to the end of the last one (container durations are unreliable). */
function spanS(list: Packet[]): number {
  return Math.max(...list.map((p) => p.endS)) - Math.min(...list.map((p) => p.startS));
}

function runSlices(slices: WrittenSlice[], media: 'audio' | 'video', fromMs: number, toMs: number): WrittenSlice[] {
  return slices.filter((s) => s.media === media && s.startMs >= fromMs && s.startMs < toMs);
}

/** TS slices of one stream are byte-concatenable. */
async function concatSlices(slices: WrittenSlice[], file: string): Promise<string> {
  await writeFile(file, Buffer.concat(await Promise.all(slices.map((s) => readFile(s.path)))));
  return file;
}

/** Measured times relative to the first presentation time of the file's stream. */
async function relative(times: Promise<number[]>, file: string, media: 'audio' | 'video'): Promise<number[]> {
  const facts = await probe(file);
  const start = (media === 'audio' ? facts.audio?.startS : facts.video?.startS) ?? NaN;
  return (await times).map((t) => t - start);
}

describe('names', () => {
  it('formats UTC with 17 digits', () => {
    expect(utc17(Date.UTC(2019, 5, 11, 7, 32, 46, 73))).toBe('20190611073246073');
    expect(utc17(Date.UTC(2019, 5, 11, 7, 32, 46, 73) + 0.6)).toBe('20190611073246074');
  });

  it('names playlists and slices like the service, with the backup prefix when asked', () => {
    const rec = { sid: 'sid713476478245', cname: 'cnameagora' };
    expect(sliceName(rec, '123', 'video', utcToMs('20190920125142485'), 'ts')).toBe(
      'sid713476478245_cnameagora__uid_s_123__uid_e_video_20190920125142485.ts',
    );
    expect(playlistName({ ...rec, backup: 0 }, '123', 'audio')).toBe(
      'bak0_sid713476478245_cnameagora__uid_s_123__uid_e_audio.m3u8',
    );
  });
});

describe('writeRecording', () => {
  let root: string;
  let written: WrittenRecording;

  beforeAll(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'fixture-builder-'));
    written = await writeRecording(path.join(root, 'rec'), recording);
  });

  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('lays out files under the key prefix with names that give back each slice start', async () => {
    const dir = path.join(written.root, 'directory1', 'directory2');
    const names = (await readdir(dir)).sort();
    expect(names).toEqual(
      [...written.slices.map((s) => path.basename(s.path)), ...written.playlists.map((p) => path.basename(p))].sort(),
    );
    for (const slice of written.slices) {
      const [, sid, cname, uid, media, utc] = SLICE_NAME.exec(path.basename(slice.key))!;
      expect([sid, cname, uid, media]).toEqual([SID, CNAME, UID, slice.media]);
      expect(utcToMs(utc!)).toBe(slice.startMs);
      expect(slice.key).toBe(`directory1/directory2/${path.basename(slice.path)}`);
    }
    expect(written.slices.filter((s) => s.key.endsWith('.webm')).map((s) => s.startMs)).toEqual([T0 + 8000]);
  });

  it('slices a run back to back from its start, video on 1 s keyframes', () => {
    for (const media of ['audio', 'video'] as const) {
      for (const [from, to, duration] of [[T0, T0 + 8000, 6000], [T0 + 8000, T0 + 11000, 3000]] as const) {
        const slices = runSlices(written.slices, media, from, to);
        expect(slices[0]!.startMs).toBe(from);
        slices.slice(1).forEach((s, i) => expect(s.startMs).toBe(Math.round(slices[i]!.startMs + slices[i]!.durationMs)));
        expect(slices.reduce((sum, s) => sum + s.durationMs, 0)).toBeCloseTo(duration, 3);
      }
    }
    expect(runSlices(written.slices, 'video', T0, T0 + 8000).map((s) => s.durationMs)).toEqual([4000, 2000]);
  });

  it('writes service-style playlists', async () => {
    for (const media of ['audio', 'video'] as const) {
      const file = path.join(written.root, recording.dir!, playlistName(recording, UID, media));
      expect(written.playlists).toContain(file);
      const text = await readFile(file, 'utf8');
      const { header, slices, last } = parsePlaylist(text);
      const mine = written.slices.filter((s) => s.media === media);
      const target = Math.ceil(Math.max(...mine.map((s) => s.durationMs / 1000)));
      expect(header).toEqual(['#EXTM3U', '#EXT-X-VERSION:3', '#EXT-X-MEDIA-SEQUENCE:0', '#EXT-X-ALLOW-CACHE:YES', `#EXT-X-TARGETDURATION:${target}`]);
      expect(last).toBe('#EXT-X-ENDLIST');
      expect(text).toMatch(/^#EXTINF:\d+\.\d{6}$/m);
      expect(text).not.toMatch(/^#EXTINF:.*,/m);
      expect(slices.map((s) => s.name)).toEqual(mine.map((s) => path.basename(s.key)));
      slices.forEach((s, i) => expect(s.durationS).toBeCloseTo(mine[i]!.durationMs / 1000, 6));

      const runStarts = slices.filter((s) => s.tags.length > 0);
      expect(runStarts.map((s) => s.tags[0])).toEqual(['#EXT-X-DISCONTINUITY', '#EXT-X-DISCONTINUITY']);
      const event = (t: number): string => `#EXT-X-AGORA-TRACK-EVENT:EVENT=START,TRACK_TYPE=${media.toUpperCase()},TIME=${utc17(t)}`;
      if (media === 'audio') {
        expect(runStarts.map((s) => s.tags.slice(1))).toEqual([[event(T0)], [event(T0 + 8000)]]);
      } else {
        expect(runStarts.map((s) => s.tags.slice(1))).toEqual([
          [`#EXT-X-AGORA-ROTATE:WIDTH=160,HEIGHT=90,ROTATE=0,TIME=${utc17(T0)}`, event(T0)],
          [`#EXT-X-AGORA-ROTATE:WIDTH=90,HEIGHT=160,ROTATE=90,TIME=${utc17(T0 + 8000)}`, event(T0 + 8000)],
        ]);
      }
    }
  });

  it('writes real media whose length matches EXTINF', async () => {
    for (const slice of written.slices) {
      const facts = await probe(slice.path);
      const list = await packets(slice.path);
      if (slice.media === 'video') {
        const fps = slice.key.endsWith('.webm') ? 15 : 10;
        expect(facts.video).toMatchObject({ codec: slice.key.endsWith('.webm') ? 'vp8' : 'h264', avgFps: fps });
        expect(facts.video!.frames / fps).toBeCloseTo(slice.durationMs / 1000, 6);
        expect(Math.abs(spanS(list) - slice.durationMs / 1000)).toBeLessThan(1 / fps);
        expect(list.map((p, i) => p.key === (i % fps === 0))).not.toContain(false);
      } else {
        expect(facts.audio).toMatchObject({ codec: 'aac', sampleRate: 48000 });
        expect(Math.abs(spanS(list) - slice.durationMs / 1000)).toBeLessThan(AAC_FRAME_S);
      }
    }
  });

  it('puts the white frame and the beep of each marker at the same instant of a run', async () => {
    const video = await concatSlices(runSlices(written.slices, 'video', T0, T0 + 8000), path.join(root, 'video.ts'));
    const audio = await concatSlices(runSlices(written.slices, 'audio', T0, T0 + 8000), path.join(root, 'audio.ts'));
    const whites = await relative(whiteFrameTimes(video), video, 'video');
    const beeps = await relative(beepTimes(audio), audio, 'audio');
    expect(whites).toHaveLength(2);
    expect(beeps).toHaveLength(2);
    [1, 3].forEach((t, i) => {
      expect(Math.abs(whites[i]! - t)).toBeLessThan(1e-3);
      expect(Math.abs(beeps[i]! - t)).toBeLessThan(2 / 48000);
    });
  });

  it('draws markers inside a restarted run, rounding white frames to the nearest frame', async () => {
    const [video] = runSlices(written.slices, 'video', T0 + 8000, T0 + 11000);
    const [audio] = runSlices(written.slices, 'audio', T0 + 8000, T0 + 11000);
    const whites = await relative(whiteFrameTimes(video!.path), video!.path, 'video');
    const beeps = await relative(beepTimes(audio!.path), audio!.path, 'audio');
    expect(whites).toHaveLength(1);
    expect(Math.abs(whites[0]! - 1.5)).toBeLessThanOrEqual(0.5 / 15 + 1e-3);
    expect(beeps).toHaveLength(1);
    expect(Math.abs(beeps[0]! - 1.5)).toBeLessThan(2 / 48000);
    expect((await probe(audio!.path)).audio!.channels).toBe(2);
  });

  it('carries the quiet presence tone between beeps', async () => {
    const [slice] = runSlices(written.slices, 'audio', T0, T0 + 1);
    const start = (await probe(slice!.path)).audio!.startS;
    expect(await audioRms(slice!.path, start + 1.5, start + 2.5)).toBeCloseTo(-30, 0);
    expect(await audioRms(slice!.path, start + 1, start + 1.06)).toBeGreaterThan(-12);
  });

  it('keeps the upright square top-left, and turns rotated runs anticlockwise', async () => {
    const [upright] = runSlices(written.slices, 'video', T0, T0 + 1);
    const [rotated] = runSlices(written.slices, 'video', T0 + 8000, T0 + 8001);
    const at = async (s: WrittenSlice) => cornerLuma(s.path, (await probe(s.path)).video!.startS + 0.5);
    const up = await at(upright!);
    expect(up.topLeft).toBeGreaterThan(200);
    expect(Math.max(up.topRight, up.bottomLeft, up.bottomRight)).toBeLessThan(70);
    const turned = await at(rotated!);
    expect((await probe(rotated!.path)).video).toMatchObject({ width: 90, height: 160 });
    expect(turned.bottomLeft).toBeGreaterThan(200);
    expect(Math.max(turned.topLeft, turned.topRight, turned.bottomRight)).toBeLessThan(70);
  });

  it('measures presentation times through MP4 edit lists', async () => {
    const [video] = runSlices(written.slices, 'video', T0, T0 + 1);
    const [audio] = runSlices(written.slices, 'audio', T0, T0 + 1);
    const mp4 = path.join(root, 'late.mp4');
    // Video 1 s late and audio 0.5 s late: the muxer expresses both delays as empty edits.
    await execFileAsync('ffmpeg', [
      '-v', 'error', '-itsoffset', '1', '-i', video!.path, '-itsoffset', '0.5', '-i', audio!.path,
      '-map', '0:v', '-map', '1:a', '-c', 'copy', mp4,
    ]);
    const facts = await probe(mp4);
    expect(facts.video!.startS).toBeCloseTo(1, 3);
    expect(await whiteFrameTimes(mp4)).toEqual([2, 4].map((t) => expect.closeTo(t, 3)));
    expect((await beepTimes(mp4)).map((t) => t - facts.audio!.startS)).toEqual([1, 3].map((t) => expect.closeTo(t, 3)));
  });
});

describe('determinism', () => {
  it('writes the same bytes for the same input', async () => {
    const root = await mkdtemp(path.join(tmpdir(), 'fixture-determinism-'));
    try {
      const small: FixtureRecording = {
        sid: SID,
        cname: CNAME,
        backup: 1,
        tagOrder: 'event-first',
        jitterMs: 15,
        extinf: 'recorder',
        users: [
          {
            uid: '7',
            markers: [T0 + 500],
            audio: [{ startMs: T0, durationMs: 1000 }],
            video: [
              { startMs: T0, durationMs: 1000, width: 64, height: 36, fps: 10 },
              { startMs: T0 + 2000, durationMs: 1000, width: 64, height: 36, fps: 10, codec: 'vp8', resizes: [{ atMs: T0 + 2500, width: 32, height: 18 }] },
              { startMs: T0 + 4000, durationMs: 1000, width: 64, height: 36, fps: 10, codec: 'hevc', bframes: 2, startsMidGop: 3, forceCutsMs: [450] },
            ],
          },
        ],
      };
      const digests = async (dir: string): Promise<Record<string, string>> => {
        const out = await writeRecording(dir, small);
        const files = [...out.playlists, ...out.slices.map((s) => s.path)];
        const entries = await Promise.all(
          files.map(async (f) => [path.basename(f), createHash('sha256').update(await readFile(f)).digest('hex')]),
        );
        return Object.fromEntries(entries);
      };
      const first = await digests(path.join(root, 'a'));
      expect(Object.keys(first).every((name) => name.startsWith(`bak1_${SID}_`))).toBe(true);
      expect(await digests(path.join(root, 'b'))).toEqual(first);
      const video = await readFile(path.join(root, 'a', playlistName(small, '7', 'video')), 'utf8');
      expect(video).toContain(`#EXT-X-DISCONTINUITY\n#EXT-X-AGORA-TRACK-EVENT:EVENT=START,TRACK_TYPE=VIDEO,TIME=${utc17(T0)}\n#EXT-X-AGORA-ROTATE:`);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});

describe('recorder-like recordings', () => {
  const JITTER_MS = 15;
  /** H.264 High with B-frames at 30 fps, started 7 frames into a GOP, force-cut at 4.5 s (mid-GOP). */
  const bframes: FixtureVideoRun = { startMs: T0, durationMs: 9000, width: 160, height: 90, fps: 30, profile: 'high', bframes: 2, sliceMs: 3000, forceCutsMs: [4500], startsMidGop: 7 };
  const rec: FixtureRecording = {
    sid: SID,
    cname: CNAME,
    jitterMs: JITTER_MS,
    extinf: 'recorder',
    users: [
      {
        uid: '1',
        // T0+500 lies in the undecodable lead of the video (its first keyframe is frame 23, 767 ms).
        markers: [T0 + 500, T0 + 2500, T0 + 5200, T0 + 8000],
        audio: [{ startMs: T0, durationMs: 9000, sliceMs: 3000 }],
        video: [bframes],
      },
      {
        uid: '2',
        markers: [T0 + 1000, T0 + 3000, T0 + 5000],
        video: [{ startMs: T0, durationMs: 6000, width: 160, height: 90, fps: 15, codec: 'vp8', sliceMs: 4000, resizes: [{ atMs: T0 + 2000, width: 96, height: 54 }] }],
      },
      {
        uid: '3',
        markers: [T0 + 1000, T0 + 3500],
        video: [{ startMs: T0, durationMs: 4000, width: 160, height: 90, fps: 15, codec: 'hevc', rotateTag: 'inside', rotations: [{ atMs: T0 + 1500, rotation: 90 }, { atMs: T0 + 2500, rotation: 180 }] }],
      },
      {
        uid: '4',
        // T0+1700 falls in the loss burst.
        markers: [T0 + 1000, T0 + 1700, T0 + 3000],
        video: [{ startMs: T0, durationMs: 4000, width: 160, height: 90, fps: 15, gopFrames: 10, dropFrames: [{ fromMs: T0 + 1400, toMs: T0 + 1900 }] }],
      },
    ],
  };
  let root: string;
  let written: WrittenRecording;
  const of = (uid: string, media: 'audio' | 'video') => written.slices.filter((s) => s.uid === uid && s.media === media);

  beforeAll(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'fixture-recorder-'));
    written = await writeRecording(path.join(root, 'rec'), rec);
  });

  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('jitters slice names around the media they hold, within the bound', async () => {
    const offsets: number[] = [];
    for (const uid of ['1', '2', '3', '4']) {
      for (const media of ['audio', 'video'] as const) {
        const slices = of(uid, media);
        for (const [i, slice] of slices.entries()) {
          expect(utcToMs(SLICE_NAME.exec(path.basename(slice.key))![5]!)).toBe(slice.nameStartMs);
          // The builder reads TS timestamps itself: they are what ffprobe reports.
          expect((await probe(slice.path))[media]!.startS).toBeCloseTo(slice.mediaStartS, 5);
          if (media === 'video') expect((await packets(slice.path))[0]!.key).toBe(slice.startsOnKeyframe);
          offsets.push(slice.nameStartMs - Math.round(slice.wallStartMs));
          // The wall clock a slice holds follows its media: start_time differences between slices of a run.
          if (i > 0) expect(slice.wallStartMs - slices[0]!.wallStartMs).toBeCloseTo((slice.mediaStartS - slices[0]!.mediaStartS) * 1000, 0);
        }
      }
    }
    expect(Math.max(...offsets.map(Math.abs))).toBeLessThanOrEqual(JITTER_MS);
    expect(new Set(offsets).size).toBeGreaterThan(5);
  });

  it('announces EXTINF like the service: rounded, audio nominal, video a few ms off the media', async () => {
    for (const media of ['audio', 'video'] as const) {
      const text = await readFile(path.join(written.root, playlistName(rec, '1', media)), 'utf8');
      expect(text).toMatch(/^#EXTINF:\d+\.\d{3}$/m);
      expect(text).not.toMatch(/^#EXTINF:.*,/m);
      expect(text).not.toMatch(/^#EXTINF:\d+\.\d{4}/m);
    }
    const audio = of('1', 'audio');
    const audioErrors: number[] = [];
    for (const [i, slice] of audio.entries()) {
      const real = spanS(await packets(slice.path));
      if (i < audio.length - 1) {
        expect(slice.extinfS).toBe(3);
        audioErrors.push(Math.abs(real - 3));
      } else {
        // A run's last slice: its length rounded (the encoder pads the last AAC frame).
        expect(slice.extinfS).toBeCloseTo(slice.durationMs / 1000, 3);
        expect(Math.abs(real - slice.extinfS)).toBeLessThan(AAC_FRAME_S);
      }
    }
    expect(Math.max(...audioErrors)).toBeGreaterThan(0.005);
    const videoErrors: number[] = [];
    for (const slice of ['1', '2', '3', '4'].flatMap((uid) => of(uid, 'video'))) {
      const list = await packets(slice.path);
      const fps = slice.key.includes('uid_s_1_') ? 30 : 15;
      // Frame slots from the earliest to the latest frame (dropped frames leave their slots).
      const real = Math.max(...list.map((p) => p.startS)) - Math.min(...list.map((p) => p.startS)) + 1 / fps;
      videoErrors.push(Math.round((slice.extinfS - real) * 1000));
    }
    expect(Math.max(...videoErrors.map(Math.abs))).toBeLessThanOrEqual(4 + 1);
    expect(videoErrors.filter((e) => e !== 0).length).toBeGreaterThan(2);
  });

  it('force-cuts H.264 mid-GOP, and its contiguous TS slices concatenate into a stream that decodes cleanly', async () => {
    const slices = of('1', 'video');
    const starts = await Promise.all(slices.map(async (s) => (await packets(s.path))[0]!.key));
    expect(starts).toEqual(slices.map((s) => s.startsOnKeyframe));
    // Lead (mid-GOP start), keyframe cut after 3 s, force cut at 4.5 s, keyframe cut after 3 s.
    expect(starts).toEqual([false, true, false, true]);
    // The force-cut slice holds the frames from 4.5 s on; with B-frames its first packet is a P-frame
    // presented up to 2 frames later (its name follows that first packet, the one start_time reports).
    const forced = await packets(slices[2]!.path);
    const earliest = Math.min(...forced.map((p) => p.startS));
    expect(slices[2]!.wallStartMs + (earliest - slices[2]!.mediaStartS) * 1000 - T0).toBeCloseTo(4500, 0);
    expect(slices[2]!.wallStartMs - T0).toBeGreaterThanOrEqual(4500);
    expect(slices[2]!.wallStartMs - T0).toBeLessThan(4500 + 3000 / 30);
    const whole = await concatSlices(slices.slice(1), path.join(root, 'forced.ts'));
    const { stderr } = await execFileAsync('ffmpeg', ['-v', 'warning', '-i', whole, '-f', 'null', '-']);
    expect(stderr).toBe('');
    const frames = (await Promise.all(slices.slice(1).map(async (s) => (await packets(s.path)).length))).reduce((a, b) => a + b);
    expect(await decodedFrames(whole)).toBe(frames);
  });

  it('starts a mid-GOP recording without its I-frame: the lead does not decode', async () => {
    const [first] = of('1', 'video');
    const list = await packets(first!.path);
    const firstKey = list.findIndex((p) => p.key);
    expect(firstKey).toBeGreaterThan(0);
    expect(await decodedFrames(first!.path)).toBeLessThan(list.length);
    expect(written.truth.find((t) => t.uid === '1' && t.markerMs === T0 + 500)).toMatchObject({ videoMs: null, audioMs: expect.any(Number) });
  });

  it('writes B-frames (High profile), HEVC, and VP8 that changes its coded size inside a slice', async () => {
    const [h264] = of('1', 'video');
    const stream = await streamFacts(h264!.path);
    expect(stream).toMatchObject({ codec_name: 'h264', profile: 'High' });
    expect(stream.has_b_frames).toBeGreaterThan(0);
    const { stdout } = await execFileAsync('ffprobe', ['-v', 'error', '-show_entries', 'packet=pts,dts', '-of', 'csv=p=0', h264!.path]);
    expect(stdout.trim().split('\n').some((line) => line.split(',')[0] !== line.split(',')[1])).toBe(true);

    expect((await streamFacts(of('3', 'video')[0]!.path)).codec_name).toBe('hevc');

    const vp8 = of('2', 'video');
    expect(vp8.map((s) => s.wallStartMs - T0)).toEqual([0, 4000]);
    const sizes = await frameSizes(vp8[0]!.path);
    expect([...new Set(sizes.map((f) => `${f.width}x${f.height}`))]).toEqual(['160x90', '96x54']);
    const change = sizes.find((f) => f.width === 96)!;
    expect(change.t - vp8[0]!.mediaStartS).toBeCloseTo(2, 2);
    expect(change.key).toBe(true);
  });

  it('turns the picture mid-slice and says so with ROTATE tags carrying the instant', async () => {
    const text = await readFile(path.join(written.root, playlistName(rec, '3', 'video')), 'utf8');
    const [slice] = of('3', 'video');
    expect(of('3', 'video')).toHaveLength(1);
    expect(text).toContain(
      [
        `#EXT-X-AGORA-ROTATE:WIDTH=160,HEIGHT=90,ROTATE=0,TIME=${utc17(T0)}`,
        `#EXT-X-AGORA-TRACK-EVENT:EVENT=START,TRACK_TYPE=VIDEO,TIME=${utc17(T0)}`,
        `#EXT-X-AGORA-ROTATE:WIDTH=160,HEIGHT=90,ROTATE=90,TIME=${utc17(T0 + 1500)}`,
        `#EXT-X-AGORA-ROTATE:WIDTH=160,HEIGHT=90,ROTATE=180,TIME=${utc17(T0 + 2500)}`,
        '#EXTINF:',
      ].join('\n'),
    );
    const at = (s: number) => cornerLuma(slice!.path, slice!.mediaStartS + s);
    // The square is a sixth of the upright width: 15 px of the 90 px portrait picture, in 20x11 px corners.
    const bright = (c: Record<string, number>) => Object.entries(c).filter(([, y]) => y > 150).map(([k]) => k);
    expect(bright(await at(1.2))).toEqual(['topLeft']);
    expect(bright(await at(2.2))).toEqual(['bottomLeft']);
    expect(bright(await at(3.2))).toEqual(['bottomRight']);
    expect((await streamFacts(slice!.path)).width).toBe(160);
  });

  it('leaves the frames of a loss burst out, the others on their timestamps; keyframes every gopFrames', async () => {
    const [slice] = of('4', 'video');
    const list = await packets(slice!.path);
    const rel = list.map((p) => Math.round((p.startS - slice!.mediaStartS) * 15));
    // 15 fps: frames 21..28 (1400..1866 ms) are gone.
    expect(rel).toEqual([...Array(60).keys()].filter((i) => i < 21 || i > 28));
    // gopFrames: 10 -> a keyframe every 10 frames.
    expect(list.filter((p) => p.key).map((p) => Math.round((p.startS - slice!.mediaStartS) * 15))).toEqual([0, 10, 20, 30, 40, 50]);
    expect(written.truth.filter((t) => t.uid === '4').map((t) => t.videoMs === null)).toEqual([false, true, false]);
  });

  it('gives each marker the instant its frame and beep carry in the slice files', async () => {
    const measured = { audio: [] as { uid: string; ms: number }[], video: [] as { uid: string; ms: number }[] };
    for (const slice of written.slices) {
      const resized = slice.key.endsWith('.webm') && new Set((await frameSizes(slice.path)).map((f) => f.width)).size > 1;
      const times = slice.media === 'audio' ? await beepTimes(slice.path) : resized ? await whiteFrameTimesAcrossSizes(slice.path) : await whiteFrameTimes(slice.path);
      for (const t of times) measured[slice.media].push({ uid: slice.uid, ms: slice.nameStartMs + (t - slice.mediaStartS) * 1000 });
    }
    expect(written.truth).toHaveLength(12);
    for (const media of ['audio', 'video'] as const) {
      const expected = written.truth
        .map((t) => ({ uid: t.uid, ms: media === 'audio' ? t.audioMs : t.videoMs }))
        .filter((t): t is { uid: string; ms: number } => t.ms !== null);
      const found = [...measured[media]].sort((a, b) => a.uid.localeCompare(b.uid) || a.ms - b.ms);
      expect(found.map((f) => f.uid)).toEqual(expected.map((e) => e.uid));
      found.forEach((f, i) => expect(Math.abs(f.ms - expected[i]!.ms), `${media} ${JSON.stringify(f)}`).toBeLessThan(media === 'audio' ? 0.05 : 0.01));
    }
    // And the truth sits where the marker was authored, give or take the name's jitter and the frame grid.
    for (const t of written.truth) {
      if (t.videoMs !== null) expect(Math.abs(t.videoMs - t.markerMs)).toBeLessThanOrEqual(JITTER_MS + 1000 / 30 / 2 + 1);
      if (t.audioMs !== null) expect(Math.abs(t.audioMs - t.markerMs)).toBeLessThanOrEqual(JITTER_MS + 1);
    }
  });
});
