// What a real player shows: merged outputs played in Chromium (Debian's package, driven by playwright-core),
// each instant's picture drawn to a canvas and measured. Players show the first frame during an MP4 empty
// edit, so a copied video that starts late must carry black frames before its first picture.
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mergeRecordings } from '../src/api.js';
import { writeRecording } from './support/recording-fixture.js';
import { T0, tempDir } from './support/sync.js';
import { launchChromium } from './support/chromium.js';

const PAGE = `<!doctype html><body style="margin:0"><video id="v" src="/v.mp4" muted playsinline></video>
<canvas id="c" width="160" height="90"></canvas></body>`;

/** Serves one MP4 (with byte ranges, as players ask) and the page, on loopback. */
function serve(file: Buffer): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    if (req.url === '/') {
      res.writeHead(200, { 'content-type': 'text/html' }).end(PAGE);
      return;
    }
    const range = /bytes=(\d+)-(\d*)/.exec(req.headers.range ?? '');
    const start = range ? Number(range[1]) : 0;
    const end = range?.[2] ? Number(range[2]) : file.length - 1;
    res.writeHead(range ? 206 : 200, {
      'content-type': 'video/mp4',
      'accept-ranges': 'bytes',
      'content-length': end - start + 1,
      ...(range ? { 'content-range': `bytes ${start}-${end}/${file.length}` } : {}),
    });
    res.end(file.subarray(start, end + 1));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

describe('a copied video that starts late, played in Chromium', () => {
  let browser: Browser;
  let server: http.Server;
  let videoPath: string | null;

  beforeAll(async () => {
    const root = await tempDir('player');
    // Audio from T0; video from T0 + 2 s (copy path: H.264 at one size).
    await writeRecording(root, {
      sid: '0a1b2c3d4e5f60718293a4b5c6d7e8f9',
      cname: 'player',
      users: [{ uid: '1', markers: [T0 + 3000], audio: [{ startMs: T0, durationMs: 5000 }], video: [{ startMs: T0 + 2000, durationMs: 3000, width: 160, height: 90, fps: 15 }] }],
    });
    const summary = await mergeRecordings({ source: root, outDir: `${root}-out` });
    const r = summary.results[0]!;
    expect(r.error).toBeNull();
    videoPath = r.videoPath;
    server = await serve(await readFile(r.file!));
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    server?.close();
  });

  it('shows black until the first picture, then the picture, then the marker frame at its instant', async () => {
    expect(videoPath).toBe('copy');
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    await page.waitForFunction('document.getElementById("v").readyState >= 1');
    // Seek, wait for the frame, draw it to a canvas and average its luma (the page has no DOM types here).
    const lumaAt = (t: number): Promise<number> =>
      page.evaluate(`(async () => {
        const v = document.getElementById('v');
        await new Promise((resolve) => { v.onseeked = resolve; v.currentTime = ${t}; });
        const g = document.getElementById('c').getContext('2d');
        g.drawImage(v, 0, 0, 160, 90);
        const d = g.getImageData(0, 0, 160, 90).data;
        let sum = 0;
        for (let i = 0; i < d.length; i += 4) sum += 0.299 * d[i] + 0.587 * d[i + 1] + 0.114 * d[i + 2];
        return sum / (d.length / 4);
      })()`);
    // Before 2 s: black (not the first frame frozen); after: the gray picture; at 3 s: the white marker.
    for (const t of [0.2, 1.0, 1.9]) expect(await lumaAt(t), `luma at ${t}s`).toBeLessThan(10);
    for (const t of [2.2, 2.8, 4.5]) expect(await lumaAt(t), `luma at ${t}s`).toBeGreaterThan(30);
    expect(await lumaAt(3.0)).toBeGreaterThan(200);
  });
});
