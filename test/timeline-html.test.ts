// `recmerge inspect --html`: the timeline page opened in Chromium (Debian's package, driven by
// playwright-core), checked for what a person sees: one row per UID, bars where media is, gaps, restarts,
// size and rotation changes, the missing slice and its problem pinned where they happen; no network.
import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recmerge } from './support/cli.js';
import { writeRecording } from './support/recording-fixture.js';
import { T0, tempDir } from './support/sync.js';
import { launchChromium } from './support/chromium.js';

const SID = 'feedbeef0123456789abcdef01234567';

describe('inspect --html timeline in Chromium', () => {
  let browser: Browser;
  let page: Page;
  let html: string;
  let missingAt: number;
  const requests: string[] = [];

  beforeAll(async () => {
    const root = await tempDir('timeline');
    const written = await writeRecording(root, {
      sid: SID,
      cname: 'class_7',
      users: [
        {
          // Present 0-6 s, away 6-10 s, back 10-14 s on another device (another size), turned 90° at 14 s.
          uid: '1001',
          audio: [{ startMs: T0, durationMs: 6000, sliceMs: 2000 }, { startMs: T0 + 10_000, durationMs: 8000, sliceMs: 2000 }],
          video: [
            { startMs: T0, durationMs: 6000, width: 160, height: 90, fps: 15, sliceMs: 2000 },
            { startMs: T0 + 10_000, durationMs: 4000, width: 128, height: 72, fps: 15, sliceMs: 2000 },
            { startMs: T0 + 14_000, durationMs: 4000, width: 128, height: 72, fps: 15, sliceMs: 2000, rotation: 90 },
          ],
        },
        { uid: '2002', audio: [{ startMs: T0 + 2000, durationMs: 16_000, sliceMs: 4000 }] },
      ],
    });
    const lost = written.slices.find((s) => s.uid === '2002' && s.startMs >= T0 + 9000)!;
    missingAt = lost.startMs;
    await rm(lost.path);
    html = path.join(root + '-report', 'timeline.html');
    await import('node:fs/promises').then((fs) => fs.mkdir(path.dirname(html), { recursive: true }));
    const run = await recmerge(['inspect', root, '--html', html]);
    expect(run.code).toBe(0);
    expect(run.stderr).toContain(`timeline: ${html}`);

    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1100, height: 700 } });
    page.on('request', (r) => requests.push(r.url()));
    await page.goto(`file://${html}`);
  });

  afterAll(async () => {
    await browser?.close();
  });

  /** Where an element's left edge (or a marker's centre) is, as a fraction of its track's width. */
  const position = (selector: string) =>
    page.$$eval(selector, (els) =>
      els.map((el) => {
        const track = el.closest('.track')!.getBoundingClientRect();
        const box = el.getBoundingClientRect();
        // A marker's instant is its `left` (a nudge sideways, when markers share an instant, is not).
        const x = el.classList.contains('marker') ? track.left + (parseFloat((el as unknown as { style: { left: string } }).style.left) / 100) * track.width : box.left;
        return { x: (x - track.left) / track.width, w: box.width / track.width, title: el.getAttribute('title') ?? '', text: el.textContent ?? '' };
      }),
    );

  it('is self-contained: nothing but the file itself is loaded', () => {
    expect(requests).toEqual([`file://${html}`]);
  });

  it('has one row per UID of the session, each with an audio and a video lane', async () => {
    expect(await page.textContent('h2.session')).toContain(`session ${SID} · cname class_7`);
    expect(await page.$$eval('section.uid', (els) => els.map((e) => e.getAttribute('data-uid')))).toEqual(['1001', '2002']);
    expect(await page.$$eval('section.uid[data-uid="1001"] .lane', (els) => els.map((e) => e.getAttribute('data-media')))).toEqual(['audio', 'video']);
    expect(await page.textContent('section.uid[data-uid="2002"] .lane[data-media="video"]')).toContain('no video track');
  });

  it('draws presence as bars on the wall clock, with the absence as a labelled gap', async () => {
    // The page spans T0 .. T0+18 s.
    const bars = await position('section.uid[data-uid="1001"] .lane[data-media="audio"] .bar');
    expect(bars).toHaveLength(2);
    expect(bars[0]!.x).toBeCloseTo(0, 2);
    expect(bars[0]!.w).toBeCloseTo(6 / 18, 1);
    expect(bars[1]!.x).toBeCloseTo(10 / 18, 1);
    const gaps = await position('section.uid[data-uid="1001"] .lane[data-media="audio"] .gap');
    expect(gaps).toHaveLength(1);
    expect(gaps[0]!.text).toMatch(/^4\.\d s$/);
    expect(await page.isVisible('section.uid[data-uid="1001"] .bar.video')).toBe(true);
  });

  it('marks the restart, the size change and the rotation where they happen', async () => {
    const video = 'section.uid[data-uid="1001"] .lane[data-media="video"]';
    const restart = await position(`${video} .marker.restart`);
    expect(restart.some((m) => Math.abs(m.x - 10 / 18) < 0.02)).toBe(true);
    // Markers of one instant stand side by side, each visible.
    const boxes = await page.$$eval(`${video} .marker`, (els) => els.map((e) => e.getBoundingClientRect()).map((b) => ({ l: b.left, r: b.right })));
    for (const [i, a] of boxes.entries()) for (const b of boxes.slice(i + 1)) expect(a.r <= b.l + 1 || b.r <= a.l + 1).toBe(true);
    const size = await position(`${video} .marker.size`);
    expect(size).toHaveLength(1);
    expect(size[0]!.title).toMatch(/size 160x90 → 128x72/);
    expect(size[0]!.x).toBeCloseTo(10 / 18, 1);
    const rotation = await position(`${video} .marker.rotation`);
    expect(rotation).toHaveLength(1);
    expect(rotation[0]!.title).toMatch(/rotation 0° → 90°/);
    expect(rotation[0]!.x).toBeCloseTo(14 / 18, 1);
    expect(await page.textContent('section.uid[data-uid="1001"] .uid-head')).toMatch(/video: 7 slices, 160x90 → 128x72, rotated 0° → 90°/);
  });

  it('pins the missing slice and its problem at the instant it was recorded', async () => {
    const lane = 'section.uid[data-uid="2002"] .lane[data-media="audio"]';
    const at = (missingAt - T0) / 18_000;
    const missing = await position(`${lane} .missing`);
    expect(missing).toHaveLength(1);
    expect(missing[0]!.x).toBeCloseTo(at, 2);
    const problems = await position(`${lane} .marker.problem`);
    expect(problems.length).toBeGreaterThanOrEqual(1);
    expect(problems.some((p) => Math.abs(p.x - at) < 0.01 && /not in storage/.test(p.title))).toBe(true);
    expect(await page.textContent('section.uid[data-uid="2002"] ul.problems')).toMatch(/\d\d:\d\d:\d\d .*__uid_s_2002__uid_e_audio_\d{17}\.ts/);
  });

  it('reads well (screenshot kept for a look)', async () => {
    const shot = path.join(path.dirname(html), 'timeline.png');
    await page.screenshot({ path: shot, fullPage: true });
    if (process.env.RECMERGE_KEEP_SCREENSHOT) await import('node:fs/promises').then((fs) => fs.copyFile(shot, process.env.RECMERGE_KEEP_SCREENSHOT!));
    // Every UID row is visible without scrolling sideways, labels included.
    const width = await page.evaluate(() => (globalThis as unknown as { document: { documentElement: { scrollWidth: number } } }).document.documentElement.scrollWidth);
    expect(width).toBeLessThanOrEqual(1100);
  });
});
