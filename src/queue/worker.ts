// Queue worker: one merge job = one mergeRecordings() call. BullMQ brings retries, backoff, locks and
// stalled-job recovery; this file adds the job body, the completion manifest and a graceful shutdown.
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { lstat, mkdir, mkdtemp, open, rename, rm, stat } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join, relative, resolve, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { Queue, QueueEvents, UnrecoverableError, WaitingError, Worker, type Job } from 'bullmq';
import { mergeRecordings } from '../api.js';
import { chunkQueueName, removeChunks, processChunkJob, queueChunkEncoder, type ChunkJobResult } from './chunk-job.js';
import { composeForJob } from './compose-job.js';
import { partialName } from '../storage/leftovers.js';
import type { MergeProgress, MergeSummary, OutputResult } from '../options.js';
import { redact, redactError } from '../storage/redact.js';
import { createS3Client } from '../storage/s3-client.js';
import { deadlineFor, OversizeBodyError, readBoundedBody, s3Limits, withDeadline } from '../storage/s3-limits.js';
import { parseS3Url } from '../storage/s3-url.js';
import {
  connectionFor,
  mergeKey,
  normalizeLocation,
  optionsHash,
  parseJobData,
  QUEUE_NAME,
  toMergeOptions,
  type MergeJobData,
  type RedisSpec,
} from './job.js';
import { createTrust, type Trust } from './trust.js';

export interface WorkerOptions {
  redis: RedisSpec;
  /**
   * Absolute folders and `s3://bucket/prefix`es a job's source and output must be inside (required). A job
   * naming anything else fails with "not allowed" before anything is read, listed or created.
   */
  allow: string[];
  /** S3 endpoints a job may name in its `endpoint` option (default none: only the SDK's default endpoint). */
  allowEndpoints?: string[];
  /** Jobs run in parallel by this process (default 1; each job already merges its outputs in parallel). */
  concurrency?: number;
  /** Outputs merged in parallel inside one job (default: the library's, CPU count). */
  mergeConcurrency?: number;
  /**
   * Chunks of long re-encoded outputs (the `chunk` option) encoded by this process at once, for any merge job
   * of the queue (default 1; 0: none, this process only takes merge jobs). See queue/chunk-job.ts.
   */
  chunkConcurrency?: number;
  /** This worker's name in chunk job records (default `<host>:<pid>`). */
  name?: string;
  queueName?: string;
  /** A job whose lock is not renewed for this long is considered stalled (default 30 s). */
  lockDurationMs?: number;
  /** How often stalled jobs are looked for (default 30 s). A SIGKILLed worker's job restarts after ~lock+interval. */
  stalledIntervalMs?: number;
  /** Stalls before a job is failed, so a job that kills its worker cannot loop forever (default 2). */
  maxStalledCount?: number;
  /** On close(): how long running jobs may take before they are aborted and handed back (default 10 min). */
  graceMs?: number;
  /** Where outputs bound for s3:// are written before upload (default: the OS temp folder). */
  workDir?: string;
  /** Stop on SIGTERM/SIGINT (default false; the CLI turns it on). */
  handleSignals?: boolean;
  log?: (line: string) => void;
}

export interface RunningWorker {
  worker: Worker;
  /** Stop taking jobs, let running ones finish within the grace period, then hand back the rest. */
  close(): Promise<void>;
  /** Resolves once the worker has stopped (by close() or a signal). */
  closed: Promise<void>;
}

export interface ManifestOutput {
  /** File name, relative to the output folder / prefix. */
  file: string;
  size: number;
  uid: string;
  kind: OutputResult['kind'];
  durationMs: number;
  /** `s3://…` of the uploaded copy. */
  uploaded?: string;
  /** Its sidecars (`<file>.events.json`, `<file>.chapters.vtt`), relative like `file`, when they were written. */
  events?: string;
  chapters?: string;
}

export interface Manifest {
  version: 1;
  jobId: string;
  key: string;
  source: string;
  output: string;
  optionsHash: string;
  completedAt: string;
  outputs: ManifestOutput[];
}

export interface JobResult {
  /** Everything was already there: nothing merged. */
  noop: boolean;
  manifest: string;
  outputs: ManifestOutput[];
  warnings: number;
  elapsedMs: number;
}

