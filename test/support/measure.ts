// Measurements of media files for tests: marker times, luma, loudness, stream facts.
// Times are the file's own presentation times in seconds (demuxer timestamps, MP4 edit lists applied,
// nothing rebased to zero): for an MP4 output that is output time; for a raw slice, subtract its start.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

const PCM_RATE = 48000;
/**
 * Mean luma (limited-range Y) above which a frame counts as a white marker frame. A white frame fitted
 * into a wider canvas keeps black bars (a 4:3 picture on 16:9 averages ~180); base frames average ~60.
 */
const WHITE_LUMA = 150;
/** -12 dBFS: far above the -30 dBFS presence tone, below the -6 dBFS beep peak. */
const BEEP_THRESHOLD = 0.25;
/** Loud samples closer than this belong to the same beep (a beep lasts 60 ms). */
const BEEP_GAP_S = 0.1;
const MAX_BUFFER = 1 << 30;

async function run(cmd: 'ffmpeg' | 'ffprobe', args: string[]): Promise<Buffer> {
  const { stdout } = await execFileAsync(cmd, ['-hide_banner', '-v', 'error', ...args], {
    encoding: 'buffer',
    maxBuffer: MAX_BUFFER,
  });
  return stdout;
}

async function probeJson<T>(args: string[]): Promise<T> {
  return JSON.parse((await run('ffprobe', ['-of', 'json', ...args])).toString('utf8')) as T;
}

