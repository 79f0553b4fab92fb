// Library entry point of the composite: one MP4 per session (grid of everyone present, mixed audio) or,
// with mode 'mix-audio', one .m4a per session. Same contract as mergeRecordings: per-output failures are in
// the results, never thrown; it throws only for usage errors, an unreadable source, or cancellation.
import { stat } from 'node:fs/promises';
import path from 'node:path';
import pLimit from 'p-limit';
import { UsageError } from '../api.js';
import { planCompose, type ComposeOutput, type ComposePlan, type ComposePlanOptions } from '../core/compose-plan.js';
import { DEFAULT_MAX_TILES } from '../core/layout.js';
import { markMissing } from '../core/inventory.js';
import type { Inventory, Problem } from '../core/types.js';
import { resolveTool } from '../ffmpeg/runner.js';
import { removeLeftovers } from '../merge/leftovers.js';
import type { SourceSpec, StorageOptions } from '../options.js';
import { containersOf, measureSlices, measureUnlisted, probeFacts, readInventory } from '../recording-reader.js';
import { isS3Url, openSource } from '../storage/open.js';
import type { TransferProgress } from '../storage/source.js';
import { DEFAULT_COMPOSE_PRESET } from './commands.js';
import { executeCompose, layoutFileOf } from './execute.js';
import { outputPath } from '../merge/execute.js';
import { isFinishedFile } from '../merge/finished-file.js';

export interface ComposeOptions extends StorageOptions, ComposePlanOptions {
  source: SourceSpec;
  outDir: string;
  /** Draw each user's UID in its tile; a map gives names instead (uid -> name; missing uids show the UID). */
  labels?: boolean | Record<string, string>;
  /** x264 preset (default veryfast). */
  preset?: string;
  /**
   * Video inputs one ffmpeg pass may open (default 40): each (user run, layout interval) piece is an input
   * holding a decoder, so a long class with many layout changes is encoded in chunks of intervals and joined.
   */
  maxPiecesPerPass?: number;
  /** Composites made in parallel (default 1: one already uses every core). */
  concurrency?: number;
  force?: boolean;
  /** Also upload finished files (and layout sidecars) to `s3://bucket/prefix`. */
  upload?: string;
  onProgress?: (progress: ComposeProgress) => void;
  signal?: AbortSignal;
}

export interface ComposeProgress {
  output: string;
  fileName: string;
  phase: 'download' | 'compose' | 'done' | 'failed' | 'skipped';
  fraction: number;
  positionMs: number;
  durationMs: number;
  speed: number | null;
  transfer?: TransferProgress;
}

export interface ComposeResult {
  /** `<sid>` (or `<cname>` with joined sessions). */
  id: string;
  sid: string | null;
  cname: string;
  kind: 'av' | 'audio';
  file: string | null;
  layoutFile: string | null;
  uploaded?: string[];
  durationMs: number;
  /** UIDs in the composite, in join order. */
  uids: string[];
  /** UIDs whose files could not be read, left out of the composite (the reasons are in `warnings`). */
  leftOut: string[];
  skipped: boolean;
  warnings: string[];
  error: string | null;
  elapsedMs: number;
}

export interface ComposeSummary {
  results: ComposeResult[];
  ignored: { key: string; reason: string }[];
  problems: Problem[];
  ok: boolean;
}

