// The whole path on S3: a signed "uploaded" notification -> serve -> Redis -> worker -> merged file and
// manifest in the output bucket; the same merge again is a no-op found through the manifest on S3.
import { readdir, readFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enqueueMerge } from '../src/queue/enqueue.js';
import { QUEUE_NAME, type QueuedMergeJob } from '../src/queue/job.js';
import { signBody } from '../src/queue/notification.js';
import { startNotificationServer, type NotificationServer } from '../src/queue/server.js';
import { startWorker, type JobResult, type Manifest, type RunningWorker } from '../src/queue/worker.js';
import { writeRecording } from './support/recording-fixture.js';
import { startRedis, type TestRedis } from './support/redis.js';
import { startS3Server, TEST_CREDENTIALS, type TestS3Server } from './support/s3-server.js';
import { settledJob } from './support/wait.js';

const SID = '5e1d0c9b8a7f6e5d4c3b2a1908f7e6d5';
const SECRET = 'notify-secret';
const T0 = Date.UTC(2026, 2, 1, 8, 0, 0);

describe('queue with S3 storage', () => {
  let redis: TestRedis;
  let s3: TestS3Server;
  let server: NotificationServer;
  let worker: RunningWorker;
  let queue: Queue;
  let root: string;
  const saved = { ...process.env };

  beforeAll(async () => {
    [redis, s3] = await Promise.all([startRedis(), startS3Server()]);
    process.env.AWS_ACCESS_KEY_ID = TEST_CREDENTIALS.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = TEST_CREDENTIALS.secretAccessKey;
    root = await mkdtemp(join(tmpdir(), 'recmerge-queue-s3-'));
    const local = join(root, 'rec');
    await writeRecording(local, {
      sid: SID,
      cname: 'physics',
      users: [
        { uid: '11', audio: [{ startMs: T0, durationMs: 6000 }], video: [{ startMs: T0, durationMs: 6000, width: 160, height: 120, fps: 15 }] },
        { uid: '12', audio: [{ startMs: T0 + 2000, durationMs: 4000 }] },
      ],
    });
    await s3.createBucket('rec');
    await s3.createBucket('merged');
    for (const name of await readdir(local)) await s3.put('rec', `recordings/physics/${SID}/${name}`, await readFile(join(local, name)));

    queue = new Queue(QUEUE_NAME, { connection: { url: redis.url } });
    server = await startNotificationServer({
      redis: redis.url,
      port: 0,
      host: '127.0.0.1',
      secret: SECRET,
      sourceTemplate: 's3://rec/recordings/{cname}/{sid}',
      outputTemplate: 's3://merged/{date}/{sid}',
      mergeOptions: { endpoint: s3.endpoint, forcePathStyle: true },
      log: () => undefined,
    });
    worker = await startWorker({ redis: redis.url, allow: ['s3://rec/recordings', 's3://merged'], allowEndpoints: [s3.endpoint], workDir: root, log: () => undefined });
  });

  afterAll(async () => {
    await worker?.close();
    await server?.close();
    await queue?.close();
    await Promise.all([redis?.stop(), s3?.stop()]);
    if (root) await rm(root, { recursive: true, force: true });
    process.env = saved;
  });

  const settled = (id: string) => settledJob(queue, id, 30_000);

  it('merges a notified recording from S3 to S3 and records it in a manifest; a rerun is a no-op', async () => {
    const body = JSON.stringify({
      noticeId: 'e2e-1',
      productId: 3,
      eventType: 31,
      notifyMs: T0 + 60_000,
      payload: { cname: 'physics', uid: '0', sid: SID, sequence: 3, sendts: T0 + 59_000, serviceType: 0, details: { msgName: 'uploaded', status: 0 } },
    });
    const res = await fetch(server.url, { method: 'POST', body, headers: { 'content-type': 'application/json', ...signBody(body, SECRET) } });
    expect(res.status).toBe(200);
    const { jobId } = (await res.json()) as { jobId: string };

    const job = await settled(jobId);
    expect(job.failedReason).toBeUndefined();
    const result = job.returnvalue as JobResult;
    expect(result.noop).toBe(false);
    expect(result.outputs.map((o) => o.uid).sort()).toEqual(['11', '12']);
    expect(result.manifest).toMatch(/^s3:\/\/merged\/20260301\/5e1d0c9b8a7f6e5d4c3b2a1908f7e6d5\/recmerge-manifest-[0-9a-f]{32}\.json$/);

    const listed = await s3.client.send(new ListObjectsV2Command({ Bucket: 'merged', Prefix: `20260301/${SID}/` }));
    const keys = (listed.Contents ?? []).map((o) => o.Key!.split('/').pop()!).sort();
    // Each output with its events sidecars (events.json, chapters.vtt), and the manifest.
    const sidecars = (f: string) => [f, `${f}.chapters.vtt`, `${f}.events.json`];
    expect(keys).toEqual([...result.outputs.flatMap((o) => sidecars(o.file)), result.manifest.split('/').pop()!].sort());
    for (const o of result.outputs) expect([o.events, o.chapters]).toEqual([`${o.file}.events.json`, `${o.file}.chapters.vtt`]);
    for (const output of result.outputs) {
      const head = await s3.client.send(new HeadObjectCommand({ Bucket: 'merged', Key: `20260301/${SID}/${output.file}` }));
      expect(head.ContentLength).toBe(output.size);
      expect(output.uploaded).toBe(`s3://merged/20260301/${SID}/${output.file}`);
    }
    const manifestObject = await s3.client.send(new GetObjectCommand({ Bucket: 'merged', Key: `20260301/${SID}/${result.manifest.split('/').pop()}` }));
    const manifest = JSON.parse(await manifestObject.Body!.transformToString()) as Manifest;
    expect(manifest).toMatchObject({ version: 1, jobId, source: `s3://rec/recordings/physics/${SID}/`, output: `s3://merged/20260301/${SID}/` });
    // Nothing of the temporary local copy is left.
    expect((await readdir(root)).filter((f) => f.startsWith('recmerge-'))).toEqual([]);

    // The job record is gone (e.g. retention); the same merge queued again finds the manifest on S3.
    const data = job.data as QueuedMergeJob;
    await job.remove();
    const again = await enqueueMerge({ source: data.source, output: data.output, options: data.options, origin: data.origin }, { redis: redis.url, queue });
    expect(again).toEqual({ id: jobId, created: true });
    expect(((await settled(jobId)).returnvalue as JobResult).noop).toBe(true);
  });
});
