// Picture changes: size changes, mixed aspect ratios, WebM/VP8 (alone and mixed with TS), rotated phones.
import { describe, expect, it } from 'vitest';
import { mergeRecordings } from '../src/api.js';
import { cornerLuma, probe, shownCorners } from './support/measure.js';
import { writeRecording, type FixtureUser } from './support/recording-fixture.js';
import { expectMarkers, outputSeconds, T0, tempDir } from './support/sync.js';
import { expectOutputsDecodeClean } from './support/decode-clean.js';

const SID = 'fedcba9876543210fedcba9876543210';

async function mergeOne(label: string, user: FixtureUser, options: Record<string, unknown> = {}) {
  const root = await tempDir(label);
  await writeRecording(root, { sid: SID, cname: 'pictures', users: [user] });
  const summary = await mergeRecordings({ source: root, outDir: `${root}-out`, ...options });
  await expectOutputsDecodeClean(summary);
  expect(summary.results).toHaveLength(1);
  const result = summary.results[0]!;
  expect(result.error).toBeNull();
  return result;
}

describe('picture changes', () => {
  it('scales a mid-stream size change into one canvas, padding a different aspect ratio instead of stretching', async () => {
    const markers = [T0 + 1500, T0 + 5500];
    const r = await mergeOne('size', {
      uid: '11',
      markers,
      audio: [{ startMs: T0, durationMs: 8000 }],
      // 16:9 then 4:3, back to back (a restart with a new resolution).
      video: [
        { startMs: T0, durationMs: 4000, width: 320, height: 180, fps: 15 },
        { startMs: T0 + 4000, durationMs: 4000, width: 160, height: 120, fps: 15 },
      ],
    });
    expect(r.videoPath).toBe('transcode');
    const info = await probe(r.file!);
    expect(info.video).toMatchObject({ width: 320, height: 180 });
    await expectMarkers(r.file!, outputSeconds(markers, T0), 15);
    // Before: the upright picture's white square fills the top-left corner.
    expect((await cornerLuma(r.file!, 2)).topLeft).toBeGreaterThan(150);
    // After: the 4:3 picture is fitted to 240x180 with 40-pixel black bars, so the corners are black.
    const after = await cornerLuma(r.file!, 6);
    expect(after.topLeft).toBeLessThan(25);
    expect(after.bottomRight).toBeLessThan(25);
  });

  it('merges WebM/VP8 slices, also mixed with TS slices in one track', async () => {
    const markers = [T0 + 1500, T0 + 6400];
    const r = await mergeOne('webm', {
      uid: '12',
      markers,
      audio: [{ startMs: T0, durationMs: 9000 }],
      video: [
        { startMs: T0, durationMs: 4000, width: 160, height: 90, fps: 15, codec: 'vp8' },
        { startMs: T0 + 5000, durationMs: 4000, width: 160, height: 90, fps: 15, codec: 'h264' },
      ],
    });
    expect(r.videoPath).toBe('transcode');
    expect((await probe(r.file!)).video?.codec).toBe('h264');
    await expectMarkers(r.file!, outputSeconds(markers, T0), 15);
  });

  it('turns a rotated phone upright (ROTATE=90 anticlockwise) on a portrait canvas', async () => {
    const markers = [T0 + 2000];
    const r = await mergeOne('rotate', {
      uid: '13',
      markers,
      audio: [{ startMs: T0, durationMs: 4000 }],
      video: [{ startMs: T0, durationMs: 4000, width: 160, height: 90, fps: 15, rotation: 90 }],
    });
    // A phone held turned the whole output stays on the copy path: the MP4 display matrix shows it upright
    // (issue 20.1), so the picture is measured as a player shows it.
    expect(r.videoPath).toBe('copy');
    const corners = await shownCorners(r.file!, 1);
    expect(corners).toMatchObject({ width: 90, height: 160 });
    expect(corners.topLeft).toBeGreaterThan(150);
    for (const other of [corners.topRight, corners.bottomLeft, corners.bottomRight]) expect(other).toBeLessThan(100);
    await expectMarkers(r.file!, outputSeconds(markers, T0), 15);
  });

  it.each([90, 180, 270] as const)('restores the top-left corner for ROTATE=%i', async (rotation) => {
    const r = await mergeOne(`rot${rotation}`, {
      uid: '14',
      video: [{ startMs: T0, durationMs: 2000, width: 160, height: 90, fps: 15, rotation }],
    });
    const corners = await shownCorners(r.file!, 0.5);
    expect(corners.topLeft).toBeGreaterThan(150);
    expect(corners.bottomRight).toBeLessThan(100);
  });

  it('--fps and --size give a constant-rate output of that size, still in sync', async () => {
    const markers = [T0 + 1000, T0 + 3000];
    const r = await mergeOne('fps', {
      uid: '15',
      markers,
      audio: [{ startMs: T0, durationMs: 4000 }],
      video: [{ startMs: T0, durationMs: 4000, width: 160, height: 90, fps: 15 }],
    }, { fps: 25, size: { width: 320, height: 240 } });
    const info = await probe(r.file!);
    expect(info.video).toMatchObject({ width: 320, height: 240 });
    expect(info.video!.avgFps).toBeCloseTo(25, 0);
    await expectMarkers(r.file!, outputSeconds(markers, T0), 15);
  });
});
