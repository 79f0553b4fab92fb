// Measures what a slice really holds (see SliceMedia): TS slices from their packets (scanTs, ADTS
// headers, Opus control headers), WebM slices from their blocks (mediabunny's demuxer; ffprobe for one it
// cannot read). A slice that lacks the stream its name promises is refused with a reason, so the merge
// treats it as missing (its time becomes a gap) instead of failing.
import { SliceUnreadableError } from '../core/errors.js';
import type { MediaKind, SliceContainer, SliceMedia } from '../core/types.js';
import { runFfprobe } from '../ffmpeg/runner.js';
import { readFileSync, statSync } from 'node:fs';
import { AdtsSplitter, SAMPLE_RATES, sameConfig } from './adts.js';
import { withSlice } from './demux.js';
import { OPUS_RATE, OpusTsSplitter, opusUnits } from './opus-ts.js';
import { checkSliceFile, checkSliceHead } from './slice-check.js';
import { scanTs, scanTsFile, unitBytes, WHOLE_FILE_MAX, type TsStream } from './ts-scan.js';

/** Frame length used when a slice has a single frame (nothing to measure the spacing from). */
const FALLBACK_FRAME_MS = 1000 / 15;

export class SliceMediaError extends SliceUnreadableError {
  override name = 'SliceMediaError';
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
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

function videoOfTs(stream: TsStream): Pick<SliceMedia, 'startS' | 'lengthMs' | 'frameOffsetsMs' | 'firstKeyMs' | 'startsOnKey' | 'reorderMs'> | null {
  const units = stream.units.filter((u) => u.pts !== null);
  if (units.length === 0) return null;
  const reorderMs = Math.max(0, ...units.map((u) => (u.pts! - (u.dts ?? u.pts!)) * 1000));
  return { ...videoTiming(units.map((u) => u.pts!), units.map((u) => u.key)), reorderMs };
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
  // Small slices are read whole and only their packet headers walked; the audio's length comes from its
  // PES timestamps and the frames of its last unit. Large ones are read as a stream (memory stays flat)
  // with every AAC frame counted.
  const whole = size <= WHOLE_FILE_MAX ? readFileSync(file) : null;
  const problem = whole ? checkSliceHead(whole, 'ts') : await checkSliceFile(file, 'ts');
  if (problem) throw new SliceMediaError(problem);
  const adts = new AdtsSplitter(() => {});
  const opus = new OpusTsSplitter();
  let audioPid: number | null = null;
  const countAll = media === 'audio' && !whole;
  const sink = countAll
    ? (stream: TsStream, data: Buffer) => {
        if (stream.kind !== 'audio' || (stream.codec !== 'aac' && stream.codec !== 'opus')) return;
        audioPid ??= stream.pid;
        if (stream.pid !== audioPid) return;
        if (stream.codec === 'aac') adts.push(data);
        else opus.push(data);
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
  const starts = [firstPts(video), firstPts(audio)].filter((t): t is number => t !== null);
  if (starts.length === 2) result.fileStartS = Math.min(...starts);
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
  if (whole) {
    const first = adtsOf(unitBytes(whole, audio.pid, audio.units[0]!.offset));
    const lastUnit = timed.at(-1);
    const last = lastUnit ? adtsOf(unitBytes(whole, audio.pid, lastUnit.offset)) : first;
    const config = first.config;
    if (!config || first.frames === 0) throw new SliceMediaError('holds no AAC frames');
    const rate = SAMPLE_RATES[config.sampleRateIndex] ?? 48000;
    const lastEndS = (lastUnit?.pts ?? startS) + (last.blocks * 1024) / rate;
    return {
      ...result,
      startS,
      lengthMs: (lastEndS - startS) * 1000,
      audio: { sampleRate: rate, channels: config.channelConfig, frames: timed.length, changes: last.config !== null && !sameConfig(config, last.config) },
    };
  }
  const config = adts.config;
  if (!config || adts.frames === 0) throw new SliceMediaError('holds no AAC frames');
  const rate = SAMPLE_RATES[config.sampleRateIndex] ?? 48000;
  return {
    ...result,
    startS,
    lengthMs: ((adts.blocks * 1024) / rate) * 1000,
    audio: { sampleRate: rate, channels: config.channelConfig, frames: adts.frames, changes: adts.configChanges },
  };
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

interface ProbePacket {
  pts_time?: string;
  duration_time?: string;
  flags?: string;
  stream_index?: number;
}

/** A WebM slice measured with ffprobe's packet list (for one mediabunny cannot read). */
export async function probeWebm(file: string, media: MediaKind, signal?: AbortSignal): Promise<SliceMedia> {
  const { stdout } = await runFfprobe(
    ['-v', 'error', '-show_entries', 'packet=pts_time,duration_time,flags,stream_index:stream=index,codec_type', '-of', 'json', file],
    { signal },
  );
  const data = JSON.parse(stdout) as { packets?: ProbePacket[]; streams?: { index?: number; codec_type?: string }[] };
  const streams = data.streams ?? [];
  const videoIndex = streams.find((s) => s.codec_type === 'video')?.index;
  const audioIndex = streams.find((s) => s.codec_type === 'audio')?.index;
  const result: SliceMedia = { hasVideo: videoIndex !== undefined, hasAudio: audioIndex !== undefined, startS: 0, lengthMs: 0 };
  const index = media === 'video' ? videoIndex : audioIndex;
  if (index === undefined) throw new SliceMediaError(`holds no ${media} stream`);
  const packets = (data.packets ?? []).filter((p) => p.stream_index === index && p.pts_time !== undefined && p.pts_time !== 'N/A');
  if (packets.length === 0) throw new SliceMediaError(`its ${media} stream has no packets`);
  const pts = packets.map((p) => Number(p.pts_time));
  const last = packets.at(-1)!;
  const firstOf = (i: number | undefined) => (data.packets ?? []).find((p) => p.stream_index === i && p.pts_time !== undefined && p.pts_time !== 'N/A')?.pts_time;
  const starts = [firstOf(videoIndex), firstOf(audioIndex)].map(Number).filter(Number.isFinite);
  if (starts.length === 2) result.fileStartS = Math.min(...starts);
  return webmTiming(result, media, pts, packets.map((p) => p.flags?.startsWith('K') === true), Number(last.duration_time) || 0);
}

/** Timing of a WebM track from its packets' times (s, in file order), key flags and the last one's duration. */
function webmTiming(result: SliceMedia, media: MediaKind, pts: number[], keys: boolean[], lastDurationS: number): SliceMedia {
  if (media === 'video') return { ...result, ...videoTiming(pts, keys) };
  const startS = Math.min(...pts);
  return { ...result, startS, lengthMs: (pts.at(-1)! - startS + lastDurationS) * 1000 };
}

/** The pre-skip (samples at 48 kHz) of an OpusHead (RFC 7845 5.1: little-endian at byte 10); 0 without one. */
function opusPreSkip(description: ArrayBuffer | ArrayBufferView | undefined): number {
  if (!description) return 0;
  const bytes = ArrayBuffer.isView(description) ? Buffer.from(description.buffer, description.byteOffset, description.byteLength) : Buffer.from(description as ArrayBuffer);
  return bytes.length >= 12 && bytes.toString('latin1', 0, 8) === 'OpusHead' ? bytes.readUInt16LE(10) : 0;
}

/**
 * A WebM slice measured from its blocks, read in-process; null when mediabunny cannot read it. Note for
 * Opus: mediabunny's packet timestamps are the blocks' plus the track's CodecDelay (7 ms from libopus),
 * ffprobe's are the blocks' own (see README "Recorder modes"; placing Opus is phase 2 of issue 17).
 */
async function readWebm(file: string, media: MediaKind, signal?: AbortSignal): Promise<SliceMedia | null> {
  try {
    return await withSlice(file, 'webm', async (input, mb) => {
      const video = await input.getPrimaryVideoTrack();
      const audio = await input.getPrimaryAudioTrack();
      const result: SliceMedia = { hasVideo: video !== null, hasAudio: audio !== null, startS: 0, lengthMs: 0 };
      const track = media === 'video' ? video : audio;
      if (!track) throw new SliceMediaError(`holds no ${media} stream`);
      const pts: number[] = [];
      const keys: boolean[] = [];
      let lastDurationS = 0;
      for await (const packet of new mb.EncodedPacketSink(track).packets(undefined, undefined, { metadataOnly: true })) {
        signal?.throwIfAborted();
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
  } catch (error) {
    signal?.throwIfAborted();
    if (error instanceof SliceMediaError) throw error;
    return null;
  }
}


/** What a slice file holds, for the track `media` it belongs to. Throws SliceMediaError when it cannot be used. */
export async function measureSlice(file: string, container: SliceContainer, media: MediaKind, signal?: AbortSignal): Promise<SliceMedia> {
  if (container === 'ts') return measureTs(file, media);
  const problem = await checkSliceFile(file, container);
  if (problem) throw new SliceMediaError(problem);
  return (await readWebm(file, media, signal)) ?? (await probeWebm(file, media, signal));
}
