// A worker that loses its job's lock (Redis unreachable for a while, or the job taken over after a
// stall) stops that job at once: another worker may already be running it.
import { mkdtemp, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enqueueMerge } from '../src/queue/enqueue.js';
import { QUEUE_NAME } from '../src/queue/job.js';
import { startWorker, type JobProgress, type RunningWorker } from '../src/queue/worker.js';
import { writeRecording } from './support/recording-fixture.js';
import { startRedis, type TestRedis } from './support/redis.js';
import { until } from './support/wait.js';

const T0 = Date.UTC(2026, 0, 7, 9, 0, 0);

describe('a worker that lost its lock', () => {
  let redis: TestRedis;
  let queue: Queue;
  let admin: Redis;
  let worker: RunningWorker;
  let root: string;
  const lines: string[] = [];

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'recmerge-lock-'));
    await writeRecording(join(root, 'rec'), {
      sid: 'c'.repeat(32),
      cname: 'lock',
      users: [{ uid: '5', audio: [{ startMs: T0, durationMs: 20_000 }], video: [{ startMs: T0, durationMs: 20_000, width: 320, height: 240, fps: 15 }] }],
    });
    redis = await startRedis();
    queue = new Queue(QUEUE_NAME, { connection: { url: redis.url } });
    admin = new Redis(redis.url);
    // Renewed every 500 ms; the stalled check is far away, so nothing else moves the job meanwhile.
    worker = await startWorker({ redis: redis.url, allow: [root], lockDurationMs: 1000, stalledIntervalMs: 60_000, log: (l) => lines.push(l) });
  });

  afterAll(async () => {
    await worker?.close();
    admin?.disconnect();
    await queue?.close();
    await redis?.stop();
  });

  it('stops the merge (its ffmpeg included) and writes nothing', async () => {
    const out = join(root, 'out');
    const { id } = await enqueueMerge(
      { source: join(root, 'rec'), output: out, options: { transcode: true, size: { width: 1280, height: 720 }, fps: 30, preset: 'veryslow' } },
      { redis: redis.url, queue },
    );
    await until('the merge to be under way', async () => ((await queue.getJob(id))?.progress as JobProgress | undefined)?.phase === 'merge');
    // What another worker's takeover looks like from here: the lock is no longer ours.
    await admin.del(`bull:${QUEUE_NAME}:${id}:lock`);
    await until('the job to stop', () => lines.some((l) => l === `job ${id}: stopped (its lock was lost)`), 20_000);
    expect(lines.some((l) => l.startsWith(`job ${id}: lock lost`))).toBe(true);
    expect(lines.some((l) => l.startsWith(`job ${id}: merged`))).toBe(false);
    const written = await readdir(out).catch(() => []);
    expect(written.filter((f) => f.endsWith('.mp4') || f.includes('partial') || f.includes('manifest'))).toEqual([]);
  });
});
