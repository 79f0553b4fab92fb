// Runs one composite plan: writes the concat lists, the label files and the filter graph, runs ffmpeg into
// a temporary name beside the final file, reads it back, and renames it (and its layout sidecar) into place.
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ComposeOutput } from '../core/compose-plan.js';
import { layoutJson } from '../core/layout.js';
import { formatUtc17 } from '../core/names.js';
import { probeOutput } from '../ffmpeg/probe.js';
import { runFfmpeg, type FfmpegProgress } from '../ffmpeg/runner.js';
import { concatList, concatQuote } from '../merge/commands.js';
import { outputPath, withLeadsCut } from '../merge/execute.js';
import { partialName, workPrefix } from '../merge/leftovers.js';
import { chunkArgs, composeArgs, videoChunks, videoPieces, type ComposeInputs } from './commands.js';

export interface ComposeContext {
  outDir: string;
  /** Slice key -> local file. */
  paths: Map<string, string>;
  preset: string;
  threads?: number;
  /** uid -> label text; null draws no labels. */
  labels: Map<string, string> | null;
  signal?: AbortSignal;
  onProgress?: (progress: FfmpegProgress) => void;
  /** Inputs one ffmpeg pass may open (default 40); a composite with more is encoded in chunks, then joined. */
  maxPiecesPerPass?: number;
}

export const DEFAULT_MAX_PIECES_PER_PASS = 40;

export interface ComposeExecuteResult {
  file: string;
  layoutFile: string | null;
  /** Measured from the written file. */
  durationMs: number;
}

export const layoutFileOf = (file: string) => `${file}.layout.json`;

export async function executeCompose(out: ComposeOutput, ctx: ComposeContext): Promise<ComposeExecuteResult> {
  const finalFile = outputPath(ctx.outDir, out.fileName);
  await mkdir(path.dirname(finalFile), { recursive: true });
  const workDir = await mkdtemp(workPrefix());
  const unique = randomBytes(4).toString('hex');
  const partial = partialName(finalFile, unique);
  const finalLayout = out.layout ? layoutFileOf(finalFile) : null;
  const partialLayout = finalLayout ? partialName(finalLayout, unique) : null;
  try {
    const inputs: ComposeInputs = { videoLists: [], audioLists: [], labelFiles: null };
    const pieces = videoPieces(out);
    // A run that starts without a keyframe is read from its first keyframe (see PlacedSlice.leadMs).
    const videoPaths = await withLeadsCut(out.videoRuns.flatMap((r) => r.slices), ctx.paths, workDir);
    const lists: string[] = [];
    for (const [i, piece] of pieces.entries()) {
      const list = path.join(workDir, `video-${i}.ffconcat`);
      await writeFile(list, concatList(piece.slices, videoPaths, true));
      lists.push(list);
    }
    for (const [i, run] of out.audioRuns.entries()) {
      const list = path.join(workDir, `audio-${i}.ffconcat`);
      await writeFile(list, concatList(run.slices, ctx.paths, true));
      inputs.audioLists.push(list);
    }
    if (ctx.labels && out.kind === 'av') {
      inputs.labelFiles = [];
      for (const [i, user] of out.users.entries()) {
        const file = path.join(workDir, `label-${i}.txt`);
        await writeFile(file, ctx.labels.get(user.uid) ?? user.uid);
        inputs.labelFiles.push(file);
      }
    }
    const chunks = out.kind === 'av' ? videoChunks(out, pieces, ctx.maxPiecesPerPass ?? DEFAULT_MAX_PIECES_PER_PASS) : [];
    if (chunks.length > 1) {
      // Encoded chunk by chunk (a bounded number of decoders open at once), then joined by stream copy.
      const entries = ['ffconcat version 1.0'];
      for (const [c, range] of chunks.entries()) {
        const mine = pieces.filter((p) => p.interval >= range.from && p.interval < range.to);
        const chunkGraph = path.join(workDir, `chunk-${c}.txt`);
        const chunkFile = path.join(workDir, `chunk-${c}.mp4`);
        const startMs = (out.layout!.intervals[range.from]!.startFrame * 1000) / out.fps;
        const { args, graph, durationMs } = chunkArgs(out, mine, range, mine.map((p) => lists[pieces.indexOf(p)]!), inputs.labelFiles, chunkGraph, chunkFile, { preset: ctx.preset, threads: ctx.threads });
        await writeFile(chunkGraph, graph);
        await runFfmpeg(args, { signal: ctx.signal, onProgress: ctx.onProgress ? (p) => ctx.onProgress!({ ...p, outTimeMs: startMs + p.outTimeMs, done: false }) : undefined });
        entries.push(`file ${concatQuote(chunkFile)}`, `duration ${(durationMs / 1000).toFixed(6)}`);
      }
      inputs.videoChunks = path.join(workDir, 'chunks.ffconcat');
      await writeFile(inputs.videoChunks, `${entries.join('\n')}\n`);
    } else inputs.videoLists = lists;
    const graphFile = path.join(workDir, 'graph.txt');
    const { args, graph } = composeArgs(out, inputs, graphFile, partial, { preset: ctx.preset, threads: ctx.threads });
    await writeFile(graphFile, graph);
    await runFfmpeg(args, { signal: ctx.signal, onProgress: ctx.onProgress });

    let check;
    try {
      check = await probeOutput(partial, ctx.signal);
    } catch (error) {
      throw new Error(`the written file cannot be read back (${(error as Error).message.split('\n').at(-1)}); it was removed`, { cause: error });
    }
    if ((out.kind === 'av' && !check.hasVideo) || !check.hasAudio) throw new Error('the written file lacks a stream; it was removed');
    if (!(check.durationMs > 0)) throw new Error('the written file is empty; it was removed');

    if (out.layout && partialLayout && finalLayout) await writeFile(partialLayout, `${layoutJson(out.layout, formatUtc17)}\n`);
    await rename(partial, finalFile);
    if (partialLayout && finalLayout) await rename(partialLayout, finalLayout);
    return { file: finalFile, layoutFile: finalLayout, durationMs: check.durationMs };
  } finally {
    await rm(partial, { force: true });
    if (partialLayout) await rm(partialLayout, { force: true });
    await rm(workDir, { recursive: true, force: true });
  }
}
