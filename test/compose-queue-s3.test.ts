// compose from S3 and as a queue job: a compose job (options.compose) through Redis and a worker, reading
// the recording from S3 and uploading the composite and its layout sidecar to S3; job validation.
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { composeRecordings } from '../src/api.js';
import { enqueueMerge } from '../src/queue/enqueue.js';
import { parseJobData, QUEUE_NAME } from '../src/queue/job.js';
import { startWorker, type JobResult, type RunningWorker } from '../src/queue/worker.js';
import { beepTimes } from './support/measure.js';
import { writeRecording } from './support/recording-fixture.js';
import { startRedis, type TestRedis } from './support/redis.js';
import { startS3Server, TEST_CREDENTIALS, type TestS3Server } from './support/s3-server.js';
import { settledJob } from './support/wait.js';

const SID = '0d0d0d0d1e1e1e1e2f2f2f2f3a3a3a3a';
const T0 = Date.UTC(2026, 2, 1, 8, 0, 0);
const markers = [T0 + 1000, T0 + 2500];

describe('compose job validation', () => {
  it('accepts compose options and refuses what a composite cannot do', () => {
    expect(parseJobData({ source: '/r', output: '/o', options: { compose: true, maxTiles: 4, audioTiles: true, labels: { '11': 'Ana' } } }).options).toEqual({
      compose: true,
      maxTiles: 4,
      audioTiles: true,
      labels: { '11': 'Ana' },
    });
    expect(parseJobData({ source: '/r', output: '/o', options: { compose: 'mix-audio' } }).options).toEqual({ compose: 'mix-audio' });
    expect(() => parseJobData({ source: '/r', output: '/o', options: { compose: 'yes' } })).toThrow(/options.compose/);
    expect(() => parseJobData({ source: '/r', output: '/o', options: { compose: true, mode: 'audio' } })).toThrow(/options.mode/);
    expect(() => parseJobData({ source: '/r', output: '/o', options: { compose: true, gaps: 'cut' } })).toThrow(/options.gaps/);
    expect(() => parseJobData({ source: '/r', output: '/o', options: { maxTiles: 0 } })).toThrow(/options.maxTiles/);
  });
});

describe('compose with S3 storage', () => {
  let redis: TestRedis;
  let s3: TestS3Server;
  let worker: RunningWorker;
  let queue: Queue;
  let root: string;
  const saved = { ...process.env };

  beforeAll(async () => {
    [redis, s3] = await Promise.all([startRedis(), startS3Server()]);
    process.env.AWS_ACCESS_KEY_ID = TEST_CREDENTIALS.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = TEST_CREDENTIALS.secretAccessKey;
    root = await mkdtemp(join(tmpdir(), 'recmerge-compose-s3-'));
    const local = join(root, 'rec');
    const video = [{ startMs: T0, durationMs: 3000, width: 160, height: 90, fps: 15 }];
    await writeRecording(local, {
      sid: SID,
      cname: 'chem',
      users: [
        { uid: '11', markers: [markers[0]!], audio: [{ startMs: T0, durationMs: 3000 }], video },
        { uid: '12', markers: [markers[1]!], audio: [{ startMs: T0, durationMs: 3000 }], video },
      ],
    });
    await s3.createBucket('rec');
    await s3.createBucket('merged');
    for (const name of await readdir(local)) await s3.put('rec', `class/${name}`, await readFile(join(local, name)));
    queue = new Queue(QUEUE_NAME, { connection: { url: redis.url } });
    worker = await startWorker({ redis: redis.url, allow: ['s3://rec/class', 's3://merged'], allowEndpoints: [s3.endpoint], workDir: root, log: () => undefined });
  });

  afterAll(async () => {
    await worker?.close();
    await queue?.close();
    await Promise.all([redis?.stop(), s3?.stop()]);
    if (root) await rm(root, { recursive: true, force: true });
    process.env = saved;
  });

  const settled = (id: string) => settledJob(queue, id, 60_000);

  it('composeRecordings reads the recording from s3:// and uploads the composite and its layout', async () => {
    const summary = await composeRecordings({
      source: 's3://rec/class',
      outDir: join(root, 'direct'),
      endpoint: s3.endpoint,
      forcePathStyle: true,
      size: { width: 320, height: 180 },
      upload: 's3://merged/direct',
    });
    const r = summary.results[0]!;
    expect(r.error).toBeNull();
    // The composite, its layout and its events sidecars (events.json, chapters.vtt) are all uploaded.
    const stem = `s3://merged/direct/${SID}_chem__composite.mp4`;
    expect(r.uploaded).toEqual([stem, `${stem}.layout.json`, `${stem}.events.json`, `${stem}.chapters.vtt`]);
    const layout = await s3.client.send(new GetObjectCommand({ Bucket: 'merged', Key: `direct/${SID}_chem__composite.mp4.layout.json` }));
    expect(JSON.parse(await layout.Body!.transformToString())).toMatchObject({ width: 320, height: 180, intervals: [{ startMs: 0, endMs: 3000 }] });
  });

  it('runs a compose job from S3 to S3 through Redis and a worker', async () => {
    const { id } = await enqueueMerge(
      { source: 's3://rec/class', output: 's3://merged/job', options: { compose: true, size: { width: 320, height: 180 }, endpoint: s3.endpoint, forcePathStyle: true } },
      { redis: redis.url, queue },
    );
    const job = await settled(id);
    expect(job.failedReason).toBeUndefined();
    const result = job.returnvalue as JobResult;
    expect(result.outputs.map((o) => o.file)).toEqual([`${SID}_chem__composite.mp4`]);
    const listed = await s3.client.send(new ListObjectsV2Command({ Bucket: 'merged', Prefix: 'job/' }));
    const keys = (listed.Contents ?? []).map((o) => o.Key!).sort();
    const job0 = `job/${SID}_chem__composite.mp4`;
    expect(keys.filter((k) => !k.includes('recmerge-manifest'))).toEqual([job0, `${job0}.chapters.vtt`, `${job0}.events.json`, `${job0}.layout.json`]);
    // The uploaded composite has both users' beeps where they happened.
    const object = await s3.client.send(new GetObjectCommand({ Bucket: 'merged', Key: `job/${SID}_chem__composite.mp4` }));
    const file = join(root, 'downloaded.mp4');
    await writeFile(file, Buffer.from(await object.Body!.transformToByteArray()));
    const beeps = await beepTimes(file);
    expect(beeps).toHaveLength(2);
    markers.forEach((m, i) => expect(Math.abs(beeps[i]! - (m - T0) / 1000)).toBeLessThan(1 / 15));
  });
});
