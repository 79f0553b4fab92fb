// The library entry points. The CLI, the queue worker and users' own code all come through here.
import os from 'node:os';
import path from 'node:path';
import pLimit from 'p-limit';
import { markMissing } from './core/inventory.js';
import { planMerge } from './core/plan.js';
import type { Inventory, MergePlan, OutputPlan } from './core/types.js';
import { observeCommands, resolveTool } from './ffmpeg/runner.js';
import { DEFAULT_PRESET } from './merge/commands.js';
import { executeOutput, outputPath } from './merge/execute.js';
import { audioBesideName, writeAudioBeside } from './merge/also-audio.js';
import { removeLeftovers } from './merge/leftovers.js';
import { expectedRecord, forgetRecord, rememberListing, rerunDecision, writeRecord } from './merge/output-record.js';
import { checkLocalSource, checkOutputDir, checkPreset, checkTool, checkUpload, UsageError } from './preflight.js';
import type { MergeOptions, MergeProgress, MergeSummary, OutputResult, PlanOptions, SourceSpec, StorageOptions } from './options.js';
import { isS3Url, openSource } from './storage/open.js';
import type { RecordingSource } from './storage/source.js';
import { containersOf, measureSlices, measureUnlisted, probeFacts, readInventory } from './recording-reader.js';
import { isFinishedFile } from './merge/finished-file.js';

export { UsageError };

function validate(options: PlanOptions): void {
  const positive = (v: number | undefined, what: string, max = Infinity) => {
    if (v !== undefined && !(Number.isFinite(v) && v > 0 && v <= max)) throw new UsageError(`${what} must be a positive number${max < Infinity ? ` up to ${max}` : ''} (got ${v})`);
  };
  positive(options.fps, 'fps', 240);
  positive(options.duration, 'duration');
  positive(options.splitGap, 'split-gap');
  positive(options.maxGapHours, 'max-gap');
  positive(options.maxSpanHours, 'max-span');
  if (options.from !== undefined && !(Number.isFinite(options.from) && options.from >= 0)) throw new UsageError(`from must be 0 or more seconds (got ${options.from})`);
  if (options.size && !(options.size.width >= 2 && options.size.height >= 2 && options.size.width <= 8192 && options.size.height <= 8192)) {
    throw new UsageError(`size must be between 2x2 and 8192x8192 (got ${options.size.width}x${options.size.height})`);
  }
}

async function open(spec: SourceSpec, options: StorageOptions & { outDir?: string }): Promise<RecordingSource> {
  if (typeof spec === 'string' && !isS3Url(spec)) await checkLocalSource(spec);
  return openSource(spec, { ...options, outDir: options.outDir ?? path.join(os.tmpdir(), 'recmerge-inspect') });
}

export interface InspectOptions extends StorageOptions {
  signal?: AbortSignal;
}

