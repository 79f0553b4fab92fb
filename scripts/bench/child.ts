// One benchmark method, run in its own Node process so that its peak RSS and CPU are its own:
//   node --import tsx scripts/bench/child.ts <task.json>
// Prints one JSON line (prefixed with BENCH_RESULT) on stdout at the end.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pLimit from 'p-limit';
import { planMerge } from '../../src/core/plan.js';
import { probeOutput } from '../../src/ffmpeg/probe.js';
import { runFfmpeg } from '../../src/ffmpeg/runner.js';
import { readSliceFrames, writePlacedAdts } from '../../src/media/audio-placer.js';
import { mergeArgs } from '../../src/merge/render.js';
import { DEFAULT_PRESET } from '../../src/core/options.js';
import { concatList, ffconcat } from '../../src/render/concat.js';
import { x264Args } from '../../src/render/encode.js';
import { containersOf, measureSlices, measureUnlisted, probeFacts, readInventory } from '../../src/recording-reader.js';
import { openSource } from '../../src/storage/open.js';
import type { BenchSlice } from './recordings.js';
import { scriptMethod } from './script-method.js';

const execFileAsync = promisify(execFile);

export type ChildTask =
  | { method: 'recmerge'; source: string; outDir: string; uids: string[]; concurrency: number; transcode?: boolean; fps?: number }
  | { method: 'script'; slices: BenchSlice[]; outDir: string; uids: string[]; concurrency: number; width: number; height: number; fps: number; sizes?: Record<string, { width: number; height: number }> }
  | { method: 'floor'; slices: BenchSlice[]; outDir: string; uids: string[]; concurrency: number; fps: number }
  | { method: 'naive'; source: string; outDir: string; uids: string[]; concurrency: number }
  | { method: 'profile'; source: string; outDir: string; uids: string[]; concurrency: number };

export interface ChildOutput {
  uid: string;
  file: string | null;
  error: string | null;
  videoPath?: string | null;
  audioPath?: string | null;
  /** Wall ms from the start of the method to this output's phases (recmerge only). */
  downloadAtMs?: number;
  mergeAtMs?: number;
  doneAtMs?: number;
}

export interface ChildReport {
  outputs: ChildOutput[];
  /** process.resourceUsage().maxRSS, bytes. */
  maxRss: number;
  /** CPU seconds: this Node process, and its waited-for children (ffmpeg/ffprobe). */
  cpu: { node: number; children: number };
  wallMs: number;
  /** Profile method: wall ms of each phase of the auto path, done one after another for one UID. */
  phases?: Record<string, number>;
  counts?: Record<string, number>;
}

/** Children's CPU from /proc/self/stat (cutime + cstime, clock ticks of 1/100 s). */
function childrenCpuSeconds(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[13]) + Number(fields[14])) / 100;
}

/**
 * recmerge as users run it: the built library (dist/, which `npm run bench` builds first), not the sources
 * compiled on the fly by tsx (that compile, in this process and in every reader thread, is no cost of recmerge's).
 */
const builtLibrary = () => import(new URL('../../dist/api.js', import.meta.url).href) as Promise<typeof import('../../src/api.js')>;

async function runRecmerge(task: Extract<ChildTask, { method: 'recmerge' }>, t0: number): Promise<ChildOutput[]> {
  const { mergeRecordings } = await builtLibrary();
  const phases = new Map<string, { download?: number; merge?: number; done?: number }>();
  const summary = await mergeRecordings({
    source: task.source,
    outDir: task.outDir,
    uids: task.uids,
    concurrency: task.concurrency,
    transcode: task.transcode,
    fps: task.fps,
    force: true,
    onProgress: (p) => {
      const entry = phases.get(p.output) ?? {};
      const at = performance.now() - t0;
      if (p.phase === 'download' || p.phase === 'merge' || p.phase === 'done') entry[p.phase] ??= at;
      phases.set(p.output, entry);
    },
  });
  return summary.results.map((r) => ({
    uid: r.uid,
    file: r.file,
    error: r.error,
    videoPath: r.videoPath,
    audioPath: r.audioPath,
    downloadAtMs: phases.get(r.id)?.download,
    mergeAtMs: phases.get(r.id)?.merge,
    doneAtMs: phases.get(r.id)?.done,
  }));
}

