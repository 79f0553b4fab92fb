// Worker processes against a real redis-server: sharing, SIGKILL recovery, SIGTERM hand-back, poisoned
// jobs, dedupe and the manifest. The workers are real child processes running the CLI code.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enqueueMerge } from '../src/queue/enqueue.js';
import { QUEUE_NAME, type MergeJobData } from '../src/queue/job.js';
import type { JobProgress, JobResult } from '../src/queue/worker.js';
import { writeRecording } from './support/recording-fixture.js';
import { startRedis, type TestRedis } from './support/redis.js';
import { settledJob, until } from './support/wait.js';

const execFileAsync = promisify(execFile);
const ENTRY = new URL('./support/queue-cli-main.ts', import.meta.url).pathname;
const T0 = Date.UTC(2026, 0, 5, 9, 0, 0);
const LONG_MS = 20_000;

interface WorkerProcess {
  name: string;
  child: ChildProcess;
  lines: string[];
  exit: Promise<number | null>;
}

/** What the workers may touch: the test's recordings and outputs (set once the folder exists). */
let allowed: string[] = [];

function spawnWorker(redisUrl: string, name: string, extra: string[] = []): WorkerProcess {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', ENTRY, 'worker', '--redis', redisUrl, '--lock-duration', '2000', '--stalled-interval', '1000', '--merge-concurrency', '1', ...extra, '--allow', ...allowed],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const lines: string[] = [];
  let partial = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    const text = partial + chunk.toString();
    const parts = text.split('\n');
    partial = parts.pop()!;
    lines.push(...parts);
  });
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { name, child, lines, exit };
}

async function probeMedia(file: string): Promise<{ duration: number; width?: number; height?: number; codecs: string[] }> {
  const { stdout } = await execFileAsync('ffprobe', ['-v', 'error', '-show_entries', 'format=duration:stream=codec_name,width,height', '-of', 'json', file]);
  const info = JSON.parse(stdout) as { format: { duration: string }; streams: { codec_name: string; width?: number; height?: number }[] };
  const video = info.streams.find((s) => s.width);
  return { duration: Number(info.format.duration), width: video?.width, height: video?.height, codecs: info.streams.map((s) => s.codec_name) };
}

const startedIn = (w: WorkerProcess, id: string) => w.lines.filter((l) => l.startsWith(`job ${id}: started`)).length;
const finishedIn = (w: WorkerProcess, id: string) => w.lines.some((l) => l.startsWith(`job ${id}: merged`) || l.startsWith(`job ${id}: already complete`));

