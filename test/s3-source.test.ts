// S3Source against a real S3 server (s3rver) over HTTP, with a fault-injecting proxy in front.
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { DeleteObjectCommand, GetObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { mergeRecordings, planRecordings } from '../src/api.js';
import { RUNS_FOLDER } from '../src/storage/cache.js';
import { LocalFolderSource } from '../src/storage/local.js';
import { isS3Url, openSource } from '../src/storage/open.js';
import { backoffDelay, failsTheSource, isRetryable, S3OperationError, ShortBodyError } from '../src/storage/retry.js';
import { S3Source, type S3SourceOptions } from '../src/storage/s3.js';
import { resolveRegion } from '../src/storage/s3-client.js';
import { formatS3Url, parseS3Url } from '../src/storage/s3-url.js';
import { formatTransfer, TransferMeter } from '../src/storage/transfer-progress.js';
import type { TransferProgress } from '../src/storage/source.js';
import { isObjectGet, startFaultProxy, type FaultProxy } from './support/fault-proxy.js';
import { beepTimes, probe, whiteFrameTimes } from './support/measure.js';
import { writeRecording } from './support/recording-fixture.js';
import { startS3Server, testClient, type TestS3Server } from './support/s3-server.js';

const execFileAsync = promisify(execFile);
const BUCKET = 'recordings';
const SLICES = 40;
const slices = new Map<string, Buffer>();
let server: TestS3Server;
let proxy: FaultProxy;
let tmp: string;

const listRequests = () => proxy.requests.filter((r) => r.method === 'GET' && r.key === '' && r.query.get('list-type') === '2');

function source(url: string, options: S3SourceOptions = {}): S3Source {
  return new S3Source(url, {
    endpoint: proxy.endpoint,
    forcePathStyle: true,
    cacheDir: path.join(tmp, 'cache'),
    retry: { baseDelayMs: 2, maxDelayMs: 20 },
    ...options,
  });
}

async function filesUnder(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir, { recursive: true })).map(String);
  } catch {
    return [];
  }
}

beforeAll(async () => {
  vi.stubEnv('AWS_ACCESS_KEY_ID', 'S3RVER');
  vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'S3RVER');
  vi.stubEnv('AWS_REGION', 'us-east-1');
  tmp = await mkdtemp(path.join(os.tmpdir(), 'recmerge-s3-test-'));
  server = await startS3Server();
  proxy = await startFaultProxy(server.endpoint);
  await server.createBucket(BUCKET);
  const puts: Promise<void>[] = [];
  for (let i = 0; i < SLICES; i++) {
    const key = `sid1_room__uid_s_7__uid_e_audio_2019092012${String(i).padStart(4, '0')}000.ts`;
    const body = randomBytes(20_000 + i * 1_000);
    slices.set(key, body);
    puts.push(server.put(BUCKET, `dl/${key}`, body));
  }
  for (let i = 0; i < 25; i++) puts.push(server.put(BUCKET, `many/${String(i).padStart(2, '0')}.ts`, 'x'));
  for (const key of ['rec1/a.m3u8', 'rec1/sub/b.ts', 'rec10/c.ts', 'rec1x.ts', 'rec1/'])
    puts.push(server.put(BUCKET, key, key.endsWith('/') ? new Uint8Array(0) : `#EXTM3U\n${key}\n`));
  await Promise.all(puts);
}, 60_000);

afterEach(async () => {
  proxy.resetLog();
  await rm(path.join(tmp, 'cache'), { recursive: true, force: true });
});

afterAll(async () => {
  vi.unstubAllEnvs();
  await proxy?.close();
  await server?.stop();
  await rm(tmp, { recursive: true, force: true });
});

