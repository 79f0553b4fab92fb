// Library entry point of snapshots (the service script's `-c`): per user, a JPEG every N seconds of wall
// clock while the user's video is present, read by seeking in the slice that holds the instant.
import { stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pLimit from 'p-limit';
import { UsageError } from '../api.js';
import { planSnapshots, type SnapshotShot } from '../core/snapshots.js';
import type { Problem } from '../core/types.js';
import { resolveTool } from '../ffmpeg/runner.js';
import { outputPath } from '../merge/execute.js';
import { removeLeftovers } from '../merge/leftovers.js';
import type { SourceSpec, StorageOptions } from '../options.js';
import { measureUnlisted, readInventory } from '../recording-reader.js';
import { isS3Url, openSource } from '../storage/open.js';
import { takeSnapshot } from './execute.js';
import { isFinishedFile } from '../merge/finished-file.js';

/** How a warning about a snapshot that could not be taken starts (a substituted picture is only a warning). */
const NO_PICTURE = 'no picture at ';

export interface SnapshotOptions extends StorageOptions {
  source: SourceSpec;
  outDir: string;
  /** Seconds of wall clock between two pictures of a user. */
  every: number;
  uids?: string[];
  /** Redo pictures that already exist. */
  force?: boolean;
  /** Pictures taken in parallel (default: CPU count). */
  concurrency?: number;
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

export interface SnapshotUserResult {
  sid: string;
  cname: string;
  uid: string;
  /** Written (or already present) pictures, in time order. */
  files: string[];
  warnings: string[];
  error: string | null;
}

export interface SnapshotSummary {
  results: SnapshotUserResult[];
  ignored: { key: string; reason: string }[];
  problems: Problem[];
  ok: boolean;
}

export async function snapshotRecordings(options: SnapshotOptions): Promise<SnapshotSummary> {
  if (!options.outDir) throw new UsageError('outDir is required');
  if (!(Number.isFinite(options.every) && options.every >= 0.1)) throw new UsageError(`every must be at least 0.1 seconds (got ${options.every})`);
  resolveTool('ffmpeg');
  const { signal } = options;
  const outDir = path.resolve(options.outDir);
  if (typeof options.source === 'string' && !isS3Url(options.source)) {
    const info = await stat(options.source).catch(() => null);
    if (!info?.isDirectory()) throw new UsageError(`${path.resolve(options.source)}: no such folder`);
  }
  const src = await openSource(options.source, { ...options, outDir });
  try {
    await removeLeftovers(outDir);
    const { inventory } = await measureUnlisted(src, await readInventory(src, signal), signal);
    const plan = planSnapshots(inventory, Math.round(options.every * 1000), options.uids);
    const results = new Map<string, SnapshotUserResult & { shots: SnapshotShot[] }>();
    for (const shot of plan.shots) {
      const key = `${shot.sid}/${shot.uid}`;
      const r = results.get(key) ?? { sid: shot.sid, cname: shot.cname, uid: shot.uid, files: [], warnings: [], error: null, shots: [] };
      r.shots.push(shot);
      results.set(key, r);
    }
    const limit = pLimit(Math.max(1, options.concurrency ?? os.availableParallelism()));
    let done = 0;
    await Promise.all(
      [...results.values()].map(async (r) => {
        try {
          // Only the slices that hold an instant are fetched.
          const { paths, missing } = await src.materialize([...new Set(r.shots.map((s) => s.sliceKey))], { signal });
          const files = await Promise.all(
            r.shots.map((shot) =>
              limit(async () => {
                try {
                  const file = outputPath(outDir, shot.fileName);
                  const slice = paths.get(shot.sliceKey);
                  if (!slice) throw new Error(`${shot.sliceKey}: ${missing.get(shot.sliceKey) ?? 'not available'}`);
                  if (options.force || !(await isFinishedFile(file))) {
                    const previous = shot.previous;
                    const previousFile = previous
                      ? async () => (await src.materialize([previous.key], { signal })).paths.get(previous.key) ?? null
                      : undefined;
                    const concealed = await takeSnapshot(shot, slice, file, signal, previousFile);
                    if (concealed) r.warnings.push(concealed);
                  }
                  return file;
                } catch (error) {
                  signal?.throwIfAborted();
                  r.warnings.push(`${NO_PICTURE}${shot.fileName}: ${(error as Error).message.split('\n')[0]}`);
                  return null;
                } finally {
                  options.onProgress?.(++done, plan.shots.length);
                }
              }),
            ),
          );
          r.files = files.filter((f): f is string => f !== null);
          if (r.files.length === 0) r.error = `no picture could be taken (${r.warnings.length} failed)`;
        } catch (error) {
          signal?.throwIfAborted();
          r.error = (error as Error).message;
        }
      }),
    );
    signal?.throwIfAborted();
    const all: SnapshotUserResult[] = [
      ...[...results.values()].map(({ shots: _shots, ...r }) => r),
      ...plan.failures.map((f) => ({ ...f, files: [], warnings: [] })),
    ];
    return { results: all, ignored: inventory.ignored, problems: inventory.problems, ok: all.length > 0 && all.every((r) => r.error === null && !r.warnings.some((w) => w.startsWith(NO_PICTURE))) };
  } finally {
    await src.dispose();
  }
}
