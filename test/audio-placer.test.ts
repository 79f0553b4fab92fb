// The audio copy path: every slice's frames start at round(offset / frame) in the placed stream, i.e.
// within half an AAC frame of its wall-clock offset; gaps hold silence; an overlap cuts the earlier slice.
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import type { PlacedSlice } from '../src/core/types.js';
import { splitAdts } from '../src/media/adts.js';
import { readSliceFrames, writePlacedAdts } from '../src/media/audio-placer.js';
import { tempDir } from './support/sync.js';
import { editAdtsHeaders, type AdtsHeaderEdit } from './support/media-edit.js';

const FRAME_MS = (1024 / 48000) * 1000;
// A valid 9-byte ADTS frame (AAC-LC, 48 kHz, mono) standing in for the encoded silent frame.
const SILENT = Buffer.from('fff14c40013ffc211b', 'hex');

describe('writePlacedAdts', () => {
  const paths = new Map<string, string>();
  beforeAll(async () => {
    const dir = await tempDir('placer');
    // Three 1 s slices with different tones, so their frames can be told apart in the output.
    for (const [key, hz] of [['a', 300], ['b', 600], ['c', 900]] as const) {
      const file = path.join(dir, `${key}.ts`);
      await promisify(execFile)('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', `sine=f=${hz}:r=48000:d=1`, '-c:a', 'aac', '-b:a', '64k', '-f', 'mpegts', file]);
      paths.set(key, file);
    }
  });

  const slice = (key: string, offsetMs: number, slotMs: number): PlacedSlice => ({ key, offsetMs, slotMs, durationMs: 1000, startMs: offsetMs });

  it('starts every slice on the frame nearest its offset, silence in gaps, overlaps cut', async () => {
    // a at 0; b after a 500 ms gap at 1500; c at 2010.7, 490 ms before b would end.
    const slices = [slice('a', 0, 1000), slice('b', 1500, 510.7), slice('c', 2010.7, 1000)];
    const out = path.join(path.dirname(paths.get('a')!), 'placed.aac');
    const placed = await writePlacedAdts(slices, paths, out, async () => SILENT);
    const frames = splitAdts(await readFile(out)).frames;
    expect(placed.frames).toBe(frames.length);

    const source = Object.fromEntries(await Promise.all([...paths].map(async ([k, f]) => [k, (await readSliceFrames(f)).frames] as const)));
    for (const s of slices) {
      const start = Math.round(s.offsetMs / FRAME_MS);
      // The slice's own frames begin exactly there: within half a frame (10.7 ms) of its offset.
      expect(Math.abs(start * FRAME_MS - s.offsetMs)).toBeLessThanOrEqual(FRAME_MS / 2);
      expect(frames[start + 5]!.equals(source[s.key]![5]!), `${s.key} at frame ${start}`).toBe(true);
    }
    // The gap between a's end and b's start is silence.
    const aEnd = source.a!.length;
    const bStart = Math.round(1500 / FRAME_MS);
    expect(frames.slice(aEnd, bStart).every((f) => f.equals(SILENT))).toBe(true);
    // b is cut where c starts: c's first frame follows b's frame just before it.
    const cStart = Math.round(2010.7 / FRAME_MS);
    expect(frames[cStart - 1]!.equals(source.b![cStart - 1 - bStart]!)).toBe(true);
    expect(frames[cStart]!.equals(source.c![0]!)).toBe(true);
  });

  it('replaces an unreadable slice by silence and names it, keeping the next slice in place', async () => {
    const bad = new Map(paths);
    bad.set('b', paths.get('a')!.replace(/a\.ts$/, 'missing.ts'));
    const out = path.join(path.dirname(paths.get('a')!), 'placed-bad.aac');
    const placed = await writePlacedAdts([slice('a', 0, 1000), slice('b', 1500, 1000), slice('c', 3000, 1000)], bad, out, async () => SILENT);
    expect(placed.warnings.join('\n')).toMatch(/^b: .*its time is silent$/m);
    const frames = splitAdts(await readFile(out)).frames;
    const cStart = Math.round(3000 / FRAME_MS);
    expect(frames[cStart]!.equals((await readSliceFrames(paths.get('c')!)).frames[0]!)).toBe(true);
  });

  it.each<[string, AdtsHeaderEdit]>([
    ['sample-rate index 15', { sampleRateIndex: 15 }],
    ['channel configuration 7', { channelConfig: 7 }],
    ['four raw data blocks', { blocks: 4 }],
    ['another sample rate (44.1 kHz)', { sampleRateIndex: 4 }],
  ])('a slice whose frames turn unusual (%s) from its middle on: the rest of its time is silent, named; no error', async (_label, edit) => {
    const odd = paths.get('b')!.replace(/b\.ts$/, `b-odd-${Object.keys(edit)[0]}.ts`);
    const data = await readFile(paths.get('b')!);
    editAdtsHeaders(data, edit, (i, n) => i >= n / 2);
    await writeFile(odd, data);
    const withOdd = new Map(paths).set('b', odd);
    const out = path.join(path.dirname(odd), `placed-odd-${Object.keys(edit)[0]}.aac`);
    // With pieces (the transcode path when the channel count changes inside a slice), where this threw before.
    const placed = await writePlacedAdts([slice('a', 0, 1000), slice('b', 1500, 1000), slice('c', 3000, 1000)], withOdd, out, async () => SILENT, undefined, 0, (i) => `${out}.${i}`);
    expect(placed.warnings.join('\n')).toMatch(/^b: .*the rest of its time is silent$/m);
    expect(placed.pieces).toHaveLength(1);
    const frames = splitAdts(await readFile(out)).frames;
    const source = (await readSliceFrames(paths.get('b')!)).frames;
    const bStart = Math.round(1500 / FRAME_MS);
    // b's first half is there, frame for frame; then silence up to c, which starts on its frame.
    const kept = Math.ceil(source.length / 2);
    expect(frames.slice(bStart, bStart + kept).every((f, i) => f.equals(source[i]!))).toBe(true);
    const cStart = Math.round(3000 / FRAME_MS);
    expect(frames.slice(bStart + kept, cStart).every((f) => f.equals(SILENT))).toBe(true);
    expect(frames[cStart]!.equals((await readSliceFrames(paths.get('c')!)).frames[0]!)).toBe(true);
  });
});
