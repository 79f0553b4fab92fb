// The composite plan and its ffmpeg graph (pure): sessions and joined sessions, held frames per --gaps,
// users left out, mix-audio, pieces per layout interval, an audio mix that never normalises.
import { describe, expect, it } from 'vitest';
import { chunkArgs, composeArgs, composeAudioGraph, composeVideoGraph, videoChunks, videoPieces } from '../src/compose/render.js';
import { planCompose } from '../src/core/compose-plan.js';
import type { Inventory, MediaFacts, Slice, Track, UidRecording } from '../src/core/types.js';

const T = Date.UTC(2024, 4, 6, 7, 8, 9, 0);
const slice = (key: string, startMs: number, durationMs: number, discontinuity = false): Slice => ({
  key, container: 'ts', startMs: T + startMs, durationMs, discontinuity, rotation: 0, codedSize: null, backup: false, present: true,
});
const track = (media: 'audio' | 'video', slices: Slice[]): Track => ({ media, playlistKey: `${media}.m3u8`, otherPlaylists: [], slices, events: [] });
const user = (uid: string, audio: Slice[], video: Slice[], failed: string | null = null): UidRecording => ({
  uid, audio: audio.length ? track('audio', audio) : null, video: video.length ? track('video', video) : null, problems: [], failed,
});
const facts = (inv: Inventory) => {
  const m = new Map<string, MediaFacts>();
  for (const s of inv.sessions.flatMap((x) => x.uids).flatMap((u) => [...(u.audio?.slices ?? []), ...(u.video?.slices ?? [])])) {
    m.set(s.key, s.key.includes('video')
      ? { video: { codec: 'h264', width: 160, height: 90, fps: 15 } }
      : { audio: { codec: 'aac', sampleRate: 48000, channels: 1, profile: 'LC' } });
  }
  return m;
};
const inventoryOf = (sessions: Inventory['sessions']): Inventory => ({ sessions, ignored: [], problems: [], unmeasured: [] });

describe('planCompose', () => {
  const twoSessions = inventoryOf([
    { sid: 'aaa', cname: 'room', dir: '', uids: [user('1', [slice('aaa-1-audio-0', 0, 4000)], [slice('aaa-1-video-0', 0, 4000)])] },
    { sid: 'bbb', cname: 'room', dir: '', uids: [user('1', [slice('bbb-1-audio-0', 10_000, 4000)], [slice('bbb-1-video-0', 10_000, 4000)])] },
  ]);

  it('one composite per session, or per channel with joined sessions', () => {
    const separate = planCompose(twoSessions, facts(twoSessions), {});
    expect(separate.outputs.map((o) => [o.fileName, o.durationMs])).toEqual([['aaa_room__composite.mp4', 4000], ['bbb_room__composite.mp4', 4000]]);
    const joined = planCompose(twoSessions, facts(twoSessions), { joinSessions: true });
    expect(joined.outputs).toHaveLength(1);
    const o = joined.outputs[0]!;
    expect(o).toMatchObject({ fileName: 'room__composite.mp4', sids: ['aaa', 'bbb'], durationMs: 14_000, users: [{ sid: 'aaa+bbb', uid: '1' }] });
    // The absence between the sessions takes the tile away.
    expect(o.layout!.intervals.map((i) => [i.startMs, i.endMs, i.tiles.length])).toEqual([[0, 4000, 1], [4000, 10_000, 0], [10_000, 14_000, 1]]);
    expect(o.audioRuns.map((r) => r.offsetMs)).toEqual([0, 10_000]);
  });

  it('holds the last frame through a short gap (freeze) or not (black), never past the presence', () => {
    const inv = inventoryOf([{ sid: 's', cname: 'c', dir: '', uids: [user('1', [], [slice('s-1-video-0', 0, 4000), slice('s-1-video-1', 4500, 3500, true)])] }]);
    const freeze = planCompose(inv, facts(inv), { fps: 10 }).outputs[0]!;
    expect(freeze.videoRuns.map((r) => [r.startFrame, r.endFrame])).toEqual([[0, 45], [45, 80]]);
    const black = planCompose(inv, facts(inv), { fps: 10, gaps: 'black' }).outputs[0]!;
    expect(black.videoRuns.map((r) => [r.startFrame, r.endFrame])).toEqual([[0, 40], [45, 80]]);
    // Either way the tile stays (a pause under 1 s).
    expect(black.layout!.intervals).toHaveLength(1);
  });

  it('leaves a user who cannot be read out, saying why, and makes the composite of the others', () => {
    const inv = inventoryOf([{ sid: 's', cname: 'c', dir: '', uids: [user('1', [slice('s-1-audio-0', 0, 2000)], []), user('2', [], [], 'x.m3u8: not a playlist')] }]);
    const { outputs, failures } = planCompose(inv, facts(inv), {});
    expect(failures).toEqual([]);
    expect(outputs[0]!.leftOut).toEqual(['2']);
    expect(outputs[0]!.warnings.join()).toMatch(/uid 2 is left out: .*x\.m3u8: not a playlist/);
  });

  it('--mode mix-audio: audio only, no layout', () => {
    const inv = inventoryOf([{ sid: 's', cname: 'c', dir: '', uids: [user('1', [slice('s-1-audio-0', 500, 2000)], [slice('s-1-video-0', 0, 3000)])] }]);
    const o = planCompose(inv, facts(inv), { mode: 'mix-audio' }).outputs[0]!;
    expect(o).toMatchObject({ kind: 'audio', fileName: 's_c__mix.m4a', layout: null, videoRuns: [], durationMs: 2000 });
  });
});

