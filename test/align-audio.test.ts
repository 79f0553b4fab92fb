// `merge --mode audio --align session` (issue 19.2): every user's audio on the session's clock, the same origin and
// length for all, silence where a user was absent; m4a (copied AAC), wav and flac. On a recorder-shaped recording
// (jittered names, recorder #EXTINF), against the fixture's truth; the channel's clock with joined sessions.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { mergeRecordings, planRecordings } from '../src/api.js';
import { resolveTool } from '../src/ffmpeg/runner.js';
import type { MergeSummary } from '../src/options.js';
import { audioRms, beepTimes, probe } from './support/measure.js';
import { writeRecording, type WrittenRecording } from './support/recording-fixture.js';
import { T0, tempDir } from './support/sync.js';

const SID = '1a2b3c4d5e6f1a2b3c4d5e6f1a2b3c4d';
const decodeErrors = async (file: string) => (await promisify(execFile)(resolveTool('ffmpeg'), ['-v', 'error', '-i', file, '-f', 'null', '-'])).stderr;

describe('speaker-aligned audio on the session clock', () => {
  let w: WrittenRecording;
  let root: string;
  const runs: Record<string, MergeSummary> = {};

  beforeAll(async () => {
    root = await tempDir('align');
    w = await writeRecording(root, {
      sid: SID,
      cname: 'align_me',
      jitterMs: 15,
      extinf: 'recorder',
      users: [
        // From the start, with video (the session's first instant may be a video slice's). Its copied AAC runs a
        // little past the session's last listed instant (its #EXTINF): cut there, on the same frame as the others.
        { uid: '1', markers: [T0 + 1_000, T0 + 5_000], audio: [{ startMs: T0, durationMs: 6_000 }], video: [{ startMs: T0, durationMs: 6_000, width: 160, height: 90, fps: 15 }] },
        // Joins 3.5 s late (its first beep 0.6 s after it joins) and ends a second before the session: padded with silence.
        { uid: '2', markers: [T0 + 4_100, T0 + 4_700], audio: [{ startMs: T0 + 3_500, durationMs: 1_500, sliceMs: 1000 }] },
        // Leaves at 2 s for 2 s.
        { uid: '3', markers: [T0 + 1_000, T0 + 4_800], audio: [{ startMs: T0, durationMs: 2_000 }, { startMs: T0 + 4_000, durationMs: 1_500 }] },
      ],
    });
    for (const format of ['m4a', 'wav', 'flac'] as const) {
      runs[format] = await mergeRecordings({ source: root, outDir: `${root}-${format}`, mode: 'audio', align: 'session', audioFormat: format });
    }
  });

  /** The session's first instant: the first any slice's name gives, of any user or track. */
  const originMs = () => Math.min(...w.slices.map((s) => s.nameStartMs));

  it('writes one file per user in each format, every one decoding clean', async () => {
    for (const [format, summary] of Object.entries(runs)) {
      expect(summary.ok, JSON.stringify(summary.results, null, 1).slice(0, 2000)).toBe(true);
      expect(summary.results.map((r) => r.uid).sort()).toEqual(['1', '2', '3']);
      for (const r of summary.results) {
        expect(r.file!.endsWith(`__uid_e_audio.${format}`), r.file!).toBe(true);
        expect((await probe(r.file!)).audio?.codec).toBe({ m4a: 'aac', wav: 'pcm_s16le', flac: 'flac' }[format]);
        expect(await decodeErrors(r.file!), r.file!).toBe('');
      }
    }
    expect(runs.m4a!.results.map((r) => r.audioPath)).toEqual(['copy', 'copy', 'copy']);
  });

  it('every file of the session has the same length: the session\'s', async () => {
    const sessionS = (Math.max(...w.slices.map((s) => s.nameStartMs + s.extinfS * 1000)) - originMs()) / 1000;
    for (const [format, summary] of Object.entries(runs)) {
      const lengths = await Promise.all(summary.results.map(async (r) => (await probe(r.file!)).durationS));
      const report = `${format}: ${JSON.stringify(lengths)}, session ${sessionS}`;
      // PCM and FLAC: the same number of samples; AAC: the same frames, cut at the same one.
      expect(Math.max(...lengths) - Math.min(...lengths), report).toBeLessThanOrEqual(format === 'm4a' ? 0.0001 : 0.00001);
      expect(Math.abs(lengths[0]! - sessionS), report).toBeLessThanOrEqual(format === 'm4a' ? 0.033 : 0.001);
      for (const r of summary.results) expect(r.events!.sync.origin).toBe(new Date(originMs()).toISOString());
    }
  });

  it('the late joiner\'s first beep is at its session instant, silence before it joined (every format)', async () => {
    const truth = w.truth.filter((t) => t.uid === '2').map((t) => (t.audioMs! - originMs()) / 1000);
    const late = w.slices.filter((s) => s.uid === '2').sort((a, b) => a.nameStartMs - b.nameStartMs)[0]!;
    const joinS = (late.nameStartMs - originMs()) / 1000;
    for (const [format, summary] of Object.entries(runs)) {
      const r = summary.results.find((x) => x.uid === '2')!;
      const beeps = await beepTimes(r.file!);
      const report = `${format}: beeps ${JSON.stringify(beeps)}, truth ${JSON.stringify(truth)}`;
      expect(beeps.length, report).toBe(truth.length);
      // Copied AAC lands on the frame grid (at most half a frame, 10.7 ms); decoded audio plays on across a slice
      // whose name is less than 10 ms off its media. The sync block bounds it (what the merge says of itself holds).
      beeps.forEach((b, i) => expect(Math.abs(b - truth[i]!) * 1000, report).toBeLessThanOrEqual(Math.min(11, r.events!.sync.audioMs! + 1)));
      expect(await audioRms(r.file!, 0, joinS - 0.05), report).toBeLessThan(-80);
      expect(r.events!.events.find((e) => e.type === 'join')!.t, report).toBeCloseTo(joinS, 2);
    }
  });

  it('the user who was away is silent in between, its beeps at their session instants', async () => {
    // (Leaves at 2 s, back at 4 s.)
    const truth = w.truth.filter((t) => t.uid === '3').map((t) => (t.audioMs! - originMs()) / 1000);
    for (const summary of Object.values(runs)) {
      const r = summary.results.find((x) => x.uid === '3')!;
      const beeps = await beepTimes(r.file!);
      expect(beeps.length).toBe(2);
      beeps.forEach((b, i) => expect(Math.abs(b - truth[i]!) * 1000).toBeLessThanOrEqual(Math.min(11, r.events!.sync.audioMs! + 1)));
      expect(await audioRms(r.file!, 2.2, 3.8)).toBeLessThan(-80);
    }
  });

  it('refuses align session without mode audio, and wav without mode audio, before any work', async () => {
    await expect(mergeRecordings({ source: root, outDir: `${root}-bad`, align: 'session' })).rejects.toThrow(/align session needs mode audio/);
    await expect(mergeRecordings({ source: root, outDir: `${root}-bad`, audioFormat: 'wav' })).rejects.toThrow(/audio format wav needs mode audio/);
    await expect(mergeRecordings({ source: root, outDir: `${root}-bad`, mode: 'audio', audioFormat: 'ogg' as never })).rejects.toThrow(/audioFormat must be one of m4a, wav, flac/);
  });
});

