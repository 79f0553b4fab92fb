// One audio slice whose ADTS headers say something the rest of the track does not (7.1 channels, four raw
// blocks a frame, a reserved sample-rate index), in all its frames or from its middle on: that slice's time
// becomes a gap, said in a warning that names it, and the rest of the user's audio stays exact (every
// other beep within half an AAC frame of where the source carries it), on both paths. The other user is
// merged as if nothing happened. (Before: "AAC configuration changes mid-track" failed the whole output, or
// the slice went in without a word.)
import { execFile } from 'node:child_process';
import { cp, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { mergeRecordings } from '../src/api.js';
import { resolveTool } from '../src/ffmpeg/runner.js';
import { audioRms, beepTimes } from './support/measure.js';
import { writeRecording, type WrittenRecording } from './support/recording-fixture.js';
import { T0, tempDir } from './support/sync.js';
import { editAdtsHeaders, type AdtsHeaderEdit } from './support/media-edit.js';

const AAC_FRAME_MS = (1024 / 48000) * 1000;
// 12 s of audio in 2 s slices; the slice at 4-6 s (no beep in it) is the odd one.
const markers = [T0 + 1000, T0 + 3000, T0 + 7000, T0 + 9000, T0 + 11_000];
let base: string;
let w: WrittenRecording;

beforeAll(async () => {
  base = await tempDir('adts-config');
  w = await writeRecording(base, {
    sid: '7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a',
    cname: 'odd_room',
    users: [
      { uid: '1', markers, audio: [{ startMs: T0, durationMs: 12_000, sliceMs: 2000 }] },
      { uid: '2', markers: [T0 + 1000], audio: [{ startMs: T0, durationMs: 4000, sliceMs: 2000 }] },
    ],
  });
});

const decodeErrors = async (file: string) => (await promisify(execFile)(resolveTool('ffmpeg'), ['-v', 'error', '-i', file, '-f', 'null', '-'])).stderr;

describe('an audio slice with an unusual ADTS configuration', () => {
  it.each<[string, AdtsHeaderEdit, boolean]>([
    ['channel configuration 7, every frame', { channelConfig: 7 }, false],
    ['channel configuration 7, from the middle on', { channelConfig: 7 }, true],
    ['four raw data blocks a frame, every frame', { blocks: 4 }, false],
    ['four raw data blocks a frame, from the middle on', { blocks: 4 }, true],
    ['sample-rate index 15 (reserved), every frame', { sampleRateIndex: 15 }, false],
    ['sample-rate index 15 (reserved), from the middle on', { sampleRateIndex: 15 }, true],
  ])('%s: a gap with a warning naming the slice; every other beep where it belongs', async (label, edit, fromMiddle) => {
    const root = await tempDir('adts-odd');
    await cp(base, root, { recursive: true });
    const odd = w.slices.find((s) => s.uid === '1' && s.media === 'audio' && Math.abs(s.nameStartMs - (T0 + 4000)) < 100)!;
    const file = path.join(root, odd.key);
    const data = await readFile(file);
    expect(editAdtsHeaders(data, edit, (i, n) => !fromMiddle || i >= n / 2)).toBeGreaterThan(40);
    await writeFile(file, data);
    const origin = Math.min(...w.slices.filter((s) => s.uid === '1').map((s) => s.nameStartMs));
    const want = w.truth.filter((t) => t.uid === '1' && t.audioMs !== null).map((t) => (t.audioMs! - origin) / 1000);
    for (const transcode of [false, true]) {
      const summary = await mergeRecordings({ source: root, outDir: `${root}-${transcode}`, transcode });
      const r = summary.results.find((x) => x.uid === '1')!;
      const context = `${label}, transcode ${transcode}: ${JSON.stringify(r)}`;
      expect(r.error, context).toBeNull();
      expect(r.warnings.some((m) => m.includes(odd.key)), context).toBe(true);
      const beeps = await beepTimes(r.file!);
      expect(beeps.length, `${context}\nbeeps ${JSON.stringify(beeps)} want ${JSON.stringify(want)}`).toBe(want.length);
      want.forEach((t, i) => expect(Math.abs(beeps[i]! - t) * 1000, `${context}\nbeeps ${JSON.stringify(beeps)} want ${JSON.stringify(want)}`).toBeLessThanOrEqual(AAC_FRAME_MS / 2));
      // The slice's time is digital silence (not noise decoded from damaged headers); the rest is copied as it was.
      expect(await audioRms(r.file!, 4.1, 5.9), context).toBeLessThan(-80);
      expect(r.audioPath, context).toBe(transcode ? 'transcode' : 'copy');
      expect(await decodeErrors(r.file!), context).toBe('');
      expect(summary.results.find((x) => x.uid === '2')?.error, context).toBeNull();
    }
  });
});
