// `merge` as the run pipeline sees it: one MP4 (or .m4a) per user, planned by planMerge and rendered by
// renderMerge; `alsoAudio` adds the .m4a remuxed beside each MP4 as a second file of the same output.
import os from 'node:os';
import { UsageError } from '../core/errors.js';
import { loudnessTarget } from '../core/loudness.js';
import { MERGE_MODES } from '../core/options.js';
import { mergeEvents } from '../core/events.js';
import { audioBesideName, eventSidecars } from '../core/output-names.js';
import { planMerge } from '../core/plan.js';
import type { OutputPlan } from '../core/types.js';
import { runFfmpeg } from '../ffmpeg/runner.js';
import type { MergeOptions, OutputResult } from '../options.js';
import type { Kind, PlannedOutput } from '../pipeline/kind.js';
import { outputLabels } from '../pipeline/labels.js';
import { checkDecoded } from '../render/decoded.js';
import { allSettledOrThrow } from '../render/settled.js';
import { audioBesideArgs, renderMerge } from './render.js';
import { DEFAULT_PRESET } from '../core/options.js';

export type MergeOutput = OutputPlan & PlannedOutput & { uid: string };

const withFiles = (plan: OutputPlan, options: MergeOptions): MergeOutput => {
  const beside = options.alsoAudio && plan.kind === 'av' ? audioBesideName(plan.fileName) : null;
  return { ...plan, files: [plan.fileName, ...(beside ? [beside] : []), ...eventSidecars(plan.fileName)] };
};

export const mergeKind: Kind<MergeOptions, MergeOutput, OutputResult> = {
  name: 'merge',
  phase: 'merge',
  check(options) {
    if (options.mode !== undefined && !MERGE_MODES.includes(options.mode)) throw new UsageError(`mode must be one of ${MERGE_MODES.join(', ')} (got ${options.mode})`);
    // The session's clock and the other audio formats are for audio files (speaker-aligned tracks).
    if (options.align === 'session' && options.mode !== 'audio') throw new UsageError(`align session needs mode audio (got mode ${options.mode ?? 'av'})`);
    if (options.audioFormat !== undefined && options.audioFormat !== 'm4a' && options.mode !== 'audio') {
      throw new UsageError(`audio format ${options.audioFormat} needs mode audio (got mode ${options.mode ?? 'av'})`);
    }
    if (options.align === 'session' && options.gaps === 'cut') throw new UsageError('align session keeps every user on the session clock: gaps cut would take that away');
  },
  scope: (options) => ({ mode: options.mode, uids: options.uids, joinSessions: options.joinSessions }),
  concurrency: () => os.availableParallelism(),
  plan(inventory, facts, options, media) {
    const plan = planMerge(inventory, facts, options, media);
    return { outputs: plan.outputs.map((o) => withFiles(o, options)), failures: plan.failures };
  },
  labels: outputLabels,
  byteOptions(options, plan) {
    return {
      mode: options.mode ?? 'av',
      gaps: options.gaps ?? 'freeze',
      size: options.size ? `${options.size.width}x${options.size.height}` : undefined,
      fps: options.fps,
      from: options.from,
      duration: options.duration,
      joinSessions: options.joinSessions || undefined,
      splitGap: options.mode === 'segments' ? (options.splitGap ?? 15) : undefined,
      transcode: options.transcode || undefined,
      align: options.align === 'session' ? 'session' : undefined,
      audioFormat: options.audioFormat !== undefined && options.audioFormat !== 'm4a' ? options.audioFormat : undefined,
      loudnorm: loudnessTarget(options.loudnorm)?.lufs,
      // The preset matters only where something is re-encoded.
      preset: plan.video?.path === 'transcode' || plan.audio?.path === 'transcode' || options.transcode ? (options.preset ?? DEFAULT_PRESET) : undefined,
    };
  },
  events: mergeEvents,
  async render(plan, work, options) {
    const mp4 = plan.files[0]!;
    const { args, decode, warnings, videoPath, audioPath, expected } = await renderMerge(plan, work.temp(mp4), { ...work, chunkEncoder: options.chunkEncoder }, loudnessTarget(options.loudnorm));
    // The MP4 is written while the copied audio is decoded beside it (see adtsDecodeArgs); both end before anything goes on.
    const [written, decoded] = await allSettledOrThrow([
      runFfmpeg(args, { signal: work.signal, inputStats: true, onProgress: (p) => work.onProgress(p.outTimeMs, p.speed) }),
      decode ? runFfmpeg(decode.args, { signal: work.signal, inputStats: true }) : Promise.resolve(null),
    ]);
    const inputs = [
      ...(written!.inputs ?? []).filter((s) => !decode || s.file !== decode.input),
      ...(decoded?.inputs ?? []).filter((s) => s.file === 0).map((s) => ({ ...s, file: decode!.input })),
    ];
    // Media a slice was measured to hold but ffmpeg could not read is never lost without a word.
    warnings.push(...(await checkDecoded(expected, inputs, work.paths, work.signal)));
    const media: Record<string, { video: boolean; audio: boolean }> = { [mp4]: { video: plan.video !== null, audio: plan.audio !== null } };
    const beside = plan.files.find((f) => f === audioBesideName(mp4));
    if (beside) {
      // --also-audio: the MP4's own audio track, remuxed (the recording's audio is read once).
      await runFfmpeg(audioBesideArgs(work.temp(mp4), work.temp(beside)), { signal: work.signal });
      media[beside] = { video: false, audio: true };
    }
    return { written: beside ? [mp4, beside] : [mp4], durationMs: plan.durationMs, media, warnings, extra: { videoPath, audioPath } };
  },
  result(plan, base, { rendered, uploaded, files }) {
    const extra = (rendered?.extra ?? {}) as { videoPath?: OutputResult['videoPath']; audioPath?: OutputResult['audioPath'] };
    const beside = plan.files.find((f) => f === audioBesideName(plan.fileName));
    const audioFile = beside ? files.find((f) => f.endsWith(`/${beside}`)) : undefined;
    return {
      ...base,
      uid: plan.uid,
      kind: plan.kind,
      videoPath: extra.videoPath ?? plan.video?.path ?? null,
      audioPath: extra.audioPath ?? plan.audio?.path ?? null,
      ...(uploaded[0] ? { uploaded: uploaded[0] } : {}),
      ...(audioFile ? { audioFile } : {}),
    };
  },
  failure(f) {
    return {
      id: `${f.sid}/${f.uid}`,
      sid: f.sid,
      cname: f.cname,
      uid: f.uid ?? '',
      kind: 'av',
      file: null,
      durationMs: 0,
      videoPath: null,
      audioPath: null,
      skipped: false,
      warnings: [],
      error: f.error,
      elapsedMs: 0,
    };
  },
};
