// The composite, measured with markers in real media: each flash inside its user's tile (from the layout
// sidecar) at the right output time and nowhere else, every beep in the mix, layout changes at the right
// instants, rotated and 4:3 pictures fitted, gaps filled per --gaps, broken users left out.
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { composeRecordings } from '../src/api.js';
import type { ComposeSummary } from '../src/options.js';
import { audioRms, beepTimes, probe, regionLumaTimeline } from './support/measure.js';
import { onsets, tileLuma, type LayoutFile } from './support/tiles.js';
import { playlistName, writeRecording, type FixtureUser } from './support/recording-fixture.js';
import { T0, tempDir } from './support/sync.js';
import { expectOutputsDecodeClean } from './support/decode-clean.js';

const FPS = 15;
const FRAME_S = 1 / FPS + 0.002;
const SID = 'c0ffee00c0ffee00c0ffee00c0ffee00';
const CNAME = 'all_hands';
const small = { width: 160, height: 90, fps: FPS };

// 1001: all along; its camera pauses 500 ms at 4.0 s (a gap inside its presence).
// 2002: camera 1-3 s (rotated phone), off 3-5 s while its audio goes on, back 5-8 s.
// 3003: a 4:3 camera, joins at 4 s, leaves at 5.5 s, rejoins at 7 s.
// 4004: its video playlist is garbage: left out of the picture, with a warning naming the playlist.
const users: FixtureUser[] = [
  {
    uid: '1001',
    markers: [T0 + 1500, T0 + 5500],
    audio: [{ startMs: T0, durationMs: 8000 }],
    video: [{ startMs: T0, durationMs: 4000, ...small }, { startMs: T0 + 4500, durationMs: 3500, ...small }],
  },
  {
    uid: '2002',
    markers: [T0 + 2500, T0 + 6500],
    audio: [{ startMs: T0 + 1000, durationMs: 7000 }],
    video: [{ startMs: T0 + 1000, durationMs: 2000, ...small, rotation: 90 }, { startMs: T0 + 5000, durationMs: 3000, ...small }],
  },
  {
    uid: '3003',
    markers: [T0 + 4500, T0 + 7500],
    audio: [{ startMs: T0 + 4000, durationMs: 1500 }, { startMs: T0 + 7000, durationMs: 1000 }],
    video: [{ startMs: T0 + 4000, durationMs: 1500, width: 160, height: 120, fps: FPS }, { startMs: T0 + 7000, durationMs: 1000, width: 160, height: 120, fps: FPS }],
  },
  { uid: '4004', audio: [{ startMs: T0 + 2000, durationMs: 2000 }], video: [{ startMs: T0 + 2000, durationMs: 2000, ...small }] },
];
const expectedLayout: [number, number, string][] = [
  [0, 1000, '1001'],
  [1000, 3000, '1001,2002'],
  [3000, 4000, '1001'],
  [4000, 5000, '1001,3003'],
  [5000, 5500, '1001,2002,3003'],
  [5500, 7000, '1001,2002'],
  [7000, 8000, '1001,2002,3003'],
];


