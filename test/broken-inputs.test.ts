// Real buckets are messy. Every case: a clear message naming the file, and a correct result for
// everything that can be saved.
import { execFile, spawn } from 'node:child_process';
import { cp, mkdir, readdir, readFile, rename, rm, truncate, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { mergeRecordings, planRecordings } from '../src/api.js';
import type { MergeSummary } from '../src/options.js';
import { hostTag, PARTIAL_MARKER, WORK_PREFIX } from '../src/pipeline/leftovers.js';
import { probe } from './support/measure.js';
import { playlistName, utc17, writeRecording, type WrittenRecording } from './support/recording-fixture.js';
import { expectMarkers, outputSeconds, T0, tempDir } from './support/sync.js';

const SID = '5151aaaa5151aaaa5151aaaa5151aaaa';
const CNAME = 'broken_room';
const rec = { sid: SID, cname: CNAME };
// 12 s of audio and video in 2 s slices, a marker in every other slice.
const markers = [T0 + 1000, T0 + 5000, T0 + 9000];
const expected = outputSeconds(markers, T0);
const CLI = fileURLToPath(new URL('../src/cli.ts', import.meta.url));

let base: string;
let written: WrittenRecording;

beforeAll(async () => {
  base = await tempDir('broken-base');
  written = await writeRecording(base, {
    ...rec,
    users: [
      {
        uid: '1',
        markers,
        audio: [{ startMs: T0, durationMs: 12000, sliceMs: 2000 }],
        video: [{ startMs: T0, durationMs: 12000, sliceMs: 2000, width: 160, height: 90, fps: 15 }],
      },
      { uid: '2', audio: [{ startMs: T0, durationMs: 4000, sliceMs: 2000 }] },
    ],
  });
});

/** A private copy of the base recording to break. */
async function copyOfBase(label: string): Promise<string> {
  const dir = await tempDir(label);
  await cp(base, dir, { recursive: true });
  return dir;
}

/** The slice of uid 1 that covers [from, from + 2 s). */
const sliceAt = (media: 'audio' | 'video', fromMs: number) => {
  const s = written.slices.find((x) => x.uid === '1' && x.media === media && Math.abs(x.startMs - (T0 + fromMs)) < 100);
  if (!s) throw new Error(`no ${media} slice at ${fromMs}`);
  return s;
};

const uid1 = (summary: MergeSummary) => {
  const r = summary.results.find((x) => x.uid === '1')!;
  expect(r.error, JSON.stringify(r)).toBeNull();
  return r;
};

async function editPlaylist(root: string, media: 'audio' | 'video', edit: (lines: string[]) => string[]) {
  const file = path.join(root, playlistName(rec, '1', media));
  await writeFile(file, edit((await readFile(file, 'utf8')).split('\n')).join('\n'));
}

describe('slices', () => {
  it.each([
    ['missing', async (file: string) => rm(file), /listed in the playlist but not in storage/],
    ['truncated to a few bytes', async (file: string) => truncate(file, 100), /truncated to 100 bytes/],
    ['garbage', async (file: string) => writeFile(file, '<html>Access Denied</html>'.repeat(50)), /not an MPEG-TS file/],
    ['empty', async (file: string) => truncate(file, 0), /empty file/],
  ] as const)('a %s slice becomes a gap, named in a warning, and the rest stays in sync', async (_label, breakIt, message) => {
    const root = await copyOfBase('slice');
    const video = sliceAt('video', 2000);
    const audio = sliceAt('audio', 2000);
    await breakIt(path.join(root, video.key));
    await breakIt(path.join(root, audio.key));
    const s = await mergeRecordings({ source: root, outDir: `${root}-out` });
    const r = uid1(s);
    expect(r.warnings.some((w) => w.includes(video.key) && message.test(w)), JSON.stringify(r.warnings)).toBe(true);
    expect(r.warnings.some((w) => w.includes(audio.key))).toBe(true);
    await expectMarkers(r.file!, expected, 15);
    expect((await probe(r.file!)).durationS).toBeCloseTo(12, 0);
  });

  it('a video slice that holds no video stream becomes a gap with a warning; the UID still merges', async () => {
    const root = await copyOfBase('nostream');
    const video = sliceAt('video', 2000);
    // A well-formed TS file, but of the wrong kind: an audio slice under a video slice's name.
    await cp(path.join(root, sliceAt('audio', 2000).key), path.join(root, video.key));
    const r = uid1(await mergeRecordings({ source: root, outDir: `${root}-out` }));
    expect(r.warnings.some((w) => w.includes(video.key) && /holds no video stream/.test(w)), JSON.stringify(r.warnings)).toBe(true);
    await expectMarkers(r.file!, expected, 15);
  });

  it.each([false, true])('a #EXTINF far beyond the media (100 s, 1e6 s) costs nothing: both paths agree on the real length (transcode: %s)', async (transcode) => {
    const root = await copyOfBase(`extinf-${transcode}`);
    for (const media of ['audio', 'video'] as const) {
      await editPlaylist(root, media, (lines) => {
        const infs = lines.map((l, i) => (l.startsWith('#EXTINF') ? i : -1)).filter((i) => i >= 0);
        const out = [...lines];
        out[infs[2]!] = '#EXTINF:100.000';
        out[infs.at(-1)!] = '#EXTINF:1000000';
        return out;
      });
    }
    const r = uid1(await mergeRecordings({ source: root, outDir: `${root}-out`, transcode }));
    expect(r.warnings.filter((w) => /but #EXTINF says (100|1000000)\.000s; its measured length is used/.test(w))).toHaveLength(4);
    expect((await probe(r.file!)).durationS).toBeCloseTo(12, 1);
    await expectMarkers(r.file!, expected, 15);
    if (transcode) return;
    // The dry run over a local folder measures the slices too: it shows the output the merge writes.
    const planned = (await planRecordings({ source: root, outDir: `${root}-out` })).outputs.find((o) => o.uid === '1')!;
    expect(planned.durationMs / 1000).toBeCloseTo(12, 1);
    expect(planned.warnings.filter((w) => /but #EXTINF says (100|1000000)\.000s/.test(w))).toHaveLength(4);
    // Without measuring (what an S3 dry run does, not to download everything) the names and #EXTINF decide.
    const unmeasured = (await planRecordings({ source: root, outDir: `${root}-out`, measure: false })).outputs.find((o) => o.uid === '1')!;
    expect(unmeasured.durationMs).toBeGreaterThan(1_000_000);
  });

  it('a slice named a year later does not blow up memory: the user becomes two outputs, said in their warnings', async () => {
    const root = await copyOfBase('year');
    const YEAR = 365 * 24 * 3_600_000;
    for (const media of ['audio', 'video'] as const) {
      const last = sliceAt(media, 10_000);
      const moved = last.key.replace(utc17(last.startMs), utc17(last.startMs + YEAR));
      await rename(path.join(root, last.key), path.join(root, moved));
      await editPlaylist(root, media, (lines) => lines.map((l) => (l === last.key ? moved : l)));
    }
    const before = process.memoryUsage().rss;
    const s = await mergeRecordings({ source: root, outDir: `${root}-out` });
    expect(process.memoryUsage().rss - before).toBeLessThan(200 * 1024 * 1024);
    const mine = s.results.filter((r) => r.uid === '1');
    expect(mine.map((r) => r.error)).toEqual([null, null]);
    expect(mine.map((r) => Math.round(r.durationMs / 1000))).toEqual([10, 2]);
    for (const r of mine) expect(r.warnings.join('\n')).toMatch(/absent for more than 24 h .*written as 2 separate outputs named by their start/);
    await expectMarkers(mine[0]!.file!, expected, 15);
  });

  it('memory does not follow a slice\'s size: a 512 MiB (sparse) audio slice is read as a stream', async () => {
    const root = await copyOfBase('huge');
    const audio = sliceAt('audio', 4000);
    const file = path.join(root, audio.key);
    // The real slice, then a hole up to 512 MiB (zeros: junk to a TS reader), as a broken upload can leave.
    const real = (await readFile(file)).length;
    await truncate(file, 1 << 29);
    const before = process.memoryUsage().rss;
    let peak = before;
    const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
    try {
      const r = uid1(await mergeRecordings({ source: root, outDir: `${root}-out` }));
      expect(r.warnings).toContain(`${audio.key}: ${(1 << 29) - real} bytes are not MPEG-TS packets (junk, a broken upload) and were skipped`);
      await expectMarkers(r.file!, expected, 15);
    } finally {
      clearInterval(timer);
    }
    expect((peak - before) / 2 ** 20).toBeLessThan(300);
  });

  it('a slice whose inside is damaged (valid packets, broken payload) still merges and keeps sync', async () => {
    const root = await copyOfBase('damaged');
    const audio = sliceAt('audio', 2000);
    const file = path.join(root, audio.key);
    const bytes = await readFile(file);
    // Overwrite the middle of the payload, keeping the TS sync bytes.
    for (let i = 1000; i < bytes.length - 1000; i++) if (i % 188 !== 0) bytes[i] = (i * 7) & 0xff;
    await writeFile(file, bytes);
    const r = uid1(await mergeRecordings({ source: root, outDir: `${root}-out` }));
    await expectMarkers(r.file!, expected, 15);
  });
});

describe('playlists', () => {
  it('rebuilds a track whose playlist is missing from slice names and measured lengths', async () => {
    const root = await copyOfBase('noplaylist');
    await rm(path.join(root, playlistName(rec, '1', 'audio')));
    const r = uid1(await mergeRecordings({ source: root, outDir: `${root}-out` }));
    expect(r.warnings.join('\n')).toMatch(/6 audio slice\(s\) not in any playlist were placed by the UTC in their names/);
    await expectMarkers(r.file!, expected, 15);
  });

  it('completes a playlist cut off by a recorder crash (no #EXT-X-ENDLIST, last slices unlisted)', async () => {
    const root = await copyOfBase('noendlist');
    for (const media of ['audio', 'video'] as const) {
      // Keep the header and the first three slices only.
      await editPlaylist(root, media, (lines) => {
        const third = lines.map((l, i) => (l.startsWith('#EXTINF') ? i : -1)).filter((i) => i >= 0)[2]!;
        return lines.slice(0, third + 2);
      });
    }
    const r = uid1(await mergeRecordings({ source: root, outDir: `${root}-out` }));
    expect(r.warnings.join('\n')).toMatch(/no #EXT-X-ENDLIST/);
    expect(r.warnings.join('\n')).toMatch(/3 video slice\(s\) not in any playlist were placed/);
    await expectMarkers(r.file!, expected, 15);
    expect((await probe(r.file!)).durationS).toBeCloseTo(12, 0);
  });

  it('reports duplicate entries, UTC going backwards and a wrong #EXTINF, and places by UTC', async () => {
    const root = await copyOfBase('disorder');
    await editPlaylist(root, 'audio', (lines) => {
      const infs = lines.map((l, i) => (l.startsWith('#EXTINF') ? i : -1)).filter((i) => i >= 0);
      const [a, b] = [infs[1]!, infs[2]!];
      const out = [...lines];
      // Swap slices 2 and 3, list slice 3 twice, and claim slice 5 lasts 9 s.
      [out[a], out[a + 1], out[b], out[b + 1]] = [lines[b]!, lines[b + 1]!, lines[a]!, lines[a + 1]!];
      out.splice(b + 2, 0, lines[b]!, lines[b + 1]!);
      const fifth = out.map((l, i) => (l.startsWith('#EXTINF') ? i : -1)).filter((i) => i >= 0)[5]!;
      out[fifth] = '#EXTINF:9.000000';
      return out;
    });
    const r = uid1(await mergeRecordings({ source: root, outDir: `${root}-out` }));
    const text = r.warnings.join('\n');
    expect(text).toMatch(/listed twice/);
    expect(text).toMatch(/UTC goes backwards/);
    expect(text).toMatch(/holds 2\.\d+s of media but #EXTINF says 9\.000s; its measured length is used/);
    await expectMarkers(r.file!, expected, 15);
  });

  it.each([
    ['empty', ''],
    ['garbage', 'this is not a playlist\n\u0001\u0002'],
    ['not UTF-8', Buffer.from([0x23, 0x45, 0x58, 0x54, 0x4d, 0x33, 0x55, 0x38, 0x0a, 0xff, 0xfe, 0xfd, 0x0a])],
    ['huge', '#EXTM3U\n' + '#EXT-X-DISCONTINUITY\n'.repeat(900_000)],
  ])('an %s playlist fails its UID with a clear error; the others merge', async (_label, content) => {
    const root = await copyOfBase('badlist');
    await writeFile(path.join(root, playlistName(rec, '2', 'audio')), content);
    const s = await mergeRecordings({ source: root, outDir: `${root}-out` });
    expect(s.ok).toBe(false);
    uid1(s);
    const bad = s.results.find((x) => x.uid === '2')!;
    expect(bad.error).toMatch(new RegExp(`uid 2: audio playlist cannot be used: ${playlistName(rec, '2', 'audio').replace(/\./g, '\\.')}: `));
  });
});

describe('names', () => {
  it('handles quotes, spaces and unicode in folder names through every ffmpeg input', async () => {
    const parent = await tempDir('names');
    const root = path.join(parent, `it's a "class" – 教室 $(rm -rf x)`);
    await cp(base, root, { recursive: true });
    const out = path.join(parent, `out 'dir' ✓`);
    const s = await mergeRecordings({ source: root, outDir: out, gaps: 'black' });
    expect(s.ok).toBe(true);
    await expectMarkers(uid1(s).file!, expected, 15);
  });
});

describe('interruptions', () => {
  const run = (args: string[]) => spawn(process.execPath, ['--import', 'tsx', CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });

  it('SIGINT leaves no output under its final name; a rerun finishes the job and skips what is done', async () => {
    const out = `${base}-sigint`;
    const child = run(['merge', base, '-o', out, '--transcode', '--concurrency', '1']);
    let stderr = '';
    let sent = false;
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (!sent && /merge /.test(stderr)) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code).toBe(130);
    const left = await readdir(out).catch(() => []);
    expect(left.filter((f) => f.endsWith('.mp4') || f.endsWith('.m4a'))).toEqual([]);
    expect(left.filter((f) => f.includes(PARTIAL_MARKER))).toEqual([]);

    const again = await promisify(execFile)(process.execPath, ['--import', 'tsx', CLI, 'merge', base, '-o', out, '--json']);
    const summary = JSON.parse(again.stdout) as MergeSummary;
    expect(summary.ok).toBe(true);
    const third = JSON.parse((await promisify(execFile)(process.execPath, ['--import', 'tsx', CLI, 'merge', base, '-o', out, '--json'])).stdout) as MergeSummary;
    expect(third.results.every((r) => r.skipped)).toBe(true);
  });

  it('removes temporary files left by a killed run, but not those of a live one', async () => {
    const out = `${base}-stale`;
    await mkdir(out, { recursive: true });
    const dead = path.join(out, `${PARTIAL_MARKER}${hostTag()}-999999-deadbeef-x.mp4`);
    const live = path.join(out, `${PARTIAL_MARKER}${hostTag()}-${process.ppid}-cafebabe-y.mp4`);
    await writeFile(dead, 'half');
    await writeFile(live, 'half');
    const deadWork = path.join(os.tmpdir(), `${WORK_PREFIX}${hostTag()}-999999-abc123`);
    await mkdir(deadWork, { recursive: true });
    await mergeRecordings({ source: base, outDir: out, uids: ['2'] });
    const names = await readdir(out);
    expect(names).not.toContain(path.basename(dead));
    expect(names).toContain(path.basename(live));
    expect(await readdir(deadWork).then(() => 'still there', () => 'removed')).toBe('removed');
  });

  it('two runs on the same output folder at once both end with complete, valid files', async () => {
    const out = `${base}-twice`;
    const [a, b] = await Promise.all([mergeRecordings({ source: base, outDir: out, force: true }), mergeRecordings({ source: base, outDir: out, force: true })]);
    expect([...a.results, ...b.results].filter((r) => r.error !== null).map((r) => `${r.uid}: ${r.error}`)).toEqual([]);
    expect(a.ok && b.ok).toBe(true);
    await expectMarkers(uid1(a).file!, expected, 15);
    expect((await readdir(out)).filter((f) => f.includes(PARTIAL_MARKER))).toEqual([]);
  });
});

describe('disk full', () => {
  const tiny = path.join(process.env.TMPDIR ?? '/tmp', `recmerge-tiny-${process.pid}`);
  const canMount = async () => {
    await mkdir(tiny, { recursive: true });
    try {
      await promisify(execFile)('mount', ['-t', 'tmpfs', '-o', 'size=24k', 'tmpfs', tiny]);
      return true;
    } catch {
      return false;
    }
  };

  it('fails the output that does not fit with a clear error, removes its partial file, and keeps the others', async (ctx) => {
    if (!(await canMount())) ctx.skip();
    try {
      const s = await mergeRecordings({ source: base, outDir: tiny, concurrency: 1 });
      const failed = s.results.filter((r) => r.error !== null);
      const written = s.results.filter((r) => r.error === null);
      expect(failed.length, JSON.stringify(s.results)).toBeGreaterThan(0);
      expect(written.length, JSON.stringify(s.results)).toBeGreaterThan(0);
      for (const r of failed) expect(r.error).toMatch(/No space left on device|cannot be read back/);
      for (const r of written) expect((await probe(r.file!)).audio?.codec).toBe('aac');
      expect(s.ok).toBe(false);
      expect((await readdir(tiny)).filter((f) => f.includes(PARTIAL_MARKER))).toEqual([]);
    } finally {
      await promisify(execFile)('umount', [tiny]).catch(() => undefined);
    }
  });
});
