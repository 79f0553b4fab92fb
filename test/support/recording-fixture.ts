// Builds individual-mode recordings the way the recording service writes them (see
// /work/shared/recording-format.md), from lavfi pictures and authored PCM, so tests can measure markers.
//
// What it models, per presence span ("run") of one user and one media type:
// - ONE continuous encode (as a sender's stream is), cut into slices afterwards, as a recorder does:
//   audio every sliceMs; video at the first keyframe after sliceMs of slice, plus forced cuts that may fall
//   mid-GOP (H.264 force-cut at 5.5 min / 50 MB). TS slices are cut by this module on PES boundaries, so
//   contiguous TS slices of one stream are byte-concatenable (continuity counters run on across slices).
//   VP8 is encoded to IVF (one encode per coded size), cut frame by frame on keyframes only, each slice
//   remuxed to WebM.
// - Unrelated PTS bases per run; markers: a full white frame and a 1 kHz beep at the same wall-clock
//   instants, over a dark gray picture with a white square in its upright top-left corner and a quiet
//   200 Hz presence tone (measure.ts finds them).
// - What real recordings get wrong: slice names jittered around the media they hold (jitterMs), EXTINF
//   rounded and a few ms off (extinf: 'recorder'), streams that begin mid-GOP (startsMidGop: the lead is
//   dropped at packet level, so the first frames reference a missing I-frame), B-frames (profile/bframes),
//   HEVC, VP8 resolution changes inside a slice (resizes), a phone turned mid-slice (rotations + a ROTATE tag
//   with that TIME, before the first slice after the turn as the docs put it, or `rotateTag: 'inside'`), frames lost in bursts (dropFrames; the others keep their timestamps).
// - The truth: for every marker, the instant its frame/first beep sample really carries, defined as the name
//   UTC of the slice that holds it + (its timestamp - the slice's start_time as ffprobe reports it).
// - The recorder modes (README "Recorder modes", `mode`): default; standard (plus the per-UID av index, and
//   Opus-in-WebM audio for a Web VP8 sender, named by an av.mpd); original (audio only, AAC or Opus in TS);
//   raw (one index per UID: muxed A+V TS slices for H.264/HEVC, a DASH MPD of WebM segments for VP8/VP9 +
//   Opus). Raw mode and the MPD layout are built from the docs' description (no sample files are published):
//   a muxed slice's UTC names the earliest timestamp in it (both streams share the file's clock), so its
//   start_time in the truth is the file's; a raw DASH segment's UTC is the MPD's `time` attribute.
// - Opus facts the truth keeps: libopus's pre-skip (312 samples) leads the first packet; 20 ms packets; in
//   TS every sample is decoded (ffmpeg ignores start_trim); in WebM ffmpeg drops the pre-skip of every slice
//   (each carries the encoder's header), so a later slice's first 6.5 ms are not decoded, and the first
//   packet's time is in whole ms (-7 ms for -6.5).
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import pLimit from 'p-limit';

const execFileAsync = promisify(execFile);

export type Rotation = 0 | 90 | 180 | 270;

export interface FixtureVideoRun {
  /** Wall clock (epoch ms) of the run's first frame that is in the file. */
  startMs: number;
  /** Multiple of 1000 recommended; the file holds round(durationMs * fps / 1000) frame slots. */
  durationMs: number;
  /** Coded size (what is in the bitstream) at the run's start. */
  width: number;
  height: number;
  fps: number;
  /** vp8/vp9 -> .webm slices (libvpx), h264 -> .ts (libx264), hevc -> .ts (libx265). Default h264. */
  codec?: 'h264' | 'hevc' | 'vp8' | 'vp9';
  /** Degrees the picture is turned anticlockwise in the coded frames at the run's start. */
  rotation?: Rotation;
  /** Default 4000; video slices are cut at the first keyframe at least this long after the slice start. */
  sliceMs?: number;
  /** H.264 only. Default 'baseline'; 'main' adds CABAC, 'high' CABAC and 8x8 transforms. */
  profile?: 'baseline' | 'main' | 'high';
  /** Consecutive B-frames (H.264 main/high, HEVC). Default 0. */
  bframes?: number;
  /** Keyframe interval in frames. Default fps (one per second). */
  gopFrames?: number;
  /** H.264/HEVC: extra cut instants, ms from the run start, cut on whatever frame is there (mid-GOP). */
  forceCutsMs?: number[];
  /** The recording started this many frames into a GOP: the file begins with frames whose I-frame is missing. */
  startsMidGop?: number;
  /** VP8/VP9 only, wall-clock instants: the coded size changes there, inside a slice, on a keyframe. */
  resizes?: { atMs: number; width: number; height: number }[];
  /** Wall-clock instants: from atMs on the coded frames hold the picture turned anticlockwise this much. */
  rotations?: { atMs: number; rotation: Rotation }[];
  /**
   * Where a turn's ROTATE tag (TIME = the turn's instant) is written. 'after' (default, the docs): before the
   * first slice after the turn (the slice its TIME lies in if the turn is on that slice's first frame), after
   * the run's last slice when the turn is in it. 'inside': before the slice the turn lies in.
   */
  rotateTag?: 'after' | 'inside';
  /** Wall-clock windows [fromMs, toMs): frames there are missing from the stream (network loss). */
  dropFrames?: { fromMs: number; toMs: number }[];
  /**
   * 'flat' (default): a dark gray picture (cheap to encode, what tests measure on). 'camera' (benchmarks): a
   * moving test pattern blended with a moving blurred texture, under sensor noise that changes every frame.
   * Both carry the white top-left square and the white marker frames.
   */
  content?: 'flat' | 'camera';
  /** Encoder bitrate, kb/s. Default 150. */
  bitrateKbps?: number;
}

export interface FixtureAudioRun {
  startMs: number;
  durationMs: number;
  /** Default 4000. */
  sliceMs?: number;
  channels?: 1 | 2;
  /** Default 48000 (Opus: 48000 only). */
  sampleRate?: number;
  /**
   * Default 'aac'. 'opus': Opus in TS (the original mode keeps a sender's Opus). Audio of a standard-mode
   * Web VP8 sender and of raw-mode DASH is Opus in WebM whatever this says.
   */
  codec?: 'aac' | 'opus';
  /** The run's authored samples (presence tone, beeps, talk) scaled by this many dB. Default 0. */
  gainDb?: number;
}

export interface FixtureUser {
  uid: string;
  audio?: FixtureAudioRun[];
  video?: FixtureVideoRun[];
  /**
   * Wall-clock epoch ms; each one inside a run gets a white frame (the nearest frame) and a beep there.
   * An audio run opens with 1024 samples of AAC priming (21.3 ms at 48 kHz), or Opus's 312 of pre-skip:
   * a beep cannot start inside them.
   */
  markers?: number[];
  /**
   * Wall-clock windows [fromMs, toMs) where the user talks: a 300 Hz tone at -12 dBFS RMS over the presence
   * tone (audio runs only, not raw mode's muxed audio). Beeps stay.
   */
  talks?: { fromMs: number; toMs: number }[];
  /** Wall-clock windows where the user is silent: no presence tone (beeps stay). */
  mutes?: { fromMs: number; toMs: number }[];
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
  /**
   * Default 0. Each slice name's UTC is off from the wall clock of the media it holds by a deterministic
   * whole number of ms in [-jitterMs, +jitterMs] (seeded by sid/uid/media/run/slice).
   */
  jitterMs?: number;
  /**
   * Default 'exact': #EXTINF is the slice's real length, 6 decimals. 'recorder': as the service writes it,
   * 3 decimals: audio slices announced as sliceMs (a run's last, shorter slice as its rounded length),
   * video slices as their rounded length plus a deterministic error in [-4, +4] ms.
   */
  extinf?: 'exact' | 'recorder';
  /**
   * Which recorder mode writes the files (README "Recorder modes"); default 'default'.
   * - 'standard': the default playlists plus a per-UID `__uid_e_av.m3u8` (`# Audio` / `# Video` blocks naming
   *   the playlists); for a Web VP8 sender (a user with VP8 video) audio is Opus in WebM
   *   (`__uid_e_audio_<utc>.webm`) and the index is `__uid_e_av.mpd` naming every WebM slice.
   * - 'original': audio only (video runs are refused), AAC or Opus (`codec: 'opus'`) in TS.
   * - 'raw': per user one index. H.264/HEVC: `__uid_e_<h264|h265>.m3u8` listing muxed A+V TS slices
   *   `__uid_e_<utc>_<h264|h265>.ts`; each audio run is muxed into the video run with the same start and
   *   length (the others are refused), the slices cut as video slices are. VP8/VP9: `__uid_e_<vp8|vp9>.mpd`
   *   naming WebM segments `__uid_e_<audio|video>_<n>_<vp8|vp9>.webm` (Opus audio), each with a `time`.
   */
  mode?: 'default' | 'standard' | 'original' | 'raw';
}

