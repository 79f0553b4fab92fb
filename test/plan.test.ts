// Inventory (+ probed facts) -> merge plan, on small synthetic inventories.
import { describe, expect, it } from 'vitest';
import { formatUtc17 } from '../src/core/names.js';
import { coveredSpans, keysToProbe, measuredRate, placeSlices, planMerge } from '../src/core/plan.js';
import type { Inventory, MediaFacts, MediaKind, OutputPlan, Rotation, Slice, SliceContainer, SliceMedia, UidRecording, VideoFacts } from '../src/core/types.js';
import type { PlanOptions } from '../src/options.js';

const SID = 'aaaa0000bbbb1111cccc2222dddd3333';
const SID2 = 'eeee4444ffff5555aaaa6666bbbb7777';
const CNAME = 'lesson_42';
const T0 = Date.UTC(2024, 0, 2, 3, 4, 5, 0);
const utc = (at: number) => formatUtc17(T0 + at);

/** [start ms after T0, duration ms, extras] */
type S = [number, number, { ext?: SliceContainer; rot?: Rotation; present?: boolean; disc?: boolean; w?: number; h?: number; fps?: number }?];

const keyOf = (sid: string, uid: string, media: MediaKind, at: number, ext: SliceContainer = 'ts') => `${sid}_${CNAME}__uid_s_${uid}__uid_e_${media}_${utc(at)}.${ext}`;
const toSlices = (sid: string, uid: string, media: MediaKind, list: S[]): Slice[] =>
  list.map(([at, dur, x = {}]) => ({
    key: keyOf(sid, uid, media, at, x.ext),
    container: x.ext ?? 'ts',
    startMs: T0 + at,
    durationMs: dur,
    discontinuity: x.disc ?? false,
    rotation: x.rot ?? 0,
    codedSize: null,
    backup: false,
    present: x.present ?? true,
  }));

interface U {
  uid?: string;
  sid?: string;
  audio?: S[];
  video?: S[];
  failed?: string;
}
const track = (media: MediaKind, slices: Slice[]) => ({ media, playlistKey: null, otherPlaylists: [], slices, events: [] });

/** An inventory and the facts ffprobe would report: every video slice H.264 640x480 @15 unless it says otherwise. */
function setup(...users: U[]): { inv: Inventory; facts: Map<string, MediaFacts> } {
  const facts = new Map<string, MediaFacts>();
  const sessions = new Map<string, UidRecording[]>();
  for (const u of users) {
    const sid = u.sid ?? SID;
    const uid = u.uid ?? '1';
    const audio = u.audio ? toSlices(sid, uid, 'audio', u.audio) : null;
    const video = u.video ? toSlices(sid, uid, 'video', u.video) : null;
    for (const s of audio ?? []) facts.set(s.key, { audio: { codec: 'aac', sampleRate: 48000, channels: 1, profile: 'LC' } });
    (u.video ?? []).forEach(([, , x = {}], i) => {
      const s = video![i]!;
      const vf: VideoFacts = { codec: s.container === 'webm' ? 'vp8' : 'h264', width: x.w ?? 640, height: x.h ?? 480, fps: x.fps ?? 15 };
      facts.set(s.key, { video: vf });
    });
    const rec: UidRecording = { uid, audio: audio && track('audio', audio), video: video && track('video', video), problems: [], failed: u.failed ?? null };
    sessions.set(sid, [...(sessions.get(sid) ?? []), rec]);
  }
  return { inv: { sessions: [...sessions].map(([sid, uids]) => ({ sid, cname: CNAME, dir: '', uids })), ignored: [], problems: [], unmeasured: [] }, facts };
}
const plan = (users: U[], options: PlanOptions = {}) => {
  const { inv, facts } = setup(...users);
  return planMerge(inv, facts, options);
};
const only = (users: U[], options: PlanOptions = {}): OutputPlan => {
  const p = plan(users, options);
  expect(p.failures).toEqual([]);
  expect(p.outputs).toHaveLength(1);
  return p.outputs[0]!;
};
const runsOf = (o: OutputPlan) => o.video!.runs.map((r) => r.slices.map((s) => s.offsetMs));

describe('placeSlices: offsets and slots', () => {
  it.each<[string, [number, number][], [number, number][]]>([
    ['contiguous slices own the time up to the next', [[0, 5000], [5000, 5000]], [[0, 5000], [5000, 5000]]],
    ['recorder jitter (100 ms late) still belongs to the slice before', [[0, 5000], [5100, 5000]], [[0, 5100], [5100, 5000]]],
    ['exactly at the 250 ms tolerance: contiguous', [[0, 5000], [5250, 5000]], [[0, 5250], [5250, 5000]]],
    ['a gap just over the tolerance: the slot is its own length', [[0, 5000], [5251, 5000]], [[0, 5000], [5251, 5000]]],
    ['an overlap is cut where the next slice starts', [[0, 5000], [4000, 5000]], [[0, 4000], [4000, 5000]]],
    ['unsorted input is placed in time order', [[10000, 3000], [0, 5000]], [[0, 5000], [10000, 3000]]],
  ])('%s', (_what, list, expected) => {
    const placed = placeSlices(toSlices(SID, '1', 'audio', list.map(([a, d]) => [a, d] as S)), T0, []);
    expect(placed.map((p) => [p.offsetMs, p.slotMs])).toEqual(expected);
  });

  it('removes cut time from offsets (wall clock -> output time)', () => {
    const placed = placeSlices(toSlices(SID, '1', 'audio', [[0, 5000], [20000, 5000]]), T0, [{ startMs: T0 + 5000, endMs: T0 + 20000 }]);
    expect(placed.map((p) => [p.offsetMs, p.slotMs])).toEqual([[0, 5000], [5000, 5000]]);
  });
});

