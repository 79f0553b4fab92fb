// The composite of a recording shaped like a real one (jittered names, recorder #EXTINF, H.264 High with
// B-frames force-cut mid-GOP, a track that starts without an I-frame, a slice whose #EXTINF claims 100 s):
// every marker measured inside its user's tile and in the mix against the instant its source frame or
// sample really carries (the truth of the fixture), and a timeline as long as the media, not the claims.
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { composeRecordings } from '../src/api.js';
import type { ComposeSummary } from '../src/options.js';
import { beepTimes, probe, regionLumaTimeline, type Region } from './support/measure.js';
import { onsets, tileLuma, type LayoutFile } from './support/tiles.js';
import { playlistName, writeRecording, type WrittenRecording } from './support/recording-fixture.js';
import { T0, tempDir } from './support/sync.js';
import { expectOutputsDecodeClean } from './support/decode-clean.js';

const SID = '5ea1c0de5ea1c0de5ea1c0de5ea1c0de';
const CNAME = 'real_panel';
/** The composite's rate: the fastest source's, so that a one-frame flash cannot fall between output frames. */
const FPS = 30;
/** Half an output frame, plus 5 ms for rounding. */
const VIDEO_MS = 500 / FPS + 5;
const AUDIO_MS = 500 / FPS + 5;