export interface WrittenSlice {
  /** Storage key relative to root (posix separators). */
  key: string;
  path: string;
  media: 'audio' | 'video';
  uid: string;
  /** The UTC in the slice's name (epoch ms); equals nameStartMs. */
  startMs: number;
  /** The UTC in the slice's name (epoch ms): wallStartMs rounded, plus the jitter. */
  nameStartMs: number;
  /**
   * True wall clock (epoch ms) of the frame / sample at the slice's start_time (for video the first packet,
   * which after a mid-GOP cut with B-frames is not the earliest frame); not rounded, not jittered.
   */
  wallStartMs: number;
  /** Real length of the media: frame slots from the first to the last frame (gaps of dropped frames included), or samples. */
  durationMs: number;
  /** What the playlist announces in #EXTINF (seconds). */
  extinfS: number;
  /** The slice's stream start_time (seconds) as ffprobe reports it. */
  mediaStartS: number;
  /** Whether the first packet of the slice is a keyframe (audio: always). */
  startsOnKeyframe: boolean;
  /**
   * Raw mode: the file holds audio AND video; it is listed twice (once per media, same key and path).
   * mediaStartS is then the file's start_time (the earlier stream's), which the name's UTC labels.
   */
  muxed?: boolean;
}

export interface MarkerTruth {
  uid: string;
  /** The marker as asked (wall-clock epoch ms). */
  markerMs: number;
  /**
   * Name UTC of the slice holding the marker's white frame + (the frame's timestamp - the slice's start_time).
   * null when no video run covers the marker or its frame is not decodable in any slice (dropped, or in
   * the lead before a run's first keyframe).
   */
  videoMs: number | null;
  /** Same for the first sample of the beep; null when no audio run carries the beep. */
  audioMs: number | null;
}

export interface WrittenRecording {
  root: string;
  /** Paths of the written playlists and indexes (av.m3u8/.mpd, raw mode's index or MPD). */
  playlists: string[];
  slices: WrittenSlice[];
  /** One entry per user and marker. */
  truth: MarkerTruth[];
}

type Media = 'audio' | 'video';
type NameParts = { sid: string; cname: string; backup?: number };

/** Base picture luma (BT.601 limited range Y of RGB 0x282828 is about 50). */
const BASE_GRAY = '0x282828';
/** RMS of the 200 Hz presence tone: -30 dBFS (sine amplitude 0.0447). */
const PRESENCE_AMPLITUDE = Number((Math.SQRT2 * 10 ** (-30 / 20)).toFixed(5));
/** Peak of the 1 kHz beep: -6 dBFS. */
const BEEP_AMPLITUDE = 0.5;
const BEEP_S = 0.06;
const BEEP_HZ = 1000;
const PRESENCE_HZ = 200;
/**
 * ffmpeg's native AAC encoder emits one frame of priming (initial padding) whose timestamp lies before
 * the first input sample. Decoding a TS slice yields those samples first, so the slice (and run) starts
 * there; the authored audio is shifted by this much so that beeps land exactly on their markers.
 */
const AAC_PRIMING_SAMPLES = 1024;
/** libopus's pre-skip (its initial padding at 48 kHz): the same role for Opus. */
const OPUS_PRESKIP_SAMPLES = 312;
/** libopus's packets: 20 ms. */
const OPUS_PACKET_SAMPLES = 960;
const primingOf = (codec: 'aac' | 'opus') => (codec === 'opus' ? OPUS_PRESKIP_SAMPLES : AAC_PRIMING_SAMPLES);
const DEFAULT_SLICE_MS = 4000;
const MAX_PARALLEL_ENCODES = 2;
/** Largest error the 'recorder' EXTINF adds to a video slice's length. */
const EXTINF_ERROR_MS = 4;
const TS_PACKET = 188;
const TS_CLOCK = 90000;
const COMMON_ARGS = ['-hide_banner', '-loglevel', 'error', '-nostdin', '-y'];
const BITEXACT = ['-threads', '1', '-fflags', '+bitexact', '-flags', '+bitexact'];

export function utc17(ms: number): string {
  return new Date(Math.round(ms)).toISOString().replace(/\D/g, '');
}

function namePrefix(rec: NameParts, uid: string, media: string): string {
  const bak = rec.backup === undefined ? '' : `bak${rec.backup}_`;
  return `${bak}${rec.sid}_${rec.cname}__uid_s_${uid}__uid_e_${media}`;
}

export function playlistName(rec: NameParts, uid: string, media: Media): string {
  return `${namePrefix(rec, uid, media)}.m3u8`;
}

export function sliceName(rec: NameParts, uid: string, media: Media, startMs: number, ext: 'ts' | 'webm'): string {
  return `${namePrefix(rec, uid, media)}_${utc17(startMs)}.${ext}`;
}

/** Standard mode's per-UID index: `__uid_e_av.m3u8`, or `__uid_e_av.mpd` for a Web VP8 sender. */
export function avIndexName(rec: NameParts, uid: string, ext: 'm3u8' | 'mpd'): string {
  return `${namePrefix(rec, uid, 'av')}.${ext}`;
}

/** The video codec as raw-mode names spell it (a guess: the docs write `{videocodec}`). */
const RAW_TOKENS = { h264: 'h264', hevc: 'h265', vp8: 'vp8', vp9: 'vp9' } as const;
export type RawToken = (typeof RAW_TOKENS)[keyof typeof RAW_TOKENS];

/** Raw mode's per-UID index: `__uid_e_<videocodec>.m3u8` (muxed TS slices) or `.mpd` (WebM segments). */
export function rawIndexName(rec: NameParts, uid: string, token: RawToken): string {
  return `${namePrefix(rec, uid, token)}.${token === 'vp8' || token === 'vp9' ? 'mpd' : 'm3u8'}`;
}

/**
 * How a run's slices are stored: one stream per TS or WebM slice named by its UTC (the legacy modes),
 * muxed A+V TS slices (raw mode, H.264/HEVC), or WebM segments named by a number (raw mode's DASH).
 */
type Shape = 'ts' | 'webm' | 'muxed' | 'dash';

interface RunJob {
  uid: string;
  media: Media;
  index: number;
  run: FixtureVideoRun | FixtureAudioRun;
  markers: number[];
  shape: Shape;
  /** Audio jobs: the codec written. */
  audioCodec?: 'aac' | 'opus';
  /** Raw mode: the video codec as names spell it. */
  token?: RawToken;
  /** Raw mode, muxed: the audio run muxed into this video run. */
  muxedAudio?: FixtureAudioRun;
}

/** Deterministic integer in [-range, +range] from a text seed. */
function noise(seed: string, range: number): number {
  if (range <= 0) return 0;
  const digest = createHash('sha256').update(seed).digest();
  return (digest.readUInt32BE(0) % (2 * Math.floor(range) + 1)) - Math.floor(range);
}

/** Deterministic stand-in for the unrelated PTS base every real run has: 10 s .. ~40000 s, whole ms. */
function ptsBaseS(rec: FixtureRecording, job: RunJob): number {
  const digest = createHash('sha256').update(`${rec.sid}/${job.uid}/${job.media}/${job.index}/${job.run.startMs}`).digest();
  return 10 + (digest.readUInt32BE(0) % 40_000_000) / 1000;
}

function runSeed(rec: FixtureRecording, job: RunJob): string {
  return `${rec.sid}/${job.uid}/${job.media}/${job.index}`;
}

async function ffmpeg(args: string[]): Promise<void> {
  await execFileAsync('ffmpeg', [...COMMON_ARGS, ...args], { maxBuffer: 1 << 26 });
}

interface ProbedPacket {
  pts_time?: string;
  flags?: string;
}

/** The first stream's start_time and its packets in file order, as ffprobe reports them. */
async function probeSlice(file: string): Promise<{ startS: number; packets: { ptsS: number; key: boolean }[] }> {
  const { stdout } = await execFileAsync(
    'ffprobe',
    ['-v', 'error', '-select_streams', '0', '-show_entries', 'stream=start_time:packet=pts_time,flags', '-of', 'json', file],
    { maxBuffer: 1 << 28 },
  );
  const out = JSON.parse(stdout) as { streams?: { start_time?: string }[]; packets?: ProbedPacket[] };
  const startS = Number(out.streams?.[0]?.start_time);
  if (!Number.isFinite(startS)) throw new Error(`${file}: ffprobe reports no start_time`);
  const packets = (out.packets ?? []).map((p) => ({ ptsS: Number(p.pts_time), key: (p.flags ?? '').startsWith('K') }));
  return { startS, packets };
}

// ---------------------------------------------------------------------------------------------------
// Pictures

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

/** A stretch of frames with one coded size and one rotation; `first` is a file frame index (lead < 0). */
interface PictureSpan {
  first: number;
  count: number;
  width: number;
  height: number;
  rotation: Rotation;
}

