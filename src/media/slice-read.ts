// What a slice holds, read from its bytes: TS slices from their packets (scanTs, ADTS headers, Opus control
// headers), WebM slices from their blocks (mediabunny's demuxer), and the plan's facts (codec, size, rate;
// AAC configuration) with mediabunny's MPEG-TS and WebM demuxers (Opus in TS, which mediabunny does not
// know, with our own scanner). These readers parse untrusted bytes: they run in a reader thread (see
// contained.ts, parse-worker.ts), never on the main thread; measureSlice and readSliceFacts are the entry
// points. A slice that lacks the stream its name promises is refused with a reason (SliceMediaError), so
// the merge treats it as missing (its time becomes a gap) instead of failing.
import { open } from 'node:fs/promises';
import { readFileSync, statSync } from 'node:fs';
import { SliceUnreadableError } from '../core/errors.js';
import type { AudioFacts, MediaFacts, MediaKind, SliceContainer, SliceMedia, VideoFacts } from '../core/types.js';
import type { SliceProbe } from '../ffmpeg/probe.js';
import { AdtsSplitter, channelsOf, SAMPLE_RATES } from './adts.js';
import { withSlice } from './demux.js';
import { OPUS_RATE, OpusTsSplitter, opusUnits } from './opus-ts.js';
import { checkSliceFile, checkSliceHead } from './slice-check.js';
import { scanTs, scanTsFile, unitBytes, WHOLE_FILE_MAX, type TsStream } from './ts-scan.js';

/** Frame length used when a slice has a single frame (nothing to measure the spacing from). */
const FALLBACK_FRAME_MS = 1000 / 15;

/** A slice that cannot be used for its track (no such stream, no frames, unusable audio): it becomes a gap. */
export class SliceMediaError extends SliceUnreadableError {
  override name = 'SliceMediaError';
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
}

/** The smallest and largest of a list (a loop: a spread into Math.min/max overflows the stack on long lists). */
export function extent(xs: readonly number[]): { min: number; max: number } {
  let min = Infinity;
  let max = -Infinity;
  for (const x of xs) {
    if (x < min) min = x;
    if (x > max) max = x;
  }
  return { min, max };
}

/** Frame spacing of a sorted list of presentation times (ms). */
function frameSpacing(sorted: number[]): number {
  const deltas: number[] = [];
  for (let i = 1; i < sorted.length; i++) {
    const d = sorted[i]! - sorted[i - 1]!;
    if (d > 0) deltas.push(d);
  }
  return deltas.length > 0 ? median(deltas) : FALLBACK_FRAME_MS;
}

/**
 * Video timing from presentation times (s, decode order) and key flags. The start is the first packet's
 * time, as ffmpeg takes it (ffprobe's start_time, where the concat demuxer places a file): after a mid-GOP
 * cut with B-frames, frames decoded later can be presented a little before it.
 */
function videoTiming(pts: number[], keys: boolean[]): Pick<SliceMedia, 'startS' | 'lengthMs' | 'frameOffsetsMs' | 'firstKeyMs' | 'startsOnKey'> {
  const startS = pts[0]!;
  const offsets = pts.map((t) => (t - startS) * 1000).sort((a, b) => a - b);
  const keyIndex = keys.indexOf(true);
  const spacing = frameSpacing(offsets);
  return {
    startS,
    lengthMs: offsets.at(-1)! + spacing,
    frameOffsetsMs: offsets,
    firstKeyMs: keyIndex < 0 ? null : (pts[keyIndex]! - startS) * 1000,
    startsOnKey: keys[0] === true,
  };
}

/** Video timing of a TS stream's access units; null when none carries a timestamp. */
export function videoOfTs(stream: TsStream): Pick<SliceMedia, 'startS' | 'lengthMs' | 'frameOffsetsMs' | 'firstKeyMs' | 'startsOnKey' | 'reorderMs'> | null {
  const units = stream.units.filter((u) => u.pts !== null);
  if (units.length === 0) return null;
  let reorderS = 0;
  for (const u of units) reorderS = Math.max(reorderS, u.pts! - (u.dts ?? u.pts!));
  return { ...videoTiming(units.map((u) => u.pts!), units.map((u) => u.key)), reorderMs: reorderS * 1000 };
}

/** ADTS frames (count and raw blocks) and configuration of one access unit's payload. */
function adtsOf(data: Buffer): AdtsSplitter {
  const splitter = new AdtsSplitter(() => {});
  splitter.push(data);
  splitter.finish();
  return splitter;
}

