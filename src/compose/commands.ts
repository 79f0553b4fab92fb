// Composite plan -> one ffmpeg filter graph and its arguments. Pure: the executor writes the files.
//
// Video: every run of a user is one concat-demuxer input, turned upright, set to the output rate, its last
// frame held per --gaps, and placed on the output frame timeline. The output is a sequence of segments,
// one per layout interval: a black canvas with each shown user's picture fitted into its tile (split off
// the run's stream and trimmed to the interval), concatenated in time. A run is decoded once, however
// many intervals it spans, and never buffered ahead: the segments are pulled one after another.
// Audio: every run of every user is one input placed at its offset; all are mixed without normalisation
// (the level never depends on how many people are present) and a limiter keeps peaks below full scale.
import type { ComposeOutput } from '../core/compose-plan.js';
import { uprightFilter } from '../merge/commands.js';

export const DEFAULT_COMPOSE_PRESET = 'veryfast';
/** -1 dBFS: the mix's peaks are limited below this. */
export const MIX_LIMIT = 0.891;
const MIX_RATE = 48000;

const sec = (ms: number) => (ms / 1000).toFixed(6);

/** Escapes a value for a filter option (option level, then graph level). */
export function filterValue(value: string): string {
  const option = value.replace(/[\\':]/g, '\\$&');
  return option.replace(/[\\'[\],;]/g, '\\$&');
}

export interface ComposeInputs {
  /** Concat list of each video run (index as in `videoRuns`). */
  videoLists: string[];
  /** Concat list of each audio run (index as in `audioRuns`). */
  audioLists: string[];
  /** Text file holding each user's label (index as in `users`), or null for no labels. */
  labelFiles: string[] | null;
}

export interface ComposeEncodeSettings {
  preset: string;
  threads?: number;
}

/** The video part of the graph, ending in [vout]. `firstInput` is the input index of the first video run. */
export function composeVideoGraph(out: ComposeOutput, firstInput: number, labelFiles: string[] | null): string {
  const layout = out.layout!;
  const { width: W, height: H, fps } = out;
  const chains: string[] = [];
  // Per interval, the overlays to put on its canvas: [label, x, y, w, h].
  const tilesOf = layout.intervals.map(() => [] as { label: string; x: number; y: number; w: number; h: number }[]);

  out.videoRuns.forEach((run, j) => {
    const user = out.users[run.user]!;
    const S = run.startFrame;
    const L = run.endFrame - run.startFrame;
    const branches: { k: number; from: number; to: number; tile: { x: number; y: number; w: number; h: number } }[] = [];
    layout.intervals.forEach((iv, k) => {
      const tile = iv.tiles.find((t) => t.uid === user.uid && t.sid === user.sid);
      const from = Math.max(S, iv.startFrame);
      const to = Math.min(S + L, iv.endFrame);
      if (tile && to > from) branches.push({ k, from, to, tile });
    });
    if (branches.length === 0) return;
    const chain = [
      // VP8 changes size inside a slice: bring every frame to the run's size first (fitted, never stretched).
      ...(run.container === 'webm' && run.width > 0 && run.height > 0
        ? [`scale=${run.width}:${run.height}:force_original_aspect_ratio=decrease`, `pad=${run.width}:${run.height}:-1:-1:color=black`]
        : []),
      ...uprightFilter(run.rotation),
      'setsar=1',
      `fps=${fps}:start_time=0`,
      `tpad=stop=${L + 2}:stop_mode=clone`,
      `trim=end_frame=${L}`,
      `setpts=PTS+${S}`,
    ];
    const src = `r${j}`;
    chains.push(`[${firstInput + j}:v:0]${chain.join(',')}${branches.length > 1 ? `,split=${branches.length}` : ''}${branches.map((_, b) => `[${src}b${b}]`).join('')}`);
    branches.forEach((br, b) => {
      const iv = layout.intervals[br.k]!;
      const label = `t${br.k}_${j}`;
      chains.push(
        `[${src}b${b}]trim=start_pts=${br.from}:end_pts=${br.to},setpts=PTS-${iv.startFrame},` +
          `scale=${br.tile.w}:${br.tile.h}:force_original_aspect_ratio=decrease:force_divisible_by=2,setsar=1[${label}]`,
      );
      tilesOf[br.k]!.push({ label, ...br.tile });
    });
  });

  const segments = layout.intervals.map((iv, k) => {
    const frames = iv.endFrame - iv.startFrame;
    let current = `bg${k}`;
    chains.push(`color=c=black:s=${W}x${H}:r=${fps},trim=end_frame=${frames},format=yuv420p[${current}]`);
    tilesOf[k]!.forEach((t, n) => {
      const next = `s${k}o${n}`;
      const x = `${t.x}+floor((${t.w}-overlay_w)/4)*2`;
      const y = `${t.y}+floor((${t.h}-overlay_h)/4)*2`;
      chains.push(`[${current}][${t.label}]overlay=x=${x}:y=${y}:eof_action=pass:format=yuv420[${next}]`);
      current = next;
    });
    if (labelFiles && iv.tiles.length > 0) {
      const size = Math.max(10, Math.round(Math.min(...iv.tiles.map((t) => t.h)) / 14));
      const draws = iv.tiles.map((t) => {
        const index = out.users.findIndex((u) => u.uid === t.uid && u.sid === t.sid);
        return (
          `drawtext=textfile=${filterValue(labelFiles[index]!)}:expansion=none:fontcolor=white:fontsize=${size}` +
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

/** The audio part of the graph, ending in [aout]: every run placed, mixed, limited, exactly `durationMs` long. */
export function composeAudioGraph(out: ComposeOutput, firstInput: number): string {
  const chains: string[] = [];
  const end = sec(out.durationMs);
  out.audioRuns.forEach((run, j) => {
    const chain = [
      `aresample=${MIX_RATE}:async=1:min_hard_comp=0.010:first_pts=0`,
      ...(run.channels === 1 ? ['pan=stereo|c0=c0|c1=c0'] : []),
      `aformat=sample_fmts=fltp:sample_rates=${MIX_RATE}:channel_layouts=stereo`,
    ];
    chains.push(`[${firstInput + j}:a:0]${chain.join(',')}[a${j}]`);
  });
  const tail = `alimiter=limit=${MIX_LIMIT}:level=0:latency=1,apad=whole_dur=${end},atrim=end=${end}[aout]`;
  if (out.audioRuns.length === 0) chains.push(`anullsrc=r=${MIX_RATE}:cl=stereo,atrim=end=${end}[aout]`);
  else {
    const mixed = out.audioRuns.map((_, j) => `[a${j}]`).join('');
    chains.push(`${mixed}amix=inputs=${out.audioRuns.length}:normalize=0:duration=longest:dropout_transition=0,${tail}`);
  }
  return chains.join(';\n');
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
  if (out.kind === 'av') {
    // -reinit_filter 0: a size change inside a run must not rebuild the whole graph (the run's chain scales it).
    for (const list of inputs.videoLists) args.push('-threads', '1', '-reinit_filter', '0', '-f', 'concat', '-safe', '0', '-i', list);
    graph.push(composeVideoGraph(out, index, inputs.labelFiles));
    index += inputs.videoLists.length;
    maps.push('-map', '[vout]');
    codecs.push('-c:v', 'libx264', '-preset', enc.preset, '-crf', '23', '-pix_fmt', 'yuv420p', '-r', String(out.fps));
    if (enc.threads) codecs.push('-threads', String(enc.threads));
  }
  out.audioRuns.forEach((run, j) => {
    args.push('-f', 'concat', '-safe', '0');
    if (run.offsetMs > 0) args.push('-itsoffset', sec(run.offsetMs));
    args.push('-i', inputs.audioLists[j]!);
  });
  graph.push(composeAudioGraph(out, index));
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