/** lavfi graph for consecutive spans of one coded size; white frames at the given file frame indices. */
function pictureGraph(spans: PictureSpan[], fps: number, whiteFrames: number[], content: 'flat' | 'camera' = 'flat'): string {
  const chains = spans.map((span, k) => {
    const sideways = span.rotation === 90 || span.rotation === 270;
    const [w, h] = sideways ? [span.height, span.width] : [span.width, span.height];
    const whites = whiteFrames.filter((n) => n >= span.first && n < span.first + span.count).map((n) => n - span.first);
    const base =
      content === 'camera'
        ? `testsrc2=s=${w}x${h}:r=${fps},format=yuv420p[ca${k}];cellauto=s=${w}x${h}:r=${fps}:rule=110:seed=${k + 1},format=yuv420p,boxblur=3[cb${k}];` +
          `[ca${k}][cb${k}]blend=all_mode=average,noise=alls=12:allf=t:all_seed=${k + 7}`
        : `color=c=${BASE_GRAY}:s=${w}x${h}:r=${fps}`;
    const filters = [
      base,
      `trim=end_frame=${span.count}`,
      'drawbox=x=0:y=0:w=iw/6:h=iw/6:color=white:t=fill',
      ...(whites.length ? [`drawbox=x=0:y=0:w=iw:h=ih:color=white:t=fill:enable='${whites.map((n) => `eq(n,${n})`).join('+')}'`] : []),
      ...anticlockwise(span.rotation),
      'format=yuv420p',
    ];
    return spans.length > 1 ? `${filters.join(',')}[p${k}]` : filters.join(',');
  });
  if (spans.length === 1) return chains[0]!;
  return `${chains.join(';')};${spans.map((_, k) => `[p${k}]`).join('')}concat=n=${spans.length}:v=1:a=0`;
}

// ---------------------------------------------------------------------------------------------------
// Video runs

/** The run as frame slots: file frame i is presented at startMs + i / fps; the lead has i < 0. */
class VideoTimeline {
  readonly fps: number;
  readonly lead: number;
  readonly frames: number;
  readonly gop: number;

  constructor(readonly run: FixtureVideoRun) {
    this.fps = run.fps;
    this.lead = run.startsMidGop ?? 0;
    this.frames = Math.round((run.durationMs * run.fps) / 1000);
    this.gop = run.gopFrames ?? run.fps;
  }

  wallMs(i: number): number {
    return this.run.startMs + (i * 1000) / this.fps;
  }

  /** First frame presented at or after a wall-clock instant. */
  frameAt(wallMs: number): number {
    return Math.ceil(((wallMs - this.run.startMs) * this.fps) / 1000 - 1e-6);
  }

  /** The frame shown at a marker: the nearest one. */
  markerFrame(wallMs: number): number {
    return Math.round(((wallMs - this.run.startMs) * this.fps) / 1000);
  }

  dropped(i: number): boolean {
    return i < 0 || (this.run.dropFrames ?? []).some((d) => i >= this.frameAt(d.fromMs) && i < this.frameAt(d.toMs));
  }

  sizeAt(i: number): { width: number; height: number } {
    let size = { width: this.run.width, height: this.run.height };
    for (const r of [...(this.run.resizes ?? [])].sort((a, b) => a.atMs - b.atMs)) {
      if (this.frameAt(r.atMs) <= i) size = { width: r.width, height: r.height };
    }
    return size;
  }

  rotationAt(i: number): Rotation {
    let rotation = this.run.rotation ?? 0;
    for (const r of [...(this.run.rotations ?? [])].sort((a, b) => a.atMs - b.atMs)) {
      if (this.frameAt(r.atMs) <= i) rotation = r.rotation;
    }
    return rotation;
  }

  /** Frames -lead .. frames-1 as spans of constant size and rotation. */
  spans(): PictureSpan[] {
    const spans: PictureSpan[] = [];
    for (let i = -this.lead; i < this.frames; i++) {
      const { width, height } = this.sizeAt(i);
      const rotation = this.rotationAt(i);
      const last = spans.at(-1);
      if (last && last.width === width && last.height === height && last.rotation === rotation) last.count++;
      else spans.push({ first: i, count: 1, width, height, rotation });
    }
    return spans;
  }
}

function validateVideo(run: FixtureVideoRun): void {
  const codec = run.codec ?? 'h264';
  const bad = (what: string): never => {
    throw new Error(`fixture video run at ${run.startMs}: ${what}`);
  };
  const vpx = codec === 'vp8' || codec === 'vp9';
  if (run.resizes?.length && !vpx) bad('resizes need codec vp8/vp9 (the service cuts H.264/HEVC on a size change)');
  if (run.forceCutsMs?.length && vpx) bad('VP8/VP9 is not force-cut');
  if (run.profile && codec !== 'h264') bad('profile is an H.264 option');
  if ((run.bframes ?? 0) > 0 && (vpx || (codec === 'h264' && (run.profile ?? 'baseline') === 'baseline'))) {
    bad('B-frames need H.264 main/high or HEVC');
  }
}

function videoCodecArgs(run: FixtureVideoRun, gop: number): string[] {
  const bframes = run.bframes ?? 0;
  switch (run.codec ?? 'h264') {
    case 'vp8':
      return ['-c:v', 'libvpx', '-g', String(gop), '-keyint_min', String(gop), '-deadline', 'realtime', '-cpu-used', '8', '-auto-alt-ref', '0', '-b:v', `${run.bitrateKbps ?? 150}k`];
    case 'vp9':
      // No alt-ref (hidden) frames and no lag: one IVF frame per picture, as WebRTC sends.
      return ['-c:v', 'libvpx-vp9', '-g', String(gop), '-keyint_min', String(gop), '-deadline', 'realtime', '-cpu-used', '8', '-auto-alt-ref', '0', '-lag-in-frames', '0', '-row-mt', '0', '-b:v', `${run.bitrateKbps ?? 150}k`];
    case 'hevc':
      return [
        '-c:v', 'libx265', '-preset', 'ultrafast', '-b:v', `${run.bitrateKbps ?? 150}k`,
        '-x265-params', `log-level=error:pools=none:frame-threads=1:keyint=${gop}:min-keyint=${gop}:scenecut=0:open-gop=0:bframes=${bframes}`,
      ];
    default: {
      const profile = run.profile ?? 'baseline';
      const extra = profile === 'main' ? ['-profile:v', 'main', '-x264-params', 'cabac=1'] : profile === 'high' ? ['-profile:v', 'high', '-x264-params', 'cabac=1:8x8dct=1'] : [];
      return ['-c:v', 'libx264', '-preset', 'ultrafast', '-g', String(gop), '-keyint_min', String(gop), '-sc_threshold', '0', '-bf', String(bframes), ...extra, '-b:v', `${run.bitrateKbps ?? 150}k`];
    }
  }
}

/** One coded frame of the continuous encode, in decode order; `i` is its file frame index. */
interface CodedFrame {
  i: number;
  key: boolean;
  /** TS: the PES presentation time (s), exactly what ffprobe reports for the packet. */
  ptsS?: number;
  /** TS: the video packets of its PES, and the other packets (PAT/PMT/SDT) written just before it. */
  video: Buffer[];
  other: Buffer[];
}

/**
 * Splits a TS file into the PES of its video stream (one per frame, as ffmpeg's muxer writes them); the
 * other packets (tables, a muxed audio stream's PES) go with the frame they precede.
 */
function parseTs(data: Buffer): { frames: { pts: number; key: boolean; video: Buffer[]; other: Buffer[] }[]; header: Buffer[] } {
  const frames: { pts: number; key: boolean; video: Buffer[]; other: Buffer[] }[] = [];
  let pending: Buffer[] = [];
  let header: Buffer[] | undefined;
  let videoPid = -1;
  const pesPids = new Set<number>();
  for (let at = 0; at + TS_PACKET <= data.length; at += TS_PACKET) {
    const packet = data.subarray(at, at + TS_PACKET);
    if (packet[0] !== 0x47) throw new Error(`TS sync byte missing at ${at}`);
    const pid = ((packet[1]! & 0x1f) << 8) | packet[2]!;
    const start = (packet[1]! & 0x40) !== 0;
    const afc = (packet[3]! >> 4) & 3;
    const afLength = afc & 2 ? packet[4]! : -1;
    const payload = afc & 2 ? 5 + afLength : 4;
    const isPesStart = start && afc & 1 && packet[payload] === 0 && packet[payload + 1] === 0 && packet[payload + 2] === 1;
    if (isPesStart) pesPids.add(pid);
    const isVideoStart = isPesStart && (packet[payload + 3]! & 0xf0) === 0xe0;
    if (isVideoStart) videoPid = pid;
    if (pid !== videoPid) {
      pending.push(packet);
      continue;
    }
    if (!start) {
      const frame = frames.at(-1);
      if (!frame) throw new Error('TS video packet before its PES start');
      frame.video.push(packet);
      continue;
    }
    // The tables (PAT, PMT, SDT) before the first picture; not the audio PES of a muxed stream.
    header ??= pending.filter((p) => !pesPids.has(((p[1]! & 0x1f) << 8) | p[2]!));
    const key = afLength > 0 && (packet[5]! & 0x40) !== 0; // random_access_indicator
    const pts = pesPts(packet.subarray(payload));
    frames.push({ pts, key, video: [packet], other: pending });
    pending = [];
  }
  frames.at(-1)?.other.push(...pending);
  return { frames, header: header ?? [] };
}

