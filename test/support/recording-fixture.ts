// Builds individual-mode recordings the way the recording service lays them out (see
// /work/shared/recording-format.md): one continuous lavfi encode per run, cut into slices by ffmpeg's
// segment muxer, named by wall clock, listed in service-style playlists. Every run carries markers
// (a white frame and a 1 kHz beep at the same wall-clock instant) that measure.ts finds in outputs.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import pLimit from 'p-limit';

const execFileAsync = promisify(execFile);

export interface FixtureVideoRun {
  /** Wall clock (epoch ms) of the run's first frame. */
  startMs: number;
  /** Multiple of 1000 recommended. */
  durationMs: number;
  /** Coded size (what is in the bitstream). */
  width: number;
  height: number;
  fps: number;
  /** vp8 -> .webm slices (libvpx), h264 -> .ts (libx264). */
  codec?: 'h264' | 'vp8';
  /** Degrees the picture is turned anticlockwise in the coded frames. */
  rotation?: 0 | 90 | 180 | 270;
  /** Default 4000; slices are cut on keyframes (keyframe every 1 s). */
  sliceMs?: number;
}

export interface FixtureAudioRun {
  startMs: number;
  durationMs: number;
  /** Default 4000. */
  sliceMs?: number;
  channels?: 1 | 2;
  /** Default 48000. */
  sampleRate?: number;
}

export interface FixtureUser {
  uid: string;
  audio?: FixtureAudioRun[];
  video?: FixtureVideoRun[];
  /**
   * Wall-clock epoch ms; each one inside a run gets a white frame (the nearest frame) and a beep there.
   * An audio run opens with 1024 samples of AAC priming (21.3 ms at 48 kHz): a beep cannot start inside them.
   */
  markers?: number[];
}

export interface FixtureRecording {
  /** 32 hex chars typically. */
  sid: string;
  /** May contain '_'. */
  cname: string;
  /** Key prefix like 'directory1/directory2' (files go under root/dir). */
  dir?: string;
  /** Write every file with the `bak<n>_` prefix. */
  backup?: number;
  users: FixtureUser[];
  /** Order of ROTATE and TRACK-EVENT before a run's first slice; default 'rotate-first'. */
  tagOrder?: 'rotate-first' | 'event-first';
}

export interface WrittenSlice {
  /** Storage key relative to root (posix separators). */
  key: string;
  path: string;
  media: 'audio' | 'video';
  uid: string;
  startMs: number;
  durationMs: number;
}

export interface WrittenRecording {
  root: string;
  /** Paths of the written playlists. */
  playlists: string[];
  slices: WrittenSlice[];
}

type Media = 'audio' | 'video';
type NameParts = { sid: string; cname: string; backup?: number };

/** Base picture luma (BT.601 limited range Y of RGB 0x282828 is about 50). */
const BASE_GRAY = '0x282828';
/** RMS of the 200 Hz presence tone: -30 dBFS (sine amplitude 0.0447). */
const PRESENCE_AMPLITUDE = Math.SQRT2 * 10 ** (-30 / 20);
/** Peak of the 1 kHz beep: -6 dBFS. */
const BEEP_AMPLITUDE = 0.5;
const BEEP_S = 0.06;
/**
 * ffmpeg's native AAC encoder emits one frame of priming (initial padding) whose timestamp lies before
 * the first input sample. Decoding a TS slice yields those samples first, so the slice (and run) starts
 * there; the authored audio is shifted by this much so that beeps land exactly on their markers.
 */
const AAC_PRIMING_SAMPLES = 1024;
const DEFAULT_SLICE_MS = 4000;
const MAX_PARALLEL_ENCODES = 2;

export function utc17(ms: number): string {
  return new Date(Math.round(ms)).toISOString().replace(/\D/g, '');
}

function namePrefix(rec: NameParts, uid: string, media: Media): string {
  const bak = rec.backup === undefined ? '' : `bak${rec.backup}_`;
  return `${bak}${rec.sid}_${rec.cname}__uid_s_${uid}__uid_e_${media}`;
}

