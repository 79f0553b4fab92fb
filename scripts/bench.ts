// Benchmark (not a test): recmerge against the recording service's merge method, in one run, on one machine.
//   npm run bench                                  full scale: 1 h recording, 4 UIDs (slow methods on 1 UID)
//   BENCH_MINUTES=10 BENCH_UIDS=2 npm run bench    smaller recording; slow methods on 2 UIDs
// Recordings are built once and cached under .bench/recordings/ (rebuilt when their spec changes).
// Every method runs in its own Node process (scripts/bench/child.ts), 2 UIDs at a time; its process tree
// is polled for memory. Results go to .bench/results.json. Targets are reported as PASS/MISS, never asserted.
import { execFile, execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { ChildReport, ChildTask } from './bench/child.js';
import { runWatchedChild, type TreeStats } from './bench/proc-tree.js';
import { runComposeBench, TARGET_COMPOSE_NODE_RSS_MB, TARGET_COMPOSE_REALTIME } from './bench/compose.js';
import { runReencodeBench } from './bench/reencode.js';
import { ensureRecording, specs } from './bench/recordings.js';
import type { MethodId, MethodResult, MethodSpec, OutputCheck } from './bench/method.js';

export type { MethodResult, MethodSpec };

const execFileAsync = promisify(execFile);

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..');
const benchDir = path.join(repo, '.bench');
const MINUTES = Number(process.env.BENCH_MINUTES ?? 60);
/** UIDs the slow (re-encoding) methods run on; the fast ones run on every UID. */
const SLOW_UIDS = Number(process.env.BENCH_UIDS ?? 1);
/** Outputs (UIDs) merged at the same time, by every method. */
const CONCURRENCY = 2;
/** An output is correct when its length is within this of the UID's wall-clock span. */
const DURATION_TOLERANCE_S = 1;

const TARGET_AUTO_SPEEDUP = 30;
const TARGET_AUTO_REALTIME = 300;
const TARGET_NODE_RSS_MB = 200;


const mb = (bytes: number) => bytes / 1024 / 1024;
const log = (s: string) => process.stdout.write(`${s}\n`);

async function probeDurationS(file: string): Promise<number | null> {
  try {
    const { stdout } = await execFileAsync('ffprobe', ['-v', 'error', '-show_entries', 'format=duration', '-of', 'csv=p=0', file]);
    const d = Number(stdout.trim());
    return Number.isFinite(d) ? d : null;
  } catch {
    return null;
  }
}

/** Runs one task in a child Node process, polling its process tree; returns its report and tree stats. */
async function runChild(task: ChildTask, name: string): Promise<{ report: ChildReport; tree: TreeStats; processWallS: number }> {
  const taskFile = path.join(benchDir, 'tasks', `${name}.json`);
  await mkdir(path.dirname(taskFile), { recursive: true });
  await writeFile(taskFile, JSON.stringify(task));
  const { report, tree, wallS } = await runWatchedChild<ChildReport>(name, path.join(here, 'bench', 'child.ts'), [taskFile], repo);
  return { report, tree, processWallS: wallS };
}

function taskFor(m: MethodSpec, outDir: string): ChildTask {
  const rec = m.recording;
  const source = path.join(rec.dir, 'recording');
  const common = { outDir, uids: m.uids, concurrency: CONCURRENCY };
  switch (m.id) {
    case 'auto':
      return { method: 'recmerge', source, ...common };
    case 'transcode':
      return { method: 'recmerge', source, ...common, transcode: true };
    case 'transcode-fps15':
      return { method: 'recmerge', source, ...common, transcode: true, fps: 15 };
    case 'script':
      return { method: 'script', ...common, slices: rec.slices.filter((s) => m.uids.includes(s.uid)), width: rec.width, height: rec.height, fps: m.fps ?? 15, sizes: m.sizes };
    case 'floor':
      return { method: 'floor', ...common, slices: rec.slices.filter((s) => m.uids.includes(s.uid)), fps: m.fps ?? rec.fps };
    case 'naive':
      return { method: 'naive', source, ...common };
  }
}

export async function runMethod(m: MethodSpec): Promise<MethodResult> {
  const name = `${m.recording.name}-${m.id}`;
  log(`running ${m.label} on ${m.recording.name} (${m.uids.length} UID${m.uids.length > 1 ? 's' : ''}: ${m.uids.join(', ')}) ...`);
  const outDir = path.join(benchDir, 'out', name);
  const { report, tree, processWallS } = await runChild(taskFor(m, outDir), name);
  const checks: OutputCheck[] = [];
  for (const uid of m.uids) {
    const out = report.outputs.find((o) => o.uid === uid);
    const expectedS = (m.recording.spanMs[uid] ?? 0) / 1000;
    const actualS = out?.file ? await probeDurationS(out.file) : null;
    const ok = !out?.error && actualS !== null && Math.abs(actualS - expectedS) <= DURATION_TOLERANCE_S;
    checks.push({ uid, file: out?.file ?? null, error: out?.error ?? (out ? null : 'no output'), expectedS, actualS, ok, videoPath: out?.videoPath, audioPath: out?.audioPath });
  }
  const wallS = report.wallMs / 1000;
  const mediaS = m.uids.reduce((sum, uid) => sum + (m.recording.spanMs[uid] ?? 0) / 1000, 0);
  const outputs = report.outputs.filter((o) => o.downloadAtMs !== undefined);
  const phases = outputs.length
    ? {
        planReadyS: Math.min(...outputs.map((o) => o.downloadAtMs!)) / 1000,
        outputs: outputs.map((o) => ({
          uid: o.uid,
          prepS: o.mergeAtMs !== undefined ? (o.mergeAtMs - o.downloadAtMs!) / 1000 : null,
          ffmpegS: o.mergeAtMs !== undefined && o.doneAtMs !== undefined ? (o.doneAtMs - o.mergeAtMs) / 1000 : null,
        })),
      }
    : undefined;
  const result: MethodResult = {
    id: m.id,
    label: m.label,
    recording: m.recording.name,
    uids: m.uids,
    wallS,
    processWallS,
    mediaS,
    timesRealtime: mediaS / wallS,
    wallPerUidHourS: wallS / (mediaS / 3600),
    nodePeakRssMB: mb(report.maxRss),
    treePeakRssMB: mb(tree.peakTreeRss),
    cpuS: report.cpu,
    speedVsScript: null,
    treeMemoryVsScript: null,
    checks,
    correct: checks.every((c) => c.ok),
    expectWrongDuration: m.expectWrongDuration === true,
    tree,
    phases,
  };
  log(`  ${wallS.toFixed(1)} s, ${result.timesRealtime.toFixed(1)}x real time, Node ${result.nodePeakRssMB.toFixed(0)} MB, tree ${result.treePeakRssMB.toFixed(0)} MB, durations ${result.correct ? 'ok' : 'WRONG'}`);
  for (const c of checks) if (c.error) log(`  ${c.uid}: ${c.error.split('\n')[0]}`);
  return result;
}

const fmt = (n: number | null, digits = 1) => (n === null || !Number.isFinite(n) ? '-' : n.toFixed(digits));

function durationCell(r: MethodResult): string {
  if (r.correct) return `ok (${r.checks.length}/${r.checks.length} within ${DURATION_TOLERANCE_S} s)`;
  const worst = Math.max(...r.checks.map((c) => (c.actualS === null ? Infinity : Math.abs(c.actualS - c.expectedS))));
  const what = `${r.checks.filter((c) => !c.ok).length}/${r.checks.length} off, worst ${Number.isFinite(worst) ? `${worst.toFixed(1)} s` : 'no file'}`;
  return r.expectWrongDuration ? `wrong as expected: ${what} (gaps dropped, no wall clock)` : `WRONG: ${what}`;
}

function table(results: MethodResult[]): string {
  const head = ['method', 'rec', 'UIDs', 'wall s', 's per UID-hour', 'x real time', 'speed vs script', 'Node peak RSS MB', 'tree peak RSS MB', 'tree mem vs script', 'duration check'];
  const rows = results.map((r) => [
    r.label,
    r.recording,
    String(r.uids.length),
    fmt(r.wallS),
    fmt(r.wallPerUidHourS),
    fmt(r.timesRealtime, 0),
    r.speedVsScript === null ? '-' : `${fmt(r.speedVsScript, r.speedVsScript < 10 ? 2 : 0)}x`,
    fmt(r.nodePeakRssMB, 0),
    fmt(r.treePeakRssMB, 0),
    r.treeMemoryVsScript === null ? '-' : `${fmt(r.treeMemoryVsScript, 2)}x`,
    durationCell(r),
  ]);
  return [head, head.map(() => '---'), ...rows].map((cells) => `| ${cells.join(' | ')} |`).join('\n');
}

export async function machine() {
  const { stdout } = await execFileAsync('ffmpeg', ['-version']);
  return {
    cpus: os.availableParallelism(),
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    memoryGB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    ffmpeg: stdout.split('\n')[0] ?? '',
    platform: `${os.type()} ${os.release()}`,
  };
}

async function main(): Promise<void> {
  const started = new Date();
  // recmerge runs as built (scripts/bench/child.ts imports dist/).
  execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: repo, stdio: 'inherit' });
  const recDir = path.join(benchDir, 'recordings');
  await mkdir(recDir, { recursive: true });
  // The re-encoding path on camera-like content (scripts/bench/reencode.ts): first, and alone with BENCH_ONLY=reencode.
  const reencode = await runReencodeBench(recDir, { runMethod, log });
  if (process.env.BENCH_ONLY === 'reencode') return;
  const [h264Spec, webmSpec] = specs(MINUTES);
  const h264 = await ensureRecording(recDir, h264Spec!, log);
  const webm = await ensureRecording(recDir, webmSpec!, log);
  const slow = h264.uids.slice(0, Math.max(1, Math.min(SLOW_UIDS, h264.uids.length)));
  const scale = {
    minutes: MINUTES,
    webmMinutes: webm.minutes,
    fastUids: h264.uids.length,
    slowUids: slow.length,
    concurrency: CONCURRENCY,
    note: `H.264 recording: ${MINUTES} min x ${h264.uids.length} UIDs; recmerge auto and the naive remux on all ${h264.uids.length} UIDs, --transcode and the script's method on ${slow.length} (${slow.join(', ')}); WebM recording: ${webm.minutes} min x ${webm.uids.length} UIDs, all methods on all; ${CONCURRENCY} UIDs at a time`,
  };
  const env = await machine();
  log(`machine: ${env.cpus} cores (${env.cpuModel}), ${env.memoryGB} GB, Node ${env.node}, ${env.ffmpeg}`);
  log(`scale: ${scale.note}`);

  const methods: MethodSpec[] = [
    { id: 'auto', label: 'recmerge (auto)', recording: h264, uids: h264.uids },
    { id: 'transcode', label: 'recmerge --transcode', recording: h264, uids: slow },
    { id: 'transcode-fps15', label: 'recmerge --transcode --fps 15', recording: h264, uids: slow },
    { id: 'script', label: "script's method (ffmpeg)", recording: h264, uids: slow },
    { id: 'naive', label: 'naive ffmpeg -i m3u8 -c copy', recording: h264, uids: h264.uids, expectWrongDuration: true },
    { id: 'auto', label: 'recmerge (auto)', recording: webm, uids: webm.uids },
    { id: 'script', label: "script's method (ffmpeg)", recording: webm, uids: webm.uids },
  ];
  const results: MethodResult[] = [];
  for (const m of methods) results.push(await runMethod(m));

  for (const r of results) {
    const script = results.find((s) => s.id === 'script' && s.recording === r.recording);
    if (!script) continue;
    r.speedVsScript = script.wallPerUidHourS / r.wallPerUidHourS;
    r.treeMemoryVsScript = r.treePeakRssMB / script.treePeakRssMB;
  }

  // The auto path of one UID, phase by phase (separate run, after the measured ones).
  log(`profiling the auto path on UID ${h264.uids[0]} ...`);
  const profiled = await runChild({ method: 'profile', source: path.join(h264.dir, 'recording'), outDir: path.join(benchDir, 'out', 'h264-profile'), uids: [h264.uids[0]!], concurrency: 1 }, 'h264-profile');
  const profile = {
    uid: h264.uids[0],
    mediaS: (h264.spanMs[h264.uids[0]!] ?? 0) / 1000,
    wallS: profiled.report.wallMs / 1000,
    phasesS: Object.fromEntries(Object.entries(profiled.report.phases ?? {}).map(([k, v]) => [k, v / 1000])),
    counts: profiled.report.counts ?? {},
    nodePeakRssMB: mb(profiled.report.maxRss),
    cpuS: profiled.report.cpu,
  };

  // recmerge compose: 4 users x 10 min into one 1280x720 video (always 10 min, whatever BENCH_MINUTES).
  const compose = await runComposeBench(recDir, path.join(benchDir, 'out'), log);

  const pick = (id: MethodId, rec: string) => results.find((r) => r.id === id && r.recording === rec);
  const auto = pick('auto', 'h264');
  const t15 = pick('transcode-fps15', 'h264');
  const script = pick('script', 'h264');
  const targets = [
    { name: `auto path >= ${TARGET_AUTO_SPEEDUP}x faster than the script's method (H.264)`, value: auto?.speedVsScript ?? null, pass: (auto?.speedVsScript ?? 0) >= TARGET_AUTO_SPEEDUP, unit: 'x' },
    { name: `auto path >= ${TARGET_AUTO_REALTIME}x real time per UID`, value: auto?.timesRealtime ?? null, pass: (auto?.timesRealtime ?? 0) >= TARGET_AUTO_REALTIME, unit: 'x' },
    {
      name: "transcode path (--transcode --fps 15) no slower than the script's method",
      value: t15 && script ? t15.wallPerUidHourS : null,
      pass: !!t15 && !!script && t15.wallPerUidHourS <= script.wallPerUidHourS,
      unit: ` s per UID-hour vs ${fmt(script?.wallPerUidHourS ?? null)}`,
    },
    {
      name: `Node process peak RSS < ${TARGET_NODE_RSS_MB} MB (${MINUTES} min case, every recmerge run)`,
      value: Math.max(...results.filter((r) => r.id !== 'script' && r.id !== 'naive').map((r) => r.nodePeakRssMB)),
      pass: results.filter((r) => r.id !== 'script' && r.id !== 'naive').every((r) => r.nodePeakRssMB < TARGET_NODE_RSS_MB),
      unit: ' MB',
    },
    {
      name: `compose (${compose.users} users x ${compose.minutes} min, 1280x720) >= ${TARGET_COMPOSE_REALTIME}x real time`,
      value: compose.error ? null : compose.timesRealtime,
      pass: !compose.error && compose.timesRealtime >= TARGET_COMPOSE_REALTIME,
      unit: `x (${fmt(compose.wallS)} s wall; ffmpeg CPU ${fmt(compose.cpuS.children)} s, i.e. ${fmt(compose.composedS / (compose.cpuS.children / os.availableParallelism()))}x with every core free)`,
    },
    { name: `compose Node peak RSS < ${TARGET_COMPOSE_NODE_RSS_MB} MB`, value: compose.nodePeakRssMB, pass: compose.nodePeakRssMB < TARGET_COMPOSE_NODE_RSS_MB, unit: ` MB (process tree with ffmpeg ${fmt(compose.treePeakRssMB, 0)} MB)` },
  ];

  log('');
  log(`recmerge benchmark, ${started.toISOString()} — ${env.cpus} cores, ${scale.note}`);
  log('');
  log(table(results));
  log('');
  log(`auto path, UID ${profile.uid} alone (${fmt(profile.mediaS / 60)} min of media), phase by phase:`);
  for (const [phase, s] of Object.entries(profile.phasesS)) log(`  ${phase.padEnd(55)} ${s.toFixed(2)} s`);
  log(`  ${'total'.padEnd(55)} ${profile.wallS.toFixed(2)} s (Node CPU ${profile.cpuS.node.toFixed(2)} s, ffmpeg/ffprobe CPU ${profile.cpuS.children.toFixed(2)} s; ${Object.entries(profile.counts).map(([k, v]) => `${v} ${k}`).join(', ')})`);
  if (auto?.phases) {
    log(`auto path in the measured run: plan ready (list, playlists, probe, plan) after ${fmt(auto.phases.planReadyS, 2)} s; ` +
      `per output, slice checks + audio placement until ffmpeg reports progress / ffmpeg to done: ${auto.phases.outputs.map((o) => `${o.uid} ${fmt(o.prepS, 2)}/${fmt(o.ffmpegS, 2)} s`).join(', ')}`);
    log(`  time with ffprobe running ${fmt(auto.tree.secondsWith.ffprobe ?? 0)} s, ffmpeg running ${fmt(auto.tree.secondsWith.ffmpeg ?? 0)} s, Node alone ${fmt(auto.tree.secondsRootOnly)} s; CPU: Node ${auto.cpuS.node.toFixed(1)} s, children ${auto.cpuS.children.toFixed(1)} s`);
  }
  log('');
  for (const t of targets) log(`${t.pass ? 'PASS' : 'MISS'} ${t.name}: ${fmt(t.value)}${t.unit}`);

  const out = path.join(benchDir, 'results.json');
  await writeFile(out, JSON.stringify({ date: started.toISOString(), machine: env, scale, recordings: { h264: { dir: h264.dir, minutes: h264.minutes, uids: h264.uids, slices: h264.slices.length, spanS: h264.spanMs, buildSeconds: h264.buildSeconds, builtThisRun: h264.built }, webm: { dir: webm.dir, minutes: webm.minutes, uids: webm.uids, slices: webm.slices.length, spanS: webm.spanMs, buildSeconds: webm.buildSeconds, builtThisRun: webm.built } }, methods: results, profile, compose, targets, reencode }, null, 2));
  log(`\nwritten ${path.relative(repo, out)}`);
}

await main();
