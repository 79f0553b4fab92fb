// Puts a finished file into S3. Never deletes and never replaces an object with different
// content unless asked to: an existing identical object is left as it is.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { HeadBucketCommand, HeadObjectCommand, type HeadObjectCommandOutput, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { StorageOptions } from '../options.js';
import { isNotFound, S3OperationError, withRetry } from './retry.js';
import { normalizeEtag } from './s3.js';
import { createS3Client } from './s3-client.js';
import { deadlineFor, s3Limits, withDeadline, type S3Limits } from './s3-limits.js';
import { formatS3Url, parseS3Url } from './s3-url.js';

export interface UploadOptions extends StorageOptions {
  /** Idle timeout and deadlines of the checks around the upload (default DEFAULT_S3_LIMITS). */
  limits?: Partial<S3Limits>;
  /** Key under the destination prefix. */
  key: string;
  signal?: AbortSignal;
  /** Replace an existing object whose content differs. */
  overwrite?: boolean;
}

const MIN_PART_SIZE = 5 * 1024 * 1024;
const MAX_PARTS = 10_000;
const MD5_METADATA = 'recmerge-md5';

const CONTENT_TYPES: Record<string, string> = {
  '.mp4': 'video/mp4',
  '.m4a': 'audio/mp4',
  '.json': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
  '.log': 'text/plain; charset=utf-8',
  '.jpg': 'image/jpeg',
};

export function contentTypeFor(file: string): string {
  return CONTENT_TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream';
}

export function partSizeFor(size: number): number {
  return Math.max(MIN_PART_SIZE, Math.ceil(size / MAX_PARTS));
}

interface Digest {
  /** Hex MD5 of the whole file (the ETag of a single PUT). */
  md5: string;
  /** The AWS-style multipart ETag for `partSize`, or undefined for a single-part file. */
  multipartEtag: string | undefined;
}

async function digest(file: string, partSize: number, signal?: AbortSignal): Promise<Digest> {
  const whole = createHash('md5');
  const partDigests: Buffer[] = [];
  let part = createHash('md5');
  let inPart = 0;
  for await (const chunk of createReadStream(file, { signal }) as AsyncIterable<Buffer>) {
    whole.update(chunk);
    for (let offset = 0; offset < chunk.length; ) {
      const take = Math.min(partSize - inPart, chunk.length - offset);
      part.update(chunk.subarray(offset, offset + take));
      inPart += take;
      offset += take;
      if (inPart === partSize) {
        partDigests.push(part.digest());
        part = createHash('md5');
        inPart = 0;
      }
    }
  }
  if (inPart > 0) partDigests.push(part.digest());
  const multipartEtag =
    partDigests.length > 1 ? `${createHash('md5').update(Buffer.concat(partDigests)).digest('hex')}-${partDigests.length}` : undefined;
  return { md5: whole.digest('hex'), multipartEtag };
}

/** Whether the stored object has this content, as far as the store lets us tell. */
function sameContent(head: HeadObjectCommandOutput, size: number, local: Digest): { same: boolean; why: string } {
  if (head.ContentLength !== size) return { same: false, why: `size ${head.ContentLength} differs from the local ${size}` };
  const stored = head.Metadata?.[MD5_METADATA];
  if (stored) return stored === local.md5 ? { same: true, why: 'same MD5' } : { same: false, why: 'same size but different MD5' };
  const etag = normalizeEtag(head.ETag);
  if (etag && /^[0-9a-f]{32}$/i.test(etag)) {
    return etag.toLowerCase() === local.md5 ? { same: true, why: 'same ETag' } : { same: false, why: 'same size but different ETag' };
  }
  if (etag && local.multipartEtag && etag.toLowerCase() === local.multipartEtag) return { same: true, why: 'same multipart ETag' };
  // Multipart ETags from other part sizes, SSE-KMS and some vendors are not an MD5: size is all we have.
  return { same: true, why: 'same size (ETag not comparable)' };
}

