// The composite's layout timeline (pure): intervals, grid cells, join order, max-tiles choice.
import { describe, expect, it } from 'vitest';
import { computeLayout, gridCells, layoutJson, presenceSpans, type LayoutUser } from '../src/core/layout.js';

const span = (startMs: number, endMs: number) => ({ startMs, endMs });
const user = (uid: string, video: [number, number][], audio: [number, number][] = video): LayoutUser => ({
  sid: 's1',
  uid,
  video: video.map(([a, b]) => span(a, b)),
  audio: audio.map(([a, b]) => span(a, b)),
});
const opts = { width: 1280, height: 720, fps: 10 };
const shown = (l: ReturnType<typeof computeLayout>) => l.intervals.map((i) => [i.startMs, i.endMs, i.tiles.map((t) => t.uid).join(',')]);

describe('gridCells', () => {
  it.each([
    [1, [{ x: 0, y: 0, w: 1280, h: 720 }]],
    [2, [{ x: 0, y: 0, w: 640, h: 720 }, { x: 640, y: 0, w: 640, h: 720 }]],
    // 2x2, the incomplete last row centred.
    [3, [{ x: 0, y: 0, w: 640, h: 360 }, { x: 640, y: 0, w: 640, h: 360 }, { x: 320, y: 360, w: 640, h: 360 }]],
    [4, [{ x: 0, y: 0, w: 640, h: 360 }, { x: 640, y: 0, w: 640, h: 360 }, { x: 0, y: 360, w: 640, h: 360 }, { x: 640, y: 360, w: 640, h: 360 }]],
  ])('%i tiles on 1280x720', (n, cells) => {
    expect(gridCells(n, 1280, 720)).toEqual(cells);
  });

  it.each([5, 7, 9, 10, 16, 17])('%i tiles: inside the canvas, even, never overlapping', (n) => {
    const cells = gridCells(n, 1280, 720);
    expect(cells).toHaveLength(n);
    for (const c of cells) {
      expect(c.x % 2 + c.y % 2 + c.w % 2 + c.h % 2).toBe(0);
      expect(c.x >= 0 && c.y >= 0 && c.x + c.w <= 1280 && c.y + c.h <= 720).toBe(true);
    }
    for (const [i, a] of cells.entries()) {
      for (const b of cells.slice(i + 1)) expect(a.x + a.w <= b.x || b.x + b.w <= a.x || a.y + a.h <= b.y || b.y + b.h <= a.y).toBe(true);
    }
  });

  it('a portrait canvas stacks two tiles', () => {
    expect(gridCells(2, 720, 1280)).toEqual([{ x: 0, y: 0, w: 720, h: 640 }, { x: 0, y: 640, w: 720, h: 640 }]);
  });
});

describe('presenceSpans', () => {
  it('joins pauses shorter than the tolerance and keeps longer ones', () => {
    expect(presenceSpans([span(0, 4000), span(4300, 8000), span(10_000, 12_000)], 1000)).toEqual([span(0, 8000), span(10_000, 12_000)]);
  });
});

describe('computeLayout', () => {
  it('re-flows only when the set of users changes, in join order, covering the whole output', () => {
    const l = computeLayout(
      [
        user('2', [[2000, 9000]]),
        user('1', [[1000, 5000], [7000, 10_000]]),
        user('3', [[3000, 4000]], []),
      ],
      0,
      10_000,
      opts,
    );
    expect(shown(l)).toEqual([
      [0, 1000, ''],
      [1000, 2000, '1'],
      [2000, 3000, '1,2'],
      [3000, 4000, '1,2,3'],
      [4000, 5000, '1,2'],
      [5000, 7000, '2'],
      [7000, 9000, '1,2'],
      [9000, 10_000, '1'],
    ]);
    expect(l.frames).toBe(100);
    expect(l.intervals[0]!.startFrame).toBe(0);
    l.intervals.forEach((iv, k) => k > 0 && expect(iv.startFrame).toBe(l.intervals[k - 1]!.endFrame));
    expect(l.intervals.at(-1)!.endFrame).toBe(100);
    // Rejoining user 1 keeps its place before user 2 (join order, not rejoin order).
    expect(l.intervals[6]!.tiles.map((t) => [t.uid, t.x])).toEqual([['1', 0], ['2', 640]]);
  });

  it('does not re-flow when only audio comes and goes (without --audio-tiles)', () => {
    const l = computeLayout([user('1', [[0, 6000]], [[0, 2000], [3000, 6000]])], 0, 6000, opts);
    expect(shown(l)).toEqual([[0, 6000, '1']]);
  });

  it('--audio-tiles: an audio-only user gets a tile while audible', () => {
    const users = [user('1', [[0, 6000]]), user('2', [], [[2000, 4000]])];
    expect(shown(computeLayout(users, 0, 6000, opts))).toEqual([[0, 6000, '1']]);
    expect(shown(computeLayout(users, 0, 6000, { ...opts, audioTiles: true }))).toEqual([
      [0, 2000, '1'],
      [2000, 4000, '1,2'],
      [4000, 6000, '1'],
    ]);
  });

  it('snaps boundaries to output frames (fractional ms from the frame rate)', () => {
    const l = computeLayout([user('1', [[1234, 3000]])], 0, 3000, { ...opts, fps: 15 });
    expect(l.intervals.map((i) => [i.startFrame, i.endFrame, i.startMs])).toEqual([[0, 19, 0], [19, 45, 1266.667]]);
  });

  it('--max-tiles: the most recently audible users are shown, still in join order', () => {
    const users = [
      user('1', [[0, 10_000]], [[0, 1000]]),
      user('2', [[0, 10_000]], [[0, 10_000]]),
      user('3', [[0, 10_000]], [[0, 3000]]),
    ];
    expect(shown(computeLayout(users, 0, 10_000, { ...opts, maxTiles: 2 }))).toEqual([
      // All audible: join order decides.
      [0, 1000, '1,2'],
      // 1 went quiet at 1 s; 3 is still audible.
      [1000, 10_000, '2,3'],
    ]);
  });

  it('writes the sidecar in the documented shape', () => {
    const o = Date.UTC(2024, 0, 2, 3, 4, 5, 6);
    const l = computeLayout([user('7', [[o, o + 1000]])], o, o + 1000, opts);
    expect(JSON.parse(layoutJson(l, () => '20240102030405006'))).toEqual({
      width: 1280,
      height: 720,
      fps: 10,
      originUtc: '20240102030405006',
      layout: 'grid',
      intervals: [{ startMs: 0, endMs: 1000, tiles: [{ sid: 's1', uid: '7', x: 0, y: 0, w: 1280, h: 720 }] }],
    });
  });
});