/** PTS (90 kHz) of a PES whose header starts at `p` (00 00 01 id len len flags flags hdrlen PTS...). */
function pesPts(p: Buffer): number {
  return (p[9]! & 0x0e) * 2 ** 29 + p[10]! * 2 ** 22 + (p[11]! >> 1) * 2 ** 15 + p[12]! * 2 ** 7 + (p[13]! >> 1);
}

/**
 * Presentation time (s) of the first PES of a one-stream TS: what ffprobe reports as its start_time.
 * Stream ids: audio/video 0xc0-0xef, private stream 1 (0xbd, Opus).
 */
function firstPtsS(data: Buffer, file: string): number {
  for (let at = 0; at + TS_PACKET <= data.length; at += TS_PACKET) {
    const packet = data.subarray(at, at + TS_PACKET);
    const afc = (packet[3]! >> 4) & 3;
    const payload = packet.subarray(afc & 2 ? 5 + packet[4]! : 4);
    if (packet[1]! & 0x40 && afc & 1 && payload[0] === 0 && payload[1] === 0 && payload[2] === 1 && ((payload[3]! >= 0xc0 && payload[3]! <= 0xef) || payload[3] === 0xbd)) {
      return pesPts(payload) / TS_CLOCK;
    }
  }
  throw new Error(`${file}: no PES with a timestamp`);
}

/** Slices as groups of consecutive kept frames (decode order), cut as the recorder cuts. */
function planCuts<F extends CodedFrame>(frames: F[], timeline: VideoTimeline): F[][] {
  const sliceFrames = ((timeline.run.sliceMs ?? DEFAULT_SLICE_MS) * timeline.fps) / 1000;
  const forced = (timeline.run.forceCutsMs ?? []).map((ms) => timeline.frameAt(timeline.run.startMs + ms)).sort((a, b) => a - b);
  const slices: F[][] = [];
  let current: F[] = [];
  let firstI = Infinity;
  for (const frame of frames) {
    let cut = false;
    if (current.length) {
      if (forced.length && frame.i >= forced[0]!) {
        cut = true;
        while (forced.length && frame.i >= forced[0]!) forced.shift();
      } else if (frame.key && frame.i - firstI >= sliceFrames - 0.5) {
        cut = true;
      }
    } else {
      while (forced.length && frame.i >= forced[0]!) forced.shift();
    }
    if (cut) {
      slices.push(current);
      current = [];
      firstI = Infinity;
    }
    current.push(frame);
    firstI = Math.min(firstI, frame.i);
  }
  if (current.length) slices.push(current);
  return slices;
}

/** Sets continuity counters so the packets run on per PID (what a recorder muxing one stream writes). */
class Continuity {
  private readonly last = new Map<number, number>();

  apply(packet: Buffer): Buffer {
    const copy = Buffer.from(packet);
    const pid = ((copy[1]! & 0x1f) << 8) | copy[2]!;
    const hasPayload = ((copy[3]! >> 4) & 1) === 1;
    const previous = this.last.get(pid);
    const cc = previous === undefined ? copy[3]! & 0x0f : hasPayload ? (previous + 1) & 0x0f : previous;
    copy[3] = (copy[3]! & 0xf0) | cc;
    this.last.set(pid, cc);
    return copy;
  }
}

/** A cut slice before naming: files in tmp, the frames it holds. */
interface CutVideoSlice {
  file: string;
  frames: CodedFrame[];
}

/**
 * One continuous TS encode, cut into slices on PES boundaries. With `audio` (raw mode) the authored samples
 * are muxed in (AAC, from the same instant as the first frame of the file) and travel with the frames they
 * precede in the file, as a recorder cutting a muxed stream at video frames writes them.
 */
async function encodeTsVideo(run: FixtureVideoRun, timeline: VideoTimeline, whites: number[], baseS: number, tmp: string, audio?: Pcm): Promise<CutVideoSlice[]> {
  const encoded = path.join(tmp, 'run.ts');
  const video = ['-f', 'lavfi', '-i', pictureGraph(timeline.spans(), timeline.fps, whites, run.content)];
  const out = [...BITEXACT, '-output_ts_offset', baseS.toFixed(3), '-f', 'mpegts', encoded];
  if (audio) {
    await ffmpegWithPcm([...video, ...pcmInput(audio.rate, audio.channels), '-map', '0:v', '-map', '1:a', ...videoCodecArgs(run, timeline.gop), ...audioCodecArgs('aac', audio.rate, audio.channels), ...out], audio);
  } else {
    await ffmpeg([...video, ...videoCodecArgs(run, timeline.gop), ...out]);
  }
  const { frames: pes, header } = parseTs(await readFile(encoded));
  const expected = timeline.lead + timeline.frames;
  if (pes.length !== expected) throw new Error(`fixture encode: ${pes.length} frames, expected ${expected}`);
  // Presentation order gives each PES its frame slot.
  const byPts = pes.map((p, k) => ({ pts: p.pts, k })).sort((a, b) => a.pts - b.pts);
  const slot = new Array<number>(pes.length);
  byPts.forEach((p, rank) => (slot[p.k] = rank - timeline.lead));
  const all: CodedFrame[] = pes.map((p, k) => ({ i: slot[k]!, key: p.key, ptsS: p.pts / TS_CLOCK, video: p.video, other: p.other }));
  const kept = all.filter((f) => !timeline.dropped(f.i));
  const plan = planCuts(kept, timeline);
  // Packets of dropped frames vanish; the PSI written before them goes with the next kept frame.
  const carried = new Map<CodedFrame, Buffer[]>();
  let extra: Buffer[] = [];
  for (const frame of all) {
    if (timeline.dropped(frame.i)) extra.push(...frame.other);
    else {
      carried.set(frame, [...extra, ...frame.other]);
      extra = [];
    }
  }
  const lastKept = kept.at(-1);
  if (lastKept) carried.get(lastKept)!.push(...extra);
  const continuity = new Continuity();
  return Promise.all(
    plan.map(async (frames, n) => {
      const packets = frames.flatMap((f) => [...carried.get(f)!, ...f.video]);
      const startsWithPat = packets.length > 0 && (((packets[0]![1]! & 0x1f) << 8) | packets[0]![2]!) === 0;
      const all = startsWithPat ? packets : [...header, ...packets];
      const file = path.join(tmp, `${String(n).padStart(4, '0')}.ts`);
      await writeFile(file, Buffer.concat(all.map((p) => continuity.apply(p))));
      return { file, frames };
    }),
  );
}

/**
 * Whether a VP8/VP9 frame is a keyframe. VP8: bit 0 of its first byte is 0. VP9 (profile 0): frame_marker,
 * profile bits, show_existing_frame (bit 3) and frame_type (bit 2, 0 = key).
 */
const isVpxKey = (frame: Buffer, vp9: boolean) => (vp9 ? ((frame[0]! >> 3) & 1) === 0 && ((frame[0]! >> 2) & 1) === 0 : (frame[0]! & 1) === 0);

/** IVF: 32-byte header, then per frame a 12-byte header (size LE32, pts LE64) and the VP8/VP9 frame. */
function parseIvf(data: Buffer, vp9: boolean): { header: Buffer; frames: { key: boolean; data: Buffer }[] } {
  if (data.toString('latin1', 0, 4) !== 'DKIF') throw new Error('not an IVF file');
  const headerSize = data.readUInt16LE(6);
  const frames: { key: boolean; data: Buffer }[] = [];
  for (let at = headerSize; at + 12 <= data.length; ) {
    const size = data.readUInt32LE(at);
    const frame = data.subarray(at + 12, at + 12 + size);
    frames.push({ key: isVpxKey(frame, vp9), data: frame });
    at += 12 + size;
  }
  return { header: data.subarray(0, headerSize), frames };
}

