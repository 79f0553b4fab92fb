// Output plan -> ffconcat lists, filter graphs and ffmpeg argument arrays (pure), plus one check that
// ffmpeg itself reads the quoting of a concat list the way it is meant.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { audioGraph, mergeArgs, videoGraph, videoPieces, type MergeInputs } from '../src/merge/render.js';
import { concatList, concatQuote, copyJoinMs, copyTimeGrid } from '../src/render/concat.js';
import { uprightFilter } from '../src/render/picture.js';
import { resolveTool } from '../src/ffmpeg/runner.js';
import { outputPath } from '../src/pipeline/run.js';
import type { AudioPlan, GapMode, OutputPlan, PlacedSlice, Rotation, VideoPlan, VideoRun } from '../src/core/types.js';

const T0 = Date.UTC(2024, 0, 2, 3, 4, 5, 0);
const placed = (key: string, offsetMs: number, slotMs: number, durationMs = slotMs): PlacedSlice => ({ key, offsetMs, slotMs, durationMs, startMs: T0 + offsetMs });
const paths = (...keys: string[]) => new Map(keys.map((k) => [k, `/cache/${k}.ts`]));

describe('concatList', () => {
  it('each entry lasts until the next slice; the last lasts its slot; outpoint only on overlap, in the slice\'s own clock', () => {
    const slices = [
      placed('a', 0, 5000), // contiguous
      { ...placed('b', 5000, 4000, 5000), mediaStartS: 1234.5 }, // overlaps the next by 1 s: cut there
      placed('c', 9000, 3000), // followed by a 2 s gap: held until the next slice
      placed('d', 14000, 2500, 2500), // last: its slot
    ];
    expect(concatList(slices, paths('a', 'b', 'c', 'd'), true)).toBe(
      [
        'ffconcat version 1.0',
        "file '/cache/a.ts'",
        'duration 5.000000',
        "file '/cache/b.ts'",
        'duration 4.000000',
        'outpoint 1238.500000',
        "file '/cache/c.ts'",
        'duration 5.000000',
        "file '/cache/d.ts'",
        'duration 2.500000',
        '',
      ].join('\n'),
    );
  });

  it('without cutOverlaps there is no outpoint', () => {
    expect(concatList([{ ...placed('b', 0, 4000, 5000), mediaStartS: 10 }, placed('c', 4000, 5000)], paths('b', 'c'), false)).not.toContain('outpoint');
  });

  it.each<[string, number, number, number | undefined, boolean]>([
    ['slot shorter by 2 ms', 4998, 5000, 77.7, true],
    ['slot shorter by under a millisecond (rounding)', 4999.7, 5000, 77.7, false],
    ['slot longer (jitter after)', 5100, 5000, 77.7, false],
    ['start not measured: no out point can be placed', 4000, 5000, undefined, false],
  ])('outpoint: %s -> %s', (_what, slot, dur, start, outpoint) => {
    const a = { ...placed('a', 0, slot, dur), ...(start !== undefined ? { mediaStartS: start } : {}) };
    expect(concatList([a, placed('b', slot, 1000)], paths('a', 'b'), true).includes('outpoint')).toBe(outpoint);
  });

  it('the last slice is never cut (nothing follows it)', () => {
    expect(concatList([{ ...placed('a', 0, 4000, 5000), mediaStartS: 3 }], paths('a'), true)).not.toContain('outpoint');
  });

  it('a lead clip comes first and lasts up to the first slice', () => {
    const list = concatList([placed('a', 1500, 1000)], paths('a'), true, { file: '/work/black.ts', durationMs: 1500, startS: 1.4 });
    expect(list.split('\n').slice(1, 6)).toEqual(["file '/work/black.ts'", 'duration 1.500000', 'outpoint 2.900000', "file '/cache/a.ts'", 'duration 1.000000']);
  });

  it('the durations add up to the end of the last slot', () => {
    const slices = [placed('a', 0, 6332), placed('b', 6332, 15000), placed('c', 21700, 1234.5)];
    const total = [...concatList(slices, paths('a', 'b', 'c'), true).matchAll(/^duration (\S+)$/gm)].reduce((s, m) => s + Number(m[1]), 0);
    expect(total).toBeCloseTo(22.9345, 6);
  });

  it('refuses a slice without a local file', () => {
    expect(() => concatList([placed('a', 0, 1000)], new Map(), true)).toThrow(/a: no local file/);
  });
});

