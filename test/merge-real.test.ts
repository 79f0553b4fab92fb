// Recordings shaped like real ones (see shared/recording-format.md, "Shapes a merger must survive"): a
// continuous encode per presence span cut into slices, names jittered by +-15 ms, #EXTINF rounded and a
// few ms off, H.264 force-cut mid-GOP, B-frames at 30 fps, HEVC, VP8 resized inside a slice, mono then
// stereo, a phone turned mid-slice, a track that starts without an I-frame, frame drops, and a long
// recording. Every marker is measured against the instant its source frame or sample really carries
// (the name's UTC of the slice that holds it + its offset in that slice), on both paths where both apply.
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { mergeRecordings } from '../src/api.js';
import { resolveTool } from '../src/ffmpeg/runner.js';
import { splitAdts } from '../src/media/adts.js';
import type { MergeOptions, OutputResult } from '../src/options.js';
import { expectOutputsDecodeClean } from './support/decode-clean.js';
import { beepTimes, cornerLuma, probe, whiteFrameTimes } from './support/measure.js';
import { utc17, writeRecording, type FixtureRecording, type WrittenRecording } from './support/recording-fixture.js';
import { T0, tempDir } from './support/sync.js';

const SID = '9e1f0c3a5b7d9e1f0c3a5b7d9e1f0c3a';
const CNAME = 'real_room';
const AAC_FRAME_MS = (1024 / 48000) * 1000;
/** EBU R37: audio and video of one instant within this of each other. */
const AV_MS = 45;
const TRACK_LENGTH_MS = 50;
const run = (tool: 'ffmpeg', args: string[]) => promisify(execFile)(resolveTool(tool), args);

interface Bounds {
  videoMs: number;
  audioMs: number;
}
const copyBounds: Bounds = { videoMs: 5, audioMs: AAC_FRAME_MS / 2 };
const transcodeBounds = (fps: number): Bounds => ({ videoMs: 500 / fps + 5, audioMs: 500 / fps + 5 });

/** Time 0 of a user's output: the earliest slice name of the user (audio or video). */
const originOf = (w: WrittenRecording, uid: string) => Math.min(...w.slices.filter((s) => s.uid === uid).map((s) => s.nameStartMs));

async function merge(root: string, label: string, options: Partial<MergeOptions> = {}, decodeClean = true): Promise<OutputResult[]> {
  const summary = await mergeRecordings({ source: root, outDir: `${root}-${label}`, concurrency: 2, ...options });
  for (const r of summary.results) expect(r.error, `uid ${r.uid}: ${r.error}`).toBeNull();
  if (decodeClean) await expectOutputsDecodeClean(summary);
  return summary.results;
}

/**
 * Every marker the source really carries is found once in the output, where its frame/sample lands
 * (within the path's bounds), audio and video of one instant together; nothing else is found.
 */
async function expectTruth(w: WrittenRecording, r: OutputResult, bounds: Bounds, media: { video?: boolean; audio?: boolean } = {}) {
  const origin = originOf(w, r.uid);
  const truth = w.truth.filter((t) => t.uid === r.uid);
  const wantVideo = (media.video ?? true) ? truth.filter((t) => t.videoMs !== null).map((t) => (t.videoMs! - origin) / 1000) : [];
  const wantAudio = (media.audio ?? true) ? truth.filter((t) => t.audioMs !== null).map((t) => (t.audioMs! - origin) / 1000) : [];
  const whites = wantVideo.length > 0 || media.video ? await whiteFrameTimes(r.file!) : [];
  const beeps = wantAudio.length > 0 || media.audio ? await beepTimes(r.file!) : [];
  const report = `video want ${JSON.stringify(wantVideo)} got ${JSON.stringify(whites)}; audio want ${JSON.stringify(wantAudio)} got ${JSON.stringify(beeps)}`;
  expect(whites.length, report).toBe(wantVideo.length);
  expect(beeps.length, report).toBe(wantAudio.length);
  wantVideo.forEach((t, i) => expect(Math.abs(whites[i]! - t) * 1000, `white ${i}: ${report}`).toBeLessThanOrEqual(bounds.videoMs));
  wantAudio.forEach((t, i) => expect(Math.abs(beeps[i]! - t) * 1000, `beep ${i}: ${report}`).toBeLessThanOrEqual(bounds.audioMs));
  // The source itself puts a marker's white frame and beep a little apart (the frame nearest the marker,
  // and each slice name's own jitter): the merge may add no more than EBU R37 allows to that.
  for (const t of truth) {
    if (t.videoMs === null || t.audioMs === null || !(media.video ?? true) || !(media.audio ?? true)) continue;
    const v = whites[wantVideo.indexOf((t.videoMs - origin) / 1000)]!;
    const a = beeps[wantAudio.indexOf((t.audioMs - origin) / 1000)]!;
    const added = (v - a) * 1000 - (t.videoMs - t.audioMs);
    expect(Math.abs(added), `A/V skew added to marker ${t.markerMs - T0}: ${report}`).toBeLessThanOrEqual(AV_MS);
  }
}

