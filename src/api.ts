// The library entry points. The CLI, the queue worker and users' own code all come through here; every
// command is the one run pipeline (pipeline/run.ts) with the command's planning and rendering (its Kind).
import os from 'node:os';
import path from 'node:path';
import type { ComposeOutput, ComposePlan } from './core/compose-plan.js';
import { UsageError } from './core/errors.js';
import type { SnapshotOutput, SnapshotPlan } from './core/snapshots.js';
import type { PlanOptions } from './core/options.js';
import type { Inventory, MergePlan } from './core/types.js';
import { composeKind } from './compose/kind.js';
import { mergeKind } from './merge/kind.js';
import type { ComposeOptions, ComposeSummary, MergeOptions, MergeSummary, SnapshotOptions, SnapshotSummary, SourceSpec, StorageOptions } from './options.js';
import { planPipeline, runPipeline, type PlanOnly } from './pipeline/run.js';
import { checkLocalSource } from './pipeline/preflight.js';
import { snapshotsKind } from './snapshots/kind.js';
import { readInventory } from './recording-reader.js';
import { isS3Url, openSource } from './storage/open.js';

export { UsageError };

export interface InspectOptions extends StorageOptions {
  signal?: AbortSignal;
}

/** What a source holds: sessions, UIDs, tracks and slices on the wall clock, and every problem. No ffmpeg. */
export async function inspectRecordings(source: SourceSpec, options: InspectOptions = {}): Promise<Inventory> {
  if (typeof source === 'string' && !isS3Url(source)) await checkLocalSource(source);
  const src = await openSource(source, { ...options, outDir: path.join(os.tmpdir(), 'recmerge-inspect') });
  try {
    const { inventory } = await readInventory(src, options.signal);
    for (const key of inventory.unmeasured) {
      inventory.problems.push({ severity: 'warning', key, message: 'not in any playlist: merging will measure its length and place it by the UTC in its name' });
    }
    return inventory;
  } finally {
    await src.dispose();
  }
}

/** What a plan request may hold beside the command's options. */
type PlanRequestOf<O> = Omit<O, 'outDir' | 'onProgress' | 'onPlan' | 'force' | 'upload' | 'concurrency'> & PlanOnly & { outDir?: string };

export type PlanRequest = PlanRequestOf<MergeOptions> & PlanOptions;

const planOf = <O extends { outDir: string }>(request: PlanRequestOf<O>) => ({ ...request, outDir: request.outDir ?? '' }) as unknown as O & PlanOnly;

/**
 * The merge plan (reading the media it depends on), without merging: what `merge --dry-run` prints. Over a
 * local folder every slice is measured first (`measure`), so the plan is the one the merge follows.
 */
export async function planRecordings(request: PlanRequest): Promise<MergePlan & { inventory: Inventory }> {
  const plan = await planPipeline(mergeKind, planOf<MergeOptions>(request));
  return { ...plan, failures: plan.failures.map((f) => ({ ...f, uid: f.uid ?? '' })) };
}

/**
 * Merges every UID of a recording (folder, s3:// prefix or RecordingSource) into one file per output.
 * Per-output failures are reported in the results, never thrown; one broken UID does not stop the
 * others. Throws only for usage errors and problems found before any work, an unreadable source, or
 * cancellation.
 */
export function mergeRecordings(options: MergeOptions): Promise<MergeSummary> {
  return runPipeline(mergeKind, options);
}

/** The composite plan, without composing: what `compose --dry-run` prints. */
export async function planComposition(request: PlanRequestOf<ComposeOptions>): Promise<ComposePlan & { outputs: ComposeOutput[]; inventory: Inventory }> {
  const plan = await planPipeline(composeKind, planOf<ComposeOptions>(request));
  return { ...plan, failures: plan.failures.map(({ uid: _uid, ...f }) => f) };
}

/**
 * Composes every session of a recording (folder, s3:// prefix or RecordingSource) into one video (grid of
 * everyone present, all audio mixed) with a `<file>.layout.json` sidecar, or one mixed .m4a per session.
 * Same contract as mergeRecordings.
 */
export function composeRecordings(options: ComposeOptions): Promise<ComposeSummary> {
  return runPipeline(composeKind, options);
}

/** The snapshot plan (every picture and the slice it comes from), without taking any: what `snapshots --dry-run` prints. */
export async function planSnapshotRecordings(request: PlanRequestOf<SnapshotOptions>): Promise<SnapshotPlan & { outputs: SnapshotOutput[]; inventory: Inventory }> {
  const plan = await planPipeline(snapshotsKind, planOf<SnapshotOptions>(request));
  return { ...plan, failures: plan.failures.map((f) => ({ ...f, uid: f.uid ?? '' })) };
}

/**
 * Snapshots (the service script's `-c`): per user, a JPEG every `every` seconds of wall clock while the user's
 * video is present, named after the instant shown. Same contract as mergeRecordings.
 */
export function snapshotRecordings(options: SnapshotOptions): Promise<SnapshotSummary> {
  return runPipeline(snapshotsKind, options);
}