describe('coveredSpans', () => {
  it('merges spans closer than the tolerance and keeps real gaps', () => {
    const spans = coveredSpans(toSlices(SID, '1', 'audio', [[0, 5000], [5200, 1000], [7000, 1000]]));
    expect(spans.map((s) => [s.startMs - T0, s.endMs - T0])).toEqual([[0, 6200], [7000, 8000]]);
  });
});

describe('planMerge: time origin, duration and gaps', () => {
  it.each<[string, U, number, number, number]>([
    ['video starts late', { audio: [[0, 10000]], video: [[3000, 7000]] }, 0, 0, 3000],
    ['audio starts late', { audio: [[2000, 8000]], video: [[0, 10000]] }, 0, 2000, 0],
    ['both start late relative to T0', { audio: [[4000, 5000]], video: [[5000, 5000]] }, 4000, 0, 1000],
  ])('%s: origin is the earlier start', (_what, user, origin, audioOffset, videoOffset) => {
    const o = only([user]);
    expect(o.originMs).toBe(T0 + origin);
    expect(o.audio!.runs[0]!.offsetMs).toBe(audioOffset);
    expect(o.video!.runs[0]!.offsetMs).toBe(videoOffset);
    expect(o.durationMs).toBe(10000 - origin);
  });

  it('ends at the later of the two ends', () => {
    const o = only([{ audio: [[0, 12000]], video: [[0, 5000]] }]);
    expect(o.durationMs).toBe(12000);
    expect(o.video!.gaps).toEqual([{ startMs: 5000, endMs: 12000 }]);
    expect(o.audio!.gaps).toEqual([]);
  });

  it('lists the gaps of each track in output time', () => {
    const o = only([{ audio: [[0, 5000], [8000, 2000]], video: [[1000, 2000], [6000, 4000]] }]);
    expect(o.audio!.gaps).toEqual([{ startMs: 5000, endMs: 8000 }]);
    expect(o.video!.gaps).toEqual([{ startMs: 0, endMs: 1000 }, { startMs: 3000, endMs: 6000 }]);
  });

  it('a slice missing from storage leaves a gap', () => {
    const o = only([{ audio: [[0, 5000], [5000, 5000, { present: false }], [10000, 5000]] }]);
    expect(o.audio!.gaps).toEqual([{ startMs: 5000, endMs: 10000 }]);
    expect(o.inputs).toHaveLength(2);
  });
});

describe('planMerge: video runs', () => {
  it.each<[string, S[], number[][]]>([
    ['contiguous same-size slices: one run', [[0, 5000], [5000, 5000], [10000, 5000]], [[0, 5000, 10000]]],
    ['a gap splits', [[0, 5000], [8000, 5000]], [[0], [8000]]],
    ['a size change splits', [[0, 5000], [5000, 5000, { w: 320, h: 240 }], [10000, 5000, { w: 320, h: 240 }]], [[0], [5000, 10000]]],
    ['a rotation does not split: the stream decodes on across the turn', [[0, 5000], [5000, 5000, { rot: 90 }], [10000, 5000]], [[0, 5000, 10000]]],
    ['a container change splits', [[0, 5000], [5000, 5000, { ext: 'webm' }]], [[0], [5000]]],
    ['a frame rate change alone does not split', [[0, 5000], [5000, 5000, { fps: 30 }]], [[0, 5000]]],
  ])('%s', (_what, video, runs) => {
    expect(runsOf(only([{ video }]))).toEqual(runs);
  });

  it('a run carries its size, rotation, codec and end', () => {
    const o = only([{ video: [[0, 5000, { rot: 270, w: 640, h: 360 }], [5000, 4000, { rot: 270, w: 640, h: 360 }]] }]);
    expect(o.video!.runs[0]).toMatchObject({ width: 640, height: 360, rotation: 270, codec: 'h264', fps: 15, offsetMs: 0, endMs: 9000, container: 'ts' });
  });
});

