// Benchmark (not a test): a long re-encoded output in chunks (issue 20.3) on one camera-like recording
// (1280x720 30 fps, scripts/bench/recordings.ts cameraSpecs, one UID). Measures, in one run:
//   - single: one encode of the whole output (mergeRecordings, transcode);
//   - per chunk: each chunk's encode alone (the one encodeChunk), CPU s (ffmpeg's, from this process's
//     reaped children) and wall s;
//   - local chunked: --chunk on this machine's cores, split into plan (before the first chunk), chunks,
//     and the serial rest (audio, the join by stream copy, read-back);
//   - queue: the same merge as a queue job with 1 and 2 worker processes (their chunks as chunk jobs);
//   - correctness of every output against the single encode (frames, length, markers, clean decode).
// Writes .bench/chunks.json.
//   node --import tsx scripts/bench-chunks.ts [--seconds 48] [--chunk 12] [--preset recmerge|veryfast|...]
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Queue, QueueEvents } from 'bullmq';
import { mergeRecordings } from '../src/api.js';
import { DEFAULT_PRESET } from '../src/core/options.js';
import { mergeKind } from '../src/merge/kind.js';
import { encodePlannedChunk, localChunks, outputChunks, type ChunkEncoder } from '../src/merge/render.js';
import type { MergeOptions } from '../src/options.js';
import { withPlannedOutput } from '../src/pipeline/run.js';
import { enqueueMerge } from '../src/queue/enqueue.js';
import { QUEUE_NAME } from '../src/queue/job.js';
import type { JobResult } from '../src/queue/worker.js';
import { decodeErrors } from '../test/support/decode-clean.js';
import { beepTimes, probe, whiteFrameTimes } from '../test/support/measure.js';
import { startRedis } from '../test/support/redis.js';
import { cameraSpecs, ensureRecording } from './bench/recordings.js';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '48' }, chunk: { type: 'string', default: '12' }, preset: { type: 'string', default: DEFAULT_PRESET } } });
const SECONDS = Number(values.seconds);
const CHUNK = Number(values.chunk);
const PRESET = values.preset;
const CLI = resolve('src/cli.ts');
const r2 = (n: number) => Math.round(n * 100) / 100;

/** CPU seconds of this process's reaped children so far (ffmpeg, worker processes and theirs): /proc/self/stat cutime + cstime. */
async function childCpuS(): Promise<number> {
  const stat = await readFile('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields after the comm: state is index 0; cutime and cstime are stat fields 16 and 17 (indices 13 and 14 here).
  return (Number(fields[13]) + Number(fields[14])) / 100;
}

/** CPU seconds of a live process and its reaped children (a worker and the ffmpeg it ran): utime + stime + cutime + cstime. */
async function processCpuS(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14])) / 100;
}

/** Wall and CPU (own + reaped children) of `work`. */
async function measured<T>(work: () => Promise<T>): Promise<{ value: T; wallS: number; cpuS: number }> {
  const [cpu0, own0, t0] = [await childCpuS(), process.cpuUsage(), performance.now()];
  const value = await work();
  const own = process.cpuUsage(own0);
  return { value, wallS: (performance.now() - t0) / 1000, cpuS: (await childCpuS()) - cpu0 + (own.user + own.system) / 1e6 };
}

async function check(file: string, reference: { frames: number; durationS: number; whites: number[]; beeps: number[] } | null) {
  const p = await probe(file);
  const whites = await whiteFrameTimes(file);
  const beeps = await beepTimes(file);
  const errors = await decodeErrors(file);
  const same = reference
    ? p.video!.frames === reference.frames &&
      Math.abs(p.durationS - reference.durationS) < 0.01 &&
      whites.length === reference.whites.length &&
      whites.every((t, i) => Math.abs(t - reference.whites[i]!) < 0.5 / 30) &&
      beeps.every((t, i) => Math.abs(t - reference.beeps[i]!) < 0.5 / 30)
    : true;
  return { frames: p.video!.frames, durationS: p.durationS, whites, beeps, decodeClean: errors === '', sameAsSingle: same };
}

