// Runs one output plan: writes the concat lists (and the placed AAC stream on the copy path), runs
// ffmpeg into a temporary name beside the final file, and renames it when complete.
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { AudioRun, MergePath, OutputPlan, PlacedSlice, VideoRun } from '../core/types.js';
import { probeOutput } from '../ffmpeg/probe.js';
import { runFfmpeg, type FfmpegProgress } from '../ffmpeg/runner.js';
import { type AdtsConfig, SAMPLE_RATES, splitAdts } from '../media/adts.js';
import { AudioCopyError, type PlacedAudio, writePlacedAdts } from '../media/audio-placer.js';
import { scanTs } from '../media/ts-scan.js';
import { dropLeadBeforeKeyframe } from '../media/ts-trim.js';
import { concatList, concatQuote, mergeArgs, type MergeInputs } from './commands.js';
import { partialName, workPrefix } from './leftovers.js';

export interface ExecuteContext {
  outDir: string;
  /** Slice key -> local file. */
  paths: Map<string, string>;
  preset: string;
  threads?: number;
  signal?: AbortSignal;
  onProgress?: (progress: FfmpegProgress) => void;
  /** Silent AAC frames by configuration, shared by the outputs of one run. */
  silence: Map<string, Promise<Buffer>>;
  /** Black lead clips by picture size, shared by the outputs of one run (see blackLead). */
  blackLeads?: Map<string, Promise<BlackClip>>;
}

export interface ExecuteResult {
  file: string;
  /** Measured from the written file. */
  durationMs: number;
  videoPath: MergePath | null;
  audioPath: MergePath | null;
  warnings: string[];
}

const LAYOUTS = ['', 'mono', 'stereo', '3.0', '4.0', '5.0', '5.1', '7.1'];