describe('copyJoinMs', () => {
  // Output frame slots at 15 fps; copied timestamps land up to half a grid step (5.6 ms) off the plan, and a
  // late video's edit list loses up to 1 ms: no frame read before the join may share a slot with the next
  // slice's first frame, wherever that frame falls between two slots.
  const frameMs = 1000 / 15;
  const stepMs = (copyTimeGrid(15) / 90000) * 1000;
  const slotsOf = (t: number) => [Math.round((t - stepMs / 2 - 1) / frameMs), Math.round((t + stepMs / 2) / frameMs)];
  it.each([90_000, 90_030, 90_033.3, 90_034, 90_040, 90_065, 90_099])('next first frame at %s ms', (nextFirst) => {
    // The earlier slice starts 15 s before (a late video: offsets are output times, 31 ms from 0) and holds
    // frames every frameMs that run past the next one's start (names overlap the media).
    const earlier = placed('a', nextFirst - 15_031, 15_031, 15_100);
    const next = { ...placed('b', nextFirst - 5, 15_000), frameOffsetsMs: [5, 5 + frameMs] };
    const joinMs = copyJoinMs(earlier.offsetMs, next, { frameMs });
    const kept = Array.from({ length: 227 }, (_, i) => earlier.offsetMs + i * frameMs).filter((t) => t < earlier.offsetMs + joinMs);
    const nextSlot = slotsOf(nextFirst)[0]!;
    for (const t of kept) expect(slotsOf(t)[1], `frame at ${t}`).toBeLessThan(nextSlot);
    // At most the frames of one slot (and the margin) go: the last kept frame is within two frames of the next one.
    expect(nextFirst - kept.at(-1)!).toBeLessThan(2 * frameMs + 2 * stepMs);
  });

  it('B-frames: a frame decoded before the cut is shown up to the reordering delay later; cut that much earlier unless the next slice goes on from this one', () => {
    const earlier = placed('a', 0, 36_000, 36_100);
    const next = { ...placed('b', 36_000, 4000), frameOffsetsMs: [6] };
    const plain = copyJoinMs(0, next, { frameMs });
    expect(copyJoinMs(0, next, { frameMs }, false, 100)).toBeCloseTo(plain - 100, 6);
    // A mid-GOP cut: the next slice decodes from this one's last frames, which must all be read.
    expect(copyJoinMs(0, { ...next, startsMidGop: true }, { frameMs }, false, 100)).toBeCloseTo(plain, 6);
    expect(earlier.offsetMs + plain).toBeLessThan(36_006 - frameMs / 2);
  });
});

describe('concatQuote', () => {
  it.each([
    ['/plain/path.ts', "'/plain/path.ts'"],
    ['/with space/a b.ts', "'/with space/a b.ts'"],
    ["/it's.ts", "'/it'\\''s.ts'"],
    ["''", "''\\'''\\'''"],
    ['/ünïcødé/日本.ts', "'/ünïcødé/日本.ts'"],
    ['/back\\slash.ts', "'/back\\slash.ts'"],
    ['/"double".ts', "'/\"double\".ts'"],
  ])('%s -> %s', (file, quoted) => {
    expect(concatQuote(file)).toBe(quoted);
  });

  it.each(['a\nb.ts', 'a\rb.ts', 'a\r\nb.ts'])('refuses a line break: %j', (file) => {
    expect(() => concatQuote(file)).toThrow(/line breaks/);
    expect(() => concatList([placed('a', 0, 1000)], new Map([['a', file]]), true)).toThrow(/line breaks/);
  });

  describe('ffmpeg reads the quoted names back', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'recmerge-concat-'));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it("a list of files named with quotes, spaces, backslashes and unicode is readable (total 0.4 s)", () => {
      const names = [`it's a "tést" \\ file.ts`, `日本 'x'.ts`];
      const files = names.map((n) => path.join(dir, n));
      for (const f of files) {
        const made = spawnSync(resolveTool('ffmpeg'), ['-v', 'error', '-f', 'lavfi', '-i', 'sine=d=0.2:r=48000', '-c:a', 'aac', '-f', 'mpegts', f]);
        expect(made.status, String(made.stderr)).toBe(0);
      }
      const list = path.join(dir, 'list.txt');
      writeFileSync(list, concatList([placed('a', 0, 200), placed('b', 200, 200)], new Map([['a', files[0]!], ['b', files[1]!]]), false));
      const probed = spawnSync(resolveTool('ffprobe'), ['-v', 'error', '-f', 'concat', '-safe', '0', '-i', list, '-show_entries', 'format=duration', '-of', 'csv=p=0']);
      expect(probed.status, String(probed.stderr)).toBe(0);
      expect(Number(String(probed.stdout).trim())).toBeCloseTo(0.4, 1);
    });
  });
});

