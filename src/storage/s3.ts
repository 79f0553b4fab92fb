// S3-compatible storage as a RecordingSource: lists keys under a prefix, and downloads the
// slices an output needs into a cache folder, concurrently, streamed, verified, resumable.
import { createHash } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import pLimit from 'p-limit';
import type { StorageOptions } from '../options.js';
import { failsTheSource, isNotFound, S3OperationError, ShortBodyError, withRetry, type RetryOptions } from './retry.js';
import { createS3Client } from './s3-client.js';
import { deadlineFor, guardedStream, OversizeBodyError, readBoundedBody, s3Limits, withDeadline, type S3Limits } from './s3-limits.js';
import { formatS3Url, parseS3Url, type S3Location } from './s3-url.js';
import { DownloadCache } from './cache.js';
import type { FetchOptions, RecordingSource, StoredObject } from './source.js';
import { TransferMeter } from './transfer-progress.js';

export const DEFAULT_DOWNLOAD_CONCURRENCY = 16;
export const CACHE_FOLDER = '.recmerge-cache';

export interface S3SourceOptions extends StorageOptions {
  /** The default cache is `<outDir>/.recmerge-cache/<bucket>/<prefix>`. */
  outDir?: string;
  /** Keys per ListObjectsV2 page (default: the server's, 1000 on AWS). */
  listPageSize?: number;
  retry?: Omit<RetryOptions, 'signal'>;
  /** Idle timeout, deadlines and the listing's page limit (default DEFAULT_S3_LIMITS). */
  limits?: Partial<S3Limits>;
}

/** A listing that would never end, or that is longer than recmerge reads. */
export class ListingError extends Error {
  override name = 'ListingError';
}

export class S3Source implements RecordingSource {
  readonly location: S3Location;
  readonly description: string;
  /** Where this source's objects are cached, shared with other runs (see cache.ts). */
  readonly cacheDir: string;
  readonly client: S3Client;
  private readonly ownsClient: boolean;
  private index: Map<string, StoredObject> | undefined;
  /** Shared by all materialize() calls: outputs merged in parallel share one download budget. */
  private readonly limit: ReturnType<typeof pLimit>;
  /** Downloads under way, so that two calls wanting one key fetch it once. */
  private readonly inflight = new Map<string, { promise: Promise<string>; signal: AbortSignal }>();
  /** Files this run holds, by key. */
  private readonly done = new Map<string, string>();
  private readonly cache: DownloadCache;
  private readonly limits: S3Limits;

  constructor(
    url: string | S3Location,
    private readonly options: S3SourceOptions = {},
  ) {
    this.location = typeof url === 'string' ? parseS3Url(url) : url;
    this.description = formatS3Url(this.location);
    this.limits = s3Limits(options.limits);
    this.client = createS3Client(options, { idleTimeoutMs: this.limits.idleTimeoutMs });
    this.ownsClient = !options.s3Client;
    this.limit = pLimit(Math.max(1, options.downloadConcurrency ?? DEFAULT_DOWNLOAD_CONCURRENCY));
    const cacheRoot = path.resolve(options.cacheDir ?? path.join(options.outDir ?? '.', CACHE_FOLDER));
    this.cache = new DownloadCache(cacheRoot, !options.cacheDir, options.keepDownloads === true);
    const prefix = this.location.prefix.slice(0, -1); // without its trailing '/'
    this.cacheDir = path.join(cacheRoot, encodeSegment(this.location.bucket), ...(prefix ? keySegments(prefix) : []));
  }

  private fullKey(key: string): string {
    return this.location.prefix + key;
  }

  private retryOptions(signal?: AbortSignal): RetryOptions {
    return { ...this.options.retry, ...(signal ? { signal } : {}) };
  }

  /** One request, retried as retry.ts says, each attempt within its deadline (for `bytes` listed). */
  private request<T>(signal: AbortSignal | undefined, bytes: number, run: (signal: AbortSignal) => Promise<T>): Promise<T> {
    return withRetry(() => withDeadline(deadlineFor(this.limits, bytes), signal, run), this.retryOptions(signal));
  }

