// Every S3 request is bounded (issue 21.4): against a misbehaving S3 stand-in on loopback (test/support/
// bad-s3.ts) that stalls after its headers, lists forever, sends bodies far larger than listed or trickles
// at 10 B/s. Each case must end with a clear error (or, for one slice, a missing slice) instead of hanging
// or buffering; the test's own timeout is the bound, the limits given here are small so that it is short.
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { S3Source, type S3SourceOptions } from '../src/storage/s3.js';
import { uploadFile } from '../src/storage/upload.js';
import { startBadS3, type BadS3 } from './support/bad-s3.js';

let bad: BadS3;
let tmp: string;
const PLAYLIST = `#EXTM3U\n#EXT-X-VERSION:3\n#EXTINF:4.000\nsid_room__uid_s_1__uid_e_audio_20260105090000000.ts\n#EXT-X-ENDLIST\n`;
const SLICE = Buffer.alloc(4_000, 0x47);
/** The body's idle timer or the socket's (whichever fires first) drops a stalled response. */
const STALLED = 'failed after 2 attempts: (StalledBodyError: no data for 0.4 s|TimeoutError: .* 400 ms of inactivity)';

function source(prefix: string, options: S3SourceOptions = {}): S3Source {
  return new S3Source(`s3://${bad.bucket}/${prefix}`, {
    endpoint: bad.endpoint,
    forcePathStyle: true,
    cacheDir: path.join(tmp, 'cache'),
    retry: { retries: 1, baseDelayMs: 1, maxDelayMs: 2 },
    limits: { idleTimeoutMs: 400, deadlineMs: 1_500, minBytesPerSecond: 1_000_000 },
    ...options,
  });
}

const requestsTo = (what: RegExp) => bad.requests.filter((r) => what.test(r)).length;

beforeAll(async () => {
  vi.stubEnv('AWS_ACCESS_KEY_ID', 'BADS3');
  vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'BADS3');
  vi.stubEnv('AWS_REGION', 'us-east-1');
  tmp = await mkdtemp(path.join(os.tmpdir(), 'recmerge-s3-limits-'));
  bad = await startBadS3();
  for (const name of ['stall', 'oversize', 'chunked', 'trickle', 'fine']) {
    bad.put(`p/${name}.m3u8`, PLAYLIST);
    bad.put(`p/${name}.ts`, SLICE);
  }
});

afterEach(() => {
  bad.listFault(null);
  for (const name of ['stall', 'oversize', 'chunked', 'trickle', 'fine']) {
    bad.fault(`p/${name}.m3u8`, null);
    bad.fault(`p/${name}.ts`, null);
  }
  bad.requests.length = 0;
});

afterAll(async () => {
  vi.unstubAllEnvs();
  await bad?.close();
  await rm(tmp, { recursive: true, force: true });
});

describe('listing', () => {
  it('drops a listing that stalls after its headers (idle timeout), retries, then fails naming the prefix', async () => {
    bad.listFault('stall');
    const src = source('p');
    await expect(src.list()).rejects.toThrow(/^list s3:\/\/bad\/p\/ failed after 2 attempts: TimeoutError.*inactivity/);
    expect(requestsTo(/list-type=2/)).toBe(2);
    await src.dispose();
  }, 20_000);

  it('stops at a continuation token sent again', async () => {
    bad.listFault('repeat-token');
    const src = source('p');
    await expect(src.list()).rejects.toThrow(/^list s3:\/\/bad\/p\/ failed: ListingError: server sent a continuation token it had sent before \(page 3\)/);
    expect(requestsTo(/list-type=2/)).toBe(2);
    await src.dispose();
  });

  it('stops an endless listing at the page limit', async () => {
    bad.listFault('endless');
    const src = source('p', { limits: { maxListPages: 50 } });
    await expect(src.list()).rejects.toThrow(/^list s3:\/\/bad\/p\/ failed: ListingError: stopped after 50 pages \(50 keys\): more than the 50 pages/);
    expect(requestsTo(/list-type=2/)).toBe(50);
    await src.dispose();
  });

  it('gives a listing a total deadline even when the client is the caller\'s own', async () => {
    bad.listFault('stall');
    const { S3Client } = await import('@aws-sdk/client-s3');
    // No socket timeout of ours in this client: only the deadline can end the request.
    const own = new S3Client({ endpoint: bad.endpoint, forcePathStyle: true, region: 'us-east-1', maxAttempts: 1 });
    const src = source('p', { s3Client: own, retry: { retries: 0 } });
    await expect(src.list()).rejects.toThrow(/^list s3:\/\/bad\/p\/ failed: RequestDeadlineError: not answered whole within 1.5 s/);
    own.destroy();
    await src.dispose();
  }, 20_000);
});