function validate(options: ComposeOptions): void {
  if (!options.outDir) throw new UsageError('outDir is required');
  if (options.mode !== undefined && options.mode !== 'av' && options.mode !== 'mix-audio') throw new UsageError(`mode must be av or mix-audio (got ${options.mode})`);
  if (options.gaps !== undefined && options.gaps !== 'freeze' && options.gaps !== 'black') throw new UsageError(`gaps must be freeze or black for a composite (got ${options.gaps})`);
  if (options.fps !== undefined && !(Number.isFinite(options.fps) && options.fps > 0 && options.fps <= 120)) throw new UsageError(`fps must be a positive number up to 120 (got ${options.fps})`);
  if (options.maxTiles !== undefined && !(Number.isInteger(options.maxTiles) && options.maxTiles >= 1 && options.maxTiles <= 64)) {
    throw new UsageError(`max-tiles must be a whole number from 1 to 64 (got ${options.maxTiles})`);
  }
  const s = options.size;
  if (s && !(Number.isInteger(s.width) && Number.isInteger(s.height) && s.width >= 16 && s.height >= 16 && s.width <= 8192 && s.height <= 8192 && s.width % 2 === 0 && s.height % 2 === 0)) {
    throw new UsageError(`size must be even and between 16x16 and 8192x8192 (got ${s.width}x${s.height})`);
  }
}

const planOptions = (options: ComposeOptions) => ({
  mode: options.mode,
  size: options.size,
  fps: options.fps,
  gaps: options.gaps,
  maxTiles: options.maxTiles ?? DEFAULT_MAX_TILES,
  audioTiles: options.audioTiles,
  joinSessions: options.joinSessions,
  uids: options.uids,
});

/** Which tracks' slices the plan's facts are read from (all users, or their audio only for the mix). */
const factsOptions = (options: ComposePlanOptions) => ({ mode: options.mode === 'mix-audio' ? ('audio' as const) : ('av' as const), joinSessions: options.joinSessions, uids: options.uids });

function resultOf(out: ComposeOutput, extra: Partial<ComposeResult>): ComposeResult {
  return {
    id: out.id,
    sid: out.sid,
    cname: out.cname,
    kind: out.kind,
    file: null,
    layoutFile: null,
    durationMs: out.durationMs,
    uids: out.users.map((u) => u.uid),
    leftOut: out.leftOut,
    skipped: false,
    warnings: out.warnings,
    error: null,
    elapsedMs: 0,
    ...extra,
  };
}

/** The composite plan, without composing (probes what it depends on). */
export async function planComposition(options: Omit<ComposeOptions, 'outDir'> & { outDir?: string }): Promise<ComposePlan & { inventory: Inventory }> {
  validate({ ...options, outDir: options.outDir ?? '.' });
  resolveTool('ffprobe');
  const src = await openChecked(options.source, { ...options, outDir: path.resolve(options.outDir ?? '.') });
  try {
    const read = await measureUnlisted(src, await readInventory(src, options.signal), options.signal);
    const probed = await probeFacts(src, read, factsOptions(options), options.signal);
    return { ...planCompose(probed.inventory, probed.facts, planOptions(options as ComposeOptions)), inventory: probed.inventory };
  } finally {
    await src.dispose();
  }
}

async function openChecked(spec: SourceSpec, options: StorageOptions & { outDir: string }) {
  if (typeof spec === 'string' && !isS3Url(spec)) {
    const info = await stat(spec).catch(() => null);
    if (!info?.isDirectory()) throw new UsageError(`${path.resolve(spec)}: no such folder`);
  }
  return openSource(spec, options);
}

/**
 * Composes every session of a recording (folder, s3:// prefix or RecordingSource) into one video (grid of
 * everyone present, all audio mixed) with a `<file>.layout.json` sidecar, or one mixed .m4a per session.
 */
