// uploadFile against a real S3 server (s3rver) over HTTP, requests counted at a proxy.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { GetObjectCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { checkUpload } from '../src/pipeline/preflight.js';
import { uploadFile, type UploadOptions } from '../src/storage/upload.js';
import { startFaultProxy, type FaultProxy } from './support/fault-proxy.js';
import { startS3Server, testClient, type TestS3Server } from './support/s3-server.js';

const BUCKET = 'results';
let server: TestS3Server;
let proxy: FaultProxy;
let tmp: string;

const options = (key: string, extra: Partial<UploadOptions> = {}): UploadOptions => ({ endpoint: proxy.endpoint, forcePathStyle: true, key, ...extra });
const writes = () => proxy.requests.filter((r) => r.method === 'PUT' || r.method === 'POST' || r.method === 'DELETE');

async function stored(key: string): Promise<{ body: Buffer; contentType: string | undefined }> {
  const response = await server.client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  return { body: Buffer.from(await response.Body!.transformToByteArray()), contentType: response.ContentType };
}

beforeAll(async () => {
  vi.stubEnv('AWS_ACCESS_KEY_ID', 'S3RVER');
  vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'S3RVER');
  vi.stubEnv('AWS_REGION', 'us-east-1');
  tmp = await mkdtemp(path.join(os.tmpdir(), 'recmerge-upload-test-'));
  server = await startS3Server();
  proxy = await startFaultProxy(server.endpoint);
  await server.createBucket(BUCKET);
}, 60_000);

afterEach(() => proxy.resetLog());

afterAll(async () => {
  vi.unstubAllEnvs();
  await proxy?.close();
  await server?.stop();
  await rm(tmp, { recursive: true, force: true });
});

describe('uploadFile', () => {
  it('puts a small file with its content type, verifies it, and skips it the second time', async () => {
    const file = path.join(tmp, 'summary.json');
    await writeFile(file, JSON.stringify({ ok: true }));
    expect(await uploadFile(file, `s3://${BUCKET}/out`, options('summary.json'))).toBe(`s3://${BUCKET}/out/summary.json`);
    expect(await stored('out/summary.json')).toEqual({ body: Buffer.from('{"ok":true}'), contentType: 'application/json' });
    expect(writes().map((r) => r.method)).toEqual(['PUT']);

    proxy.resetLog();
    expect(await uploadFile(file, `s3://${BUCKET}/out/`, options('summary.json'))).toBe(`s3://${BUCKET}/out/summary.json`);
    expect(writes()).toEqual([]);
    expect(proxy.requests.map((r) => r.method)).toEqual(['HEAD']);
  });

  it('uses a multipart upload for a file over 5 MB and verifies it', async () => {
    const file = path.join(tmp, '7_0_merge_av.mp4');
    const body = randomBytes(6 * 1024 * 1024 + 123);
    await writeFile(file, body);
    expect(await uploadFile(file, `s3://${BUCKET}/big`, options('7_0_merge_av.mp4'))).toBe(`s3://${BUCKET}/big/7_0_merge_av.mp4`);
    const got = await stored('big/7_0_merge_av.mp4');
    expect(got.contentType).toBe('video/mp4');
    expect(got.body.equals(body)).toBe(true);
    const calls = writes().map((r) => `${r.method} ${[...r.query.keys()].filter((k) => k !== 'x-id').sort().join('&')}`);
    expect(calls.sort()).toEqual(['POST uploadId', 'POST uploads', 'PUT partNumber&uploadId', 'PUT partNumber&uploadId']);
    expect(proxy.requests.filter((r) => r.method === 'HEAD')).toHaveLength(2); // before and after

    proxy.resetLog();
    await uploadFile(file, `s3://${BUCKET}/big`, options('7_0_merge_av.mp4'));
    expect(writes()).toEqual([]);
  });

  it('retries throttled and failed requests (the SDK retries uploads part by part)', async () => {
    const file = path.join(tmp, '9_0_merge.m4a');
    const body = randomBytes(5 * 1024 * 1024 + 1);
    await writeFile(file, body);
    proxy.inject({ fault: 'slowdown', times: 2, match: (r) => r.method === 'PUT' && r.query.get('partNumber') === '2' });
    proxy.inject({ fault: 'internal', times: 1, match: (r) => r.method === 'POST' && r.query.has('uploads') });
    await uploadFile(file, `s3://${BUCKET}/retry`, options('9_0_merge.m4a'));
    expect((await stored('retry/9_0_merge.m4a')).body.equals(body)).toBe(true);
    expect(proxy.requests.filter((r) => r.fault).map((r) => r.fault)).toEqual(['internal', 'slowdown', 'slowdown']);
  });

  it('fails fast and names the object when access is denied', async () => {
    const file = path.join(tmp, 'denied.json');
    await writeFile(file, '{}');
    const s3Client = testClient(proxy.endpoint, { accessKeyId: 'WRONG', secretAccessKey: 'nope' });
    await expect(uploadFile(file, `s3://${BUCKET}/x`, options('denied.json', { s3Client }))).rejects.toThrow(
      `head s3://${BUCKET}/x/denied.json failed: Forbidden, HTTP 403`,
    );
    expect(proxy.requests).toHaveLength(1);
    s3Client.destroy();
  });

  it('refuses to replace an object that differs, unless told to overwrite', async () => {
    await server.put(BUCKET, 'keep/7.m4a', 'the source object');
    const file = path.join(tmp, '7.m4a');
    await writeFile(file, 'a different result');
    await expect(uploadFile(file, `s3://${BUCKET}/keep`, options('7.m4a'))).rejects.toThrow(
      `upload: s3://${BUCKET}/keep/7.m4a already exists (size 17 differs from the local 18); refusing to overwrite it`,
    );
    await writeFile(file, 'THE SOURCE OBJECT');
    await expect(uploadFile(file, `s3://${BUCKET}/keep`, options('7.m4a'))).rejects.toThrow(/same size but different ETag\); refusing/);
    expect(writes()).toEqual([]);
    expect((await stored('keep/7.m4a')).body.toString()).toBe('the source object');

    await uploadFile(file, `s3://${BUCKET}/keep`, options('7.m4a', { overwrite: true }));
    expect(await stored('keep/7.m4a')).toEqual({ body: Buffer.from('THE SOURCE OBJECT'), contentType: 'audio/mp4' });
    const head = await server.client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'keep/7.m4a' }));
    expect(head.Metadata?.['recmerge-md5']).toMatch(/^[0-9a-f]{32}$/);
  });
});