/** What a source holds: sessions, UIDs, tracks and slices on the wall clock, and every problem. No ffmpeg. */
export async function inspectRecordings(source: SourceSpec, options: InspectOptions = {}): Promise<Inventory> {
  const src = await open(source, options);
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

export interface PlanRequest extends PlanOptions, StorageOptions {
  source: SourceSpec;
  outDir?: string;
  /** x264 preset (checked, as merging would). */
  preset?: string;
  /** Called with every ffprobe command line before it runs. */
  onCommand?: (command: string[]) => void;
  signal?: AbortSignal;
  /**
   * Measure every slice, as the merge does, so that the plan is the one the merge will follow (real
   * lengths, overlaps, undecodable leads). Default: for a local folder, yes; for S3, no (it would
   * download everything): the plan then places slices by their names and #EXTINF.
   */
  measure?: boolean;
}

/** The merge plan (probing the media it depends on), without merging: what `--dry-run` prints. */
export async function planRecordings(request: PlanRequest): Promise<MergePlan & { inventory: Inventory }> {
  return observeCommands(request.onCommand, () => plan(request));
}

async function plan(request: PlanRequest): Promise<MergePlan & { inventory: Inventory }> {
  validate(request);
  checkPreset(request.preset);
  resolveTool('ffprobe');
  const src = await open(request.source, request);
  try {
    const inventoryRead = await readInventory(src, request.signal);
    checkRequestedUids(inventoryRead.inventory, request.uids);
    const read = await measureUnlisted(src, inventoryRead, request.signal);
    const { inventory, facts } = await probeFacts(src, read, request, request.signal);
    const named = planMerge(inventory, facts, request);
    if (!(request.measure ?? src.local === true)) return { ...named, inventory };
    const inputs = [...new Set(named.outputs.flatMap((o) => o.inputs))];
    const { paths, missing } = await src.materialize(inputs, { signal: request.signal });
    const media = await measureSlices(paths, missing, { inputs }, containersOf(inventory), request.signal);
    const measured = missing.size > 0 ? markMissing(inventory, missing) : inventory;
    return { ...planMerge(measured, facts, request, media), inventory: measured };
  } finally {
    await src.dispose();
  }
}

/** Requested UIDs that the recording does not have: a usage error that lists the ones it has. */
function checkRequestedUids(inventory: Inventory, uids: string[] | undefined): void {
  if (!uids?.length) return;
  const known = [...new Set(inventory.sessions.flatMap((s) => s.uids.map((u) => u.uid)))].sort((a, b) => Number(a) - Number(b));
  const unknown = uids.filter((u) => !known.includes(u));
  if (unknown.length === 0) return;
  const has = known.length ? `the recording has UID ${known.join(', ')}` : 'the recording has no UID at all';
  throw new UsageError(`no UID ${unknown.join(', ')} in this recording: ${has}`);
}

function resultOf(plan: OutputPlan, extra: Partial<OutputResult>): OutputResult {
  return {
    id: plan.id,
    sid: plan.sid,
    cname: plan.cname,
    uid: plan.uid,
    kind: plan.kind,
    file: null,
    durationMs: plan.durationMs,
    videoPath: plan.video?.path ?? null,
    audioPath: plan.audio?.path ?? null,
    skipped: false,
    warnings: plan.warnings,
    error: null,
    elapsedMs: 0,
    ...extra,
  };
}

/**
 * Merges every UID of a recording (folder, s3:// prefix or RecordingSource) into one file per output.
 * Per-output failures are reported in the results, never thrown; one broken UID does not stop the
 * others. Throws only for usage errors, an unreadable source, or cancellation.
 */
export async function mergeRecordings(options: MergeOptions): Promise<MergeSummary> {
  return observeCommands(options.onCommand, () => merge(options));
}

async function merge(options: MergeOptions): Promise<MergeSummary> {
  validate(options);
  checkPreset(options.preset);
  if (!options.outDir) throw new UsageError('outDir is required');
  const { signal } = options;
  // Everything that can be known before any work, so that a run that cannot succeed stops here.
  if (typeof options.source === 'string' && !isS3Url(options.source)) await checkLocalSource(options.source);
  await checkTool('ffmpeg', signal);
  await checkTool('ffprobe', signal);
  await checkOutputDir(options.outDir, options.source);
  if (options.upload) await checkUpload(options.upload, { ...options, signal });
  const outDir = path.resolve(options.outDir);
  const report = (p: MergeProgress) => options.onProgress?.(p);
  const { source: src, listed } = rememberListing(await open(options.source, { ...options, outDir }));
  try {
    await removeLeftovers(outDir);
    const inventoryRead = await readInventory(src, signal);
    checkRequestedUids(inventoryRead.inventory, options.uids);
    const read = await measureUnlisted(src, inventoryRead, signal);
    const probed = await probeFacts(src, read, options, signal);
    const plan = planMerge(probed.inventory, probed.facts, options);
    options.onPlan?.(plan);
    const containers = containersOf(probed.inventory);
    const silence = new Map<string, Promise<Buffer>>();
    const blackLeads: NonNullable<Parameters<typeof executeOutput>[1]['blackLeads']> = new Map();
    const concurrency = Math.max(1, options.concurrency ?? os.availableParallelism());
    const limit = pLimit(concurrency);
    // Encoder threads are shared by the outputs running at once; the last ones of a batch get every core.
    let unfinished = plan.outputs.length;
    const encoderThreads = () => {
      const running = Math.min(concurrency, unfinished);
      return running > 1 ? Math.max(1, Math.floor(os.availableParallelism() / running)) : undefined;
    };

    // --also-audio: the .m4a beside an MP4 that has audio, remuxed from it.
    const audioBeside = async (plan: OutputPlan, mp4: string): Promise<{ audioFile?: string }> => {
      const name = options.alsoAudio && plan.kind === 'av' ? audioBesideName(plan.fileName) : null;
      if (!name) return {};
      const file = outputPath(outDir, name);
      if (options.force || !(await isFinishedFile(file))) await writeAudioBeside(mp4, file, signal);
      return { audioFile: file };
    };

    const mergeOne = async (planned: OutputPlan): Promise<OutputResult> => {
      const started = Date.now();
      const base = { output: planned.id, fileName: planned.fileName, uid: planned.uid, sid: planned.sid, fraction: 0, positionMs: 0, durationMs: planned.durationMs, speed: null };
      const finalFile = outputPath(outDir, planned.fileName);
      const record = expectedRecord(planned, options, listed);
      const decision = options.force ? { skip: false as const, reason: null } : await rerunDecision(finalFile, record);
      if (decision.skip) {
        report({ ...base, phase: 'skipped', fraction: 1 });
        try {
          return resultOf(planned, { file: finalFile, skipped: true, ...(await audioBeside(planned, finalFile)) });
        } catch (error) {
          signal?.throwIfAborted();
          return resultOf(planned, { file: finalFile, skipped: true, error: (error as Error).message });
        }
      }
      const remade = decision.reason ? { remade: decision.reason } : {};
      let current = planned;
      try {
        await forgetRecord(finalFile);
        report({ ...base, phase: 'download' });
        const { paths, missing } = await src.materialize(planned.inputs, {
          signal,
          onProgress: (transfer) => report({ ...base, phase: 'download', transfer }),
        });
        const media = await measureSlices(paths, missing, planned, containers, signal);
        // Planned again with what the slices really hold (lengths, start times, keyframes); slices that
        // could not be had become gaps.
        const again = planMerge(missing.size > 0 ? markMissing(probed.inventory, missing) : probed.inventory, probed.facts, { ...options, uids: [planned.uid] }, media);
        const replanned = again.outputs.find((o) => o.id === planned.id);
        if (!replanned) {
          const why = again.failures.find((f) => f.uid === planned.uid)?.error;
          throw new Error(missing.size > 0 ? [...missing].map(([k, r]) => `${k}: ${r}`).join('; ') : (why ?? 'nothing left to merge'));
        }
        current = replanned;
        const done = await executeOutput(current, {
          outDir,
          paths,
          preset: options.preset ?? DEFAULT_PRESET,
          threads: encoderThreads(),
          signal,
          silence,
          blackLeads,
          onProgress: (p) =>
            report({ ...base, phase: 'merge', positionMs: p.outTimeMs, fraction: Math.min(1, p.outTimeMs / Math.max(1, current.durationMs)), speed: p.speed }),
        });
        await writeRecord(done.file, record);
        const beside = await audioBeside(current, done.file);
        let uploaded: string | undefined;
        if (options.upload) {
          report({ ...base, phase: 'upload', fraction: 1, positionMs: current.durationMs });
          const { uploadFile } = await import('./storage/upload.js');
          uploaded = await uploadFile(done.file, options.upload, { ...options, key: current.fileName, overwrite: options.force, signal });
          if (beside.audioFile) {
            await uploadFile(beside.audioFile, options.upload, { ...options, key: audioBesideName(current.fileName)!, overwrite: options.force, signal });
          }
        }
        report({ ...base, phase: 'done', fraction: 1, positionMs: current.durationMs });
        return resultOf(current, {
          file: done.file,
          durationMs: done.durationMs,
          uploaded,
          ...beside,
          videoPath: done.videoPath,
          audioPath: done.audioPath,
          warnings: [...current.warnings, ...done.warnings],
          elapsedMs: Date.now() - started,
          ...remade,
        });
      } catch (error) {
        signal?.throwIfAborted();
        report({ ...base, phase: 'failed' });
        return resultOf(current, { error: (error as Error).message, elapsedMs: Date.now() - started, ...remade });
      }
    };

    const results = await Promise.all(plan.outputs.map((o) => limit(() => mergeOne(o).finally(() => unfinished--))));
    signal?.throwIfAborted();
    const failed: OutputResult[] = plan.failures.map((f) => ({
      id: `${f.sid}/${f.uid}`,
      sid: f.sid,
      cname: f.cname,
      uid: f.uid,
      kind: 'av',
      file: null,
      durationMs: 0,
      videoPath: null,
      audioPath: null,
      skipped: false,
      warnings: [],
      error: f.error,
      elapsedMs: 0,
    }));
    const all = [...results, ...failed];
    return {
      results: all,
      ignored: probed.inventory.ignored,
      problems: probed.inventory.problems,
      ok: all.length > 0 && all.every((r) => r.error === null),
    };
  } finally {
    await src.dispose();
  }
}
