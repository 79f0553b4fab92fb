import { randomUUID } from 'node:crypto';
import { Queue, type JobsOptions } from 'bullmq';
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

/** Adds a merge job unless the same merge is already known to the queue (a failed one is retried). */
export async function enqueueMerge(job: MergeJobData, options: EnqueueOptions): Promise<EnqueueResult> {
  const checked = parseJobData(job);
  // Relative folders mean something here, where they were given; a worker never resolves them.
  const absolute = (location: string) => (location.startsWith('s3://') ? location : normalizeLocation(location));
  const data: MergeJobData = { ...checked, source: absolute(checked.source), output: absolute(checked.output) };
  const id = jobIdFor(data);
  const requestId = randomUUID();
  const payload: QueuedMergeJob = { ...data, meta: { enqueuedAt: new Date().toISOString(), requestId } };

  const queue = options.queue ?? new Queue(options.queueName ?? QUEUE_NAME, { connection: connectionFor(options.redis) });
  try {
    await queue.add(JOB_NAME, payload, { ...DEFAULT_JOB_OPTIONS, ...options.jobOptions, jobId: id });
    // BullMQ silently keeps the existing job for a duplicate id; our request id tells whose data is stored.
    const stored = await queue.getJob(id);
    const created = (stored?.data as QueuedMergeJob | undefined)?.meta?.requestId === requestId;
    if (!created && stored && (await stored.getState()) === 'failed') {
      await stored.retry('failed');
      return { id, created, retried: true };
    }
    return { id, created };
  } finally {
    if (!options.queue) await queue.close();
  }
}