async function head(client: S3Client, bucket: string, key: string, limits: S3Limits, signal?: AbortSignal): Promise<HeadObjectCommandOutput | undefined> {
  try {
    return await withDeadline(deadlineFor(limits), signal, (s) => client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }), { abortSignal: s }));
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw new S3OperationError('head', bucket, key, error);
  }
}

/** Uploads `localPath` to `<destination>/<key>` and returns the s3:// URL it is at. */
export async function uploadFile(localPath: string, destination: string, options: UploadOptions): Promise<string> {
  const location = parseS3Url(destination);
  const relative = options.key.replace(/^\/+/, '');
  if (!relative || relative.endsWith('/')) throw new Error(`upload: invalid key ${JSON.stringify(options.key)}`);
  const key = location.prefix + relative;
  const url = formatS3Url(location, relative);
  const { size } = await stat(localPath);
  const partSize = partSizeFor(size);
  const local = await digest(localPath, partSize, options.signal);

  const limits = s3Limits(options.limits);
  const client = createS3Client(options, { maxAttempts: 5, idleTimeoutMs: limits.idleTimeoutMs });
  try {
    const existing = await head(client, location.bucket, key, limits, options.signal);
    if (existing) {
      const { same, why } = sameContent(existing, size, local);
      if (same) return url;
      if (!options.overwrite) throw new Error(`upload: ${url} already exists (${why}); refusing to overwrite it (pass overwrite to replace it)`);
    }

    const abortController = new AbortController();
    const onAbort = () => abortController.abort(options.signal?.reason);
    options.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const upload = new Upload({
        client,
        partSize,
        queueSize: 4,
        abortController,
        params: {
          Bucket: location.bucket,
          Key: key,
          Body: createReadStream(localPath),
          ContentType: contentTypeFor(localPath),
          Metadata: { [MD5_METADATA]: local.md5 },
        },
      });
      await upload.done();
    } catch (error) {
      options.signal?.throwIfAborted();
      throw new S3OperationError('upload', location.bucket, key, error);
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
    }

    const written = await head(client, location.bucket, key, limits, options.signal);
    if (!written) throw new Error(`upload: ${url} is not there after the upload`);
    const check = sameContent(written, size, local);
    if (!check.same) throw new Error(`upload: ${url} does not match ${localPath} after the upload: ${check.why}`);
    return url;
  } finally {
    if (!options.s3Client) client.destroy();
  }
}

/**
 * Checks, before any work, that the destination bucket exists and these credentials may reach it
 * (transient failures are retried). HeadBucket tells a missing bucket; credentials allowed to write under
 * the prefix but not to see the bucket (a 403 there) pass if they may HEAD a key under the prefix, which
 * is what the upload itself does first. Throws S3OperationError naming the bucket otherwise.
 */
export async function checkUploadDestination(destination: string, options: StorageOptions & { signal?: AbortSignal; limits?: Partial<S3Limits> }): Promise<void> {
  const location = parseS3Url(destination);
  const limits = s3Limits(options.limits);
  const client = createS3Client(options, { idleTimeoutMs: limits.idleTimeoutMs });
  const send = <T>(run: (signal: AbortSignal) => Promise<T>) => withRetry(() => withDeadline(deadlineFor(limits), options.signal, run), { signal: options.signal, retries: 2 });
  try {
    await send((signal) => client.send(new HeadBucketCommand({ Bucket: location.bucket }), { abortSignal: signal }));
  } catch (error) {
    options.signal?.throwIfAborted();
    if ((error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 403) {
      const key = `${location.prefix}.recmerge-upload-check`;
      try {
        await send((signal) => client.send(new HeadObjectCommand({ Bucket: location.bucket, Key: key }), { abortSignal: signal }));
        return;
      } catch (second) {
        options.signal?.throwIfAborted();
        if (isNotFound(second)) return;
      }
    }
    throw new S3OperationError('upload destination check (HeadBucket)', location.bucket, undefined, error);
  } finally {
    if (!options.s3Client) client.destroy();
  }
}
