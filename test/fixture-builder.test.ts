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
        users: [
          {
            uid: '7',
            markers: [T0 + 500],
            audio: [{ startMs: T0, durationMs: 1000 }],
            video: [
              { startMs: T0, durationMs: 1000, width: 64, height: 36, fps: 10 },
              { startMs: T0 + 2000, durationMs: 1000, width: 64, height: 36, fps: 10, codec: 'vp8' },
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
