// `compose --layout speaker|vertical`: the decisions as tables (voice activity, hysteresis, the 2 s hold,
// tiles), then a recorder-shaped recording where one user talks while the other is silent and then the other
// way round: the layout file names the speaker as the big tile's holder, and the composite's pixels inside the
// big-tile rectangle flash exactly when the speaker's source frames do (the silent user's flashes are in the strip).
import { readFile } from 'node:fs/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import { composeRecordings } from '../src/api.js';
import { computeLayout } from '../src/core/layout.js';
import { parseLevels, speakerCells, speakerLayout, speakerSpans } from '../src/core/speaker.js';
import { regionLumaTimeline } from './support/measure.js';
import { writeRecording, type WrittenRecording } from './support/recording-fixture.js';
import { T0, tempDir } from './support/sync.js';
import { centre, onsets, type LayoutFile } from './support/tiles.js';

/** Levels per 100 ms window: `n` windows at `db`. */
const run = (n: number, db: number) => Array.from({ length: n }, () => db);
const both = (_window: number) => [0, 1];
const spans = (levels: number[][], shown = both) => speakerSpans(levels, shown).map((s) => [s.startMs, s.endMs, s.main]);

describe('who holds the big tile (pure)', () => {
  it('a louder voice takes the tile only once the holder has had it 2 s', () => {
    // A speaks from 0; B comes in 10 dB louder at 0.5 s while A goes on.
    const a = run(60, -25);
    const b = [...run(5, -Infinity), ...run(55, -15)];
    expect(spans([a, b])).toEqual([
      [0, 2000, 0],
      [2000, 6000, 1],
    ]);
  });

  it('hysteresis: a voice 3 dB louder than the speaking holder never takes the tile', () => {
    expect(spans([run(80, -20), [...run(30, -Infinity), ...run(50, -17)]])).toEqual([[0, 8000, 0]]);
  });

  it('the holder falls silent: the next speaker takes over once the last 0.5 s of the holder is silence', () => {
    const a = [...run(30, -20), ...run(30, -Infinity)];
    const b = run(60, -35);
    expect(spans([a, b])).toEqual([
      [0, 3400, 0],
      [3400, 6000, 1],
    ]);
  });

  it('no flicker: a 0.2 s interjection holds the tile 2 s, then it goes back', () => {
    const a = run(100, -25);
    const b = [...run(40, -Infinity), ...run(2, -10), ...run(58, -Infinity)];
    const got = spans([a, b]);
    expect(got).toEqual([
      [0, 4000, 0],
      [4000, 6000, 1],
      [6000, 10_000, 0],
    ]);
    for (const [start, end] of got.slice(0, -1)) expect(end! - start!).toBeGreaterThanOrEqual(2000);
  });

  it('a holder who is no longer shown hands over at once; nobody shown: nobody', () => {
    const shown = (w: number) => (w < 5 ? [0, 1] : w < 10 ? [1] : []);
    expect(spans([run(15, -20), run(15, -30)], shown)).toEqual([
      [0, 500, 0],
      [500, 1000, 1],
      [1000, 1500, null],
    ]);
  });

  it('nobody speaking: the first user shown (join order) holds it', () => {
    expect(spans([run(10, -80), run(10, -70)])).toEqual([[0, 1000, 0]]);
  });

  it("reads astats' levels as ametadata prints them (-inf: silence)", () => {
    const text = 'frame:0    pts:0       pts_time:0\nlavfi.astats.Overall.RMS_level=-inf\nframe:1    pts:4800    pts_time:0.1\nlavfi.astats.Overall.RMS_level=-30.5\n' +
      'frame:2    pts:14400    pts_time:0.3\nlavfi.astats.Overall.RMS_level=-12\n';
    expect(parseLevels(text)).toEqual([-Infinity, -30.5, -Infinity, -12]);
  });
});

describe('big tile and strip (pure)', () => {
  it.each([
    ['speaker', 1, [{ x: 0, y: 0, w: 1280, h: 720 }]],
    ['speaker', 3, [{ x: 0, y: 0, w: 1280, h: 576 }, { x: 384, y: 576, w: 256, h: 144 }, { x: 640, y: 576, w: 256, h: 144 }]],
    ['vertical', 3, [{ x: 0, y: 0, w: 1024, h: 720 }, { x: 1024, y: 216, w: 256, h: 144 }, { x: 1024, y: 360, w: 256, h: 144 }]],
  ] as const)('%s, %d tiles', (mode, n, cells) => {
    expect(speakerCells(n, 1280, 720, mode)).toEqual(cells);
  });

  it('splits the layout where the holder changes (on frames), the holder first, and says who holds it', () => {
    const users = [
      { sid: 's', uid: '1', video: [{ startMs: 0, endMs: 6000 }], audio: [] },
      { sid: 's', uid: '2', video: [{ startMs: 0, endMs: 6000 }], audio: [] },
    ];
    const grid = computeLayout(users, 0, 6000, { width: 1280, height: 720, fps: 15 });
    const l = speakerLayout(grid, 'speaker', users, [
      { startMs: 0, endMs: 2030, main: 0 },
      { startMs: 2030, endMs: 6000, main: 1 },
    ]);
    expect(l.mode).toBe('speaker');
    expect(l.intervals.map((i) => [i.startFrame, i.endFrame, i.main?.uid, i.tiles.map((t) => `${t.uid}@${t.x},${t.y},${t.w}x${t.h}`)])).toEqual([
      [0, 30, '1', ['1@0,0,1280x576', '2@512,576,256x144']],
      [30, 90, '2', ['2@0,0,1280x576', '1@512,576,256x144']],
    ]);
  });
});