async function encodeVp8Video(run: FixtureVideoRun, timeline: VideoTimeline, whites: number[], baseS: number, tmp: string): Promise<CutVideoSlice[]> {
  // One libvpx encode per coded size: after a resize the stream goes on with a keyframe, as WebRTC's does.
  const spans = timeline.spans();
  const pieces: PictureSpan[][] = [];
  for (const span of spans) {
    const last = pieces.at(-1)?.at(-1);
    if (last && last.width === span.width && last.height === span.height) pieces.at(-1)!.push(span);
    else pieces.push([span]);
  }
  const frames: (CodedFrame & { data: Buffer })[] = [];
  let header: Buffer | undefined;
  for (const [n, piece] of pieces.entries()) {
    const file = path.join(tmp, `piece${n}.ivf`);
    await ffmpeg(['-f', 'lavfi', '-i', pictureGraph(piece, timeline.fps, whites, run.content), ...videoCodecArgs(run, timeline.gop), ...BITEXACT, '-f', 'ivf', file]);
    const ivf = parseIvf(await readFile(file), run.codec === 'vp9');
    header ??= Buffer.from(ivf.header);
    const first = piece[0]!.first;
    const count = piece.reduce((sum, s) => sum + s.count, 0);
    if (ivf.frames.length !== count) throw new Error(`fixture encode: ${ivf.frames.length} VP8 frames, expected ${count}`);
    ivf.frames.forEach((f, k) => frames.push({ i: first + k, key: f.key, data: f.data, video: [], other: [] }));
  }
  const kept = frames.filter((f) => !timeline.dropped(f.i));
  if (!header || !kept.length) throw new Error('fixture encode: no VP8 frame kept');
  const plan = planCuts(kept, timeline);
  // Each slice is its own IVF (time base 1/fps, a frame's timestamp is its slot, so dropped frames leave
  // gaps) remuxed to WebM, so its header carries the coded size its first frame has, as the service's do.
  const remux = pLimit(MAX_PARALLEL_ENCODES);
  return Promise.all(
    plan.map(async (sliceFrames, n) => {
      const head = Buffer.from(header);
      const size = timeline.sizeAt(sliceFrames[0]!.i);
      head.writeUInt16LE(size.width, 12);
      head.writeUInt16LE(size.height, 14);
      head.writeUInt32LE(sliceFrames.length, 24);
      const ivfFrames = sliceFrames.map((f) => {
        const frameHead = Buffer.alloc(12);
        frameHead.writeUInt32LE(f.data.length, 0);
        frameHead.writeBigUInt64LE(BigInt(f.i + timeline.lead), 4);
        return Buffer.concat([frameHead, f.data]);
      });
      const ivf = path.join(tmp, `${String(n).padStart(4, '0')}.ivf`);
      const file = path.join(tmp, `${String(n).padStart(4, '0')}.webm`);
      await writeFile(ivf, Buffer.concat([head, ...ivfFrames]));
      await remux(() => ffmpeg(['-copyts', '-i', ivf, '-map', '0:v', '-c', 'copy', '-copyinkf', ...BITEXACT, '-output_ts_offset', baseS.toFixed(3), '-f', 'webm', file]));
      return { file, frames: sliceFrames };
    }),
  );
}

// ---------------------------------------------------------------------------------------------------
// Audio runs

/** A slice as cut by the segment muxer, relative to its run's first sample. */
interface CutAudioSlice {
  file: string;
  offsetS: number;
  durationS: number;
}

/** Authored samples: `total` of them, the presence tone and a beep from each of `beeps` (sample indices). */
interface Pcm {
  rate: number;
  channels: number;
  total: number;
  beeps: number[];
  /** Linear scale of everything authored. */
  gain?: number;
  /** Sample ranges [from, to) with the talk tone; ranges without the presence tone. */
  talks?: [number, number][];
  mutes?: [number, number][];
}

const TALK_HZ = 300;
/** RMS of the talk tone: -12 dBFS. */
const TALK_AMPLITUDE = Number((Math.SQRT2 * 10 ** (-12 / 20)).toFixed(5));
const within = (ranges: [number, number][] | undefined, s: number) => ranges?.some(([a, b]) => a <= s && s < b) ?? false;

