// Chunks of a long re-encoded output as queue jobs (issue 20.3): two real worker processes against a real
// redis-server share a merge job's chunks (the chunk job records say who encoded which), the joined output
// is timed exactly as a single encode and decodes clean; a worker SIGKILLed mid-chunk loses nothing (the
// chunk is redone elsewhere, once); a chunk job whose plan differs, or that names a place outside the
// allow-list, is refused.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { Queue, QueueEvents, UnrecoverableError, Worker, type Job } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mergeRecordings } from '../src/api.js';
import { CHUNK_FOLDER, CHUNK_JOB_NAME, chunkQueueName, processChunkJob, queueChunkEncoder, type ChunkJobData, type ChunkJobResult } from '../src/queue/chunk-job.js';
import { enqueueMerge } from '../src/queue/enqueue.js';
import { QUEUE_NAME, toMergeOptions, type MergeJobData, type MergeJobOptions } from '../src/queue/job.js';
import { createTrust } from '../src/queue/trust.js';
import type { JobResult } from '../src/queue/worker.js';
import { expectDecodesClean } from './support/decode-clean.js';
import { probe } from './support/measure.js';
import { writeRecording, type WrittenRecording } from './support/recording-fixture.js';
import { startRedis, type TestRedis } from './support/redis.js';
import { startS3Server, TEST_CREDENTIALS, testClient, type TestS3Server } from './support/s3-server.js';
import { expectMarkers, T0 } from './support/sync.js';
import { settledJob, until } from './support/wait.js';

const ENTRY = new URL('./support/queue-cli-main.ts', import.meta.url).pathname;
const FPS = 15;
// 12 s of video in chunks of 60 frames: markers on the last frame of the first chunk (59), the first of the
// last one (120), and inside the chunks.
const markers = [T0 + 1500, T0 + 3933, T0 + 6000, T0 + 8000, T0 + 10_500];
/** Recorder-shaped: slice names jittered by up to 15 ms, EXTINF as the recorder rounds it, video cut mid-GOP twice. */
const RECORDER = { jitterMs: 15, extinf: 'recorder' as const };
const FORCED_CUTS_MS = [4700, 7350];
/** Where each marker's white frame really is, in output seconds (t = 0 at the user's first slice name). */
const truthSeconds = (w: WrittenRecording) => {
  const origin = Math.min(...w.slices.map((s) => s.nameStartMs));
  return w.truth.map((t) => (t.videoMs! - origin) / 1000);
};

interface WorkerProcess {
  name: string;
  child: ChildProcess;
  lines: string[];
  exit: Promise<number | null>;
}

function spawnWorker(redisUrl: string, name: string, allowed: string[], endpoint: string, extra: string[] = []): WorkerProcess {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', ENTRY, 'worker', '--redis', redisUrl, '--name', name, '--lock-duration', '2000', '--stalled-interval', '1000', '--merge-concurrency', '1', ...extra, '--allow-endpoint', endpoint, '--allow', ...allowed],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, AWS_ACCESS_KEY_ID: TEST_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: TEST_CREDENTIALS.secretAccessKey } },
  );
  const lines: string[] = [];
  let partial = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    const parts = (partial + chunk.toString()).split('\n');
    partial = parts.pop()!;
    lines.push(...parts);
  });
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { name, child, lines, exit };
}

/** The chunk jobs of a merge job, from BullMQ's own records of its children. */
async function chunkJobsOf(parent: Job, chunks: Queue): Promise<Job[]> {
  const { processed = {} } = await parent.getDependencies();
  const ids = Object.keys(processed).map((key) => key.split(':').at(-1)!);
  const jobs = await Promise.all(ids.map((id) => chunks.getJob(id)));
  return jobs.filter((j): j is Job => j !== undefined).sort((a, b) => (a.data as ChunkJobData).index - (b.data as ChunkJobData).index);
}