describe('compose', () => {
  let root: string;
  let summary: ComposeSummary;
  let layout: LayoutFile;

  beforeAll(async () => {
    root = await tempDir('compose');
    await writeRecording(root, { sid: SID, cname: CNAME, users });
    await writeFile(path.join(root, playlistName({ sid: SID, cname: CNAME }, '4004', 'video')), 'this is not a playlist\n');
    summary = await composeRecordings({ source: root, outDir: `${root}-out`, size: { width: 640, height: 360 } });
    await expectOutputsDecodeClean(summary);
    const file = summary.results[0]?.layoutFile;
    if (file) layout = JSON.parse(await readFile(file, 'utf8')) as LayoutFile;
  });

  it('writes one MP4 per session with its layout sidecar, and names the user it left out', async () => {
    expect(summary.results).toHaveLength(1);
    const r = summary.results[0]!;
    expect(r.error).toBeNull();
    expect(path.basename(r.file!)).toBe(`${SID}_${CNAME}__composite.mp4`);
    expect(r.layoutFile).toBe(`${r.file}.layout.json`);
    expect(r.uids).toEqual(['1001', '2002', '3003']);
    expect(r.warnings.join('\n')).toMatch(new RegExp(`uid 4004 is left out: .*${playlistName({ sid: SID, cname: CNAME }, '4004', 'video')}`));
    expect(summary.ok).toBe(false);
    const info = await probe(r.file!);
    expect(info.video).toMatchObject({ codec: 'h264', width: 640, height: 360 });
    expect(info.video!.avgFps).toBeCloseTo(FPS, 1);
    expect(info.audio).toMatchObject({ codec: 'aac', channels: 2, sampleRate: 48000 });
    expect(info.durationS).toBeCloseTo(8, 1);
  });

  it('lays out who is present, re-flowing at joins, leaves, rejoins and camera-off, in join order', () => {
    expect(layout).toMatchObject({ width: 640, height: 360, fps: FPS, originUtc: '20240506070809123' });
    // Boundaries on output frames: within one frame of the instant.
    expect(layout.intervals.map((i) => i.tiles.map((t) => t.uid).join(','))).toEqual(expectedLayout.map((e) => e[2]));
    layout.intervals.forEach((iv, k) => {
      expect(Math.abs(iv.startMs - expectedLayout[k]![0])).toBeLessThanOrEqual(1000 / FPS);
      expect(Math.abs(iv.endMs - expectedLayout[k]![1])).toBeLessThanOrEqual(1000 / FPS);
      if (k > 0) expect(iv.startMs).toBe(layout.intervals[k - 1]!.endMs);
    });
    expect(layout.intervals[0]!.startMs).toBe(0);
    expect(layout.intervals.at(-1)!.endMs).toBe(8000);
    // Tiles stay inside the canvas and never overlap.
    for (const iv of layout.intervals) {
      for (const [i, a] of iv.tiles.entries()) {
        expect(a.sid).toBe(SID);
        expect(a.x >= 0 && a.y >= 0 && a.x + a.w <= 640 && a.y + a.h <= 360).toBe(true);
        for (const b of iv.tiles.slice(i + 1)) expect(a.x + a.w <= b.x || b.x + b.w <= a.x || a.y + a.h <= b.y || b.y + b.h <= a.y).toBe(true);
      }
    }
  });

  it("shows each flash inside its user's tile at its output time, and in no other tile", async () => {
    const luma = await tileLuma(summary.results[0]!.file!, layout);
    const shownAt = (uid: string, s: number) => layout.intervals.some((i) => i.startMs <= s * 1000 && s * 1000 < i.endMs && i.tiles.some((t) => t.uid === uid));
    for (const u of users.slice(0, 3)) {
      const expected = (u.markers ?? []).map((m) => (m - T0) / 1000).filter((s) => shownAt(u.uid, s));
      const seen = onsets(luma.get(u.uid) ?? []);
      expect(seen, `uid ${u.uid}: white frames ${JSON.stringify(seen)}, expected ${JSON.stringify(expected)}`).toHaveLength(expected.length);
      expected.forEach((s, i) => expect(Math.abs(seen[i]! - s)).toBeLessThanOrEqual(FRAME_S));
    }
  });

  it('fits the rotated and the 4:3 pictures upright into their tiles, never stretched', async () => {
    const file = summary.results[0]!.file!;
    const tileOf = (s: number, uid: string) => layout.intervals.find((i) => i.startMs <= s * 1000 && s * 1000 < i.endMs)!.tiles.find((t) => t.uid === uid)!;
    // 2002 at 2 s: a portrait picture (90x160 upright) in a 320x360 tile: 202x360 in the middle, black beside it.
    const portrait = tileOf(2, '2002');
    const [p] = [await regionLumaTimeline(file, [
      { x: portrait.x + 2, y: portrait.y + 40, w: 40, h: 40 }, // left bar
      { x: portrait.x + Math.round((portrait.w - 202) / 2) + 4, y: portrait.y + 4, w: 20, h: 20 }, // the upright white square
      { x: portrait.x + Math.round((portrait.w + 202) / 2) - 24, y: portrait.y + portrait.h - 24, w: 20, h: 20 }, // bottom-right of the picture
    ])];
    const at2 = p!.filter((f) => f.t <= 2 + 1e-6).at(-1)!;
    expect(at2.y[0]).toBeLessThan(25);
    expect(at2.y[1]).toBeGreaterThan(150);
    expect(at2.y[2]).toBeGreaterThan(35);
    expect(at2.y[2]).toBeLessThan(100);
    // 3003 at 5.2 s: 4:3 in a 320x180 tile of the 2x2 grid: 240x180, 40-pixel black bars left and right.
    const four3 = tileOf(5.2, '3003');
    const q = await regionLumaTimeline(file, [
      { x: four3.x + 4, y: four3.y + 60, w: 30, h: 60 },
      { x: four3.x + 44, y: four3.y + 60, w: 30, h: 60 },
      { x: four3.x + 40, y: four3.y, w: 20, h: 20 },
    ]);
    const at5 = q.filter((f) => f.t <= 5.2 + 1e-6).at(-1)!;
    expect(at5.y[0]).toBeLessThan(25);
    expect(at5.y[1]).toBeGreaterThan(35);
    expect(at5.y[2]).toBeGreaterThan(150);
  });

  it("holds a user's last frame through a short camera gap (--gaps freeze) without re-flowing", async () => {
    const luma = (await tileLuma(summary.results[0]!.file!, layout)).get('1001')!;
    const inGap = luma.filter((f) => f.t > 4.05 && f.t < 4.45);
    expect(inGap.length).toBeGreaterThan(3);
    for (const f of inGap) expect(f.y).toBeGreaterThan(35);
  });

  it('mixes every beep of every user at its wall-clock instant', async () => {
    const expected = users.flatMap((u) => u.markers ?? []).map((m) => (m - T0) / 1000).sort((a, b) => a - b);
    const beeps = await beepTimes(summary.results[0]!.file!);
    expect(beeps, JSON.stringify({ beeps, expected })).toHaveLength(expected.length);
    expected.forEach((s, i) => expect(Math.abs(beeps[i]! - s), JSON.stringify({ beeps, expected })).toBeLessThanOrEqual(FRAME_S));
  });

  it('encoded in chunks of layout intervals (few inputs per ffmpeg pass), the flashes and beeps stay where they were', async () => {
    const chunked = await composeRecordings({ source: root, outDir: `${root}-chunked`, size: { width: 640, height: 360 }, maxPiecesPerPass: 3 });
    await expectOutputsDecodeClean(chunked);
    const r = chunked.results[0]!;
    expect(r.error).toBeNull();
    expect(r.durationMs).toBeCloseTo(8000, -2);
    const luma = await tileLuma(r.file!, layout);
    for (const u of users.slice(0, 3)) {
      const expected = onsets((await tileLuma(summary.results[0]!.file!, layout)).get(u.uid) ?? []);
      const seen = onsets(luma.get(u.uid) ?? []);
      expect(seen).toHaveLength(expected.length);
      expected.forEach((s, i) => expect(Math.abs(seen[i]! - s)).toBeLessThanOrEqual(0.001));
    }
    const expectedBeeps = users.flatMap((u) => u.markers ?? []).map((m) => (m - T0) / 1000).sort((a, b) => a - b);
    const beeps = await beepTimes(r.file!);
    expect(beeps).toHaveLength(expectedBeeps.length);
    expectedBeeps.forEach((s, i) => expect(Math.abs(beeps[i]! - s)).toBeLessThanOrEqual(FRAME_S));
  });

  it('does not lower anyone because others are present: one user alone keeps its level', async () => {
    // In [0.2, 0.9] s only 1001's -30 dBFS presence tone is audible, while the mix has six inputs.
    const rms = await audioRms(summary.results[0]!.file!, 0.2, 0.9);
    expect(rms).toBeGreaterThan(-31.5);
    expect(rms).toBeLessThan(-28.5);
  });
});

