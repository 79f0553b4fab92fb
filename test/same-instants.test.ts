// One recorder-shaped recording through merge, compose and snapshots: a flash at wall time T (the instant its
// source frame really carries) is at T in the merged file, inside the user's tile at T in the composite, and is
// the picture the snapshot at T shows. The three share one placement and one render layer; this holds them to it.
// The recording has what broke each of them once: jittered names and recorder #EXTINF, H.264 High with
// B-frames force-cut mid-GOP, a phone turned inside a slice (ROTATE with a TIME inside it), a VP8 sender resized
// by WebRTC inside a slice, and a user who leaves for 6 s and comes back.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { composeRecordings, mergeRecordings, snapshotRecordings } from '../src/api.js';
import { parseUtc17 } from '../src/core/names.js';
import { snapshotFileName } from '../src/core/output-names.js';
import type { ComposeSummary, MergeSummary, SnapshotSummary } from '../src/options.js';
import { cornerLuma, lumaTimeline, whiteFrameTimes } from './support/measure.js';
import { writeRecording, type WrittenRecording } from './support/recording-fixture.js';
import { onsets, tileLuma, type LayoutFile } from './support/tiles.js';
import { T0, tempDir } from './support/sync.js';
import { expectOutputsDecodeClean } from './support/decode-clean.js';

const SID = '5a3e5a3e5a3e5a3e5a3e5a3e5a3e5a3e';
const CNAME = 'same_instants';
const FPS = 30;