/** Each track is as long as the output's timeline: the user's first to last instant. */
async function expectTrackLengths(w: WrittenRecording, r: OutputResult, timelineMs: number) {
  const info = await probe(r.file!);
  expect(Math.abs(info.durationS * 1000 - timelineMs), `file ${info.durationS} s vs ${timelineMs} ms`).toBeLessThanOrEqual(TRACK_LENGTH_MS);
  // Each track covers the timeline: it starts at 0 (black or silence before the user's media) and runs to the end.
  for (const track of [info.audio, info.video]) {
    if (!track) continue;
    expect(track.startS * 1000).toBeLessThanOrEqual(TRACK_LENGTH_MS);
    expect(Math.abs(track.endS * 1000 - timelineMs), `a track ends at ${track.endS} s, the timeline at ${timelineMs} ms`).toBeLessThanOrEqual(TRACK_LENGTH_MS);
  }
}

/** The user's timeline: from the first slice name to the end of the last slice's media (by the names). */
const timelineOf = (w: WrittenRecording, uid: string) => {
  const mine = w.slices.filter((s) => s.uid === uid);
  return Math.max(...mine.map((s) => s.nameStartMs + s.durationMs)) - originOf(w, uid);
};

async function build(label: string, rec: Omit<FixtureRecording, 'sid' | 'cname'>): Promise<WrittenRecording> {
  const root = await tempDir(label);
  return writeRecording(root, { sid: SID, cname: CNAME, jitterMs: 15, extinf: 'recorder', ...rec });
}

describe('a 10 minute recording with jittered names and recorder #EXTINF', () => {
  const markers = Array.from({ length: 20 }, (_, i) => T0 + 14_000 + i * 29_300);
  let w: WrittenRecording;
  beforeAll(async () => {
    w = await build('long', {
      users: [
        {
          uid: '1',
          markers,
          audio: [{ startMs: T0, durationMs: 600_000, sliceMs: 15_000 }],
          video: [{ startMs: T0 + 40, durationMs: 600_000, sliceMs: 15_000, width: 160, height: 90, fps: 15 }],
        },
      ],
    });
  });

  it.each([
    ['copy', false],
    ['transcode', true],
  ] as const)('%s path: every marker at its source instant, at the end as at the start; tracks as long as the timeline', async (expected, transcode) => {
    // The video starts 40 ms late: the copy path moves it by -itsoffset (no lead), and every 15 s join must
    // still keep two frames off one output frame slot (the merge checks the decode clean).
    const [r] = await merge(w.root, expected, { transcode });
    expect(r!.videoPath).toBe(expected);
    expect(r!.audioPath).toBe(expected);
    await expectTruth(w, r!, expected === 'copy' ? copyBounds : transcodeBounds(15));
    await expectTrackLengths(w, r!, timelineOf(w, '1'));
    // Audio slices whose media runs into the next one's time (by the names) are cut there: said, and counted.
    const audio = w.slices.filter((s) => s.media === 'audio').sort((a, b) => a.nameStartMs - b.nameStartMs);
    const overlaps = audio.filter((s, i) => audio[i + 1] && s.nameStartMs + s.durationMs > audio[i + 1]!.nameStartMs + 0.5).length;
    expect(overlaps).toBeGreaterThan(5);
    expect(r!.warnings.find((x) => x.startsWith('audio:'))).toMatch(new RegExp(`^audio: ${overlaps} slice\\(s\\) overlap the next one`));
  });
});

