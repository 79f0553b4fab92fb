// The chunking rule of long re-encoded outputs (core/chunks.ts): a table.
import { describe, expect, it } from 'vitest';
import { planChunks } from '../src/core/chunks.js';

const lengths = (r: { fromFrame: number; toFrame: number }[]) => r.map((c) => c.toFrame - c.fromFrame);

describe('planChunks', () => {
  it.each<[string, number, number, number | undefined, number[], Array<[number, number]>]>([
    ['off', 9000, 30, undefined, [], [[0, 9000]]],
    ['not longer than a chunk', 9000, 30, 300, [], [[0, 9000]]],
    ['one frame over: two chunks', 9001, 30, 300, [], [[0, 4501], [4501, 9001]]],
    ['10 min in 2-min chunks at 30 fps', 18000, 30, 120, [], [[0, 3600], [3600, 7200], [7200, 10800], [10800, 14400], [14400, 18000]]],
    ['a run start within a tenth of a chunk takes the boundary', 18000, 30, 300, [0, 9200], [[0, 9200], [9200, 18000]]],
    ['a run start farther away does not', 18000, 30, 300, [0, 10000], [[0, 9000], [9000, 18000]]],
    ['29.97 fps, 61 s in 20 s chunks: 4 of 457 frames (15.2 s)', 1828, 30000 / 1001, 20, [], [[0, 457], [457, 914], [914, 1371], [1371, 1828]]],
  ])('%s', (_what, total, fps, chunkS, runStarts, expected) => {
    expect(planChunks(total, fps, chunkS, runStarts).map((c) => [c.fromFrame, c.toFrame])).toEqual(expected);
  });

  it('covers every frame once, in order, for any length', () => {
    for (const total of [1, 2, 599, 600, 601, 12345, 108000]) {
      for (const chunkS of [1, 7, 60, 300]) {
        const r = planChunks(total, 30, chunkS, [0, Math.floor(total / 3), Math.floor(total / 2)]);
        expect(r[0]!.fromFrame).toBe(0);
        expect(r.at(-1)!.toFrame).toBe(total);
        r.forEach((c, i) => {
          expect(c.toFrame).toBeGreaterThan(c.fromFrame);
          if (i > 0) expect(c.fromFrame).toBe(r[i - 1]!.toFrame);
        });
        expect(Math.max(...lengths(r))).toBeLessThanOrEqual(Math.round(chunkS * 30 * 1.1) + 1);
      }
    }
  });
});
