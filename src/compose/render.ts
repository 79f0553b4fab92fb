// Composite plan -> one ffmpeg filter graph and its arguments. Pure: the executor writes the files.
//
// Video: the output is a sequence of segments, one per layout interval: a black canvas with each shown
// user's picture fitted into its tile, concatenated in time. Each (run, interval) piece is its own
// concat-demuxer input holding only the run's slices that overlap the interval: turned upright, set to
// the output rate, its last frame held per --gaps, placed on the output frame timeline. Segments are
// pulled one after another and no stream is split, so nothing is decoded ahead and buffered (a split
// stream feeding several segments made ffmpeg queue whole segments of 720p frames: over 1 GB).
// Audio: every run of every user is one input placed at its offset; all are mixed without normalisation
// (the level never depends on how many people are present) and a limiter keeps peaks below full scale.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ComposeOutput } from '../core/compose-plan.js';
import { layoutJson } from '../core/layout.js';
import { formatUtc17 } from '../core/names.js';
import { layoutFileName } from '../core/output-names.js';
import { runFfmpeg } from '../ffmpeg/runner.js';
import type { OutputWork } from '../pipeline/kind.js';
import { concatList, ffconcat, type ConcatEntry } from '../render/concat.js';
import { checkDecoded, expectation } from '../render/decoded.js';
import { audioFiles, withLeadsCut } from '../render/leads.js';
import { fontPatternFor } from '../render/text.js';
import { decideLevelling, levelFilters, measureLoudness, measureLoudnessFilter, placeAudio } from '../render/audio.js';
import type { LoudnessTarget } from '../core/loudness.js';
import { parseLevels, SPEAKER_WINDOW_MS, speakerLayout, speakerSpans } from '../core/speaker.js';
import { x264Args } from '../render/encode.js';
import { pieceSlices } from '../render/pieces.js';
import { oneSize, shiftPts, uprightFilter } from '../render/picture.js';

/** -1 dBFS: the mix's peaks are limited below this. */
export const MIX_LIMIT = 0.891;
const MIX_RATE = 48000;

const sec = (ms: number) => (ms / 1000).toFixed(6);