  async list(signal?: AbortSignal): Promise<StoredObject[]> {
    const { bucket, prefix } = this.location;
    const out: StoredObject[] = [];
    const fail = (why: string) => new S3OperationError('list', bucket, prefix || undefined, new ListingError(why));
    // A server that sends a token again, or new ones forever, would make this loop endless.
    const seen = new Set<string>();
    let token: string | undefined;
    let pages = 0;
    do {
      if (pages >= this.limits.maxListPages) {
        throw fail(`stopped after ${pages} pages (${out.length} keys): more than the ${this.limits.maxListPages} pages recmerge reads from one prefix`);
      }
      const command = new ListObjectsV2Command({
        Bucket: bucket,
        ...(prefix ? { Prefix: prefix } : {}),
        ...(token ? { ContinuationToken: token } : {}),
        ...(this.options.listPageSize ? { MaxKeys: this.options.listPageSize } : {}),
      });
      const page = await this.request(signal, 0, (s) => this.client.send(command, { abortSignal: s })).catch((error: unknown) => {
        throw wrap('list', bucket, prefix || undefined, error);
      });
      pages++;
      for (const item of page.Contents ?? []) {
        if (!item.Key?.startsWith(prefix)) continue;
        const key = item.Key.slice(prefix.length);
        if (!key || key.endsWith('/')) continue; // folder markers
        out.push({ key, size: item.Size ?? 0, etag: normalizeEtag(item.ETag) });
      }
      if (page.IsTruncated && !page.NextContinuationToken) throw fail('server said the listing is truncated but sent no continuation token');
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
      if (token !== undefined) {
        if (seen.has(token)) throw fail(`server sent a continuation token it had sent before (page ${pages + 1}): the listing would never end`);
        seen.add(token);
      }
    } while (token);
    out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    this.index = new Map(out.map((o) => [o.key, o]));
    return out;
  }

  private async listed(signal?: AbortSignal): Promise<Map<string, StoredObject>> {
    return this.index ?? new Map((await this.list(signal)).map((o) => [o.key, o]));
  }

  /** A listed object's text, read whole: never more bytes than the listing said it has. */
  async readText(key: string, signal?: AbortSignal): Promise<string> {
    const { bucket } = this.location;
    const full = this.fullKey(key);
    const object = (await this.listed(signal)).get(key);
    if (!object) throw new S3OperationError('read', bucket, full, Object.assign(new Error(`not in the listing of ${this.description}`), { name: 'NoSuchKey' }));
    return this.request(signal, object.size, async (s) => {
      const response = await this.client.send(new GetObjectCommand({ Bucket: bucket, Key: full }), { abortSignal: s });
      if (!response.Body) throw new Error('no body');
      const body = await readBoundedBody(response.Body as Readable, response.ContentLength, { idleMs: this.limits.idleTimeoutMs, maxBytes: object.size, signal: s });
      if (response.ContentLength !== undefined && body.length < response.ContentLength) throw new ShortBodyError(body.length, response.ContentLength);
      return body.toString('utf8');
    }).catch((error: unknown) => {
      throw wrap('read', bucket, full, error);
    });
  }

  async materialize(keys: string[], options: FetchOptions = {}): Promise<{ paths: Map<string, string>; missing: Map<string, string> }> {
    options.signal?.throwIfAborted();
    const index = this.index ?? new Map((await this.list(options.signal)).map((o) => [o.key, o]));
    const paths = new Map<string, string>();
    const missing = new Map<string, string>();
    const wanted: StoredObject[] = [];
    for (const key of new Set(keys)) {
      const listed = index.get(key);
      if (listed) wanted.push(listed);
      else missing.set(key, `not found in ${this.description}`);
    }

    const meter = new TransferMeter(wanted.length, wanted.reduce((sum, o) => sum + o.size, 0), options.onProgress);
    const failed = new AbortController();
    const signal = options.signal ? AbortSignal.any([options.signal, failed.signal]) : failed.signal;
    setMaxListeners(0, signal); // every download in flight listens to it
    let firstError: unknown;
    await Promise.all(
      wanted.map((object) =>
        this.limit(async () => {
          if (signal.aborted) return;
          try {
            paths.set(object.key, await this.fetchOnce(object, meter, signal));
          } catch (error) {
            if (signal.aborted) return;
            if (isNotFound(error instanceof S3OperationError ? error.cause : error)) {
              missing.set(object.key, `not found: ${error instanceof Error ? error.message : String(error)}`);
            } else if (failsTheSource(error)) {
              // The bucket, the credentials, the endpoint or the cache disk: nothing else would come.
              firstError = error;
              failed.abort(error);
            } else {
              // This object only (403, 5xx every time, a body always short, stalled or oversized): a
              // missing slice, whose time becomes a gap with a warning naming it.
              missing.set(object.key, error instanceof Error ? error.message : String(error));
            }
          }
        }),
      ),
    );
    options.signal?.throwIfAborted();
    if (firstError !== undefined) throw firstError;
    meter.report();
    return { paths, missing };
  }

  /** Local path for a key; never outside cacheDir whatever the key holds. */
  cachePath(key: string): string {
    const target = path.join(this.cacheDir, ...keySegments(key));
    if (!target.startsWith(this.cacheDir + path.sep)) throw new Error(`${JSON.stringify(key)}: cannot map this key to a cache file`);
    return target;
  }

