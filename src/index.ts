// The library's public surface, every export named here: the entry points of every command, their option and
// result types, the data they report (inventory, plans), and every error they throw on purpose. The queue side
// (BullMQ, ioredis) and the S3 side (AWS SDK) are loaded only when used: importing 'recmerge' to merge a local
// folder loads neither.
import type { EnqueueOptions, EnqueueResult } from './queue/enqueue.js';
import type { MergeJobData } from './queue/job.js';
import type { NotificationServer, NotificationServerOptions } from './queue/server.js';
import type { RunningWorker, WorkerOptions } from './queue/worker.js';

// Entry points: inspect, plan and run every command.
export {
  composeRecordings,
  inspectRecordings,
  mergeRecordings,
  planComposition,
  planRecordings,
  planSnapshotRecordings,
  snapshotRecordings,
  type InspectOptions,
  type PlanRequest,
} from './api.js';
export type {
  ComposeOptions,
  ComposePlanOptions,
  ComposeProgress,
  ComposeResult,
  ComposeSummary,
  MergeOptions,
  MergeProgress,
  MergeSummary,
  OutputResult,
  PlanOptions,
  PlannedOutputSummary,
  ResultBase,
  RunOptions,
  RunPhase,
  RunPlanSummary,
  RunProgress,
  SnapshotOptions,
  SnapshotSummary,
  SnapshotUserResult,
  SourceSpec,
  StorageOptions,
  SummaryBase,
} from './options.js';
// What the entry points report.
export type { GapMode, Inventory, MergeMode, MergePath, MergePlan, NameStyle, OutputPlan, Problem } from './core/types.js';
export type { ComposeMode, ComposeOutput, ComposePlan } from './core/compose-plan.js';
export type { SnapshotOutput, SnapshotPlan, SnapshotShot } from './core/snapshots.js';
export type { Layout } from './core/layout.js';
export type { ChunkEncoder, ChunkRequest } from './merge/render.js';
export { summarizeInventory, type InventorySummary } from './core/summary.js';
export { timelineHtml, type TimelineOptions } from './report/timeline-html.js';
export type { RecordingSource, StoredObject, TransferProgress } from './storage/source.js';
// Every error thrown on purpose.
export { SliceUnreadableError, UsageError } from './core/errors.js';
export { PlaylistError } from './core/playlist.js';
export { FfmpegError, ToolNotFoundError } from './ffmpeg/runner.js';
export { JobDataError } from './queue/job.js';
export { NotAllowedError } from './queue/trust.js';
export { NotificationError } from './queue/notification.js';
export { S3OperationError } from './storage/retry.js';
export { S3UrlError } from './storage/s3-url.js';
// The queue.
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