async function runScript(task: Extract<ChildTask, { method: 'script' }>): Promise<ChildOutput[]> {
  const limit = pLimit(task.concurrency);
  return Promise.all(
    task.uids.map((uid) =>
      limit(async (): Promise<ChildOutput> => {
        const file = path.join(task.outDir, `${uid}_0_merge_av.mp4`);
        try {
          await scriptMethod({
            slices: task.slices.filter((s) => s.uid === uid),
            outFile: file,
            workDir: path.join(task.outDir, `.work-${uid}`),
            width: task.sizes?.[uid]?.width ?? task.width,
            height: task.sizes?.[uid]?.height ?? task.height,
            fps: task.fps,
          });
          return { uid, file, error: null };
        } catch (error) {
          return { uid, file: null, error: (error as Error).message.slice(0, 500) };
        }
      }),
    ),
  );
}

/**
 * The floor of a re-encode: one bare ffmpeg per UID that decodes the same frames (every video slice in
 * order, every audio slice in order: no wall clock, no gaps) and encodes them with recmerge's own settings
 * (the same x264 arguments, the threads recmerge gives an output when this many run at once).
 */
async function runFloor(task: Extract<ChildTask, { method: 'floor' }>): Promise<ChildOutput[]> {
  const limit = pLimit(task.concurrency);
  const threads = task.concurrency > 1 ? Math.max(1, Math.floor(os.availableParallelism() / Math.min(task.concurrency, task.uids.length))) : undefined;
  return Promise.all(
    task.uids.map((uid) =>
      limit(async (): Promise<ChildOutput> => {
        const file = path.join(task.outDir, `${uid}_floor.mp4`);
        const list = async (media: 'audio' | 'video') => {
          const mine = task.slices.filter((s) => s.uid === uid && s.media === media).sort((a, b) => a.startMs - b.startMs);
          const f = path.join(task.outDir, `${uid}-${media}.ffconcat`);
          await writeFile(f, ffconcat(mine.map((s) => ({ file: s.path }))));
          return f;
        };
        try {
          const [v, a] = [await list('video'), await list('audio')];
          await runFfmpeg([
            '-y', '-loglevel', 'error', '-f', 'concat', '-safe', '0', '-i', v, '-f', 'concat', '-safe', '0', '-i', a,
            // Every decoded frame once, numbered at the output rate: WebM slices carry the recorder's clock
            // (the concat demuxer would see hours between them and -r would fill them with copies).
            '-map', '0:v:0', '-map', '1:a:0', '-vf', `setpts=N/(${task.fps}*TB)`, ...x264Args({ preset: DEFAULT_PRESET, threads }, task.fps), '-c:a', 'aac', '-b:a', '128k',
            '-movflags', '+faststart', '-f', 'mp4', file,
          ]);
          return { uid, file, error: null };
        } catch (error) {
          return { uid, file: null, error: (error as Error).message.slice(0, 500) };
        }
      }),
    ),
  );
}

async function runNaive(task: Extract<ChildTask, { method: 'naive' }>): Promise<ChildOutput[]> {
  const names = await readdir(task.source);
  const limit = pLimit(task.concurrency);
  return Promise.all(
    task.uids.map((uid) =>
      limit(async (): Promise<ChildOutput> => {
        const playlist = (media: string) => {
          const name = names.find((n) => n.endsWith(`__uid_s_${uid}__uid_e_${media}.m3u8`));
          if (!name) throw new Error(`no ${media} playlist for ${uid}`);
          return path.join(task.source, name);
        };
        const file = path.join(task.outDir, `${uid}.mp4`);
        try {
          await execFileAsync('ffmpeg', [
            '-hide_banner', '-loglevel', 'error', '-nostdin', '-y',
            '-i', playlist('video'), '-i', playlist('audio'),
            '-map', '0:v', '-map', '1:a', '-c', 'copy', file,
          ], { maxBuffer: 1 << 24 });
          return { uid, file, error: null };
        } catch (error) {
          return { uid, file: null, error: (error as Error).message.slice(0, 500) };
        }
      }),
    ),
  );
}

/**
 * The auto path of one UID taken apart, phase by phase, with the library's own building blocks (the same
 * calls mergeRecordings and executeOutput make, in the same order, timed one by one).
 */