describe('listing', () => {
  it('follows continuation tokens over several pages', async () => {
    const src = source(`s3://${BUCKET}/many`, { listPageSize: 7 });
    const listed = await src.list();
    expect(listed.map((o) => o.key)).toEqual(Array.from({ length: 25 }, (_, i) => `${String(i).padStart(2, '0')}.ts`));
    expect(listed[0]).toMatchObject({ size: 1, etag: expect.stringMatching(/^[0-9a-f]{32}$/) });
    expect(listRequests()).toHaveLength(4);
    await src.dispose();
  });

  it('treats the prefix as a folder: rec1 matches neither rec10/ nor rec1x', async () => {
    const src = source(`s3://${BUCKET}/rec1`);
    expect((await src.list()).map((o) => o.key)).toEqual(['a.m3u8', 'sub/b.ts']);
    expect(await src.readText('a.m3u8')).toBe('#EXTM3U\nrec1/a.m3u8\n');
    await src.dispose();
  });

  it('fails fast on a missing bucket, naming it', async () => {
    const src = source('s3://no-such-bucket/x');
    await expect(src.list()).rejects.toThrow(/list s3:\/\/no-such-bucket\/x\/ failed: NoSuchBucket/);
    expect(proxy.requests).toHaveLength(1);
    await src.dispose();
  });
});