describe('playlists', () => {
  it.each([
    ['stalls after its headers', 'stall' as const, STALLED],
    ['announces a body far larger than listed', 'oversize' as const, `failed: OversizeBodyError: body of 67108864 bytes, larger than the ${PLAYLIST.length} bytes listed`],
    ['sends a chunked body far larger than listed', 'oversize-chunked' as const, `failed: OversizeBodyError: body larger than the ${PLAYLIST.length} bytes listed`],
    ['trickles at 10 B/s', 'trickle' as const, 'failed after 2 attempts: RequestDeadlineError: not answered whole within 1.5 s'],
  ])('refuses a playlist that %s', async (_, fault, message) => {
    const name = { stall: 'stall', oversize: 'oversize', 'oversize-chunked': 'chunked', trickle: 'trickle' }[fault];
    bad.fault(`p/${name}.m3u8`, fault);
    const src = source('p');
    await src.list();
    const error = await src.readText(`${name}.m3u8`).catch((e: unknown) => e as Error);
    expect(String(error)).toMatch(new RegExp(`^S3OperationError: read s3://bad/p/${name}.m3u8 ${message}`));
    expect(await src.readText('fine.m3u8')).toBe(PLAYLIST);
    await src.dispose();
  }, 20_000);
});

describe('slices', () => {
  // Issue 21.3 as well: one object that cannot be had is a missing slice, named with its reason; the rest come.
  it('makes a slice that stalls, trickles or is larger than listed a missing slice, and downloads the others', async () => {
    bad.fault('p/stall.ts', 'stall');
    bad.fault('p/oversize.ts', 'oversize');
    bad.fault('p/chunked.ts', 'oversize-chunked');
    bad.fault('p/trickle.ts', 'trickle');
    const src = source('p');
    const { paths, missing } = await src.materialize(['stall.ts', 'oversize.ts', 'chunked.ts', 'trickle.ts', 'fine.ts']);
    expect([...paths.keys()]).toEqual(['fine.ts']);
    expect(missing.get('stall.ts')).toMatch(new RegExp(`^download s3://bad/p/stall.ts ${STALLED}`));
    expect(missing.get('oversize.ts')).toMatch(/^download s3:\/\/bad\/p\/oversize.ts failed: OversizeBodyError: object of 67108864 bytes, larger than the 4000 bytes listed/);
    expect(missing.get('chunked.ts')).toMatch(/^download s3:\/\/bad\/p\/chunked.ts failed: OversizeBodyError: body larger than the 4000 bytes listed/);
    expect(missing.get('trickle.ts')).toMatch(/^download s3:\/\/bad\/p\/trickle.ts failed after 2 attempts: RequestDeadlineError/);
    // Nothing of them kept, not even a partial file.
    const kept = (await readdir(path.join(tmp, 'cache'), { recursive: true })).map(String).filter((f) => /(stall|oversize|chunked|trickle)\.ts/.test(f));
    expect(kept).toEqual([]);
    await src.dispose();
  }, 30_000);
});

describe('HEAD', () => {
  it('gives up on an upload destination that stalls after its headers', async () => {
    bad.put('out/x.mp4', Buffer.alloc(10));
    bad.fault('out/x.mp4', 'stall');
    const local = path.join(tmp, 'x.mp4');
    const { writeFile } = await import('node:fs/promises');
    await writeFile(local, Buffer.alloc(10));
    await expect(
      uploadFile(local, `s3://${bad.bucket}/out`, { endpoint: bad.endpoint, forcePathStyle: true, key: 'x.mp4', limits: { idleTimeoutMs: 400, deadlineMs: 1_500 } }),
    ).rejects.toThrow(/^head s3:\/\/bad\/out\/x.mp4 failed/);
  }, 30_000);
});