async function measureTs(file: string, media: MediaKind): Promise<SliceMedia> {
  const size = statSync(file).size;
  // Small slices are read whole; large ones as a stream (memory stays flat). The audio's every ADTS
  // header is read (a damaged one makes the slice unusable); its length comes from its PES timestamps
  // and the frames of its last unit when the file is whole, else from the frames counted.
  const whole = size <= WHOLE_FILE_MAX ? readFileSync(file) : null;
  const problem = whole ? checkSliceHead(whole, 'ts') : await checkSliceFile(file, 'ts');
  if (problem) throw new SliceMediaError(problem);
  const adts = new AdtsSplitter(() => {});
  const opus = new OpusTsSplitter();
  let audioPid: number | null = null;
  const sink =
    media === 'audio'
      ? (stream: TsStream, data: Buffer) => {
          if (stream.kind !== 'audio' || (stream.codec !== 'aac' && stream.codec !== 'opus')) return;
          audioPid ??= stream.pid;
          if (stream.pid !== audioPid) return;
          if (stream.codec === 'aac') adts.push(data);
          else if (!whole) opus.push(data);
        }
      : undefined;
  const scan = whole ? scanTs(whole, sink) : await scanTsFile(file, sink);
  adts.finish();
  opus.finish();
  const video = scan.streams.find((s) => s.kind === 'video' && s.units.length > 0);
  const audio = scan.streams.find((s) => s.kind === 'audio' && s.units.length > 0);
  const result: SliceMedia = { hasVideo: video !== undefined, hasAudio: audio !== undefined, startS: 0, lengthMs: 0 };
  if (scan.junkBytes > 0) result.junkBytes = scan.junkBytes;
  // Audio and video in one file (raw mode) share its clock: where the file starts.
  const firstPts = (s: TsStream | undefined) => s?.units.find((u) => u.pts !== null)?.pts ?? null;
  const videoStart = firstPts(video);
  const audioStart = firstPts(audio);
  if (videoStart !== null && audioStart !== null) result.fileStartS = Math.min(videoStart, audioStart);
  if (media === 'video') {
    const timing = video && videoOfTs(video);
    const av1 = scan.streams.some((s) => s.codec === 'av1');
    if (!timing) throw new SliceMediaError(video ? 'its video stream has no timestamps' : av1 ? 'holds AV1 video in MPEG-TS, which recmerge cannot read yet (nor can ffmpeg 5.1)' : 'holds no video stream');
    return { ...result, ...timing };
  }
  if (!audio) throw new SliceMediaError('holds no audio stream');
  const timed = audio.units.filter((u) => u.pts !== null);
  const startS = timed[0]?.pts ?? 0;
  if (audio.codec === 'opus') return { ...result, ...opusTiming(audio, timed, startS, whole, opus) };
  if (audio.codec !== 'aac') return { ...result, startS, lengthMs: 0 };
  const config = adts.config;
  if (!config || adts.frames === 0) throw new SliceMediaError('holds no AAC frames');
  if (adts.problem) throw new SliceMediaError(`its audio cannot be used: ${adts.problem}`);
  const rate = SAMPLE_RATES[config.sampleRateIndex]!;
  const lastUnit = timed.at(-1);
  const lengthMs =
    whole && lastUnit
      ? (lastUnit.pts! + (adtsOf(unitBytes(whole, audio.pid, lastUnit.offset)).blocks * 1024) / rate - startS) * 1000
      : ((adts.blocks * 1024) / rate) * 1000;
  return { ...result, startS, lengthMs, audio: { sampleRate: rate, channels: channelsOf(config.channelConfig), frames: adts.frames, changes: adts.configChanges } };
}

/**
 * Opus in TS: the slice starts at its first PES time (where ffmpeg puts its first sample: its TS demuxer
 * ignores start_trim) and lasts to the end of its last access unit. Small slices: from the first and last
 * PES; large ones: every unit counted as it streamed past.
 */
