// A compose queue job (`options.compose` in a merge job): composeRecordings() answering in the shape the
// worker reports and writes manifests from (one result per composite, its layout sidecar beside it).
import { composeRecordings } from '../api.js';
import type { ComposeLayoutMode } from '../core/options.js';
import type { ComposeOptions, MergeOptions, MergeSummary, OutputResult } from '../options.js';

/** What a job may ask of a composite, on top of the merge job options it shares (size, fps, gaps, uids, ...). */
export interface ComposeJobOptions {
  /** true: the composite MP4; 'mix-audio': only the mixed audio (.m4a per session). */
  compose?: true | 'mix-audio';
  maxTiles?: number;
  audioTiles?: boolean;
  /** Draw UIDs in the tiles, or these names (uid -> name). */
  labels?: boolean | Record<string, string>;
  /** 'grid' (default), 'speaker' or 'vertical' (see ComposePlanOptions.layout). */
  layout?: ComposeLayoutMode;
}

export async function composeForJob(merge: MergeOptions & ComposeJobOptions): Promise<MergeSummary> {
  const options: ComposeOptions = {
    source: merge.source,
    outDir: merge.outDir,
    mode: merge.compose === 'mix-audio' ? 'mix-audio' : 'av',
    size: merge.size,
    fps: merge.fps,
    gaps: merge.gaps === 'black' ? 'black' : 'freeze',
    maxTiles: merge.maxTiles,
    audioTiles: merge.audioTiles,
    labels: merge.labels,
    loudnorm: merge.loudnorm,
    layout: merge.layout,
    joinSessions: merge.joinSessions,
    uids: merge.uids,
    preset: merge.preset,
    force: merge.force,
    upload: merge.upload,
    s3Client: merge.s3Client,
    endpoint: merge.endpoint,
    region: merge.region,
    forcePathStyle: merge.forcePathStyle,
    downloadConcurrency: merge.downloadConcurrency,
    cacheDir: merge.cacheDir,
    keepDownloads: merge.keepDownloads,
    signal: merge.signal,
    // A job's progress counts the work phase as 'merge', whatever the command.
    onProgress: merge.onProgress ? (p) => merge.onProgress!({ ...p, phase: p.phase === 'compose' ? 'merge' : p.phase }) : undefined,
  };
  const summary = await composeRecordings(options);
  const results: OutputResult[] = summary.results.map((r) => ({
    id: r.id,
    sid: r.sid,
    cname: r.cname,
    // A composite is everyone's: no single uid.
    uid: '',
    kind: r.kind,
    file: r.file,
    ...(r.uploaded?.[0] ? { uploaded: r.uploaded[0] } : {}),
    durationMs: r.durationMs,
    videoPath: r.kind === 'av' ? 'transcode' : null,
    audioPath: 'transcode',
    skipped: r.skipped,
    warnings: r.warnings,
    // Users left out make the job fail like a failed output of a merge (their files are named in the warnings).
    error: r.error ?? (r.leftOut.length > 0 ? `uid ${r.leftOut.join(', ')} left out: ${r.warnings.join('; ')}` : null),
    elapsedMs: r.elapsedMs,
  }));
  return { results, ignored: summary.ignored, problems: summary.problems, ok: summary.ok };
}