export function playlistName(rec: NameParts, uid: string, media: Media): string {
  return `${namePrefix(rec, uid, media)}.m3u8`;
}

export function sliceName(rec: NameParts, uid: string, media: Media, startMs: number, ext: 'ts' | 'webm'): string {
  return `${namePrefix(rec, uid, media)}_${utc17(startMs)}.${ext}`;
}

interface RunJob {
  uid: string;
  media: Media;
  index: number;
  run: FixtureVideoRun | FixtureAudioRun;
  markers: number[];
}

/** A slice as cut by the segment muxer, relative to its run's first frame/sample. */
interface CutSlice {
  file: string;
  offsetS: number;
  durationS: number;
}

interface EncodeSpec {
  graph: string;
  codecArgs: string[];
  format: 'mpegts' | 'webm';
  ext: 'ts' | 'webm';
  /** Run time (s) of the first packet relative to the authored content's t=0. */
  leadS: number;
  durationS: number;
  /** Tolerance for the cut instants, so float rounding cannot move a cut to the next keyframe. */
  cutDeltaS: number;
}

/** Deterministic stand-in for the unrelated PTS base every real run has: 10 s .. ~40000 s, whole ms. */
function ptsBaseS(rec: FixtureRecording, job: RunJob): number {
  const digest = createHash('sha256').update(`${rec.sid}/${job.uid}/${job.media}/${job.index}/${job.run.startMs}`).digest();
  return 10 + (digest.readUInt32BE(0) % 40_000_000) / 1000;
}

function anticlockwise(rotation: number): string[] {
  switch (rotation) {
    case 90:
      return ['transpose=cclock'];
    case 180:
      return ['hflip', 'vflip'];
    case 270:
      return ['transpose=clock'];
    default:
      return [];
  }
}

function videoSpec(run: FixtureVideoRun, markers: number[]): EncodeSpec {
  const rotation = run.rotation ?? 0;
  const sideways = rotation === 90 || rotation === 270;
  const [w, h] = sideways ? [run.height, run.width] : [run.width, run.height];
  const frames = Math.round((run.durationMs * run.fps) / 1000);
  const whiteFrames = markers
    .map((m) => Math.round(((m - run.startMs) * run.fps) / 1000))
    .filter((n) => n >= 0 && n < frames);
  const filters = [
    `color=c=${BASE_GRAY}:s=${w}x${h}:r=${run.fps}`,
    `trim=end_frame=${frames}`,
    'drawbox=x=0:y=0:w=iw/6:h=iw/6:color=white:t=fill',
    ...(whiteFrames.length
      ? [`drawbox=x=0:y=0:w=iw:h=ih:color=white:t=fill:enable='${whiteFrames.map((n) => `eq(n,${n})`).join('+')}'`]
      : []),
    ...anticlockwise(rotation),
    'format=yuv420p',
  ];
  const vp8 = run.codec === 'vp8';
  const gop = ['-g', String(run.fps), '-keyint_min', String(run.fps)];
  const codecArgs = vp8
    ? ['-c:v', 'libvpx', ...gop, '-deadline', 'realtime', '-cpu-used', '8', '-auto-alt-ref', '0', '-b:v', '150k']
    : ['-c:v', 'libx264', '-preset', 'ultrafast', ...gop, '-sc_threshold', '0', '-b:v', '150k'];
  return {
    graph: filters.join(','),
    codecArgs,
    format: vp8 ? 'webm' : 'mpegts',
    ext: vp8 ? 'webm' : 'ts',
    leadS: 0,
    durationS: frames / run.fps,
    cutDeltaS: 0.5 / run.fps,
  };
}