/** Job progress as stored in BullMQ. */
export interface JobProgress {
  percent: number;
  phase: MergeProgress['phase'] | 'checking' | 'finishing';
  output?: string;
}

const DEFAULTS = { lockDurationMs: 30_000, stalledIntervalMs: 30_000, maxStalledCount: 2, graceMs: 10 * 60_000 };

export function manifestName(data: MergeJobData): string {
  return `recmerge-manifest-${mergeKey(data)}.json`;
}

// --- where outputs live: a local folder or an s3:// prefix ----------------------------------------------

interface OutputStore {
  readManifest(name: string): Promise<Manifest | null>;
  sizeOf(output: ManifestOutput): Promise<number | null>;
  writeManifest(name: string, manifest: Manifest): Promise<string>;
}

/** Largest manifest read back (one line per output: far below this). */
const MAX_MANIFEST_BYTES = 16 * 1024 * 1024;

/**
 * An output folder may hold links planted by anyone who can write to it: the manifest is read only when it
 * is a regular file itself (O_NOFOLLOW), and written to a fresh temporary name created exclusively
 * (O_EXCL | O_NOFOLLOW: never through an existing file or link), then renamed over the manifest's name
 * (a rename replaces a link there, it does not follow it).
 */
function localStore(folder: string): OutputStore {
  return {
    async readManifest(name) {
      let handle;
      try {
        handle = await open(join(folder, name), constants.O_RDONLY | constants.O_NOFOLLOW);
        const info = await handle.stat();
        if (!info.isFile() || info.size > MAX_MANIFEST_BYTES) return null;
        return JSON.parse(await handle.readFile('utf8')) as Manifest;
      } catch {
        return null;
      } finally {
        await handle?.close();
      }
    },
    async sizeOf(output) {
      try {
        const info = await lstat(join(folder, output.file));
        return info.isFile() ? info.size : null;
      } catch {
        return null;
      }
    },
    async writeManifest(name, manifest) {
      const path = join(folder, name);
      // Named like every partial output, so a killed worker's temporary is removed by the next run there.
      const temp = partialName(path, randomBytes(6).toString('hex'));
      try {
        const handle = await open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
        try {
          await handle.writeFile(`${JSON.stringify(manifest, null, 2)}\n`);
        } finally {
          await handle.close();
        }
        // Written last and atomically: its presence means every listed file is complete.
        await rename(temp, path);
      } catch (error) {
        await rm(temp, { force: true });
        throw error;
      }
      return path;
    },
  };
}

function isNotFound(error: unknown): boolean {
  const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === 'NotFound' || e?.name === 'NoSuchKey' || e?.$metadata?.httpStatusCode === 404;
}

function s3Store(url: string, client: S3Client): OutputStore {
  const { bucket, prefix } = parseS3Url(url);
  // Bounded like every S3 request (storage/s3-limits.ts): a stalled or flooding server cannot hang a job.
  const limits = s3Limits();
  const request = <T>(run: (signal: AbortSignal) => Promise<T>) => withDeadline(deadlineFor(limits), undefined, run);
  return {
    async readManifest(name) {
      try {
        return await request(async (signal) => {
          const object = await client.send(new GetObjectCommand({ Bucket: bucket, Key: prefix + name }), { abortSignal: signal });
          if (!object.Body) return null;
          const body = await readBoundedBody(object.Body as Readable, object.ContentLength, { idleMs: limits.idleTimeoutMs, maxBytes: MAX_MANIFEST_BYTES, signal });
          return JSON.parse(body.toString('utf8')) as Manifest;
        });
      } catch (error) {
        if (isNotFound(error) || error instanceof SyntaxError || error instanceof OversizeBodyError) return null;
        throw error;
      }
    },
    async sizeOf(output) {
      try {
        const head = await request((signal) => client.send(new HeadObjectCommand({ Bucket: bucket, Key: prefix + output.file }), { abortSignal: signal }));
        return head.ContentLength ?? null;
      } catch (error) {
        if (isNotFound(error)) return null;
        throw error;
      }
    },
    async writeManifest(name, manifest) {
      const body = `${JSON.stringify(manifest, null, 2)}\n`;
      await request((signal) => client.send(new PutObjectCommand({ Bucket: bucket, Key: prefix + name, Body: body, ContentType: 'application/json' }), { abortSignal: signal }));
      return `s3://${bucket}/${prefix}${name}`;
    },
  };
}

