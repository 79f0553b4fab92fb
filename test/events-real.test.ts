// `<output>.events.json` and `<output>.chapters.vtt` of a recorder-shaped recording (jittered names, recorder
// #EXTINF, a stream that starts mid-GOP, a phone turned inside a slice, a slice missing from storage, a user
// away for 6 s, a late joiner), held against the fixture's truth; the chapters read by Chromium from a <track>.
import { readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { composeRecordings, mergeRecordings } from '../src/api.js';
import type { OutputEvents } from '../src/core/events.js';
import type { ComposeSummary, MergeSummary, OutputResult } from '../src/options.js';
import { writeRecording, type WrittenRecording, type WrittenSlice } from './support/recording-fixture.js';
import { T0, tempDir } from './support/sync.js';
import { launchChromium } from './support/chromium.js';

const FPS = 15;
const FRAME_MS = 1000 / FPS;

describe('events on the output clock, against the truth', () => {
  let w: WrittenRecording;
  let merged: MergeSummary;
  let composed: ComposeSummary;
  let lost: WrittenSlice;

  beforeAll(async () => {
    const root = await tempDir('events');
    w = await writeRecording(root, {
      sid: '7e7e7e7e7e7e7e7e7e7e7e7e7e7e7e7e',
      cname: 'events_real',
      jitterMs: 15,
      extinf: 'recorder',
      users: [
        {
          // Starts 5 frames into a GOP (an undecodable lead), turned a quarter inside a slice; one audio slice lost.
          uid: '1',
          audio: [{ startMs: T0, durationMs: 12_000, sliceMs: 3000 }],
          video: [{ startMs: T0, durationMs: 12_000, sliceMs: 3000, width: 96, height: 96, fps: FPS, startsMidGop: 5, rotations: [{ atMs: T0 + 5_000, rotation: 90 }] }],
        },
        {
          // Leaves at 4 s for 6 s and comes back.
          uid: '2',
          audio: [{ startMs: T0, durationMs: 4_000 }, { startMs: T0 + 10_000, durationMs: 2_000 }],
          video: [
            { startMs: T0, durationMs: 4_000, width: 160, height: 90, fps: FPS },
            { startMs: T0 + 10_000, durationMs: 2_000, width: 160, height: 90, fps: FPS },
          ],
        },
        {
          // Joins 3 s late.
          uid: '3',
          audio: [{ startMs: T0 + 3_000, durationMs: 9_000 }],
          video: [{ startMs: T0 + 3_000, durationMs: 9_000, width: 160, height: 90, fps: FPS }],
        },
      ],
    });
    lost = w.slices.find((s) => s.uid === '1' && s.media === 'audio' && s.nameStartMs > T0 + 5_000)!;
    await rm(lost.path);
    merged = await mergeRecordings({ source: root, outDir: `${root}-merge` });
    composed = await composeRecordings({ source: root, outDir: `${root}-compose`, size: { width: 320, height: 180 }, fps: FPS });
  });

  const result = (uid: string) => merged.results.find((r) => r.uid === uid)!;
  const slicesOf = (uid: string, media: 'audio' | 'video') => w.slices.filter((s) => s.uid === uid && s.media === media).sort((a, b) => a.nameStartMs - b.nameStartMs);
  /** The merged file's time 0: the first instant its slices' names give. */
  const originOf = (uid: string) => Math.min(...w.slices.filter((s) => s.uid === uid).map((s) => s.nameStartMs));
  const eventsAt = (events: OutputEvents, type: string, track: string, uid?: string) =>
    events.events.filter((e) => e.type === type && e.track === track && (uid === undefined || e.uid === uid)).map((e) => e.t);

  it('every merged output and composite has its events, in the result and beside it, the same', async () => {
    expect(merged.results.map((r) => r.error)).toEqual([null, null, null]);
    for (const r of [...merged.results, ...composed.results]) {
      expect(r.eventsFile, r.id).toBe(`${r.file}.events.json`);
      expect(r.chaptersFile, r.id).toBe(`${r.file}.chapters.vtt`);
      expect(JSON.parse(await readFile(r.eventsFile!, 'utf8')), r.id).toEqual(r.events);
      expect(await readFile(r.chaptersFile!, 'utf8'), r.id).toMatch(/^WEBVTT\n/);
    }
  });

  it('the user who was away: leave and join on both tracks within one frame of the truth, the gap between', () => {
    const r = result('2');
    const origin = originOf('2');
    for (const media of ['audio', 'video'] as const) {
      const [first, , , second] = [slicesOf('2', media)[0]!, null, null, slicesOf('2', media).find((s) => s.nameStartMs > T0 + 8_000)!];
      const beforeAway = slicesOf('2', media).filter((s) => s.nameStartMs < T0 + 8_000).at(-1)!;
      const leftS = (beforeAway.nameStartMs + beforeAway.durationMs - origin) / 1000;
      const backS = (second.nameStartMs - origin) / 1000;
      const leaves = eventsAt(r.events!, 'leave', media);
      const joins = eventsAt(r.events!, 'join', media);
      const report = `${media}: joins ${JSON.stringify(joins)} leaves ${JSON.stringify(leaves)}; truth left ${leftS}, back ${backS}`;
      expect(joins.length, report).toBe(2);
      expect(leaves.length, report).toBe(2);
      expect(Math.abs(joins[0]! - (first.nameStartMs - origin) / 1000) * 1000, report).toBeLessThanOrEqual(FRAME_MS);
      expect(Math.abs(leaves[0]! - leftS) * 1000, report).toBeLessThanOrEqual(FRAME_MS);
      expect(Math.abs(joins[1]! - backS) * 1000, report).toBeLessThanOrEqual(FRAME_MS);
      const gap = r.events!.events.find((e) => e.type === 'gap' && e.track === media)!;
      expect(gap, report).toMatchObject({ fill: media === 'video' ? 'freeze' : 'silence' });
      expect(Math.abs(gap.t - leftS) * 1000, report).toBeLessThanOrEqual(FRAME_MS);
    }
    expect(r.events!.sync.origin).toBe(new Date(origin).toISOString());
  });

  it('the undecodable lead with the ms lost, the turn at its instant, the missing slice where it was', () => {
    const r = result('1');
    const origin = originOf('1');
    const lead = r.events!.events.find((e) => e.type === 'lead')!;
    expect(lead.track).toBe('video');
    // 5 frames into a GOP of 15: the 10 frames before the next keyframe cannot be decoded.
    expect(Math.abs(lead.lostMs! - 10 * FRAME_MS)).toBeLessThanOrEqual(FRAME_MS);
    // The turn: its wall-clock instant on the clock of the slice's name.
    const turned = slicesOf('1', 'video').filter((s) => s.wallStartMs <= T0 + 5_000).at(-1)!;
    const turnS = (T0 + 5_000 + (turned.nameStartMs - turned.wallStartMs) - origin) / 1000;
    const rotation = r.events!.events.filter((e) => e.type === 'rotation');
    expect(rotation.length).toBe(1);
    expect(rotation[0]).toMatchObject({ rotation: 90, fromRotation: 0 });
    expect(Math.abs(rotation[0]!.t - turnS) * 1000).toBeLessThanOrEqual(FRAME_MS);
    const missing = r.events!.events.find((e) => e.type === 'missing')!;
    expect(missing).toMatchObject({ track: 'audio', key: lost.key });
    expect(Math.abs(missing.t - (lost.nameStartMs - origin) / 1000) * 1000).toBeLessThanOrEqual(1);
    // The lost slice is a gap, not a leave.
    expect(eventsAt(r.events!, 'leave', 'audio').length).toBe(1);
    expect(r.events!.sync.measured).toBe(true);
    // Copied AAC lands on the frame grid (21.3 ms at 48 kHz): at most half a frame off.
    expect(r.events!.sync.audioMs).toBeLessThanOrEqual(1024 / 48 / 2 + 0.001);
  });

  it('compose: each user on the composite clock; the late joiner joins at its instant', () => {
    const c = composed.results[0]!;
    const origin = Math.min(...w.slices.map((s) => s.nameStartMs));
    expect(c.events!.sync.origin).toBe(new Date(origin).toISOString());
    const late = slicesOf('3', 'video')[0]!;
    expect(Math.abs(eventsAt(c.events!, 'join', 'video', '3')[0]! - (late.nameStartMs - origin) / 1000) * 1000).toBeLessThanOrEqual(FRAME_MS);
    const away = slicesOf('2', 'video').filter((s) => s.nameStartMs < T0 + 8_000).at(-1)!;
    expect(Math.abs(eventsAt(c.events!, 'leave', 'video', '2')[0]! - (away.nameStartMs + away.durationMs - origin) / 1000) * 1000).toBeLessThanOrEqual(FRAME_MS);
    expect(new Set(c.events!.events.map((e) => e.uid))).toEqual(new Set(['1', '2', '3']));
  });

  describe('chapters in Chromium', () => {
    let browser: Browser;
    let server: http.Server;
    let r: OutputResult;

    beforeAll(async () => {
      r = result('2');
      const files: Record<string, [Buffer, string]> = {
        '/': [Buffer.from(`<!doctype html><body><video id="v" src="/v.mp4" muted preload="auto"><track id="t" kind="chapters" src="/v.vtt" default></video></body>`), 'text/html'],
        '/v.mp4': [await readFile(r.file!), 'video/mp4'],
        '/v.vtt': [await readFile(r.chaptersFile!), 'text/vtt'],
      };
      server = http.createServer((req, res) => {
        const found = files[req.url ?? ''];
        if (!found) return void res.writeHead(404).end();
        res.writeHead(200, { 'content-type': found[1], 'content-length': found[0].length }).end(found[0]);
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      browser = await launchChromium();
    });

    afterAll(async () => {
      await browser?.close();
      server?.close();
    });

    it('a <track kind="chapters"> beside the MP4 has one cue per join and leave, at their instants', async () => {
      const page = await browser.newPage();
      await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
      await page.waitForFunction('document.getElementById("v").readyState >= 1');
      const cues = (await page.evaluate(`(async () => {
        const t = document.getElementById('t');
        t.track.mode = 'hidden';
        if (t.readyState !== 2) await new Promise((resolve, reject) => { t.onload = resolve; t.onerror = reject; });
        return { duration: document.getElementById('v').duration, cues: [...t.track.cues].map((c) => ({ start: c.startTime, end: c.endTime, text: c.text })) };
      })()`)) as { duration: number; cues: { start: number; end: number; text: string }[] };
      // Audio and video of one arrival are a few ms apart (jittered names): one chapter, at the earlier.
      const marks = r.events!.events.filter((e) => (e.type === 'join' || e.type === 'leave') && e.t < r.events!.duration).map((e) => e.t);
      const starts: number[] = [];
      for (const t of marks) if (starts.length === 0 || t - starts.at(-1)! >= 0.25) starts.push(t);
      expect(cues.cues.map((c) => c.start)).toEqual(starts);
      // The last leave of the earlier track, a few ms before the end, is a chapter of its own when it is before the end.
      expect(cues.cues.map((c) => c.text).slice(0, 3)).toEqual(['audio joins, video joins', 'audio leaves, video leaves', 'audio joins, video joins']);
      // The chapters cover the video the player loaded.
      expect(Math.abs(cues.cues.at(-1)!.end - cues.duration)).toBeLessThan(0.1);
    });
  });
});