function opusTiming(audio: TsStream, timed: TsStream['units'], startS: number, whole: Buffer | null, streamed: OpusTsSplitter): Pick<SliceMedia, 'startS' | 'lengthMs' | 'audio'> {
  let first = streamed;
  let last = streamed;
  let lengthMs = (streamed.samples / OPUS_RATE) * 1000;
  let units = streamed.units;
  if (whole) {
    // Every unit is split (audio slices are small): the count of access units is exact.
    const split = audio.units.map((u) => opusUnits(unitBytes(whole, audio.pid, u.offset)));
    first = split[0]!;
    const lastUnit = timed.at(-1);
    last = lastUnit ? split[audio.units.indexOf(lastUnit)]! : first;
    lengthMs = ((lastUnit?.pts ?? startS) + last.lastPushSamples / OPUS_RATE - startS) * 1000;
    units = split.reduce((n, x) => n + x.units, 0);
  }
  if (first.units === 0) throw new SliceMediaError('holds no Opus access units');
  return {
    startS,
    lengthMs,
    audio: {
      sampleRate: OPUS_RATE,
      channels: audio.channels ?? (first.stereo ? 2 : 1),
      frames: units,
      changes: false,
      opus: { preSkip: first.startTrim, endTrim: last.endTrim },
    },
  };
}

/** Timing of a WebM track from its packets' times (s, in file order), key flags and the last one's duration. */
export function webmTiming(result: SliceMedia, media: MediaKind, pts: number[], keys: boolean[], lastDurationS: number): SliceMedia {
  if (media === 'video') return { ...result, ...videoTiming(pts, keys) };
  const startS = extent(pts).min;
  return { ...result, startS, lengthMs: (pts.at(-1)! - startS + lastDurationS) * 1000 };
}

/** The pre-skip (samples at 48 kHz) of an OpusHead (RFC 7845 5.1: little-endian at byte 10); 0 without one. */
function opusPreSkip(description: ArrayBuffer | ArrayBufferView | undefined): number {
  if (!description) return 0;
  const bytes = ArrayBuffer.isView(description) ? Buffer.from(description.buffer, description.byteOffset, description.byteLength) : Buffer.from(description as ArrayBuffer);
  return bytes.length >= 12 && bytes.toString('latin1', 0, 8) === 'OpusHead' ? bytes.readUInt16LE(10) : 0;
}

/**
 * A WebM slice measured from its blocks; throws SliceMediaError when it lacks the track, anything else when
 * mediabunny cannot read it (the caller asks ffprobe then). Note for Opus: mediabunny's packet timestamps are
 * the blocks' plus 7 ms (libopus's CodecDelay, rounded), ffprobe's are the blocks' own: measureSlice takes
 * the timing of a WebM Opus slice from ffprobe (see README "Recorder modes").
 */
async function measureWebm(file: string, media: MediaKind): Promise<SliceMedia> {
  const problem = await checkSliceFile(file, 'webm');
  if (problem) throw new SliceMediaError(problem);
  return withSlice(file, 'webm', async (input, mb) => {
    const video = await input.getPrimaryVideoTrack();
    const audio = await input.getPrimaryAudioTrack();
    const result: SliceMedia = { hasVideo: video !== null, hasAudio: audio !== null, startS: 0, lengthMs: 0 };
    const track = media === 'video' ? video : audio;
    if (!track) throw new SliceMediaError(`holds no ${media} stream`);
    const pts: number[] = [];
    const keys: boolean[] = [];
    let lastDurationS = 0;
    for await (const packet of new mb.EncodedPacketSink(track).packets(undefined, undefined, { metadataOnly: true })) {
      pts.push(packet.timestamp);
      keys.push(packet.type === 'key');
      lastDurationS = packet.duration;
    }
    if (pts.length === 0) throw new SliceMediaError(`its ${media} stream has no packets`);
    if (video && audio) result.fileStartS = Math.min(await video.getFirstTimestamp(), await audio.getFirstTimestamp());
    const timing = webmTiming(result, media, pts, keys, lastDurationS);
    if (media === 'video' || !audio) return timing;
    const opus = (await audio.getCodec()) === 'opus' ? { preSkip: opusPreSkip((await audio.getDecoderConfig())?.description), endTrim: 0 } : undefined;
    return {
      ...timing,
      audio: { sampleRate: await audio.getSampleRate(), channels: await audio.getNumberOfChannels(), frames: pts.length, changes: false, ...(opus ? { opus } : {}) },
    };
  });
}

/** What a slice file holds, for the track `media` it belongs to. Throws SliceMediaError when it cannot be used. */
export function readSliceMedia(file: string, container: SliceContainer, media: MediaKind): Promise<SliceMedia> {
  return container === 'ts' ? measureTs(file, media) : measureWebm(file, media);
}