describe('uprightFilter', () => {
  it.each<[Rotation, string[]]>([
    [0, []],
    [90, ['transpose=clock']], // turned anticlockwise by 90: turn it back clockwise
    [180, ['hflip', 'vflip']],
    [270, ['transpose=cclock']],
  ])('%i -> %j', (rotation, filters) => {
    expect(uprightFilter(rotation)).toEqual(filters);
  });
});

const run = (offsetMs: number, endMs: number, x: Partial<VideoRun> = {}): VideoRun => ({
  slices: [placed(`v${offsetMs}`, offsetMs, endMs - offsetMs)],
  container: 'ts',
  rotation: 0,
  turns: [],
  width: 640,
  height: 480,
  codec: 'h264',
  fps: 15,
  offsetMs,
  endMs,
  ...x,
});
const videoPlan = (runs: VideoRun[], x: Partial<VideoPlan> = {}): VideoPlan => ({ runs, width: 640, height: 480, fps: 15, path: 'transcode', reasons: ['test'], gaps: [], displayRotation: 0, ...x });
const chains = (graph: string) => graph.split(';');
/** Output frames of each segment (a run's share of the output grid), in order. */
const canvasFrames = (graph: string) =>
  chains(graph).flatMap((c) => {
    const m = /trim=end_frame=(\d+)\[(?:o\d+|vout)\]$/.exec(c);
    return m ? [Number(m[1])] : [];
  });
const shiftOf = (chain: string) => {
  const m = /setpts=PTS([+-][\d.]+)\/TB/.exec(chain);
  return m ? Number(m[1]) : Number.NaN;
};

