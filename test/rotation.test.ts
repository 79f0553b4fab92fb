// Phones turned and held turned (issue 17.4, issue 20.1), on one recorder-shaped recording through merge,
// compose and snapshots, with the white square of the fixture picture in its upright top-left corner:
// - uid 1 turns three times: twice inside its first slice (both ROTATE tags before the second slice, as the
//   docs put them: the recorder does not cut on rotation) and once inside its last slice (the tag after it).
//   Every picture is upright from each turn's instant within one frame.
// - uids 2, 3, 4 hold the phone turned 90, 270 and 180 degrees the whole time: merge copies the stream and
//   writes the MP4 display matrix. ffprobe reads the matrix, ffmpeg's autorotate and Chromium (a <video>
//   element, screenshot) show the picture upright, markers stay where the copy path puts them.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { composeRecordings, mergeRecordings, snapshotRecordings } from '../src/api.js';
import { parseUtc17 } from '../src/core/names.js';
import { snapshotFileName } from '../src/core/output-names.js';
import type { ComposeSummary, MergeSummary, OutputResult, SnapshotSummary } from '../src/options.js';
import { cornerLuma, regionLumaTimeline, shownCorners, whiteFrameTimes, type Region } from './support/measure.js';
import { playlistName, writeRecording, type FixtureRecording, type WrittenRecording } from './support/recording-fixture.js';
import { T0, tempDir } from './support/sync.js';
import type { LayoutFile } from './support/tiles.js';

const SID = '7071a7e07071a7e07071a7e07071a7e0';
const CNAME = 'turned';
const FPS = 15;
const FRAME_MS = 1000 / FPS;
/** Slice names are jittered by up to this (the turn's TIME is the wall clock, the picture the name's). */
const JITTER_MS = 15;
const TURNS = [
  { atMs: T0 + 2_500, rotation: 90 as const },
  { atMs: T0 + 4_500, rotation: 180 as const },
  { atMs: T0 + 8_200, rotation: 270 as const },
];
const HELD = { '2': 90, '3': 270, '4': 180 } as const;
/** What ffprobe reads from the display matrix of a copy held at each rotation (anticlockwise degrees, -180..180). */
const MATRIX = { '2': -90, '3': 90, '4': 180 } as const;

const rec: FixtureRecording = {
  sid: SID,
  cname: CNAME,
  jitterMs: JITTER_MS,
  extinf: 'recorder',
  users: [
    {
      uid: '1',
      markers: [T0 + 1_500, T0 + 5_200, T0 + 10_500],
      audio: [{ startMs: T0, durationMs: 12_000, sliceMs: 6000 }],
      // Square, so that every orientation fills the picture and its corners can be read.
      video: [{ startMs: T0, durationMs: 12_000, sliceMs: 6000, width: 96, height: 96, fps: FPS, rotations: TURNS }],
    },
    {
      uid: '2',
      markers: [T0 + 1_000, T0 + 4_000, T0 + 6_500],
      audio: [{ startMs: T0, durationMs: 8_000, sliceMs: 3000 }],
      // Coded 96x160: a 160x96 picture turned a quarter anticlockwise.
      video: [{ startMs: T0, durationMs: 8_000, sliceMs: 3000, width: 96, height: 160, fps: FPS, rotation: 90 }],
    },
    {
      uid: '3',
      markers: [T0 + 3_000, T0 + 6_000],
      audio: [{ startMs: T0, durationMs: 8_000, sliceMs: 3000 }],
      // Starts late: the copy path's black lead comes first.
      video: [{ startMs: T0 + 1_500, durationMs: 6_000, sliceMs: 3000, width: 96, height: 160, fps: FPS, rotation: 270 }],
    },
    {
      uid: '4',
      markers: [T0 + 2_000, T0 + 5_000],
      audio: [{ startMs: T0, durationMs: 6_000, sliceMs: 3000 }],
      video: [{ startMs: T0, durationMs: 6_000, sliceMs: 3000, width: 160, height: 96, fps: FPS, rotation: 180 }],
    },
  ],
};

const run = promisify(execFile);
const originOf = (w: WrittenRecording, uid: string) => Math.min(...w.slices.filter((s) => s.uid === uid).map((s) => s.nameStartMs));
const bright = (c: Record<string, number>) => Object.entries(c).filter(([k, y]) => ['topLeft', 'topRight', 'bottomLeft', 'bottomRight'].includes(k) && y > 150).map(([k]) => k);