export async function composeRecordings(options: ComposeOptions): Promise<ComposeSummary> {
  validate(options);
  resolveTool('ffmpeg');
  resolveTool('ffprobe');
  const { signal } = options;
  const outDir = path.resolve(options.outDir);
  const report = (p: ComposeProgress) => options.onProgress?.(p);
  const labels = options.labels ? new Map(Object.entries(options.labels === true ? {} : options.labels)) : null;
  const src = await openChecked(options.source, { ...options, outDir });
  try {
    await removeLeftovers(outDir);
    const read = await measureUnlisted(src, await readInventory(src, signal), signal);
    const probed = await probeFacts(src, read, factsOptions(options), signal);
    const plan = planCompose(probed.inventory, probed.facts, planOptions(options));
    const containers = containersOf(probed.inventory);
    const limit = pLimit(Math.max(1, options.concurrency ?? 1));

    const composeOne = async (planned: ComposeOutput): Promise<ComposeResult> => {
      const started = Date.now();
      const base = { output: planned.id, fileName: planned.fileName, fraction: 0, positionMs: 0, durationMs: planned.durationMs, speed: null };
      const finalFile = outputPath(outDir, planned.fileName);
      const layoutFile = planned.layout ? layoutFileOf(finalFile) : null;
      if (!options.force && (await isFinishedFile(finalFile)) && (!layoutFile || (await isFinishedFile(layoutFile)))) {
        report({ ...base, phase: 'skipped', fraction: 1 });
        return resultOf(planned, { file: finalFile, layoutFile, skipped: true });
      }
      let current = planned;
      try {
        report({ ...base, phase: 'download' });
        const { paths, missing } = await src.materialize(planned.inputs, { signal, onProgress: (transfer) => report({ ...base, phase: 'download', transfer }) });
        // What each slice really holds (lengths, first timestamps, keyframes); slices that could not be had
        // or read become gaps (or leave their user out). The output is planned again with that.
        const media = await measureSlices(paths, missing, planned, containers, signal);
        const again = planCompose(missing.size > 0 ? markMissing(probed.inventory, missing) : probed.inventory, probed.facts, planOptions(options), media).outputs.find((o) => o.id === planned.id);
        if (!again) throw new Error([...missing].map(([k, r]) => `${k}: ${r}`).join('; ') || 'nothing left to compose');
        current = again;
        const done = await executeCompose(current, {
          outDir,
          paths,
          preset: options.preset ?? DEFAULT_COMPOSE_PRESET,
          labels,
          signal,
          maxPiecesPerPass: options.maxPiecesPerPass,
          onProgress: (p) =>
            report({ ...base, phase: 'compose', positionMs: p.outTimeMs, fraction: Math.min(1, p.outTimeMs / Math.max(1, current.durationMs)), speed: p.speed }),
        });
        const uploaded: string[] = [];
        if (options.upload) {
          for (const [file, key] of [[done.file, current.fileName], ...(done.layoutFile ? [[done.layoutFile, `${current.fileName}.layout.json`]] : [])] as [string, string][]) {
            // The AWS SDK is loaded only when something is uploaded.
            const { uploadFile } = await import('../storage/upload.js');
            uploaded.push(await uploadFile(file, options.upload, { ...options, key, overwrite: options.force, signal }));
          }
        }
        report({ ...base, phase: 'done', fraction: 1, positionMs: current.durationMs });
        return resultOf(current, {
          file: done.file,
          layoutFile: done.layoutFile,
          durationMs: done.durationMs,
          ...(options.upload ? { uploaded } : {}),
          elapsedMs: Date.now() - started,
        });
      } catch (error) {
        signal?.throwIfAborted();
        report({ ...base, phase: 'failed' });
        return resultOf(current, { error: (error as Error).message, elapsedMs: Date.now() - started });
      }
    };

    const results = await Promise.all(plan.outputs.map((o) => limit(() => composeOne(o))));
    signal?.throwIfAborted();
    const failed: ComposeResult[] = plan.failures.map((f) => ({
      id: f.sid || f.cname,
      sid: f.sid || null,
      cname: f.cname,
      kind: options.mode === 'mix-audio' ? 'audio' : 'av',
      file: null,
      layoutFile: null,
      durationMs: 0,
      uids: [],
      leftOut: [],
      skipped: false,
      warnings: [],
      error: f.error,
      elapsedMs: 0,
    }));
    const all = [...results, ...failed];
    return { results: all, ignored: probed.inventory.ignored, problems: probed.inventory.problems, ok: all.length > 0 && all.every((r) => r.error === null && r.leftOut.length === 0) };
  } finally {
    await src.dispose();
  }
}
