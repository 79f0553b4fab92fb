// A long re-encoded output in chunks (--chunk, issue 20.3): the joined file is timed exactly as a single
// encode (markers, frame count, A/V), decodes clean and plays across every join in Chromium.
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { chromium } from 'playwright-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { mergeRecordings } from '../src/api.js';
import type { OutputResult } from '../src/options.js';
import { probe } from './support/measure.js';
import { writeRecording } from './support/recording-fixture.js';
import { expectMarkers, outputSeconds, T0, tempDir } from './support/sync.js';

const run = promisify(execFile);
const FPS = 15;
const small = { width: 160, height: 90, fps: FPS };
// Video from 0.5 s to 9.5 s, absent, back from 11 s to 17 s, in 3 s slices.
// Markers on the first frame of a chunk (3.4 s, 13.6 s) and on the last one of another (6.733 s).
const markers = [T0 + 1500, T0 + 3400, T0 + 6733, T0 + 13600, T0 + 15930];

async function keyframeTimes(file: string): Promise<number[]> {
  const { stdout } = await run('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'packet=pts_time,flags', '-of', 'csv=p=0', file]);
  return stdout.trim().split('\n').filter((l) => l.includes('K')).map((l) => Number(l.split(',')[0]));
}

describe('--chunk', () => {
  let root: string;
  let single: OutputResult;
  let chunked: OutputResult;

  beforeAll(async () => {
    root = await tempDir('chunks');
    await writeRecording(root, {
      sid: 'abcdef0123456789abcdef0123456789',
      cname: 'long_class',
      users: [
        {
          uid: '5',
          markers,
          audio: [{ startMs: T0, durationMs: 17000, sliceMs: 3000 }],
          video: [
            { startMs: T0 + 500, durationMs: 9000, ...small, sliceMs: 3000 },
            { startMs: T0 + 11000, durationMs: 6000, ...small, sliceMs: 3000 },
          ],
        },
      ],
    });
    const [a, b] = await Promise.all([
      mergeRecordings({ source: root, outDir: `${root}-single`, transcode: true }),
      mergeRecordings({ source: root, outDir: `${root}-chunked`, transcode: true, chunk: 4 }),
    ]);
    [single, chunked] = [a.results[0]!, b.results[0]!];
    expect(single.error).toBeNull();
    expect(chunked.error).toBeNull();
  }, 300_000);

  it('is timed exactly as a single encode: markers (picture and sound together), frame count, length', async () => {
    expect(chunked.videoPath).toBe('transcode');
    await expectMarkers(single.file!, outputSeconds(markers, T0), FPS);
    await expectMarkers(chunked.file!, outputSeconds(markers, T0), FPS);
    const [s, c] = [await probe(single.file!), await probe(chunked.file!)];
    expect(c.video!.frames).toBe(s.video!.frames);
    expect(c.video!.frames).toBe(17 * FPS);
    expect(c.video!.startS).toBeCloseTo(s.video!.startS, 3);
    expect(c.durationS).toBeCloseTo(s.durationS, 2);
    expect(c.audio!.endS).toBeCloseTo(s.audio!.endS, 3);
  });

  it('was encoded in chunks (each starts on a keyframe) and decodes with no error line', async () => {
    const keys = await keyframeTimes(chunked.file!);
    // 255 frames in chunks of about 4 s: 5 chunks, each opening with a keyframe (x264 puts no other one within 4 s here).
    for (const t of [0, 51 / FPS, 102 / FPS, 153 / FPS, 204 / FPS]) expect(keys.some((k) => Math.abs(k - t) < 0.001), `keyframe at ${t}: ${keys}`).toBe(true);
    const { stderr } = await run('ffmpeg', ['-v', 'error', '-i', chunked.file!, '-f', 'null', '-']);
    expect(stderr).toBe('');
  });

  it('plays across every join in Chromium: seeks before each, plays through it, no error, no frame dropped as corrupt', async () => {
    const keys = (await keyframeTimes(chunked.file!)).filter((t) => t > 0);
    expect(keys.length).toBeGreaterThanOrEqual(4);
    const page = path.join(path.dirname(chunked.file!), 'play.html');
    await writeFile(page, `<!doctype html><video id="v" muted src="${path.basename(chunked.file!)}"></video>`);
    const browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--autoplay-policy=no-user-gesture-required'],
    });
    try {
      const tab = await browser.newPage();
      await tab.goto(`file://${page}`);
      type V = { readyState: number; currentTime: number; paused: boolean; error: { code: number } | null; play(): Promise<void>; pause(): void; addEventListener(e: string, f: () => void, o: object): void; getVideoPlaybackQuality(): { corruptedVideoFrames: number; totalVideoFrames: number } };
      for (const join of keys) {
        const result = await tab.evaluate(async (at) => {
          const v = (globalThis as unknown as { document: { getElementById(id: string): V } }).document.getElementById('v');
          v.pause();
          await new Promise<void>((ok) => {
            v.addEventListener('seeked', () => ok(), { once: true });
            v.currentTime = Math.max(0, at - 0.4);
          });
          await v.play();
          const until = Date.now() + 5000;
          while (v.currentTime < at + 0.4 && Date.now() < until && !v.error) await new Promise((ok) => setTimeout(ok, 20));
          v.pause();
          return { t: v.currentTime, error: v.error?.code ?? null, corrupted: v.getVideoPlaybackQuality().corruptedVideoFrames };
        }, join);
        expect(result.error, `join at ${join}`).toBeNull();
        expect(result.corrupted, `join at ${join}`).toBe(0);
        expect(result.t, `join at ${join}: played through`).toBeGreaterThan(join + 0.3);
      }
    } finally {
      await browser.close();
    }
  }, 120_000);
});
