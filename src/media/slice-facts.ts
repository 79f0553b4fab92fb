// The facts the plan needs from a slice (codec, picture size, frame rate; audio codec, rate, channels,
// profile; the slice's own length), read in-process with mediabunny's MPEG-TS and WebM demuxers: a few
// kilobytes and a millisecond per slice instead of an ffprobe process. Null when mediabunny cannot tell
// (the caller asks ffprobe then), so nothing that ffprobe could read is lost.
import type { AudioFacts, MediaFacts, SliceContainer, VideoFacts } from '../core/types.js';
import type { SliceProbe } from '../ffmpeg/probe.js';
import { withSlice } from './demux.js';

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