describe('compose --layout speaker|vertical on a recorder-shaped recording', () => {
  const FPS = 15;
  const VIDEO_MS = 500 / FPS + 5;
  let w: WrittenRecording;
  let root: string;
  const originMs = () => Math.min(...w.slices.map((s) => s.nameStartMs));

  beforeAll(async () => {
    root = await tempDir('speaker');
    const half = { fromMs: T0, toMs: T0 + 6_000 };
    const rest = { fromMs: T0 + 6_000, toMs: T0 + 12_000 };
    w = await writeRecording(root, {
      sid: '5beac0005beac0005beac0005beac000',
      cname: 'speakers',
      jitterMs: 15,
      extinf: 'recorder',
      users: [
        // Talks for 6 s, then silent; a flash while talking and one while silent.
        {
          uid: '1',
          talks: [half],
          mutes: [rest],
          markers: [T0 + 2_500, T0 + 8_500],
          audio: [{ startMs: T0, durationMs: 12_000, sliceMs: 3000 }],
          video: [{ startMs: T0, durationMs: 12_000, sliceMs: 3000, width: 160, height: 90, fps: FPS }],
        },
        // Silent for 6 s, then talks.
        {
          uid: '2',
          mutes: [half],
          talks: [rest],
          markers: [T0 + 3_500, T0 + 9_500],
          audio: [{ startMs: T0, durationMs: 12_000, sliceMs: 3000 }],
          video: [{ startMs: T0, durationMs: 12_000, sliceMs: 3000, width: 160, height: 90, fps: FPS }],
        },
      ],
    });
  });

  it.each(['speaker', 'vertical'] as const)('%s: the speaker holds the big tile while the other is silent', async (mode) => {
    const summary = await composeRecordings({ source: root, outDir: `${root}-${mode}`, layout: mode, size: { width: 640, height: 360 }, fps: FPS });
    const r = summary.results[0]!;
    expect(r.error).toBeNull();
    const layout = JSON.parse(await readFile(r.layoutFile!, 'utf8')) as LayoutFile;
    expect(layout.layout).toBe(mode);
    const origin = originMs();
    const switchS = (T0 + 6_000 - origin) / 1000;
    // One change of hands, shortly after the voices change (0.5 s of voice activity), none before.
    const held = layout.intervals.map((i) => [i.startMs, i.endMs, i.main?.uid]);
    const changes = layout.intervals.filter((iv, k) => k > 0 && iv.main?.uid !== layout.intervals[k - 1]!.main?.uid);
    expect(changes, JSON.stringify(held)).toHaveLength(1);
    expect(layout.intervals[0]!.main?.uid, JSON.stringify(held)).toBe('1');
    expect(changes[0]!.main?.uid).toBe('2');
    expect(changes[0]!.startMs / 1000 - switchS, JSON.stringify(held)).toBeGreaterThanOrEqual(0);
    expect(changes[0]!.startMs / 1000 - switchS, JSON.stringify(held)).toBeLessThanOrEqual(0.7);

    // The pixels: every interval has the same two rectangles (big, small); flashes inside each, against the truth.
    const big = layout.intervals[0]!.tiles[0]!;
    const small = layout.intervals[0]!.tiles[1]!;
    expect(big.w * big.h).toBeGreaterThan(small.w * small.h * 10);
    const timeline = await regionLumaTimeline(r.file!, [centre(big), centre(small)]);
    const inBig = onsets(timeline.map((f) => ({ t: f.t, y: f.y[0]! })));
    const inSmall = onsets(timeline.map((f) => ({ t: f.t, y: f.y[1]! })));
    const truth = (uid: string, markerMs: number) => (w.truth.find((t) => t.uid === uid && t.markerMs === markerMs)!.videoMs! - origin) / 1000;
    // Big: user 1's flash while user 1 talks, user 2's while user 2 talks. Small: each one's flash while silent.
    const wantBig = [truth('1', T0 + 2_500), truth('2', T0 + 9_500)];
    const wantSmall = [truth('2', T0 + 3_500), truth('1', T0 + 8_500)];
    const report = JSON.stringify({ inBig, wantBig, inSmall, wantSmall, held });
    expect(inBig, report).toHaveLength(2);
    expect(inSmall, report).toHaveLength(2);
    wantBig.forEach((t, i) => expect(Math.abs(inBig[i]! - t) * 1000, report).toBeLessThanOrEqual(VIDEO_MS));
    wantSmall.forEach((t, i) => expect(Math.abs(inSmall[i]! - t) * 1000, report).toBeLessThanOrEqual(VIDEO_MS));
  });
});
