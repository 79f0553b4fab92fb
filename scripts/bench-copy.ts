// Copy-path benchmark (not a test): one UID, 10 minutes of H.264 + AAC, merged by the built CLI
// (`recmerge merge`, end to end: Node start-up, reading, measuring, placing, ffmpeg, read-back) against a
// naive remux of the same playlists (`ffmpeg -i video.m3u8 -i audio.m3u8 -c copy`), run in turn in one run,
// whole processes timed from outside. Target: recmerge within 2x of the naive remux (median of the pairs).
//   npm run bench:copy                        (BENCH_COPY_RUNS=9 by default; BENCH_COPY_MINUTES=10)
// Also counts the ffmpeg/ffprobe processes one merge starts, and says how long each one took.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdir, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { mergeRecordings } from '../src/api.js';
import { ensureRecording, users } from './bench/recordings.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bin = path.join(repo, 'bin', 'recmerge.js');
const benchDir = path.join(repo, '.bench');
const RUNS = Number(process.env.BENCH_COPY_RUNS ?? 9);
const MINUTES = Number(process.env.BENCH_COPY_MINUTES ?? 10);
const TARGET = 2;
const log = (s: string) => process.stdout.write(`${s}\n`);

execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: repo, stdio: 'inherit' });
const video = { width: 640, height: 360, fps: 15, codec: 'h264' as const };
const rec = await ensureRecording(
  path.join(benchDir, 'recordings'),
  { name: 'copy-1uid', minutes: MINUTES, video, rec: { sid: '5c0e1a2b3c4d5e6f708192a3b4c5d6e7', cname: 'bench_copy_1', users: users({ '3001': [[0, 1]] }, MINUTES, video) } },
  log,
);
const source = path.join(rec.dir, 'recording');
const names = await readdir(source);
const playlist = (media: string) => path.join(source, names.find((n) => n.endsWith(`__uid_e_${media}.m3u8`))!);
const out = path.join(benchDir, 'out', 'copy');
await rm(out, { recursive: true, force: true });
await mkdir(out, { recursive: true });

const cases = {
  recmerge: [process.execPath, bin, 'merge', source, '-o', path.join(out, 'recmerge'), '--force', '-q'],
  naive: ['ffmpeg', '-hide_banner', '-loglevel', 'error', '-nostdin', '-y', '-i', playlist('video'), '-i', playlist('audio'), '-map', '0:v', '-map', '1:a', '-c', 'copy', path.join(out, 'naive.mp4')],
};

function once(argv: string[]): number {
  const t = process.hrtime.bigint();
  const r = spawnSync(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'inherit'] });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`${argv.slice(0, 3).join(' ')} … exited ${r.status}`);
  return Number(process.hrtime.bigint() - t) / 1e6;
}

const times = { recmerge: [] as number[], naive: [] as number[] };
once(cases.recmerge);
once(cases.naive); // warm the file cache
const ratios: number[] = [];
for (let i = 0; i < RUNS; i++) {
  const a = once(cases.recmerge);
  const b = once(cases.naive);
  times.recmerge.push(a);
  times.naive.push(b);
  ratios.push(a / b);
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

// One merge in this process, with every tool run it starts and how long each took.
const runs: { tool: string; ms: number; what: string }[] = [];
const t0 = performance.now();
await mergeRecordings({
  source,
  outDir: path.join(out, 'counted'),
  force: true,
  onCommand: (command) => {
    const tool = path.basename(command[0]!);
    runs.push({ tool, ms: performance.now() - t0, what: command.slice(1).filter((a) => !a.startsWith('-') && !/^\d/.test(a)).slice(-1)[0]?.split('/').at(-1) ?? '' });
  },
});
const inProcessMs = performance.now() - t0;

log(`\nCopy path, ${MINUTES} min x 1 UID (${video.width}x${video.height} ${video.fps} fps H.264 + AAC, ${rec.slices.length} slices), median of ${RUNS} pairs run in turn (Node ${process.version}, ${os.availableParallelism()} cores):\n`);
log('| command | median wall ms | min | max |');
log('| --- | --- | --- | --- |');
for (const [name, xs] of Object.entries(times)) log(`| ${name === 'naive' ? 'ffmpeg -i video.m3u8 -i audio.m3u8 -c copy' : 'recmerge merge (CLI, whole process)'} | ${median(xs).toFixed(0)} | ${Math.min(...xs).toFixed(0)} | ${Math.max(...xs).toFixed(0)} |`);
const ratio = median(ratios);
log(`\nrecmerge / naive remux, median of the pairs: ${ratio.toFixed(2)}x (pairs ${ratios.map((r) => r.toFixed(2)).join(' ')})`);
log(`one merge in process: ${inProcessMs.toFixed(0)} ms; tool runs: ${runs.length} (${runs.map((r) => `${r.tool} ${r.what} at ${r.ms.toFixed(0)} ms`).join('; ')})`);
log(`\nTarget: ${ratio <= TARGET ? 'PASS' : 'MISS'} the copy path within ${TARGET}x of a naive remux (${ratio.toFixed(2)}x)`);
