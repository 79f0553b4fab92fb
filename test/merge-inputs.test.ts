// What real buckets and real options bring: single-track users, split sessions, playlist copies,
// backup recorders, junk, modes and names, trimming, and a broken UID among good ones.
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { inspectRecordings, mergeRecordings } from '../src/api.js';
import type { OutputResult } from '../src/options.js';
import { probe } from './support/measure.js';
import { playlistName, writeRecording, type FixtureUser } from './support/recording-fixture.js';
import { expectMarkers, outputSeconds, T0, tempDir } from './support/sync.js';
import { expectDecodesClean, expectOutputsDecodeClean } from './support/decode-clean.js';

const SID = 'aaaa0000bbbb1111cccc2222dddd3333';
const SID2 = 'eeee4444ffff5555aaaa6666bbbb7777';
const CNAME = 'lesson_42';
const v = (startMs: number, durationMs: number) => ({ startMs, durationMs, width: 160, height: 90, fps: 15 });
const a = (startMs: number, durationMs: number) => ({ startMs, durationMs });
const ok = (r: OutputResult | undefined) => {
  expect(r, 'no such result').toBeDefined();
  expect(r!.error, JSON.stringify(r)).toBeNull();
  return r!;
};

describe('single-track users', () => {
  it('writes .m4a for an audio-only UID and a video-only MP4 for a video-only UID', async () => {
    const root = await tempDir('single');
    const markers = [T0 + 1200, T0 + 2600];
    await writeRecording(root, {
      sid: SID,
      cname: CNAME,
      users: [
        { uid: '1', markers, audio: [a(T0, 4000)] },
        { uid: '2', markers, video: [v(T0 + 1000, 3000)] },
      ],
    });
    const s = await mergeRecordings({ source: root, outDir: `${root}-out` });
    await expectOutputsDecodeClean(s);
    const audioOnly = ok(s.results.find((r) => r.uid === '1'));
    const videoOnly = ok(s.results.find((r) => r.uid === '2'));
    expect(path.basename(audioOnly.file!)).toBe(`${SID}_${CNAME}__uid_s_1__uid_e_audio.m4a`);
    expect(path.basename(videoOnly.file!)).toBe(`${SID}_${CNAME}__uid_s_2__uid_e_video.mp4`);
    expect((await probe(audioOnly.file!)).video).toBeUndefined();
    expect((await probe(videoOnly.file!)).audio).toBeUndefined();
    await expectMarkers(audioOnly.file!, outputSeconds(markers, T0), 15, { video: false });
    await expectMarkers(videoOnly.file!, outputSeconds(markers, T0 + 1000), 15, { audio: false });
  });
});

describe('a class split into two sessions by a failover', () => {
  const markers = [T0 + 1500, T0 + 7500];
  let root: string;
  beforeAll(async () => {
    root = await tempDir('join');
    const user = (startMs: number): FixtureUser => ({ uid: '5', markers, audio: [a(startMs, 3000)], video: [v(startMs, 3000)] });
    await writeRecording(root, { sid: SID, cname: CNAME, users: [user(T0)] });
    await writeRecording(root, { sid: SID2, cname: CNAME, users: [user(T0 + 6000)] });
  });

  it('gives one file per session by default', async () => {
    const s = await mergeRecordings({ source: root, outDir: `${root}-apart` });
    await expectOutputsDecodeClean(s);
    expect(s.results.map((r) => path.basename(r.file ?? '')).sort()).toEqual([
      `${SID2}_${CNAME}__uid_s_5__uid_e_av.mp4`,
      `${SID}_${CNAME}__uid_s_5__uid_e_av.mp4`,
    ].sort());
  });

  it('--join-sessions places both on the wall clock in one file', async () => {
    const s = await mergeRecordings({ source: root, outDir: `${root}-joined`, joinSessions: true });
    await expectOutputsDecodeClean(s);
    expect(s.results).toHaveLength(1);
    const r = ok(s.results[0]);
    expect(path.basename(r.file!)).toBe(`${CNAME}__uid_s_5__uid_e_av.mp4`);
    await expectMarkers(r.file!, outputSeconds(markers, T0), 15);
    expect((await probe(r.file!)).durationS).toBeCloseTo(9, 0);
  });
});