async function runProfile(task: Extract<ChildTask, { method: 'profile' }>): Promise<{ phases: Record<string, number>; counts: Record<string, number>; outputs: ChildOutput[] }> {
  const phases: Record<string, number> = {};
  const counts: Record<string, number> = {};
  const timed = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    const t = performance.now();
    try {
      return await fn();
    } finally {
      phases[name] = (phases[name] ?? 0) + performance.now() - t;
    }
  };
  const options = { uids: task.uids };
  const src = await openSource(task.source, { outDir: task.outDir });
  const read = await timed('list + read playlists', () => readInventory(src));
  const inventory = await timed('measure unlisted slices', () => measureUnlisted(src, read));
  const probed = await timed('plan facts, in-process (first slice of each run)', () => probeFacts(src, inventory, options));
  counts['first slices read for facts'] = probed.facts.size;
  const plan = await timed('plan', async () => planMerge(probed.inventory, probed.facts, options));
  const containers = containersOf(probed.inventory);
  const outputs: ChildOutput[] = [];
  for (const planned of plan.outputs) {
    counts['slices read'] = (counts['slices read'] ?? 0) + planned.inputs.length;
    const { paths, missing } = await timed('materialize (local: paths)', () => src.materialize(planned.inputs));
    const media = await timed('check + measure slices (TS scan in Node)', () => measureSlices(paths, missing, planned, containers));
    const output = await timed('plan with measured slices', async () =>
      planMerge(probed.inventory, probed.facts, { ...options, uids: [planned.uid] }, media).outputs.find((o) => o.id === planned.id)!);
    const workDir = path.join(task.outDir, `.work-${output.uid}`);
    await mkdir(workDir, { recursive: true });
    const videoList = path.join(workDir, 'video.ffconcat');
    const adts = path.join(workDir, 'audio.aac');
    if (output.video) {
      await timed('write video concat list', () => writeFile(videoList, concatList(output.video!.runs.flatMap((r) => r.slices), paths, true)));
    }
    if (output.audio) {
      const slices = output.audio.runs.flatMap((r) => r.slices);
      // The library encodes one silent frame with ffmpeg (once per run of the CLI); any frame times the same here.
      const firstPath = paths.get(slices[0]!.key)!;
      await timed('audio placement in Node (read TS, demux ADTS, write)', () => writePlacedAdts(slices, paths, adts, async () => (await readSliceFrames(firstPath)).frames[0]!));
    }
    const file = path.join(task.outDir, `${output.uid}.mp4`);
    const args = mergeArgs(output, { videoLists: output.video ? [videoList] : [], videoDelayMs: output.video?.runs[0]?.offsetMs ?? 0, adtsFile: output.audio ? adts : null, audioLists: [] }, file, { preset: DEFAULT_PRESET });
    await timed('ffmpeg mux (video copy + placed AAC copy)', () => runFfmpeg(args));
    await timed('verify output (ffprobe)', () => probeOutput(file));
    await rm(workDir, { recursive: true, force: true });
    outputs.push({ uid: output.uid, file, error: null, videoPath: output.video?.path ?? null, audioPath: output.audio?.path ?? null });
  }
  await src.dispose();
  return { phases, counts, outputs };
}

async function main(): Promise<void> {
  const task = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as ChildTask;
  await rm(task.outDir, { recursive: true, force: true });
  await mkdir(task.outDir, { recursive: true });
  const t0 = performance.now();
  let profile: Awaited<ReturnType<typeof runProfile>> | undefined;
  let outputs: ChildOutput[];
  if (task.method === 'recmerge') outputs = await runRecmerge(task, t0);
  else if (task.method === 'script') outputs = await runScript(task);
  else if (task.method === 'naive') outputs = await runNaive(task);
  else if (task.method === 'floor') outputs = await runFloor(task);
  else ({ outputs } = profile = await runProfile(task));
  const wallMs = performance.now() - t0;
  const usage = process.resourceUsage();
  const report: ChildReport = {
    outputs,
    maxRss: usage.maxRSS * 1024,
    cpu: { node: (usage.userCPUTime + usage.systemCPUTime) / 1e6, children: childrenCpuSeconds() },
    wallMs,
    ...(profile ? { phases: profile.phases, counts: profile.counts } : {}),
  };
  process.stdout.write(`BENCH_RESULT ${JSON.stringify(report)}\n`);
}

await main();