/** Escapes a value for a filter option (option level, then graph level). */
export function filterValue(value: string): string {
  const option = value.replace(/[\\':]/g, '\\$&');
  return option.replace(/[\\'[\],;]/g, '\\$&');
}

/**
 * A piece of a video run shown in one layout interval: its own input (the run's slices that overlap the
 * interval), so that no stream is ever split and buffered ahead for a later interval.
 */
export interface VideoPiece {
  run: number;
  interval: number;
  slices: ComposeOutput['videoRuns'][number]['slices'];
  /** Output time (ms) of the first slice's start: the input's time 0. */
  startMs: number;
  /** Output frames [from, to) the piece shows. */
  from: number;
  to: number;
  tile: { x: number; y: number; w: number; h: number };
}

export function videoPieces(out: ComposeOutput): VideoPiece[] {
  const layout = out.layout;
  if (!layout) return [];
  const pieces: VideoPiece[] = [];
  out.videoRuns.forEach((run, r) => {
    const user = out.users[run.user]!;
    layout.intervals.forEach((iv, k) => {
      const tile = iv.tiles.find((t) => t.uid === user.uid && t.sid === user.sid);
      const from = Math.max(run.startFrame, iv.startFrame);
      const to = Math.min(run.endFrame, iv.endFrame);
      if (!tile || to <= from) return;
      // The slices holding [from, to) (in the held stretch after the run, its last slice), decoded from a slice
      // that starts on a keyframe (see pieceSlices).
      const slices = pieceSlices(run.slices, (from * 1000) / out.fps, (to * 1000) / out.fps);
      pieces.push({ run: r, interval: k, slices, startMs: slices[0]!.offsetMs, from, to, tile });
    });
  });
  return pieces;
}

/** Layout intervals [from, to) encoded in one ffmpeg pass. */
export interface IntervalRange {
  from: number;
  to: number;
}

/**
 * Groups consecutive layout intervals so that no pass opens more than `maxPieces` inputs (each open input
 * holds a decoder: memory grows with them). One group when everything fits.
 */
export function videoChunks(out: ComposeOutput, pieces: VideoPiece[], maxPieces: number): IntervalRange[] {
  const count = (out.layout?.intervals ?? []).map((_, k) => pieces.filter((p) => p.interval === k).length);
  const chunks: IntervalRange[] = [];
  let current: IntervalRange | null = null;
  let inCurrent = 0;
  count.forEach((n, k) => {
    if (current && inCurrent + n <= maxPieces) {
      current.to = k + 1;
      inCurrent += n;
    } else {
      current = { from: k, to: k + 1 };
      chunks.push(current);
      inCurrent = n;
    }
  });
  return chunks;
}

export interface ComposeLabel {
  /** A file holding the text (drawtext reads it as it is: no escaping). */
  file: string;
  /** The fontconfig pattern of a font for its script (see fontPatternFor). */
  font: string;
}

export interface ComposeInputs {
  /** Concat list of each video piece (index as in `videoPieces(out)`). */
  videoLists: string[];
  /** Concat list of each audio run (index as in `audioRuns`). */
  audioLists: string[];
  /** Each user's label (index as in `users`): a text file and the font pattern for its script; null for no labels. */
  labelFiles: ComposeLabel[] | null;
  /** The video already encoded in chunks (`chunkArgs`): a concat list of them, copied. */
  videoChunks?: string;
  /** --loudnorm: how voices and the mix are levelled. */
  levels?: AudioLevels;
}

export interface ComposeEncodeSettings {
  preset: string;
  threads?: number;
}

/**
 * The video part of the graph for the intervals in `range` (default: all), ending in [vout]. `pieces` are
 * the pieces of those intervals, inputs `firstInput`, `firstInput + 1`, ... in that order.
 */
export function composeVideoGraph(out: ComposeOutput, pieces: VideoPiece[], firstInput: number, labelFiles: ComposeLabel[] | null, range?: IntervalRange): string {
  const layout = out.layout!;
  const { from: k0, to: k1 } = range ?? { from: 0, to: layout.intervals.length };
  const { width: W, height: H, fps } = out;
  const chains: string[] = [];
  pieces.forEach((p, j) => {
    const run = out.videoRuns[p.run]!;
    const a = layout.intervals[p.interval]!.startFrame;
    // The input's time 0 is its first slice's start (where the concat demuxer puts that slice's first
    // timestamp): every frame is moved to its own output time, relative to the interval, and only then
    // put on the output frame grid (nearest frame), so that a frame lands within half a frame of its instant.
    const shiftS = p.startMs / 1000 - a / fps;
    const chain = [
      // VP8 changes size inside a slice: every frame brought to the run's size first (fitted, never stretched).
      ...oneSize(run),
      ...uprightFilter(run.rotation),
      'setsar=1',
      shiftPts(shiftS),
      `fps=${fps}:round=near`,
      // Held (freeze) or short media: the last frame repeated up to the piece's end (enough clones to get
      // there from the input's start), then only the piece's own frames.
      `tpad=stop=${p.to - a - Math.floor(shiftS * fps) + 2}:stop_mode=clone`,
      `trim=start_pts=${p.from - a}:end_pts=${p.to - a}`,
      `scale=${p.tile.w}:${p.tile.h}:force_original_aspect_ratio=decrease:force_divisible_by=2`,
      'setsar=1',
    ];
    chains.push(`[${firstInput + j}:v:0]${chain.join(',')}[p${j}]`);
  });

  const segments = layout.intervals.slice(k0, k1).map((iv, i) => {
    const k = k0 + i;
    const frames = iv.endFrame - iv.startFrame;
    let current = `bg${k}`;
    chains.push(`color=c=black:s=${W}x${H}:r=${fps},trim=end_frame=${frames},format=yuv420p[${current}]`);
    pieces.forEach((p, j) => {
      if (p.interval !== k) return;
      const next = `s${k}o${j}`;
      const x = `${p.tile.x}+floor((${p.tile.w}-overlay_w)/4)*2`;
      const y = `${p.tile.y}+floor((${p.tile.h}-overlay_h)/4)*2`;
      chains.push(`[${current}][p${j}]overlay=x=${x}:y=${y}:eof_action=pass:format=yuv420[${next}]`);
      current = next;
    });
    if (labelFiles && iv.tiles.length > 0) {
      const size = Math.max(10, Math.round(Math.min(...iv.tiles.map((t) => t.h)) / 14));
      const draws = iv.tiles.map((t) => {
        const index = out.users.findIndex((u) => u.uid === t.uid && u.sid === t.sid);
        return (
          `drawtext=fontfile=${filterValue(labelFiles[index]!.font)}:textfile=${filterValue(labelFiles[index]!.file)}:expansion=none:fontcolor=white:fontsize=${size}` +
          `:box=1:boxcolor=black@0.6:boxborderw=${Math.max(2, Math.round(size / 4))}:x=${t.x + size / 2}:y=${t.y + t.h}-th-${size / 2}`
        );
      });
      chains.push(`[${current}]${draws.join(',')}[s${k}l]`);
      current = `s${k}l`;
    }
    return current;
  });
  if (segments.length === 1) chains.push(`[${segments[0]}]null[vout]`);
  else chains.push(`${segments.map((s) => `[${s}]`).join('')}concat=n=${segments.length}:v=1:a=0[vout]`);
  return chains.join(';\n');
}

/** --loudnorm: the filters that level each user's voice (index as in `users`; null: left as it is) and the mix. */
export interface AudioLevels {
  voices: (string[] | null)[];
  mix: string[] | null;
}

/** Each run laid on the composite's clock (see placeAudio): the silence before a late joiner comes in small frames. */
function placedRuns(out: ComposeOutput, firstInput: number): string[] {
  return out.audioRuns.map((run, j) => `[${firstInput + j}:a:0]${placeAudio({ rate: MIX_RATE, layout: 'stereo', channels: run.channels, startS: run.offsetMs / 1000 }).join(',')}[a${j}]`);
}

/** Mixes labelled streams without normalisation (the level never depends on how many are present), then `after`. */
const mixOf = (labels: string[], after: string[]) =>
  `${labels.map((l) => `[${l}]`).join('')}amix=inputs=${labels.length}:normalize=0:duration=longest:dropout_transition=0${after.length ? `,${after.join(',')}` : ''}`;

/** Each user's voice (their runs mixed) levelled, labelled [v<user>]; users without audio are left out. */
function levelledVoices(out: ComposeOutput, levels: AudioLevels): { chains: string[]; labels: string[] } {
  const chains: string[] = [];
  const labels: string[] = [];
  out.users.forEach((_, u) => {
    const runs = out.audioRuns.flatMap((r, j) => (r.user === u ? [`a${j}`] : []));
    if (runs.length === 0) return;
    chains.push(`${mixOf(runs, levels.voices[u] ?? [])}[v${u}]`);
    labels.push(`v${u}`);
  });
  return { chains, labels };
}

/**
 * The audio part of the graph, ending in [aout]: every run placed, mixed, limited, exactly `durationMs` long.
 * With `levels` (--loudnorm) each user's voice is levelled before the mix and the mix after it (its own
 * levelling holds the true peak: no other limiter).
 */
export function composeAudioGraph(out: ComposeOutput, firstInput: number, levels?: AudioLevels): string {
  const end = sec(out.durationMs);
  const chains = placedRuns(out, firstInput);
  const tail = [`apad=whole_dur=${end}`, `atrim=end=${end}`];
  if (out.audioRuns.length === 0) chains.push(`anullsrc=r=${MIX_RATE}:cl=stereo,atrim=end=${end}[aout]`);
  else if (levels) {
    const voices = levelledVoices(out, levels);
    chains.push(...voices.chains, `${mixOf(voices.labels, [...(levels.mix ?? [`alimiter=limit=${MIX_LIMIT}:level=0:latency=1`]), ...tail])}[aout]`);
  } else {
    chains.push(`${mixOf(out.audioRuns.map((_, j) => `a${j}`), [`alimiter=limit=${MIX_LIMIT}:level=0:latency=1`, ...tail])}[aout]`);
  }
  return chains.join(';\n');
}

/** The audio runs of one user (null: everyone's) as a composite of their own, and the ffmpeg inputs reading them. */
function audioOf(out: ComposeOutput, lists: string[], user: number | null, loglevel: string): { sub: ComposeOutput; args: string[] } {
  const runs = out.audioRuns.map((r, j) => ({ r, j })).filter(({ r }) => user === null || r.user === user);
  const args = ['-y', '-loglevel', loglevel];
  for (const { j } of runs) args.push('-f', 'concat', '-safe', '0', '-i', lists[j]!);
  return { sub: { ...out, audioRuns: runs.map(({ r }) => r) }, args };
}

/**
 * A measuring pass (see measureLoudness) of one user's voice (`user`), levelled by `filters`, or of the mix of
 * the voices levelled by `levels.voices` (`user` null). Inputs: the audio lists of the runs it reads, in order.
 */
export function composeMeasureArgs(out: ComposeOutput, lists: string[], levels: AudioLevels, user: number | null, filters: string[], target: LoudnessTarget): string[] {
  const { sub, args } = audioOf(out, lists, user, 'info');
  const measure = [...filters, measureLoudnessFilter(target, MIX_RATE, 'stereo')];
  const chains = placedRuns(sub, 0);
  if (user !== null) chains.push(`${mixOf(sub.audioRuns.map((_, j) => `a${j}`), measure)}[ameasured]`);
  else {
    const voices = levelledVoices(sub, levels);
    chains.push(...voices.chains, `${mixOf(voices.labels, measure)}[ameasured]`);
  }
  return [...args, '-filter_complex', chains.join(';'), '-map', '[ameasured]', '-f', 'null', '-'];
}

/**
 * The audio levels of one user (`--layout speaker|vertical`): their runs placed on the composite's clock,
 * mixed to mono, the RMS of every SPEAKER_WINDOW_MS printed on stdout (see parseLevels).
 */
export function levelsArgs(out: ComposeOutput, lists: string[], user: number, levels?: AudioLevels): string[] {
  const { sub, args } = audioOf(out, lists, user, 'error');
  const windowSamples = Math.round((MIX_RATE * SPEAKER_WINDOW_MS) / 1000);
  const chains = placedRuns(sub, 0);
  chains.push(
    `${mixOf(sub.audioRuns.map((_, j) => `a${j}`), [
      // Levelled voices (--loudnorm) are compared as they are heard.
      ...(levels?.voices[user] ?? []),
      'pan=mono|c0=0.5*c0+0.5*c1',
      // Windows are counted in samples: the rate pinned.
      `aformat=sample_fmts=fltp:sample_rates=${MIX_RATE}:channel_layouts=mono`,
      `asetnsamples=n=${windowSamples}:p=0`,
      'astats=metadata=1:reset=1:measure_perchannel=none:measure_overall=RMS_level',
      'ametadata=mode=print:key=lavfi.astats.Overall.RMS_level:file=-',
    ])}[alevels]`,
  );
  return [...args, '-filter_complex', chains.join(';'), '-map', '[alevels]', '-f', 'null', '-'];
}

/**
 * `--layout speaker|vertical`: each user's audio levels measured by ffmpeg, then who holds the big tile when
 * (core/speaker.ts), written into the layout.
 */
export async function speakerLayoutOf(out: ComposeOutput, lists: string[], levels: AudioLevels | undefined, signal?: AbortSignal): Promise<ComposeOutput> {
  const layout = out.layout;
  if (!layout || !layout.mode || layout.mode === 'grid') return out;
  const measured: number[][] = [];
  for (const u of out.users.keys()) {
    if (!out.audioRuns.some((r) => r.user === u)) measured.push([]);
    else measured.push(parseLevels((await runFfmpeg(levelsArgs(out, lists, u, levels), { signal })).stdout));
  }
  const index = new Map(out.users.map((u, i) => [`${u.sid}/${u.uid}`, i]));
  // Windows are asked for in order: one pass over the intervals. Users in join order, whoever held the big tile.
  const byInterval = layout.intervals.map((iv) => iv.tiles.map((t) => index.get(`${t.sid}/${t.uid}`)!).sort((a, b) => a - b));
  let k = 0;
  const shown = (w: number) => {
    const midMs = (w + 0.5) * SPEAKER_WINDOW_MS;
    while (k + 1 < layout.intervals.length && layout.intervals[k]!.endMs <= midMs) k++;
    return byInterval[k] ?? [];
  };
  const windows = Math.ceil(out.durationMs / SPEAKER_WINDOW_MS);
  const padded = measured.map((l) => Array.from({ length: windows }, (_, i) => l[i] ?? -Infinity));
  return { ...out, layout: speakerLayout(layout, layout.mode, out.users, speakerSpans(padded, shown)) };
}

/** --loudnorm: how each voice, then the mix of the levelled voices, is levelled (measured by ffmpeg first). */
export async function composeLevels(out: ComposeOutput, lists: string[], target: LoudnessTarget, signal?: AbortSignal): Promise<{ levels: AudioLevels; warnings: string[] }> {
  const levels: AudioLevels = { voices: out.users.map(() => null), mix: null };
  const warnings: string[] = [];
  for (const [u, user] of out.users.entries()) {
    if (!out.audioRuns.some((r) => r.user === u)) continue;
    const levelling = await decideLevelling(target, (filters) => measureLoudness(composeMeasureArgs(out, lists, levels, u, filters, target), signal), MIX_RATE, 'stereo');
    if (levelling) levels.voices[u] = levelFilters(levelling, target, MIX_RATE, 'stereo');
    else warnings.push(`--loudnorm: uid ${user.uid} holds nothing to level (silence); left as it is`);
  }
  if (out.audioRuns.length > 0) {
    const mix = await decideLevelling(target, (filters) => measureLoudness(composeMeasureArgs(out, lists, levels, null, filters, target), signal), MIX_RATE, 'stereo');
    if (mix) levels.mix = levelFilters(mix, target, MIX_RATE, 'stereo');
  }
  return { levels, warnings };
}

const videoEncoder = (out: ComposeOutput, enc: ComposeEncodeSettings) => x264Args(enc, out.fps);

/** One video chunk (the intervals in `range`): video only, exactly its frames long. */
export function chunkArgs(
  out: ComposeOutput,
  pieces: VideoPiece[],
  range: IntervalRange,
  lists: string[],
  labelFiles: ComposeLabel[] | null,
  graphFile: string,
  outFile: string,
  enc: ComposeEncodeSettings,
): { args: string[]; graph: string; durationMs: number } {
  const intervals = out.layout!.intervals;
  const frames = intervals[range.to - 1]!.endFrame - intervals[range.from]!.startFrame;
  const args = ['-y', '-loglevel', 'error'];
  for (const list of lists) args.push('-threads', '1', '-reinit_filter', '0', '-f', 'concat', '-safe', '0', '-i', list);
  const graph = composeVideoGraph(out, pieces, 0, labelFiles, range);
  args.push('-filter_complex_script', graphFile, '-map', '[vout]', ...videoEncoder(out, enc), '-frames:v', String(frames), '-an', '-f', 'mp4', outFile);
  return { args, graph, durationMs: (frames * 1000) / out.fps };
}

/** ffmpeg arguments; the graph goes into `graphFile` (it can exceed a command line's length). */
export function composeArgs(
  out: ComposeOutput,
  inputs: ComposeInputs,
  graphFile: string,
  outFile: string,
  enc: ComposeEncodeSettings,
): { args: string[]; graph: string } {
  const args = ['-y', '-loglevel', 'error'];
  const graph: string[] = [];
  const maps: string[] = [];
  const codecs: string[] = [];
  let index = 0;
  if (out.kind === 'av' && inputs.videoChunks) {
    args.push('-f', 'concat', '-safe', '0', '-i', inputs.videoChunks);
    index++;
    maps.push('-map', '0:v:0');
    codecs.push('-c:v', 'copy');
  } else if (out.kind === 'av') {
    // -reinit_filter 0: a size change inside a run must not rebuild the whole graph (the run's chain scales it).
    for (const list of inputs.videoLists) args.push('-threads', '1', '-reinit_filter', '0', '-f', 'concat', '-safe', '0', '-i', list);
    graph.push(composeVideoGraph(out, videoPieces(out), index, inputs.labelFiles));
    index += inputs.videoLists.length;
    maps.push('-map', '[vout]');
    codecs.push(...videoEncoder(out, enc));
  }
  for (const list of inputs.audioLists) args.push('-f', 'concat', '-safe', '0', '-i', list);
  graph.push(composeAudioGraph(out, index, inputs.levels));
  maps.push('-map', '[aout]');
  codecs.push('-c:a', 'aac', '-b:a', '128k');
  args.push('-filter_complex_script', graphFile, ...maps, ...codecs);
  args.push(
    '-t', sec(out.durationMs),
    '-map_metadata', '-1',
    '-metadata', `creation_time=${new Date(out.originMs).toISOString()}`,
    '-movflags', '+faststart',
    '-f', 'mp4',
    outFile,
  );
  return { args, graph: graph.join(';\n') };
}

export const DEFAULT_MAX_PIECES_PER_PASS = 40;

export interface ComposeWork extends Pick<OutputWork, 'paths' | 'workDir' | 'temp' | 'preset' | 'threads' | 'signal' | 'onProgress'> {
  /** uid -> label text; null draws no labels. */
  labels: Map<string, string> | null;
  /** Inputs one ffmpeg pass may open (default 40); a composite with more is encoded in chunks, then joined. */
  maxPiecesPerPass?: number;
  /** --loudnorm: each voice levelled to this, then the mix. */
  loudness?: LoudnessTarget | null;
}

/**
 * Writes the concat lists, the label files and the filter graph of one composite, runs ffmpeg into the
 * composite's temporary name (in chunks of layout intervals when it has many pieces), and its layout sidecar.
 */
export async function renderCompose(out: ComposeOutput, work: ComposeWork): Promise<{ written: string[]; media: Record<string, { video: boolean; audio: boolean }>; warnings: string[] }> {
  const { workDir } = work;
  const warnings: string[] = [];
  /** What ffmpeg read of each input, held against what its slices hold (see render/decoded.ts). */
  const pieceExpectation = (p: VideoPiece, input: number) => expectation(input, 'video', p.slices, { untilMs: ((p.to + 1) * 1000) / out.fps });
  const audioExpectations = (first: number) => out.audioRuns.map((run, j) => expectation(first + j, 'audio', run.slices, { sampleRate: run.sampleRate }));
  const inputs: ComposeInputs = { videoLists: [], audioLists: [], labelFiles: null };
  // A muxed slice (raw mode) is read from a copy holding its audio alone (see render/leads.ts audioFiles).
  const audioPaths = await audioFiles(out.audioRuns.flatMap((r) => r.slices), work.paths, workDir);
  for (const [i, run] of out.audioRuns.entries()) {
    const list = path.join(workDir, `audio-${i}.ffconcat`);
    await writeFile(list, concatList(run.slices, audioPaths, true));
    inputs.audioLists.push(list);
  }
  if (work.loudness) {
    const { levels, warnings: said } = await composeLevels(out, inputs.audioLists, work.loudness, work.signal);
    inputs.levels = levels;
    warnings.push(...said);
  }
  // --layout speaker|vertical: who holds the big tile, from the voices as they are mixed.
  out = await speakerLayoutOf(out, inputs.audioLists, inputs.levels, work.signal);
  const pieces = videoPieces(out);
  // A run that starts without a keyframe is read from its first keyframe (see PlacedSlice.leadMs).
  const videoPaths = await withLeadsCut(out.videoRuns.flatMap((r) => r.slices), work.paths, workDir);
  const lists: string[] = [];
  for (const [i, piece] of pieces.entries()) {
    const list = path.join(workDir, `video-${i}.ffconcat`);
    await writeFile(list, concatList(piece.slices, videoPaths, true));
    lists.push(list);
  }
  if (work.labels && out.kind === 'av') {
    inputs.labelFiles = [];
    for (const [i, user] of out.users.entries()) {
      const file = path.join(workDir, `label-${i}.txt`);
      const text = work.labels.get(user.uid) ?? user.uid;
      await writeFile(file, text);
      inputs.labelFiles.push({ file, font: fontPatternFor(text) });
    }
  }
  const enc = { preset: work.preset, threads: work.threads };
  const chunks = out.kind === 'av' ? videoChunks(out, pieces, work.maxPiecesPerPass ?? DEFAULT_MAX_PIECES_PER_PASS) : [];
  if (chunks.length > 1) {
    // Encoded chunk by chunk (a bounded number of decoders open at once), then joined by stream copy.
    const entries: ConcatEntry[] = [];
    for (const [c, range] of chunks.entries()) {
      const mine = pieces.filter((p) => p.interval >= range.from && p.interval < range.to);
      const chunkGraph = path.join(workDir, `chunk-${c}.txt`);
      const chunkFile = path.join(workDir, `chunk-${c}.mp4`);
      const startMs = (out.layout!.intervals[range.from]!.startFrame * 1000) / out.fps;
      const { args, graph, durationMs } = chunkArgs(out, mine, range, mine.map((p) => lists[pieces.indexOf(p)]!), inputs.labelFiles, chunkGraph, chunkFile, enc);
      await writeFile(chunkGraph, graph);
      const read = await runFfmpeg(args, { signal: work.signal, inputStats: true, onProgress: (p) => work.onProgress(startMs + p.outTimeMs, p.speed) });
      warnings.push(...(await checkDecoded(mine.map((p, j) => pieceExpectation(p, j)), read.inputs, work.paths, work.signal)));
      entries.push({ file: chunkFile, durationMs });
    }
    inputs.videoChunks = path.join(workDir, 'chunks.ffconcat');
    await writeFile(inputs.videoChunks, ffconcat(entries));
  } else inputs.videoLists = lists;
  const graphFile = path.join(workDir, 'graph.txt');
  const file = out.files[0]!;
  const { args, graph } = composeArgs(out, inputs, graphFile, work.temp(file), enc);
  await writeFile(graphFile, graph);
  const read = await runFfmpeg(args, { signal: work.signal, inputStats: true, onProgress: (p) => work.onProgress(p.outTimeMs, p.speed) });
  const videoInputs = out.kind !== 'av' ? 0 : inputs.videoChunks ? 1 : pieces.length;
  const expected = [...(inputs.videoChunks || out.kind !== 'av' ? [] : pieces.map((p, i) => pieceExpectation(p, i))), ...audioExpectations(videoInputs)];
  warnings.push(...(await checkDecoded(expected, read.inputs, work.paths, work.signal)));
  const written = [file];
  const layout = out.layout ? out.files.find((f) => f === layoutFileName(file)) : undefined;
  if (out.layout && layout) {
    await writeFile(work.temp(layout), `${layoutJson(out.layout, formatUtc17)}\n`, { flag: 'wx' });
    written.push(layout);
  }
  return { written, media: { [file]: { video: out.kind === 'av', audio: true } }, warnings };
}