  private async fetchOnce(object: StoredObject, meter: TransferMeter, signal: AbortSignal): Promise<string> {
    const had = this.done.get(object.key);
    if (had) {
      meter.fileSkipped(object.size);
      return had;
    }
    const running = this.inflight.get(object.key);
    if (running) {
      try {
        const file = await running.promise;
        meter.fileSkipped(object.size);
        return file;
      } catch (error) {
        // The other caller was aborted, not the download: fetch it for ourselves.
        if (signal.aborted || !running.signal.aborted) throw error;
        return this.fetchOnce(object, meter, signal);
      }
    }
    const promise = this.fetch(object, meter, signal).finally(() => this.inflight.delete(object.key));
    this.inflight.set(object.key, { promise, signal });
    const file = await promise;
    this.done.set(object.key, file);
    return file;
  }

  /** A file of this run's own holding the object (see cache.ts): from the cache, else downloaded. */
  private async fetch(object: StoredObject, meter: TransferMeter, signal: AbortSignal): Promise<string> {
    const { bucket } = this.location;
    const full = this.fullKey(object.key);
    const shared = this.cachePath(object.key);
    let file: string;
    try {
      const cached = await this.cache.reuse(shared, { key: full, etag: object.etag, size: object.size });
      if (cached) {
        meter.fileSkipped(object.size);
        return cached;
      }
      file = await this.request(signal, object.size, async (s) => {
        let received = 0;
        try {
          return await this.download(full, object, shared, s, (n) => {
            received += n;
            meter.addBytes(n);
          });
        } catch (error) {
          meter.rollback(received);
          throw error;
        }
      });
    } catch (error) {
      if (signal.aborted) throw error;
      throw wrap('download', bucket, full, error);
    }
    meter.fileDone();
    return file;
  }

  private async download(full: string, object: StoredObject, shared: string, signal: AbortSignal, onBytes: (n: number) => void): Promise<string> {
    const temp = await this.cache.tempFor(shared);
    let adopted = false;
    try {
      const response = await this.client.send(new GetObjectCommand({ Bucket: this.location.bucket, Key: full }), { abortSignal: signal });
      if (!response.Body) throw new Error('no body');
      const etag = normalizeEtag(response.ETag);
      // Bounded by what the listing said: a larger object is refused before a byte is stored.
      if (response.ContentLength !== undefined && response.ContentLength > object.size) {
        (response.Body as Readable).destroy();
        throw new OversizeBodyError(`object of ${response.ContentLength} bytes, larger than the ${object.size} bytes listed`);
      }
      // Same ETag as listed means same object: its listed size is the truth too.
      const expected = response.ContentLength ?? object.size;
      const sameObject = etag !== undefined && etag === object.etag;
      let received = 0;
      const counter = guardedStream({
        idleMs: this.limits.idleTimeoutMs,
        maxBytes: object.size,
        onBytes: (n) => {
          received += n;
          onBytes(n);
        },
      });
      await pipeline(response.Body as Readable, counter, createWriteStream(temp, { flags: 'wx' }), { signal });
      if (received !== expected) throw new ShortBodyError(received, expected);
      if (sameObject && received !== object.size) throw new ShortBodyError(received, object.size);
      const file = await this.cache.adopt(temp, shared, { key: full, etag, size: received });
      adopted = true;
      return file;
    } finally {
      if (!adopted) await rm(temp, { force: true });
    }
  }

  /** Removes what this run downloaded and no longer needs (see cache.ts), unless keepDownloads. */
  async dispose(): Promise<void> {
    if (this.ownsClient) this.client.destroy();
    this.done.clear();
    await this.cache.dispose();
  }
}

function wrap(operation: string, bucket: string, key: string | undefined, error: unknown): unknown {
  if (error instanceof S3OperationError || (error instanceof Error && error.name === 'AbortError')) return error;
  return new S3OperationError(operation, bucket, key, error);
}

export function normalizeEtag(etag: string | undefined): string | undefined {
  if (!etag) return undefined;
  return etag.replace(/^W\//, '').replace(/^"(.*)"$/, '$1');
}

/**
 * Key → path segments that are safe on any file system and map keys one-to-one: characters
 * outside [A-Za-z0-9._-] are %-escaped ('%' and '/' too), '', '.' and '..' segments are escaped,
 * and overlong segments are shortened with a hash. '~' never appears in an escaped segment
 * except as the hash marker, so `~meta.json` sidecars and `~xxxx.part` temp files cannot
 * collide with any key.
 */
export function keySegments(key: string): string[] {
  return key.split('/').map(encodeSegment);
}

export function encodeSegment(segment: string): string {
  if (segment === '') return '%';
  if (segment === '.' || segment === '..') return segment.replace(/\./g, '%2E');
  const encoded = Array.from(Buffer.from(segment, 'utf8'), (byte) => {
    const c = String.fromCharCode(byte);
    return /[A-Za-z0-9._-]/.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }).join('');
  if (encoded.length <= 200) return encoded;
  return `${encoded.slice(0, 150)}~${createHash('sha1').update(segment).digest('hex')}`;
}