/** The manifest, if it matches these options and every file it lists is there with its size. */
export async function completedManifest(store: OutputStore, name: string, hash: string): Promise<Manifest | null> {
  const manifest = await store.readManifest(name);
  if (!manifest || manifest.version !== 1 || manifest.optionsHash !== hash || !Array.isArray(manifest.outputs)) return null;
  for (const output of manifest.outputs) {
    if ((await store.sizeOf(output)) !== output.size) return null;
  }
  return manifest;
}

// --- failure classification -----------------------------------------------------------------------------

const PERMANENT_FS_CODES = new Set(['ENOENT', 'ENOTDIR', 'EACCES', 'EPERM', 'EISDIR', 'ERR_INVALID_ARG_VALUE']);
const PERMANENT_S3_CODES = /^(NoSuchBucket|InvalidBucketName|AccessDenied|AllAccessDisabled|InvalidAccessKeyId|SignatureDoesNotMatch|PermanentRedirect|AuthorizationHeaderMalformed)$/;
const PERMANENT_NAMES = /^(UsageError|S3UrlError|JobDataError|NotAllowedError)$/;

/**
 * Garbage in stays garbage: retrying a missing folder, a bad option or a bucket we may not read only
 * delays the failure report. Anything not known to be permanent (network, 5xx, ffmpeg) is retried.
 */
export function isPermanent(error: unknown): boolean {
  if (!error || typeof error !== 'object') return false;
  const e = error as { code?: unknown; name?: string; status?: unknown; retryable?: unknown; $retryable?: unknown; $metadata?: { httpStatusCode?: number } };
  if (e.retryable === true || e.$retryable) return false;
  if (typeof e.code === 'string' && (PERMANENT_FS_CODES.has(e.code) || PERMANENT_S3_CODES.test(e.code))) return true;
  if (e.name && PERMANENT_NAMES.test(e.name)) return true;
  const status = typeof e.status === 'number' ? e.status : e.$metadata?.httpStatusCode;
  return status !== undefined && status >= 400 && status < 500 && status !== 408 && status !== 429;
}

function describeFailures(summary: MergeSummary): string {
  const failed = summary.results.filter((r) => r.error);
  const list = failed.slice(0, 5).map((r) => `${r.id}: ${r.error}`);
  if (failed.length > 5) list.push(`… and ${failed.length - 5} more`);
  return `${failed.length} of ${summary.results.length} outputs failed: ${list.join('; ')}`;
}

/** Never lists the folder: names of files that are not recordings stay out of a failure reason. */
function describeNothing(summary: MergeSummary): string {
  const reasons = summary.problems.filter((p) => p.severity === 'error').map((p) => (p.key ? `${p.key}: ` : '') + p.message);
  const ignored = summary.ignored.length > 0 ? ` (${summary.ignored.length} file(s) that are not recordings ignored)` : '';
  return `nothing to merge in the source${reasons.length ? `: ${reasons.slice(0, 5).join('; ')}` : ': no recording found'}${ignored}`;
}

// --- the job body ---------------------------------------------------------------------------------------

class Progress {
  private fractions = new Map<string, number>();
  private last = 0;
  constructor(private job: Job) {}

  /** Throttled: every update is a Redis round trip. */
  report(progress: JobProgress, force = false): void {
    const now = Date.now();
    if (!force && now - this.last < 500) return;
    this.last = now;
    this.job.updateProgress({ ...progress }).catch(() => undefined);
  }

  fromMerge(p: MergeProgress): void {
    const done = p.phase === 'done' || p.phase === 'failed' || p.phase === 'skipped';
    this.fractions.set(p.output, done ? 1 : p.phase === 'merge' ? p.fraction : 0);
    const values = [...this.fractions.values()];
    const percent = Math.round((100 * values.reduce((a, b) => a + b, 0)) / values.length);
    this.report({ percent: Math.min(percent, 99), phase: p.phase, output: p.output });
  }
}