describe('the upload destination is checked before any work', () => {
  it('passes for a bucket that is there, and refuses a missing one by name, writing nothing', async () => {
    await checkUpload(`s3://${BUCKET}/merged`, { endpoint: proxy.endpoint, forcePathStyle: true });
    expect(proxy.requests.map((r) => r.method)).toEqual(['HEAD']);
    await expect(checkUpload('s3://no-such-bucket/merged', { endpoint: proxy.endpoint, forcePathStyle: true })).rejects.toThrow(
      /^cannot upload to s3:\/\/no-such-bucket\/merged: .*s3:\/\/no-such-bucket.*404.*\(no such bucket\)$/,
    );
    expect(writes()).toEqual([]);
  });

  it('refused credentials stop the run; credentials that may write under the prefix but not see the bucket pass', async () => {
    const target = { endpoint: proxy.endpoint, forcePathStyle: true };
    // Refused everywhere: HeadBucket and the HEAD of a key under the prefix both get 403.
    proxy.inject({ fault: 'forbidden', times: 2, match: (r) => r.method === 'HEAD' });
    await expect(checkUpload(`s3://${BUCKET}/merged`, target)).rejects.toThrow(/^cannot upload to s3:\/\/results\/merged: .*403.*check credentials/);
    // HeadBucket refused (no s3:ListBucket), but a key under the prefix can be looked at: the upload can work.
    proxy.resetLog();
    proxy.inject({ fault: 'forbidden', times: 1, match: (r) => r.method === 'HEAD' && r.key === '' });
    await checkUpload(`s3://${BUCKET}/merged`, target);
    expect(proxy.requests.map((r) => [r.method, r.key])).toEqual([['HEAD', ''], ['HEAD', 'merged/.recmerge-upload-check']]);
  });
});