describe('chunks as queue jobs', () => {
  let redis: TestRedis;
  let s3: TestS3Server;
  let root: string;
  let queue: Queue;
  let chunks: Queue;
  let source: string;
  let written: WrittenRecording;
  let single: string;
  let allowed: string[];
  const workers: WorkerProcess[] = [];
  const options: MergeJobOptions = { transcode: true, chunk: 4, size: { width: 640, height: 360 }, preset: 'medium' };

  const enqueue = (data: MergeJobData) => enqueueMerge(data, { redis: redis.url, queue, jobOptions: { backoff: { type: 'fixed', delay: 200 } } });
  const ready = (w: WorkerProcess) => w.lines.some((l) => l.includes('waiting for jobs'));

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'recmerge-queue-chunks-'));
    [redis, s3] = await Promise.all([startRedis(), startS3Server()]);
    await s3.createBucket('merged');
    queue = new Queue(QUEUE_NAME, { connection: { url: redis.url } });
    chunks = new Queue(chunkQueueName(QUEUE_NAME), { connection: { url: redis.url } });
    allowed = [join(root, 'rec'), join(root, 'out'), 's3://merged/'];
    workers.push(spawnWorker(redis.url, 'w1', allowed, s3.endpoint), spawnWorker(redis.url, 'w2', allowed, s3.endpoint));
    source = join(root, 'rec', 'class');
    written = await writeRecording(source, {
      sid: 'abcdef0123456789abcdef0123456789',
      cname: 'long_class',
      ...RECORDER,
      users: [{ uid: '5', markers, audio: [{ startMs: T0, durationMs: 12_000, sliceMs: 3000 }], video: [{ startMs: T0, durationMs: 12_000, width: 320, height: 180, fps: FPS, sliceMs: 3000, forceCutsMs: FORCED_CUTS_MS }] }],
    });
    // The reference: one encode of the whole output, on this machine.
    const reference = await mergeRecordings({ source, outDir: join(root, 'single'), transcode: true, size: { width: 640, height: 360 }, preset: 'medium' });
    single = reference.results[0]!.file!;
    await until('both workers to be ready', () => workers.every(ready), 30_000);
  }, 120_000);

  afterAll(async () => {
    for (const w of workers) if (w.child.exitCode === null) w.child.kill('SIGKILL');
    await Promise.all(workers.map((w) => w.exit));
    await chunks?.close();
    await queue?.close();
    await redis?.stop();
    await s3?.stop();
    if (root) await rm(root, { recursive: true, force: true });
  });

  /** The joined output against the single encode: markers at the truth, the same frames, A/V length, clean decode. */
  async function expectLikeSingle(file: string): Promise<void> {
    await expectMarkers(file, truthSeconds(written), FPS);
    const [s, c] = [await probe(single), await probe(file)];
    expect(c.video!.frames).toBe(s.video!.frames);
    expect(c.video!.frames).toBe(Math.round(c.durationS * FPS));
    expect(c.video!.startS).toBeCloseTo(s.video!.startS, 3);
    expect(c.durationS).toBeCloseTo(s.durationS, 2);
    expect(c.audio!.endS).toBeCloseTo(s.audio!.endS, 3);
    await expectDecodesClean(file);
  }

  it('spreads the chunks over both workers and joins them into the single encode', async () => {
    const { id } = await enqueue({ source, output: join(root, 'out', 'a'), options });
    const parent = await settledJob(queue, id, 120_000);
    expect(await parent.getState(), parent.failedReason).toBe('completed');
    const records = await chunkJobsOf(parent, chunks);
    expect(records.map((j) => (j.data as ChunkJobData).index)).toEqual([0, 1, 2]);
    const by = records.map((j) => (j.returnvalue as ChunkJobResult).by);
    expect(new Set(by), `chunks encoded by ${by.join(', ')}`).toEqual(new Set(['w1', 'w2']));
    const result = parent.returnvalue as JobResult;
    await expectLikeSingle(join(root, 'out', 'a', result.outputs[0]!.file));
    // The chunk files were removed after the join.
    expect(await readdir(join(root, 'out', 'a', CHUNK_FOLDER))).toEqual([]);
  }, 180_000);

  it('puts the chunks beside an s3:// output (uploaded whole, downloaded for the join, removed after)', async () => {
    const endpoint = { endpoint: s3.endpoint, forcePathStyle: true };
    const { id } = await enqueue({ source, output: 's3://merged/class/', options: { ...options, ...endpoint } });
    const parent = await settledJob(queue, id, 120_000);
    expect(await parent.getState(), parent.failedReason).toBe('completed');
    const records = await chunkJobsOf(parent, chunks);
    expect(records).toHaveLength(3);
    const by = records.map((j) => (j.returnvalue as ChunkJobResult).by);
    expect(new Set(by), `chunks encoded by ${by.join(', ')}`).toEqual(new Set(['w1', 'w2']));
    const client = testClient(s3.endpoint);
    try {
      const output = (parent.returnvalue as JobResult).outputs[0]!;
      const object = await client.send(new GetObjectCommand({ Bucket: 'merged', Key: `class/${output.file}` }));
      const file = join(root, 'from-s3.mp4');
      await writeFile(file, await object.Body!.transformToByteArray());
      await expectLikeSingle(file);
      const left = await client.send(new ListObjectsV2Command({ Bucket: 'merged', Prefix: `class/${CHUNK_FOLDER}/` }));
      expect(left.Contents ?? []).toEqual([]);
    } finally {
      client.destroy();
    }
  }, 180_000);

  it('redoes the chunk of a worker SIGKILLed mid-chunk, once, and the output is still right', async () => {
    // Slower chunks, so that one is surely under way when its worker dies.
    const slow: MergeJobOptions = { ...options, size: { width: 1280, height: 720 }, preset: 'slower' };
    const seen = new Map(workers.map((w) => [w, w.lines.length]));
    const { id } = await enqueue({ source, output: join(root, 'out', 'b'), options: slow });
    const holder = await until('a worker to take the merge job', () => workers.find((w) => w.lines.some((l) => l.startsWith(`job ${id}: started`))), 60_000);
    const victim = workers.find((w) => w !== holder)!;
    const started = await until('the other worker to start a chunk', () => victim.lines.slice(seen.get(victim)).find((l) => /^chunk \S+: started/.test(l)), 60_000);
    const chunkId = started.split(' ')[1]!.replace(/:$/, '');
    await new Promise((r) => setTimeout(r, 1000));
    expect(await (await chunks.getJob(chunkId))!.getState()).toBe('active');
    victim.child.kill('SIGKILL');
    await victim.exit;
    workers.splice(workers.indexOf(victim), 1);

    const parent = await settledJob(queue, id, 240_000);
    expect(await parent.getState(), parent.failedReason).toBe('completed');
    const records = await chunkJobsOf(parent, chunks);
    expect(records).toHaveLength(3);
    const redone = records.find((j) => j.id === chunkId)!;
    expect((redone.returnvalue as ChunkJobResult).by).toBe(holder.name);
    expect(redone.stalledCounter + redone.attemptsMade).toBeGreaterThanOrEqual(1);
    for (const j of records) expect((j.returnvalue as ChunkJobResult).by).toBe(holder.name);
    await expectLikeSingle(join(root, 'out', 'b', (parent.returnvalue as JobResult).outputs[0]!.file));
  }, 300_000);

  it('hands a merge job back on SIGTERM while its chunks run: the next worker joins them, no chunk encoded twice', async () => {
    // Two fresh workers with a 1 s grace period (the one left from the test before stops).
    for (const w of workers.splice(0)) {
      w.child.kill('SIGTERM');
      await w.exit;
    }
    workers.push(spawnWorker(redis.url, 'w3', allowed, s3.endpoint, ['--grace', '1']), spawnWorker(redis.url, 'w4', allowed, s3.endpoint, ['--grace', '1']));
    await until('both workers to be ready', () => workers.every(ready), 30_000);
    const slow: MergeJobOptions = { ...options, size: { width: 1280, height: 720 }, preset: 'slower' };
    const { id } = await enqueue({ source, output: join(root, 'out', 'd'), options: slow });
    const holder = await until('a worker to take the merge job', () => workers.find((w) => w.lines.some((l) => l.startsWith(`job ${id}: started`))), 60_000);
    await until('a chunk to be under way', async () => (await chunks.getActiveCount()) > 0, 60_000);
    holder.child.kill('SIGTERM');
    expect(await holder.exit).toBe(0);
    expect(holder.lines.some((l) => l.includes(`job ${id}: handed back`)), holder.lines.join('\n')).toBe(true);

    const parent = await settledJob(queue, id, 240_000);
    expect(await parent.getState(), parent.failedReason).toBe('completed');
    const records = await chunkJobsOf(parent, chunks);
    expect(records.map((j) => (j.data as ChunkJobData).index)).toEqual([0, 1, 2]);
    // Each chunk job was encoded to the end once, whoever began it.
    const encoded = workers.flatMap((w) => w.lines).filter((l) => /^chunk \S+: encoded/.test(l));
    for (const j of records) expect(encoded.filter((l) => l.startsWith(`chunk ${j.id}: encoded`)), `chunk ${j.id}`).toHaveLength(1);
    await expectLikeSingle(join(root, 'out', 'd', (parent.returnvalue as JobResult).outputs[0]!.file));
  }, 300_000);

  it('refuses a chunk whose plan differs and one that names a place outside the allow-list', async () => {
    const merge: MergeJobData = { source, output: join(root, 'out', 'c'), options };
    const chunk = { outputId: 'abcdef0123456789abcdef0123456789/5', index: 1, count: 3, fromFrame: 60, toFrame: 120 };
    const differs = await chunks.add(CHUNK_JOB_NAME, { merge, ...chunk, fingerprint: '0'.repeat(24) } satisfies ChunkJobData, { attempts: 3 });
    const outside = await chunks.add(CHUNK_JOB_NAME, { merge: { ...merge, output: join(root, 'elsewhere') }, ...chunk, fingerprint: '0'.repeat(24) } satisfies ChunkJobData, { attempts: 3 });
    const [a, b] = [await settledJob(chunks, differs.id!, 60_000), await settledJob(chunks, outside.id!, 60_000)];
    expect(a.failedReason).toMatch(/plan of the output differs.*refused/);
    expect(a.attemptsMade).toBe(1);
    expect(b.failedReason).toMatch(/output not allowed/);
    expect(b.attemptsMade).toBe(1);
  }, 120_000);
});