describe('one recording, three commands, the same instants', () => {
  let w: WrittenRecording;
  let merged: MergeSummary;
  let composed: ComposeSummary;
  let shots: SnapshotSummary;
  let root: string;
  /** Each marker whose frame the source really carries, with the output frame length of its user (ms). */
  let flashes: { uid: string; atMs: number; frameMs: number }[];

  beforeAll(async () => {
    root = await tempDir('same-instants');
    w = await writeRecording(root, {
      sid: SID,
      cname: CNAME,
      jitterMs: 15,
      extinf: 'recorder',
      users: [
        {
          // B-frames, force-cut mid-GOP twice (a flash 0.3 s after a cut, before the next keyframe).
          uid: '1',
          markers: [T0 + 1_500, T0 + 4_800, T0 + 8_300, T0 + 11_000],
          audio: [{ startMs: T0, durationMs: 12_000, sliceMs: 3000 }],
          video: [{ startMs: T0 + 40, durationMs: 12_000, sliceMs: 3000, width: 160, height: 90, fps: 30, profile: 'high', bframes: 2, gopFrames: 60, forceCutsMs: [4_500, 8_000] }],
        },
        {
          // A phone turned a quarter inside a slice: the ROTATE tag stands before the next slice, its TIME inside this one.
          uid: '2',
          markers: [T0 + 2_200, T0 + 5_600, T0 + 9_700],
          audio: [{ startMs: T0, durationMs: 12_000, sliceMs: 4000 }],
          // Square, so that the turned picture fills the frame (a turned 16:9 picture is pillarboxed, never stretched).
          video: [{ startMs: T0, durationMs: 12_000, sliceMs: 4000, width: 96, height: 96, fps: 15, rotations: [{ atMs: T0 + 5_000, rotation: 90 }] }],
        },
        {
          // A web sender: VP8 resized by WebRTC inside a slice.
          uid: '3',
          markers: [T0 + 3_100, T0 + 6_900, T0 + 10_400],
          audio: [{ startMs: T0 + 1_000, durationMs: 11_000, sliceMs: 3000 }],
          video: [{ startMs: T0 + 1_000, durationMs: 11_000, sliceMs: 3000, width: 160, height: 120, fps: 30, codec: 'vp8', resizes: [{ atMs: T0 + 6_000, width: 96, height: 72 }] }],
        },
        {
          // Leaves at 4 s for 6 s and comes back: flashes just before it leaves and just after it is back.
          uid: '4',
          markers: [T0 + 1_200, T0 + 3_800, T0 + 10_150, T0 + 11_600],
          audio: [{ startMs: T0, durationMs: 4_000 }, { startMs: T0 + 10_000, durationMs: 2_000 }],
          video: [
            { startMs: T0, durationMs: 4_000, width: 160, height: 90, fps: 15 },
            { startMs: T0 + 10_000, durationMs: 2_000, width: 160, height: 90, fps: 15 },
          ],
        },
      ],
    });
    const fpsOf: Record<string, number> = { '1': 30, '2': 15, '3': 30, '4': 15 };
    flashes = w.truth.filter((t) => t.videoMs !== null).map((t) => ({ uid: t.uid, atMs: t.videoMs!, frameMs: 1000 / fpsOf[t.uid]! }));
    merged = await mergeRecordings({ source: root, outDir: `${root}-merge` });
    await expectOutputsDecodeClean(merged);
    composed = await composeRecordings({ source: root, outDir: `${root}-compose`, size: { width: 640, height: 360 }, fps: FPS });
    await expectOutputsDecodeClean(composed);
    // A picture in the middle of each flash's frame, and one in the middle of the frame before it.
    const at = flashes.flatMap((f) => [Math.round(f.atMs + f.frameMs / 2), Math.round(f.atMs - f.frameMs / 2)]);
    shots = await snapshotRecordings({ source: root, outDir: `${root}-shots`, at });
    await expectOutputsDecodeClean(shots);
  });

  it('has flashes on every user, the one inside a mid-GOP slice and the ones around the absence included', () => {
    expect(new Set(flashes.map((f) => f.uid))).toEqual(new Set(['1', '2', '3', '4']));
    expect(flashes.length).toBe(14);
    expect(merged.ok && composed.ok && shots.ok, JSON.stringify({ merged, composed, shots }, null, 1).slice(0, 3000)).toBe(true);
  });

  it('merge: each flash at its instant in the user\'s file (within half an output frame)', async () => {
    for (const r of merged.results) {
      const mine = flashes.filter((f) => f.uid === r.uid);
      const originMs = originOf(r.uid);
      const seen = await whiteFrameTimes(r.file!);
      const report = `uid ${r.uid} (${r.videoPath}): white frames ${JSON.stringify(seen)}, source ${JSON.stringify(mine.map((f) => (f.atMs - originMs) / 1000))}`;
      expect(seen, report).toHaveLength(mine.length);
      mine.forEach((f, i) => expect(Math.abs(seen[i]! * 1000 - (f.atMs - originMs)), report).toBeLessThanOrEqual(f.frameMs / 2 + 5));
    }
  });

  it('compose: each flash inside its user\'s tile at its instant, the user who came back included', async () => {
    const r = composed.results[0]!;
    const layout = JSON.parse(await readFile(r.layoutFile!, 'utf8')) as LayoutFile;
    const originMs = parseUtc17(layout.originUtc)!;
    const luma = await tileLuma(r.file!, layout);
    for (const uid of ['1', '2', '3', '4']) {
      const seen = onsets(luma.get(uid) ?? []);
      const want = flashes.filter((f) => f.uid === uid).map((f) => (f.atMs - originMs) / 1000);
      const report = `uid ${uid}: flashes at ${JSON.stringify(seen)}, source ${JSON.stringify(want)}`;
      expect(seen, report).toHaveLength(want.length);
      want.forEach((t, i) => expect(Math.abs(seen[i]! - t) * 1000, report).toBeLessThanOrEqual(500 / FPS + 5));
    }
  });

  it('snapshots: the picture at a flash\'s instant is the flash, the one a frame before is not', async () => {
    for (const f of flashes) {
      const file = (ms: number) => path.join(`${root}-shots`, snapshotFileName(SID, CNAME, f.uid, ms));
      const onFlash = (await lumaTimeline(file(Math.round(f.atMs + f.frameMs / 2))))[0]!.y;
      const before = (await lumaTimeline(file(Math.round(f.atMs - f.frameMs / 2))))[0]!.y;
      expect(onFlash, `uid ${f.uid} at ${f.atMs - T0} ms`).toBeGreaterThan(150);
      expect(before, `uid ${f.uid} before ${f.atMs - T0} ms`).toBeLessThan(100);
    }
  });

  it('the turned phone is upright in the merged file and in its snapshots, before and after the turn', async () => {
    const r = merged.results.find((x) => x.uid === '2')!;
    const originMs = originOf(r.uid);
    for (const wall of [T0 + 3_000, T0 + 5_300, T0 + 11_000]) {
      const corners = await cornerLuma(r.file!, (wall - originMs) / 1000);
      expect(corners.topLeft, `merged at ${wall - T0} ms`).toBeGreaterThan(150);
      expect(corners.bottomRight, `merged at ${wall - T0} ms`).toBeLessThan(100);
    }
    // The snapshots before and after the turn (the frames before the flashes at 2.2 s and 5.6 s).
    for (const f of flashes.filter((x) => x.uid === '2')) {
      const file = path.join(`${root}-shots`, snapshotFileName(SID, CNAME, '2', Math.round(f.atMs - f.frameMs / 2)));
      const corners = await cornerLuma(file, 0);
      expect(corners.topLeft, `snapshot before ${f.atMs - T0} ms`).toBeGreaterThan(150);
      expect(corners.bottomRight, `snapshot before ${f.atMs - T0} ms`).toBeLessThan(100);
    }
  });

  /** The wall-clock instant of a user's merged file's time 0: the first instant its slices' names give. */
  const originOf = (uid: string) => Math.min(...w.slices.filter((s) => s.uid === uid).map((s) => s.nameStartMs));
});