describe('compose: a recording shaped like a real one', () => {
  let w: WrittenRecording;
  let summary: ComposeSummary;
  let layout: LayoutFile;
  const originMs = () => Math.min(...w.slices.map((s) => s.nameStartMs));

  beforeAll(async () => {
    const root = await tempDir('compose-real');
    w = await writeRecording(root, {
      sid: SID,
      cname: CNAME,
      jitterMs: 15,
      extinf: 'recorder',
      users: [
        {
          uid: '1',
          // Cut mid-GOP at 8.86 s, shortly before the layout changes (user 2 leaves at 9 s): the piece after
          // the change starts inside that slice, before its first keyframe (10.06 s).
          markers: [T0 + 2_000, T0 + 5_100, T0 + 8_700, T0 + 9_500, T0 + 11_300],
          audio: [{ startMs: T0, durationMs: 12_000, sliceMs: 3000 }],
          video: [{ startMs: T0 + 60, durationMs: 12_000, sliceMs: 3000, width: 160, height: 90, fps: 30, profile: 'high', bframes: 2, gopFrames: 60, forceCutsMs: [4_500, 7_700, 8_800] }],
        },
        {
          // A phone turned upside down in the middle of a slice (ROTATE with a TIME inside it).
          uid: '3',
          audio: [{ startMs: T0 + 500, durationMs: 11_000, sliceMs: 6000 }],
          video: [{ startMs: T0 + 500, durationMs: 11_000, sliceMs: 6000, width: 160, height: 96, fps: 15, rotations: [{ atMs: T0 + 4_000, rotation: 180 }] }],
        },
        {
          // A web sender: VP8 in WebM, resized by WebRTC inside a slice.
          uid: '4',
          markers: [T0 + 5_400, T0 + 8_200],
          audio: [{ startMs: T0 + 4_000, durationMs: 6_000, sliceMs: 3000 }],
          video: [{ startMs: T0 + 4_000, durationMs: 6_000, sliceMs: 3000, width: 160, height: 120, fps: FPS, codec: 'vp8', resizes: [{ atMs: T0 + 6_500, width: 96, height: 72 }] }],
        },
        {
          uid: '2',
          markers: [T0 + 4_200, T0 + 7_300],
          audio: [{ startMs: T0 + 3_000, durationMs: 6_000, sliceMs: 3000 }],
          video: [{ startMs: T0 + 3_000, durationMs: 6_000, sliceMs: 3000, width: 160, height: 90, fps: 15, startsMidGop: 10 }],
        },
      ],
    });
    // User 2's last video slice claims 100 s: it holds about 3 s.
    const list = path.join(root, playlistName({ sid: SID, cname: CNAME }, '2', 'video'));
    const lines = (await readFile(list, 'utf8')).split('\n');
    const last = lines.findLastIndex((l) => l.startsWith('#EXTINF'));
    lines[last] = '#EXTINF:100.000';
    await writeFile(list, lines.join('\n'));
    summary = await composeRecordings({ source: root, outDir: `${root}-out`, size: { width: 640, height: 360 }, fps: FPS });
    await expectOutputsDecodeClean(summary);
    layout = JSON.parse(await readFile(summary.results[0]!.layoutFile!, 'utf8')) as LayoutFile;
  });

  /**
   * Where a slice's media ends on the wall clock by the truth's definition: its name's UTC plus the end of
   * its media counted from its start_time (after a mid-GOP cut with B-frames some frames are presented
   * before the start_time, so the fixture's length, counted from the earliest frame, would overshoot).
   */
  const mediaEnd = async (s: WrittenRecording['slices'][number]) => {
    if (s.media === 'audio') return s.nameStartMs + s.durationMs;
    const v = (await probe(s.path)).video!;
    return s.nameStartMs + (v.endS - v.startS) * 1000;
  };

  it('lasts as long as the media, not as the #EXTINF claims, and says what it found', async () => {
    const r = summary.results[0]!;
    expect(r.error).toBeNull();
    const endMs = Math.max(...(await Promise.all(w.slices.map(mediaEnd)))) - originMs();
    const info = await probe(r.file!);
    expect(Math.abs(info.durationS * 1000 - endMs), `${info.durationS} s vs ${endMs} ms`).toBeLessThanOrEqual(1000 / FPS + 5);
    // User 2's camera leaves the layout when its media ends (about 9 s), not 100 s after its last slice starts.
    const last2 = layout.intervals.filter((i) => i.tiles.some((t) => t.uid === '2')).at(-1)!;
    const end2 = Math.max(...(await Promise.all(w.slices.filter((s) => s.uid === '2' && s.media === 'video').map(mediaEnd)))) - originMs();
    expect(Math.abs(last2.endMs - end2), `user 2 shown until ${last2.endMs} ms, media until ${end2} ms`).toBeLessThanOrEqual(1000 / FPS + 20);
    expect(r.warnings.join('\n')).toMatch(/#EXTINF/);
    expect(r.warnings.join('\n')).toMatch(/cannot be decoded/);
  });

  it("shows each flash inside its user's tile at the instant its source frame carries", async () => {
    const luma = await tileLuma(summary.results[0]!.file!, layout);
    for (const uid of ['1', '2', '4']) {
      const seen = onsets(luma.get(uid) ?? []);
      const want = w.truth.filter((t) => t.uid === uid && t.videoMs !== null).map((t) => (t.videoMs! - originMs()) / 1000);
      const report = `uid ${uid}: flashes at ${JSON.stringify(seen)}, source instants ${JSON.stringify(want)}`;
      expect(seen, report).toHaveLength(want.length);
      want.forEach((t, i) => expect(Math.abs(seen[i]! - t) * 1000, report).toBeLessThanOrEqual(VIDEO_MS));
    }
  });

  it("keeps a turned phone's picture upright in its tile, before and after the turn", async () => {
    const turnS = (T0 + 4_000 - originMs()) / 1000;
    const times = [1.5, turnS - 0.5, turnS + 0.3, 8, 10.5];
    const regions: Region[] = [];
    for (const t of times) {
      const iv = layout.intervals.find((i) => i.startMs <= t * 1000 && t * 1000 < i.endMs)!;
      const tile = iv.tiles.find((x) => x.uid === '3')!;
      // The 160x96 picture fitted into the tile and centred; the white square is in its upright top-left corner.
      const scale = Math.min(tile.w / 160, tile.h / 96);
      const [w, h] = [160 * scale, 96 * scale];
      const [x, y] = [tile.x + (tile.w - w) / 2, tile.y + (tile.h - h) / 2];
      const box = (fx: number, fy: number): Region => ({ x: Math.round(x + fx * w + 2), y: Math.round(y + fy * h + 2), w: Math.round(w / 8) - 4, h: Math.round(h / 8) - 4 });
      regions.push(box(0, 0), box(7 / 8, 0), box(0, 7 / 8));
    }
    const timeline = await regionLumaTimeline(summary.results[0]!.file!, regions);
    times.forEach((t, k) => {
      const shown = timeline.filter((f) => f.t <= t + 1e-6).at(-1)!;
      const [topLeft, topRight, bottomLeft] = shown.y.slice(k * 3, k * 3 + 3);
      expect(topLeft, `top-left at ${t}s`).toBeGreaterThan(150);
      expect(topRight, `top-right at ${t}s`).toBeLessThan(80);
      expect(bottomLeft, `bottom-left at ${t}s`).toBeLessThan(80);
    });
  });

  it('mixes every beep at the instant its source sample carries', async () => {
    const want = w.truth.filter((t) => t.audioMs !== null).map((t) => (t.audioMs! - originMs()) / 1000).sort((a, b) => a - b);
    const beeps = await beepTimes(summary.results[0]!.file!);
    const report = JSON.stringify({ beeps, want });
    expect(beeps, report).toHaveLength(want.length);
    want.forEach((t, i) => expect(Math.abs(beeps[i]! - t) * 1000, report).toBeLessThanOrEqual(AUDIO_MS));
  });
});
