// Compose benchmark: 4 users x 10 min (640x360 15 fps H.264 sources, each leaving and rejoining, one
// joining late) composed into one 1280x720 15 fps video with all audio mixed; x real time = composite
// seconds per wall second. The recording is built once and cached like the others.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runWatchedChild } from './proc-tree.js';
import { ensureRecording, users } from './recordings.js';

const here = path.dirname(fileURLToPath(import.meta.url));
export const COMPOSE_MINUTES = 10;
export const TARGET_COMPOSE_REALTIME = 10;
export const TARGET_COMPOSE_NODE_RSS_MB = 200;

const PRESENCE: Record<string, Array<[number, number]>> = {
  '3001': [[0, 0.33], [0.36, 0.71], [0.73, 1]],
  '3002': [[0, 0.2], [0.21, 0.62], [0.66, 1]],
  '3003': [[0, 0.5], [0.52, 0.83], [0.88, 1]],
  '3004': [[0.09, 0.42], [0.45, 1]],
};

export interface ComposeBenchResult {
  minutes: number;
  users: number;
  wallS: number;
  composedS: number;
  timesRealtime: number;
  nodePeakRssMB: number;
  treePeakRssMB: number;
  cpuS: { node: number; children: number };
  layoutIntervals: number | null;
  error: string | null;
}

export async function runComposeBench(recDir: string, outRoot: string, log: (s: string) => void): Promise<ComposeBenchResult> {
  const video = { width: 640, height: 360, fps: 15, codec: 'h264' as const };
  const rec = await ensureRecording(
    recDir,
    { name: 'compose', minutes: COMPOSE_MINUTES, video, rec: { sid: '9c0d5e6f7a8b4c3d2e1f0a9b8c7d6e5f', cname: 'bench_compose', users: users(PRESENCE, COMPOSE_MINUTES, video) } },
    log,
  );
  log(`running recmerge compose on ${rec.uids.length} users x ${COMPOSE_MINUTES} min (1280x720, 15 fps) ...`);
  const outDir = path.join(outRoot, 'compose');
  const { report, tree } = await runWatchedChild<{
    results: { file: string | null; layoutFile: string | null; durationMs: number; error: string | null }[];
    wallMs: number;
    maxRss: number;
    cpu: { node: number; children: number };
  }>('compose bench', path.join(here, 'compose-child.ts'), [path.join(rec.dir, 'recording'), outDir]);
  const r = report.results[0];
  let layoutIntervals: number | null = null;
  if (r?.layoutFile) {
    const { readFile } = await import('node:fs/promises');
    layoutIntervals = (JSON.parse(await readFile(r.layoutFile, 'utf8')) as { intervals: unknown[] }).intervals.length;
  }
  const wallS = report.wallMs / 1000;
  const composedS = (r?.durationMs ?? 0) / 1000;
  const result: ComposeBenchResult = {
    minutes: COMPOSE_MINUTES,
    users: rec.uids.length,
    wallS,
    composedS,
    timesRealtime: composedS / wallS,
    nodePeakRssMB: report.maxRss / 2 ** 20,
    treePeakRssMB: tree.peakTreeRss / 2 ** 20,
    cpuS: report.cpu,
    layoutIntervals,
    error: r?.error ?? (r ? null : 'no output'),
  };
  log(`  ${wallS.toFixed(1)} s for ${composedS.toFixed(1)} s of composite: ${result.timesRealtime.toFixed(1)}x real time, Node ${result.nodePeakRssMB.toFixed(0)} MB, tree ${result.treePeakRssMB.toFixed(0)} MB, ${layoutIntervals ?? '-'} layout intervals${result.error ? `, ERROR ${result.error}` : ''}`);
  return result;
}