/** The chunk queue as a merge job uses it: where it adds its chunks, and the events it waits on. */
interface ChunkQueue {
  queue: Queue;
  events: QueueEvents;
}

async function processJob(job: Job, options: WorkerOptions, trust: Trust, signal: AbortSignal, chunks: ChunkQueue): Promise<JobResult> {
  const started = Date.now();
  let data: MergeJobData;
  let source: string;
  let output: string;
  try {
    data = parseJobData(job.data);
    // Before anything is read, listed, created or contacted. From here on, folders are used as they
    // resolved when checked, not by the names the job gave.
    ({ source, output } = await trust.checkJob(data));
  } catch (error) {
    throw new UnrecoverableError((error as Error).message);
  }
  const toS3 = output.startsWith('s3://');
  const s3 = toS3 ? createS3Client(data.options ?? {}) : null;
  const store = s3 ? s3Store(output, s3) : localStore(output);
  const name = manifestName(data);
  const hash = optionsHash(data.options);
  const progress = new Progress(job);

  try {
    if (!data.options?.force) {
      progress.report({ percent: 0, phase: 'checking' }, true);
      const done = await completedManifest(store, name, hash);
      if (done) {
        progress.report({ percent: 100, phase: 'done' }, true);
        return { noop: true, manifest: toS3 ? output + name : join(output, name), outputs: done.outputs, warnings: 0, elapsedMs: Date.now() - started };
      }
    }

    if (!source.startsWith('s3://')) {
      const found = await stat(source).catch(() => null);
      if (!found?.isDirectory()) throw new UnrecoverableError(`source folder not found: ${data.source}`);
    }

    const outDir = toS3 ? await mkdtemp(join(resolve(options.workDir ?? tmpdir()), `recmerge-${job.id}-`)) : output;
    if (!toS3) await mkdir(outDir, { recursive: true });
    try {
      const merge = toMergeOptions({ ...data, source }, outDir, toS3 ? output : undefined);
      if (options.mergeConcurrency && merge.concurrency === undefined) merge.concurrency = options.mergeConcurrency;
      merge.signal = signal;
      merge.onProgress = (p) => progress.fromMerge(p);
      // Chunked outputs: their chunks go to the queue's workers (and beside the output: see chunk-job.ts).
      const chunked = data.options?.chunk !== undefined && !data.options.compose;
      if (chunked) merge.chunkEncoder = queueChunkEncoder(job, data, output, chunks.queue, chunks.events);

      let summary: MergeSummary;
      try {
        summary = data.options?.compose ? await composeForJob(merge) : await mergeRecordings(merge);
      } catch (error) {
        if (signal.aborted) throw error;
        if (isPermanent(error)) throw new UnrecoverableError(`${(error as Error).name}: ${(error as Error).message}`);
        throw error;
      } finally {
        // The chunks were joined (or this attempt is over: the next one adds its own chunk jobs). Kept when the
        // job is handed back: whoever takes it adds the same chunk jobs and finds their files.
        // Chunks left behind (storage trouble) are only space: the next run of this merge removes them.
        if (chunked && !signal.aborted) await removeChunks(output, data).catch(() => undefined);
      }
      if (signal.aborted) throw signal.reason ?? new Error('aborted');
      if (summary.results.length === 0) throw new UnrecoverableError(describeNothing(summary));
      const failed = summary.results.filter((r) => r.error);
      if (failed.length > 0) {
        // Outputs that failed before any work (elapsedMs 0) were refused by the planner: the recording
        // itself is unusable. Others get one more attempt, which covers a killed ffmpeg or a full disk;
        // a broken slice fails the same way again.
        const message = describeFailures(summary);
        const permanent = failed.every((r) => r.elapsedMs === 0) || job.attemptsMade >= 1;
        throw permanent ? new UnrecoverableError(message) : new Error(message);
      }

      progress.report({ percent: 99, phase: 'finishing' }, true);
      const outputs: ManifestOutput[] = [];
      for (const r of summary.results) {
        if (!r.file) continue;
        const entry: ManifestOutput = { file: relative(outDir, r.file).split(sep).join('/'), size: (await stat(r.file)).size, uid: r.uid, kind: r.kind, durationMs: r.durationMs };
        if (r.uploaded) entry.uploaded = r.uploaded;
        if (r.eventsFile) entry.events = relative(outDir, r.eventsFile).split(sep).join('/');
        if (r.chaptersFile) entry.chapters = relative(outDir, r.chaptersFile).split(sep).join('/');
        outputs.push(entry);
      }
      const manifest: Manifest = {
        version: 1,
        jobId: String(job.id),
        key: mergeKey(data),
        source: normalizeLocation(data.source),
        output,
        optionsHash: hash,
        completedAt: new Date().toISOString(),
        outputs,
      };
      const where = await store.writeManifest(name, manifest);
      progress.report({ percent: 100, phase: 'done' }, true);
      const warnings = summary.results.reduce((n, r) => n + r.warnings.length, 0) + summary.problems.length;
      return { noop: false, manifest: where, outputs, warnings, elapsedMs: Date.now() - started };
    } finally {
      if (toS3) await rm(outDir, { recursive: true, force: true });
    }
  } finally {
    s3?.destroy();
  }
}

