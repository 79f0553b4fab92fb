// Snapshots (the script's -c): a JPEG per user every N seconds of wall clock while its video is present,
// named after the instant shown, showing the frame of that instant (markers), upright.
import { readdir } from 'node:fs/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import { planSnapshots } from '../src/core/snapshots.js';
import type { Inventory } from '../src/core/types.js';
import { snapshotRecordings } from '../src/api.js';
import type { SnapshotSummary } from '../src/options.js';
import { cornerLuma, lumaTimeline, probe } from './support/measure.js';
import { utc17, writeRecording } from './support/recording-fixture.js';
import { T0, tempDir } from './support/sync.js';

const SID = '5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a';
const CNAME = 'snap_class';
const small = { width: 160, height: 90, fps: 15 };
const name = (uid: string, ms: number) => `${SID}_${CNAME}__uid_s_${uid}__${utc17(ms)}.jpg`;

describe('planSnapshots', () => {
  const slice = (key: string, startMs: number, durationMs: number, present = true) => ({
    key, container: 'ts' as const, startMs, durationMs, discontinuity: false, rotation: 0 as const, codedSize: null, backup: false, present,
  });
  const inventory: Inventory = {
    sessions: [{
      sid: 's', cname: 'c', dir: '',
      uids: [
        { uid: '1', audio: { media: 'audio', playlistKey: null, otherPlaylists: [], events: [], slices: [slice('a1', 0, 10_000)] }, video: null, problems: [], failed: null },
        { uid: '2', audio: null, video: { media: 'video', playlistKey: null, otherPlaylists: [], events: [], slices: [slice('v1', 1500, 2000), slice('v2', 3500, 2000, false), slice('v3', 6000, 3000)] }, problems: [], failed: null },
      ],
    }],
    ignored: [],
    problems: [],
    unmeasured: [],
  };

  it('takes the session grid instants inside present video, from the slice that holds each', () => {
    const { outputs } = planSnapshots(inventory, new Map(), { every: 2 });
    expect(outputs.flatMap((o) => o.shots.map((s) => [o.uid, s.instantMs, s.sliceKey, s.atMs]))).toEqual([
      ['2', 2000, 'v1', 500],
      // 4000 lies in a slice that never reached storage: no picture.
      ['2', 6000, 'v3', 4500],
      ['2', 8000, 'v3', 6500],
    ]);
  });
});

describe('snapshots', () => {
  let root: string;
  let summary: SnapshotSummary;

  beforeAll(async () => {
    root = await tempDir('snapshots');
    await writeRecording(root, {
      sid: SID,
      cname: CNAME,
      users: [
        { uid: '1', markers: [T0 + 2000], audio: [{ startMs: T0, durationMs: 4000 }], video: [{ startMs: T0, durationMs: 4000, ...small }] },
        { uid: '2', markers: [T0 + 1000], video: [{ startMs: T0 + 400, durationMs: 3000, ...small, rotation: 90 }] },
        // Camera off from 1.5 s to 2.6 s: no picture at 2 s.
        { uid: '3', video: [{ startMs: T0, durationMs: 1500, ...small }, { startMs: T0 + 2600, durationMs: 1400, ...small }] },
        // Its video starts 10 frames into a GOP of 15: nothing can be decoded before 0.333 s.
        { uid: '4', video: [{ startMs: T0, durationMs: 2000, ...small, startsMidGop: 10 }] },
        // Cut mid-GOP at 1.4 s (keyframes every 2 s, at 0.4 and 2.4 s): the instant 2 s (a marker, on a frame)
        // lies in the second slice before its first keyframe, and is decoded from the slice before it.
        { uid: '5', markers: [T0 + 2000], video: [{ startMs: T0 + 400, durationMs: 3000, ...small, gopFrames: 30, forceCutsMs: [1000] }] },
      ],
    });
    summary = await snapshotRecordings({ source: root, outDir: `${root}-out`, every: 1 });
  });

  it('writes a picture per user per second of wall clock while its video is present, named after the instant', async () => {
    expect(summary.ok).toBe(true);
    const files = (await readdir(`${root}-out`)).filter((f) => f.endsWith('.jpg')).sort();
    expect(files).toEqual(
      [
        ...[0, 1000, 2000, 3000].map((t) => name('1', T0 + t)),
        ...[1000, 2000, 3000].map((t) => name('2', T0 + t)),
        ...[0, 1000, 3000].map((t) => name('3', T0 + t)),
        ...[0, 1000].map((t) => name('4', T0 + t)),
        ...[1000, 2000, 3000].map((t) => name('5', T0 + t)),
      ].sort(),
    );
  });

  it('says so when the picture of an instant cannot be decoded and a later one stands in (a stream that starts mid-GOP)', () => {
    const r = summary.results.find((x) => x.uid === '4')!;
    expect(r.warnings).toHaveLength(1);
    expect(r.warnings[0]).toMatch(new RegExp(`^${name('4', T0)}: nothing of .* can be decoded up to 0\\.000000 s into it \\(it starts mid-GOP and no slice runs up to it\\); its first decodable picture, a later one, is used$`));
    expect(summary.results.filter((x) => x.uid !== '4').flatMap((x) => x.warnings)).toEqual([]);
  });

  it('an instant before the first keyframe of a slice cut mid-GOP is decoded from the slice before it: the right frame', async () => {
    const mean = async (t: number) => (await lumaTimeline(`${root}-out/${name('5', T0 + t)}`))[0]!.y;
    expect(await mean(2000)).toBeGreaterThan(150);
    for (const t of [1000, 3000]) expect(await mean(t)).toBeLessThan(100);
  });

  it('shows the frame of the instant in its name (the marker frames, and only those, are white)', async () => {
    const mean = async (uid: string, t: number) => (await lumaTimeline(`${root}-out/${name(uid, T0 + t)}`))[0]!.y;
    expect(await mean('1', 2000)).toBeGreaterThan(150);
    for (const t of [0, 1000, 3000]) expect(await mean('1', t)).toBeLessThan(100);
    expect(await mean('2', 1000)).toBeGreaterThan(150);
    for (const t of [2000, 3000]) expect(await mean('2', t)).toBeLessThan(100);
  });

  it('turns a rotated picture upright', async () => {
    const file = `${root}-out/${name('2', T0 + 2000)}`;
    expect((await probe(file)).video).toMatchObject({ width: 90, height: 160 });
    const corners = await cornerLuma(file, 0);
    expect(corners.topLeft).toBeGreaterThan(150);
    expect(corners.bottomRight).toBeLessThan(100);
  });
});