describe('--join-sessions --align session: the channel\'s clock', () => {
  it('a user in the second session only starts at its instant on the channel clock, as long as the channel', async () => {
    const root = await tempDir('align-join');
    const a = await writeRecording(root, { sid: 'aa'.repeat(16), cname: 'chan', users: [{ uid: '1', audio: [{ startMs: T0, durationMs: 4000 }] }] });
    const b = await writeRecording(root, { sid: 'bb'.repeat(16), cname: 'chan', users: [{ uid: '1', audio: [{ startMs: T0 + 6000, durationMs: 2000 }] }, { uid: '2', audio: [{ startMs: T0 + 6500, durationMs: 3000 }] }] });
    const plan = await planRecordings({ source: root, outDir: `${root}-out`, mode: 'audio', align: 'session', joinSessions: true });
    expect(plan.failures).toEqual([]);
    const origin = Math.min(...[...a.slices, ...b.slices].map((s) => s.nameStartMs));
    const end = Math.max(...[...a.slices, ...b.slices].map((s) => s.nameStartMs + s.durationMs));
    expect(plan.outputs.map((o) => [o.uid, o.originMs, o.durationMs])).toEqual([
      ['1', origin, end - origin],
      ['2', origin, end - origin],
    ]);
    expect(plan.outputs.find((o) => o.uid === '2')!.audio!.runs[0]!.offsetMs).toBeCloseTo(6500, 0);
    // Without joining, each session has its own clock.
    const apart = await planRecordings({ source: root, outDir: `${root}-out`, mode: 'audio', align: 'session' });
    expect(apart.outputs.find((o) => o.uid === '2')!.originMs).toBe(Math.min(...b.slices.map((s) => s.nameStartMs)));
  });
});