describe('compose options', () => {
  let root: string;
  beforeAll(async () => {
    root = await tempDir('compose-opts');
    await writeRecording(root, { sid: SID, cname: CNAME, users: users.slice(0, 3) });
  });

  it('--gaps black shows black through the camera gap; --max-tiles 1 keeps the most recently audible user', async () => {
    const summary = await composeRecordings({ source: root, outDir: `${root}-black`, size: { width: 320, height: 180 }, gaps: 'black', maxTiles: 1 });
    await expectOutputsDecodeClean(summary);
    const r = summary.results[0]!;
    expect(r.error).toBeNull();
    expect(summary.ok).toBe(true);
    const layout = JSON.parse(await readFile(r.layoutFile!, 'utf8')) as LayoutFile;
    // Everyone present is audible all along: join order decides, and 1001 stays (the choice among
    // audible and silent users is in the layout tables).
    expect(layout.intervals.map((i) => [i.startMs, i.endMs, i.tiles.map((t) => t.uid).join(',')])).toEqual([[0, 8000, '1001']]);
    const luma = (await tileLuma(r.file!, layout)).get('1001')!;
    const inGap = luma.filter((f) => f.t > 4.05 && f.t < 4.45);
    expect(inGap.length).toBeGreaterThan(3);
    for (const f of inGap) expect(f.y).toBeLessThan(25);
  });

  it('--mode mix-audio writes one .m4a per session with every beep', async () => {
    const summary = await composeRecordings({ source: root, outDir: `${root}-mix`, mode: 'mix-audio' });
    await expectOutputsDecodeClean(summary);
    const r = summary.results[0]!;
    expect(r.error).toBeNull();
    expect(path.basename(r.file!)).toBe(`${SID}_${CNAME}__mix.m4a`);
    expect(r.layoutFile).toBeNull();
    const info = await probe(r.file!);
    expect(info.video).toBeUndefined();
    const expected = users.slice(0, 3).flatMap((u) => u.markers ?? []).map((m) => (m - T0) / 1000).sort((a, b) => a - b);
    const beeps = await beepTimes(r.file!);
    expect(beeps).toHaveLength(expected.length);
    expected.forEach((s, i) => expect(Math.abs(beeps[i]! - s)).toBeLessThanOrEqual(FRAME_S));
  });
});

