// The events of an output on its own clock (core/events.ts), from plans of small synthetic inventories: joins and
// leaves, gaps and their fill, rotation/size changes, leads, overlaps, absent slices, trims, sync, chapters.
import { describe, expect, it } from 'vitest';
import { planCompose } from '../src/core/compose-plan.js';
import { chaptersVtt, mergeEvents, type OutputEvent, vttTime, wallOf } from '../src/core/events.js';
import { formatUtc17 } from '../src/core/names.js';
import { planMerge } from '../src/core/plan.js';
import type { Inventory, MediaFacts, MediaKind, Rotation, Slice, SliceMedia, UidRecording } from '../src/core/types.js';
import type { PlanOptions } from '../src/options.js';

const SID = 'aaaa0000bbbb1111cccc2222dddd3333';
const CNAME = 'events';
const T0 = Date.UTC(2024, 0, 2, 3, 4, 5, 0);

/** [start ms after T0, duration ms, extras] */
type S = [number, number, { rot?: Rotation; present?: boolean; w?: number; h?: number; turns?: { atMs: number; rotation: Rotation }[] }?];
interface U {
  uid?: string;
  audio?: S[];
  video?: S[];
}

const keyOf = (uid: string, media: MediaKind, at: number) => `${SID}_${CNAME}__uid_s_${uid}__uid_e_${media}_${formatUtc17(T0 + at)}.ts`;

function setup(users: U[]): { inv: Inventory; facts: Map<string, MediaFacts> } {
  const facts = new Map<string, MediaFacts>();
  const recs: UidRecording[] = users.map((u) => {
    const uid = u.uid ?? '1';
    const problems: UidRecording['problems'] = [];
    const slices = (media: MediaKind, list: S[] | undefined): Slice[] =>
      (list ?? []).map(([at, dur, x = {}]) => {
        const key = keyOf(uid, media, at);
        if (media === 'audio') facts.set(key, { audio: { codec: 'aac', sampleRate: 48000, channels: 1, profile: 'LC' } });
        else facts.set(key, { video: { codec: 'h264', width: x.w ?? 640, height: x.h ?? 480, fps: 15 } });
        if (x.present === false) problems.push({ severity: 'error', key, message: 'listed in the playlist but not in storage; its time becomes a gap' });
        const s: Slice = { key, container: 'ts', startMs: T0 + at, durationMs: dur, discontinuity: false, rotation: x.rot ?? 0, codedSize: null, backup: false, present: x.present ?? true };
        if (x.turns) s.turns = x.turns.map((t) => ({ atMs: T0 + t.atMs, rotation: t.rotation }));
        return s;
      });
    const track = (media: MediaKind, list: S[] | undefined) => (list ? { media, playlistKey: null, otherPlaylists: [], slices: slices(media, list), events: [] } : null);
    return { uid, audio: track('audio', u.audio), video: track('video', u.video), problems, failed: null };
  });
  return { inv: { sessions: [{ sid: SID, cname: CNAME, dir: '', uids: recs }], ignored: [], problems: [], unmeasured: [] }, facts };
}

const eventsOf = (users: U[], options: PlanOptions = {}, media?: Map<string, SliceMedia>) => {
  const { inv, facts } = setup(users);
  const p = planMerge(inv, facts, options, media);
  expect(p.failures).toEqual([]);
  return mergeEvents(p.outputs[0]!);
};
/** Events as compact rows: [t, type, track, extra]. */
const rows = (events: OutputEvent[], extra: (e: OutputEvent) => unknown = () => undefined) =>
  events.map((e) => [e.t, e.type, e.track, ...(extra(e) === undefined ? [] : [extra(e)])]);