describe('queue workers', () => {
  let redis: TestRedis;
  let root: string;
  let queue: Queue;
  const workers: WorkerProcess[] = [];
  const small: string[] = [];
  let longSource: string;

  const enqueue = (data: MergeJobData) => enqueueMerge(data, { redis: redis.url, queue, jobOptions: { backoff: { type: 'fixed', delay: 200 } } });
  const settled = (id: string, timeoutMs?: number) => settledJob(queue, id, timeoutMs);
  const outDir = (name: string) => join(root, 'out', name);

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'recmerge-queue-'));
    redis = await startRedis();
    allowed = [join(root, 'rec'), join(root, 'out')];
    queue = new Queue(QUEUE_NAME, { connection: { url: redis.url } });
    workers.push(spawnWorker(redis.url, 'w1'), spawnWorker(redis.url, 'w2'));

    const user = (uid: string, ms: number, width: number, height: number) => ({
      uid,
      audio: [{ startMs: T0, durationMs: ms }],
      video: [{ startMs: T0, durationMs: ms, width, height, fps: 15 }],
    });
    for (let i = 0; i < 6; i++) {
      const source = join(root, 'rec', `small${i}`);
      await writeRecording(source, { sid: `${i}`.repeat(32), cname: `room${i}`, users: [user(String(100 + i), 4000, 160, 120)] });
      small.push(source);
    }
    longSource = join(root, 'rec', 'long');
    await writeRecording(longSource, { sid: 'f'.repeat(32), cname: 'lecture', users: [user('7', LONG_MS, 320, 240)] });
    await until('both workers to be ready', () => workers.every((w) => w.lines.some((l) => l.includes('waiting for jobs'))), 20_000);
  });

  afterAll(async () => {
    for (const w of workers) if (w.child.exitCode === null) w.child.kill('SIGKILL');
    await Promise.all(workers.map((w) => w.exit));
    await queue?.close();
    await redis?.stop();
    if (root) await rm(root, { recursive: true, force: true });
  });

  it('shares jobs between two worker processes', async () => {
    const ids: string[] = [];
    for (const i of [0, 1, 2, 3]) ids.push((await enqueue({ source: small[i]!, output: outDir(`small${i}`), options: { transcode: true } })).id);
    for (const id of ids) expect(await (await settled(id)).getState()).toBe('completed');
    for (const i of [0, 1, 2, 3]) {
      const folder = outDir(`small${i}`);
      const manifest = JSON.parse(await readFile(join(folder, (await readManifestName(folder))!), 'utf8'));
      expect(manifest.outputs).toHaveLength(1);
      expect((await stat(join(outDir(`small${i}`), manifest.outputs[0].file))).size).toBe(manifest.outputs[0].size);
    }
    const byWorker = workers.map((w) => ids.filter((id) => finishedIn(w, id)).length);
    expect(byWorker[0]! + byWorker[1]!).toBe(4);
    expect(Math.min(...byWorker)).toBeGreaterThan(0);
  });

  it('finishes the job of a SIGKILLed worker on the other one', async () => {
    const { id } = await enqueue({
      source: longSource,
      output: outDir('long'),
      options: { transcode: true, size: { width: 1280, height: 720 }, fps: 30, preset: 'veryslow' },
    });
    const victim = await until('a worker to start the long job', () => workers.find((w) => startedIn(w, id) > 0));
    await until('the merge to be under way', async () => ((await queue.getJob(id))?.progress as JobProgress | undefined)?.phase === 'merge');
    victim.child.kill('SIGKILL');
    await victim.exit;

    const job = await settled(id, 45_000);
    expect(await job.getState()).toBe('completed');
    const survivor = workers.find((w) => w !== victim)!;
    expect(finishedIn(survivor, id)).toBe(true);
    const result = job.returnvalue as JobResult;
    expect(result.noop).toBe(false);
    const media = await probeMedia(join(outDir('long'), result.outputs[0]!.file));
    expect(media.duration).toBeGreaterThan(LONG_MS / 1000 - 0.2);
    expect(media.duration).toBeLessThan(LONG_MS / 1000 + 0.2);
    expect([media.width, media.height]).toEqual([1280, 720]);
    expect(media.codecs.sort()).toEqual(['aac', 'h264']);

    workers.splice(workers.indexOf(victim), 1);
    const replacement = spawnWorker(redis.url, 'w3');
    workers.push(replacement);
    await until('the replacement worker', () => replacement.lines.some((l) => l.includes('waiting for jobs')), 20_000);
  });

  it('fails a poisoned job with its reason, without retries, and goes on with the next', async () => {
    const garbage = join(root, 'rec', 'garbage');
    await mkdir(garbage, { recursive: true });
    await writeFile(join(garbage, 'readme.txt'), 'not a recording');
    await writeFile(join(garbage, `${'c'.repeat(32)}_x__uid_s_1__uid_e_video.m3u8`), Buffer.from([0xff, 0xfe, 0, 1]));
    const poisoned = await enqueue({ source: garbage, output: outDir('garbage') });
    const missing = await enqueue({ source: join(root, 'rec', 'no-such-folder'), output: outDir('missing') });
    const next = await enqueue({ source: small[4]!, output: outDir('small4') });

    const failed = await settled(poisoned.id);
    expect(await failed.getState()).toBe('failed');
    expect(failed.failedReason).toMatch(/1 of 1 outputs failed: .*playlist is not UTF-8 text/);
    expect(failed.attemptsMade).toBe(1);
    const gone = await settled(missing.id);
    expect(gone.failedReason).toMatch(/source folder not found/);
    expect(gone.attemptsMade).toBe(1);
    expect(await (await settled(next.id)).getState()).toBe('completed');

    // Once the problem is fixed, asking again runs the failed job again.
    await mkdir(join(root, 'rec', 'no-such-folder'));
    await writeFile(join(root, 'rec', 'no-such-folder', 'readme.txt'), 'still nothing');
    expect(await enqueue({ source: join(root, 'rec', 'no-such-folder'), output: outDir('missing') })).toEqual({ id: missing.id, created: false, retried: true });
    await until('the retried job to run', async () => (await queue.getJob(missing.id))?.failedReason?.includes('no recording found'));
  });

  it('merges a recording enqueued twice once, and a rerun after completion is a no-op', async () => {
    const data: MergeJobData = { source: small[5]!, output: outDir('small5'), options: { gaps: 'black' } };
    const [a, b] = await Promise.all([enqueue(data), enqueue(data)]);
    expect(a.id).toBe(b.id);
    expect([a.created, b.created].sort()).toEqual([false, true]);
    const job = await settled(a.id);
    expect((job.returnvalue as JobResult).noop).toBe(false);
    const again = await enqueue(data);
    expect(again).toEqual({ id: a.id, created: false });
    expect(workers.reduce((n, w) => n + startedIn(w, a.id), 0)).toBe(1);

    // The job record is gone (retention) but the outputs and manifest are there: nothing is redone.
    const file = join(outDir('small5'), (job.returnvalue as JobResult).outputs[0]!.file);
    const before = (await stat(file)).mtimeMs;
    await job.remove();
    const rerun = await enqueue(data);
    expect(rerun.created).toBe(true);
    const done = await settled(rerun.id);
    expect((done.returnvalue as JobResult).noop).toBe(true);
    expect((await stat(file)).mtimeMs).toBe(before);
  });

  it('on SIGTERM hands a running job back after the grace period, and exits 0', async () => {
    const quick = spawnWorker(redis.url, 'w4', ['--grace', '1']);
    await until('the short-grace worker', () => quick.lines.some((l) => l.includes('waiting for jobs')), 20_000);
    // Only the short-grace worker may take the next job: stop the others.
    for (const w of [...workers]) {
      w.child.kill('SIGTERM');
      expect(await w.exit).toBe(0);
      workers.splice(workers.indexOf(w), 1);
    }
    workers.push(quick);
    const { id } = await enqueue({ source: longSource, output: outDir('long-term'), options: { transcode: true, size: { width: 1280, height: 720 }, fps: 30, preset: 'veryslow' } });
    await until('the merge to be under way', async () => ((await queue.getJob(id))?.progress as JobProgress | undefined)?.phase === 'merge');
    quick.child.kill('SIGTERM');
    expect(await quick.exit).toBe(0);
    expect(quick.lines.some((l) => l.includes(`job ${id}: handed back`))).toBe(true);
    expect(await (await queue.getJob(id))!.getState()).toBe('waiting');

    const taker = spawnWorker(redis.url, 'w5');
    workers.push(taker);
    const job = await settled(id, 45_000);
    expect(await job.getState()).toBe('completed');
    expect(finishedIn(taker, id)).toBe(true);
  });
});

async function readManifestName(folder: string): Promise<string | undefined> {
  return (await readdir(folder)).find((f) => f.startsWith('recmerge-manifest-') && f.endsWith('.json'));
}