describe('videoGraph', () => {
  it.each<[string, [number, number][], number, number]>([
    ['one run from 0', [[0, 10000]], 10000, 15],
    ['late start, two runs', [[1000, 4000], [5000, 20000]], 20000, 15],
    ['three runs with gaps at 29.97 fps', [[333, 4000], [7777, 9000], [12345, 19999]], 19999, 30000 / 1001],
    ['offsets between frames at 24 fps', [[20, 1000], [1021, 2000], [2062, 3000]], 3000, 24],
  ])('%s: canvas frames per run add up to the total', (_what, spans, durationMs, fps) => {
    const g = videoGraph(videoPlan(spans.map(([a, b]) => run(a, b)), { fps }), 0, durationMs, 'freeze');
    const frames = canvasFrames(g);
    expect(frames).toHaveLength(spans.length);
    expect(frames.reduce((a, b) => a + b, 0)).toBe(Math.round((durationMs / 1000) * fps));
  });

  it('runs shorter than an output frame do not push later runs off their frame', () => {
    const tiny = [0, 20, 40, 60, 80].map((t) => run(t, t + 20, { width: 640 + t, height: 480 }));
    const g = videoGraph(videoPlan([...tiny, run(100, 10000)]), 0, 10000, 'freeze');
    expect(canvasFrames(g).reduce((a, b) => a + b, 0)).toBe(150);
  });

  it('each run after the first owns the output frames from the one nearest its offset', () => {
    const g = videoGraph(videoPlan([run(1000, 4000), run(5000, 8000), run(12000, 15000)]), 0, 20000, 'freeze');
    // 15 fps: run 2 at frame 75, run 3 at frame 180, end at frame 300
    expect(canvasFrames(g)).toEqual([75, 105, 120]);
  });

  it('frames keep their timestamps: each run is shifted to its offset within its segment, less half an output frame', () => {
    const g = chains(videoGraph(videoPlan([run(1000, 4000), run(5010, 8000)]), 0, 8000, 'freeze'));
    const [r0, r1] = g.filter((c) => c.startsWith('[') && c.includes('setpts'));
    // Run 1 starts 1 s into the first segment; run 2 (5.010 s) owns the segment from frame 75 (5.000 s).
    expect(shiftOf(r0!)).toBeCloseTo(1 - 0.5 / 15, 6);
    expect(shiftOf(r1!)).toBeCloseTo(0.01 - 0.5 / 15, 6);
    expect(g.join(';')).not.toContain('tpad');
    expect(g.join(';')).not.toMatch(/setpts=N\//);
  });

  it.each<[GapMode, number[][]]>([
    ['freeze', [[-1e6, 1e6], [-1e6, 1e6]]],
    ['cut', [[-1e6, 1e6], [-1e6, 1e6]]],
    // Run 1 ends at 4 s in a segment from 0; run 2 at 8 s in a segment from 5 s: each less half a frame.
    ['black', [[-1e6, 4 - 0.5 / 15, 1e6], [-1e6, 3 - 0.5 / 15, 1e6]]],
  ])('--gaps %s: black before a run\'s first picture; after its last one held, or black from its end', (mode, blacks) => {
    const g = chains(videoGraph(videoPlan([run(0, 4000), run(5000, 8000)]), 0, 8000, mode));
    expect(g.filter((c) => c.includes('overlay'))).toHaveLength(0);
    const at = blacks.map((_, n) => g.filter((c) => c.startsWith('color=') && new RegExp(`\\[b${n}_\\d\\]$`).test(c)).map(shiftOf));
    expect(at).toEqual(blacks.map((b) => b.map((t) => expect.closeTo(t, 6))));
    const joins = g.filter((x) => x.includes('interleave'));
    expect(joins).toHaveLength(2);
    for (const c of joins) expect(c).toMatch(new RegExp(`^\\[b\\d_0\\]\\[r\\dp0\\].*interleave=nb_inputs=${blacks[0]!.length + 1},settb=1/90000,fps=15:start_time=0:round=up,trim=end_frame=\\d+\\[o\\d\\]$`));
  });

  it('scales first (a size change inside a stream is absorbed there), then turns upright, pads, and concatenates', () => {
    const g = videoGraph(videoPlan([run(0, 4000, { rotation: 90 }), run(4000, 8000)], { width: 480, height: 640, fps: 25 }), 2, 8000, 'freeze');
    const c = chains(g);
    expect(c[0]).toMatch(/^\[2:v:0\]scale=640:480,transpose=clock,pad=480:640:\(ow-iw\)\/2:\(oh-ih\)\/2:color=black,setsar=1,format=yuv420p,setpts=PTS/);
    expect(c.find((x) => x.startsWith('[3:v:0]'))).toMatch(/^\[3:v:0\]scale=480:360,pad=480:640/);
    expect(c.at(-1)).toBe('[o0][o1]concat=n=2:v=1:a=0[vout]');
  });

  it('a turn inside a run splits its pictures at that instant: each piece its own input (read from a slice that starts on a keyframe), turned on its own', () => {
    const turned = run(1000, 9000, { turns: [{ atMs: 5000, rotation: 90 }] });
    turned.slices = [placed('s0', 1000, 3000), { ...placed('s1', 4000, 3000), startsMidGop: true }, placed('s2', 7000, 2000)];
    const pieces = videoPieces(videoPlan([turned]));
    // The second piece (from 5 s) lies in s1, cut mid-GOP: its input starts at s0.
    expect(pieces.map((p) => [p.fromMs, p.toMs, p.rotation, p.slices.map((x) => x.key)])).toEqual([
      [1000, 5000, 0, ['s0', 's1']],
      [5000, null, 90, ['s0', 's1', 's2']],
    ]);
    const g = chains(videoGraph(videoPlan([turned], { width: 640, height: 480 }), 0, 9000, 'freeze'));
    expect(g[0]).toMatch(/^\[0:v:0\]trim=start=0\.000000:end=4\.000000,scale=640:480,pad=/);
    expect(g[1]).toMatch(/^\[1:v:0\]trim=start=4\.000000,scale=480:360,transpose=clock,pad=640:480/);
    expect(g.filter((x) => x.includes('overlay'))).toHaveLength(2);
  });

  it('a single run ends in [vout] without concat', () => {
    const g = videoGraph(videoPlan([run(0, 4000)]), 0, 4000, 'freeze');
    expect(g).toMatch(/\[vout\]$/);
    expect(g).not.toContain('concat');
  });
});

describe('audioGraph', () => {
  it('one input per run, each converted to the output layout and rate and laid over the samples it owns', () => {
    const runs = [
      { slices: [], offsetMs: 250, endMs: 5000, codec: 'aac', sampleRate: 44100, channels: 1, profile: 'LC' },
      { slices: [], offsetMs: 6000, endMs: 12000, codec: 'aac', sampleRate: 48000, channels: 2, profile: 'LC' },
    ];
    const audio: AudioPlan = { runs, path: 'transcode', reasons: [], gaps: [], changesInside: [] };
    const [a0, a1, concat] = chains(audioGraph(audio, 3, 12345));
    // A mono voice goes to both channels at full level; the silence before it is made by adelay in small frames.
    expect(a0).toBe('[3:a:0]pan=stereo|c0=c0|c1=c0,aformat=sample_fmts=fltp:sample_rates=48000:channel_layouts=stereo,asetpts=PTS+0.000000/TB,aresample=async=1:min_hard_comp=0.001:first_pts=0,adelay=delays=12000S:all=1,apad=whole_len=288000,atrim=end_sample=288000[a0]');
    expect(a1).toMatch(/^\[4:a:0\]aformat=sample_fmts=fltp:sample_rates=48000:channel_layouts=stereo,asetpts=PTS\+0\.000000\/TB,.*apad=whole_len=304560,atrim=end_sample=304560\[a1\]$/);
    expect(concat).toBe('[a0][a1]concat=n=2:v=0:a=1[aout]');
  });

  it('mono stays mono', () => {
    const audio: AudioPlan = { runs: [{ slices: [], offsetMs: 0, endMs: 1000, codec: 'aac', sampleRate: 48000, channels: 1, profile: 'LC' }], path: 'transcode', reasons: [], gaps: [], changesInside: [] };
    expect(audioGraph(audio, 0, 1000)).toMatch(/channel_layouts=mono.*\[aout\]$/);
  });
});

describe('mergeArgs', () => {
  const audioPlan = (path: 'copy' | 'transcode'): AudioPlan => ({
    runs: [{ slices: [placed('a0', 0, 10000)], offsetMs: 0, endMs: 10000, codec: 'aac', sampleRate: 48000, channels: 1, profile: 'LC' }],
    path,
    reasons: [],
    gaps: [],
    changesInside: [],
  });
  const output = (x: Partial<OutputPlan>): OutputPlan => ({
    id: 's/1',
    sid: 's',
    sids: ['s'],
    cname: 'c',
    uid: '1',
    kind: 'av',
    fileName: 'x.mp4',
    originMs: T0,
    durationMs: 10000,
    cuts: [],
    gapMode: 'freeze',
    trim: null,
    video: null,
    audio: null,
    inputs: [],
    warnings: [],
    overlaps: [],
    absent: [],
    ...x,
  });
  const inputs = (x: Partial<MergeInputs>): MergeInputs => ({ videoLists: [], videoDelayMs: 0, adtsFile: null, audioLists: [], ...x });
  const enc = { preset: 'veryfast' };
  /** The value after a flag (first occurrence). */
  const after = (args: string[], flag: string) => args[args.indexOf(flag) + 1];
  const tail = ['-movflags', '+faststart', '-f', 'mp4', '/out/x.mp4.tmp'];
  /** A timestamp on the copy grid of a 15 fps track: 500 ticks of 90 kHz. */
  const GRID = (t: 'PTS' | 'DTS') => `round(${t}*TB*90000/500)*500/(TB*90000)`;

  it('copy path: concat video (delayed by -itsoffset when late) + placed ADTS, stream copy, no filter graph', () => {
    const plan = output({ video: videoPlan([run(1500, 10000)], { path: 'copy', fps: null, reasons: [] }), audio: audioPlan('copy') });
    const args = mergeArgs(plan, inputs({ videoLists: ['/tmp/v.txt'], videoDelayMs: 1500, adtsFile: '/tmp/a.aac' }), '/out/x.mp4.tmp', enc);
    expect(args.slice(0, 3)).toEqual(['-y', '-loglevel', 'error']);
    expect(args.join(' ')).toContain('-f concat -safe 0 -itsoffset 1.500000 -i /tmp/v.txt -f aac -i /tmp/a.aac -map 0:v:0 -map 1:a:0 -c:v copy -bsf:v setts=');
    // Timestamps on the copy grid (render/concat.ts copyTimeGrid: 1/12 of the 15 fps frame interval, in 90 kHz ticks).
    expect(after(args, '-bsf:v')).toBe(`setts=pts='${GRID('PTS')}':dts='${GRID('DTS')}':duration='DURATION'`);
    expect(after(args, '-c:a')).toBe('copy');
    expect(args).not.toContain('-filter_complex');
    expect(args).not.toContain('-ss');
    expect(args.slice(-5)).toEqual(tail);
    expect(after(args, '-metadata')).toBe(`creation_time=${new Date(T0).toISOString()}`);
    expect(args.every((a) => typeof a === 'string')).toBe(true);
  });

  it('copy path: the video track is held to the end of the timeline (the packet decoded last lasts up to it)', () => {
    const plan = output({ durationMs: 12000, video: videoPlan([run(0, 10000)], { path: 'copy', fps: null, reasons: [] }), audio: audioPlan('copy') });
    const args = mergeArgs(plan, inputs({ videoLists: ['/tmp/v.txt'], adtsFile: '/tmp/a.aac' }), '/o.mp4', enc);
    // pts=PTS: without it ffmpeg 5.1's setts writes PTS = DTS (B-frames out of order); each lasts from where it is shown.
    expect(after(args, '-bsf:v')).toBe(`setts=pts='${GRID('PTS')}':dts='${GRID('DTS')}':duration='if(gte(DTS*TB,9.900000),(12.000000-${GRID('PTS')}*TB)/TB,DURATION)'`);
    // B-frames: the last packet in decode order comes a reordering delay before the end, even when the video ends last.
    const bframes = run(0, 12000);
    bframes.slices[0]!.reorderMs = 66.667;
    const held = mergeArgs(output({ durationMs: 12000, video: videoPlan([bframes], { path: 'copy', fps: null, reasons: [] }) }), inputs({ videoLists: ['/tmp/v.txt'] }), '/o.mp4', enc);
    expect(after(held, '-bsf:v')).toBe(`setts=pts='${GRID('PTS')}':dts='${GRID('DTS')}':duration='if(gte(DTS*TB,11.833333),(12.000000-${GRID('PTS')}*TB)/TB,DURATION)'`);
    const ends = mergeArgs(output({ durationMs: 12000, video: videoPlan([run(0, 12000)], { path: 'copy', fps: null, reasons: [] }) }), inputs({ videoLists: ['/tmp/v.txt'] }), '/o.mp4', enc);
    expect(after(ends, '-bsf:v')).toBe(`setts=pts='${GRID('PTS')}':dts='${GRID('DTS')}':duration='DURATION'`);
  });

  it('copy path, video on time: no -itsoffset', () => {
    const plan = output({ video: videoPlan([run(0, 10000)], { path: 'copy', fps: null, reasons: [] }), audio: audioPlan('copy') });
    expect(mergeArgs(plan, inputs({ videoLists: ['/tmp/v.txt'], adtsFile: '/tmp/a.aac' }), '/o.mp4', enc)).not.toContain('-itsoffset');
  });

  it('transcode path: one concat input per run, then one per audio run; one graph; x264 at the plan rate; AAC', () => {
    const plan = output({ video: videoPlan([run(0, 4000), run(6000, 10000)], { fps: 25 }), audio: audioPlan('transcode') });
    const args = mergeArgs(plan, inputs({ videoLists: ['/tmp/v0.txt', '/tmp/v1.txt'], audioLists: ['/tmp/a.txt'] }), '/out/x.mp4.tmp', { preset: 'fast', threads: 2 });
    expect(args.join(' ')).toContain(
      '-reinit_filter 0 -f concat -safe 0 -i /tmp/v0.txt -reinit_filter 0 -f concat -safe 0 -i /tmp/v1.txt -reinit_filter 0 -f concat -safe 0 -i /tmp/a.txt',
    );
    const graph = after(args, '-filter_complex')!;
    expect(graph).toContain('[0:v:0]');
    expect(graph).toContain('[1:v:0]');
    expect(graph).toContain('[2:a:0]aformat=sample_fmts=fltp:sample_rates=48000');
    expect(graph).toContain('apad=whole_len=480000');
    expect(args.join(' ')).toContain('-map [vout] -map [aout] -c:v libx264 -preset fast -crf 23 -pix_fmt yuv420p -r 25 -threads 2 -c:a aac -b:a 128k');
    expect(args.filter((a) => a === '-filter_complex')).toHaveLength(1);
    expect(args.slice(-5)).toEqual(tail);
  });

  it('trim: -ss/-t as output options, graphs built for the untrimmed end, creation time at the window start', () => {
    const plan = output({ video: videoPlan([run(0, 10000)]), audio: audioPlan('transcode'), trim: { fromMs: 2000, durationMs: 3000 }, durationMs: 3000 });
    const args = mergeArgs(plan, inputs({ videoLists: ['/tmp/v0.txt'], audioLists: ['/tmp/a.txt'] }), '/o.mp4', enc);
    expect(args.join(' ')).toContain('-ss 2.000000 -t 3.000000 -map_metadata -1');
    expect(args.indexOf('-ss')).toBeGreaterThan(args.lastIndexOf('-i'));
    const graph = after(args, '-filter_complex')!;
    expect(canvasFrames(graph)).toEqual([75]); // 5 s at 15 fps
    expect(graph).toContain('atrim=end_sample=240000');
    expect(after(args, '-metadata')).toBe(`creation_time=${new Date(T0 + 2000).toISOString()}`);
  });

  it('audio only: one input, no video options', () => {
    const plan = output({ kind: 'audio', audio: audioPlan('copy') });
    const args = mergeArgs(plan, inputs({ adtsFile: '/tmp/a.aac' }), '/o.m4a', enc);
    expect(args.join(' ')).toContain('-f aac -i /tmp/a.aac -map 0:a:0 -c:a copy');
    expect(args.some((a) => a.includes(':v'))).toBe(false);
    expect(args.slice(-3)).toEqual(['-f', 'mp4', '/o.m4a']);
  });

  it('video only (transcode): the graph has no audio and -map [aout] is absent', () => {
    const plan = output({ kind: 'video', video: videoPlan([run(0, 10000)]) });
    const args = mergeArgs(plan, inputs({ videoLists: ['/tmp/v0.txt'] }), '/o.mp4', enc);
    expect(args).not.toContain('[aout]');
    expect(after(args, '-filter_complex')).not.toContain('aresample');
  });

  it('paths with spaces and quotes are single arguments (no shell quoting)', () => {
    const plan = output({ kind: 'audio', audio: audioPlan('copy') });
    const args = mergeArgs(plan, inputs({ adtsFile: `/tmp/it's a file.aac` }), `/out dir/"x".m4a`, enc);
    expect(args).toContain(`/tmp/it's a file.aac`);
    expect(args.at(-1)).toBe(`/out dir/"x".m4a`);
  });
});

describe('outputPath', () => {
  it.each([
    ['sid_cname__uid_s_1__uid_e_av.mp4', true],
    ['sid/1_0_merge_av.mp4', true],
    ['..__uid_s_1__uid_e_av.mp4', true], // a cname of '..' is still one file name
    ['../escape.mp4', false],
    ['a/../../escape.mp4', false],
    ['/etc/passwd', false],
    ['', false],
    ['.', false],
  ])('%s stays inside the output folder: %s', (name, allowed) => {
    const out = path.resolve('/tmp/recmerge-out');
    if (allowed) expect(outputPath(out, name).startsWith(out + path.sep)).toBe(true);
    else expect(() => outputPath(out, name)).toThrow(/outside/);
  });
});