describe('merge events', () => {
  it('a user away for 6 s: leave and join on both tracks, the video gap held, the audio gap silent', () => {
    const e = eventsOf([{ audio: [[0, 4000], [10_000, 2000]], video: [[0, 4000], [10_000, 2000]] }]);
    expect(rows(e.events, (x) => x.fill ?? x.duration)).toEqual([
      [0, 'join', 'audio'],
      [0, 'join', 'video'],
      [4, 'leave', 'audio'],
      [4, 'leave', 'video'],
      [4, 'gap', 'audio', 'silence'],
      [4, 'gap', 'video', 'freeze'],
      [10, 'join', 'audio'],
      [10, 'join', 'video'],
      [12, 'leave', 'audio'],
      [12, 'leave', 'video'],
    ]);
    expect(e.events.find((x) => x.type === 'gap')!.duration).toBe(6);
    expect(e.duration).toBe(12);
    expect(e.sync.origin).toBe(new Date(T0).toISOString());
  });

  it.each([
    ['freeze', [[1, 'gap', 'video', 'black'], [5, 'gap', 'video', 'freeze']]],
    ['black', [[1, 'gap', 'video', 'black'], [5, 'gap', 'video', 'black']]],
  ] as const)('--gaps %s: a late picture starts black, a gap inside shows %s', (gaps, want) => {
    const e = eventsOf([{ audio: [[0, 8000]], video: [[1000, 4000], [7000, 1000]] }], { gaps });
    expect(rows(e.events.filter((x) => x.type === 'gap'), (x) => x.fill).map(([, ...r]) => r)).toEqual(want.map(([, ...r]) => r));
    expect(e.events.filter((x) => x.type === 'gap').map((x) => [x.t, x.duration])).toEqual([[0, 1], [5, 2]]);
    expect(e.events.find((x) => x.type === 'join' && x.track === 'video')).toMatchObject({ t: 1, width: 640, height: 480, codec: 'h264', rotation: 0 });
  });

  it('--gaps cut: the absence is a cut (its wall-clock length), with a leave and a join at the cut', () => {
    const e = eventsOf([{ audio: [[0, 4000], [10_000, 2000]], video: [[0, 4000], [10_000, 2000]] }], { gaps: 'cut' });
    expect(e.duration).toBe(6);
    expect(rows(e.events.filter((x) => x.track === 'video'), (x) => x.fill ?? x.duration)).toEqual([
      [0, 'join', 'video'],
      [4, 'leave', 'video'],
      [4, 'gap', 'video', 'cut'],
      [4, 'join', 'video'],
      [6, 'leave', 'video'],
    ]);
    expect(e.events.find((x) => x.fill === 'cut')!.duration).toBe(6);
  });

  it('rotation inside a slice and from one slice to the next; a size change between runs', () => {
    const e = eventsOf([
      {
        video: [
          [0, 2000, { turns: [{ atMs: 1500, rotation: 90 }] }],
          [2000, 2000, { rot: 90 }],
          [4000, 2000, { rot: 180 }],
          [6000, 2000, { rot: 180, w: 320, h: 240 }],
        ],
      },
    ]);
    expect(rows(e.events.filter((x) => x.type === 'rotation'), (x) => [x.fromRotation, x.rotation])).toEqual([
      [1.5, 'rotation', 'video', [0, 90]],
      [4, 'rotation', 'video', [90, 180]],
    ]);
    expect(e.events.filter((x) => x.type === 'size')).toEqual([{ t: 6, type: 'size', track: 'video', width: 320, height: 240, fromWidth: 640, fromHeight: 480 }]);
    // A size change is a new run, not a leave.
    expect(e.events.filter((x) => x.type === 'leave').map((x) => x.t)).toEqual([8]);
  });

  it('a slice missing from storage: a gap where it was and a missing event, no leave', () => {
    const e = eventsOf([{ audio: [[0, 2000], [2000, 2000, { present: false }], [4000, 2000]] }]);
    expect(rows(e.events, (x) => x.key?.slice(-20))).toEqual([
      [0, 'join', 'audio'],
      [2, 'gap', 'audio'],
      [2, 'missing', 'audio', keyOf('1', 'audio', 2000).slice(-20)],
      [6, 'leave', 'audio'],
    ]);
    expect(e.events.find((x) => x.type === 'missing')).toMatchObject({ duration: 2, reason: expect.stringMatching(/not in storage/) });
  });

  it('an undecodable lead and an overlap cut, with the ms lost; measured placement has a sync block', () => {
    const v0 = keyOf('1', 'video', 0);
    const v1 = keyOf('1', 'video', 3000);
    const a0 = keyOf('1', 'audio', 1000);
    const frames = (n: number, from = 0) => Array.from({ length: n }, (_, i) => from + (i * 1000) / 15);
    const media = new Map<string, SliceMedia>([
      [v0, { hasVideo: true, hasAudio: false, startS: 1, lengthMs: 3400, frameOffsetsMs: frames(51), firstKeyMs: 400, startsOnKey: false }],
      [v1, { hasVideo: true, hasAudio: false, startS: 9, lengthMs: 3000, frameOffsetsMs: frames(45), firstKeyMs: 0, startsOnKey: true }],
      [a0, { hasVideo: false, hasAudio: true, startS: 2, lengthMs: 5000, audio: { sampleRate: 48000, channels: 1, frames: 234, changes: false } }],
    ]);
    const e = eventsOf([{ audio: [[1000, 5000]], video: [[0, 3400], [3000, 3000]] }], {}, media);
    expect(e.events.find((x) => x.type === 'lead')).toEqual({ t: 0, type: 'lead', track: 'video', duration: 0.4, lostMs: 400, key: v0 });
    // The first slice runs 400 ms into the next one: the frames from 3.0 s on in it are dropped.
    expect(e.events.find((x) => x.type === 'overlap')).toEqual({ t: 3, type: 'overlap', track: 'video', lostMs: 400, frames: 6, key: v0 });
    // The join is where the user's picture starts (the lead is the user's too, just not decodable).
    expect(e.events.find((x) => x.type === 'join' && x.track === 'video')!.t).toBe(0);
    // Audio at 1 s is laid on the AAC frame grid (21.333 ms): frame 47 starts at 1002.667 ms.
    expect(e.sync).toMatchObject({ audioMs: 2.667, videoMs: 0, avMs: 2.667, measured: true });
  });

  it('re-encoded video: the sync block is the largest distance of a frame from the output frame grid', () => {
    const v0 = keyOf('1', 'video', 10);
    const media = new Map<string, SliceMedia>([[v0, { hasVideo: true, hasAudio: false, startS: 0, lengthMs: 2000, frameOffsetsMs: [0, 500, 1000, 1500], firstKeyMs: 0, startsOnKey: true }]]);
    const e = eventsOf([{ audio: [[0, 2010]], video: [[10, 2000]] }], { fps: 30, transcode: true }, media);
    expect(e.sync.videoMs).toBe(10);
  });

  it('--from/--duration: events on the trimmed clock, a present track joins at 0, the origin moves', () => {
    const e = eventsOf([{ audio: [[0, 4000], [6000, 4000]], video: [[0, 10_000]] }], { from: 2, duration: 6 });
    expect(e.sync.origin).toBe(new Date(T0 + 2000).toISOString());
    expect(rows(e.events, (x) => x.duration)).toEqual([
      [0, 'join', 'audio'],
      [0, 'join', 'video'],
      [2, 'leave', 'audio'],
      [2, 'gap', 'audio', 2],
      [4, 'join', 'audio'],
      [6, 'leave', 'audio'],
      [6, 'leave', 'video'],
    ]);
  });

  it('wallOf is the inverse of the cut clock', () => {
    const cuts = [{ startMs: T0 + 4000, endMs: T0 + 10_000 }];
    expect(wallOf(3000, T0, cuts)).toBe(T0 + 3000);
    expect(wallOf(5000, T0, cuts)).toBe(T0 + 11_000);
  });
});

