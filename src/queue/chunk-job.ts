// Chunks of a long re-encoded output as queue jobs (issue 20.3): a merge job whose output is chunked (the
// `chunk` option, planChunks) adds one child job per chunk to the chunk queue, linked to it with BullMQ's
// parent/child machinery, and waits for them (QueueEvents); whichever worker is free encodes each chunk
// (every worker process runs a chunk Worker beside its merge Worker), and the merge job joins them by stream
// copy as the local path does (merge/render.ts encodeChunks). A chunk job carries the merge job's data
// (validated and allowed again by the chunk's worker, as a merge job's is), which output and chunk, and the
// fingerprint of the parent's plan: the chunk's worker plans the output again from the source and refuses
// when its chunks differ. Chunk files go beside the output, where every worker can reach them and the job may
// write: `<output folder>/.recmerge-chunks/<merge key>/` (written under a temporary name and renamed whole),
// or `<output prefix>.recmerge-chunks/<merge key>/` on S3 (uploaded whole, downloaded by the merge job); the
// merge job removes them once it has finished for good.
import { createHash, randomBytes } from 'node:crypto';
import { link, mkdir, mkdtemp, rename, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DeleteObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { UnrecoverableError, type Job, type Queue, type QueueEvents } from 'bullmq';
import { DEFAULT_PRESET } from '../core/options.js';
import { mergeKind } from '../merge/kind.js';
import { ChunkPlanError, encodePlannedChunk, type ChunkEncoder, type ChunkRequest } from '../merge/render.js';
import { withPlannedOutput } from '../pipeline/run.js';
import { partialName } from '../storage/leftovers.js';
import { redact } from '../storage/redact.js';
import { S3Source } from '../storage/s3.js';
import { createS3Client } from '../storage/s3-client.js';
import { deadlineFor, s3Limits, withDeadline } from '../storage/s3-limits.js';
import { parseS3Url } from '../storage/s3-url.js';
import { uploadFile } from '../storage/upload.js';
import { allSettledOrThrow } from '../render/settled.js';
import { JobDataError, mergeKey, parseJobData, toMergeOptions, type MergeJobData } from './job.js';
import type { Trust } from './trust.js';

export const CHUNK_JOB_NAME = 'chunk';
/** The chunk queue of a merge queue. */
export const chunkQueueName = (mergeQueue: string) => `${mergeQueue}-chunks`;
/** The folder of an output location where a merge job's chunks are put. */
export const CHUNK_FOLDER = '.recmerge-chunks';

export interface ChunkJobData {
  /** The merge job's request (source, output, options), checked again by the chunk's worker. */
  merge: MergeJobData;
  /** Which output (PlannedOutput.id). */
  outputId: string;
  index: number;
  count: number;
  fromFrame: number;
  toFrame: number;
  /** The parent's plan of the output (outputChunks): a worker whose plan differs refuses the chunk. */
  fingerprint: string;
}

/** What a chunk job returns (kept in its record). */
export interface ChunkJobResult {
  /** The chunk's file name in the chunk folder. */
  file: string;
  /** The worker that encoded it (WorkerOptions.name). */
  by: string;
  frames: number;
  elapsedMs: number;
}

const isInt = (v: unknown, min: number, max: number) => typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;

/** Validates untrusted chunk job data (the merge part as parseJobData does); throws JobDataError. */
export function parseChunkJobData(value: unknown): ChunkJobData {
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new JobDataError('chunk job data: expected an object');
  const data = value as Record<string, unknown>;
  const problems: string[] = [];
  for (const key of Object.keys(data)) {
    if (!['merge', 'outputId', 'index', 'count', 'fromFrame', 'toFrame', 'fingerprint'].includes(key)) problems.push(`unknown field "${key}"`);
  }
  let merge: MergeJobData | null = null;
  try {
    merge = parseJobData(data.merge);
  } catch (error) {
    problems.push(`merge: ${(error as Error).message}`);
  }
  if (typeof data.outputId !== 'string' || data.outputId.length === 0 || data.outputId.length > 2000) problems.push('outputId: expected an output id');
  if (!isInt(data.count, 2, 100_000)) problems.push('count: expected an integer from 2');
  if (!isInt(data.index, 0, Number(data.count) - 1)) problems.push('index: expected an integer below count');
  if (!isInt(data.fromFrame, 0, 2 ** 40) || !isInt(data.toFrame, Number(data.fromFrame) + 1, 2 ** 40)) problems.push('fromFrame/toFrame: expected a frame range');
  if (typeof data.fingerprint !== 'string' || !/^[0-9a-f]{24}$/.test(data.fingerprint)) problems.push('fingerprint: expected 24 hex digits');
  if (problems.length > 0 || !merge) throw new JobDataError(redact(`invalid chunk job: ${problems.join('; ')}`));
  return {
    merge,
    outputId: data.outputId as string,
    index: data.index as number,
    count: data.count as number,
    fromFrame: data.fromFrame as number,
    toFrame: data.toFrame as number,
    fingerprint: data.fingerprint as string,
  };
}

/** Where a merge's chunks go: a folder inside its (checked) local output folder, or a prefix beside its s3:// output. */
export const chunkFolder = (output: string, merge: MergeJobData) =>
  output.startsWith('s3://') ? `${output.replace(/\/?$/, '/')}${CHUNK_FOLDER}/${mergeKey(merge)}/` : join(output, CHUNK_FOLDER, mergeKey(merge));

/** Removes a merge's chunks (all of them: every attempt's). */
export async function removeChunks(output: string, merge: MergeJobData): Promise<void> {
  const folder = chunkFolder(output, merge);
  if (!folder.startsWith('s3://')) return rm(folder, { recursive: true, force: true });
  const { bucket, prefix } = parseS3Url(folder);
  const client = createS3Client(merge.options ?? {});
  // Bounded like every S3 request (storage/s3-limits.ts): a stalled server cannot hang the worker.
  const limits = s3Limits();
  const request = <T>(run: (signal: AbortSignal) => Promise<T>) => withDeadline(deadlineFor(limits), undefined, run);
  try {
    // A merge has a few chunks per output: one page lists them all, and the next call finds any left.
    const page = await request((signal) => client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }), { abortSignal: signal }));
    for (const item of page.Contents ?? []) {
      if (item.Key?.startsWith(prefix)) await request((signal) => client.send(new DeleteObjectCommand({ Bucket: bucket, Key: item.Key }), { abortSignal: signal }));
    }
  } finally {
    client.destroy();
  }
}