describe('what real buckets contain', () => {
  it('uses the fullest of a playlist and its _<tick>_<index> re-upload copy', async () => {
    const root = await tempDir('copy');
    const markers = [T0 + 1000, T0 + 7000];
    await writeRecording(root, { sid: SID, cname: CNAME, users: [{ uid: '8', markers, audio: [a(T0, 8000)], video: [v(T0, 8000)] }] });
    for (const media of ['audio', 'video'] as const) {
      const plain = path.join(root, playlistName({ sid: SID, cname: CNAME }, '8', media));
      const full = await readFile(plain, 'utf8');
      // The complete playlist survives only as a re-upload copy; the plain one lost its second half.
      await writeFile(plain.replace(/\.m3u8$/, '_22194679897_3.m3u8'), full);
      const lines = full.split('\n');
      const cut = lines.findIndex((l, i) => i > lines.findIndex((x) => x.startsWith('#EXTINF')) + 1 && l.startsWith('#EXTINF'));
      await writeFile(plain, lines.slice(0, cut).join('\n') + '\n');
    }
    const s = await mergeRecordings({ source: root, outDir: `${root}-out` });
    await expectOutputsDecodeClean(s);
    const r = ok(s.results[0]);
    await expectMarkers(r.file!, outputSeconds(markers, T0), 15);
  });

  it('merges a backup recorder (bak0_) with the main one by UTC, keeping shared slices once', async () => {
    const root = await tempDir('bak');
    const markers = [T0 + 1500, T0 + 6500];
    // The main recorder stops at 4 s; its backup took over at 0 s and runs to 8 s.
    await writeRecording(root, { sid: SID, cname: CNAME, users: [{ uid: '9', markers, audio: [a(T0, 4000)], video: [v(T0, 4000)] }] });
    await writeRecording(root, { sid: SID, cname: CNAME, backup: 0, users: [{ uid: '9', markers, audio: [a(T0, 8000)], video: [v(T0, 8000)] }] });
    const s = await mergeRecordings({ source: root, outDir: `${root}-out` });
    await expectOutputsDecodeClean(s);
    expect(s.results).toHaveLength(1);
    const r = ok(s.results[0]);
    await expectMarkers(r.file!, outputSeconds(markers, T0), 15);
    expect((await probe(r.file!)).durationS).toBeCloseTo(8, 0);
  });

  it('ignores and lists files that are not recordings, and still merges; an empty av index is a warning, not a failure', async () => {
    const root = await tempDir('junk');
    await writeRecording(root, { sid: SID, cname: CNAME, users: [{ uid: '3', audio: [a(T0, 2000)], video: [v(T0, 2000)] }] });
    await writeFile(path.join(root, 'notes.txt'), 'hello');
    await writeFile(path.join(root, 'cover.jpg'), 'not really');
    const av = `${SID}_${CNAME}__uid_s_3__uid_e_av.m3u8`;
    await writeFile(path.join(root, av), '#EXTM3U\n');
    const inv = await inspectRecordings(root);
    expect(inv.ignored.map((i) => i.key).sort()).toEqual(['cover.jpg', 'notes.txt']);
    expect(inv.sessions[0]!.uids[0]!.problems).toEqual([{ severity: 'warning', key: av, message: 'names no playlist' }]);
    const s = await mergeRecordings({ source: root, outDir: `${root}-out` });
    await expectOutputsDecodeClean(s);
    expect(s.ok).toBe(true);
    expect(s.ignored).toHaveLength(2);
  });

  it('fails a UID with an unreadable playlist with a clear message, and merges the others', async () => {
    const root = await tempDir('broken');
    await writeRecording(root, { sid: SID, cname: CNAME, users: [{ uid: '1', audio: [a(T0, 2000)], video: [v(T0, 2000)] }, { uid: '2', audio: [a(T0, 2000)] }] });
    await writeFile(path.join(root, playlistName({ sid: SID, cname: CNAME }, '2', 'audio')), 'garbage, not a playlist');
    const s = await mergeRecordings({ source: root, outDir: `${root}-out` });
    await expectOutputsDecodeClean(s);
    expect(s.ok).toBe(false);
    ok(s.results.find((r) => r.uid === '1'));
    const bad = s.results.find((r) => r.uid === '2')!;
    expect(bad.error).toMatch(/uid 2: audio playlist cannot be used: .*__uid_e_audio\.m3u8: not an M3U8 playlist/);
  });
});