describe('materialize', () => {
  it('downloads into the cache, reports progress, and a rerun fetches nothing', async () => {
    const keys = [...slices.keys()];
    const totalBytes = [...slices.values()].reduce((sum, b) => sum + b.length, 0);
    const progress: TransferProgress[] = [];
    const first = source(`s3://${BUCKET}/dl`, { keepDownloads: true });
    await first.list();
    const { paths, missing } = await first.materialize([...keys, 'never-uploaded.ts'], { onProgress: (p) => progress.push(p) });
    expect(missing).toEqual(new Map([['never-uploaded.ts', `not found in s3://${BUCKET}/dl/`]]));
    expect(paths.size).toBe(SLICES);
    for (const [key, file] of paths) {
      expect((await readFile(file)).equals(slices.get(key)!)).toBe(true);
      expect((await readFile(first.cachePath(key))).equals(slices.get(key)!)).toBe(true); // the shared copy
    }
    expect(proxy.objectGets()).toHaveLength(SLICES);
    expect(progress.at(-1)).toMatchObject({ files: SLICES, totalFiles: SLICES, bytes: totalBytes, totalBytes, etaSeconds: 0 });
    expect(progress.at(-1)!.rate).toBeGreaterThan(0);
    await first.dispose();
    expect(await filesUnder(first.cacheDir)).not.toHaveLength(0); // kept

    proxy.resetLog();
    const second = source(`s3://${BUCKET}/dl`);
    const again = await second.materialize(keys);
    for (const [key, file] of again.paths) expect((await readFile(file)).equals(slices.get(key)!)).toBe(true);
    expect(again.paths.size).toBe(SLICES);
    expect(proxy.objectGets()).toHaveLength(0);
    expect(listRequests()).toHaveLength(1);
    await second.dispose();
    // It downloaded none of them: the kept copies stay, only its own folder goes.
    expect((await filesUnder(second.cacheDir)).filter((f) => f.endsWith('~meta.json'))).toHaveLength(SLICES);
    await expect(stat(path.join(tmp, 'cache', RUNS_FOLDER))).rejects.toThrow(/ENOENT/);
  });

  it('resumes an interrupted download: the rerun fetches only what is missing', async () => {
    const keys = [...slices.keys()];
    const controller = new AbortController();
    const first = source(`s3://${BUCKET}/dl`, { downloadConcurrency: 4 });
    await expect(
      first.materialize(keys, {
        signal: controller.signal,
        onProgress: (p) => {
          if (p.files >= 10) controller.abort();
        },
      }),
    ).rejects.toThrow(/abort/i);
    const left = await filesUnder(first.cacheDir);
    expect(left.filter((f) => f.endsWith('.part'))).toEqual([]);
    const whole = left.filter((f) => f.endsWith('~meta.json')).length;
    expect(whole).toBeGreaterThanOrEqual(10);
    expect(whole).toBeLessThan(SLICES);

    proxy.resetLog();
    const second = source(`s3://${BUCKET}/dl`, { downloadConcurrency: 4 });
    const { paths } = await second.materialize(keys);
    expect(paths.size).toBe(SLICES);
    expect(proxy.objectGets()).toHaveLength(SLICES - whole);
    for (const [key, file] of paths) expect((await readFile(file)).equals(slices.get(key)!)).toBe(true);
    await second.dispose();
  });

  it('shares one download budget and one download per key between concurrent calls', async () => {
    const keys = [...slices.keys()];
    const src = source(`s3://${BUCKET}/dl`, { downloadConcurrency: 3 });
    await src.list();
    const [a, b] = await Promise.all([src.materialize(keys.slice(0, 30)), src.materialize(keys.slice(10))]);
    expect(a.paths.size + b.paths.size).toBe(60);
    expect(proxy.objectGets()).toHaveLength(SLICES);
    expect(new Set(proxy.objectGets().map((r) => r.key)).size).toBe(SLICES);
    expect(proxy.peakConcurrentGets()).toBeLessThanOrEqual(3);
    await src.dispose();
  });

  it('recovers from 503 SlowDown, 500, resets and bodies cut short', async () => {
    for (const fault of ['slowdown', 'internal', 'reset', 'cut', 'truncate'] as const) proxy.inject({ fault, times: 3 });
    const retries: string[] = [];
    const src = source(`s3://${BUCKET}/dl`, { retry: { baseDelayMs: 2, maxDelayMs: 20, onRetry: (e) => retries.push(String(e)) } });
    const { paths, missing } = await src.materialize([...slices.keys()]);
    expect(missing.size).toBe(0);
    for (const [key, file] of paths) expect((await readFile(file)).equals(slices.get(key)!)).toBe(true);
    const faults = proxy.objectGets().filter((r) => r.fault);
    expect(faults).toHaveLength(15);
    expect(proxy.objectGets()).toHaveLength(SLICES + 15);
    expect(retries).toHaveLength(15);
    expect(retries.join('\n')).toMatch(/aborted|ECONNRESET|premature/);
    expect(retries.join('\n')).toMatch(/SlowDown/);
    expect(retries.join('\n')).toMatch(/short body/);
    expect((await filesUnder(src.cacheDir)).filter((f) => f.endsWith('.part'))).toEqual([]);
    await src.dispose();
  });

  it('drops a download that stalls mid-body and fetches it again', async () => {
    const key = [...slices.keys()][1]!;
    proxy.inject({ fault: 'stall', times: 1 });
    const src = source(`s3://${BUCKET}/dl`, { limits: { idleTimeoutMs: 150 } });
    const started = performance.now();
    const { paths } = await src.materialize([key]);
    expect((await readFile(paths.get(key)!)).equals(slices.get(key)!)).toBe(true);
    expect(proxy.objectGets().map((r) => r.fault)).toEqual(['stall', null]);
    expect(performance.now() - started).toBeLessThan(2_000);
    await src.dispose();
  });

  it('never keeps a short body as a file, and gives up on that object naming bucket and key', async () => {
    const key = [...slices.keys()][0]!;
    proxy.inject({ fault: 'truncate', times: 3 });
    const src = source(`s3://${BUCKET}/dl`, { retry: { retries: 2, baseDelayMs: 1, maxDelayMs: 2 } });
    const { paths, missing } = await src.materialize([key]);
    expect(paths.size).toBe(0);
    expect(missing.get(key)).toMatch(new RegExp(`^download s3://${BUCKET}/dl/${key} failed after 3 attempts: ShortBodyError`));
    expect(await filesUnder(src.cacheDir)).toEqual([]);
    expect(proxy.objectGets()).toHaveLength(3);
    await src.dispose();
  });

  it('does not retry 403 or NoSuchKey', async () => {
    const key = [...slices.keys()][0]!;
    const denied = source(`s3://${BUCKET}/dl`, { s3Client: testClient(proxy.endpoint, { accessKeyId: 'WRONG', secretAccessKey: 'nope' }) });
    // A text is read only as listed (its size bounds the body): the listing is what is refused.
    await expect(denied.readText(key)).rejects.toThrow(new RegExp(`list s3://${BUCKET}/dl/ failed: InvalidAccessKeyId, HTTP 403`));
    await expect(denied.list()).rejects.toThrow(/HTTP 403.*check credentials/);
    expect(proxy.requests).toHaveLength(2);
    expect(String(await denied.list().catch((e: unknown) => e))).not.toContain('nope');

    proxy.resetLog();
    const src = source(`s3://${BUCKET}/dl`);
    await expect(src.readText('nope.m3u8')).rejects.toThrow(new RegExp(`read s3://${BUCKET}/dl/nope.m3u8 failed: NoSuchKey: not in the listing`));
    expect(listRequests()).toHaveLength(1);
    expect(proxy.objectGets()).toHaveLength(0);
    await server.client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: `dl/${key}` }));
    await expect(src.readText(key)).rejects.toThrow(new RegExp(`read s3://${BUCKET}/dl/${key} failed: NoSuchKey, HTTP 404`));
    await server.put(BUCKET, `dl/${key}`, slices.get(key)!);
    await src.dispose();
  });

  // Issue 21.1: clean-up removed `<cache>/<bucket>/<prefix>` whole, with files recmerge never wrote and
  // the downloads of another run using the same cache.
  it('never removes or replaces a file recmerge did not write, wherever it is in the cache', async () => {
    const keys = [...slices.keys()];
    const cache = path.join(tmp, 'cache');
    const byRun = source(`s3://${BUCKET}/dl`);
    const mine = [
      [path.join(byRun.cacheDir, 'precious.txt'), 'precious'],
      [path.join(cache, BUCKET, 'other', 'keep.txt'), 'keep'],
      // A user's file right where a key's shared copy would go.
      [byRun.cachePath(keys[0]!), 'a file of the user'],
    ] as const;
    for (const [file, text] of mine) {
      await mkdir(path.dirname(file), { recursive: true });
      await writeFile(file, text);
    }
    const { paths } = await byRun.materialize(keys);
    for (const [key, file] of paths) expect((await readFile(file)).equals(slices.get(key)!)).toBe(true);
    await byRun.dispose();
    // The whole bucket as the source (no prefix): the cache folder is <cache>/<bucket>.
    const whole = source(`s3://${BUCKET}`);
    await whole.materialize(keys.slice(0, 3).map((k) => `dl/${k}`));
    await whole.dispose();
    for (const [file, text] of mine) expect(await readFile(file, 'utf8')).toBe(text);
    const left = (await readdir(cache, { recursive: true, withFileTypes: true })).filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name));
    expect(left.sort()).toEqual(mine.map(([file]) => file).sort());
  });

  it('lets two runs share a cache: one ending while the other downloads takes nothing from it', async () => {
    const keys = [...slices.keys()];
    // A has the first five; B finds them in the cache and downloads the others while A ends.
    const a = source(`s3://${BUCKET}/dl`);
    const fromA = await a.materialize(keys.slice(0, 5));
    // B goes through its own proxy, where its first five GETs stall once: B is still at work when A ends.
    const slow = await startFaultProxy(server.endpoint);
    const stalled = new Set<string>();
    slow.inject({ fault: 'stall', times: 5, match: (r) => isObjectGet(r) && !stalled.has(r.key) && stalled.add(r.key).size > 0 });
    const b = source(`s3://${BUCKET}/dl`, { endpoint: slow.endpoint, downloadConcurrency: 1, limits: { idleTimeoutMs: 200 } });
    let endA: Promise<void> | undefined;
    let bWhenAEnded = -1;
    let bFiles = 0;
    try {
      const fromB = await b.materialize(keys, {
        onProgress: (p) => {
          bFiles = p.files;
          if (p.files === 5) {
            endA ??= a.dispose().then(() => {
              bWhenAEnded = bFiles;
            });
          }
        },
      });
      await endA;
      expect(fromA.paths.size).toBe(5);
      expect(fromB.missing).toEqual(new Map());
      expect(bWhenAEnded, 'B was still at work when A ended').toBeGreaterThanOrEqual(5);
      expect(bWhenAEnded).toBeLessThan(SLICES);
      expect(slow.objectGets().length).toBeGreaterThan(0);
      for (const [key, file] of fromB.paths) expect((await readFile(file)).equals(slices.get(key)!)).toBe(true);
      await b.dispose();
    } finally {
      await slow.close();
    }
    expect(await filesUnder(path.join(tmp, 'cache'))).toEqual([]);
  }, 60_000);

  it('downloads nothing again after a killed run, and the next run to end cleans up after it', async () => {
    const keys = [...slices.keys()];
    const killed = source(`s3://${BUCKET}/dl`);
    await killed.materialize(keys);
    // As if its process had been killed: its run folder carries a pid that is gone.
    const runs = path.join(tmp, 'cache', RUNS_FOLDER);
    const [folder] = await readdir(runs);
    const gone = spawnSync('true').pid;
    await rename(path.join(runs, folder!), path.join(runs, folder!.replace(`-${process.pid}-`, `-${gone}-`)));
    proxy.resetLog();
    const rerun = source(`s3://${BUCKET}/dl`);
    const { paths } = await rerun.materialize(keys);
    expect(proxy.objectGets()).toHaveLength(0);
    for (const [key, file] of paths) expect((await readFile(file)).equals(slices.get(key)!)).toBe(true);
    await rerun.dispose();
    expect(await filesUnder(path.join(tmp, 'cache'))).toEqual([]);
  });

  it('reports an object deleted after the listing as missing, after one GET', async () => {
    await server.put(BUCKET, 'gone/a.ts', 'aaaa');
    await server.put(BUCKET, 'gone/b.ts', 'bbbb');
    const src = source(`s3://${BUCKET}/gone`);
    await src.list();
    await server.client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: 'gone/b.ts' }));
    proxy.resetLog();
    const { paths, missing } = await src.materialize(['a.ts', 'b.ts']);
    expect([...paths.keys()]).toEqual(['a.ts']);
    expect(missing.get('b.ts')).toMatch(/NoSuchKey/);
    expect(proxy.objectGets()).toHaveLength(2);
    await src.dispose();
  });
});