// --- the worker -----------------------------------------------------------------------------------------

/** For the "started" line: the job's places once they are valid, redacted; never what it sent raw. */
function describeJob(data: unknown): string {
  try {
    const job = parseJobData(data);
    return `${redact(job.source)} -> ${redact(job.output)}`;
  } catch {
    return '(job data not valid: see its failure)';
  }
}

export async function startWorker(options: WorkerOptions): Promise<RunningWorker> {
  const write = options.log ?? ((line: string) => console.error(line));
  // Every line passes the one redaction, whatever part of a job it quotes.
  const log = (line: string) => write(redact(line));
  const settings = { ...DEFAULTS, ...definedOnly(options) };
  const trust = await createTrust({ allow: options.allow, allowEndpoints: options.allowEndpoints });
  // Aborted when the grace period is over: running jobs stop and go back to the queue.
  const handBack = new AbortController();
  // Jobs whose lock could not be renewed: another worker may already run them, so they stop here at once.
  const lostLocks = new Set<string>();

  const queueName = options.queueName ?? QUEUE_NAME;
  const connection = connectionFor(options.redis);
  const name = options.name ?? `${hostname()}:${process.pid}`;
  const chunkName = chunkQueueName(queueName);
  const chunks: ChunkQueue = { queue: new Queue(chunkName, { connection }), events: new QueueEvents(chunkName, { connection }) };
  const workerSettings = {
    connection,
    lockDuration: settings.lockDurationMs,
    stalledInterval: settings.stalledIntervalMs,
    maxStalledCount: settings.maxStalledCount,
    autorun: false,
    name,
  };

  const worker = new Worker(
    queueName,
    async (job: Job, token?: string, signal?: AbortSignal) => {
      const combined = signal ? AbortSignal.any([signal, handBack.signal]) : handBack.signal;
      try {
        const result = await processJob(job, options, trust, combined, chunks);
        if (job.id !== undefined) lostLocks.delete(job.id);
        return result;
      } catch (error) {
        // Its message and stack become the job's failedReason and stacktrace in Redis.
        redactError(error);
        if (job.id !== undefined && lostLocks.delete(job.id)) {
          // Not ours any more: nothing is recorded (BullMQ refuses to fail a job without its lock).
          log(`job ${job.id}: stopped (its lock was lost)`);
          throw error;
        }
        if (handBack.signal.aborted && !(error instanceof UnrecoverableError)) {
          await job.moveToWait(token);
          log(`job ${job.id}: handed back to the queue (shutdown)`);
          throw new WaitingError();
        }
        throw error;
      }
    },
    { ...workerSettings, concurrency: options.concurrency ?? 1 },
  );

  // Chunks of any merge job of the queue (their parent waits for them): encoded here when this process is free.
  const chunkConcurrency = options.chunkConcurrency ?? 1;
  const chunkWorker = chunkConcurrency > 0
    ? new Worker(
        chunkName,
        async (job: Job, token?: string, signal?: AbortSignal): Promise<ChunkJobResult> => {
          const combined = signal ? AbortSignal.any([signal, handBack.signal]) : handBack.signal;
          try {
            return await processChunkJob(job, trust, name, options.workDir, combined);
          } catch (error) {
            redactError(error);
            if (handBack.signal.aborted && !(error instanceof UnrecoverableError)) {
              await job.moveToWait(token);
              throw new WaitingError();
            }
            throw error;
          }
        },
        { ...workerSettings, concurrency: chunkConcurrency },
      )
    : null;
  if (chunkWorker) {
    chunkWorker.on('active', (job) => log(`chunk ${job.id}: started (attempt ${job.attemptsMade + 1})`));
    chunkWorker.on('completed', (job, result: ChunkJobResult) => log(`chunk ${job.id}: encoded ${result.frames} frames in ${(result.elapsedMs / 1000).toFixed(1)} s`));
    chunkWorker.on('failed', (job, error) => log(`chunk ${job?.id}: failed (attempt ${job?.attemptsMade}): ${error.message}`));
    chunkWorker.on('error', (error) => log(`chunk worker: ${error.message}`));
  }
  worker.on('active', (job) => log(`job ${job.id}: started (attempt ${job.attemptsMade + 1}) ${describeJob(job.data)}`));
  worker.on('completed', (job, result: JobResult) =>
    log(`job ${job.id}: ${result.noop ? 'already complete, nothing to do' : `merged ${result.outputs.length} output(s) in ${(result.elapsedMs / 1000).toFixed(1)} s`}`),
  );
  worker.on('failed', (job, error) => log(`job ${job?.id}: failed (attempt ${job?.attemptsMade}): ${error.message}`));
  worker.on('error', (error) => log(`worker: ${error.message}`));
  worker.on('lockRenewalFailed', (ids: string[]) => {
    for (const id of ids) {
      lostLocks.add(id);
      log(`job ${id}: lock lost (Redis unreachable or the job was taken over); stopping it`);
      worker.cancelJob(id, `job ${id}: lock lost`);
    }
  });

  let closing: Promise<void> | null = null;
  let resolveClosed!: () => void;
  const closed = new Promise<void>((r) => (resolveClosed = r));

  const close = (): Promise<void> => {
    closing ??= (async () => {
      const graceTimer = setTimeout(() => {
        log(`worker: grace period (${settings.graceMs} ms) over, handing running jobs back`);
        handBack.abort(new Error('worker shutting down'));
      }, settings.graceMs);
      // If a job ignores the abort, give up on it; its lock expires and another worker takes it over.
      const forceTimer = setTimeout(() => {
        void worker.close(true);
        void chunkWorker?.close(true);
      }, settings.graceMs + 15_000);
      try {
        await Promise.all([worker.close(), chunkWorker?.close()]);
        await Promise.all([chunks.events.close(), chunks.queue.close()]);
      } finally {
        clearTimeout(graceTimer);
        clearTimeout(forceTimer);
        if (options.handleSignals) {
          process.off('SIGTERM', onSignal);
          process.off('SIGINT', onSignal);
        }
        resolveClosed();
      }
    })();
    return closing;
  };

  const onSignal = (signal: NodeJS.Signals): void => {
    if (closing) {
      log(`worker: ${signal} again, handing running jobs back now`);
      handBack.abort(new Error(`worker stopped by ${signal}`));
      return;
    }
    log(`worker: ${signal}, finishing running jobs (up to ${Math.round(settings.graceMs / 1000)} s; again to hand them back now)`);
    void close();
  };
  if (options.handleSignals) {
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  }

  await Promise.all([worker.waitUntilReady(), chunkWorker?.waitUntilReady(), chunks.events.waitUntilReady()]);
  void worker.run().catch((error: Error) => log(`worker: ${error.message}`));
  void chunkWorker?.run().catch((error: Error) => log(`chunk worker: ${error.message}`));
  return { worker, close, closed };
}

function definedOnly(options: WorkerOptions): Partial<typeof DEFAULTS> {
  const result: Partial<typeof DEFAULTS> = {};
  for (const key of Object.keys(DEFAULTS) as (keyof typeof DEFAULTS)[]) {
    if (options[key] !== undefined) result[key] = options[key];
  }
  return result;
}
