// Benchmark (not a test): recordings merged per minute by 1, 2 and 4 worker processes sharing one local
// redis-server, as ratios to the 1-worker figure. Writes .bench/queue.json.
//   node --import tsx scripts/bench-queue.ts [--jobs 12] [--workers 1,2,4] [--modes copy,transcode] [--rounds 2]
// Rounds run the worker counts in turn (1,2,4,1,2,4...) and keep each count's best time, so that load
// from elsewhere on the machine skews all counts alike.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Queue, QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import { enqueueMerge } from '../src/queue/enqueue.js';
import { QUEUE_NAME } from '../src/queue/job.js';
import { writeRecording } from '../test/support/recording-fixture.js';
import { startRedis } from '../test/support/redis.js';

const { values } = parseArgs({
  options: {
    jobs: { type: 'string', default: '12' },
    workers: { type: 'string', default: '1,2,4' },
    modes: { type: 'string', default: 'copy,transcode' },
    rounds: { type: 'string', default: '2' },
  },
});
const JOBS = Number(values.jobs);
const WORKER_COUNTS = values.workers.split(',').map(Number);
const MODES = values.modes.split(',') as ('copy' | 'transcode')[];
const ROUNDS = Number(values.rounds);
const CLI = resolve('src/cli.ts');
const T0 = Date.UTC(2026, 0, 5, 9, 0, 0);
// Two users, 12 s each, the second joining 3 s late: small, but every job runs the whole pipeline.
const USERS = [
  { uid: '1', startMs: T0, durationMs: 12_000 },
  { uid: '2', startMs: T0 + 3_000, durationMs: 12_000 },
];

function startWorkerProcess(redisUrl: string, allow: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'worker', '--redis', redisUrl, '--allow', allow], { stdio: ['ignore', 'ignore', 'pipe'] });
  return new Promise((resolveReady, reject) => {
    let text = '';
    child.stderr!.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      if (text.includes('waiting for jobs')) resolveReady(child);
    });
    child.once('exit', (code) => reject(new Error(`worker exited (${code}) before it was ready: ${text}`)));
  });
}

async function stopWorkers(children: ChildProcess[]): Promise<void> {
  await Promise.all(
    children.map(
      (child) =>
        new Promise<void>((done) => {
          if (child.exitCode !== null) return done();
          child.once('exit', () => done());
          child.kill('SIGTERM');
        }),
    ),
  );
}

async function run(redisUrl: string, recordings: string[], outRoot: string, workers: number, transcode: boolean): Promise<number> {
  const admin = new Redis(redisUrl);
  await admin.flushdb();
  admin.disconnect();
  const children = await Promise.all(Array.from({ length: workers }, () => startWorkerProcess(redisUrl, resolve(outRoot, '..', '..'))));
  const queue = new Queue(QUEUE_NAME, { connection: { url: redisUrl } });
  const events = new QueueEvents(QUEUE_NAME, { connection: { url: redisUrl } });
  await events.waitUntilReady();
  try {
    let settled = 0;
    const failures: string[] = [];
    const allDone = new Promise<void>((done) => {
      const count = () => ++settled === recordings.length && done();
      events.on('completed', count);
      events.on('failed', ({ jobId, failedReason }) => {
        failures.push(`${jobId}: ${failedReason}`);
        count();
      });
    });
    const started = performance.now();
    for (const [i, source] of recordings.entries()) {
      await enqueueMerge(
        { source, output: join(outRoot, `${workers}w-${transcode ? 't' : 'c'}-${i}`), options: transcode ? { transcode: true } : {} },
        { redis: redisUrl, queue },
      );
    }
    await allDone;
    const seconds = (performance.now() - started) / 1000;
    if (failures.length) throw new Error(`jobs failed: ${failures.join('; ')}`);
    return seconds;
  } finally {
    await events.close();
    await queue.close();
    await stopWorkers(children);
  }
}

async function main(): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'recmerge-bench-queue-'));
  const redis = await startRedis();
  const loadBefore = loadavg()[0]!;
  try {
    const recordings: string[] = [];
    for (let i = 0; i < JOBS; i++) {
      const source = join(root, 'rec', String(i));
      await writeRecording(source, {
        sid: i.toString(16).padStart(32, '0'),
        cname: `bench${i}`,
        users: USERS.map((u) => ({
          uid: u.uid,
          audio: [{ startMs: u.startMs, durationMs: u.durationMs }],
          video: [{ startMs: u.startMs, durationMs: u.durationMs, width: 320, height: 240, fps: 15 }],
        })),
      });
      recordings.push(source);
    }

    const results: { mode: string; workers: number; seconds: number; perMinute: number; ratio: number; rounds: number[] }[] = [];
    for (const mode of MODES) {
      const times = new Map<number, number[]>(WORKER_COUNTS.map((w) => [w, []]));
      for (let round = 0; round < ROUNDS; round++) {
        for (const workers of WORKER_COUNTS) {
          const seconds = await run(redis.url, recordings, join(root, 'out', `r${round}`), workers, mode === 'transcode');
          times.get(workers)!.push(seconds);
          console.log(`${mode.padEnd(9)} round ${round + 1}: ${workers} worker(s) ${seconds.toFixed(1)} s`);
        }
      }
      const base = (JOBS / Math.min(...times.get(WORKER_COUNTS[0]!)!)) * 60;
      for (const workers of WORKER_COUNTS) {
        const seconds = Math.min(...times.get(workers)!);
        const perMinute = (JOBS / seconds) * 60;
        results.push({ mode, workers, seconds: round(seconds), perMinute: round(perMinute), ratio: round(perMinute / base), rounds: times.get(workers)!.map(round) });
        console.log(`${mode.padEnd(9)} ${workers} worker(s): ${JOBS} recordings in ${seconds.toFixed(1)} s = ${perMinute.toFixed(1)}/min, x${(perMinute / base).toFixed(2)}`);
      }
    }

    const report = {
      date: new Date().toISOString(),
      machine: { cpus: availableParallelism(), model: cpus()[0]?.model ?? 'unknown', node: process.version },
      // Other work on the machine skews the ratios; a 1-minute load above the CPU count means a busy machine.
      loadAverage: { before: round(loadBefore), after: round(loadavg()[0]!) },
      recordings: JOBS,
      recording: 'two users, 12 s each (one joins 3 s late), 320x240 15 fps video + AAC audio',
      note: 'best of `rounds` per worker count; ratio = recordings per minute relative to the first worker count of the same mode; workers are separate processes, one job at a time each',
      rounds: ROUNDS,
      results,
    };
    await mkdir('.bench', { recursive: true });
    await writeFile('.bench/queue.json', `${JSON.stringify(report, null, 2)}\n`);
    console.log(`load average ${round(loadBefore)} -> ${round(loadavg()[0]!)} on ${availableParallelism()} CPUs; written to .bench/queue.json`);
  } finally {
    await redis.stop();
    await rm(root, { recursive: true, force: true });
  }
}

const round = (n: number) => Math.round(n * 100) / 100;

await main();