describe('H.264 High with B-frames at 30 fps, force-cut mid-GOP', () => {
  const markers = [T0 + 1500, T0 + 4600, T0 + 6050, T0 + 9400];
  let w: WrittenRecording;
  beforeAll(async () => {
    w = await build('bframes', {
      users: [
        {
          uid: '2',
          markers,
          audio: [{ startMs: T0, durationMs: 11_000, sliceMs: 3000 }],
          // The video starts 90 ms after the audio: a black lead of a few frames on the copy path.
          video: [{ startMs: T0 + 90, durationMs: 11_000, sliceMs: 3000, width: 160, height: 90, fps: 30, profile: 'high', bframes: 2, gopFrames: 60, forceCutsMs: [4500, 6600] }],
        },
      ],
    });
  });

  it('the fixture really cuts slices that do not start on a keyframe', () => {
    expect(w.slices.filter((s) => s.media === 'video' && !s.startsOnKeyframe).length).toBeGreaterThanOrEqual(2);
  });

  it.each([
    ['copy', false],
    ['transcode', true],
  ] as const)('%s path: nothing lost or shifted across the cuts', async (expected, transcode) => {
    const [r] = await merge(w.root, expected, { transcode });
    expect(r!.videoPath).toBe(expected);
    await expectTruth(w, r!, expected === 'copy' ? copyBounds : transcodeBounds(30));
    await expectTrackLengths(w, r!, timelineOf(w, '2'));
    if (transcode) expect((await probe(r!.file!)).video!.frames).toBe(Math.round((timelineOf(w, '2') / 1000) * 30));
  });
});

describe('H.264 High with B-frames at 30 fps, every slice on a keyframe, no lead', () => {
  // Slice names overlap the media at some joins: the copy path cuts the earlier slice there. Its B-frames are
  // shown up to the reordering delay after they are decoded (out points compare DTS): before the cut came that
  // much earlier, one frame of it shared the next slice's first output slot (a `-f null` decode error at 36 s).
  const markers = [T0 + 5000, T0 + 17_000, T0 + 33_000];
  let w: WrittenRecording;
  beforeAll(async () => {
    w = await build('bframes-keys', {
      users: [
        {
          uid: '1',
          markers,
          audio: [{ startMs: T0, durationMs: 40_000, sliceMs: 4700 }],
          video: [{ startMs: T0, durationMs: 40_000, sliceMs: 4700, width: 160, height: 90, fps: 30, profile: 'high', bframes: 2, gopFrames: 60 }],
        },
      ],
    });
  });

  it('copy path: decodes clean, every marker at its source instant', async () => {
    const [r] = await merge(w.root, 'copy');
    expect(r!.videoPath).toBe('copy');
    await expectTruth(w, r!, copyBounds);
    await expectTrackLengths(w, r!, timelineOf(w, '1'));
  });
});

describe('forced cuts a frame or two apart (GOP of 3 s at 15 fps)', () => {
  // Cuts at 4.1 s and 4.2 s leave a slice of 1 frame whose successor's name is 77 ms later (once taken for
  // a main/backup twin and dropped, with the picture held silently up to the next keyframe); cuts at 7.0 s
  // and 7.07 s leave one of 2 frames (8 TS packets, which ffmpeg's probe does not take for MPEG-TS).
  const markers = [T0 + 1200, T0 + 4150, T0 + 5000, T0 + 7030, T0 + 8000];
  let w: WrittenRecording;
  beforeAll(async () => {
    w = await build('closecuts', {
      users: [
        {
          uid: '6',
          markers,
          audio: [{ startMs: T0, durationMs: 10_000, sliceMs: 4000 }],
          video: [{ startMs: T0, durationMs: 10_000, sliceMs: 4000, width: 160, height: 90, fps: 15, gopFrames: 45, forceCutsMs: [4100, 4200, 7000, 7070] }],
        },
      ],
    });
  });

  it('the fixture cuts slices of 1 and 2 frames, each followed within 100 ms', () => {
    const video = w.slices.filter((s) => s.media === 'video').sort((a, b) => a.nameStartMs - b.nameStartMs);
    const tiny = video.filter((s) => s.durationMs < 150);
    expect(tiny.map((s) => Math.round(s.durationMs))).toEqual([67, 133]);
    for (const s of tiny) expect(video[video.indexOf(s) + 1]!.nameStartMs - s.nameStartMs).toBeLessThan(150);
    expect(w.truth.every((t) => t.videoMs !== null)).toBe(true);
  });

  it.each([
    ['copy', false],
    ['transcode', true],
  ] as const)('%s path: every marker on time, no slice dropped, nothing said lost', async (expected, transcode) => {
    const [r] = await merge(w.root, expected, { transcode });
    expect(r!.videoPath).toBe(expected);
    await expectTruth(w, r!, expected === 'copy' ? copyBounds : transcodeBounds(15));
    await expectTrackLengths(w, r!, timelineOf(w, '6'));
    expect(r!.warnings.filter((x) => !x.startsWith('audio:') && !x.startsWith('video is re-encoded'))).toEqual([]);
    if (!transcode) expect((await probe(r!.file!)).video!.frames).toBe(150);
  });
});

