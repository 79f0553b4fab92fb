import { randomUUID } from 'node:crypto';
import { Job, Queue, type JobsOptions } from 'bullmq';
import type { ChainableCommander } from 'ioredis';
import {
  connectionFor,
  DEFAULT_JOB_OPTIONS,
  JOB_NAME,
  jobIdFor,
  normalizeLocation,
  parseJobData,
  QUEUE_NAME,
  type MergeJobData,
  type QueuedMergeJob,
  type RedisSpec,
} from './job.js';

export interface EnqueueOptions {
  redis: RedisSpec;
  /** Override attempts/backoff/retention (merged over DEFAULT_JOB_OPTIONS). */
  jobOptions?: JobsOptions;
  /** Reuse an open queue (the notification server keeps one); otherwise one is opened and closed. */
  queue?: Queue;
  queueName?: string;
}

export interface EnqueueResult {
  id: string;
  /** False when a job with this id already existed (queued, running, done or failed). */
  created: boolean;
  /** The existing job had failed and was queued again: asking again is how a fixed problem is retried. */
  retried?: boolean;
}

/** A validated job as it will be stored, with its id and options: what `queue.add` (or a transaction) takes. */
export interface PreparedJob {
  id: string;
  payload: QueuedMergeJob;
  opts: JobsOptions;
}

export function prepareMerge(job: MergeJobData, jobOptions?: JobsOptions): PreparedJob {
  const checked = parseJobData(job);
  // Relative folders mean something here, where they were given; a worker never resolves them.
  const absolute = (location: string) => (location.startsWith('s3://') ? location : normalizeLocation(location));
  const data: MergeJobData = { ...checked, source: absolute(checked.source), output: absolute(checked.output) };
  const id = jobIdFor(data);
  const payload: QueuedMergeJob = { ...data, meta: { enqueuedAt: new Date().toISOString(), requestId: randomUUID() } };
  return { id, payload, opts: { ...DEFAULT_JOB_OPTIONS, ...jobOptions, jobId: id } };
}

/** Queues the job's insert on a MULTI of the queue's own connection (whose EXEC adds it with the rest). */
export async function addToTransaction(queue: Queue, multi: ChainableCommander, job: PreparedJob): Promise<void> {
  // As BullMQ's FlowProducer does: the insert is queued on the transaction, which runs at its EXEC.
  await new Job(queue, JOB_NAME, job.payload, job.opts, job.id).addJob(multi as never);
}

/** After the add: whether it made the job (BullMQ silently keeps an existing one), and a failed one queued again. */
export async function addedResult(queue: Queue, job: PreparedJob): Promise<EnqueueResult> {
  const { id } = job;
  // Our request id tells whose data is stored.
  const stored = await queue.getJob(id);
  const created = (stored?.data as QueuedMergeJob | undefined)?.meta?.requestId === job.payload.meta.requestId;
  if (!created && stored && (await stored.getState()) === 'failed') {
    await stored.retry('failed');
    return { id, created, retried: true };
  }
  return { id, created };
}

/** Adds a merge job unless the same merge is already known to the queue (a failed one is retried). */
export async function enqueueMerge(job: MergeJobData, options: EnqueueOptions): Promise<EnqueueResult> {
  const prepared = prepareMerge(job, options.jobOptions);
  const queue = options.queue ?? new Queue(options.queueName ?? QUEUE_NAME, { connection: connectionFor(options.redis) });
  try {
    await queue.add(JOB_NAME, prepared.payload, prepared.opts);
    return await addedResult(queue, prepared);
  } finally {
    if (!options.queue) await queue.close();
  }
}
