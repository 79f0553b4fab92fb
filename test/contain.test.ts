// Untrusted bytes cannot hang or exhaust the process (issue 18): slices that send mediabunny's demuxers into
// loops that never end (a WebM resync that cannot advance: an unknown-size Segment with zeros after it, a
// Cues element with its ID zeroed, 10,000 nested ChapterAtoms) or that allocate without bound (an ADTS
// frame_length of 0 in an unlisted TS slice) are read in reader threads with a time budget and a heap
// limit: the reader gives up on THAT slice, ffprobe reads it instead, every user is merged with its markers
// where they belong, and SIGINT/SIGTERM stop a run while a reader is stuck. Before, each of these blocked the
// event loop for good (signals ignored) or grew to gigabytes until V8 aborted.
import { spawn } from 'node:child_process';
import { cp, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { probeSlice } from '../src/ffmpeg/probe.js';
import { readSliceFacts } from '../src/media/slice-facts.js';
import { measureSlice, probeWebm } from '../src/media/slice-media.js';
import type { MergeSummary } from '../src/options.js';
import { BIN, recmerge } from './support/cli.js';
import { editAdtsHeaders, nestedAtoms, unknownSizeSegment, zeroedCuesId } from './support/media-edit.js';
import { playlistName, writeRecording, type WrittenRecording } from './support/recording-fixture.js';
import { expectMarkers, outputSeconds, T0, tempDir } from './support/sync.js';

const rec = { sid: 'c0117a1bc0117a1bc0117a1bc0117a1b', cname: 'contain_room' };
const markers = [T0 + 1000, T0 + 3000, T0 + 5000];
let base: string;
let w: WrittenRecording;

/** The WebM mutations that hang mediabunny's EBML resync (see DEVELOPERS.md, "mediabunny"). */
export const HANGING_WEBM: [string, (webm: Buffer) => Buffer][] = [
  ['an unknown-size Segment with 100 zero bytes after it', (b) => Buffer.concat([unknownSizeSegment(b), Buffer.alloc(100)])],
  ['a Cues element with its ID zeroed', zeroedCuesId],
  ['10,000 nested ChapterAtoms', (b) => nestedAtoms(b, 10_000)],
];

/** ADTS frame_length 0 in the last frame (in the slice's last PES). */
const zeroFrameLength = (ts: Buffer) => {
  const out = Buffer.from(ts);
  expect(editAdtsHeaders(out, { frameLength: 0 }, (i, n) => i === n - 1)).toBe(1);
  return out;
};

beforeAll(async () => {
  base = await tempDir('contain');
  w = await writeRecording(base, {
    ...rec,
    users: [
      // A web sender: VP8 video in WebM slices, AAC audio in TS.
      {
        uid: '1',
        markers,
        audio: [{ startMs: T0, durationMs: 6000, sliceMs: 2000 }],
        video: [{ startMs: T0, durationMs: 6000, sliceMs: 2000, width: 160, height: 90, fps: 15, codec: 'vp8' }],
      },
      { uid: '2', markers, audio: [{ startMs: T0, durationMs: 6000, sliceMs: 2000 }] },
      {
        uid: '3',
        markers,
        audio: [{ startMs: T0, durationMs: 6000, sliceMs: 2000 }],
        video: [{ startMs: T0, durationMs: 6000, sliceMs: 2000, width: 160, height: 90, fps: 15 }],
      },
    ],
  });
});

const slicesOf = (uid: string, media: 'audio' | 'video') => w.slices.filter((s) => s.uid === uid && s.media === media).sort((a, b) => a.nameStartMs - b.nameStartMs);

async function broken(label: string, file: string, edit: (data: Buffer) => Buffer): Promise<string> {
  const out = path.join(await tempDir(`contain-${label}`), path.basename(file));
  await writeFile(out, edit(await readFile(file)));
  return out;
}

describe('a slice that hangs or exhausts an in-process reader', () => {
  it.each(HANGING_WEBM)('WebM with %s: the reader gives up within its budget, ffprobe measures the slice', async (_label, edit) => {
    const original = path.join(base, slicesOf('1', 'video')[1]!.key);
    const file = await broken('webm', original, edit);
    const facts = await readSliceFacts(file, 'webm');
    // mediabunny gave up (null: the caller asks ffprobe) or answered what ffprobe answers.
    if (facts) expect(facts.facts).toEqual((await probeSlice(file)).facts);
    const measured = await measureSlice(file, 'webm', 'video');
    const truth = await probeWebm(original, 'video');
    expect(measured.frameOffsetsMs).toEqual(truth.frameOffsetsMs);
    expect(measured.startS).toBeCloseTo(truth.startS, 3);
  });

  it("the run's AbortSignal ends a read that is stuck (it does not wait for the budget); the next read works", async () => {
    const file = await broken('abort', path.join(base, slicesOf('1', 'video')[1]!.key), HANGING_WEBM[0]![1]);
    const controller = new AbortController();
    const reading = readSliceFacts(file, 'webm', true, controller.signal);
    setTimeout(() => controller.abort(new Error('stopped by the run')), 500);
    await expect(reading).rejects.toThrow('stopped by the run');
    expect((await readSliceFacts(path.join(base, slicesOf('1', 'video')[0]!.key), 'webm'))?.facts.video?.codec).toBe('vp8');
  });

  it('TS audio with an ADTS frame_length of 0: mediabunny runs out of its heap, not the process; the scanner measures it', async () => {
    const original = path.join(base, slicesOf('2', 'audio').at(-1)!.key);
    const file = await broken('ts', original, zeroFrameLength);
    // The length needs every packet: this is where mediabunny's MPEG-TS demuxer allocates without end.
    expect(await readSliceFacts(file, 'ts', true)).toBeNull();
    const measured = await measureSlice(file, 'ts', 'audio');
    // Short by at most the damaged frame (skipped, as ffmpeg's decoder would).
    expect((await measureSlice(original, 'ts', 'audio')).lengthMs - measured.lengthMs).toBeLessThanOrEqual((1024 / 48000) * 1000 + 0.01);
    const before = process.memoryUsage().rss;
    expect(await readSliceFacts(file, 'ts', true)).toBeNull();
    // Given up on once, the file is not read by mediabunny again (and the heap limit held the first time).
    expect(process.memoryUsage().rss - before).toBeLessThan(100 << 20);
  });
});

/** A copy of the recording with uid 1's middle video slice hanging mediabunny and uid 2's last audio slice unlisted and broken. */
async function hostileCopy(label: string, hangAll = false): Promise<string> {
  const root = await tempDir(label);
  await cp(base, root, { recursive: true });
  const video = slicesOf('1', 'video');
  for (const s of hangAll ? video : [video[1]!]) {
    const file = path.join(root, s.key);
    await writeFile(file, HANGING_WEBM[0]![1](await readFile(file)));
  }
  const last = slicesOf('2', 'audio').at(-1)!;
  await writeFile(path.join(root, last.key), zeroFrameLength(await readFile(path.join(root, last.key))));
  // The playlist lost its last entry and its #EXT-X-ENDLIST: the slice is placed by its name, its length measured.
  const playlist = path.join(root, playlistName(rec, '2', 'audio'));
  const lines = (await readFile(playlist, 'utf8')).split('\n').filter((l) => l !== last.key && l !== '#EXT-X-ENDLIST');
  const lastInf = lines.map((l) => l.startsWith('#EXTINF')).lastIndexOf(true);
  lines.splice(lastInf, 1);
  await writeFile(playlist, lines.join('\n'));
  return root;
}

/** CPU time (user + system, all threads) a process has used so far. */
async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11] ?? 0) + Number(fields[12] ?? 0)) / 100;
}