function audioSpec(run: FixtureAudioRun, markers: number[]): EncodeSpec {
  const rate = run.sampleRate ?? 48000;
  const channels = run.channels ?? 1;
  const total = Math.round((run.durationMs * rate) / 1000);
  const beeps = markers
    .filter((m) => m >= run.startMs && m < run.startMs + run.durationMs)
    .map((m) => Math.round(((m - run.startMs) * rate) / 1000) - AAC_PRIMING_SAMPLES);
  const beepLen = Math.round(BEEP_S * rate);
  const beepTerms = beeps.map(
    (n) => `+${BEEP_AMPLITUDE}*cos(2*PI*1000*(n-(${n}))/${rate})*gte(n,${n})*lt(n,${n + beepLen})`,
  );
  const expr = `${PRESENCE_AMPLITUDE.toFixed(5)}*sin(2*PI*200*n/${rate})${beepTerms.join('')}`;
  return {
    graph: `aevalsrc=exprs='${Array(channels).fill(expr).join('|')}':s=${rate},atrim=end_sample=${total - AAC_PRIMING_SAMPLES}`,
    codecArgs: ['-c:a', 'aac', '-b:a', '48k', '-ar', String(rate), '-ac', String(channels)],
    format: 'mpegts',
    ext: 'ts',
    leadS: -AAC_PRIMING_SAMPLES / rate,
    durationS: total / rate,
    cutDeltaS: 0,
  };
}

function runSpec(job: RunJob): EncodeSpec {
  return job.media === 'video'
    ? videoSpec(job.run as FixtureVideoRun, job.markers)
    : audioSpec(job.run as FixtureAudioRun, job.markers);
}

/** Cut instants (run time, s) every sliceMs; the muxer cuts at the first keyframe at or after each. */
function cutTimes(durationS: number, sliceMs: number): number[] {
  const times: number[] = [];
  for (let t = sliceMs / 1000; t < durationS - 1e-6; t += sliceMs / 1000) times.push(t);
  return times;
}

async function encodeRun(spec: EncodeSpec, sliceMs: number, baseS: number, tmp: string): Promise<CutSlice[]> {
  const csv = path.join(tmp, 'segments.csv');
  // The segment muxer sees timestamps after -output_ts_offset, so cut instants are absolute.
  const cuts = cutTimes(spec.durationS, sliceMs).map((t) => (baseS + t).toFixed(6));
  const cutArgs = cuts.length ? ['-segment_times', cuts.join(',')] : ['-segment_time', String(1e9)];
  await execFileAsync('ffmpeg', [
    '-hide_banner', '-loglevel', 'error', '-nostdin', '-y',
    '-f', 'lavfi', '-i', spec.graph,
    ...spec.codecArgs,
    '-threads', '1', '-fflags', '+bitexact', '-flags', '+bitexact',
    '-output_ts_offset', baseS.toFixed(3),
    '-f', 'segment', '-segment_format', spec.format, ...cutArgs,
    '-segment_time_delta', spec.cutDeltaS.toFixed(6), '-reset_timestamps', '0',
    '-segment_list', csv, '-segment_list_type', 'csv',
    path.join(tmp, `%04d.${spec.ext}`),
  ]);
  return parseSegmentList(await readFile(csv, 'utf8'), baseS + spec.leadS, tmp);
}

/** The csv has microsecond precision; drop the float noise of subtracting large timestamps. */
function micro(seconds: number): number {
  return Math.round(seconds * 1e6) / 1e6;
}

/**
 * The csv lists `file,start,end` in muxer time. Its first start is always 0 (ffmpeg 5.1), so each slice
 * starts where the previous one ended, the first at the run's first packet.
 */
function parseSegmentList(csv: string, firstPacketS: number, dir: string): CutSlice[] {
  let previousEnd = firstPacketS;
  return csv
    .trim()
    .split('\n')
    .map((line) => {
      const [file = '', , end = ''] = line.split(',');
      const endS = Number(end);
      const slice = { file: path.join(dir, file), offsetS: micro(previousEnd - firstPacketS), durationS: micro(endS - previousEnd) };
      previousEnd = endS;
      return slice;
    });
}

interface PlaylistEntry {
  name: string;
  durationS: number;
  /** Tags written before the slice: set on a run's first slice. */
  head?: string[];
}