describe('a queue merge job whose chunk fails', () => {
  let redis: TestRedis;
  let root: string;
  let source: string;
  let written: WrittenRecording;
  const options: MergeJobOptions = { transcode: true, chunk: 4 };

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'recmerge-chunk-fails-'));
    redis = await startRedis();
    source = join(root, 'rec');
    written = await writeRecording(source, {
      sid: 'abcdef0123456789abcdef0123456789',
      cname: 'long_class',
      ...RECORDER,
      users: [{ uid: '5', markers, audio: [{ startMs: T0, durationMs: 12_000, sliceMs: 3000 }], video: [{ startMs: T0, durationMs: 12_000, width: 160, height: 90, fps: FPS, sliceMs: 3000, forceCutsMs: FORCED_CUTS_MS }] }],
    });
  }, 60_000);

  afterAll(async () => {
    await redis?.stop();
    if (root) await rm(root, { recursive: true, force: true });
  });

  /**
   * The merge run in this process with the queue's ChunkEncoder (its parent a real job of `name`), and a chunk
   * Worker in this process whose second chunk fails as `fail` says (null: encoded).
   */
  async function mergeWith(name: string, fail: (attemptsMade: number) => Error | null) {
    const connection = { url: redis.url };
    const merges = new Queue(name, { connection });
    const chunkQueue = new Queue(chunkQueueName(name), { connection });
    const events = new QueueEvents(chunkQueueName(name), { connection });
    await events.waitUntilReady();
    const trust = await createTrust({ allow: [root] });
    const worker = new Worker(
      chunkQueueName(name),
      async (job: Job, _token?: string, signal?: AbortSignal) => {
        const error = (job.data as ChunkJobData).index === 1 ? fail(job.attemptsMade) : null;
        if (error) throw error;
        return processChunkJob(job, trust, 'in-process', undefined, signal ?? new AbortController().signal);
      },
      { connection },
    );
    try {
      const merge: MergeJobData = { source, output: join(root, name), options };
      const parent = await merges.add('merge', merge);
      const summary = await mergeRecordings({ ...toMergeOptions(merge, merge.output), chunkEncoder: queueChunkEncoder(parent, merge, merge.output, chunkQueue, events) });
      const children = await chunkQueue.getJobs(['completed', 'failed']);
      const dependencies = await parent.getDependenciesCount();
      return { result: summary.results[0]!, children, dependencies };
    } finally {
      await worker.close();
      await events.close();
      await chunkQueue.close();
      await merges.close();
    }
  }

  it('retries a chunk that failed once: the output is whole and right', async () => {
    const { result, children } = await mergeWith('retried', (made) => (made === 0 ? new Error('ffmpeg was killed') : null));
    expect(result.error).toBeNull();
    const second = children.find((j) => (j.data as ChunkJobData).index === 1)!;
    expect(second.attemptsMade).toBe(2);
    expect(children).toHaveLength(3);
    await expectMarkers(result.file!, truthSeconds(written), FPS);
    const info = await probe(result.file!);
    expect(info.video!.frames).toBe(Math.round(info.durationS * FPS));
    await expectDecodesClean(result.file!);
  }, 120_000);

  it('fails the output naming the chunk that failed for good, and leaves no dependency behind', async () => {
    const { result, dependencies } = await mergeWith('failed', () => new UnrecoverableError('the encoder exploded'));
    expect(result.file).toBeNull();
    expect(result.error).toMatch(/chunk 2 of 3 \(output frames 60-120\) failed: the encoder exploded/);
    expect(dependencies.unprocessed).toBe(0);
  }, 120_000);
});