describe('merge from S3', () => {
  it('gives the same outputs as the local folder, and uploads them', async () => {
    const sample = path.resolve('fixtures/sample');
    const files = (await readdir(sample, { recursive: true, withFileTypes: true })).filter((e) => e.isFile());
    await Promise.all(
      files.map(async (e) => {
        const abs = path.join(e.parentPath, e.name);
        await server.put(BUCKET, `sample/${path.relative(sample, abs).split(path.sep).join('/')}`, await readFile(abs));
      }),
    );
    await server.createBucket('merged');
    const storage = { endpoint: proxy.endpoint, forcePathStyle: true };
    const [local, remote] = await Promise.all([
      mergeRecordings({ source: path.join(sample, 'directory1'), outDir: path.join(tmp, 'from-local') }),
      mergeRecordings({ source: `s3://${BUCKET}/sample/directory1`, outDir: path.join(tmp, 'from-s3'), upload: 's3://merged/out', ...storage }),
    ]);
    expect(remote.ok).toBe(true);
    const shape = (r: (typeof local.results)[number]) => ({ id: r.id, kind: r.kind, durationMs: r.durationMs, videoPath: r.videoPath, audioPath: r.audioPath, warnings: r.warnings, file: path.basename(r.file ?? '') });
    expect(remote.results.map(shape)).toEqual(local.results.map(shape));
    expect(remote.problems).toEqual(local.problems);
    expect(remote.results.length).toBeGreaterThan(0);
    const digest = async (file: string | Buffer) => createHash('sha256').update(typeof file === 'string' ? await readFile(file) : file).digest('hex');
    for (const [i, r] of remote.results.entries()) {
      const mine = r.file!;
      const theirs = local.results[i]!.file!;
      expect(await probe(mine)).toEqual(await probe(theirs));
      // Same input bytes: stream-copied outputs are byte-identical (an encoder may not promise that).
      if (r.videoPath !== 'transcode' && r.audioPath !== 'transcode') expect(await digest(mine)).toBe(await digest(theirs));
      expect(await beepTimes(mine)).toEqual(await beepTimes(theirs));
      if (r.kind !== 'audio') expect(await whiteFrameTimes(mine)).toEqual(await whiteFrameTimes(theirs));
      expect(r.uploaded).toBe(`s3://merged/out/${path.basename(mine)}`);
      const object = await server.client.send(new GetObjectCommand({ Bucket: 'merged', Key: `out/${path.basename(mine)}` }));
      expect(await digest(Buffer.from(await object.Body!.transformToByteArray()))).toBe(await digest(mine));
    }
    expect(await filesUnder(path.join(tmp, 'from-s3', '.recmerge-cache'))).toEqual([]);

    // A dry run from S3 fetches the playlists and the first slice of each run, not every slice (a local
    // folder is measured whole); its plan places the rest by their names and #EXTINF.
    proxy.resetLog();
    const planned = await planRecordings({ source: `s3://${BUCKET}/sample/directory1`, outDir: path.join(tmp, 'dry-s3'), ...storage });
    const slicesFetched = proxy.objectGets().filter((r) => /\.(ts|webm)$/.test(r.key)).length;
    const slicesListed = files.filter((e) => /\.(ts|webm)$/.test(e.name) && e.parentPath.includes('directory1')).length;
    expect(slicesFetched).toBeGreaterThan(0);
    expect(slicesFetched).toBeLessThan(slicesListed / 2);
    expect(planned.outputs.map((o) => o.id).sort()).toEqual(local.results.map((r) => r.id).sort());
  });
});