function startWorker(redisUrl: string, allow: string[], name: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'worker', '--redis', redisUrl, '--name', name, '--merge-concurrency', '1', '--allow', ...allow], { stdio: ['ignore', 'ignore', 'pipe'] });
  return new Promise((ok, fail) => {
    let text = '';
    child.stderr!.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      if (text.includes('waiting for jobs')) ok(child);
    });
    child.once('exit', (code) => fail(new Error(`worker exited (${code}): ${text}`)));
  });
}

const stopped = (child: ChildProcess) =>
  new Promise<void>((done) => {
    if (child.exitCode !== null) return done();
    child.once('exit', () => done());
    child.kill('SIGTERM');
  });

async function main(): Promise<void> {
  const spec = cameraSpecs(SECONDS).find((s) => s.name === 'cam')!;
  spec.rec = { ...spec.rec, users: spec.rec.users.slice(0, 1) };
  const recording = await ensureRecording(resolve('.bench/recordings'), spec, (l) => console.log(l));
  const source = join(recording.dir, 'recording');
  const root = await mkdtemp(join(tmpdir(), 'recmerge-bench-chunks-'));
  const base: MergeOptions = { source, outDir: '', transcode: true, preset: PRESET, force: true };
  const loadBefore = loadavg()[0]!;
  try {
    // Single encode.
    const single = await measured(() => mergeRecordings({ ...base, outDir: join(root, 'single') }));
    const singleFile = single.value.results[0]!.file!;
    const reference = await check(singleFile, null);
    console.log(`single: ${single.wallS.toFixed(1)} s wall, ${single.cpuS.toFixed(1)} CPU s`);

    // Each chunk alone (all cores each), through the one chunk encode.
    const perChunk: { index: number; frames: number; wallS: number; cpuS: number }[] = [];
    await withPlannedOutput(mergeKind, { ...base, outDir: join(root, 'plan'), chunk: CHUNK }, single.value.results[0]!.id, async (plan, paths) => {
      const chunks = outputChunks(plan);
      const dir = join(root, 'chunks');
      await mkdir(dir, { recursive: true });
      for (const c of chunks) {
        const m = await measured(() => encodePlannedChunk(plan, c.index, c.fingerprint, paths, join(dir, `c${c.index}.mp4`), { workDir: dir, preset: PRESET }));
        perChunk.push({ index: c.index, frames: c.range.toFrame - c.range.fromFrame, wallS: r2(m.wallS), cpuS: r2(m.cpuS) });
        console.log(`chunk ${c.index + 1}/${chunks.length}: ${perChunk.at(-1)!.frames} frames, ${m.wallS.toFixed(1)} s wall, ${m.cpuS.toFixed(1)} CPU s`);
      }
    });

    // Chunked on this machine's cores: when the chunks start and end splits the run into plan, chunks and the rest.
    let chunksFrom = 0;
    let chunksTo = 0;
    const timed: ChunkEncoder = async (chunks, encodeLocally, work) => {
      chunksFrom = performance.now();
      const files = await localChunks(chunks, encodeLocally, work);
      chunksTo = performance.now();
      return files;
    };
    const t0 = performance.now();
    const local = await measured(() => mergeRecordings({ ...base, outDir: join(root, 'local'), chunk: CHUNK, chunkEncoder: timed }));
    const localSplit = { planS: r2((chunksFrom - t0) / 1000), chunksS: r2((chunksTo - chunksFrom) / 1000), restS: r2((performance.now() - chunksTo) / 1000 - 0) };
    const localCheck = await check(local.value.results[0]!.file!, reference);
    console.log(`local chunked: ${local.wallS.toFixed(1)} s wall (plan ${localSplit.planS}, chunks ${localSplit.chunksS}, audio + join + read-back ${localSplit.restS}), ${local.cpuS.toFixed(1)} CPU s`);

    // As a queue job, with 1 and 2 worker processes.
    const queueRuns: { workers: number; wallS: number; cpuS: number; chunks: { by: string; wallS: number }[]; check: Awaited<ReturnType<typeof check>> }[] = [];
    for (const workers of [1, 2]) {
      const redis = await startRedis();
      const queue = new Queue(QUEUE_NAME, { connection: { url: redis.url } });
      const events = new QueueEvents(QUEUE_NAME, { connection: { url: redis.url } });
      await events.waitUntilReady();
      const children: ChildProcess[] = [];
      try {
        for (let w = 0; w < workers; w++) children.push(await startWorker(redis.url, [source, root], `w${w + 1}`));
        const output = join(root, `queue-${workers}`);
        // The workers' CPU from when they are ready (their start-up is not the job's) to the job's end.
        const cpu = async () => (await Promise.all(children.map((c) => processCpuS(c.pid!)))).reduce((a, b) => a + b, 0);
        const cpu0 = await cpu();
        const started = performance.now();
        const { id } = await enqueueMerge({ source, output, options: { transcode: true, preset: PRESET, chunk: CHUNK } }, { redis: redis.url, queue });
        const job = (await queue.getJob(id))!;
        const value = (await job.waitUntilFinished(events)) as JobResult;
        const wallS = (performance.now() - started) / 1000;
        const cpuS = (await cpu()) - cpu0;
        const done = Object.values(await (await queue.getJob(id))!.getChildrenValues()) as { by: string; elapsedMs: number }[];
        const chunks = done.map((c) => ({ by: c.by, wallS: r2(c.elapsedMs / 1000) }));
        const result = await check(join(output, value.outputs[0]!.file), reference);
        queueRuns.push({ workers, wallS: r2(wallS), cpuS: r2(cpuS), chunks, check: result });
        console.log(`queue, ${workers} worker(s): ${wallS.toFixed(1)} s wall (enqueue to completed), ${cpuS.toFixed(1)} CPU s (workers and their ffmpeg); chunk jobs: ${chunks.map((c) => `${c.by} ${c.wallS} s`).join(', ')}`);
      } finally {
        await Promise.all(children.map(stopped));
        await events.close();
        await queue.close();
        await redis.stop();
      }
    }

    const chunkWall = perChunk.reduce((a, c) => a + c.wallS, 0);
    const chunkCpu = perChunk.reduce((a, c) => a + c.cpuS, 0);
    const serialS = localSplit.planS + localSplit.restS;
    const report = {
      date: new Date().toISOString(),
      cores: availableParallelism(),
      loadBefore,
      recording: { seconds: SECONDS, width: 1280, height: 720, fps: 30, content: 'camera' },
      chunkS: CHUNK,
      preset: PRESET,
      single: { wallS: r2(single.wallS), cpuS: r2(single.cpuS), frames: reference.frames, decodeClean: reference.decodeClean },
      perChunk,
      local: { wallS: r2(local.wallS), cpuS: r2(local.cpuS), ...localSplit, check: localCheck },
      queue: queueRuns,
      model: {
        serialS: r2(serialS),
        chunksSerialWallS: r2(chunkWall),
        chunksCpuS: r2(chunkCpu),
        chunkCpuOverSingle: r2(chunkCpu / single.cpuS),
        note: 'T(N) ~= serial (plan + audio + join + read-back, on the merge job\'s worker) + chunk encodes / N, with N machines of this one\'s cores',
        predicted: Object.fromEntries([1, 2, 4, 8].map((n) => [n, r2(serialS + chunkWall / n)])),
      },
    };
    await mkdir('.bench', { recursive: true });
    await writeFile('.bench/chunks.json', `${JSON.stringify(report, null, 1)}\n`);
    console.log(JSON.stringify(report.model, null, 1));
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

await main();
