// Benchmark (not a test): S3Source.materialize at its default concurrency versus a plain
// sequential GetObject loop, both streaming to disk from a local s3rver, in one run.
//   npx tsx scripts/bench-download.ts
//   BENCH_OBJECTS=100 BENCH_OBJECT_SIZE=100000 npx tsx scripts/bench-download.ts   (quick)
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import pLimit from 'p-limit';
import { DEFAULT_DOWNLOAD_CONCURRENCY, S3Source } from '../src/storage/s3.js';
import { startS3Server, TEST_CREDENTIALS, testClient } from '../test/support/s3-server.js';

const objects = Number(process.env.BENCH_OBJECTS ?? 1000);
const objectSize = Number(process.env.BENCH_OBJECT_SIZE ?? 1_000_000);
const bucket = 'bench';
const prefix = 'rec';

const mb = (bytes: number) => bytes / 1e6;

async function main(): Promise<void> {
  const work = await mkdtemp(path.join(os.tmpdir(), 'recmerge-bench-'));
  const server = await startS3Server();
  try {
    await server.createBucket(bucket);
    const keys = Array.from({ length: objects }, (_, i) => `sid_c__uid_s_1__uid_e_video_2026010100${String(i).padStart(7, '0')}.ts`);
    const put = pLimit(16);
    await Promise.all(keys.map((key) => put(() => server.put(bucket, `${prefix}/${key}`, randomBytes(objectSize)))));
    const totalBytes = objects * objectSize;
    console.log(`${objects} objects x ${objectSize} bytes = ${mb(totalBytes).toFixed(0)} MB on ${server.endpoint}`);

    // Baseline: one GetObject after another, each streamed to a file.
    const client = testClient(server.endpoint);
    const seqDir = path.join(work, 'sequential');
    await mkdir(seqDir);
    let started = performance.now();
    for (const key of keys) {
      const response = await client.send(new GetObjectCommand({ Bucket: bucket, Key: `${prefix}/${key}` }));
      await pipeline(response.Body as Readable, createWriteStream(path.join(seqDir, key)));
    }
    const sequentialSeconds = (performance.now() - started) / 1000;
    await rm(seqDir, { recursive: true, force: true });

    // Reference: the same loop at the same concurrency, without retries, verification or cache,
    // to show what the server and machine allow.
    const rawDir = path.join(work, 'raw-concurrent');
    await mkdir(rawDir);
    const get = pLimit(DEFAULT_DOWNLOAD_CONCURRENCY);
    started = performance.now();
    await Promise.all(
      keys.map((key) =>
        get(async () => {
          const response = await client.send(new GetObjectCommand({ Bucket: bucket, Key: `${prefix}/${key}` }));
          await pipeline(response.Body as Readable, createWriteStream(path.join(rawDir, key)));
        }),
      ),
    );
    const rawConcurrentSeconds = (performance.now() - started) / 1000;
    client.destroy();
    await rm(rawDir, { recursive: true, force: true });

    // The source builds its own client, as in real use; credentials come from the environment.
    process.env.AWS_ACCESS_KEY_ID = TEST_CREDENTIALS.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = TEST_CREDENTIALS.secretAccessKey;
    const source = new S3Source(`s3://${bucket}/${prefix}`, {
      endpoint: server.endpoint,
      forcePathStyle: true,
      cacheDir: path.join(work, 'cache'),
    });
    await source.list();
    // Peak memory while downloading: it should not grow with object size or count.
    let peakRss = process.memoryUsage().rss;
    const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 50);
    const rssBefore = peakRss;
    started = performance.now();
    const { paths } = await source.materialize(keys);
    const materializeSeconds = (performance.now() - started) / 1000;
    clearInterval(sampler);
    if (paths.size !== objects) throw new Error(`materialize returned ${paths.size} of ${objects} files`);
    await source.dispose();

    const result = {
      objects,
      objectSize,
      totalBytes,
      concurrency: DEFAULT_DOWNLOAD_CONCURRENCY,
      cpus: os.cpus().length,
      sequential: { seconds: sequentialSeconds, mbPerSecond: mb(totalBytes) / sequentialSeconds },
      materialize: { seconds: materializeSeconds, mbPerSecond: mb(totalBytes) / materializeSeconds },
      rawConcurrent: { seconds: rawConcurrentSeconds, mbPerSecond: mb(totalBytes) / rawConcurrentSeconds },
      ratio: sequentialSeconds / materializeSeconds,
      rssMB: { beforeMaterialize: mb(rssBefore), peakDuringMaterialize: mb(peakRss) },
      date: new Date().toISOString(),
    };
    console.log(`sequential GetObject loop: ${sequentialSeconds.toFixed(2)} s (${result.sequential.mbPerSecond.toFixed(1)} MB/s)`);
    console.log(`S3Source.materialize (concurrency ${DEFAULT_DOWNLOAD_CONCURRENCY}): ${materializeSeconds.toFixed(2)} s (${result.materialize.mbPerSecond.toFixed(1)} MB/s)`);
    console.log(`plain concurrent GetObject loop (reference): ${rawConcurrentSeconds.toFixed(2)} s (${result.rawConcurrent.mbPerSecond.toFixed(1)} MB/s)`);
    console.log(`ratio: ${result.ratio.toFixed(2)}x; RSS ${mb(rssBefore).toFixed(0)} MB before, peak ${mb(peakRss).toFixed(0)} MB during`);
    await mkdir('.bench', { recursive: true });
    await writeFile(path.join('.bench', 'download.json'), `${JSON.stringify(result, null, 2)}\n`);
  } finally {
    await server.stop();
    await rm(work, { recursive: true, force: true });
  }
}

await main();
