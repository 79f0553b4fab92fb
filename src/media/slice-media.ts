// Measures what a slice really holds (see SliceMedia): read in a reader thread (see contained.ts,
// slice-read.ts: TS packets, ADTS and Opus headers, WebM blocks), with ffprobe's packet list for a WebM
// slice mediabunny cannot read. A slice that lacks
// the stream its name promises, or whose bytes the reader gives up on, is refused with a reason, so the
// merge treats it as missing (its time becomes a gap) instead of failing.
import type { MediaKind, SliceContainer, SliceMedia } from '../core/types.js';
import { FfmpegError, runFfprobe } from '../ffmpeg/runner.js';
import { ContainedReadError, readContained } from './contained.js';
import { SliceMediaError, webmTiming } from './slice-read.js';

export { SliceMediaError } from './slice-read.js';

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
  const [videoStart, audioStart] = [firstOf(videoIndex), firstOf(audioIndex)].map(Number);
  if (Number.isFinite(videoStart) && Number.isFinite(audioStart)) result.fileStartS = Math.min(videoStart!, audioStart!);
  return webmTiming(result, media, pts, packets.map((p) => p.flags?.startsWith('K') === true), Number(last.duration_time) || 0);
}

/**
 * WebM Opus: mediabunny's block times run 7 ms ahead of ffmpeg's (the track's CodecDelay, rounded) and its
 * last block lasts 0, while ffconcat's in and out points and the decoder go by ffmpeg's: the timing is taken
 * from ffprobe's packets (mediabunny's audio facts kept). Kept as read when ffprobe cannot read it.
 */
async function opusAsFfmpegSees(m: SliceMedia, file: string, container: SliceContainer, media: MediaKind, signal?: AbortSignal): Promise<SliceMedia> {
  if (container !== 'webm' || media !== 'audio' || !m.audio?.opus) return m;
  try {
    const probed = await probeWebm(file, media, signal);
    return { ...m, startS: probed.startS, lengthMs: probed.lengthMs };
  } catch (error) {
    signal?.throwIfAborted();
    if (error instanceof FfmpegError || error instanceof SliceMediaError) return m;
    throw error;
  }
}

/** What a slice file holds, for the track `media` it belongs to. Throws SliceMediaError when it cannot be used. */
export async function measureSlice(file: string, container: SliceContainer, media: MediaKind, signal?: AbortSignal): Promise<SliceMedia> {
  let gaveUp: string;
  try {
    const outcome = await readContained({ kind: 'media', file, container, media }, signal);
    if (outcome.ok) return await opusAsFfmpegSees(outcome.value as SliceMedia, file, container, media, signal);
    if (outcome.refused || container === 'ts') throw new SliceMediaError(outcome.message);
    gaveUp = `mediabunny cannot read it (${outcome.message})`;
  } catch (error) {
    if (!(error instanceof ContainedReadError)) throw error;
    // Our TS scanner is the only reader of TS packets: nothing to fall back to.
    if (container === 'ts') throw new SliceMediaError(`cannot be read (${error.message})`);
    gaveUp = `mediabunny gave up (${error.message})`;
  }
  try {
    return await probeWebm(file, media, signal);
  } catch (error) {
    signal?.throwIfAborted();
    if (error instanceof FfmpegError) throw new SliceMediaError(`cannot be read: ${gaveUp}, and ffprobe fails (${error.message.split('\n')[0]})`);
    throw error;
  }
}
