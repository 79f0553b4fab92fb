// The other recorder modes' audio and muxed shapes merge (issue 17 parts 1, 2 and 6), measured against the
// instants the sources carry (the fixture's `truth`): Opus in MPEG-TS (original mode) and Opus in WebM
// (standard mode, a Web VP8 sender) re-encoded to AAC with each beep within half an AAC frame of its source
// instant and no drift from slice to slice; raw mode's muxed A+V TS slices (H.264 and H.265, one slice
// feeding both tracks) and DASH WebM (VP8/VP9 + Opus) on the default path and with --transcode, through
// merge, compose and snapshots. Every output decodes without a single error line.
import { execFile } from 'node:child_process';
import { readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { composeRecordings, mergeRecordings, snapshotRecordings } from '../src/api.js';
import { parseUtc17 } from '../src/core/names.js';
import { snapshotFileName } from '../src/core/output-names.js';
import type { MergeOptions, OutputResult } from '../src/options.js';
import { beepTimes, decodeErrors, lumaTimeline, probe, whiteFrameTimes } from './support/measure.js';
import { writeRecording, type FixtureRecording, type MarkerTruth, type WrittenRecording } from './support/recording-fixture.js';
import { T0, tempDir } from './support/sync.js';
import { onsets, tileLuma, type LayoutFile } from './support/tiles.js';

const execFileAsync = promisify(execFile);
/** Half an AAC frame at 48 kHz: the bound every audio sample is held to, whatever the source codec. */
const HALF_AAC_FRAME_MS = 1024 / 48 / 2;
/** The re-encoded (decoded) audio of one run lands this close to its truth everywhere: nothing drifts from slice to slice. */
const SPREAD_MS = 3;
const common = { cname: 'modes_room', jitterMs: 15, extinf: 'recorder' as const };

interface Bounds {
  videoMs: number;
  audioMs: number;
}
const copy: Bounds = { videoMs: 5, audioMs: HALF_AAC_FRAME_MS };
const transcode = (fps: number): Bounds => ({ videoMs: 500 / fps + 5, audioMs: HALF_AAC_FRAME_MS });

let root: string;
beforeAll(async () => {
  root = await tempDir('modes-merge');
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** Time 0 of a user's output: the earliest slice name of the user. */
const originOf = (slices: WrittenRecording['slices'], uid: string) => Math.min(...slices.filter((s) => s.uid === uid).map((s) => s.nameStartMs));

async function merge(source: string, label: string, options: Partial<MergeOptions> = {}): Promise<OutputResult[]> {
  const summary = await mergeRecordings({ source, outDir: `${source}-${label}`, concurrency: 2, ...options });
  for (const r of summary.results) expect(r.error, `uid ${r.uid}: ${r.error}`).toBeNull();
  return summary.results;
}

/** Per marker, how far (ms) the output's white frame and beep land from the truth; null where the truth has none. */
async function landings(truth: MarkerTruth[], origin: number, file: string, media: { video: boolean; audio: boolean }) {
  const wantVideo = media.video ? truth.filter((t) => t.videoMs !== null) : [];
  const wantAudio = media.audio ? truth.filter((t) => t.audioMs !== null) : [];
  const whites = media.video ? await whiteFrameTimes(file) : [];
  const beeps = media.audio ? await beepTimes(file) : [];
  const report = `video want ${JSON.stringify(wantVideo.map((t) => t.videoMs! - origin))} got ${JSON.stringify(whites)}; audio want ${JSON.stringify(wantAudio.map((t) => t.audioMs! - origin))} got ${JSON.stringify(beeps)}`;
  expect(whites.length, report).toBe(wantVideo.length);
  expect(beeps.length, report).toBe(wantAudio.length);
  return {
    report,
    video: wantVideo.map((t, i) => whites[i]! * 1000 - (t.videoMs! - origin)),
    audio: wantAudio.map((t, i) => beeps[i]! * 1000 - (t.audioMs! - origin)),
  };
}

/** Every marker the source carries is in the output once, where its frame/sample lands, within the bounds; the output decodes clean. */
async function expectTruth(w: Pick<WrittenRecording, 'slices' | 'truth'>, r: OutputResult, bounds: Bounds, media = { video: true, audio: true }) {
  const got = await landings(w.truth.filter((t) => t.uid === r.uid), originOf(w.slices, r.uid), r.file!, media);
  got.video.forEach((d, i) => expect(Math.abs(d), `white ${i}: ${got.report}`).toBeLessThanOrEqual(bounds.videoMs));
  got.audio.forEach((d, i) => expect(Math.abs(d), `beep ${i}: ${got.report}`).toBeLessThanOrEqual(bounds.audioMs));
  expect(await decodeErrors(r.file!), r.file!).toBe('');
  return got;
}

const byUid = (results: OutputResult[], uid: string) => results.find((r) => r.uid === uid)!;

describe('17.1 original mode: Opus in MPEG-TS, re-encoded to AAC and placed exactly', () => {
  // Original mode records audio only; the same user's H.264 video comes from a default-mode recording of
  // the same session into the same folder (a user whose audio profile keeps Opus, with a camera).
  const audio: FixtureRecording = {
    ...common,
    sid: '17a0c2a9b7d4e3f8a6c1b0d2e4f6a801',
    mode: 'original',
    users: [
      // A mute ends a run: the second starts after a gap, in slices of its own. 20 ms packets, cut every 1.5 s.
      { uid: '1', markers: [T0 + 1000, T0 + 2600, T0 + 4300, T0 + 6500], audio: [{ startMs: T0, durationMs: 5000, sliceMs: 1500, codec: 'opus', channels: 2 }, { startMs: T0 + 5600, durationMs: 2000, codec: 'opus' }] },
      { uid: '2', markers: [T0 + 1000, T0 + 2600, T0 + 4300], audio: [{ startMs: T0 + 200, durationMs: 5000, sliceMs: 1500, codec: 'opus' }] },
    ],
  };
  const video: FixtureRecording = {
    ...common,
    sid: audio.sid,
    users: [{ uid: '1', markers: audio.users[0]!.markers, video: [{ startMs: T0, durationMs: 7600, width: 160, height: 90, fps: 15, sliceMs: 2000 }] }],
  };
  let w: Pick<WrittenRecording, 'slices' | 'truth'>;
  let folder: string;
  beforeAll(async () => {
    folder = `${root}/original`;
    const a = await writeRecording(folder, audio);
    const v = await writeRecording(folder, video);
    // The marker truth of each media comes from the recording that holds it.
    const videoOf = (t: MarkerTruth) => v.truth.find((x) => x.uid === t.uid && x.markerMs === t.markerMs)?.videoMs ?? null;
    w = { slices: [...a.slices, ...v.slices], truth: a.truth.map((t) => ({ ...t, videoMs: videoOf(t) })) };
  }, 300_000);

  it('default path: Opus becomes AAC, every beep within half an AAC frame of its source instant, no drift; the H.264 video copied', async () => {
    const results = await merge(folder, 'out');
    const u1 = byUid(results, '1');
    expect([u1.kind, u1.videoPath, u1.audioPath]).toEqual(['av', 'copy', 'transcode']);
    expect((await probe(u1.file!)).audio).toMatchObject({ codec: 'aac', sampleRate: 48000, channels: 2 });
    const got = await expectTruth(w, u1, copy);
    expect(Math.max(...got.audio) - Math.min(...got.audio), got.report).toBeLessThanOrEqual(SPREAD_MS);
    const u2 = byUid(results, '2');
    expect(u2.kind).toBe('audio');
    expect((await probe(u2.file!)).audio).toMatchObject({ codec: 'aac', channels: 1 });
    const got2 = await expectTruth(w, u2, copy, { video: false, audio: true });
    expect(Math.max(...got2.audio) - Math.min(...got2.audio), got2.report).toBeLessThanOrEqual(SPREAD_MS);
    for (const r of results) expect(r.warnings.filter((x) => /opus|cannot|unreadable/i.test(x)), r.uid).toEqual([]);
  });

  it('--transcode: the same', async () => {
    const results = await merge(folder, 'transcode', { transcode: true });
    const got = await expectTruth(w, byUid(results, '1'), transcode(15));
    expect(Math.max(...got.audio) - Math.min(...got.audio), got.report).toBeLessThanOrEqual(SPREAD_MS);
  });
});

describe('17.2 standard mode: Opus in WebM (Web VP8 sender) held to the AAC bound over many slices', () => {
  const rec: FixtureRecording = {
    ...common,
    sid: '17a0c2a9b7d4e3f8a6c1b0d2e4f6a802',
    mode: 'standard',
    users: [
      // Opus in WebM: a marker in each of five 2 s slices (none in a slice's dropped first 6.5 ms).
      { uid: '1', markers: [T0 + 1000, T0 + 3500, T0 + 5500, T0 + 7300, T0 + 9100], audio: [{ startMs: T0, durationMs: 10000, sliceMs: 2000 }], video: [{ startMs: T0, durationMs: 10000, width: 160, height: 90, fps: 15, codec: 'vp8', sliceMs: 2000 }] },
      // The same audio as AAC in TS, beside it.
      { uid: '2', markers: [T0 + 1000, T0 + 3500, T0 + 5500, T0 + 7300, T0 + 9100], audio: [{ startMs: T0, durationMs: 10000, sliceMs: 2000 }], video: [{ startMs: T0, durationMs: 10000, width: 160, height: 90, fps: 15, sliceMs: 2000 }] },
    ],
  };
  let w: WrittenRecording;
  beforeAll(async () => {
    w = await writeRecording(`${root}/standard`, rec);
    expect(w.slices.filter((s) => s.uid === '1' && s.media === 'audio' && s.key.endsWith('.webm')).length).toBeGreaterThanOrEqual(5);
  }, 300_000);

  it('each beep lands within half an AAC frame of its source instant in every slice, the first as the last (no growth)', async () => {
    const results = await merge(w.root, 'out');
    const u1 = byUid(results, '1');
    expect(u1.audioPath).toBe('transcode');
    const got = await expectTruth(w, u1, transcode(15));
    expect(got.audio.length).toBe(5);
    expect(Math.max(...got.audio) - Math.min(...got.audio), got.report).toBeLessThanOrEqual(SPREAD_MS);
    await expectTruth(w, byUid(results, '2'), copy);
  });
});

describe('17.6 raw mode (built from the docs description): muxed A+V TS slices and DASH WebM', () => {
  const rec: FixtureRecording = {
    ...common,
    sid: '17a0c2a9b7d4e3f8a6c1b0d2e4f6a806',
    mode: 'raw',
    users: [
      // H.264 + AAC in one slice, cut at keyframes and force-cut mid-GOP (3.8 s): each slice feeds both tracks.
      { uid: '1', markers: [T0 + 1000, T0 + 3500, T0 + 5500], audio: [{ startMs: T0, durationMs: 6000 }], video: [{ startMs: T0, durationMs: 6000, width: 160, height: 90, fps: 15, sliceMs: 2000, forceCutsMs: [3800] }] },
      // H.265 + stereo AAC: the audio of a later slice starts well before its video (PES cuts), its name labels the audio.
      { uid: '2', markers: [T0 + 1200, T0 + 2500], audio: [{ startMs: T0, durationMs: 3000, channels: 2 }], video: [{ startMs: T0, durationMs: 3000, width: 160, height: 96, fps: 15, codec: 'hevc', sliceMs: 1500 }] },
      // DASH: VP9 and VP8 with Opus, WebM segments placed by the MPD's times.
      { uid: '3', markers: [T0 + 1000, T0 + 3500], audio: [{ startMs: T0, durationMs: 5000, sliceMs: 2000 }], video: [{ startMs: T0, durationMs: 5000, width: 160, height: 90, fps: 15, codec: 'vp9', sliceMs: 2000 }] },
      { uid: '4', markers: [T0 + 1000, T0 + 3500], audio: [{ startMs: T0, durationMs: 5000, sliceMs: 2000 }], video: [{ startMs: T0, durationMs: 5000, width: 160, height: 90, fps: 15, codec: 'vp8', sliceMs: 2000 }] },
    ],
  };
  let w: WrittenRecording;
  beforeAll(async () => {
    w = await writeRecording(`${root}/raw`, rec);
    // The shape under test: muxed slices whose audio starts before their video (the name labels the earlier).
    const muxed = w.slices.filter((s) => s.muxed && s.media === 'video');
    expect(muxed.length).toBeGreaterThanOrEqual(5);
  }, 300_000);

  it('default path: every user\'s markers against the truth; H.264 and its AAC copied from the same slices, H.265 re-encoded', async () => {
    const results = await merge(w.root, 'out');
    const paths = Object.fromEntries(results.map((r) => [r.uid, [r.videoPath, r.audioPath]]));
    expect(paths).toEqual({ '1': ['copy', 'copy'], '2': ['transcode', 'copy'], '3': ['transcode', 'transcode'], '4': ['transcode', 'transcode'] });
    await expectTruth(w, byUid(results, '1'), copy);
    await expectTruth(w, byUid(results, '2'), { videoMs: transcode(15).videoMs, audioMs: copy.audioMs });
    for (const uid of ['3', '4']) {
      const got = await expectTruth(w, byUid(results, uid), transcode(15));
      expect(Math.max(...got.audio) - Math.min(...got.audio), got.report).toBeLessThanOrEqual(SPREAD_MS);
    }
    // Nothing is lost, and slices overlap by no more than their names' jitter: each stream of a muxed slice is
    // placed where its own first timestamp is (placed by the file's start, an H.265 slice's audio overlapped by 178 ms).
    for (const r of results) {
      expect(r.warnings.filter((x) => /cannot be (read|used|decoded)|lost|silent/.test(x)), r.uid).toEqual([]);
      for (const x of r.warnings) expect(Number(/overlap the next one \(by up to (\d+) ms/.exec(x)?.[1] ?? 0), x).toBeLessThanOrEqual(2 * common.jitterMs + 1);
    }
  });

  it('--transcode: the same markers, every stream decoded from the muxed slices', async () => {
    const results = await merge(w.root, 'transcode', { transcode: true });
    for (const r of results) {
      expect([r.videoPath, r.audioPath]).toEqual(['transcode', 'transcode']);
      const got = await expectTruth(w, r, transcode(15));
      expect(Math.max(...got.audio) - Math.min(...got.audio), `${r.uid}: ${got.report}`).toBeLessThanOrEqual(SPREAD_MS);
    }
  });

  it('compose: each flash inside its user\'s tile at its instant', async () => {
    const fps = 15;
    const composed = await composeRecordings({ source: w.root, outDir: `${w.root}-compose`, size: { width: 320, height: 180 }, fps });
    const r = composed.results[0]!;
    expect(r.error).toBeNull();
    expect(await decodeErrors(r.file!)).toBe('');
    const layout = JSON.parse(await readFile(r.layoutFile!, 'utf8')) as LayoutFile;
    const originMs = parseUtc17(layout.originUtc)!;
    const luma = await tileLuma(r.file!, layout);
    for (const uid of ['1', '2', '3', '4']) {
      const seen = onsets(luma.get(uid) ?? []);
      const want = w.truth.filter((t) => t.uid === uid && t.videoMs !== null).map((t) => (t.videoMs! - originMs) / 1000);
      const report = `uid ${uid}: flashes at ${JSON.stringify(seen)}, source ${JSON.stringify(want)}`;
      expect(seen, report).toHaveLength(want.length);
      want.forEach((t, i) => expect(Math.abs(seen[i]! - t) * 1000, report).toBeLessThanOrEqual(500 / fps + 5));
    }
  });

  it('snapshots: the picture at a flash\'s instant is the flash, the one a frame before is not', async () => {
    // The last flash of each user (in a later slice, where a muxed slice's own start matters).
    const flashes = ['1', '2', '3', '4'].map((uid) => w.truth.filter((t) => t.uid === uid && t.videoMs !== null).at(-1)!).map((t) => ({ uid: t.uid, atMs: t.videoMs! }));
    const frameMs = 1000 / 15;
    const at = flashes.flatMap((f) => [Math.round(f.atMs + frameMs / 2), Math.round(f.atMs - frameMs / 2)]);
    const shots = await snapshotRecordings({ source: w.root, outDir: `${w.root}-shots`, at });
    expect(shots.ok, JSON.stringify(shots.results.map((x) => x.error))).toBe(true);
    for (const f of flashes) {
      const file = (ms: number) => path.join(`${w.root}-shots`, snapshotFileName(rec.sid, rec.cname, f.uid, ms));
      expect((await lumaTimeline(file(Math.round(f.atMs + frameMs / 2))))[0]!.y, `uid ${f.uid} at ${f.atMs - T0} ms`).toBeGreaterThan(150);
      expect((await lumaTimeline(file(Math.round(f.atMs - frameMs / 2))))[0]!.y, `uid ${f.uid} before ${f.atMs - T0} ms`).toBeLessThan(100);
    }
  });
});

describe('17.6 raw mode: what a recorder could write that cannot be read is said, and the rest merges', () => {
  it('a muxed slice holding audio alone (the video muted for its span): its video time is a gap said in the warnings, its audio merges in place', async () => {
    const rec: FixtureRecording = {
      ...common,
      sid: '17a0c2a9b7d4e3f8a6c1b0d2e4f6a807',
      mode: 'raw',
      users: [{ uid: '1', markers: [T0 + 1000, T0 + 3000, T0 + 5500], audio: [{ startMs: T0, durationMs: 6000 }], video: [{ startMs: T0, durationMs: 6000, width: 160, height: 90, fps: 15, sliceMs: 2000 }] }],
    };
    const w = await writeRecording(`${root}/raw-audio-alone`, rec);
    const muxed = w.slices.filter((s) => s.media === 'video');
    expect(muxed.length).toBe(3);
    const middle = muxed[1]!;
    // The recorder's slice with no video: the same audio packets and times, no video stream.
    const alone = `${middle.path}.alone.ts`;
    await execFileAsync('ffmpeg', ['-v', 'error', '-copyts', '-i', middle.path, '-map', '0:a', '-c', 'copy', '-muxdelay', '0', '-muxpreload', '0', '-f', 'mpegts', alone]);
    await rename(alone, middle.path);
    const [r] = await merge(w.root, 'out');
    expect(r!.warnings).toContainEqual(expect.stringMatching(new RegExp(`^${path.basename(middle.key)}: its video cannot be used \\(holds no video stream\\); its time is a gap in the video \\(the audio is merged\\)$`)));
    // Every beep where the truth has it; the flash of the muted slice is missing, the others in place.
    const truth = w.truth.map((t) => (t.markerMs === T0 + 3000 ? { ...t, videoMs: null } : t));
    expect(w.truth.find((t) => t.markerMs === T0 + 3000)!.videoMs).not.toBeNull();
    await expectTruth({ slices: w.slices, truth }, r!, copy);
  });
});