/** mediabunny's codec names -> ffprobe's (what the plan compares and prints). */
const VIDEO_CODECS: Record<string, string> = { avc: 'h264', hevc: 'hevc', vp8: 'vp8', vp9: 'vp9', av1: 'av1' };
const AUDIO_CODECS: Record<string, string> = { aac: 'aac', opus: 'opus', mp3: 'mp3', vorbis: 'vorbis', flac: 'flac', ac3: 'ac3', eac3: 'eac3' };
/** MPEG-4 audio object types (the N of `mp4a.40.N`) -> ffprobe's AAC profile names. */
const AAC_PROFILES: Record<string, string> = { '1': 'Main', '2': 'LC', '3': 'SSR', '4': 'LTP', '5': 'HE-AAC', '29': 'HE-AACv2' };
/** Frames looked at for the frame rate (ffprobe looks at a similar stretch). */
const RATE_PACKETS = 90;

function aacProfile(codecString: string | undefined): string | null {
  const match = /^mp4a\.40\.(\d+)$/.exec(codecString ?? '');
  return match ? (AAC_PROFILES[match[1]!] ?? null) : null;
}

/** A frame rate the plan can use: positive and at most 240 (as for ffprobe's rates). */
const usableRate = (fps: number | null | undefined) => (fps !== null && fps !== undefined && Number.isFinite(fps) && fps > 0 && fps <= 240 ? fps : null);

/**
 * Reads a slice's facts. `withLength` also measures its length (end of its last packet minus start of its
 * first), which reads the whole file: only slices without a playlist entry need it.
 */
export async function readFacts(file: string, container: SliceContainer, withLength: boolean): Promise<SliceProbe | null> {
  const read = await readWithMediabunny(file, container, withLength);
  if (container !== 'ts' || read?.facts.audio) return read;
  return (await withOpusInTs(file, read, withLength)) ?? read;
}

/** How much of a TS slice's head is searched for its program table. */
const HEAD_BYTES = 64 * 1024;

/** The facts mediabunny read, with the Opus stream of a TS slice it does not know; null when there is none. */
async function withOpusInTs(file: string, read: SliceProbe | null, withLength: boolean): Promise<SliceProbe | null> {
  try {
    const handle = await open(file);
    let head: Buffer;
    try {
      const buffer = Buffer.alloc(HEAD_BYTES);
      const { bytesRead } = await handle.read(buffer, 0, HEAD_BYTES, 0);
      head = buffer.subarray(0, bytesRead);
    } finally {
      await handle.close();
    }
    if (!scanTs(head).streams.some((s) => s.codec === 'opus')) return null;
    const measured = await measureTs(file, 'audio');
    const audio: AudioFacts = { codec: 'opus', sampleRate: measured.audio!.sampleRate, channels: measured.audio!.channels, profile: null };
    return { facts: { ...read?.facts, audio }, durationMs: withLength ? Math.max(read?.durationMs ?? 0, measured.lengthMs) || null : null };
  } catch {
    return null;
  }
}

async function readWithMediabunny(file: string, container: SliceContainer, withLength: boolean): Promise<SliceProbe | null> {
  try {
    return await withSlice(file, container, async (input) => {
      const facts: MediaFacts = {};
      const video = await input.getPrimaryVideoTrack();
      const audio = await input.getPrimaryAudioTrack();
      if (video) {
        const codec = VIDEO_CODECS[(await video.getCodec()) ?? ''];
        const width = await video.getCodedWidth();
        const height = await video.getCodedHeight();
        if (!codec || !(width > 0 && height > 0)) return null;
        const metrics = await video.computeFrameRateMetrics({ targetPacketCount: RATE_PACKETS });
        const v: VideoFacts = { codec, width, height, fps: usableRate(metrics.bestGuessFrameRate) };
        facts.video = v;
      }
      if (audio) {
        const codec = AUDIO_CODECS[(await audio.getCodec()) ?? ''];
        const sampleRate = await audio.getSampleRate();
        const channels = await audio.getNumberOfChannels();
        if (!codec || !(sampleRate > 0 && channels > 0)) return null;
        const config = codec === 'aac' ? await audio.getDecoderConfig() : null;
        const a: AudioFacts = { codec, sampleRate, channels, profile: aacProfile(config?.codec) };
        facts.audio = a;
      }
      if (!facts.video && !facts.audio) return null;
      if (!withLength) return { facts, durationMs: null };
      const tracks = [video, audio].filter((t) => t !== null);
      const first = extent(await Promise.all(tracks.map((t) => t.getFirstTimestamp()))).min;
      const end = extent(await Promise.all(tracks.map((t) => t.computeDuration()))).max;
      const length = (end - first) * 1000;
      return { facts, durationMs: Number.isFinite(length) && length > 0 ? length : null };
    });
  } catch {
    // Not readable by mediabunny (broken, unusual): ffprobe gets the last word.
    return null;
  }
}