/** The four corner boxes (an eighth of each side, a pixel inside) of a picture at (x, y) of size w x h. */
const corners = (x: number, y: number, w: number, h: number): Region[] =>
  [[0, 0], [7 / 8, 0], [0, 7 / 8], [7 / 8, 7 / 8]].map(([fx, fy]) => ({ x: Math.round(x + fx! * w + 1), y: Math.round(y + fy! * h + 1), w: Math.max(2, Math.round(w / 8) - 2), h: Math.max(2, Math.round(h / 8) - 2) }));

/**
 * Every frame of uid 1's picture is upright (the square top-left only) but a flash (all white) and the
 * frames within one frame (and the names' jitter) of a turn's instant. Returns how many frames were held to it.
 */
function expectUprightThroughout(frames: { t: number; y: number[] }[], originMs: number, label: string): number {
  const turnsS = TURNS.map((t) => (t.atMs - originMs) / 1000);
  let checked = 0;
  for (const f of frames) {
    const [tl, tr, bl, br] = f.y;
    if ([tl, tr, bl, br].every((y) => y! > 150)) continue;
    if (turnsS.some((s) => Math.abs(f.t - s) * 1000 <= FRAME_MS + JITTER_MS)) continue;
    const where = `${label}: frame at ${f.t.toFixed(3)} s (turns at ${turnsS.map((s) => s.toFixed(3)).join(', ')} s): corners ${f.y.map(Math.round).join(', ')}`;
    expect(tl, where).toBeGreaterThan(150);
    expect(Math.max(tr!, bl!, br!), where).toBeLessThan(100);
    checked++;
  }
  return checked;
}