/** Runs ffmpeg with the authored samples as raw float PCM on its stdin (the input `-f f32le ... -i pipe:0`). */
async function ffmpegWithPcm(args: string[], pcm: Pcm): Promise<void> {
  const child = spawn('ffmpeg', [...COMMON_ARGS, ...args], { stdio: ['pipe', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const exited = new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', resolve);
  });
  const { rate, channels, total, beeps } = pcm;
  const beepLen = Math.round(BEEP_S * rate);
  // The presence tone repeats every `period` samples (240 at 48 kHz): one table serves the whole run.
  const period = rate / gcd(rate, PRESENCE_HZ);
  const tone = Float64Array.from({ length: period }, (_, s) => PRESENCE_AMPLITUDE * Math.sin((2 * Math.PI * PRESENCE_HZ * s) / rate));
  const chunk = rate;
  for (let from = 0; from < total; from += chunk) {
    const n = Math.min(chunk, total - from);
    const mono = new Float64Array(n);
    for (let k = 0; k < n; k++) {
      const s = from + k;
      mono[k] = within(pcm.mutes, s) ? 0 : tone[s % period]!;
      if (within(pcm.talks, s)) mono[k]! += TALK_AMPLITUDE * Math.sin((2 * Math.PI * TALK_HZ * s) / rate);
    }
    for (const b of beeps) {
      for (let s = Math.max(b, from); s < Math.min(b + beepLen, from + n); s++) {
        mono[s - from]! += BEEP_AMPLITUDE * Math.cos((2 * Math.PI * BEEP_HZ * (s - b)) / rate);
      }
    }
    if (pcm.gain !== undefined) for (let k = 0; k < n; k++) mono[k]! *= pcm.gain;
    const pcmChunk = new Float32Array(n * channels);
    for (let k = 0; k < n; k++) for (let c = 0; c < channels; c++) pcmChunk[k * channels + c] = mono[k]!;
    if (!child.stdin.write(Buffer.from(pcmChunk.buffer))) await new Promise((resolve) => child.stdin.once('drain', resolve));
  }
  child.stdin.end();
  const code = await exited;
  if (code !== 0) throw new Error(`fixture encode failed (${code}): ${stderr}`);
}

const pcmInput = (rate: number, channels: number) => ['-f', 'f32le', '-ar', String(rate), '-ac', String(channels), '-i', 'pipe:0'];

function audioCodecArgs(codec: 'aac' | 'opus', rate: number, channels: number): string[] {
  // AAC: the fast coder without PNS/TNS/intensity stereo: a 10 min run encodes in ~2.5 s of CPU instead of ~4.5.
  const coder = codec === 'opus' ? ['-c:a', 'libopus', '-b:a', '32k'] : ['-c:a', 'aac', '-aac_coder', 'fast', '-aac_pns', '0', '-aac_tns', '0', '-aac_is', '0', '-b:a', '48k'];
  return [...coder, '-ar', String(rate), '-ac', String(channels)];
}

/** The packets (pts, duration) of a file's first audio stream, as ffprobe reports them. */
async function audioPackets(file: string): Promise<{ ptsS: number; durS: number }[]> {
  const { stdout } = await execFileAsync('ffprobe', ['-v', 'error', '-select_streams', 'a:0', '-show_entries', 'packet=pts_time,duration_time', '-of', 'json', file], { maxBuffer: 1 << 28 });
  return ((JSON.parse(stdout) as { packets?: { pts_time: string; duration_time: string }[] }).packets ?? []).map((p) => ({ ptsS: Number(p.pts_time), durS: Number(p.duration_time) }));
}

/** Authored samples (the presence tone and beeps) encoded as one run and cut every sliceMs by the segment muxer. */
async function encodeAudioRun(
  run: FixtureAudioRun,
  codec: 'aac' | 'opus',
  container: 'ts' | 'webm',
  beepSamples: number[],
  sliceMs: number,
  baseS: number,
  tmp: string,
  shape: Pick<Pcm, 'talks' | 'mutes'> = {},
): Promise<CutAudioSlice[]> {
  const rate = run.sampleRate ?? 48000;
  const channels = run.channels ?? 1;
  const total = Math.round((run.durationMs * rate) / 1000);
  const priming = primingOf(codec);
  const durationS = total / rate;
  const csv = path.join(tmp, 'segments.csv');
  const cuts: string[] = [];
  for (let t = sliceMs / 1000; t < durationS - 1e-6; t += sliceMs / 1000) cuts.push((baseS + t).toFixed(6));
  await ffmpegWithPcm([
    ...pcmInput(rate, channels),
    ...audioCodecArgs(codec, rate, channels),
    ...BITEXACT,
    // The segment muxer sees timestamps after -output_ts_offset, so cut instants are absolute.
    '-output_ts_offset', baseS.toFixed(3),
    '-f', 'segment', '-segment_format', container === 'webm' ? 'webm' : 'mpegts',
    ...(cuts.length ? ['-segment_times', cuts.join(',')] : ['-segment_time', String(1e9)]),
    '-segment_time_delta', '0', '-reset_timestamps', '0',
    '-segment_list', csv, '-segment_list_type', 'csv',
    path.join(tmp, `%04d.${container}`),
  ], { rate, channels, total: total - priming, beeps: beepSamples, ...shape, ...(run.gainDb !== undefined ? { gain: 10 ** (run.gainDb / 20) } : {}) });
  const cut = parseSegmentList(await readFile(csv, 'utf8'), baseS - priming / rate, tmp);
  if (codec === 'aac') return cut;
  // Opus: every packet is 20 ms, so a slice lasts its packets (WebM's csv times are whole ms).
  const counts = await Promise.all(cut.map(async (c) => (await audioPackets(c.file)).length));
  let offset = 0;
  return cut.map((c, n) => {
    const slice = { file: c.file, offsetS: micro(offset), durationS: micro((counts[n]! * OPUS_PACKET_SAMPLES) / rate) };
    offset += slice.durationS;
    return slice;
  });
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

/** The csv has microsecond precision; drop the float noise of subtracting large timestamps. */
function micro(seconds: number): number {
  return Math.round(seconds * 1e6) / 1e6;
}

/**
 * The csv lists `file,start,end` in muxer time. Its first start is always 0 (ffmpeg 5.1), so each slice
 * starts where the previous one ended, the first at the run's first packet.
 */
function parseSegmentList(csv: string, firstPacketS: number, dir: string): CutAudioSlice[] {
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

// ---------------------------------------------------------------------------------------------------
// Runs -> named slices, playlist entries, truth

interface PlaylistEntry {
  name: string;
  /** What #EXTINF says, already formatted. */
  extinf: string;
  extinfS: number;
  /** Tags written before the slice. */
  tags: string[];
  /** Tags written after the slice (a ROTATE for a turn in a run's last slice, placed as the docs say). */
  tagsAfter?: string[];
  /** Video: coded size and rotation at the slice's start (for an MPD). */
  size?: { width: number; height: number };
  rotation?: Rotation;
  /** The UTC in the slice's name (for raw DASH: what the MPD's `time` says). */
  startMs: number;
}

function runHead(rec: FixtureRecording, job: RunJob): string[] {
  const time = utc17(job.run.startMs);
  const eventOf = (media: Media) => `#EXT-X-AGORA-TRACK-EVENT:EVENT=START,TRACK_TYPE=${media.toUpperCase()},TIME=${time}`;
  const event = eventOf(job.media);
  if (job.media === 'audio') return ['#EXT-X-DISCONTINUITY', event];
  const run = job.run as FixtureVideoRun;
  const rotate = `#EXT-X-AGORA-ROTATE:WIDTH=${run.width},HEIGHT=${run.height},ROTATE=${run.rotation ?? 0},TIME=${time}`;
  const tags = rec.tagOrder === 'event-first' ? [event, rotate] : [rotate, event];
  // A muxed run starts both tracks (a guess: raw mode's index is not published).
  return ['#EXT-X-DISCONTINUITY', ...tags, ...(job.muxedAudio ? [eventOf('audio')] : [])];
}

function playlistText(entries: PlaylistEntry[]): string {
  const target = Math.ceil(Math.max(...entries.map((e) => e.extinfS)));
  const lines = [
    '#EXTM3U',
    '#EXT-X-VERSION:3',
    '#EXT-X-MEDIA-SEQUENCE:0',
    '#EXT-X-ALLOW-CACHE:YES',
    `#EXT-X-TARGETDURATION:${target}`,
    ...entries.flatMap((e) => [...e.tags, `#EXTINF:${e.extinf}`, e.name, ...(e.tagsAfter ?? [])]),
    '#EXT-X-ENDLIST',
  ];
  return `${lines.join('\n')}\n`;
}

function runJobs(rec: FixtureRecording): RunJob[] {
  const mode = rec.mode ?? 'default';
  return rec.users.flatMap((user) => {
    const markers = user.markers ?? [];
    const bad = (what: string): never => {
      throw new Error(`fixture uid ${user.uid} (${mode} mode): ${what}`);
    };
    const codecs = [...new Set((user.video ?? []).map((v) => v.codec ?? 'h264'))];
    const webmSender = codecs.some((c) => c === 'vp8' || c === 'vp9');
    if (mode === 'original' && user.video?.length) bad('the original mode records audio only');
    if (mode !== 'original' && user.audio?.some((a) => a.codec === 'opus')) bad('Opus in TS is the original mode\'s (WebM Opus comes with a VP8 sender in standard and raw mode)');
    if (mode === 'raw' && codecs.length !== 1) bad('raw mode here needs video runs of one codec (it names the index)');
    const token = mode === 'raw' ? RAW_TOKENS[codecs[0]!] : undefined;
    const muxed = mode === 'raw' && !webmSender;
    const webmAudio = webmSender && (mode === 'standard' || mode === 'raw');
    const paired = new Set<FixtureAudioRun>();
    const video = (user.video ?? []).map((run, index): RunJob => {
      const audio = muxed ? user.audio?.find((a) => a.startMs === run.startMs && a.durationMs === run.durationMs) : undefined;
      if (audio) paired.add(audio);
      const shape: Shape = muxed ? 'muxed' : mode === 'raw' ? 'dash' : run.codec === 'vp8' || run.codec === 'vp9' ? 'webm' : 'ts';
      return { uid: user.uid, media: 'video', index, run, markers, shape, token, ...(audio ? { muxedAudio: audio } : {}) };
    });
    if (muxed && (user.audio ?? []).some((a) => !paired.has(a))) bad('each audio run must have a video run with the same start and length to be muxed into');
    const audio = (user.audio ?? [])
      .filter((run) => !paired.has(run))
      .map((run, index): RunJob => {
        const audioCodec = webmAudio ? 'opus' : (run.codec ?? 'aac');
        if (audioCodec === 'opus' && (run.sampleRate ?? 48000) !== 48000) bad('Opus runs are 48 kHz');
        const shape: Shape = mode === 'raw' ? 'dash' : webmAudio ? 'webm' : 'ts';
        return { uid: user.uid, media: 'audio', index, run, markers, shape, audioCodec, token };
      });
    return [...audio, ...video];
  });
}

/** Where one marker sits in a run: its instant by the truth's definition, or null. */
interface RunTruth {
  markerMs: number;
  ms: number | null;
  /** The media the instant is of, when not the job's (a muxed video job's audio). */
  media?: Media;
}

interface BuiltRun {
  job: RunJob;
  slices: WrittenSlice[];
  entries: PlaylistEntry[];
  truth: RunTruth[];
}

/** A muxed slice's start: the earlier of its streams' (they share the file's clock). */
interface MuxedStart {
  fileStartS: number;
  audio: { startS: number; endS: number } | null;
}

interface Placed {
  file: string;
  ext: 'ts' | 'webm';
  wallStartMs: number;
  durationS: number;
  extinfS: number;
  mediaStartS: number;
  startsOnKeyframe: boolean;
  tags: string[];
  tagsAfter?: string[];
  /** Muxed slice: its audio's real length. */
  muxedAudio?: { durationS: number };
  /** Video: coded size and rotation at the slice's start (what an MPD entry says). */
  size?: { width: number; height: number };
  rotation?: Rotation;
}

/** A slice's file name: by its UTC (legacy modes), `<utc>_<codec>.ts` (raw, muxed) or `<media>_<n>_<codec>.webm` (raw DASH). */
function sliceFileName(rec: FixtureRecording, job: RunJob, n: number, nameStartMs: number, ext: 'ts' | 'webm'): string {
  if (job.shape === 'muxed') return `${namePrefix(rec, job.uid, '')}${utc17(nameStartMs)}_${job.token}.ts`;
  if (job.shape === 'dash') return `${namePrefix(rec, job.uid, job.media)}_${job.index * 10_000 + n}_${job.token}.webm`;
  return sliceName(rec, job.uid, job.media, nameStartMs, ext);
}

async function placeSlices(rec: FixtureRecording, outDir: string, job: RunJob, placed: Placed[]): Promise<Omit<BuiltRun, 'truth'>> {
  const built: Omit<BuiltRun, 'truth'> = { job, slices: [], entries: [] };
  const recorder = rec.extinf === 'recorder';
  for (const [n, p] of placed.entries()) {
    const nameStartMs = Math.round(p.wallStartMs) + noise(`${runSeed(rec, job)}/${n}/name`, rec.jitterMs ?? 0);
    const name = sliceFileName(rec, job, n, nameStartMs, p.ext);
    const target = path.join(outDir, name);
    await rename(p.file, target);
    const key = path.posix.join(rec.dir ?? '', name);
    const extinf = recorder ? p.extinfS.toFixed(3) : p.extinfS.toFixed(6);
    const common = { key, path: target, uid: job.uid, startMs: nameStartMs, nameStartMs, wallStartMs: p.wallStartMs, extinfS: Number(extinf), mediaStartS: p.mediaStartS };
    built.slices.push({ ...common, media: job.media, durationMs: p.durationS * 1000, startsOnKeyframe: p.startsOnKeyframe, ...(p.muxedAudio ? { muxed: true } : {}) });
    if (p.muxedAudio) built.slices.push({ ...common, media: 'audio', durationMs: p.muxedAudio.durationS * 1000, startsOnKeyframe: true, muxed: true });
    built.entries.push({
      name, extinf, extinfS: Number(extinf), startMs: nameStartMs, tags: [...(n === 0 ? runHead(rec, job) : []), ...p.tags], ...(p.tagsAfter ? { tagsAfter: p.tagsAfter } : {}),
      ...(p.size ? { size: p.size } : {}), ...(p.rotation !== undefined ? { rotation: p.rotation } : {}),
    });
  }
  return built;
}

async function buildVideoRun(rec: FixtureRecording, outDir: string, job: RunJob, tmp: string): Promise<BuiltRun> {
  const run = job.run as FixtureVideoRun;
  validateVideo(run);
  const timeline = new VideoTimeline(run);
  const markerFrames = job.markers.map((m) => ({ m, i: timeline.markerFrame(m) })).filter(({ i }) => i >= 0 && i < timeline.frames);
  const whites = markerFrames.map(({ i }) => i);
  const baseS = ptsBaseS(rec, job);
  const webm = run.codec === 'vp8' || run.codec === 'vp9';
  // Muxed (raw mode): audio from the file's first frame (the lead's, when it starts mid-GOP) to its end.
  const audioRun = job.muxedAudio;
  const rate = audioRun?.sampleRate ?? 48000;
  const leadS = timeline.lead / timeline.fps;
  const beeps = audioRun
    ? job.markers
        .filter((m) => m >= run.startMs && m < run.startMs + run.durationMs)
        .map((m) => ({ m, a: Math.round(((m - run.startMs) / 1000 + leadS) * rate) }))
    : [];
  const pcm: Pcm | undefined = audioRun && { rate, channels: audioRun.channels ?? 1, total: Math.round(((timeline.lead + timeline.frames) / timeline.fps) * rate), beeps: beeps.map((b) => b.a) };
  const cut = webm ? await encodeVp8Video(run, timeline, whites, baseS, tmp) : await encodeTsVideo(run, timeline, whites, baseS, tmp, pcm);
  // TS: the times parsed from the PES headers (start_time is the first packet's); WebM: ffprobe.
  const probeLimit = pLimit(2);
  const probes = await Promise.all(
    cut.map((s) =>
      webm
        ? probeLimit(() => probeSlice(s.file))
        : { startS: s.frames[0]!.ptsS!, packets: s.frames.map((f) => ({ ptsS: f.ptsS!, key: f.key })) },
    ),
  );
  // Muxed: each slice's audio, and where the file starts (the name's UTC labels that instant).
  const muxed: MuxedStart[] | null = audioRun
    ? await Promise.all(
        cut.map(async (s, n): Promise<MuxedStart> => {
          const packets = await probeLimit(() => audioPackets(s.file));
          const audio = packets.length ? { startS: packets[0]!.ptsS, endS: packets.at(-1)!.ptsS + packets.at(-1)!.durS } : null;
          return { fileStartS: Math.min(probes[n]!.startS, audio?.startS ?? Infinity), audio };
        }),
      )
    : null;
  const zero = (n: number) => muxed?.[n]!.fileStartS ?? probes[n]!.startS;
  // The presentation time of file frame 0 (frame i is presented i / fps after it).
  const anyFrame = cut[0]!.frames[0]!;
  const frame0S = webm ? null : anyFrame.ptsS! - anyFrame.i / timeline.fps;
  const seed = runSeed(rec, job);
  const rotations = [...(run.rotations ?? [])].sort((a, b) => a.atMs - b.atMs);
  const sliceOf = (i: number) => cut.findIndex((s) => s.frames.some((f) => f.i === i));
  // Tags by the slice they stand before (cut.length: after the last one).
  const rotationTags = new Map<number, string[]>();
  for (const r of rotations) {
    const at = timeline.frameAt(r.atMs);
    let n = cut.findIndex((s) => s.frames.some((f) => f.i >= at));
    if (n < 0) continue;
    // The docs' placement: before the first slice after the turn (the recorder does not cut on rotation).
    if ((run.rotateTag ?? 'after') === 'after' && Math.min(...cut[n]!.frames.map((f) => f.i)) < at) n++;
    const size = timeline.sizeAt(at);
    rotationTags.set(n, [...(rotationTags.get(n) ?? []), `#EXT-X-AGORA-ROTATE:WIDTH=${size.width},HEIGHT=${size.height},ROTATE=${r.rotation},TIME=${utc17(r.atMs)}`]);
  }
  const placed = cut.map((s, n): Placed => {
    const slots = s.frames.map((f) => f.i);
    const durationS = (Math.max(...slots) - Math.min(...slots) + 1) / timeline.fps;
    const probed = probes[n]!;
    if (probed.packets.length !== s.frames.length) throw new Error(`fixture cut: slice ${n} has ${probed.packets.length} packets, expected ${s.frames.length}`);
    // The slice starts (by its name) at the frame whose timestamp ffprobe reports as its start_time: the
    // first packet, which with B-frames after a mid-GOP cut is not the earliest frame.
    const nearest = probed.packets.reduce((best, p, k) => (Math.abs(p.ptsS - probed.startS) < Math.abs(probed.packets[best]!.ptsS - probed.startS) ? k : best), 0);
    const first = s.frames[nearest]!.i;
    const extinfS = rec.extinf === 'recorder' ? (Math.round(durationS * 1000) + noise(`${seed}/${n}/extinf`, EXTINF_ERROR_MS)) / 1000 : durationS;
    const m = muxed?.[n];
    return {
      file: s.file, ext: webm ? 'webm' : 'ts', durationS, extinfS, startsOnKeyframe: probed.packets[0]?.key ?? false, tags: rotationTags.get(n) ?? [],
      ...(n === cut.length - 1 && rotationTags.has(cut.length) ? { tagsAfter: rotationTags.get(cut.length)! } : {}),
      wallStartMs: m ? run.startMs + (m.fileStartS - frame0S!) * 1000 : timeline.wallMs(first),
      mediaStartS: zero(n),
      size: timeline.sizeAt(first), rotation: timeline.rotationAt(first),
      ...(m ? { muxedAudio: { durationS: m.audio ? m.audio.endS - m.audio.startS : 0 } } : {}),
    };
  });
  // The undecodable lead: frames of a run that starts mid-GOP presented before its first keyframe.
  const firstKey = cut[0]?.frames.find((f) => f.key);
  const leadEnd = timeline.lead > 0 ? (firstKey?.i ?? Infinity) : -Infinity;
  const built = await placeSlices(rec, outDir, job, placed);
  const nameOf = (n: number) => built.entries[n]!.startMs;
  const truth = markerFrames.map(({ m, i }): RunTruth => {
    const n = sliceOf(i);
    if (n < 0 || i < leadEnd) return { markerMs: m, ms: null };
    const k = cut[n]!.frames.findIndex((f) => f.i === i);
    const ptsS = probes[n]!.packets[k]!.ptsS;
    return { markerMs: m, ms: nameOf(n) + (ptsS - zero(n)) * 1000 };
  });
  // Muxed audio: a beep's first sample is at frame 0's time + (its input time - the lead's).
  const audioTruth = beeps.map(({ m, a }): RunTruth => {
    const ptsS = frame0S! - leadS + a / rate;
    const n = muxed!.findIndex((x) => x.audio !== null && x.audio.startS <= ptsS + 1e-9 && ptsS < x.audio.endS);
    return { markerMs: m, media: 'audio', ms: n < 0 ? null : nameOf(n) + (ptsS - zero(n)) * 1000 };
  });
  return { ...built, truth: [...truth, ...audioTruth] };
}

/** Where ffmpeg puts a WebM Opus slice's first decoded sample: it drops the slice's pre-skip first. */
async function firstDecodedFrame(file: string): Promise<{ ptsS: number; samples: number }> {
  const { stdout } = await execFileAsync('ffprobe', ['-v', 'error', '-select_streams', 'a:0', '-read_intervals', '%+#2', '-show_entries', 'frame=pts_time,nb_samples', '-of', 'json', file]);
  const frame = (JSON.parse(stdout) as { frames?: { pts_time: string; nb_samples: number }[] }).frames?.[0];
  if (!frame) throw new Error(`${file}: no decoded audio frame`);
  return { ptsS: Number(frame.pts_time), samples: frame.nb_samples };
}

async function buildAudioRun(rec: FixtureRecording, outDir: string, job: RunJob, tmp: string): Promise<BuiltRun> {
  const run = job.run as FixtureAudioRun;
  const rate = run.sampleRate ?? 48000;
  const sliceMs = run.sliceMs ?? DEFAULT_SLICE_MS;
  const codec = job.audioCodec ?? 'aac';
  const container = job.shape === 'ts' ? 'ts' : 'webm';
  const priming = primingOf(codec);
  // A beep's first sample, counted from the run's first (priming) sample.
  const beeps = job.markers
    .filter((m) => m >= run.startMs && m < run.startMs + run.durationMs)
    .map((m) => ({ m, s: Math.round(((m - run.startMs) * rate) / 1000) }))
    .filter(({ s }) => s >= priming);
  // Talk and mute windows as authored sample ranges (counted like beeps, from after the priming).
  const user = rec.users.find((u) => u.uid === job.uid);
  const samples = (w: { fromMs: number; toMs: number }): [number, number] => [
    Math.round(((w.fromMs - run.startMs) * rate) / 1000) - priming,
    Math.round(((w.toMs - run.startMs) * rate) / 1000) - priming,
  ];
  const shape = { talks: user?.talks?.map(samples), mutes: user?.mutes?.map(samples) };
  const cut = await encodeAudioRun(run, codec, container, beeps.map(({ s }) => s - priming), sliceMs, ptsBaseS(rec, job), tmp, shape);
  const starts = await Promise.all(cut.map(async (s) => (container === 'ts' ? firstPtsS(await readFile(s.file), s.file) : (await probeSlice(s.file)).startS)));
  // WebM: each slice's first decoded sample (its pre-skip dropped) and where ffmpeg puts it.
  const decoded = container === 'webm' ? await Promise.all(cut.map((s) => firstDecodedFrame(s.file))) : null;
  const placed = cut.map((s, n): Placed => {
    const last = n === cut.length - 1;
    const extinfS = rec.extinf === 'recorder' ? (last ? Math.round(s.durationS * 1000) / 1000 : sliceMs / 1000) : s.durationS;
    return {
      file: s.file, ext: container, wallStartMs: run.startMs + s.offsetS * 1000, durationS: s.durationS, extinfS,
      mediaStartS: starts[n]!, startsOnKeyframe: true, tags: [],
    };
  });
  const built = await placeSlices(rec, outDir, job, placed);
  const runStartS = starts[0]!;
  const truth = beeps.map(({ m, s }): RunTruth => {
    const atS = s / rate;
    const n = cut.findLastIndex((c) => c.offsetS <= atS + 1e-9);
    if (n < 0) return { markerMs: m, ms: null };
    if (!decoded) return { markerMs: m, ms: built.slices[n]!.nameStartMs + (runStartS + atS - starts[n]!) * 1000 };
    // WebM: the slice decodes from its first packet's sample + (a packet - its first frame's samples).
    const firstSample = Math.round(cut[n]!.offsetS * rate) + OPUS_PACKET_SAMPLES - decoded[n]!.samples;
    if (s < firstSample) return { markerMs: m, ms: null };
    return { markerMs: m, ms: built.slices[n]!.nameStartMs + (decoded[n]!.ptsS + (s - firstSample) / rate - starts[n]!) * 1000 };
  });
  return { ...built, truth };
}

async function buildRun(rec: FixtureRecording, outDir: string, job: RunJob): Promise<BuiltRun> {
  // Encode next to the destination so the final renames never cross file systems.
  const tmp = await mkdtemp(path.join(outDir, '.fixture-'));
  try {
    return job.media === 'video' ? await buildVideoRun(rec, outDir, job, tmp) : await buildAudioRun(rec, outDir, job, tmp);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** An MPD naming WebM slices, each with its `time` (and size and rotation for video): the layout is a guess. */
function mpdText(sets: { media: Media; codec: string; entries: PlaylistEntry[] }[]): string {
  const seconds = sets.flatMap((x) => x.entries).reduce((sum, e) => Math.max(sum, e.extinfS), 0);
  const segment = (media: Media, e: PlaylistEntry) => {
    const video = media === 'video' && e.size ? ` width="${e.size.width}" height="${e.size.height}" rotate="${e.rotation ?? 0}"` : '';
    return `          <SegmentURL media="${e.name}" time="${utc17(e.startMs)}"${video}/>`;
  };
  return `${[
    '<?xml version="1.0" encoding="utf-8"?>',
    `<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" profiles="urn:mpeg:dash:profile:full:2011" minBufferTime="PT${Math.ceil(seconds)}S">`,
    '  <Period start="PT0S">',
    ...sets
      .filter((x) => x.entries.length > 0)
      .flatMap((x, k) => [
        `    <AdaptationSet contentType="${x.media}" mimeType="${x.media}/webm" codecs="${x.codec}">`,
        `      <Representation id="${k}" bandwidth="${x.media === 'audio' ? 32000 : 150000}">`,
        '        <SegmentList>',
        ...x.entries.map((e) => segment(x.media, e)),
        '        </SegmentList>',
        '      </Representation>',
        '    </AdaptationSet>',
      ]),
    '  </Period>',
    '</MPD>',
  ].join('\n')}\n`;
}

/** Standard mode's av.m3u8: master style, a block per track naming its playlist. */
function avPlaylistText(names: { media: Media; name: string }[]): string {
  return `${['#EXTM3U', ...names.flatMap((x) => [`# ${x.media === 'audio' ? 'Audio' : 'Video'}`, x.name])].join('\n')}\n`;
}

async function writePlaylists(rec: FixtureRecording, outDir: string, runs: BuiltRun[]): Promise<string[]> {
  const written: string[] = [];
  const write = async (name: string, text: string) => {
    const file = path.join(outDir, name);
    await writeFile(file, text);
    written.push(file);
  };
  for (const user of rec.users) {
    const mine = (media: Media) => runs.filter((r) => r.job.uid === user.uid && r.job.media === media).sort((a, b) => a.job.run.startMs - b.job.run.startMs);
    const entries = (media: Media) => mine(media).flatMap((r) => r.entries);
    const shapes = new Set(runs.filter((r) => r.job.uid === user.uid).map((r) => r.job.shape));
    const token = runs.find((r) => r.job.uid === user.uid)?.job.token;
    if (shapes.has('muxed')) {
      await write(rawIndexName(rec, user.uid, token!), playlistText(entries('video')));
      continue;
    }
    if (shapes.has('dash')) {
      await write(rawIndexName(rec, user.uid, token!), mpdText([{ media: 'audio', codec: 'opus', entries: entries('audio') }, { media: 'video', codec: token!, entries: entries('video') }]));
      continue;
    }
    const lists: { media: Media; name: string }[] = [];
    for (const media of ['audio', 'video'] as const) {
      if (!mine(media).length) continue;
      const name = playlistName(rec, user.uid, media);
      await write(name, playlistText(entries(media)));
      lists.push({ media, name });
    }
    if (rec.mode !== 'standard' || lists.length === 0) continue;
    if (shapes.has('webm')) {
      const codec = (user.video ?? []).find((v) => v.codec === 'vp9') ? 'vp9' : 'vp8';
      await write(avIndexName(rec, user.uid, 'mpd'), mpdText([{ media: 'audio', codec: 'opus', entries: entries('audio') }, { media: 'video', codec, entries: entries('video') }]));
    } else {
      await write(avIndexName(rec, user.uid, 'm3u8'), avPlaylistText(lists));
    }
  }
  return written;
}

function markerTruth(rec: FixtureRecording, runs: BuiltRun[]): MarkerTruth[] {
  return rec.users.flatMap((user) =>
    (user.markers ?? []).map((markerMs): MarkerTruth => {
      const find = (media: Media) =>
        runs
          .filter((r) => r.job.uid === user.uid)
          .flatMap((r) => r.truth.filter((t) => (t.media ?? r.job.media) === media))
          .find((t) => t.markerMs === markerMs)?.ms ?? null;
      return { uid: user.uid, markerMs, videoMs: find('video'), audioMs: find('audio') };
    }),
  );
}

export async function writeRecording(root: string, rec: FixtureRecording): Promise<WrittenRecording> {
  const outDir = path.join(root, rec.dir ?? '');
  await mkdir(outDir, { recursive: true });
  const limit = pLimit(MAX_PARALLEL_ENCODES);
  const runs = await Promise.all(runJobs(rec).map((job) => limit(() => buildRun(rec, outDir, job))));
  const playlists = await writePlaylists(rec, outDir, runs);
  const slices = runs.flatMap((r) => r.slices).sort((a, b) => a.key.localeCompare(b.key) || a.media.localeCompare(b.media));
  // A muxed slice is listed once per media.
  const clash = slices.find((s, i) => i > 0 && s.key === slices[i - 1]!.key && !(s.muxed && s.media !== slices[i - 1]!.media));
  if (clash) throw new Error(`fixture: two slices named ${clash.key} (slices shorter than the name jitter?)`);
  return { root, playlists, slices, truth: markerTruth(rec, runs) };
}