describe('planMerge: what the slices measured (SliceMedia)', () => {
  const withMedia = (users: U[], media: (key: string, media: MediaKind, i: number) => SliceMedia | undefined, options: PlanOptions = {}) => {
    const { inv, facts } = setup(...users);
    const m = new Map<string, SliceMedia>();
    for (const rec of inv.sessions.flatMap((x) => x.uids)) {
      for (const t of [rec.audio, rec.video]) t?.slices.forEach((sl, i) => {
        const got = media(sl.key, t.media, i);
        if (got) m.set(sl.key, got);
      });
    }
    const p = planMerge(inv, facts, options, m);
    expect(p.outputs).toHaveLength(1);
    return p.outputs[0]!;
  };
  const frames = (lengthMs: number, fps = 15) => Array.from({ length: Math.round((lengthMs * fps) / 1000) }, (_, i) => (i * 1000) / fps);
  const video = (lengthMs: number, x: Partial<SliceMedia> = {}): SliceMedia => ({
    hasVideo: true, hasAudio: false, startS: 100, lengthMs, frameOffsetsMs: frames(lengthMs), firstKeyMs: 0, startsOnKey: true, ...x,
  });

  it('a slice lasts what its media holds, not what #EXTINF says (clamped, and said when far off)', () => {
    const o = withMedia([{ video: [[0, 100_000], [4000, 4000]] }], (_k, _m, i) => video(i === 0 ? 4000 : 3000));
    expect(o.durationMs).toBe(7000);
    expect(o.warnings.join('\n')).toMatch(/holds 4\.000s of media but #EXTINF says 100\.000s/);
    expect(o.video!.runs[0]!.slices[0]).toMatchObject({ mediaStartS: 100, slotMs: 4000 });
  });

  it('jitter-sized #EXTINF differences are not reported', () => {
    const o = withMedia([{ video: [[0, 4000], [4010, 4000]] }], () => video(4005));
    expect(o.warnings.filter((w) => /EXTINF/.test(w))).toEqual([]);
  });

  it('an overlap that holds whole frames reports how many frames were dropped; one that only shortens a frame does not', () => {
    // Slice 1 holds 4 s + 2 frames beyond where slice 2 starts (at 4000); slice 2 then overlaps by 20 ms only.
    const o = withMedia([{ video: [[0, 4000], [4000, 4000], [7980, 4000]] }], (_k, _m, i) => video(i === 0 ? 4000 + 2000 / 15 : 4000));
    const w = o.warnings.filter((x) => x.startsWith('video:'));
    expect(w).toHaveLength(1);
    expect(w[0]).toMatch(/1 slice\(s\) overlap the next one \(by up to 133 ms.*2 frame\(s\) in the overlaps were dropped/);
  });

  it('audio overlaps are reported with their length', () => {
    const audio = (lengthMs: number): SliceMedia => ({ hasVideo: false, hasAudio: true, startS: 5, lengthMs, audio: { sampleRate: 48000, channels: 1, frames: 700, changes: false } });
    const o = withMedia([{ audio: [[0, 15000], [14990, 15000], [29985, 15000]] }], () => audio(15000));
    expect(o.warnings.find((x) => x.startsWith('audio:'))).toMatch(/2 slice\(s\) overlap the next one \(by up to 10 ms, 15 ms in all/);
  });

  it('a sender that speeds up inside a run: the run takes the fastest rate its slices really have', () => {
    // Facts (first slice) say 15 fps; the second slice's frames come every 33.3 ms, the third's every 40 ms.
    const o = withMedia([{ video: [[0, 4000], [4000, 4000], [8000, 4000]] }], (_k, _m, i) => video(4000, { frameOffsetsMs: frames(4000, [15, 30, 25][i]) }), { transcode: true });
    expect(o.video!.runs.map((r) => r.fps)).toEqual([30]);
    expect(o.video!.fps).toBe(30);
  });

  it.each([
    [[0, 66.7, 133.3, 200, 266.7], 15],
    [[0, 66, 133, 200, 267, 333], 15],
    [[0, 33.367, 66.733, 100.1], 30000 / 1001],
    [[0, 33.333, 66.667, 200, 233.333, 266.667], 30],
    [[0, 90.909, 181.818, 272.727], 11],
    [[0, 100], null],
  ])('measuredRate %j -> %s (the median spacing, snapped to the nearest common rate)', (offsets, rate) => {
    const got = measuredRate(video(1000, { frameOffsetsMs: offsets }));
    if (rate === null) expect(got).toBeNull();
    else expect(got).toBeCloseTo(rate, 3);
  });

  it('a channel count change between slices starts a new audio run and re-encodes', () => {
    const audio = (channels: number): SliceMedia => ({ hasVideo: false, hasAudio: true, startS: 5, lengthMs: 4000, audio: { sampleRate: 48000, channels, frames: 187, changes: false } });
    const o = withMedia([{ audio: [[0, 4000], [4000, 4000], [8000, 4000]] }], (_k, _m, i) => audio(i === 0 ? 1 : 2));
    expect(o.audio!.runs.map((r) => [r.offsetMs, r.channels])).toEqual([[0, 1], [4000, 2]]);
    expect(o.audio!.path).toBe('transcode');
  });

  it('a run that starts mid-GOP starts at its first keyframe, and says how much was concealed', () => {
    const o = withMedia([{ video: [[1000, 4000], [5000, 4000]] }], (_k, _m, i) => video(4000, i === 0 ? { startsOnKey: false, firstKeyMs: 1400 } : {}));
    const first = o.video!.runs[0]!;
    // Time 0 is the first slice's UTC (nothing else is earlier): the picture starts 1.4 s in.
    expect(first.offsetMs).toBe(1400);
    expect(first.slices[0]).toMatchObject({ offsetMs: 1400, slotMs: 2600, leadMs: 1400, mediaStartS: 101.4 });
    expect(o.warnings.join('\n')).toMatch(/video: 1\.400s from 0\.000s cannot be decoded .*shown as black/);
    expect(o.durationMs).toBe(8000);
  });

  it('a first slice with no keyframe at all is left out of its run', () => {
    const o = withMedia([{ video: [[0, 4000], [4000, 4000]] }], (_k, _m, i) => video(4000, i === 0 ? { startsOnKey: false, firstKeyMs: null } : {}));
    expect(runsOf(o)).toEqual([[4000]]);
    expect(o.warnings.join('\n')).toMatch(/4\.000s from 0\.000s cannot be decoded/);
  });

  it('a ROTATE inside a slice turns the picture at that instant; the canvas fits both orientations', () => {
    const { inv, facts } = setup({ video: [[0, 5000], [5000, 5000]] });
    const slices = inv.sessions[0]!.uids[0]!.video!.slices;
    slices[0]!.turns = [{ atMs: T0 + 3000, rotation: 90 }];
    slices[1]!.rotation = 90;
    const o = planMerge(inv, facts).outputs[0]!;
    expect(o.video!.runs).toHaveLength(1);
    expect(o.video!.runs[0]!.turns).toEqual([{ atMs: 3000, rotation: 90 }]);
    expect(o.video!.path).toBe('transcode');
    expect([o.video!.width, o.video!.height]).toEqual([640, 480]);
  });
});

describe('planMerge: instants far apart', () => {
  const H = 3_600_000;
  it('an absence over maxGapHours (default 24) splits a user into outputs named by their start, said in both', () => {
    const p = plan([{ audio: [[0, 5000], [5000, 5000], [25 * H, 5000]], video: [[0, 10000], [25 * H, 5000]] }]);
    expect(p.failures).toEqual([]);
    expect(p.outputs.map((o) => [o.durationMs, o.fileName.endsWith(`_${utc(0)}.mp4`) || o.fileName.endsWith(`_${utc(25 * H)}.mp4`)])).toEqual([
      [10000, true],
      [5000, true],
    ]);
    for (const o of p.outputs) expect(o.warnings.join('\n')).toMatch(/absent for more than 24 h .*: written as 2 separate outputs/);
  });

  it('a gap under the limit stays one output; the limit is an option', () => {
    expect(plan([{ audio: [[0, 5000], [23 * H, 5000]] }]).outputs).toHaveLength(1);
    expect(plan([{ audio: [[0, 5000], [2 * H, 5000]] }], { maxGapHours: 1 }).outputs).toHaveLength(2);
  });

  it('an output spanning more than maxSpanHours (default 48) fails for that user only', () => {
    const slices: S[] = Array.from({ length: 60 }, (_, i) => [i * H, H] as S);
    const p = plan([{ uid: '1', audio: slices }, { uid: '2', audio: [[0, 5000]] }]);
    expect(p.outputs.map((o) => o.uid)).toEqual(['2']);
    expect(p.failures).toEqual([expect.objectContaining({ uid: '1', error: expect.stringMatching(/uid 1: spans 59\.0 h, more than the 48 h allowed/) })]);
  });
});

describe('planMerge: --gaps cut', () => {
  it('removes the time when neither track is present, from both tracks alike', () => {
    const o = only([{ audio: [[0, 5000], [20000, 5000]], video: [[0, 5000], [20000, 5000]] }], { gaps: 'cut' });
    expect(o.cuts).toEqual([{ startMs: T0 + 5000, endMs: T0 + 20000 }]);
    expect(o.durationMs).toBe(10000);
    expect(o.audio!.runs.map((r) => r.offsetMs)).toEqual([0]);
    expect(o.audio!.runs[0]!.slices.map((s) => s.offsetMs)).toEqual([0, 5000]);
    expect(runsOf(o)).toEqual([[0, 5000]]);
  });

  it('does not cut a camera-off gap while the audio goes on', () => {
    const o = only([{ audio: [[0, 25000]], video: [[0, 5000], [20000, 5000]] }], { gaps: 'cut' });
    expect(o.cuts).toEqual([]);
    expect(o.durationMs).toBe(25000);
    expect(o.video!.gaps).toEqual([{ startMs: 5000, endMs: 20000 }]);
  });

  it('cuts only the part where both are absent', () => {
    const o = only([{ audio: [[0, 8000], [20000, 5000]], video: [[0, 5000], [15000, 10000]] }], { gaps: 'cut' });
    expect(o.cuts).toEqual([{ startMs: T0 + 8000, endMs: T0 + 15000 }]);
    expect(o.durationMs).toBe(18000);
    expect(o.audio!.runs.map((r) => [r.offsetMs, r.endMs])).toEqual([[0, 8000], [13000, 18000]]);
    expect(o.video!.runs.map((r) => [r.offsetMs, r.endMs])).toEqual([[0, 5000], [8000, 18000]]);
  });

  it.each(['freeze', 'black'] as const)('--gaps %s keeps the absence', (gaps) => {
    const o = only([{ audio: [[0, 5000], [20000, 5000]] }], { gaps });
    expect(o.cuts).toEqual([]);
    expect(o.durationMs).toBe(25000);
  });
});

describe('planMerge: segments mode', () => {
  const user: U = { audio: [[0, 5000], [25000, 5000], [31000, 4000]], video: [[1000, 4000], [26000, 9000]] };

  it('splits where the user was absent longer than 15 s and names the files by segment start', () => {
    const p = plan([user], { mode: 'segments' });
    expect(p.failures).toEqual([]);
    expect(p.outputs.map((o) => [o.fileName, o.originMs - T0, o.durationMs, o.kind, o.id])).toEqual([
      [`${SID}_${CNAME}__uid_s_1__uid_e_av_${utc(0)}.mp4`, 0, 5000, 'av', `${SID}/1/${utc(0)}`],
      [`${SID}_${CNAME}__uid_s_1__uid_e_av_${utc(25000)}.mp4`, 25000, 10000, 'av', `${SID}/1/${utc(25000)}`],
    ]);
  });

  it.each<[string, number | undefined, number]>([
    ['an absence of exactly 15 s does not split', undefined, 1],
    ['--split-gap 10 splits it', 10, 2],
    ['--split-gap 16 does not', 16, 1],
  ])('%s', (_what, splitGap, count) => {
    const p = plan([{ audio: [[0, 5000], [20000, 5000]] }], { mode: 'segments', splitGap });
    expect(p.outputs).toHaveLength(count);
  });

  it('a camera-off gap with audio going on is not an absence', () => {
    expect(plan([{ audio: [[0, 40000]], video: [[0, 5000], [35000, 5000]] }], { mode: 'segments' }).outputs).toHaveLength(1);
  });

  it('an audio-only segment is an .m4a', () => {
    const p = plan([{ audio: [[0, 5000], [30000, 5000]], video: [[30000, 5000]] }], { mode: 'segments' });
    expect(p.outputs.map((o) => o.fileName)).toEqual([`${SID}_${CNAME}__uid_s_1__uid_e_audio_${utc(0)}.m4a`, `${SID}_${CNAME}__uid_s_1__uid_e_av_${utc(30000)}.mp4`]);
  });
});

describe('planMerge: sessions, modes, names, uids', () => {
  const twoSessions: U[] = [
    { sid: SID, audio: [[0, 5000]], video: [[0, 5000]] },
    { sid: SID2, audio: [[60000, 5000]], video: [[60000, 5000]] },
  ];

  it('keeps sessions apart by default', () => {
    expect(plan(twoSessions).outputs.map((o) => o.fileName)).toEqual([`${SID}_${CNAME}__uid_s_1__uid_e_av.mp4`, `${SID2}_${CNAME}__uid_s_1__uid_e_av.mp4`]);
  });

  it('--join-sessions gives one output on the wall clock, named without a sid', () => {
    const o = only(twoSessions, { joinSessions: true });
    expect(o).toMatchObject({ fileName: `${CNAME}__uid_s_1__uid_e_av.mp4`, sid: null, sids: [SID, SID2], id: `${CNAME}/1`, originMs: T0, durationMs: 65000 });
    expect(o.audio!.gaps).toEqual([{ startMs: 5000, endMs: 60000 }]);
    expect(o.inputs).toHaveLength(4);
  });

  it('--join-sessions keeps slices both sessions recorded once', () => {
    const o = only(
      [
        { sid: SID, audio: [[0, 5000], [5000, 5000]] },
        { sid: SID2, audio: [[5000, 5000], [10000, 5000]] },
      ],
      { joinSessions: true },
    );
    expect(o.audio!.runs[0]!.slices.map((s) => s.offsetMs)).toEqual([0, 5000, 10000]);
  });

  it.each<[string, PlanOptions, U, string, OutputPlan['kind'], boolean, boolean]>([
    ['av', {}, { audio: [[0, 5000]], video: [[0, 5000]] }, `${SID}_${CNAME}__uid_s_1__uid_e_av.mp4`, 'av', true, true],
    ['--mode audio', { mode: 'audio' }, { audio: [[0, 5000]], video: [[0, 5000]] }, `${SID}_${CNAME}__uid_s_1__uid_e_audio.m4a`, 'audio', true, false],
    ['--mode video', { mode: 'video' }, { audio: [[0, 5000]], video: [[0, 5000]] }, `${SID}_${CNAME}__uid_s_1__uid_e_video.mp4`, 'video', false, true],
    ['audio-only UID', {}, { audio: [[0, 5000]] }, `${SID}_${CNAME}__uid_s_1__uid_e_audio.m4a`, 'audio', true, false],
    ['video-only UID', {}, { video: [[0, 5000]] }, `${SID}_${CNAME}__uid_s_1__uid_e_video.mp4`, 'video', false, true],
    ['script names, av', { names: 'script' }, { audio: [[0, 5000]], video: [[0, 5000]] }, '1_0_merge_av.mp4', 'av', true, true],
    ['script names, audio mode', { names: 'script', mode: 'audio' }, { audio: [[0, 5000]], video: [[0, 5000]] }, '1_0_merge.m4a', 'audio', true, false],
    ['script names, video mode', { names: 'script', mode: 'video' }, { audio: [[0, 5000]], video: [[0, 5000]] }, '1_0_merge.mp4', 'video', false, true],
    ['script names, segments', { names: 'script', mode: 'segments' }, { audio: [[2000, 5000]], video: [[1000, 5000]] }, `1_${utc(1000)}_av.mp4`, 'av', true, true],
    ['script names, audio-only segment', { names: 'script', mode: 'segments' }, { audio: [[2000, 5000]] }, `1_${utc(2000)}.m4a`, 'audio', true, false],
  ])('%s -> %s', (_what, options, user, fileName, kind, hasAudio, hasVideo) => {
    const o = only([user], options);
    expect(o.fileName).toBe(fileName);
    expect(o.kind).toBe(kind);
    expect(o.audio !== null).toBe(hasAudio);
    expect(o.video !== null).toBe(hasVideo);
  });

  it('script names with several sessions go into one folder per sid', () => {
    expect(plan(twoSessions, { names: 'script' }).outputs.map((o) => o.fileName)).toEqual([`${SID}/1_0_merge_av.mp4`, `${SID2}/1_0_merge_av.mp4`]);
  });

  it.each([
    ['audio', { video: [[0, 5000]] } as U, /uid 1: no audio to merge/],
    ['video', { audio: [[0, 5000]] } as U, /uid 1: no video to merge/],
  ] as const)('--mode %s on a UID without that track fails it', (mode, user, error) => {
    const p = plan([user], { mode });
    expect(p.outputs).toEqual([]);
    expect(p.failures).toEqual([{ sid: SID, cname: CNAME, uid: '1', error: expect.stringMatching(error) }]);
  });

  it('a UID whose every slice is absent fails', () => {
    const p = plan([{ audio: [[0, 5000, { present: false }]] }]);
    expect(p.failures).toEqual([expect.objectContaining({ uid: '1', error: expect.stringMatching(/no slice could be read/) })]);
  });

  it('--uid keeps only those UIDs (failed ones included in failures only if wanted)', () => {
    const users: U[] = [{ uid: '1', audio: [[0, 5000]] }, { uid: '2', audio: [[0, 5000]] }, { uid: '3', failed: 'uid 3: broken' }];
    expect(plan(users, { uids: ['2'] })).toEqual({ outputs: [expect.objectContaining({ uid: '2' })], failures: [] });
    expect(plan(users, { uids: ['2', '3'] }).failures).toEqual([{ sid: SID, cname: CNAME, uid: '3', error: 'uid 3: broken' }]);
    expect(plan(users).outputs.map((o) => o.uid)).toEqual(['1', '2']);
  });
});

describe('planMerge: trim', () => {
  const user: U = { audio: [[0, 5000], [5000, 5000], [10000, 5000]], video: [[0, 5000], [5000, 5000], [10000, 5000]] };

  it.each<[string, PlanOptions, { fromMs: number; durationMs: number }, number]>([
    ['--from 6', { from: 6 }, { fromMs: 6000, durationMs: 9000 }, 4],
    ['--duration 4', { duration: 4 }, { fromMs: 0, durationMs: 4000 }, 2],
    ['--from 5 --duration 5: only the middle slices', { from: 5, duration: 5 }, { fromMs: 5000, durationMs: 5000 }, 2],
    ['--from 4 --duration 2: straddles a boundary', { from: 4, duration: 2 }, { fromMs: 4000, durationMs: 2000 }, 4],
    ['--duration past the end is clamped', { from: 10, duration: 60 }, { fromMs: 10000, durationMs: 5000 }, 2],
  ])('%s', (_what, options, trim, inputs) => {
    const o = only([user], options);
    expect(o.trim).toEqual(trim);
    expect(o.durationMs).toBe(trim.durationMs);
    expect(o.inputs).toHaveLength(inputs);
    // Cutting the start needs decoding; cutting only the end keeps the copy path.
    const cutsStart = trim.fromMs > 0;
    expect(o.video!.path).toBe(cutsStart ? 'transcode' : 'copy');
    expect(o.video!.reasons.includes('trimming needs a frame-exact cut')).toBe(cutsStart);
    expect(o.audio!.path).toBe(cutsStart ? 'transcode' : 'copy');
  });

  it('--from 0 with a duration past the end is no trim at all', () => {
    const o = only([user], { from: 0, duration: 600 });
    expect(o.trim).toBeNull();
    expect(o.video!.path).toBe('copy');
  });

  it.each([15, 100])('--from %i (past the end) is a failure for the UID', (from) => {
    const p = plan([user], { from });
    expect(p.outputs).toEqual([]);
    expect(p.failures).toEqual([expect.objectContaining({ uid: '1', error: expect.stringMatching(/--from .* is past the end \(15\.000s\)/) })]);
  });
});

describe('planMerge: copy or transcode', () => {
  const av = (video: S[], audio: S[] = [[0, 10000]]): U[] => [{ audio, video }];

  it('copies same-size H.264 without rotation, freeze gaps included', () => {
    const o = only(av([[0, 3000], [5000, 5000]]));
    expect(o.video).toMatchObject({ path: 'copy', reasons: [], fps: null, width: 640, height: 480 });
    expect(o.audio).toMatchObject({ path: 'copy', reasons: [] });
  });

  it('copies a late-starting video with --gaps black (only the lead is black)', () => {
    expect(only(av([[2000, 8000]]), { gaps: 'black' }).video!.path).toBe('copy');
  });

  it.each<[string, S[], PlanOptions, RegExp]>([
    ['WebM slices', [[0, 10000, { ext: 'webm' }]], {}, /WebM\/VP8 slices cannot be copied/],
    ['a size change', [[0, 5000], [5000, 5000, { w: 320, h: 240 }]], {}, /the picture size changes/],
    ['a rotation that changes between runs', [[0, 5000, { rot: 90 }], [5000, 5000]], {}, /the rotation changes inside the output/],
    ['a held rotation with --size other than its upright size', [[0, 10000, { rot: 90 }]], { size: { width: 640, height: 480 } }, /--size differs from the source size/],
    ['--fps', [[0, 10000]], { fps: 25 }, /--fps asks for a constant frame rate/],
    ['--size', [[0, 10000]], { size: { width: 1280, height: 720 } }, /--size differs from the source size/],
    ['black gaps inside', [[0, 3000], [5000, 5000]], { gaps: 'black' }, /--gaps black needs black frames/],
    ['black gap at the end', [[0, 3000]], { gaps: 'black' }, /--gaps black needs black frames/],
    ['--transcode', [[0, 10000]], { transcode: true }, /--transcode was given/],
    ['trim', [[0, 10000]], { from: 1 }, /trimming needs a frame-exact cut/],
  ])('transcodes for %s, saying why', (_what, video, options, reason) => {
    const o = only(av(video), options);
    expect(o.video!.path).toBe('transcode');
    expect(o.video!.reasons.join('\n')).toMatch(reason);
    expect(o.warnings.join('\n')).toMatch(/video is re-encoded/);
  });

  // Issue 20.1: a phone held turned the whole output is copied; the MP4 display matrix shows it upright.
  it.each<[string, S[], PlanOptions, number]>([
    ['held at 90 degrees', [[0, 5000, { rot: 90 }], [5000, 5000, { rot: 90 }]], {}, 90],
    ['held at 270 degrees, two runs', [[0, 4000, { rot: 270 }], [6000, 4000, { rot: 270 }]], {}, 270],
    ['held upside down', [[0, 10000, { rot: 180 }]], {}, 180],
    ['held at 90 degrees, --size its upright size', [[0, 10000, { rot: 90 }]], { size: { width: 480, height: 640 } }, 90],
    ['not turned', [[0, 10000]], {}, 0],
  ])('copies a phone %s, the rotation written as display metadata', (_what, video, options, rotation) => {
    const o = only(av(video), options);
    expect(o.video).toMatchObject({ path: 'copy', reasons: [], displayRotation: rotation, width: 640, height: 480 });
  });

  it('a turn inside the output re-encodes; no display rotation then', () => {
    const { inv, facts } = setup(...av([[0, 5000], [5000, 5000]]));
    const slices = inv.sessions[0]!.uids[0]!.video!.slices;
    slices[0]!.turns = [{ atMs: T0 + 3000, rotation: 90 }];
    slices[1]!.rotation = 90;
    const o = planMerge(inv, facts).outputs[0]!;
    expect(o.video).toMatchObject({ path: 'transcode', displayRotation: 0 });
    expect(o.video!.reasons.join('\n')).toMatch(/the rotation changes inside the output/);
  });

  it('--size equal to the source size still copies', () => {
    expect(only(av([[0, 10000]]), { size: { width: 640, height: 480 } }).video!.path).toBe('copy');
  });

  it('unknown picture size (no facts) transcodes', () => {
    const { inv } = setup(...av([[0, 10000]]));
    const o = planMerge(inv, new Map()).outputs[0]!;
    expect(o.video!.reasons).toContain('the picture size is unknown');
  });

  it.each<[string, S[], PlanOptions, number]>([
    ['the source rate when transcoding', [[0, 10000, { rot: 90, fps: 24 }]], { transcode: true }, 24],
    ['the highest source rate of all runs', [[0, 5000, { fps: 15 }], [5000, 5000, { fps: 30, w: 320, h: 240 }]], {}, 30],
    ['--fps', [[0, 10000]], { fps: 50 }, 50],
    ['29.97 stays 29.97', [[0, 10000, { ext: 'webm', fps: 30000 / 1001 }]], {}, 29.97],
  ])('output fps: %s', (_what, video, options, fps) => {
    expect(only(av(video), options).video!.fps).toBe(fps);
  });

  it('audio transcodes when the sample rate changes, with the reason', () => {
    const { inv, facts } = setup({ audio: [[0, 5000], [5000, 5000]] });
    const second = inv.sessions[0]!.uids[0]!.audio!.slices[1]!.key;
    facts.set(second, { audio: { codec: 'aac', sampleRate: 44100, channels: 1, profile: 'LC' } });
    const o = planMerge(inv, facts).outputs[0]!;
    expect(o.audio!.runs).toHaveLength(2);
    expect(o.audio!).toMatchObject({ path: 'transcode', reasons: ['sample rate or channel count changes'] });
  });

  it.each<[string, { codec: string; profile: string | null }, RegExp | null]>([
    ['AAC-LC copies', { codec: 'aac', profile: 'LC' }, null],
    ['unknown profile copies', { codec: 'aac', profile: null }, null],
    ['HE-AAC transcodes', { codec: 'aac', profile: 'HE-AAC' }, /not AAC-LC/],
    ['Opus transcodes', { codec: 'opus', profile: null }, /audio is not AAC/],
  ])('audio: %s', (_what, af, reason) => {
    const { inv, facts } = setup({ audio: [[0, 5000]] });
    facts.set(inv.sessions[0]!.uids[0]!.audio!.slices[0]!.key, { audio: { sampleRate: 48000, channels: 2, ...af } });
    const a = planMerge(inv, facts).outputs[0]!.audio!;
    expect(a.path).toBe(reason ? 'transcode' : 'copy');
    if (reason) expect(a.reasons.join('\n')).toMatch(reason);
  });
});

describe('planMerge: canvas', () => {
  it.each<[string, S[], PlanOptions, [number, number]]>([
    ['the largest slice size', [[0, 5000, { w: 320, h: 240 }], [5000, 5000, { w: 1280, h: 720 }], [10000, 5000, { w: 640, h: 480 }]], {}, [1280, 720]],
    ['rotation swaps width and height (re-encoded)', [[0, 5000, { rot: 90, w: 640, h: 360 }]], { transcode: true }, [360, 640]],
    ['a held rotation copied keeps the coded size (shown turned by the display matrix)', [[0, 5000, { rot: 90, w: 640, h: 360 }]], {}, [640, 360]],
    ['rotation 270 too', [[0, 5000, { rot: 270, w: 1280, h: 720 }], [5000, 5000, { w: 640, h: 360 }]], {}, [720, 1280]],
    ['rotation 180 does not swap', [[0, 5000, { rot: 180, w: 640, h: 360 }]], { transcode: true }, [640, 360]],
    ['odd sizes round up to even numbers', [[0, 5000, { rot: 90, w: 641, h: 359 }]], { transcode: true }, [360, 642]],
    ['--size wins', [[0, 5000, { w: 1280, h: 720 }]], { size: { width: 320, height: 180 } }, [320, 180]],
    ['--size is made even', [[0, 5000]], { size: { width: 321, height: 179 } }, [322, 180]],
  ])('%s', (_what, video, options, [w, h]) => {
    const o = only([{ video }], options);
    expect([o.video!.width, o.video!.height]).toEqual([w, h]);
  });
});

describe('keysToProbe', () => {
  it('picks the first slice of every stretch that may differ from the one before', () => {
    const { inv } = setup({
      audio: [[0, 5000], [5000, 5000], [20000, 5000]],
      video: [[0, 5000], [5000, 5000], [10000, 5000, { disc: true }], [15000, 5000, { rot: 90 }], [20000, 5000, { rot: 90, ext: 'webm' }], [25000, 5000, { rot: 90, ext: 'webm' }], [40000, 1000, { rot: 90, ext: 'webm' }]],
    });
    const keys = keysToProbe(inv).map((k) => k.replace(`${SID}_${CNAME}__uid_s_1__uid_e_`, ''));
    expect(keys).toEqual([
      `audio_${utc(0)}.ts`,
      `audio_${utc(20000)}.ts`, // after a gap
      `video_${utc(0)}.ts`,
      `video_${utc(10000)}.ts`, // discontinuity
      `video_${utc(15000)}.ts`, // rotation
      `video_${utc(20000)}.webm`, // container
      `video_${utc(40000)}.webm`, // gap
    ]);
  });

  it('probes only the track the mode merges', () => {
    const { inv } = setup({ audio: [[0, 5000]], video: [[0, 5000]] });
    const media = (mode: 'audio' | 'video') => keysToProbe(inv, { mode }).map((k) => /__uid_e_(audio|video)_/.exec(k)![1]);
    expect(media('audio')).toEqual(['audio']);
    expect(media('video')).toEqual(['video']);
  });

  it('skips slices that are not in storage and UIDs that are not wanted', () => {
    const { inv } = setup({ uid: '1', audio: [[0, 5000, { present: false }], [5000, 5000]] }, { uid: '2', audio: [[0, 5000]] });
    expect(keysToProbe(inv, { uids: ['1'] })).toEqual([keyOf(SID, '1', 'audio', 5000)]);
  });
});