describe('a slice that cannot be had (issue 21.3)', () => {
  it('costs only that slice, even the first of a run: a gap with a warning naming it, the other users merge', async () => {
    const t0 = Date.UTC(2026, 0, 5, 9, 0, 0);
    const user = (uid: string) => ({
      uid,
      audio: [{ startMs: t0, durationMs: 12000 }],
      video: [{ startMs: t0, durationMs: 12000, width: 160, height: 120, fps: 15 }],
    });
    const written = await writeRecording(path.join(tmp, 'two'), { sid: 'e'.repeat(32), cname: 'room', users: [user('1'), user('2')] });
    await Promise.all(written.slices.map(async (slice) => server.put(BUCKET, `two/${slice.key}`, await readFile(slice.path))));
    await Promise.all(written.playlists.map(async (file) => server.put(BUCKET, `two/${path.relative(path.join(tmp, 'two'), file).split(path.sep).join('/')}`, await readFile(file))));
    const ofUser1 = (media: 'audio' | 'video') => written.slices.filter((x) => x.uid === '1' && x.media === media).sort((a, b) => a.startMs - b.startMs);
    const [firstAudio, secondAudio] = ofUser1('audio');
    const [firstVideo] = ofUser1('video');
    const always = (key: string) => (r: { method: string; key: string }) => r.method === 'GET' && r.key === `two/${key}`;
    proxy.inject({ fault: 'forbidden', times: 1000, match: always(firstAudio!.key) });
    proxy.inject({ fault: 'internal', times: 1000, match: always(firstVideo!.key) });
    proxy.inject({ fault: 'truncate', times: 1000, match: always(secondAudio!.key) });

    const summary = await mergeRecordings({ source: `s3://${BUCKET}/two`, outDir: path.join(tmp, 'two-out'), endpoint: proxy.endpoint, forcePathStyle: true });
    const byUid = new Map(summary.results.map((r) => [r.uid, r]));
    expect([...byUid.keys()].sort()).toEqual(['1', '2']);
    for (const r of summary.results) expect(r.error, r.uid).toBeNull();
    const warned = byUid.get('1')!.warnings.join('\n');
    expect(warned).toMatch(new RegExp(`${firstAudio!.key}: .*AccessDenied, HTTP 403.*its time becomes a gap`));
    expect(warned).toMatch(new RegExp(`${firstVideo!.key}: .*InternalError, HTTP 500.*its time becomes a gap`));
    expect(warned).toMatch(new RegExp(`${secondAudio!.key}: .*ShortBodyError.*its time becomes a gap`));
    expect(byUid.get('2')!.warnings.join('\n')).not.toMatch(/gap/);
    for (const r of summary.results) {
      const { stderr } = await execFileAsync('ffmpeg', ['-v', 'error', '-i', r.file!, '-f', 'null', '-']);
      expect(stderr, r.uid).toBe('');
      const info = await probe(r.file!);
      expect(info.audio, r.uid).toBeDefined();
      expect(info.video, r.uid).toBeDefined();
    }
    // User 2 whole; user 1 from its first slice that could be had (the planner starts an output at its first
    // present media), with the second audio slice's time silent.
    expect((await probe(byUid.get('2')!.file!)).durationS).toBeGreaterThan(11.9);
    expect((await probe(byUid.get('1')!.file!)).durationS).toBeGreaterThan(7.9);
  }, 120_000);

  it('still fails the run when the listing is refused', async () => {
    proxy.inject({ fault: 'forbidden', times: 1, match: (r) => r.method === 'GET' && r.key === '' });
    await expect(mergeRecordings({ source: `s3://${BUCKET}/two`, outDir: path.join(tmp, 'two-refused'), endpoint: proxy.endpoint, forcePathStyle: true })).rejects.toThrow(
      /list s3:\/\/recordings\/two\/ failed: AccessDenied, HTTP 403/,
    );
  });

  it('tells the failures that stop a run from those of one object', () => {
    const s3Error = (name: string, status: number) => new S3OperationError('download', 'b', 'k', Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status } }));
    for (const code of ['NoSuchBucket', 'InvalidAccessKeyId', 'SignatureDoesNotMatch', 'ExpiredToken']) expect(failsTheSource(s3Error(code, 403)), code).toBe(true);
    for (const code of ['ECONNREFUSED', 'ENOTFOUND', 'ENOSPC', 'EROFS']) expect(failsTheSource(Object.assign(new Error(code), { code })), code).toBe(true);
    for (const code of ['AccessDenied', 'InternalError', 'SlowDown']) expect(failsTheSource(s3Error(code, 403)), code).toBe(false);
    expect(failsTheSource(new ShortBodyError(1, 2))).toBe(false);
    expect(failsTheSource(Object.assign(new Error('reset'), { code: 'ECONNRESET' }))).toBe(false);
  });
});

