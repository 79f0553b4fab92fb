// The library's public surface. The queue side (BullMQ, ioredis) and the S3 side (AWS SDK) are loaded
// only when used: importing 'recmerge' to merge a local folder loads neither.
import type { EnqueueOptions, EnqueueResult } from './queue/enqueue.js';
import type { MergeJobData } from './queue/job.js';
import type { NotificationServer, NotificationServerOptions } from './queue/server.js';
import type { RunningWorker, WorkerOptions } from './queue/worker.js';

export { inspectRecordings, mergeRecordings, planRecordings, UsageError } from './api.js';
export type { InspectOptions, PlanRequest } from './api.js';
export type { MergeOptions, MergeProgress, MergeSummary, OutputResult, PlanOptions, SourceSpec, StorageOptions } from './options.js';
export type { Inventory, MergePlan, OutputPlan, Problem, GapMode, MergeMode, NameStyle, MergePath } from './core/types.js';
export { summarizeInventory, type InventorySummary } from './core/summary.js';
export { timelineHtml, type TimelineOptions } from './report/timeline-html.js';
export { FfmpegError, ToolNotFoundError } from './ffmpeg/runner.js';
export type { RecordingSource, StoredObject, TransferProgress } from './storage/source.js';
export type { EnqueueOptions, EnqueueResult, WorkerOptions, RunningWorker, NotificationServerOptions, NotificationServer, MergeJobData };
export type { MergeJobOptions } from './queue/job.js';

/** Queues a merge job on Redis (see docs/deploy.md). */
export async function enqueueMerge(job: MergeJobData, options: EnqueueOptions): Promise<EnqueueResult> {
  return (await import('./queue/enqueue.js')).enqueueMerge(job, options);
}

/** Starts a BullMQ worker that merges queued jobs. */
export async function startWorker(options: WorkerOptions): Promise<RunningWorker> {
  return (await import('./queue/worker.js')).startWorker(options);
}

/** Receives the recording service's notifications and queues a merge for each finished upload. */
export async function startNotificationServer(options: NotificationServerOptions): Promise<NotificationServer> {
  return (await import('./queue/server.js')).startNotificationServer(options);
}
export { composeRecordings, planComposition, type ComposeOptions, type ComposeProgress, type ComposeResult, type ComposeSummary } from './compose/api.js';
export { NotAllowedError } from './queue/trust.js';