/** One AAC frame of digital silence in this configuration (in its own folder: it outlives any one output). */
async function encodeSilentFrame(config: AdtsConfig, signal?: AbortSignal): Promise<Buffer> {
  const dir = await mkdtemp(workPrefix());
  try {
    const file = path.join(dir, 'silence.aac');
    const layout = LAYOUTS[config.channelConfig] ?? 'stereo';
    await runFfmpeg(['-y', '-loglevel', 'error', '-f', 'lavfi', '-i', `anullsrc=r=${SAMPLE_RATES[config.sampleRateIndex]}:cl=${layout}`,
      '-t', '1', '-c:a', 'aac', '-b:a', '64k', '-f', 'adts', file], { signal });
    const { frames } = splitAdts(await readFile(file));
    // Past the encoder's start-up frames every frame of digital silence is the same; take one.
    const frame = frames[Math.floor(frames.length / 2)];
    if (!frame) throw new Error('ffmpeg produced no silent AAC frame');
    return frame;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Resolves a plan's file name inside the output folder, refusing anything that would leave it. */
export function outputPath(outDir: string, fileName: string): string {
  const root = path.resolve(outDir);
  const file = path.resolve(root, fileName);
  if (!file.startsWith(root + path.sep)) throw new Error(`output name "${fileName}" would be written outside ${root}`);
  return file;
}

/**
 * An output is renamed into place only when it reads back with the streams it should have. (A full disk
 * can leave a file without its index even when ffmpeg exits 0.) Returns its real length.
 */
async function verifyOutput(file: string, plan: OutputPlan, signal?: AbortSignal): Promise<number> {
  let check;
  try {
    check = await probeOutput(file, signal);
  } catch (error) {
    throw new Error(`the written file cannot be read back (${(error as Error).message.split('\n').at(-1)}); it was removed`, { cause: error });
  }
  const missing = [plan.video && !check.hasVideo && 'video', plan.audio && !check.hasAudio && 'audio'].filter(Boolean);
  if (missing.length > 0) throw new Error(`the written file has no ${missing.join(' or ')} stream; it was removed`);
  if (!(check.durationMs > 0)) throw new Error('the written file is empty; it was removed');
  return check.durationMs;
}

/** Pieces of placed audio (see writePlacedAdts) as transcode runs: each from its first frame to the next piece. */
function piecesAsRuns(placed: PlacedAudio, frameMs: number): AudioRun[] {
  return placed.pieces.map((piece, i) => ({
    slices: [],
    offsetMs: piece.startFrame * frameMs,
    endMs: (placed.pieces[i + 1]?.startFrame ?? placed.frames) * frameMs,
    codec: 'aac',
    sampleRate: placed.sampleRate,
    channels: piece.config.channelConfig,
    profile: 'LC',
  }));
}

/** TS slices with an undecodable lead (see PlacedSlice.leadMs) are read from a copy that starts at the keyframe. */
export async function withLeadsCut(slices: PlacedSlice[], paths: Map<string, string>, workDir: string): Promise<Map<string, string>> {
  const out = new Map(paths);
  for (const [i, s] of slices.entries()) {
    const file = paths.get(s.key);
    if (!s.leadMs || !file || !file.endsWith('.ts')) continue;
    const cut = path.join(workDir, `lead-cut-${i}.ts`);
    await writeFile(cut, dropLeadBeforeKeyframe(await readFile(file)).data);
    out.set(s.key, cut);
  }
  return out;
}

/** A clip this short cannot be probed by ffmpeg's TS demuxer ("End of file"): leads are at least this long. */
const MIN_LEAD_FRAMES = 30;
/** Black frames per second in a lead clip: a copied track is variable-rate anyway. */
const LEAD_FPS = 1;

interface BlackClip {
  data: Buffer;
  /** The clip's first timestamp (its concat out point is counted from there). */
  startS: number;
}

/**
 * Black H.264 frames of the run's size, one a second, for the time before a copied video's first picture.
 * A lead up to MIN_LEAD_FRAMES seconds (the common case: the camera starts a moment after the microphone)
 * uses one clip per picture size, encoded once per run; a longer one gets its own.
 */
function blackLead(run: VideoRun, durationMs: number, ctx: ExecuteContext): Promise<BlackClip> {
  const frames = Math.max(MIN_LEAD_FRAMES, Math.ceil((durationMs / 1000) * LEAD_FPS));
  if (frames > MIN_LEAD_FRAMES || !ctx.blackLeads) return encodeBlackClip(run, frames, ctx.signal);
  const key = `${run.width}x${run.height}`;
  let clip = ctx.blackLeads.get(key);
  if (!clip) {
    clip = encodeBlackClip(run, frames, ctx.signal);
    ctx.blackLeads.set(key, clip);
    clip.catch(() => ctx.blackLeads?.delete(key));
  }
  return clip;
}

async function encodeBlackClip(run: VideoRun, frames: number, signal?: AbortSignal): Promise<BlackClip> {
  const dir = await mkdtemp(workPrefix());
  try {
    const file = path.join(dir, 'black.ts');
    await runFfmpeg(['-y', '-loglevel', 'error', '-f', 'lavfi', '-i', `color=c=black:s=${run.width}x${run.height}:r=${LEAD_FPS}`, '-frames:v', String(frames),
      '-c:v', 'libx264', '-preset', 'veryfast', '-tune', 'stillimage', '-pix_fmt', 'yuv420p', '-bf', '0', '-g', String(frames), '-f', 'mpegts', file], { signal });
    const data = await readFile(file);
    const first = scanTs(data).streams.find((s) => s.kind === 'video')?.units.find((u) => u.pts !== null)?.pts;
    if (first === undefined || first === null) throw new Error('the black lead clip has no timestamps');
    return { data, startS: first };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export async function executeOutput(plan: OutputPlan, ctx: ExecuteContext): Promise<ExecuteResult> {
  const finalFile = outputPath(ctx.outDir, plan.fileName);
  await mkdir(path.dirname(finalFile), { recursive: true });
  const workDir = await mkdtemp(workPrefix());
  const partial = partialName(finalFile, randomBytes(4).toString('hex'));
  const warnings: string[] = [];
  try {
    const inputs: MergeInputs = { videoLists: [], videoDelayMs: 0, adtsFile: null, audioLists: [] };
    const video = plan.video;
    if (video) {
      const paths = await withLeadsCut(video.runs.flatMap((r) => r.slices), ctx.paths, workDir);
      if (video.path === 'copy') {
        // Black before a late first picture: players show the first frame during an MP4 empty edit.
        const first = video.runs[0]!;
        const fps = first.fps ?? 15;
        let lead: { file: string; durationMs: number; startS: number } | undefined;
        if (first.offsetMs >= 1000 / fps) {
          const file = path.join(workDir, 'black-lead.ts');
          const clip = await blackLead(first, first.offsetMs, ctx);
          await writeFile(file, clip.data);
          lead = { file, durationMs: first.offsetMs, startS: clip.startS };
        } else {
          inputs.videoDelayMs = first.offsetMs;
        }
        const list = path.join(workDir, 'video-0.ffconcat');
        await writeFile(list, concatList(video.runs.flatMap((r) => r.slices), paths, true, lead));
        inputs.videoLists.push(list);
      } else {
        for (const [i, run] of video.runs.entries()) {
          const list = path.join(workDir, `video-${i}.ffconcat`);
          await writeFile(list, concatList(run.slices, paths, true));
          inputs.videoLists.push(list);
        }
      }
    }

    let audioPath: MergePath | null = plan.audio?.path ?? null;
    let audioPlan = plan.audio;
    if (plan.audio) {
      const slices = plan.audio.runs.flatMap((r) => r.slices);
      const silence = (config: AdtsConfig) => {
        const key = `${config.objectType}/${config.sampleRateIndex}/${config.channelConfig}`;
        let frame = ctx.silence.get(key);
        if (!frame) {
          frame = encodeSilentFrame(config, ctx.signal);
          ctx.silence.set(key, frame);
          // A failure is not kept: the next output tries again.
          frame.catch(() => ctx.silence.delete(key));
        }
        return frame;
      };
      const endMs = plan.trim ? plan.trim.fromMs + plan.trim.durationMs : plan.durationMs;
      if (plan.audio.path === 'copy') {
        const adts = path.join(workDir, 'audio.aac');
        try {
          const placed = await writePlacedAdts(slices, ctx.paths, adts, silence, ctx.signal, endMs);
          warnings.push(...placed.warnings);
          inputs.adtsFile = adts;
        } catch (error) {
          if (!(error instanceof AudioCopyError)) throw error;
          warnings.push(`audio is re-encoded: ${error.message}`);
          audioPath = 'transcode';
        }
      } else if (plan.audio.changesInside.length > 0) {
        // The channel count changes inside a slice: ffmpeg cannot change an input's layout mid-stream, so
        // the frames are laid on the wall clock in Node and split at every change, one input per piece.
        const placed = await writePlacedAdts(slices, ctx.paths, path.join(workDir, 'audio-piece-0.aac'), silence, ctx.signal, endMs, (i) =>
          path.join(workDir, `audio-piece-${i}.aac`),
        );
        warnings.push(...placed.warnings);
        const frameMs = (1024 / placed.sampleRate) * 1000;
        audioPlan = { ...plan.audio, runs: piecesAsRuns(placed, frameMs) };
        for (const [i, piece] of placed.pieces.entries()) {
          const list = path.join(workDir, `audio-${i}.ffconcat`);
          await writeFile(list, `ffconcat version 1.0\nfile ${concatQuote(piece.file)}\n`);
          inputs.audioLists.push(list);
        }
      }
      if (!inputs.adtsFile && inputs.audioLists.length === 0) {
        for (const [i, run] of plan.audio.runs.entries()) {
          const list = path.join(workDir, `audio-${i}.ffconcat`);
          await writeFile(list, concatList(run.slices, ctx.paths, true));
          inputs.audioLists.push(list);
        }
      }
    }

    const args = mergeArgs({ ...plan, audio: audioPlan }, inputs, partial, { preset: ctx.preset, threads: ctx.threads });
    await runFfmpeg(args, { signal: ctx.signal, onProgress: ctx.onProgress });
    const durationMs = await verifyOutput(partial, plan, ctx.signal);
    await rename(partial, finalFile);
    return { file: finalFile, durationMs, videoPath: video?.path ?? null, audioPath, warnings };
  } finally {
    await rm(partial, { force: true });
    await rm(workDir, { recursive: true, force: true });
  }
}
