// The library's public surface.
export { inspectRecordings, mergeRecordings, planRecordings, UsageError } from './api.js';
export type { InspectOptions, PlanRequest } from './api.js';
export type { MergeOptions, MergeProgress, MergeSummary, OutputResult, PlanOptions, SourceSpec, StorageOptions } from './options.js';
export type { Inventory, MergePlan, OutputPlan, Problem, GapMode, MergeMode, NameStyle, MergePath } from './core/types.js';
export { summarizeInventory, type InventorySummary } from './core/summary.js';
export { FfmpegError, ToolNotFoundError } from './ffmpeg/runner.js';
export type { RecordingSource, StoredObject, TransferProgress } from './storage/source.js';
export { enqueueMerge, type EnqueueOptions, type EnqueueResult } from './queue/enqueue.js';
export { startWorker, type WorkerOptions, type RunningWorker } from './queue/worker.js';
export { NotAllowedError } from './queue/trust.js';
export { startNotificationServer, type NotificationServerOptions, type NotificationServer } from './queue/server.js';
export type { MergeJobData, MergeJobOptions } from './queue/job.js';