describe('compose events', () => {
  it('each user on the composite clock, with its uid', () => {
    const { inv, facts } = setup([
      { uid: '1', audio: [[0, 10_000]], video: [[0, 10_000]] },
      { uid: '2', audio: [[3000, 4000]], video: [[3000, 4000]] },
    ]);
    const out = planCompose(inv, facts, { size: { width: 320, height: 180 }, fps: 15 }).outputs[0]!;
    expect(out.files.slice(-2)).toEqual([`${out.fileName}.events.json`, `${out.fileName}.chapters.vtt`]);
    const mine = out.events.events.filter((x) => x.uid === '2');
    expect(rows(mine)).toEqual([
      [3, 'join', 'audio'],
      [3, 'join', 'video'],
      [7, 'leave', 'audio'],
      [7, 'leave', 'video'],
    ]);
    expect(out.events.sync.origin).toBe(new Date(T0).toISOString());
  });
});

describe('chapters', () => {
  it('joins and leaves as WebVTT cues, from each to the next', () => {
    expect(vttTime(3723.4567)).toBe('01:02:03.457');
    const e = eventsOf([{ audio: [[0, 4000], [10_000, 2000]], video: [[0, 4000], [10_000, 2000]] }]);
    expect(chaptersVtt(e)).toBe(
      ['WEBVTT', '', '1', '00:00:00.000 --> 00:00:04.000', 'audio joins, video joins', '', '2', '00:00:04.000 --> 00:00:10.000', 'audio leaves, video leaves', '',
        '3', '00:00:10.000 --> 00:00:12.000', 'audio joins, video joins', ''].join('\n'),
    );
  });
});
