// Start-up benchmark (not a test): how long `recmerge --version` and a local `recmerge merge` of a tiny
// recording take to start, as ratios against `node -e 0` measured in the same run. Target: --version
// within 2x of `node -e 0`. Runs the built CLI (builds dist/ first); median of interleaved runs.
//   npm run bench:startup          (also the first step of `npm run bench`)
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bin = path.join(repo, 'bin', 'recmerge.js');
const RUNS = Number(process.env.BENCH_STARTUP_RUNS ?? 15);
const TARGET = 2;

execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: repo, stdio: 'inherit' });
const out = mkdtempSync(path.join(os.tmpdir(), 'recmerge-bench-startup-'));

const cases: { name: string; args: string[] }[] = [
  { name: 'node -e 0', args: ['-e', '0'] },
  { name: 'recmerge --version', args: [bin, '--version'] },
  { name: 'recmerge merge --help', args: [bin, 'merge', '--help'] },
  // Usage error right after the library is loaded: the cost of loading what a local merge loads.
  { name: 'recmerge merge (library loaded, stops at a usage error)', args: [bin, 'merge', path.join(repo, 'fixtures', 'sample'), '-o', out, '--preset', 'none', '-q'] },
];

function once(args: string[]): number {
  const t = process.hrtime.bigint();
  const r = spawnSync(process.execPath, args, { stdio: 'ignore' });
  if (r.error) throw r.error;
  return Number(process.hrtime.bigint() - t) / 1e6;
}

const times = new Map<string, number[]>(cases.map((c) => [c.name, []]));
for (const c of cases) once(c.args); // warm the file cache
for (let i = 0; i < RUNS; i++) for (const c of cases) times.get(c.name)!.push(once(c.args));
rmSync(out, { recursive: true, force: true });

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const base = median(times.get('node -e 0')!);
console.log(`\nStart-up, median of ${RUNS} interleaved runs (Node ${process.version}, ${os.cpus().length} cores):\n`);
console.log('| command | median ms | vs `node -e 0` |');
console.log('| --- | --- | --- |');
for (const c of cases) {
  const m = median(times.get(c.name)!);
  console.log(`| ${c.name} | ${m.toFixed(0)} | ${(m / base).toFixed(2)}x |`);
}
const ratio = median(times.get('recmerge --version')!) / base;
console.log(`\nTarget: ${ratio <= TARGET ? 'PASS' : 'MISS'} recmerge --version within ${TARGET}x of node -e 0 (${ratio.toFixed(2)}x)`);