/** Escapes a file name for a `movie=` option inside a filtergraph (option level, then graph level). */
function movieSource(file: string): string {
  const option = file.replace(/[\\':]/g, '\\$&');
  return `movie=${option.replace(/[\\'[\],;]/g, '\\$&')}`;
}

interface ProbedFrame {
  pts_time?: string;
  stream_index?: number;
  tags?: Record<string, string>;
}

/** Frames of a lavfi graph fed by `movie=` (so demuxer timestamps, edit lists included, are kept). */
async function graphFrames(graph: string, tag: string): Promise<ProbedFrame[]> {
  const out = await probeJson<{ frames?: ProbedFrame[] }>([
    '-f', 'lavfi', '-i', graph,
    '-show_entries', `frame=pts_time,stream_index:frame_tags=${tag}`,
  ]);
  return (out.frames ?? []).filter((f) => f.pts_time !== undefined && f.pts_time !== 'N/A');
}

const YAVG = 'lavfi.signalstats.YAVG';

export async function lumaTimeline(file: string): Promise<{ t: number; y: number }[]> {
  const frames = await graphFrames(`${movieSource(file)},signalstats`, YAVG);
  return frames.map((f) => ({ t: Number(f.pts_time), y: Number(f.tags?.[YAVG]) }));
}

export async function whiteFrameTimes(file: string): Promise<number[]> {
  const times: number[] = [];
  let inMarker = false;
  for (const { t, y } of await lumaTimeline(file)) {
    const white = y > WHITE_LUMA;
    if (white && !inMarker) times.push(t);
    inMarker = white;
  }
  return times;
}

const CORNERS = ['topLeft', 'topRight', 'bottomLeft', 'bottomRight'] as const;
type Corner = (typeof CORNERS)[number];

export async function cornerLuma(file: string, t: number): Promise<Record<Corner, number>> {
  const crops = ['x=0:y=0', 'x=iw-ow:y=0', 'x=0:y=ih-oh', 'x=iw-ow:y=ih-oh'];
  const branches = crops.map((xy, i) => `[c${i}]crop=w=iw/8:h=ih/8:${xy},signalstats[out${i}]`);
  const graph = `${movieSource(file)},split=4[c0][c1][c2][c3];${branches.join(';')}`;
  const frames = await graphFrames(graph, YAVG);
  const entries = CORNERS.map((corner, i) => {
    // The frame shown at t is the last one presented at or before t.
    const shown = frames.filter((f) => f.stream_index === i && Number(f.pts_time) <= t + 1e-6).at(-1);
    if (!shown) throw new Error(`${file}: no video frame at or before ${t} s`);
    return [corner, Number(shown.tags?.[YAVG])] as const;
  });
  return Object.fromEntries(entries) as Record<Corner, number>;
}

/**
 * The corners of the picture as a player shows it: decoded by the ffmpeg CLI, which turns pictures by the
 * file's display matrix (autorotate; `movie=` and cornerLuma do not), the first frame at or after `t`. Also
 * reads still images (a screenshot). Each corner is an eighth of the width and height, as in cornerLuma.
 */
export async function shownCorners(file: string, t = 0): Promise<Record<Corner, number> & { width: number; height: number }> {
  const info = await probeJson<{ streams?: { width?: number; height?: number; side_data_list?: { rotation?: number }[] }[] }>([
    '-select_streams', 'v:0', '-show_entries', 'stream=width,height:stream_side_data=rotation', file,
  ]);
  const s = info.streams?.[0];
  const turned = Math.abs(s?.side_data_list?.find((d) => d.rotation !== undefined)?.rotation ?? 0) % 180 === 90;
  const gray = await run('ffmpeg', ['-nostdin', '-i', file, ...(t > 0 ? ['-ss', t.toFixed(3)] : []), '-frames:v', '1', '-vf', 'scale=8:8:flags=area,format=gray', '-f', 'rawvideo', '-']);
  if (gray.length !== 64) throw new Error(`${file}: no picture at ${t} s`);
  const [w, h] = [s?.width ?? 0, s?.height ?? 0];
  return { topLeft: gray[0]!, topRight: gray[7]!, bottomLeft: gray[56]!, bottomRight: gray[63]!, width: turned ? h : w, height: turned ? w : h };
}

/** First audio stream as mono 48 kHz samples in [-1, 1], with the presentation time of the first one. */
async function decodeAudio(file: string, filters: string[] = []): Promise<{ startS: number; samples: Float32Array }> {
  // A few packets: with MP4 priming trimmed by the edit list the first packet yields no frame.
  const first = await probeJson<{ frames?: ProbedFrame[] }>([
    '-select_streams', 'a:0', '-read_intervals', '%+#8', '-show_entries', 'frame=pts_time', file,
  ]);
  const startS = Number(first.frames?.find((f) => f.pts_time !== 'N/A')?.pts_time);
  if (!Number.isFinite(startS)) throw new Error(`${file}: no audio frame`);
  // -copyts keeps the timestamps as demuxed; aresample's async mode fills any timestamp gap with silence
  // so a sample's index keeps mapping to its presentation time.
  const pcm = await run('ffmpeg', [
    '-nostdin', '-copyts', '-i', file, '-map', '0:a:0',
    '-af', [`aresample=async=1:min_hard_comp=0.001`, ...filters].join(','), '-ac', '1', '-ar', String(PCM_RATE),
    '-f', 's16le', '-',
  ]);
  const samples = new Float32Array(pcm.length >> 1);
  for (let i = 0; i < samples.length; i++) samples[i] = pcm.readInt16LE(i * 2) / 32768;
  return { startS, samples };
}

/**
 * Onsets of beeps. `onlyBeeps`: the 1 kHz beeps alone, the tones below it filtered out (levelled audio
 * raises the 200 Hz presence tone and the 300 Hz talk tone near the threshold).
 */
export async function beepTimes(file: string, onlyBeeps = false): Promise<number[]> {
  const { startS, samples } = await decodeAudio(file, onlyBeeps ? ['highpass=f=700', 'highpass=f=700', 'highpass=f=700'] : []);
  const onsets: number[] = [];
  let lastLoud = -Infinity;
  for (let i = 0; i < samples.length; i++) {
    if (Math.abs(samples[i] ?? 0) < BEEP_THRESHOLD) continue;
    if (i - lastLoud > BEEP_GAP_S * PCM_RATE) onsets.push(startS + i / PCM_RATE);
    lastLoud = i;
  }
  return onsets;
}

/** EBU R128 of the first audio stream by ffmpeg's ebur128 filter: integrated loudness (LUFS) and true peak (dBTP). */
export async function loudness(file: string): Promise<{ lufs: number; truePeak: number }> {
  const { stderr } = await execFileAsync('ffmpeg', ['-nostdin', '-nostats', '-hide_banner', '-i', file, '-map', '0:a:0', '-af', 'ebur128=peak=true', '-f', 'null', '-'], { maxBuffer: MAX_BUFFER });
  const summary = stderr.slice(stderr.lastIndexOf('Summary:'));
  const lufs = Number(/I:\s+(-?[\d.]+|-inf) LUFS/.exec(summary)?.[1]);
  const truePeak = Number(/True peak:\s+Peak:\s+(-?[\d.]+|-inf) dBFS/.exec(summary)?.[1]);
  return { lufs, truePeak };
}

/** RMS in dBFS (a full-scale sine is -3 dBFS); time the file has no audio for counts as silence. */
export async function audioRms(file: string, fromS: number, toS: number): Promise<number> {
  const { startS, samples } = await decodeAudio(file);
  const from = Math.round((fromS - startS) * PCM_RATE);
  const to = Math.round((toS - startS) * PCM_RATE);
  let sum = 0;
  for (let i = Math.max(from, 0); i < Math.min(to, samples.length); i++) sum += (samples[i] ?? 0) ** 2;
  return 10 * Math.log10(sum / Math.max(to - from, 1));
}

interface ProbedStream {
  codec_type?: string;
  codec_name?: string;
  width?: number;
  height?: number;
  start_time?: string;
  duration?: string;
  nb_read_packets?: string;
  avg_frame_rate?: string;
  sample_rate?: string;
  channels?: number;
}

function rate(fraction = '0/0'): number {
  const [num = 0, den = 0] = fraction.split('/').map(Number);
  return den ? num / den : 0;
}

function seconds(value: string | undefined): number {
  const n = Number(value);
  return Number.isFinite(n) ? n : 0;
}

export async function probe(file: string): Promise<{
  durationS: number;
  video?: { codec: string; width: number; height: number; startS: number; endS: number; frames: number; avgFps: number };
  audio?: { codec: string; sampleRate: number; channels: number; startS: number; endS: number };
}> {
  const out = await probeJson<{ streams?: ProbedStream[]; format?: { duration?: string } }>([
    '-count_packets', '-show_entries',
    'format=duration:stream=codec_type,codec_name,width,height,start_time,duration,nb_read_packets,avg_frame_rate,sample_rate,channels',
    file,
  ]);
  const streams = out.streams ?? [];
  const v = streams.find((s) => s.codec_type === 'video');
  const a = streams.find((s) => s.codec_type === 'audio');
  return {
    durationS: seconds(out.format?.duration),
    ...(v && {
      video: {
        codec: v.codec_name ?? '',
        width: v.width ?? 0,
        height: v.height ?? 0,
        startS: seconds(v.start_time),
        endS: seconds(v.start_time) + seconds(v.duration),
        frames: Number(v.nb_read_packets ?? 0),
        avgFps: rate(v.avg_frame_rate),
      },
    }),
    ...(a && {
      audio: {
        codec: a.codec_name ?? '',
        sampleRate: Number(a.sample_rate ?? 0),
        channels: a.channels ?? 0,
        startS: seconds(a.start_time),
        endS: seconds(a.start_time) + seconds(a.duration),
      },
    }),
  };
}

export interface Region {
  x: number;
  y: number;
  w: number;
  h: number;
}

/** Mean luma of each region in every frame of a video, in one decoding pass: [{ t, y: [region 0, region 1, ...] }]. */
export async function regionLumaTimeline(file: string, regions: Region[]): Promise<{ t: number; y: number[] }[]> {
  if (regions.length === 0) return [];
  const labels = regions.map((_, i) => `[r${i}]`).join('');
  const branches = regions.map((r, i) => `[r${i}]crop=w=${r.w}:h=${r.h}:x=${r.x}:y=${r.y},signalstats[out${i}]`);
  const graph = `${movieSource(file)},split=${regions.length}${labels};${branches.join(';')}`;
  const frames = await graphFrames(graph, YAVG);
  const byTime = new Map<string, number[]>();
  for (const f of frames) {
    const row = byTime.get(f.pts_time!) ?? new Array<number>(regions.length).fill(Number.NaN);
    row[f.stream_index ?? 0] = Number(f.tags?.[YAVG]);
    byTime.set(f.pts_time!, row);
  }
  return [...byTime].map(([t, y]) => ({ t: Number(t), y })).sort((a, b) => a.t - b.t);
}

/** What `ffmpeg -v error` says while decoding the whole file: '' for an output that decodes clean. */
export async function decodeErrors(file: string): Promise<string> {
  const { stderr } = await execFileAsync('ffmpeg', ['-v', 'error', '-nostdin', '-i', file, '-f', 'null', '-'], { maxBuffer: MAX_BUFFER });
  return stderr;
}