describe('a track that begins without an I-frame', () => {
  // The video file begins 10 frames into a GOP of 15: its first 5 frames (0.333 s) cannot be decoded.
  const markers = [T0 + 150, T0 + 2000, T0 + 5200];
  let w: WrittenRecording;
  beforeAll(async () => {
    w = await build('midgop', {
      users: [
        {
          uid: '3',
          markers,
          audio: [{ startMs: T0, durationMs: 8000, sliceMs: 4000 }],
          video: [{ startMs: T0, durationMs: 8000, sliceMs: 4000, width: 160, height: 90, fps: 15, startsMidGop: 10 }],
        },
      ],
    });
  });

  it('the marker inside the undecodable lead has no video truth; the others do', () => {
    expect(w.truth.map((t) => t.videoMs === null)).toEqual([true, false, false]);
  });

  it.each([
    ['copy', false],
    ['transcode', true],
  ] as const)('%s path: the picture starts at the first keyframe, at its own instant; black before; said in the warnings', async (expected, transcode) => {
    const [r] = await merge(w.root, expected, { transcode });
    expect(r!.videoPath).toBe(expected);
    await expectTruth(w, r!, expected === 'copy' ? copyBounds : transcodeBounds(15));
    expect(r!.warnings.join('\n')).toMatch(/video: 0\.3\d\ds from 0\.0\d\ds cannot be decoded \(the stream starts without a keyframe.*shown as black/);
    const dark = await cornerLuma(r!.file!, 0.2);
    expect(dark.topLeft).toBeLessThan(25);
    const shown = await cornerLuma(r!.file!, 1.2);
    expect(shown.topLeft).toBeGreaterThan(150);
    await expectTrackLengths(w, r!, timelineOf(w, '3'));
  });
});

describe('VP8 whose size changes inside a slice (WebRTC adaptation)', () => {
  const markers = [T0 + 1200, T0 + 3300, T0 + 5600, T0 + 7400];
  let w: WrittenRecording;
  beforeAll(async () => {
    w = await build('vp8resize', {
      users: [
        {
          uid: '4',
          markers,
          audio: [{ startMs: T0, durationMs: 9000, sliceMs: 4000 }],
          video: [{
            startMs: T0, durationMs: 9000, sliceMs: 4500, width: 320, height: 180, fps: 15, codec: 'vp8',
            resizes: [{ atMs: T0 + 2000, width: 160, height: 90 }, { atMs: T0 + 6000, width: 240, height: 136 }],
          }],
        },
      ],
    });
  });

  it.each([
    ['auto', false],
    ['--transcode', true],
  ] as const)('%s: flashes after each size change on time, audio unaffected, one canvas size', async (_label, transcode) => {
    const [r] = await merge(w.root, transcode ? 'transcode' : 'auto', { transcode });
    expect(r!.videoPath).toBe('transcode');
    await expectTruth(w, r!, transcodeBounds(15));
    const info = await probe(r!.file!);
    expect([info.video!.width, info.video!.height]).toEqual([320, 180]);
    await expectTrackLengths(w, r!, timelineOf(w, '4'));
  });
});

describe('audio that goes mono -> stereo when the user rejoins with another device', () => {
  const markers = [T0 + 2000, T0 + 5500, T0 + 9000, T0 + 13_000];
  let w: WrittenRecording;
  beforeAll(async () => {
    w = await build('channels', {
      users: [
        {
          uid: '5',
          markers,
          audio: [{ startMs: T0, durationMs: 6000, channels: 1 }, { startMs: T0 + 6400, durationMs: 8000, channels: 2 }],
          video: [{ startMs: T0, durationMs: 6000, width: 160, height: 90, fps: 15 }, { startMs: T0 + 6400, durationMs: 8000, width: 160, height: 90, fps: 15 }],
        },
      ],
    });
  });

  it.each([
    ['auto', false],
    ['--transcode', true],
  ] as const)('%s: every beep after the change on time; the audio holds exactly the timeline', async (_label, transcode) => {
    const [r] = await merge(w.root, transcode ? 'transcode' : 'auto', { transcode });
    expect(r!.audioPath).toBe('transcode');
    await expectTruth(w, r!, transcode ? transcodeBounds(15) : { videoMs: copyBounds.videoMs, audioMs: transcodeBounds(15).audioMs });
    const info = await probe(r!.file!);
    expect(info.audio!.channels).toBe(2);
    await expectTrackLengths(w, r!, timelineOf(w, '5'));
  });
});

describe('audio that goes mono -> stereo inside one slice', () => {
  // Slice A: 2 s mono (beep at 0.5 s), then 2 s stereo (beep at 1.0 s), one TS; slice B: 2 s stereo (beep
  // at 0.7 s). Each part is its own encode, so each opens with 1024 samples of AAC priming.
  const RATE = 48_000;
  const FRAME_MS = (1024 / RATE) * 1000;
  let root: string;
  let truthS: number[];

  /** An ADTS encode of `seconds` of quiet tone with one 1 kHz beep at `beepS`. */
  const part = (file: string, channels: 1 | 2, seconds: number, beepS: number) =>
    run('ffmpeg', [
      ...['-v', 'error', '-y', '-f', 'lavfi', '-i', `aevalsrc='0.03*sin(2*PI*200*t)+if(between(t,${beepS},${beepS + 0.1}),0.5*sin(2*PI*1000*t),0)':s=${RATE}:d=${seconds}`],
      ...['-ac', String(channels), '-c:a', 'aac', '-f', 'adts', file],
    ]);

  beforeAll(async () => {
    root = await tempDir('channels-inside');
    const tmp = await tempDir('channels-inside-parts');
    await part(path.join(tmp, 'mono.aac'), 1, 2, 0.5);
    await part(path.join(tmp, 'stereo.aac'), 2, 2, 1.0);
    await part(path.join(tmp, 'b.aac'), 2, 2, 0.7);
    const monoFrames = splitAdts(await readFile(path.join(tmp, 'mono.aac'))).frames.length;
    const aFrames = monoFrames + splitAdts(await readFile(path.join(tmp, 'stereo.aac'))).frames.length;
    await writeFile(path.join(tmp, 'a.aac'), Buffer.concat([await readFile(path.join(tmp, 'mono.aac')), await readFile(path.join(tmp, 'stereo.aac'))]));
    const base = `${SID}_${CNAME}__uid_s_8__uid_e_audio`;
    const bStartMs = T0 + Math.round(aFrames * FRAME_MS);
    const names = [`${base}_${utc17(T0)}.ts`, `${base}_${utc17(bStartMs)}.ts`];
    await run('ffmpeg', ['-v', 'error', '-y', '-i', path.join(tmp, 'a.aac'), '-c', 'copy', '-output_ts_offset', '7000', '-f', 'mpegts', path.join(root, names[0]!)]);
    await run('ffmpeg', ['-v', 'error', '-y', '-i', path.join(tmp, 'b.aac'), '-c', 'copy', '-output_ts_offset', '9000', '-f', 'mpegts', path.join(root, names[1]!)]);
    const extinf = (frames: number) => ((frames * FRAME_MS) / 1000).toFixed(3);
    const bFrames = splitAdts(await readFile(path.join(tmp, 'b.aac'))).frames.length;
    await writeFile(path.join(root, `${base}.m3u8`), ['#EXTM3U', '#EXT-X-VERSION:3', '#EXT-X-TARGETDURATION:5', `#EXTINF:${extinf(aFrames)}`, names[0], `#EXTINF:${extinf(bFrames)}`, names[1], '#EXT-X-ENDLIST', ''].join('\n'));
    // Where each beep's first sample is: its part's first frame + the priming + the beep's offset.
    const priming = 1024 / RATE;
    truthS = [priming + 0.5, (monoFrames * FRAME_MS) / 1000 + priming + 1.0, (bStartMs - T0) / 1000 + priming + 0.7];
  });

  it.each([
    ['auto', false],
    ['--transcode', true],
  ] as const)('%s: split at the change and re-encoded, said, every beep at its instant, stereo throughout', async (_label, transcode) => {
    const [r] = await merge(root, transcode ? 'transcode' : 'auto', { transcode });
    expect(r!.audioPath).toBe('transcode');
    expect(r!.warnings.join('\n')).toMatch(/the channel count changes inside .*_uid_e_audio_\d{17}\.ts .*split at the change/);
    const beeps = await beepTimes(r!.file!);
    expect(beeps, JSON.stringify({ beeps, truthS })).toHaveLength(3);
    truthS.forEach((t, i) => expect(Math.abs(beeps[i]! - t) * 1000, JSON.stringify({ beeps, truthS })).toBeLessThanOrEqual(copyBounds.audioMs));
    const info = await probe(r!.file!);
    expect(info.audio!.channels).toBe(2);
    expect(Math.abs(info.durationS - (truthS[2]! - 0.7 - 1024 / RATE + 2))).toBeLessThan(0.05);
  });
});

describe('a phone turned in the middle of a slice (ROTATE with a TIME inside it)', () => {
  // Turned upside down (180), so the picture keeps filling the canvas and its corners can be read.
  const markers = [T0 + 1500, T0 + 6500, T0 + 11_000];
  let w: WrittenRecording;
  beforeAll(async () => {
    w = await build('turn', {
      users: [
        {
          uid: '6',
          markers,
          audio: [{ startMs: T0, durationMs: 12_000, sliceMs: 6000 }],
          video: [{ startMs: T0, durationMs: 12_000, sliceMs: 6000, width: 160, height: 96, fps: 15, rotations: [{ atMs: T0 + 3000, rotation: 180 }] }],
        },
      ],
    });
  });

  it('the picture is upright before and after the turn, and turns at its instant', async () => {
    const [r] = await merge(w.root, 'auto');
    expect(r!.videoPath).toBe('transcode');
    await expectTruth(w, r!, transcodeBounds(15));
    const origin = originOf(w, '6');
    const turnS = (T0 + 3000 - origin) / 1000;
    for (const t of [0.5, 2.5, turnS + 0.3, 5, 9, 11.5]) {
      const c = await cornerLuma(r!.file!, t);
      // The white square sits in the upright top-left corner whichever way the phone is held.
      expect(c.topLeft, `top-left at ${t}s`).toBeGreaterThan(150);
      expect(c.topRight, `top-right at ${t}s`).toBeLessThan(80);
      expect(c.bottomLeft, `bottom-left at ${t}s`).toBeLessThan(80);
    }
  });
});

describe('HEVC and frame drops', () => {
  const markers = [T0 + 1000, T0 + 4200, T0 + 7100];
  let w: WrittenRecording;
  beforeAll(async () => {
    w = await build('hevc', {
      users: [
        {
          uid: '7',
          markers,
          audio: [{ startMs: T0, durationMs: 8000 }],
          video: [{ startMs: T0, durationMs: 8000, width: 160, height: 96, fps: 15, codec: 'hevc' }],
        },
        {
          uid: '8',
          markers,
          audio: [{ startMs: T0, durationMs: 8000 }],
          video: [{ startMs: T0, durationMs: 8000, width: 160, height: 90, fps: 15, dropFrames: [{ fromMs: T0 + 2000, toMs: T0 + 3200 }, { fromMs: T0 + 5000, toMs: T0 + 5400 }] }],
        },
      ],
    });
  });

  it('HEVC is re-encoded to H.264 with every marker in place', async () => {
    const results = await merge(w.root, 'auto', { uids: ['7'] });
    const r = results.find((x) => x.uid === '7')!;
    expect(r.videoPath).toBe('transcode');
    expect((await probe(r.file!)).video!.codec).toBe('h264');
    await expectTruth(w, r, transcodeBounds(15));
  });

  it.each([
    ['copy', false],
    ['transcode', true],
  ] as const)('%s path: frames after a burst of drops keep their instants', async (expected, transcode) => {
    const results = await merge(w.root, `drops-${expected}`, { uids: ['8'], transcode });
    const r = results.find((x) => x.uid === '8')!;
    expect(r.videoPath).toBe(expected);
    await expectTruth(w, r, expected === 'copy' ? copyBounds : transcodeBounds(15));
    await expectTrackLengths(w, r, timelineOf(w, '8'));
  });
});

describe('the last frame', () => {
  let w: WrittenRecording;
  const end = T0 + 5000;
  beforeAll(async () => {
    // A flash in the very last frame of the recording (15 fps: the frame at 4.933 s).
    w = await build('lastframe', {
      users: [{ uid: '9', markers: [T0 + 2000, end - 1000 / 15], video: [{ startMs: T0, durationMs: 5000, width: 160, height: 90, fps: 15 }] }],
    });
  });

  it.each([
    ['copy', false],
    ['transcode', true],
  ] as const)('%s path keeps it', async (expected, transcode) => {
    const [r] = await merge(w.root, expected, { transcode });
    expect(r!.videoPath).toBe(expected);
    await expectTruth(w, r!, expected === 'copy' ? copyBounds : transcodeBounds(15), { video: true, audio: false });
  });
});
