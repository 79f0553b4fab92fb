// ffprobe a slice -> the facts the planner needs (codec, size, rate; audio configuration).
import type { AudioFacts, MediaFacts, VideoFacts } from '../core/types.js';
import { runFfprobe } from './runner.js';

interface ProbeStream {
  codec_type?: string;
  codec_name?: string;
  width?: number;
  height?: number;
  avg_frame_rate?: string;
  r_frame_rate?: string;
  profile?: string;
  sample_rate?: string;
  channels?: number;
}

function rate(text: string | undefined): number | null {
  if (!text) return null;
  const [n, d] = text.split('/').map(Number);
  if (!n || !d || !Number.isFinite(n / d)) return null;
  const fps = n / d;
  return fps > 0 && fps <= 240 ? fps : null;
}

export function factsFromProbe(json: string): MediaFacts {
  const data = JSON.parse(json) as { streams?: ProbeStream[] };
  const facts: MediaFacts = {};
  for (const s of data.streams ?? []) {
    if (s.codec_type === 'video' && !facts.video && s.codec_name && s.width && s.height) {
      const v: VideoFacts = {
        codec: s.codec_name,
        width: s.width,
        height: s.height,
        // avg_frame_rate is what was sent; r_frame_rate is a guess of the base rate.
        fps: rate(s.avg_frame_rate) ?? rate(s.r_frame_rate),
      };
      facts.video = v;
    } else if (s.codec_type === 'audio' && !facts.audio && s.codec_name) {
      const a: AudioFacts = {
        codec: s.codec_name,
        sampleRate: Number(s.sample_rate ?? 0),
        channels: s.channels ?? 0,
        profile: s.profile ?? null,
      };
      facts.audio = a;
    }
  }
  return facts;
}

/** What one ffprobe of a slice tells: its media facts and its own length (ms, null if unknown). */
export interface SliceProbe {
  facts: MediaFacts;
  durationMs: number | null;
}

/** The slice's own length from its container (WebM slices count from their first timestamp). */
function lengthMs(file: string, format: { duration?: string; start_time?: string } = {}): number | null {
  const duration = Number(format.duration);
  const start = Number(format.start_time);
  // Matroska/WebM reports the end timestamp as the duration when timestamps do not start at 0.
  const length = file.endsWith('.webm') && Number.isFinite(start) && start > 0 && duration > start ? duration - start : duration;
  return length > 0 ? length * 1000 : null;
}

export async function probeSlice(file: string, signal?: AbortSignal): Promise<SliceProbe> {
  const { stdout } = await runFfprobe(['-v', 'error', '-show_streams', '-show_entries', 'format=duration,start_time', '-of', 'json', file], { signal });
  const facts = factsFromProbe(stdout);
  if (!facts.audio && !facts.video) throw new Error(`${file}: no audio or video stream found`);
  const format = (JSON.parse(stdout) as { format?: { duration?: string; start_time?: string } }).format;
  return { facts, durationMs: lengthMs(file, format) };
}

export interface OutputCheck {
  durationMs: number;
  hasVideo: boolean;
  hasAudio: boolean;
}

/** Reads back a written file: it must open, and say how long it is and which streams it has. */
export async function probeOutput(file: string, signal?: AbortSignal): Promise<OutputCheck> {
  const { stdout } = await runFfprobe(['-v', 'error', '-show_entries', 'format=duration:stream=codec_type', '-of', 'json', file], { signal });
  const data = JSON.parse(stdout) as { format?: { duration?: string }; streams?: { codec_type?: string }[] };
  const types = new Set((data.streams ?? []).map((s) => s.codec_type));
  return { durationMs: Number(data.format?.duration) * 1000, hasVideo: types.has('video'), hasAudio: types.has('audio') };
}
