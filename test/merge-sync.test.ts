// Wall-clock alignment, measured with markers in real media, on both the copy and the transcode path.
import { beforeAll, describe, expect, it } from 'vitest';
import { mergeRecordings } from '../src/api.js';
import type { MergeSummary, OutputResult } from '../src/options.js';
import { audioRms, lumaTimeline, probe } from './support/measure.js';
import { writeRecording } from './support/recording-fixture.js';
import { expectMarkers, outputSeconds, T0, tempDir } from './support/sync.js';
import { expectOutputsDecodeClean } from './support/decode-clean.js';

const FPS = 15;
const SID = '0123456789abcdef0123456789abcdef';
const CNAME = 'class_room-7';
const small = { width: 160, height: 90, fps: FPS };

const byUid = (summary: MergeSummary, uid: string): OutputResult => {
  const r = summary.results.find((x) => x.uid === uid);
  if (!r) throw new Error(`no result for uid ${uid}: ${JSON.stringify(summary)}`);
  expect(r.error).toBeNull();
  return r;
};

/** Luma of the frame on screen at each instant (the last frame at or before it: VFR outputs hold frames). */
const shownLuma = (frames: { t: number; y: number }[], times: number[]) =>
  times.map((t) => frames.filter((f) => f.t <= t + 1e-6).at(-1)?.y ?? Number.NaN);
const every = (xs: number[], ok: (x: number) => boolean) => xs.length > 0 && xs.every(ok);

describe.each([
  { path: 'copy', transcode: false },
  { path: 'transcode', transcode: true },
] as const)('$path path', ({ path: expectedPath, transcode }) => {
  // uid 1001: audio from T0, video 1 s late, leaves at 5 s and rejoins at 8 s.
  // uid 2002: video from T0+2 s, audio 1 s after that, camera off from 4 s to 7 s (audio goes on).
  const u1Markers = [T0 + 2500, T0 + 4200, T0 + 9300];
  const u2Markers = [T0 + 3500, T0 + 7600];
  let root: string;
  let summary: MergeSummary;

  beforeAll(async () => {
    root = await tempDir('sync');
    await writeRecording(root, {
      sid: SID,
      cname: CNAME,
      users: [
        {
          uid: '1001',
          markers: u1Markers,
          audio: [{ startMs: T0, durationMs: 5000 }, { startMs: T0 + 8000, durationMs: 3000 }],
          video: [{ startMs: T0 + 1000, durationMs: 4000, ...small }, { startMs: T0 + 8000, durationMs: 3000, ...small }],
        },
        {
          uid: '2002',
          markers: u2Markers,
          audio: [{ startMs: T0 + 3000, durationMs: 6000, sliceMs: 2000 }],
          video: [{ startMs: T0 + 2000, durationMs: 2000, ...small }, { startMs: T0 + 7000, durationMs: 2000, ...small }],
        },
      ],
    });
    summary = await mergeRecordings({ source: root, outDir: `${root}-out`, transcode, concurrency: 2 });
    await expectOutputsDecodeClean(summary);
  });

  it('takes the expected path and names outputs after the recording', () => {
    expect(summary.ok).toBe(true);
    const r = byUid(summary, '1001');
    expect(r.videoPath).toBe(expectedPath);
    expect(r.audioPath).toBe(expectedPath);
    expect(r.file).toMatch(new RegExp(`${SID}_${CNAME}__uid_s_1001__uid_e_av\\.mp4$`));
  });

  it('puts every marker of a user who starts with audio, leaves and rejoins at its wall-clock offset', async () => {
    const r = byUid(summary, '1001');
    await expectMarkers(r.file!, outputSeconds(u1Markers, T0), FPS);
    const info = await probe(r.file!);
    expect(info.durationS).toBeGreaterThan(10.9);
    expect(info.durationS).toBeLessThan(11.2);
    expect(info.video).toMatchObject({ codec: 'h264', width: 160, height: 90 });
    expect(info.audio).toMatchObject({ codec: 'aac', sampleRate: 48000 });
  });

  it('fills the absence with silence and the last frame, and shows nothing but black before late video', async () => {
    const file = byUid(summary, '1001').file!;
    expect(await audioRms(file, 5.3, 7.7)).toBeLessThan(-60);
    expect(await audioRms(file, 0.3, 0.9)).toBeGreaterThan(-40);
    const frames = await lumaTimeline(file);
    // The last frame before leaving (base gray, luma ~50) is held through the absence.
    expect(every(shownLuma(frames, [5.2, 6, 7, 7.8]), (y) => y > 35)).toBe(true);
    // Both paths hold real black frames before the first picture (players show the first frame during an
    // MP4 empty edit, so the copy path puts encoded black there).
    expect(frames[0]!.t).toBeCloseTo(0, 3);
    expect(every(shownLuma(frames, [0, 0.4, 0.9]), (y) => y < 20)).toBe(true);
  });

  it('aligns a user whose audio starts after the video, and holds the picture while the camera is off', async () => {
    const r = byUid(summary, '2002');
    await expectMarkers(r.file!, outputSeconds(u2Markers, T0 + 2000), FPS);
    expect(await audioRms(r.file!, 0.1, 0.9)).toBeLessThan(-60);
    const frames = await lumaTimeline(r.file!);
    expect(every(shownLuma(frames, [2.2, 3.5, 4.8]), (y) => y > 35)).toBe(true);
  });
});

describe('gap modes', () => {
  const markers = [T0 + 1500, T0 + 9300];
  let root: string;

  beforeAll(async () => {
    root = await tempDir('gaps');
    await writeRecording(root, {
      sid: SID,
      cname: CNAME,
      users: [
        {
          uid: '7',
          markers,
          audio: [{ startMs: T0, durationMs: 4000 }, { startMs: T0 + 8000, durationMs: 4000 }],
          video: [{ startMs: T0, durationMs: 4000, ...small }, { startMs: T0 + 8000, durationMs: 4000, ...small }],
        },
      ],
    });
  });

  it('--gaps black shows black during the absence and keeps sync', async () => {
    const s = await mergeRecordings({ source: root, outDir: `${root}-black`, gaps: 'black' });
    await expectOutputsDecodeClean(s);
    const r = byUid(s, '7');
    expect(r.videoPath).toBe('transcode');
    expect(r.audioPath).toBe('copy');
    await expectMarkers(r.file!, outputSeconds(markers, T0), FPS);
    const frames = await lumaTimeline(r.file!);
    expect(every(shownLuma(frames, [4.2, 6, 7.8]), (y) => y < 20)).toBe(true);
    expect(every(shownLuma(frames, [0.2, 1.2, 3.8, 8.2]), (y) => y > 35)).toBe(true);
  });

  it.each([false, true])('--gaps cut removes the absence from both tracks alike (transcode: %s)', async (transcode) => {
    const s = await mergeRecordings({ source: root, outDir: `${root}-cut-${transcode}`, gaps: 'cut', transcode });
    await expectOutputsDecodeClean(s);
    const r = byUid(s, '7');
    const info = await probe(r.file!);
    expect(info.durationS).toBeGreaterThan(7.9);
    expect(info.durationS).toBeLessThan(8.2);
    await expectMarkers(r.file!, [1.5, 9.3 - 4], FPS);
  });
});
