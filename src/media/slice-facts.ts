// The facts the plan needs from a slice (codec, picture size, frame rate; audio codec, rate, channels,
// profile; the slice's own length), read in-process with mediabunny's MPEG-TS and WebM demuxers: a few
// kilobytes and a millisecond per slice instead of an ffprobe process. mediabunny's TS demuxer does not
// know Opus in TS (the "original" recorder mode): that is read with recmerge's own TS scanner. Null when
// neither can tell (the caller asks ffprobe then), so nothing that ffprobe could read is lost.
import { open } from 'node:fs/promises';
import type { AudioFacts, MediaFacts, SliceContainer, VideoFacts } from '../core/types.js';
import type { SliceProbe } from '../ffmpeg/probe.js';
import { withSlice } from './demux.js';
import { measureSlice } from './slice-media.js';
import { scanTs } from './ts-scan.js';

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
export async function readSliceFacts(file: string, container: SliceContainer, withLength = false): Promise<SliceProbe | null> {
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
    const measured = await measureSlice(file, 'ts', 'audio');
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
      const first = Math.min(...(await Promise.all(tracks.map((t) => t.getFirstTimestamp()))));
      const end = Math.max(...(await Promise.all(tracks.map((t) => t.computeDuration()))));
      const length = (end - first) * 1000;
      return { facts, durationMs: Number.isFinite(length) && length > 0 ? length : null };
    });
  } catch {
    // Not readable by mediabunny (broken, unusual): ffprobe gets the last word.
    return null;
  }
}