describe('cache paths', () => {
  it('stay inside the cache folder and are distinct for distinct keys', () => {
    const src = new S3Source(`s3://${BUCKET}/a/../b`, { cacheDir: path.join(tmp, 'c') });
    const keys = ['../x', '../../etc/passwd', '/abs', 'a/../../b', '.', '..', '', 'a//b', 'a/./b', 'C:\\win', 'sp ace%20', 'x~meta.json', '~', 'é', 'a'.repeat(400), 'a'.repeat(401)];
    const paths = keys.map((k) => src.cachePath(k));
    expect(src.cacheDir.startsWith(path.join(tmp, 'c', BUCKET) + path.sep)).toBe(true);
    for (const p of paths) {
      expect(p.startsWith(src.cacheDir + path.sep)).toBe(true);
      expect(path.basename(p).length).toBeLessThanOrEqual(200);
    }
    expect(new Set(paths).size).toBe(keys.length);
    expect(paths.some((p) => p.endsWith('~meta.json'))).toBe(false);
  });
});

describe('small pieces', () => {
  it('parses and formats s3:// URLs', () => {
    expect(parseS3Url('s3://bucket')).toEqual({ bucket: 'bucket', prefix: '' });
    expect(parseS3Url('S3://bucket/a/b')).toEqual({ bucket: 'bucket', prefix: 'a/b/' });
    expect(parseS3Url('s3://bucket//a/')).toEqual({ bucket: 'bucket', prefix: 'a/' });
    expect(formatS3Url(parseS3Url('s3://b-1/x'), 'k.ts')).toBe('s3://b-1/x/k.ts');
    expect(() => parseS3Url('s3://b/x')).toThrow(/invalid bucket name/);
    expect(() => parseS3Url('/tmp/x')).toThrow(/not an s3:\/\/ URL/);
    expect(() => parseS3Url('s3:///x')).toThrow(/missing bucket/);
    expect(() => parseS3Url('s3://b!d/x')).toThrow(/invalid bucket name/);
    expect(() => parseS3Url('s3://AKIAXXX:secret@bucket/x')).toThrow(/must not contain credentials/);
    expect(() => parseS3Url('s3://AKIAXXX:secret@bucket/x')).not.toThrow(/secret/);
  });

  it('opens the right source', async () => {
    expect(isS3Url('s3://b/x')).toBe(true);
    expect(isS3Url('./s3:/x')).toBe(false);
    const s3 = await openSource('s3://bkt/x', { outDir: tmp });
    expect(s3).toBeInstanceOf(S3Source);
    expect((s3 as S3Source).cacheDir).toBe(path.join(tmp, '.recmerge-cache', 'bkt', 'x'));
    await s3.dispose();
    expect(await openSource(tmp, { outDir: tmp })).toBeInstanceOf(LocalFolderSource);
    const given = new LocalFolderSource(tmp);
    expect(await openSource(given, { outDir: tmp })).toBe(given);
  });

  it('classifies errors for retry and spreads backoff with full jitter', () => {
    const s3Error = (name: string, status: number) => Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status } });
    expect(isRetryable(s3Error('SlowDown', 503))).toBe(true);
    expect(isRetryable(s3Error('TooManyRequests', 429))).toBe(true);
    expect(isRetryable(s3Error('InternalError', 500))).toBe(true);
    expect(isRetryable(s3Error('RequestTimeout', 400))).toBe(true);
    expect(isRetryable(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }))).toBe(true);
    expect(isRetryable(new Error('socket hang up'))).toBe(true);
    expect(isRetryable(new ShortBodyError(1, 2))).toBe(true);
    expect(isRetryable(s3Error('AccessDenied', 403))).toBe(false);
    expect(isRetryable(s3Error('NoSuchKey', 404))).toBe(false);
    expect(isRetryable(s3Error('NoSuchBucket', 404))).toBe(false);
    expect(isRetryable(s3Error('InvalidRange', 416))).toBe(false);
    expect(isRetryable(new DOMException('aborted', 'AbortError'))).toBe(false);
    expect(backoffDelay(3, { baseDelayMs: 100, maxDelayMs: 10_000, random: () => 0.999 })).toBe(799);
    expect(backoffDelay(20, { baseDelayMs: 100, maxDelayMs: 10_000, random: () => 0.5 })).toBe(5_000);
    expect(backoffDelay(3, { random: () => 0 })).toBe(0);
  });

  it('measures rate and ETA, counting cache hits as done but not towards the rate', () => {
    let now = 0;
    const seen: TransferProgress[] = [];
    const meter = new TransferMeter(4, 10_000_000, (p) => seen.push(p), 100, () => now);
    meter.fileSkipped(4_000_000);
    now = 1000;
    meter.addBytes(1_000_000);
    now = 1050;
    meter.addBytes(500_000); // throttled
    expect(seen).toHaveLength(2);
    now = 2000;
    meter.addBytes(500_000);
    meter.fileDone();
    expect(seen.at(-1)).toEqual({ files: 2, totalFiles: 4, bytes: 6_000_000, totalBytes: 10_000_000, rate: 1_000_000, etaSeconds: 4 });
    expect(formatTransfer(seen.at(-1)!)).toBe('2/4 files, 6.0 MB/10.0 MB, 1.0 MB/s, ETA 0:04');
    expect(formatTransfer({ ...seen[0]!, etaSeconds: null })).toMatch(/ETA \?$/);
  });

  it('takes the region from options, then the environment', () => {
    expect(resolveRegion({ region: 'eu-west-1' }, { AWS_REGION: 'x' })).toBe('eu-west-1');
    expect(resolveRegion({}, { AWS_DEFAULT_REGION: 'ap-east-1' })).toBe('ap-east-1');
    expect(resolveRegion({}, {})).toBe('us-east-1');
  });
});
