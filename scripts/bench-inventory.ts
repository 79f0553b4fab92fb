// Benchmark (not a test): the pure core on huge recordings, in one run, so that its cost stays linear.
//   npm run bench:inventory
//   BENCH_SLICES=30000 BENCH_UIDS=2000 npm run bench:inventory     (quick)
// 1. One UID with an audio and a video track of BENCH_SLICES slices each (default 100,000; target < 3 s per track): classify names, parse the playlist,
//    build the inventory, keys to probe, plan. Also with 10k/20k/30k slices, to show the growth is linear.
// 2. BENCH_UIDS UIDs (default 10,000) of 4 audio + 4 video slices each: the same steps.
// 3. `recmerge merge --dry-run` over a folder of BENCH_UIDS UIDs (target < 30 s): playlists only; slice
//    names only; and real slices (small H.264 and AAC TS files, hard-linked under every name), where the
//    first slice of every run is read for the plan's facts and every slice is measured (a local folder).
// 4. 100,000 identical problems become one counted problem.
// Also: the longest event-loop stall while the inventory of step 1 is built inside a worker-like loop.
import { execFile, execFileSync } from 'node:child_process';
import { copyFile, link, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { buildInventory, classifyKeys } from '../src/core/inventory.js';
import { formatUtc17 } from '../src/core/names.js';
import { keysToProbe, planMerge } from '../src/core/plan.js';
import { summarizeInventory } from '../src/core/summary.js';
import { resolveTool } from '../src/ffmpeg/runner.js';
import type { MediaFacts } from '../src/core/types.js';

const SLICES = Number(process.env.BENCH_SLICES ?? 100_000);
const UIDS = Number(process.env.BENCH_UIDS ?? 10_000);
const T0 = Date.UTC(2026, 0, 1, 0, 0, 0);
/** Length of the real slices written for the dry run (kept small: 80,000 files). */
const REAL_SLICE_MS = 400;
const SID = 'a'.repeat(32);

interface Generated {
  keys: string[];
  texts: Map<string, string>;
}

/** A track of `n` slices (15 s by default) named with +-15 ms jitter, listed in a service-style playlist. */
function track(uid: string, media: 'audio' | 'video', n: number, keys: string[], texts: Map<string, string>, present = true, sliceMs = 15_000): void {
  const base = `${SID}_room__uid_s_${uid}__uid_e_${media}`;
  const lines = ['#EXTM3U', '#EXT-X-VERSION:3', '#EXT-X-MEDIA-SEQUENCE:0', '#EXT-X-TARGETDURATION:16', '#EXT-X-DISCONTINUITY'];
  for (let i = 0; i < n; i++) {
    const name = `${base}_${formatUtc17(T0 + i * sliceMs + ((i * 7) % 31) - 15)}.ts`;
    if (present) keys.push(name);
    lines.push(`#EXTINF:${(sliceMs / 1000).toFixed(6)}`, name);
  }
  lines.push('#EXT-X-ENDLIST', '');
  keys.push(`${base}.m3u8`);
  texts.set(`${base}.m3u8`, lines.join('\n'));
}

/** One UID with `n` audio and `n` video slices. */
function oneTrack(n: number): Generated {
  const keys: string[] = [];
  const texts = new Map<string, string>();
  track('1', 'audio', n, keys, texts);
  track('1', 'video', n, keys, texts);
  return { keys, texts };
}

function manyUids(n: number, present = true, sliceMs = 15_000): Generated {
  const keys: string[] = [];
  const texts = new Map<string, string>();
  for (let u = 0; u < n; u++) {
    track(String(1000 + u), 'audio', 4, keys, texts, present, sliceMs);
    track(String(1000 + u), 'video', 4, keys, texts, present, sliceMs);
  }
  return { keys, texts };
}

const facts: MediaFacts = {
  video: { codec: 'h264', width: 640, height: 360, fps: 15 },
  audio: { codec: 'aac', sampleRate: 48000, channels: 1, profile: 'LC' },
} as unknown as MediaFacts;

function core(g: Generated) {
  const cpu = process.cpuUsage();
  const t = [performance.now()];
  const classified = classifyKeys(g.keys);
  t.push(performance.now());
  const inventory = buildInventory(classified, g.texts);
  t.push(performance.now());
  const probe = keysToProbe(inventory);
  t.push(performance.now());
  // 100k slices of 15 s are 17 days: past the default span limit, which would refuse them unplanned.
  const plan = planMerge(inventory, new Map(probe.map((k) => [k, facts])), { maxSpanHours: 1e6 });
  t.push(performance.now());
  summarizeInventory(inventory);
  t.push(performance.now());
  const s = (i: number) => (t[i + 1]! - t[i]!) / 1000;
  const used = process.cpuUsage(cpu);
  return { cpu: (used.user + used.system) / 1e6, classify: s(0), inventory: s(1), probeKeys: s(2), plan: s(3), summary: s(4), total: (t[5]! - t[0]!) / 1000, outputs: plan.outputs.length, problems: inventory.problems.length };
}

const fmt = (r: ReturnType<typeof core>) =>
  `total ${r.total.toFixed(2)} s wall, ${r.cpu.toFixed(2)} s CPU (classify ${r.classify.toFixed(2)}, inventory ${r.inventory.toFixed(2)}, keys to probe ${r.probeKeys.toFixed(2)}, plan ${r.plan.toFixed(2)}, inspect summary ${r.summary.toFixed(2)}), ${r.outputs} output(s)`;

async function main(): Promise<void> {
  const results: Record<string, unknown> = {};
  console.log('1. one UID, audio and video tracks of n slices each');
  // CPU seconds, not wall: on a shared machine the wall time mostly measures the neighbours.
  const growth: number[] = [];
  for (const n of [10_000, 20_000, 30_000, SLICES]) {
    const r = core(oneTrack(n));
    growth.push(r.cpu);
    results[`track-${n}`] = r;
    console.log(`   ${n} slices: ${fmt(r)}`);
  }
  console.log(`   30k/10k CPU time ratio: ${(growth[2]! / growth[0]!).toFixed(1)}x (linear = 3x); target ${SLICES} slices per track < 3 s per track: ${growth[3]! / 2 < 3 ? 'PASS' : 'FAIL'} (${(growth[3]! / 2).toFixed(2)} s CPU per track, ${growth[3]!.toFixed(2)} s for both)`);

  // Event loop: how long is the longest stretch without a tick while the big track is read?
  let longest = 0;
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    longest = Math.max(longest, now - last);
    last = now;
  }, 5);
  await new Promise((r) => setTimeout(r, 20));
  core(oneTrack(SLICES));
  await new Promise((r) => setTimeout(r, 20));
  clearInterval(timer);
  console.log(`   longest event-loop stall for ${SLICES} slices: ${(longest / 1000).toFixed(2)} s (a worker's lock is renewed every lockDuration/2 = 15 s by default)`);
  results.eventLoopStallS = longest / 1000;

  console.log('2. many UIDs (core only)');
  const r2 = core(manyUids(UIDS));
  results[`uids-${UIDS}`] = r2;
  console.log(`   ${UIDS} UIDs x 8 slices: ${fmt(r2)}`);

  const noPlaylists = manyUids(UIDS);
  const r2b = core({ keys: noPlaylists.keys.filter((k) => !k.endsWith('.m3u8')), texts: new Map() });
  results[`uids-${UIDS}-no-playlists`] = r2b;
  console.log(`   ${UIDS} UIDs x 8 slices, no playlists (rebuilt from names): ${fmt(r2b)}`);

  console.log('3. merge --dry-run over a folder');
  /** Writes a real slice for each track kind once, then links it under every slice name (copies past the link limit). */
  const realSlices = async (dir: string, keys: string[]) => {
    const ffmpeg = resolveTool('ffmpeg');
    const media = { video: path.join(dir, 'video-slice.ts'), audio: path.join(dir, 'audio-slice.ts') };
    execFileSync(ffmpeg, ['-v', 'error', '-f', 'lavfi', '-i', `testsrc2=s=160x90:r=15:d=${REAL_SLICE_MS / 1000}`, '-c:v', 'libx264', '-preset', 'ultrafast', '-f', 'mpegts', media.video]);
    execFileSync(ffmpeg, ['-v', 'error', '-f', 'lavfi', '-i', `sine=r=48000:d=${REAL_SLICE_MS / 1000}`, '-c:a', 'aac', '-ac', '1', '-f', 'mpegts', media.audio]);
    for (const key of keys) {
      const from = key.includes('__uid_e_video') ? media.video : media.audio;
      await link(from, path.join(dir, key)).catch(() => copyFile(from, path.join(dir, key)));
    }
    await rm(media.video);
    await rm(media.audio);
  };
  const dryRun = async (label: string, files: Generated, slicesToo: boolean | 'real') => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'recmerge-bench-inventory-'));
    try {
      await mkdir(dir, { recursive: true });
      for (const [key, text] of files.texts) await writeFile(path.join(dir, key), text);
      // Empty slice files are listed and placed, never read (an empty slice is missing): the figure is recmerge's own.
      const slices = files.keys.filter((k) => !k.endsWith('.m3u8'));
      if (slicesToo === 'real') await realSlices(dir, slices);
      else if (slicesToo) for (const key of slices) await writeFile(path.join(dir, key), '');
      const started = performance.now();
      const run = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'merge', dir, '-o', path.join(dir, 'out'), '--dry-run', '--json'], {
        maxBuffer: 1 << 30,
        timeout: 600_000,
      }).catch((error: { stdout: string; code: number }) => error);
      const seconds = (performance.now() - started) / 1000;
      results[`dryRun ${label}`] = seconds;
      console.log(`   ${UIDS} UIDs, ${label}: ${seconds.toFixed(1)} s, exit ${'code' in run ? run.code : 0}, ${run.stdout.length} bytes of JSON; target < 30 s: ${seconds < 30 ? 'PASS' : 'FAIL'}`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  };
  await dryRun('playlists only (every slice missing)', manyUids(UIDS, false), false);
  await dryRun('slices only (no playlists: rebuilt from names)', { keys: noPlaylists.keys, texts: new Map() }, true);
  // The real slices hold 0.4 s each, and are named and listed so (a dry run over a local folder measures every slice).
  await dryRun('playlists and real slices (every slice measured, the first of each run read for its facts)', manyUids(UIDS, true, REAL_SLICE_MS), 'real');

  console.log('4. identical problems');
  const big = oneTrack(SLICES);
  const keys = big.keys.filter((k) => k.endsWith('.m3u8'));
  const inv = buildInventory(classifyKeys(keys), big.texts);
  const problems = inv.sessions.flatMap((s) => s.uids.flatMap((u) => u.problems));
  console.log(`   ${SLICES} slices listed but not in storage -> ${problems.length} problem(s): ${problems.map((p) => p.message).join(' | ').slice(0, 300)}`);
  results.collapsedProblems = problems.length;
  await mkdir('.bench', { recursive: true });
  await writeFile('.bench/inventory.json', `${JSON.stringify(results, null, 2)}\n`);
}

await main();
