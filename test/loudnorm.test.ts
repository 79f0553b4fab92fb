// --loudnorm on a recording shaped like a real one (jittered names, recorder #EXTINF), with a loud and a
// quiet voice (12 dB apart): each merged output and the composite measured by ffmpeg's ebur128 filter within
// 1 LU of the target, true peak under its ceiling, every beep where the truth says (levelling moves nothing),
// the video still copied by merge, and in the composite each voice levelled before the mix.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { composeRecordings, mergeRecordings } from '../src/api.js';
import { linearFits, nextGain, parseLoudnormJson, type LoudnessTarget } from '../src/core/loudness.js';
import { checkOptions } from '../src/core/options.js';
import { audioRms, beepTimes, loudness, probe } from './support/measure.js';
import { writeRecording, type WrittenRecording } from './support/recording-fixture.js';
import { T0, tempDir } from './support/sync.js';

const execFileAsync = promisify(execFile);
const SID = '10d0e55510d0e55510d0e55510d0e555';
/** One AAC frame at 48 kHz, halved: the copy path's bound, kept by levelling. */
const AUDIO_MS = 1024 / 48 / 2 + 1;
const TARGET: LoudnessTarget = { lufs: -16, truePeak: -1.5 };

describe('loudness decisions (pure)', () => {
  it.each([
    // measured i, tp -> one constant gain keeps the true peak under -1.5 dBTP, less the encoder's 1 dB of headroom?
    [-30, -20, true],
    [-30, -14, false],
    [-10, -3, true],
    [-16, -2.5, true],
    [-16, -1.5, false],
  ])('i %d LUFS, tp %d dBTP: linear %s', (i, tp, fits) => {
    expect(linearFits({ i, tp, lra: 5, thresh: i - 10 }, TARGET)).toBe(fits);
  });

  it('tries the plain difference, then the secant, and stops within 0.3 LU', () => {
    expect(nextGain([{ gainDb: 0, lufs: -30 }], TARGET)).toBe(14);
    // 14 dB gave only 10 LU (the limiter took some): slope 10/14, 4 LU missing -> 5.6 dB more.
    expect(nextGain([{ gainDb: 0, lufs: -30 }, { gainDb: 14, lufs: -20 }], TARGET)).toBeCloseTo(19.6, 5);
    expect(nextGain([{ gainDb: 0, lufs: -30 }, { gainDb: 14, lufs: -16.2 }], TARGET)).toBeNull();
    // Never more than 40 dB.
    expect(nextGain([{ gainDb: 0, lufs: -90 }], TARGET)).toBe(40);
  });

  it("reads loudnorm's last JSON report, -inf included", () => {
    const stderr = `[Parsed_loudnorm_0 @ 0x1] \n{\n\t"input_i" : "-23.99",\n\t"input_tp" : "-4.17",\n\t"input_lra" : "2.50",\n\t"input_thresh" : "-33.99",\n\t"output_i" : "-19.21"\n}\n`;
    expect(parseLoudnormJson(stderr)).toEqual({ i: -23.99, tp: -4.17, lra: 2.5, thresh: -33.99 });
    expect(parseLoudnormJson('{"input_i" : "-inf", "input_tp" : "-inf", "input_lra" : "0.00", "input_thresh" : "-70.00"}')?.i).toBe(-Infinity);
    expect(parseLoudnormJson('nothing')).toBeNull();
  });

  it('checks the option through the one table', () => {
    expect(() => checkOptions({ loudnorm: true })).not.toThrow();
    expect(() => checkOptions({ loudnorm: -23 })).not.toThrow();
    expect(() => checkOptions({ loudnorm: -3 })).toThrow(/loudnorm must be true, false or a target from -70 to -5 LUFS/);
    expect(() => checkOptions({ loudnorm: 'loud' })).toThrow(/loudnorm/);
  });
});

