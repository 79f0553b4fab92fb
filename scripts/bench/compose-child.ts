// The compose benchmark's measured process: one composeRecordings() call, in its own Node process so that its
// peak RSS and CPU are its own. Prints one BENCH_RESULT JSON line.
//   node --import tsx scripts/bench/compose-child.ts <source> <outDir> [preset]
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { composeRecordings } from '../../src/api.js';

const [source, outDir, preset] = process.argv.slice(2) as [string, string, string | undefined];
await rm(outDir, { recursive: true, force: true });
const t0 = performance.now();
let speed: number | null = null;
const summary = await composeRecordings({
  source,
  outDir,
  size: { width: 1280, height: 720 },
  fps: 15,
  force: true,
  ...(preset ? { preset } : {}),
  onProgress: (p) => {
    if (p.speed) speed = p.speed;
  },
});
const wallMs = performance.now() - t0;
const usage = process.resourceUsage();
const stat = readFileSync('/proc/self/stat', 'utf8');
const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
process.stdout.write(
  `BENCH_RESULT ${JSON.stringify({
    results: summary.results.map((r) => ({ file: r.file, layoutFile: r.layoutFile, durationMs: r.durationMs, uids: r.uids, error: r.error })),
    wallMs,
    lastFfmpegSpeed: speed,
    maxRss: usage.maxRSS * 1024,
    cpu: { node: (usage.userCPUTime + usage.systemCPUTime) / 1e6, children: (Number(fields[13]) + Number(fields[14])) / 100 },
  })}\n`,
);