describe('compose: WebM/VP8 pictures and --audio-tiles', () => {
  it("shows a VP8 user's flash in its tile and a black tile for an audio-only user, whose beep is in the mix", async () => {
    const root = await tempDir('compose-vp8');
    await writeRecording(root, {
      sid: SID,
      cname: CNAME,
      users: [
        { uid: '7', markers: [T0 + 1500], video: [{ startMs: T0, durationMs: 3000, ...small, codec: 'vp8' }] },
        { uid: '8', markers: [T0 + 2000], audio: [{ startMs: T0 + 500, durationMs: 2500 }] },
      ],
    });
    const summary = await composeRecordings({ source: root, outDir: `${root}-out`, size: { width: 320, height: 180 }, audioTiles: true });
    await expectOutputsDecodeClean(summary);
    const r = summary.results[0]!;
    expect(r.error).toBeNull();
    const layout = JSON.parse(await readFile(r.layoutFile!, 'utf8')) as LayoutFile;
    expect(layout.intervals.map((i) => i.tiles.map((t) => t.uid).join(','))).toEqual(['7', '7,8']);
    expect(Math.abs(layout.intervals[1]!.startMs - 500)).toBeLessThanOrEqual(1000 / FPS);
    const luma = await tileLuma(r.file!, layout);
    const seven = onsets(luma.get('7')!);
    expect(seven).toHaveLength(1);
    expect(Math.abs(seven[0]! - 1.5)).toBeLessThanOrEqual(FRAME_S);
    for (const f of luma.get('8')!) expect(f.y).toBeLessThan(25);
    const beeps = await beepTimes(r.file!);
    expect(beeps).toHaveLength(1);
    expect(Math.abs(beeps[0]! - 2)).toBeLessThanOrEqual(FRAME_S);
  });
});
