// Where our readers of slice bytes and ffmpeg disagree about a slice, media is never lost without a word:
// what ffmpeg really read and decoded from every input is held against what the slices were measured to hold,
// and a slice ffmpeg cannot read at all becomes a gap (named) instead of failing its user. (Issue 21.5.)
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { composeRecordings, mergeRecordings } from '../src/api.js';
import { beepTimes } from './support/measure.js';
import { writeRecording, type WrittenRecording } from './support/recording-fixture.js';
import { T0, tempDir } from './support/sync.js';

const SID = '51e7751e7751e7751e7751e7751e7751';
const CNAME = 'silent_loss';

/**
 * XORs every third byte of the elementary stream in the middle third of the TS packets of `pid`, sparing every ADTS header (7 bytes
 * from each 0xFFF sync in the payload stream): the headers still describe one configuration (the slice's audio is
 * measured as usable) but the frames there no longer decode, which only ffmpeg's decoder finds out.
 */
async function garbleTs(file: string, pid: number): Promise<void> {
  const b = await readFile(file);
  const n = b.length / 188;
  const at: number[] = []; // file offsets of the payload bytes, in stream order
  for (let i = Math.floor(n / 3); i < Math.floor((2 * n) / 3); i++) {
    const o = i * 188;
    if ((((b[o + 1]! & 0x1f) << 8) | b[o + 2]!) !== pid) continue;
    let k = o + 4 + (b[o + 3]! & 0x20 ? 1 + b[o + 4]! : 0); // past the adaptation field
    if (b[o + 1]! & 0x40) k += 9 + b[k + 8]!; // past the PES header
    for (; k < o + 188; k++) at.push(k);
  }
  const spared = new Set<number>();
  for (let j = 0; j + 1 < at.length; j++) {
    if (b[at[j]!] === 0xff && (b[at[j + 1]!]! & 0xf0) === 0xf0) for (let h = j; h < Math.min(j + 7, at.length); h++) spared.add(h);
  }
  for (let j = 0; j < at.length; j += 3) if (!spared.has(j)) b[at[j]!] = b[at[j]!]! ^ 0x5a;
  await writeFile(file, b);
}

describe('what ffmpeg could not read is said, naming the slice', () => {
  let w: WrittenRecording;
  let root: string;
  let garbled: string;
  let recoded: string;

  beforeAll(async () => {
    root = await tempDir('silent-loss');
    w = await writeRecording(root, {
      sid: SID,
      cname: CNAME,
      mode: 'standard',
      users: [
        // H.264 + AAC in TS: one audio slice's AAC frames garbled.
        { uid: '1', markers: [T0 + 1000, T0 + 5000], audio: [{ startMs: T0, durationMs: 6000, sliceMs: 2000 }], video: [{ startMs: T0, durationMs: 6000, sliceMs: 2000, width: 160, height: 90, fps: 15 }] },
        // A Web sender (standard mode: VP8 and Opus in WebM): its first audio slice says it holds AAC.
        { uid: '2', markers: [T0 + 3000, T0 + 5000], audio: [{ startMs: T0, durationMs: 6000, sliceMs: 2000 }], video: [{ startMs: T0, durationMs: 6000, sliceMs: 2000, width: 160, height: 120, fps: 15, codec: 'vp8' }] },
      ],
    } as Parameters<typeof writeRecording>[1]);
    garbled = w.slices.find((s) => s.uid === '1' && s.media === 'audio' && s.startMs > T0 + 1500 && s.startMs < T0 + 2500)!.key;
    await garbleTs(path.join(root, garbled), 0x100);
    recoded = w.slices.find((s) => s.uid === '2' && s.media === 'audio' && s.startMs < T0 + 500)!.key;
    const file = path.join(root, recoded);
    const b = await readFile(file);
    const at = b.indexOf(Buffer.from('A_OPUS'));
    expect(at).toBeGreaterThan(0);
    b.write('A_AAC\0', at);
    await writeFile(file, b);
  });

  it('merge: a slice whose audio ffmpeg cannot decode is named with what was lost; the rest is where it belongs', async () => {
    for (const transcode of [false, true]) {
      const summary = await mergeRecordings({ source: root, outDir: `${root}-merge-${transcode}`, uids: ['1'], transcode });
      const r = summary.results[0]!;
      expect(r.error).toBeNull();
      expect(r.warnings.join('\n')).toMatch(new RegExp(`${garbled}: ffmpeg decoded \\d\\.\\d{3} s of the 2\\.\\d{3} s of audio it holds \\(the rest is silent\\)`));
      // The beep at 5 s, in a slice ffmpeg reads, is where it was.
      const beeps = await beepTimes(r.file!);
      expect(beeps.some((t) => Math.abs(t - 5) < 0.02), JSON.stringify(beeps)).toBe(true);
    }
  });

  it('merge: a slice ffmpeg cannot open is a gap with its reason, not the failure of its user', async () => {
    const summary = await mergeRecordings({ source: root, outDir: `${root}-merge-webm`, uids: ['2'] });
    const r = summary.results[0]!;
    expect(r.error, JSON.stringify(r)).toBeNull();
    expect(r.warnings.join('\n')).toMatch(new RegExp(`${recoded}: ffmpeg cannot read it \\(.*Invalid chan_config.*\\); its time becomes a gap`));
    const beeps = await beepTimes(r.file!);
    expect(beeps.map((t) => Math.round(t))).toEqual([3, 5]);
  });

  it('compose says the same, naming the slices', async () => {
    const summary = await composeRecordings({ source: root, outDir: `${root}-compose`, size: { width: 320, height: 180 } });
    const r = summary.results[0]!;
    expect(r.error, JSON.stringify(r)).toBeNull();
    const said = r.warnings.join('\n');
    expect(said).toMatch(new RegExp(`${garbled}: ffmpeg decoded`));
    expect(said).toMatch(new RegExp(`${recoded}: ffmpeg cannot read it`));
    expect((await readdir(`${root}-compose`)).filter((f) => f.endsWith('.mp4'))).toHaveLength(1);
  });
});