describe('compose graph', () => {
  const inv = inventoryOf([
    {
      sid: 's',
      cname: 'c',
      dir: '',
      uids: [
        user('1', [slice('s-1-audio-0', 0, 6000)], [slice('s-1-video-0', 0, 3000), slice('s-1-video-1', 3000, 3000)]),
        user('2', [slice('s-2-audio-0', 2000, 4000)], [slice('s-2-video-0', 2000, 4000)]),
      ],
    },
  ]);
  const out = planCompose(inv, facts(inv), { fps: 10 }).outputs[0]!;

  it('cuts each run into one piece per interval it is shown in, each reading only its slices', () => {
    expect(out.layout!.intervals.map((i) => [i.startFrame, i.endFrame])).toEqual([[0, 20], [20, 60]]);
    expect(videoPieces(out).map((p) => [p.run, p.interval, p.slices.map((s) => s.key), p.startMs, p.from, p.to, p.tile.w])).toEqual([
      [0, 0, ['s-1-video-0'], 0, 0, 20, 1280],
      [0, 1, ['s-1-video-0', 's-1-video-1'], 0, 20, 60, 640],
      [1, 1, ['s-2-video-0'], 2000, 20, 60, 640],
    ]);
  });

  it('moves each frame to its own output time before the frame grid (one rounding, to the nearest frame)', () => {
    const graph = composeVideoGraph(out, videoPieces(out), 0, null);
    // User 1 in interval 1 (from frame 20 = 2 s): its input starts at 0 s, 2 s before the interval.
    expect(graph).toContain('[1:v:0]setsar=1,setpts=PTS-2.000000/TB,fps=10:round=near,tpad=stop=62:stop_mode=clone,trim=start_pts=0:end_pts=40,');
    // User 2 joins at the interval's start.
    expect(graph).toContain('[2:v:0]setsar=1,setpts=PTS+0.000000/TB,fps=10:round=near,tpad=stop=42:stop_mode=clone,trim=start_pts=0:end_pts=40,');
  });

  it('mixes at unit gain (no normalisation), limits, delays late runs in small frames, and lasts exactly the output', () => {
    const graph = composeAudioGraph(out, 3);
    expect(graph).toContain('amix=inputs=2:normalize=0');
    expect(graph).toContain('alimiter=limit=0.891:level=0:latency=1');
    expect(graph).toContain('[4:a:0]');
    expect(graph).toContain('adelay=delays=96000S:all=1');
    expect(graph).toContain('pan=stereo|c0=c0|c1=c0');
    const { args, graph: whole } = composeArgs(out, { videoLists: ['v0', 'v1', 'v2'], audioLists: ['a0', 'a1'], labelFiles: null }, 'g.txt', 'out.mp4', { preset: 'veryfast' });
    expect(args).toContain('-filter_complex_script');
    expect(args.slice(args.indexOf('-t'), args.indexOf('-t') + 2)).toEqual(['-t', '6.000000']);
    expect(whole).toContain('concat=n=2:v=1:a=0[vout]');
    expect(whole.match(/overlay=/g)).toHaveLength(3);
  });

  it('groups intervals into chunks of at most N inputs; a chunk lasts exactly its frames', () => {
    const pieces = videoPieces(out);
    expect(videoChunks(out, pieces, 40)).toEqual([{ from: 0, to: 2 }]);
    expect(videoChunks(out, pieces, 2)).toEqual([{ from: 0, to: 1 }, { from: 1, to: 2 }]);
    expect(videoChunks(out, pieces, 1)).toEqual([{ from: 0, to: 1 }, { from: 1, to: 2 }]);
    const second = pieces.filter((p) => p.interval === 1);
    const { args, graph, durationMs } = chunkArgs(out, second, { from: 1, to: 2 }, ['v1', 'v2'], null, 'g.txt', 'chunk.mp4', { preset: 'veryfast' });
    expect(durationMs).toBe(4000);
    expect(args.slice(args.indexOf('-frames:v'), args.indexOf('-frames:v') + 2)).toEqual(['-frames:v', '40']);
    expect(graph).toContain('[0:v:0]');
    expect(graph).toContain('[1:v:0]');
    expect(graph).not.toContain('[2:v:0]');
    expect(graph.match(/color=c=black/g)).toHaveLength(1);
    const joined = composeArgs(out, { videoLists: [], audioLists: ['a0', 'a1'], labelFiles: null, videoChunks: 'chunks.ffconcat' }, 'g.txt', 'out.mp4', { preset: 'veryfast' });
    expect(joined.args.join(' ')).toContain('-i chunks.ffconcat -f concat -safe 0 -i a0');
    expect(joined.args.join(' ')).toContain('-c:v copy');
    expect(joined.graph).not.toContain('overlay');
  });
});