describe('modes, names and trimming', () => {
  const markers = [T0 + 1500, T0 + 4500, T0 + 23500];
  let root: string;
  beforeAll(async () => {
    root = await tempDir('modes');
    // Present 0-6 s, absent 20 s, back 26-28 s.
    await writeRecording(root, {
      sid: SID,
      cname: CNAME,
      users: [{ uid: '4', markers, audio: [a(T0, 6000), a(T0 + 22000, 4000)], video: [v(T0, 6000), v(T0 + 22000, 4000)] }],
    });
  });

  it('segments: a file per presence, named by its start', async () => {
    const s = await mergeRecordings({ source: root, outDir: `${root}-seg`, mode: 'segments' });
    await expectOutputsDecodeClean(s);
    const names = s.results.map((r) => path.basename(ok(r).file!)).sort();
    expect(names).toEqual([`${SID}_${CNAME}__uid_s_4__uid_e_av_20240506070809123.mp4`, `${SID}_${CNAME}__uid_s_4__uid_e_av_20240506070831123.mp4`]);
    const second = s.results.find((r) => r.file!.endsWith('31123.mp4'))!;
    await expectMarkers(second.file!, [1.5], 15);
  });

  it('--names script writes the service script names; audio and video modes write one track', async () => {
    const outDir = `${root}-script`;
    await mergeRecordings({ source: root, outDir, names: 'script' });
    await mergeRecordings({ source: root, outDir, names: 'script', mode: 'audio' });
    await mergeRecordings({ source: root, outDir, names: 'script', mode: 'video' });
    await mergeRecordings({ source: root, outDir, names: 'script', mode: 'segments' });
    // (Beside each output, a hidden record of what made it: `.<name>.recmerge.json`; and its events,
    // `<name>.events.json` and `<name>.chapters.vtt`.)
    const outputs = ['4_0_merge.m4a', '4_0_merge.mp4', '4_0_merge_av.mp4', '4_20240506070809123_av.mp4', '4_20240506070831123_av.mp4'];
    expect((await readdir(outDir)).filter((f) => !f.startsWith('.')).sort()).toEqual(
      outputs.flatMap((f) => [f, `${f}.chapters.vtt`, `${f}.events.json`]).sort(),
    );
    await expectDecodesClean(...outputs.map((f) => path.join(outDir, f)));
    expect((await probe(path.join(outDir, '4_0_merge.m4a'))).video).toBeUndefined();
    expect((await probe(path.join(outDir, '4_0_merge.mp4'))).audio).toBeUndefined();
  });

  it('--from/--duration trims the output, markers shifting with it', async () => {
    const s = await mergeRecordings({ source: root, outDir: `${root}-trim`, from: 3, duration: 21 });
    await expectOutputsDecodeClean(s);
    const r = ok(s.results[0]);
    expect((await probe(r.file!)).durationS).toBeCloseTo(21, 0);
    await expectMarkers(r.file!, [4.5 - 3, 23.5 - 3], 15);
  });

  it('--duration alone cuts the end on the copy path, keeping sync', async () => {
    const s = await mergeRecordings({ source: root, outDir: `${root}-end`, duration: 5 });
    await expectOutputsDecodeClean(s);
    const r = ok(s.results[0]);
    expect(r.videoPath).toBe('copy');
    expect((await probe(r.file!)).durationS).toBeCloseTo(5, 0);
    await expectMarkers(r.file!, [1.5, 4.5], 15);
  });

  it('--uid keeps only the named users, and an existing output is left alone unless --force', async () => {
    const outDir = `${root}-uid`;
    const first = await mergeRecordings({ source: root, outDir, uids: ['4'] });
    await expectOutputsDecodeClean(first);
    expect(first.results.map((r) => r.uid)).toEqual(['4']);
    await expect(mergeRecordings({ source: root, outDir, uids: ['999'] })).rejects.toThrow(/no UID 999 in this recording: the recording has UID 4$/);
    const again = await mergeRecordings({ source: root, outDir, uids: ['4'] });
    await expectOutputsDecodeClean(again);
    expect(again.results[0]!.skipped).toBe(true);
    const forced = await mergeRecordings({ source: root, outDir, uids: ['4'], force: true });
    await expectOutputsDecodeClean(forced);
    expect(forced.results[0]!.skipped).toBe(false);
    // Sources are never touched, and no temporary file is left behind.
    expect((await readdir(outDir)).filter((f) => f.includes('partial'))).toEqual([]);
  });
});

describe('files are complete or absent', () => {
  it('writes under a temporary name and renames only when complete', async () => {
    const root = await tempDir('atomic');
    await writeRecording(root, { sid: SID, cname: CNAME, users: [{ uid: '6', audio: [a(T0, 3000)], video: [v(T0, 3000)] }] });
    const controller = new AbortController();
    const outDir = `${root}-out`;
    const run = mergeRecordings({
      source: root,
      outDir,
      transcode: true,
      signal: controller.signal,
      onProgress: (p) => {
        if (p.phase === 'merge') controller.abort();
      },
    });
    await expect(run).rejects.toThrow();
    expect(await readdir(outDir).catch(() => [])).toEqual([]);
    // The source folder is as it was: nothing renamed or added.
    const names = await readdir(root);
    expect(names.every((n) => n.startsWith(SID))).toBe(true);
  });
});