describe('a run over such slices', () => {
  it('merges every user, markers where they belong', async () => {
    const root = await hostileCopy('contain-run');
    const out = `${root}-out`;
    const run = await recmerge(['merge', root, '-o', out, '--json']);
    expect(run.code, run.stderr).toBe(0);
    const summary = JSON.parse(run.stdout) as MergeSummary;
    expect(summary.results.map((r) => [r.uid, r.error])).toEqual([
      ['1', null],
      ['2', null],
      ['3', null],
    ]);
    for (const r of summary.results) await expectMarkers(r.file!, outputSeconds(markers, T0), 15, { video: r.uid !== '2' });
  });

  it.each(['SIGINT', 'SIGTERM'] as const)('%s stops it while readers are stuck: exit, no unfinished file left', async (name) => {
    const root = await hostileCopy(`contain-${name}`, true);
    const out = `${root}-out`;
    const child = spawn(process.execPath, [BIN, 'merge', root, '-o', out], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.resume();
    // Every video slice of uid 1 holds a reader for its whole budget (10 s each, two readers). The signal
    // comes once the process has spent 2 s of CPU: a run of this size needs well under one unless a reader spins.
    const started = Date.now();
    while ((await cpuSeconds(child.pid!)) < 2 && child.exitCode === null && Date.now() - started < 60_000) await new Promise((r) => setTimeout(r, 200));
    child.kill(name);
    // A bound on being stuck, not a speed assertion: before, nothing but SIGKILL ended such a run.
    const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((r) => child.on('exit', (c, s) => r([c, s])));
    clearTimeout(killer);
    expect(signal, stderr).toBeNull();
    expect(code, stderr).not.toBe(0);
    expect(stderr).toContain(`${name}: stopping`);
    expect((await readdir(out).catch(() => [] as string[])).filter((f) => !f.startsWith('.recmerge-cache'))).toEqual([]);
  });
});