describe('--loudnorm on real outputs', () => {
  let w: WrittenRecording;
  let root: string;
  const originOf = (uid?: string) => Math.min(...w.slices.filter((s) => uid === undefined || s.uid === uid).map((s) => s.nameStartMs));

  beforeAll(async () => {
    root = await tempDir('loudnorm');
    w = await writeRecording(root, {
      sid: SID,
      cname: 'levels',
      jitterMs: 15,
      extinf: 'recorder',
      users: [
        {
          uid: '1',
          markers: [T0 + 2_000, T0 + 4_000],
          audio: [{ startMs: T0, durationMs: 7_000, sliceMs: 3000 }],
          video: [{ startMs: T0, durationMs: 7_000, sliceMs: 3000, width: 160, height: 90, fps: 15 }],
        },
        {
          // 12 dB quieter than user 1.
          uid: '2',
          markers: [T0 + 6_500, T0 + 10_000],
          audio: [{ startMs: T0 + 5_000, durationMs: 7_000, sliceMs: 3000, gainDb: -12 }],
          video: [{ startMs: T0 + 5_000, durationMs: 7_000, sliceMs: 3000, width: 160, height: 90, fps: 15 }],
        },
        // No beeps: a steady voice one constant gain brings to the target (loudnorm's linear mode).
        { uid: '3', audio: [{ startMs: T0 + 1_000, durationMs: 6_000, sliceMs: 3000 }] },
      ],
    });
  });

  const decodesClean = async (file: string) => {
    const { stderr } = await execFileAsync('ffmpeg', ['-nostdin', '-v', 'error', '-i', file, '-f', 'null', '-']);
    expect(stderr).toBe('');
  };

  const beepsAtTruth = async (file: string, uids: string[], origin: number) => {
    const want = w.truth.filter((t) => uids.includes(t.uid) && t.audioMs !== null).map((t) => (t.audioMs! - origin) / 1000).sort((a, b) => a - b);
    const beeps = await beepTimes(file, true);
    const report = JSON.stringify({ beeps, want });
    expect(beeps, report).toHaveLength(want.length);
    want.forEach((t, i) => expect(Math.abs(beeps[i]! - t) * 1000, report).toBeLessThanOrEqual(AUDIO_MS));
  };

  it('merge: every user at -16 LUFS within 1 LU, peaks under -1.5 dBTP, beeps in place, video still copied', async () => {
    const summary = await mergeRecordings({ source: root, outDir: `${root}-merge`, loudnorm: true, uids: ['1', '2'] });
    expect(summary.results).toHaveLength(2);
    for (const r of summary.results) {
      expect(r.error, r.uid).toBeNull();
      expect([r.videoPath, r.audioPath], r.uid).toEqual(['copy', 'transcode']);
      const level = await loudness(r.file!);
      expect(Math.abs(level.lufs - -16), `uid ${r.uid}: ${JSON.stringify(level)}`).toBeLessThanOrEqual(1);
      expect(level.truePeak, `uid ${r.uid}: ${JSON.stringify(level)}`).toBeLessThanOrEqual(-1.5);
      await beepsAtTruth(r.file!, [r.uid], originOf(r.uid));
      // Levelled audio as long as the picture (a level counted at loudnorm's 192 kHz once cut it to a quarter).
      const info = await probe(r.file!);
      expect(Math.abs(info.audio!.endS - info.video!.endS), JSON.stringify(info)).toBeLessThanOrEqual(0.05);
      await decodesClean(r.file!);
    }
  });

  it("a voice one gain can level goes through loudnorm's linear mode, measured once", async () => {
    const commands: string[][] = [];
    const summary = await mergeRecordings({ source: root, outDir: `${root}-linear`, loudnorm: true, uids: ['3'], onCommand: (c) => commands.push(c) });
    const r = summary.results[0]!;
    expect(r.error).toBeNull();
    const measuring = commands.filter((c) => c.some((a) => a.includes('print_format=json')));
    expect(measuring).toHaveLength(1);
    const graph = commands.filter((c) => c.includes('-filter_complex') && !c.includes('null')).map((c) => c[c.indexOf('-filter_complex') + 1]!);
    expect(graph.join('\n')).toMatch(/loudnorm=I=-16:TP=-1.5:LRA=20:measured_I=-[\d.]+:measured_TP=-[\d.]+:.*linear=true/);
    expect(graph.join('\n')).not.toMatch(/alimiter/);
    const level = await loudness(r.file!);
    expect(Math.abs(level.lufs - -16), JSON.stringify(level)).toBeLessThanOrEqual(1);
    expect(level.truePeak, JSON.stringify(level)).toBeLessThanOrEqual(-1.5);
  });

  it('merge --loudnorm -23: the other target', async () => {
    const summary = await mergeRecordings({ source: root, outDir: `${root}-merge23`, loudnorm: -23, uids: ['2'], mode: 'audio' });
    const r = summary.results[0]!;
    expect(r.error).toBeNull();
    const level = await loudness(r.file!);
    expect(Math.abs(level.lufs - -23), JSON.stringify(level)).toBeLessThanOrEqual(1);
    await beepsAtTruth(r.file!, ['2'], originOf('2'));
  });

  it('compose: the mix at -16 LUFS within 1 LU, each voice levelled before it, beeps in place', async () => {
    const summary = await composeRecordings({ source: root, outDir: `${root}-compose`, loudnorm: true, uids: ['1', '2'], size: { width: 320, height: 180 } });
    const r = summary.results[0]!;
    expect(r.error).toBeNull();
    const level = await loudness(r.file!);
    expect(Math.abs(level.lufs - -16), JSON.stringify(level)).toBeLessThanOrEqual(1);
    expect(level.truePeak, JSON.stringify(level)).toBeLessThanOrEqual(-1.5);
    const origin = originOf();
    await beepsAtTruth(r.file!, ['1', '2'], origin);
    // Where only one of them speaks (no beep inside), the two voices, 12 dB apart at the source, are alike.
    const alone1 = await audioRms(r.file!, 0.3, 1.7);
    const alone2 = await audioRms(r.file!, (T0 + 7_300 - origin) / 1000, (T0 + 9_500 - origin) / 1000);
    expect(Math.abs(alone1 - alone2), `user 1 alone ${alone1} dBFS, user 2 alone ${alone2} dBFS`).toBeLessThanOrEqual(1.5);
    await decodesClean(r.file!);
  });
});