describe('a phone turned inside slices, and phones held turned', () => {
  let root: string;
  let w: WrittenRecording;
  let merged: MergeSummary;
  let composed: ComposeSummary;
  let shots: SnapshotSummary;
  const result = (uid: string): OutputResult => merged.results.find((r) => r.uid === uid)!;
  /** Snapshot instants: around each turn of uid 1 (a frame and a bit after, a frame before), and one per held user. */
  const turnShots = TURNS.flatMap((t) => [Math.round(t.atMs + FRAME_MS + JITTER_MS + 5), Math.round(t.atMs - FRAME_MS - JITTER_MS - 5)]);
  const heldShot = T0 + 3_500;

  beforeAll(async () => {
    root = await tempDir('rotation');
    w = await writeRecording(root, rec);
    merged = await mergeRecordings({ source: root, outDir: `${root}-merge`, concurrency: 2 });
    composed = await composeRecordings({ source: root, outDir: `${root}-compose`, size: { width: 640, height: 360 }, fps: FPS });
    shots = await snapshotRecordings({ source: root, outDir: `${root}-shots`, at: [...turnShots, heldShot] });
  });

  it('writes the ROTATE tags where the docs put them: before the first slice after each turn', async () => {
    const text = await readFile(path.join(root, playlistName(rec, '1', 'video')), 'utf8');
    const lines = text.split('\n');
    const tagAt = (t: (typeof TURNS)[number]) => lines.findIndex((l) => l.startsWith('#EXT-X-AGORA-ROTATE:') && l.includes(`ROTATE=${t.rotation},`));
    const sliceLines = lines.map((l, i) => (l.endsWith('.ts') ? i : -1)).filter((i) => i >= 0);
    expect(sliceLines).toHaveLength(2);
    // The first two turns lie in the first slice: their tags stand before the second; the third after the last.
    expect([tagAt(TURNS[0]!), tagAt(TURNS[1]!)].every((i) => i > sliceLines[0]! && i < sliceLines[1]!)).toBe(true);
    expect(tagAt(TURNS[2]!)).toBeGreaterThan(sliceLines[1]!);
    expect(merged.ok && composed.ok && shots.ok, JSON.stringify({ merged, composed, shots }, null, 1).slice(0, 3000)).toBe(true);
  });

  it('merge: every picture of the turning phone is upright from each turn on, within one frame; flashes in place', async () => {
    const r = result('1');
    expect(r.videoPath).toBe('transcode');
    const originMs = originOf(w, '1');
    const frames = await regionLumaTimeline(r.file!, corners(0, 0, 96, 96));
    expect(expectUprightThroughout(frames, originMs, 'merge')).toBeGreaterThan(150);
    const want = w.truth.filter((t) => t.uid === '1' && t.videoMs !== null).map((t) => (t.videoMs! - originMs) / 1000);
    const seen = await whiteFrameTimes(r.file!);
    expect(seen.length, JSON.stringify({ seen, want })).toBe(want.length);
    want.forEach((t, i) => expect(Math.abs(seen[i]! - t) * 1000).toBeLessThanOrEqual(FRAME_MS / 2 + 5));
  });

  it('compose: the turning phone is upright in its tile from each turn on, within one frame', async () => {
    const r = composed.results[0]!;
    const layout = JSON.parse(await readFile(r.layoutFile!, 'utf8')) as LayoutFile;
    // The tile moves as the others come and go: the corners of each of its places, read in one pass; each
    // frame is read in the place its interval gives. The square picture is fitted into the tile and centred.
    const places = [...new Map(layout.intervals.flatMap((iv) => iv.tiles.filter((t) => t.uid === '1')).map((t) => [`${t.x},${t.y},${t.w},${t.h}`, t])).values()];
    const regions = places.flatMap((tile) => {
      const side = Math.min(tile.w, tile.h);
      return corners(tile.x + (tile.w - side) / 2, tile.y + (tile.h - side) / 2, side, side);
    });
    const frames = (await regionLumaTimeline(r.file!, regions)).flatMap((f) => {
      const tile = layout.intervals.find((i) => i.startMs / 1000 <= f.t + 1e-6 && f.t + 1e-6 < i.endMs / 1000)?.tiles.find((x) => x.uid === '1');
      const k = tile ? places.findIndex((p) => p.x === tile.x && p.y === tile.y && p.w === tile.w && p.h === tile.h) : -1;
      return k < 0 ? [] : [{ t: f.t, y: f.y.slice(k * 4, k * 4 + 4) }];
    });
    expect(expectUprightThroughout(frames, parseUtc17(layout.originUtc)!, 'compose')).toBeGreaterThan(150);
  });

  it('snapshots: a frame after each turn and a frame before it, upright', async () => {
    for (const at of turnShots) {
      const file = path.join(`${root}-shots`, snapshotFileName(SID, CNAME, '1', at));
      expect(bright(await cornerLuma(file, 0)), `uid 1 at ${at - T0} ms`).toEqual(['topLeft']);
    }
  });

  it.each(Object.keys(HELD) as (keyof typeof HELD)[])('merge: a phone held turned (uid %s) is copied, its rotation in the display matrix', async (uid) => {
    const r = result(uid);
    expect(r.videoPath).toBe('copy');
    const file = r.file!;
    const { stdout } = await run('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'stream=width,height:stream_side_data=rotation', '-of', 'json', file]);
    const stream = (JSON.parse(stdout) as { streams: { width: number; height: number; side_data_list?: { rotation?: number }[] }[] }).streams[0]!;
    const coded = rec.users.find((u) => u.uid === uid)!.video![0]!;
    expect([stream.width, stream.height]).toEqual([coded.width, coded.height]);
    expect(Math.abs(stream.side_data_list?.find((d) => d.rotation !== undefined)?.rotation ?? 0)).toBe(Math.abs(MATRIX[uid]));
    // ffmpeg's autorotate shows it upright, 160x96, at the start of the picture and later.
    const originMs = originOf(w, uid);
    for (const at of [coded.startMs + 500, coded.startMs + coded.durationMs - 700]) {
      const shown = await shownCorners(file, (at - originMs) / 1000);
      expect({ size: [shown.width, shown.height], bright: bright(shown) }, `uid ${uid} at ${at - T0} ms`).toEqual({ size: [160, 96], bright: ['topLeft'] });
    }
    // Flashes where the source puts them (the copy path moves no frame), every frame decodes clean.
    const want = w.truth.filter((t) => t.uid === uid && t.videoMs !== null).map((t) => (t.videoMs! - originMs) / 1000);
    const seen = await whiteFrameTimes(file);
    expect(seen.length, JSON.stringify({ seen, want })).toBe(want.length);
    want.forEach((t, i) => expect(Math.abs(seen[i]! - t) * 1000, JSON.stringify({ seen, want })).toBeLessThanOrEqual(5));
    // uid 3 starts late: the copy path's join after its black lead writes a non-monotonic DTS, rotation or not
    // (issue 17.5, another part's work): its decode is checked once that lands.
    if (uid !== '3') {
      const decode = await run('ffmpeg', ['-v', 'error', '-i', file, '-f', 'null', '-']);
      expect(decode.stderr).toBe('');
    }
  });

  it('snapshots and compose show the phones held turned upright', async () => {
    for (const uid of Object.keys(HELD)) {
      const file = path.join(`${root}-shots`, snapshotFileName(SID, CNAME, uid, heldShot));
      expect(bright(await cornerLuma(file, 0)), `snapshot of uid ${uid}`).toEqual(['topLeft']);
    }
    const r = composed.results[0]!;
    const layout = JSON.parse(await readFile(r.layoutFile!, 'utf8')) as LayoutFile;
    const t = (heldShot - parseUtc17(layout.originUtc)!) / 1000;
    const iv = layout.intervals.find((i) => i.startMs <= t * 1000 && t * 1000 < i.endMs)!;
    const regions = Object.keys(HELD).flatMap((uid) => {
      const tile = iv.tiles.find((x) => x.uid === uid)!;
      // The 160x96 upright picture fitted into the tile and centred.
      const scale = Math.min(tile.w / 160, tile.h / 96);
      return corners(tile.x + (tile.w - 160 * scale) / 2, tile.y + (tile.h - 96 * scale) / 2, 160 * scale, 96 * scale);
    });
    const shown = (await regionLumaTimeline(r.file!, regions)).filter((f) => f.t <= t + 1e-6).at(-1)!;
    Object.keys(HELD).forEach((uid, k) => {
      const [tl, tr, bl, br] = shown.y.slice(k * 4, k * 4 + 4);
      expect({ uid, bright: [tl, tr, bl, br].map((y) => y! > 150) }).toEqual({ uid, bright: [true, false, false, false] });
    });
  });

  describe('in Chromium', () => {
    let browser: Browser;
    beforeAll(async () => {
      browser = await chromium.launch({
        executablePath: '/usr/bin/chromium',
        args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      });
    });
    afterAll(async () => {
      await browser?.close();
    });

    it.each(Object.keys(HELD))('a <video> plays the copy of uid %s upright (screenshot)', async (uid) => {
      const file = result(uid).file!;
      const page = await browser.newPage({ viewport: { width: 400, height: 300 } });
      try {
        // The page stands beside the file, so that Chromium may load it (file:// pages reach their folder).
        const html = `${file}.html`;
        await import('node:fs/promises').then((fs) => fs.writeFile(html, `<!doctype html><body style="margin:0;background:#f0f"><video id="v" muted src="${encodeURI(path.basename(file))}"></video></body>`));
        await page.goto(`file://${html}`);
        const at = (HELD[uid as keyof typeof HELD] === 270 ? 3_500 : 2_500) / 1000;
        const size = await page.evaluate(async (t) => {
          interface Video { readyState: number; currentTime: number; videoWidth: number; videoHeight: number; error: { code: number; message: string } | null; onloadeddata: unknown; onerror: unknown; onseeked: unknown }
          const v = (globalThis as unknown as { document: { getElementById(id: string): Video } }).document.getElementById('v');
          if (v.readyState < 2) await new Promise((ok, fail) => ((v.onloadeddata = ok), (v.onerror = () => fail(new Error(`video error ${v.error?.code}: ${v.error?.message}`)))));
          v.currentTime = t;
          await new Promise((ok) => (v.onseeked = ok));
          return { w: v.videoWidth, h: v.videoHeight };
        }, at);
        expect(size).toEqual({ w: 160, h: 96 });
        const png = path.join(path.dirname(file), `shown-${uid}.png`);
        // The seeked frame may be painted a little after 'seeked' on a busy machine: until a corner is bright
        // (a frame is shown), look again; which corner it is is the test.
        let shown = { width: 0, height: 0 } as Awaited<ReturnType<typeof shownCorners>>;
        for (let tries = 0; tries < 15; tries++) {
          await page.locator('#v').screenshot({ path: png });
          shown = await shownCorners(png);
          if (bright(shown).length > 0) break;
          await new Promise((ok) => setTimeout(ok, 200));
        }
        if (process.env.RECMERGE_KEEP_SCREENSHOT) await import('node:fs/promises').then((fs) => fs.copyFile(png, `${process.env.RECMERGE_KEEP_SCREENSHOT}-${uid}.png`));
        expect({ size: [shown.width, shown.height], bright: bright(shown) }).toEqual({ size: [160, 96], bright: ['topLeft'] });
      } finally {
        await page.close();
      }
    });
  });
});