function runHead(rec: FixtureRecording, job: RunJob): string[] {
  const time = utc17(job.run.startMs);
  const event = `#EXT-X-AGORA-TRACK-EVENT:EVENT=START,TRACK_TYPE=${job.media.toUpperCase()},TIME=${time}`;
  if (job.media === 'audio') return ['#EXT-X-DISCONTINUITY', event];
  const run = job.run as FixtureVideoRun;
  const rotate = `#EXT-X-AGORA-ROTATE:WIDTH=${run.width},HEIGHT=${run.height},ROTATE=${run.rotation ?? 0},TIME=${time}`;
  const tags = rec.tagOrder === 'event-first' ? [event, rotate] : [rotate, event];
  return ['#EXT-X-DISCONTINUITY', ...tags];
}

function playlistText(entries: PlaylistEntry[]): string {
  const target = Math.ceil(Math.max(...entries.map((e) => e.durationS)));
  const lines = [
    '#EXTM3U',
    '#EXT-X-VERSION:3',
    '#EXT-X-MEDIA-SEQUENCE:0',
    '#EXT-X-ALLOW-CACHE:YES',
    `#EXT-X-TARGETDURATION:${target}`,
    ...entries.flatMap((e) => [...(e.head ?? []), `#EXTINF:${e.durationS.toFixed(6)}`, e.name]),
    '#EXT-X-ENDLIST',
  ];
  return `${lines.join('\n')}\n`;
}

function runJobs(rec: FixtureRecording): RunJob[] {
  return rec.users.flatMap((user) => {
    const markers = user.markers ?? [];
    const audio = (user.audio ?? []).map((run, index): RunJob => ({ uid: user.uid, media: 'audio', index, run, markers }));
    const video = (user.video ?? []).map((run, index): RunJob => ({ uid: user.uid, media: 'video', index, run, markers }));
    return [...audio, ...video];
  });
}

interface BuiltRun {
  job: RunJob;
  slices: WrittenSlice[];
  entries: PlaylistEntry[];
}

async function buildRun(rec: FixtureRecording, outDir: string, job: RunJob): Promise<BuiltRun> {
  const spec = runSpec(job);
  // Encode next to the destination so the final renames never cross file systems.
  const tmp = await mkdtemp(path.join(outDir, '.fixture-'));
  try {
    const cut = await encodeRun(spec, job.run.sliceMs ?? DEFAULT_SLICE_MS, ptsBaseS(rec, job), tmp);
    const built: BuiltRun = { job, slices: [], entries: [] };
    for (const [i, slice] of cut.entries()) {
      const startMs = Math.round(job.run.startMs + slice.offsetS * 1000);
      const name = sliceName(rec, job.uid, job.media, startMs, spec.ext);
      const target = path.join(outDir, name);
      await rename(slice.file, target);
      const key = path.posix.join(rec.dir ?? '', name);
      built.slices.push({ key, path: target, media: job.media, uid: job.uid, startMs, durationMs: slice.durationS * 1000 });
      built.entries.push({ name, durationS: slice.durationS, ...(i === 0 ? { head: runHead(rec, job) } : {}) });
    }
    return built;
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

async function writePlaylists(rec: FixtureRecording, outDir: string, runs: BuiltRun[]): Promise<string[]> {
  const written: string[] = [];
  for (const user of rec.users) {
    for (const media of ['audio', 'video'] as const) {
      const mine = runs
        .filter((r) => r.job.uid === user.uid && r.job.media === media)
        .sort((a, b) => a.job.run.startMs - b.job.run.startMs);
      if (!mine.length) continue;
      const file = path.join(outDir, playlistName(rec, user.uid, media));
      await writeFile(file, playlistText(mine.flatMap((r) => r.entries)));
      written.push(file);
    }
  }
  return written;
}

export async function writeRecording(root: string, rec: FixtureRecording): Promise<WrittenRecording> {
  const outDir = path.join(root, rec.dir ?? '');
  await mkdir(outDir, { recursive: true });
  const limit = pLimit(MAX_PARALLEL_ENCODES);
  const runs = await Promise.all(runJobs(rec).map((job) => limit(() => buildRun(rec, outDir, job))));
  const playlists = await writePlaylists(rec, outDir, runs);
  const slices = runs.flatMap((r) => r.slices).sort((a, b) => a.key.localeCompare(b.key));
  return { root, playlists, slices };
}