/** A chunk's file name: from the output, the plan and the index only (never a name a job sent). */
export const chunkFileName = (outputId: string, fingerprint: string, index: number) =>
  `${createHash('sha256').update(outputId).digest('hex').slice(0, 16)}-${fingerprint}-${index}.mp4`;

/** A chunk job's id: one per merge, attempt of the merge job, output plan and chunk (a stalled merge job taken over adds the same ones). */
export const chunkJobId = (merge: MergeJobData, attempt: number, outputId: string, fingerprint: string, index: number) =>
  `chunk-${mergeKey(merge)}-a${attempt}-${chunkFileName(outputId, fingerprint, index).replace(/\.mp4$/, '')}`;

/** Attempts of a chunk job: a killed ffmpeg or a dead worker (stalled) gets another one; a chunk that fails them all fails the output. */
export const CHUNK_ATTEMPTS = 3;

function abortable<T>(promise: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return promise;
  return new Promise<T>((ok, fail) => {
    const onAbort = () => fail(signal.reason ?? new Error('aborted'));
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(ok, fail).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/**
 * The ChunkEncoder of a merge job (`parent`, with its validated request `merge`, writing to the local folder
 * `output`): every chunk becomes a child job of it in `chunks`, and it resolves to their files once all are
 * done (waited for through `events`). A chunk that fails every attempt fails the output, naming the chunk.
 */
export function queueChunkEncoder(parent: Job, merge: MergeJobData, output: string, chunks: Queue, events: QueueEvents): ChunkEncoder {
  return async (requests: ChunkRequest[], _local, work) => {
    const folder = chunkFolder(output, merge);
    const onS3 = folder.startsWith('s3://');
    if (!onS3) await mkdir(folder, { recursive: true });
    const attempt = parent.attemptsMade;
    const jobs = await Promise.all(
      requests.map((c) =>
        chunks.add(
          CHUNK_JOB_NAME,
          { merge, outputId: c.outputId, index: c.index, count: c.count, fromFrame: c.range.fromFrame, toFrame: c.range.toFrame, fingerprint: c.fingerprint } satisfies ChunkJobData,
          {
            jobId: chunkJobId(merge, attempt, c.outputId, c.fingerprint, c.index),
            parent: { id: parent.id!, queue: parent.queueQualifiedName },
            attempts: CHUNK_ATTEMPTS,
            backoff: { type: 'fixed', delay: 1000 },
            // A chunk failed for good leaves the merge job's dependencies: the merge job fails it itself (by name).
            removeDependencyOnFailure: true,
            removeOnComplete: { age: 7 * 24 * 3600 },
            removeOnFail: { age: 30 * 24 * 3600 },
          },
        ),
      ),
    );
    let doneMs = 0;
    const files = await allSettledOrThrow(
      jobs.map(async (job, i) => {
        const c = requests[i]!;
        const name = chunkFileName(c.outputId, c.fingerprint, c.index);
        try {
          await abortable(job.waitUntilFinished(events), work.signal);
          // A chunk job completed by an earlier holder of this merge job: its file must still be there.
          const file = onS3 ? await downloadChunk(folder, name, merge, work.workDir, work.signal) : join(folder, name);
          await stat(file);
          doneMs += c.durationMs;
          work.onProgress?.(doneMs, null);
          return file;
        } catch (error) {
          // Stopped (shutdown hand-back, lock lost): the chunk jobs stay. Whoever holds the merge job next adds
          // the same ids and waits for them (removing them here could take them from under a new holder).
          if (work.signal?.aborted) throw error;
          throw new Error(`chunk ${c.index + 1} of ${c.count} (output frames ${c.range.fromFrame}-${c.range.toFrame}) failed: ${(error as Error).message}`, { cause: error });
        }
      }),
    );
    return files;
  };
}

/** A chunk from the S3 chunk prefix into the work folder (the one S3 downloader: S3Source, its retries and limits). */
async function downloadChunk(prefix: string, name: string, merge: MergeJobData, workDir: string, signal?: AbortSignal): Promise<string> {
  const source = new S3Source(prefix, { ...merge.options, cacheDir: join(workDir, `download-${name}`) });
  try {
    const { paths, missing } = await source.materialize([name], { signal });
    const had = paths.get(name);
    if (!had) throw new Error(`${prefix}${name}: ${missing.get(name) ?? 'not there'}`);
    const file = join(workDir, name);
    await link(had, file);
    return file;
  } finally {
    await source.dispose();
  }
}

/**
 * A chunk job's body on a worker: the data validated and its places allowed (as a merge job's), the output
 * planned again from the source, the chunk encoded (refused when the plan's fingerprint differs) into the
 * chunk folder under a temporary name, then renamed whole.
 */
export async function processChunkJob(job: Job, trust: Trust, by: string, workDir: string | undefined, signal: AbortSignal): Promise<ChunkJobResult> {
  const started = Date.now();
  let data: ChunkJobData;
  let source: string;
  let output: string;
  try {
    data = parseChunkJobData(job.data);
    ({ source, output } = await trust.checkJob(data.merge));
  } catch (error) {
    throw new UnrecoverableError((error as Error).message);
  }
  const folder = chunkFolder(output, data.merge);
  const onS3 = folder.startsWith('s3://');
  const name = chunkFileName(data.outputId, data.fingerprint, data.index);
  const scratch = await mkdtemp(join(resolve(workDir ?? tmpdir()), 'recmerge-chunk-'));
  const final = onS3 ? join(scratch, name) : join(folder, name);
  const temp = partialName(final, randomBytes(4).toString('hex'));
  try {
    if (!onS3) await mkdir(folder, { recursive: true });
    const options = { ...toMergeOptions({ ...data.merge, source }, scratch), signal };
    try {
      await withPlannedOutput(mergeKind, options, data.outputId, async (plan, paths) => {
        await encodePlannedChunk(plan, data.index, data.fingerprint, paths, temp, {
          workDir: scratch,
          preset: options.preset ?? DEFAULT_PRESET,
          signal,
          onProgress: (outMs) => void job.updateProgress({ outMs }).catch(() => undefined),
        });
      });
    } catch (error) {
      if (error instanceof ChunkPlanError || (error as Error).name === 'UsageError') throw new UnrecoverableError((error as Error).message);
      throw error;
    }
    if (onS3) await uploadFile(temp, folder, { ...data.merge.options, key: name, overwrite: true, signal });
    else await rename(temp, final);
    return { file: name, by, frames: data.toFrame - data.fromFrame, elapsedMs: Date.now() - started };
  } finally {
    await rm(temp, { force: true });
    await rm(scratch, { recursive: true, force: true });
  }
}
